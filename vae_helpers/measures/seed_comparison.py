"""Is one training setting better than another over a few seeds? An exact rank test and a bootstrap interval.

Runs that differ only in their seed can land far apart (notebook 08 shows it for disentanglement),
and a CPU course can train only a handful of seeds per setting. Two tools that assume nothing about
the shape of that spread (both from SciPy):

- the **Mann–Whitney U test**, exact: if both settings drew their scores from one distribution, every
  split of the pooled ranks would be equally likely; the p-value is the share of splits at least as
  favourable to ``a``. With ``m`` and ``n`` seeds its smallest possible value is ``1 / C(m + n, m)``:
  1/20 = 0.05 for 3 against 3, 1/252 ≈ 0.004 for 5 against 5;
- a **bootstrap interval** of the difference of the medians: resample each setting's seeds with
  replacement. With 5 seeds it is rough: it cannot show a spread the 5 runs did not reach.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats
from scipy.special import comb

from ..core.checks import check_int, check_number, check_seed

__all__ = ["SeedComparison", "compare_seeds"]


@dataclass(frozen=True)
class SeedComparison:
    """``a`` against ``b``: the difference of medians, its bootstrap interval and the one-sided exact p-value."""

    median_difference: float
    interval: tuple[float, float]
    p_value: float
    smallest_p: float   # the smallest p-value these numbers of seeds can give


def _scores(arg: str, values) -> np.ndarray:
    scores = np.asarray(values, dtype="float64")
    if scores.ndim != 1 or len(scores) < 2 or not np.all(np.isfinite(scores)):
        raise ValueError(f"`{arg}` must be at least two finite scores, one per seed. Received: {arg}={values!r}")
    return scores


def compare_seeds(a, b, level: float = 0.95, n_resamples: int = 10_000, seed: int = 0) -> SeedComparison:
    """Compare the per-seed scores ``a`` and ``b`` (higher is better): is ``a``'s setting better than ``b``'s?"""
    a, b = _scores("a", a), _scores("b", b)
    level = check_number("level", level, strict=True)
    if level >= 1:
        raise ValueError(f"`level` must be a probability between 0 and 1. Received: level={level!r}")
    n_resamples = check_int("n_resamples", n_resamples, 100, 10**6)
    p_value = float(stats.mannwhitneyu(a, b, alternative="greater", method="exact").pvalue)
    boot = stats.bootstrap((a, b), lambda x, y, axis: np.median(x, axis=axis) - np.median(y, axis=axis),
                           vectorized=True, paired=False, method="percentile", confidence_level=level,
                           n_resamples=n_resamples, rng=np.random.default_rng(check_seed("seed", seed)))
    low, high = boot.confidence_interval
    return SeedComparison(median_difference=float(np.median(a) - np.median(b)), interval=(float(low), float(high)),
                          p_value=p_value, smallest_p=float(1 / comb(len(a) + len(b), len(a), exact=True)))
