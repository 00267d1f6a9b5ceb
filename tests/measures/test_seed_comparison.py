"""The exact rank test and bootstrap interval that compare two settings over seeds, on known answers."""

import numpy as np
import pytest

from vae_helpers.measures.seed_comparison import compare_seeds


def test_five_seeds_all_above_give_the_smallest_possible_p():
    c = compare_seeds([5, 6, 7, 8, 9], [0, 1, 2, 3, 4])
    assert c.p_value == pytest.approx(1 / 252) and c.smallest_p == pytest.approx(1 / 252)
    assert c.median_difference == 5 and c.interval[0] > 0 and c.interval[1] <= 9


def test_three_against_three_cannot_go_below_one_in_twenty():
    c = compare_seeds([0.40, 0.41, 0.13], [0.08, 0.01, 0.09])
    assert c.smallest_p == pytest.approx(1 / 20)
    # ranks 5, 6, 4 of 6 against 2, 1, 3: only the split {4, 5, 6} is at least as extreme: p = 1/20
    assert c.p_value == pytest.approx(1 / 20)


def test_identical_groups_are_not_called_different():
    c = compare_seeds([1.0, 2.0, 3.0, 4.0, 5.0], [1.0, 2.0, 3.0, 4.0, 5.0])
    assert c.p_value > 0.5 and c.median_difference == 0 and c.interval[0] <= 0 <= c.interval[1]


def test_the_interval_is_reproducible_and_the_p_value_exact_by_counting():
    a, b = [0.3, 0.5, 0.2, 0.6, 0.45], [0.1, 0.4, 0.25, 0.05, 0.15]
    assert compare_seeds(a, b, seed=3) == compare_seeds(a, b, seed=3)
    # the exact p-value: the share of the 252 splits of the ten ranks whose rank sum for `a` is at least the observed one
    from itertools import combinations

    pooled = np.concatenate([a, b])
    ranks = pooled.argsort().argsort() + 1
    observed = ranks[:5].sum()
    count = sum(sum(ranks[list(split)]) >= observed for split in combinations(range(10), 5))
    assert compare_seeds(a, b).p_value == pytest.approx(count / 252)


@pytest.mark.parametrize("a, b, level, match", [
    ([1.0], [1.0, 2.0], 0.95, r"`a` must be at least two finite scores"),
    ([1.0, np.nan], [1.0, 2.0], 0.95, r"`a` must be at least two finite scores"),
    ([1.0, 2.0], [[1.0, 2.0]], 0.95, r"`b` must be at least two finite scores"),
    ([1.0, 2.0], [1.0, 2.0], 1.5, r"`level` must be a probability between 0 and 1. Received: level=1.5"),
])
def test_bad_inputs(a, b, level, match):
    with pytest.raises(ValueError, match=match):
        compare_seeds(a, b, level=level)
