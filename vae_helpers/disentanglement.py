"""Disentanglement measured against known factors: the Mutual Information Gap (Chen et al. 2018).

For factors ``v_k`` and latent dimensions ``z_j``:

    MIG = (1 / K) * sum_k  ( I(z_{j(1)}; v_k) - I(z_{j(2)}; v_k) ) / H(v_k)

where ``j(1)`` and ``j(2)`` are the latent dimensions with the largest and second largest
mutual information with ``v_k``. A dimension that copies one factor and nothing else gives a
gap of ``H(v_k)``, so MIG is 1 for a perfectly axis-aligned code and near 0 when every factor
is spread over several dimensions (or none).

Chen et al. estimate ``I(z_j; v_k)`` from the encoder's distribution q(z_j | x); here, as in
Locatello et al. 2019 (disentanglement_lib), the encoder means are discretized into ``n_bins``
equal-width bins and the mutual information of the two discrete variables is computed exactly
from their joint histogram (in nats). Factors are discrete, so ``H(v_k)`` is exact.
"""

from __future__ import annotations

import numpy as np

from .checks import check_int

DEFAULT_BINS = 20  # disentanglement_lib's default for MIG


def _check_codes_and_factors(codes, factors) -> tuple[np.ndarray, np.ndarray]:
    codes, factors = np.asarray(codes), np.asarray(factors)
    if codes.ndim != 2 or len(codes) < 2 or not np.issubdtype(codes.dtype, np.number) or not np.all(np.isfinite(codes)):
        raise ValueError(f"`codes` must be a finite numeric array (n, latent_dim) with n >= 2. Received: codes.shape={codes.shape}")
    if factors.ndim != 2 or len(factors) != len(codes) or not np.issubdtype(factors.dtype, np.integer):
        raise ValueError(f"`factors` must be integer factor indices of shape ({len(codes)}, n_factors), one row per code. "
                         f"Received: factors.shape={factors.shape}, factors.dtype={factors.dtype}")
    return codes.astype("float64"), factors


def discretize(codes, n_bins: int = DEFAULT_BINS) -> np.ndarray:
    """Each column of ``codes`` cut into ``n_bins`` equal-width bins over its range: integers ``(n, d)``."""
    codes = np.asarray(codes, dtype="float64")
    n_bins = check_int("n_bins", n_bins, 2)
    out = np.zeros(codes.shape, dtype="int64")
    for j in range(codes.shape[1]):
        lo, hi = codes[:, j].min(), codes[:, j].max()
        if hi > lo:
            out[:, j] = np.minimum(((codes[:, j] - lo) / (hi - lo) * n_bins).astype("int64"), n_bins - 1)
    return out


def _mutual_information(a: np.ndarray, b: np.ndarray) -> float:
    """I(a; b) in nats of two discrete variables given as integer arrays of equal length."""
    _, a = np.unique(a, return_inverse=True)
    _, b = np.unique(b, return_inverse=True)
    joint = np.zeros((a.max() + 1, b.max() + 1))
    np.add.at(joint, (a, b), 1.0)
    joint /= joint.sum()
    outer = joint.sum(1, keepdims=True) * joint.sum(0, keepdims=True)
    nz = joint > 0
    return float(np.sum(joint[nz] * np.log(joint[nz] / outer[nz])))


def entropy(values) -> float:
    """H(v) in nats of a discrete variable given as an array of integers."""
    _, counts = np.unique(np.asarray(values), return_counts=True)
    p = counts / counts.sum()
    return float(-np.sum(p * np.log(p)))


def mutual_information_matrix(codes, factors, n_bins: int = DEFAULT_BINS) -> np.ndarray:
    """``I(z_j; v_k)`` in nats for every latent dimension j and factor k: shape ``(latent_dim, n_factors)``."""
    codes, factors = _check_codes_and_factors(codes, factors)
    binned = discretize(codes, n_bins)
    return np.array([[_mutual_information(binned[:, j], factors[:, k]) for k in range(factors.shape[1])]
                     for j in range(binned.shape[1])])


def mutual_information_gap(codes, factors, n_bins: int = DEFAULT_BINS) -> tuple[float, np.ndarray]:
    """MIG of ``codes`` against ``factors``, and the normalized gap of each factor.

    Args:
        codes: one code per example, e.g. the encoder means, shape ``(n, latent_dim)``, latent_dim >= 2.
        factors: the true factor indices of each example, shape ``(n, n_factors)``.
        n_bins: bins per latent dimension for the mutual information estimate.
    """
    codes, factors = _check_codes_and_factors(codes, factors)
    if codes.shape[1] < 2:
        raise ValueError(f"`codes` must have at least 2 dimensions (MIG compares the best two). Received: codes.shape={codes.shape}")
    mi = mutual_information_matrix(codes, factors, n_bins)
    h = np.array([entropy(factors[:, k]) for k in range(factors.shape[1])])
    if np.any(h == 0):
        raise ValueError(f"`factors` must vary: factor(s) {np.flatnonzero(h == 0).tolist()} take a single value")
    top2 = np.sort(mi, axis=0)[-2:]
    gaps = (top2[1] - top2[0]) / h
    return float(gaps.mean()), gaps
