"""The Mutual Information Gap on hand-made cases with known answers."""

import numpy as np
import pytest

from vae_helpers.measures import disentanglement
from vae_helpers.measures.disentanglement import discretize, entropy, mutual_information_gap, mutual_information_matrix


def factor_grid(sizes=(3, 4, 5)):
    return np.stack(np.meshgrid(*[np.arange(s) for s in sizes], indexing="ij"), -1).reshape(-1, len(sizes))


def test_codes_that_copy_each_factor_to_its_own_dimension_give_one():
    factors = factor_grid()
    mig, gaps = mutual_information_gap(factors.astype(float) * 0.7 - 1.0, factors)
    assert mig == pytest.approx(1.0) and np.allclose(gaps, 1.0)


def test_permuted_and_extra_noise_dimensions_do_not_matter():
    factors = np.repeat(factor_grid(), 20, axis=0)   # enough rows for the binned estimate's bias to be small
    noise = np.random.default_rng(0).normal(size=(len(factors), 2)) * 1e-3
    codes = np.concatenate([factors[:, [2, 0, 1]].astype(float), noise], 1)
    assert mutual_information_gap(codes, factors)[0] > 0.9


def test_noise_gives_nearly_zero():
    factors = factor_grid((4, 4, 4, 4))
    mig, _ = mutual_information_gap(np.random.default_rng(1).normal(size=(len(factors), 6)), factors)
    assert 0 <= mig < 0.05


def test_a_factor_copied_into_two_dimensions_has_no_gap():
    factors = factor_grid((6, 6))
    codes = np.stack([factors[:, 0], factors[:, 0], factors[:, 1]], 1).astype(float)
    _, gaps = mutual_information_gap(codes, factors)
    assert gaps[0] == pytest.approx(0.0, abs=1e-12) and gaps[1] == pytest.approx(1.0)


def test_mutual_information_matches_a_hand_computed_case():
    # z equals v on half of the data and is constant 0 on the other half
    v = np.array([0, 1, 0, 1, 0, 1, 0, 1])
    z = np.array([0, 1, 0, 1, 0, 0, 0, 0], dtype=float)
    mi = mutual_information_matrix(z[:, None], v[:, None], n_bins=2)[0, 0]
    # p(z=1, v=1) = 2/8, p(z=0, v=0) = 4/8, p(z=0, v=1) = 2/8; p(z=1) = 1/4, p(v=1) = 1/2
    expected = 0.25 * np.log(0.25 / (0.25 * 0.5)) + 0.5 * np.log(0.5 / (0.75 * 0.5)) + 0.25 * np.log(0.25 / (0.75 * 0.5))
    assert mi == pytest.approx(expected) and entropy(v) == pytest.approx(np.log(2))


def test_discretize_uses_equal_width_bins_and_handles_constants():
    binned = discretize(np.array([[0.0, 5.0], [0.5, 5.0], [1.0, 5.0]]), n_bins=2)
    assert binned.tolist() == [[0, 0], [1, 0], [1, 0]]


@pytest.mark.parametrize("codes, factors, match", [
    (np.zeros((5, 1)), np.zeros((5, 1), int), r"at least 2 dimensions"),
    (np.zeros((5, 2)), np.zeros((4, 1), int), r"`factors` must be integer factor indices of shape \(5, n_factors\)"),
    (np.full((5, 2), np.nan), np.zeros((5, 1), int), r"`codes` must hold only finite values"),
    (np.zeros((5, 2)), np.zeros((5, 1), float), r"`factors` must be integer"),
    (np.random.default_rng(0).normal(size=(5, 2)), np.zeros((5, 1), int), r"`factors` must vary"),
])
def test_bad_inputs(codes, factors, match):
    with pytest.raises(ValueError, match=match):
        mutual_information_gap(codes, factors)


# -- Chen et al.'s estimator, from the encoder's Gaussians --

def test_q_estimator_gives_one_for_sharp_codes_that_copy_the_factors():
    factors = factor_grid((3, 4, 5))
    z_mean = factors.astype(float)
    z_log_var = np.full(z_mean.shape, np.log(1e-4))         # sigma 0.01, values 1 apart
    mig, gaps = disentanglement.mutual_information_gap_q(z_mean, z_log_var, factors)
    assert mig == pytest.approx(1.0, abs=0.02) and np.all(gaps > 0.97)


def test_q_estimator_gives_zero_for_unused_dimensions():
    factors = factor_grid((4, 4, 4))
    rng = np.random.default_rng(0)
    z_mean = rng.normal(size=(len(factors), 4)) * 0.01     # what an unused dimension looks like:
    z_log_var = np.zeros_like(z_mean)                      # mean near 0, variance near 1
    mi = disentanglement.mutual_information_matrix_q(z_mean, z_log_var, factors)
    assert mi.max() < 0.02
    # the binned estimator, blind to the variance, finds information in the wiggles of the means
    assert disentanglement.mutual_information_matrix(z_mean, factors).max() > 0.1


def test_q_estimator_matches_the_binned_one_for_sharp_codes():
    factors = factor_grid((4, 5))
    z_mean = np.stack([factors[:, 0], factors[:, 0] + factors[:, 1] / 10], 1).astype(float)
    q = disentanglement.mutual_information_matrix_q(z_mean, np.full(z_mean.shape, np.log(1e-6)), factors)
    binned = disentanglement.mutual_information_matrix(z_mean, factors, n_bins=100)
    np.testing.assert_allclose(q, binned, atol=0.02)


def test_score_model_reads_the_codes_and_reconstructions_of_a_model():
    """A stand-in model whose code copies two factors sharply and whose decoder returns the images themselves."""
    rng = np.random.default_rng(0)
    factors = np.stack(np.meshgrid(np.arange(4), np.arange(5), indexing="ij"), -1).reshape(-1, 2)
    images = (rng.random((len(factors), 4, 4, 1)) < 0.5).astype("float32")

    class Copy:
        def encode(self, x):
            assert x is images
            return factors.astype("float32") * 10, np.full(factors.shape, -10.0, "float32")

        def decode(self, z):
            return images[np.lexsort((z[:, 1], z[:, 0]))]   # the grid order: back to the image of each code

    s = disentanglement.score_model(Copy(), images, factors, n_scored=20)
    assert s["mig"] == pytest.approx(1.0, abs=0.02) and s["binned"] == pytest.approx(1.0, abs=0.02)
    assert s["mi"].shape == (2, 2) and np.all(s["kl"] > 10)
    assert s["recon"] < 1e-4 and np.array_equal(s["reconstructions"], images)
    with pytest.raises(ValueError, match=r"`n_scored` must be an integer"):
        disentanglement.score_model(Copy(), images, factors, n_scored=1)
