"""The discretized-logistic likelihood of 8-bit images (vae_helpers.models.discrete): a distribution, a code length."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vae_helpers.models.discrete import (DiscreteVAE, discretized_logistic_log_likelihood, discretized_logistic_probabilities,
                                  to_levels)
from vae_helpers.training.trainer import TrainConfig, train_vae


def _params(mu, log_s):
    return np.stack([np.asarray(mu, dtype="float32"), np.asarray(log_s, dtype="float32")], -1)[:, None, :, :]


def test_the_256_masses_of_a_pixel_sum_to_one_and_match_the_log_likelihood():
    rng = np.random.default_rng(0)
    params = _params(rng.uniform(-1.2, 1.2, (3, 5)), rng.uniform(-3, 0, (3, 5)))     # 3 images of 1 x 5 pixels
    p = discretized_logistic_probabilities(params)
    assert p.shape == (3, 5, 256) and np.all(p >= 0)
    np.testing.assert_allclose(p.sum(-1), 1.0, atol=1e-12)
    levels = rng.integers(0, 256, (3, 1, 5, 1))
    levels[0, 0, 0, 0], levels[0, 0, 1, 0] = 0, 255                                   # both open-ended bins
    by_table = np.log(np.take_along_axis(p, levels.reshape(3, 5, 1), -1)[..., 0]).sum(-1)
    by_formula = np.asarray(discretized_logistic_log_likelihood(levels / 255.0, params))
    np.testing.assert_allclose(by_formula, by_table, rtol=1e-4)


def test_a_hand_computed_pixel():
    # mu = 0, s = 1: P(k = 128) = sigmoid(x + h) - sigmoid(x - h) with x = 2 * 128 / 255 - 1, h = 1 / 255
    x, h = 2 * 128 / 255 - 1, 1 / 255
    expected = 1 / (1 + math.exp(-(x + h))) - 1 / (1 + math.exp(-(x - h)))
    value = float(np.asarray(discretized_logistic_log_likelihood(np.full((1, 1, 1, 1), 128 / 255), _params([[0.0]], [[0.0]])))[0])
    assert value == pytest.approx(math.log(expected), rel=1e-4)
    # the lowest level takes all the mass below its upper edge: log sigmoid(-1 + h)
    low = float(np.asarray(discretized_logistic_log_likelihood(np.zeros((1, 1, 1, 1)), _params([[0.0]], [[0.0]])))[0])
    assert low == pytest.approx(math.log(1 / (1 + math.exp(1 - h))), rel=1e-5)


def test_levels_are_recovered_and_other_values_refused():
    assert to_levels(np.array([0.0, 1 / 255, 1.0])).tolist() == [0, 1, 255]
    with pytest.raises(ValueError, match=r"`x` must hold 8-bit images scaled to \[0, 1\]"):
        to_levels(np.array([0.5]))


def test_the_model_kind_trains_through_the_cache_and_reports_bits(tmp_path):
    config = TrainConfig(dataset="mnist", model="discrete_vae", latent_dim=2, epochs=1, n_train=256, n_test=64,
                         filters=(8,), dense_units=16)
    result = train_vae(config, cache_dir=tmp_path, verbose=0)
    assert isinstance(result.model, DiscreteVAE) and np.isfinite(result.history["val_loss"][-1])
    assert train_vae(config, cache_dir=tmp_path, verbose=0).from_cache
    decoded = result.model.decode(np.zeros((2, 2), dtype="float32"))
    assert decoded.shape == (2, 28, 28, 1) and decoded.min() >= 0 and decoded.max() <= 1


def test_decode_refuses_codes_that_are_not_finite_or_of_the_wrong_size():
    from vae_helpers.models.discrete import build_discrete_vae

    vae = build_discrete_vae((8, 8, 1), latent_dim=3, filters=(8,), dense_units=16, seed=0)
    assert vae.decode(np.zeros((2, 3))).shape == (2, 8, 8, 1)
    for bad, match in ((np.full((2, 3), np.nan), r"`z` must hold only finite values"),
                       (np.full((2, 3), np.inf), r"`z` must hold only finite values"),
                       (np.zeros((2, 4)), r"`z` must have shape \(n, 3\)"), (np.zeros(3), r"`z` must have shape \(n, 3\)")):
        with pytest.raises(ValueError, match=match):
            vae.decode(bad)
