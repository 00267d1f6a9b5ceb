"""The Gaussian-decoder VAE: its likelihood is the squared error in nats, and it trains through the registry."""

import math

import numpy as np
import pytest
from scipy.stats import norm

from vae_helpers.data.datasets import load_dataset
from vae_helpers.models.densities import gaussian_pixel_log_likelihood
from vae_helpers.models.gaussian import SIGMA, GaussianVAE, build_gaussian_vae
from vae_helpers.models.vae import vae_losses
from vae_helpers.training.trainer import TrainConfig, train_vae


def test_the_pixel_likelihood_is_scipys_normal_density_around_the_sigmoid():
    rng = np.random.default_rng(0)
    x, logits = rng.random((3, 4, 4, 1)), rng.normal(0, 3, (3, 4, 4, 1))
    expected = norm.logpdf(x, 1 / (1 + np.exp(-logits)), 0.2).reshape(3, -1).sum(-1)
    np.testing.assert_allclose(np.asarray(gaussian_pixel_log_likelihood(x, logits, 0.2)), expected, rtol=1e-10)


def test_its_reconstruction_loss_is_the_squared_error_over_two_sigma_squared_plus_a_constant():
    model = build_gaussian_vae((8, 8, 1), 2, (8,), dense_units=0, seed=0)
    rng = np.random.default_rng(1)
    x, logits = rng.random((5, 8, 8, 1)).astype("float32"), rng.normal(0, 2, (5, 8, 8, 1)).astype("float32")
    z = np.zeros((5, model.latent_dim), "float32")
    losses = vae_losses(x, logits, z, z, log_likelihood=model.log_likelihood)
    squared = ((x - 1 / (1 + np.exp(-logits))) ** 2).reshape(5, -1).sum(-1)
    constant = 64 * math.log(SIGMA * math.sqrt(2 * math.pi))
    np.testing.assert_allclose(float(losses["reconstruction_loss"]), np.mean(squared / (2 * SIGMA**2) + constant), rtol=1e-5)
    assert float(losses["kl_loss"]) == 0.0   # z_mean = 0, z_log_var = 0: q = p


def test_a_spatial_gaussian_vae_trains_from_a_config_and_lowers_its_squared_error(tmp_path):
    config = TrainConfig(dataset="digits", model="gaussian_vae", latent_dim=2, dense_units=0, filters=(8,), beta=0.5,
                         epochs=3, batch_size=64, n_train=256, n_test=64, learning_rate=1e-2)
    result = train_vae(config, cache_dir=tmp_path, verbose=0)
    model = result.model
    assert isinstance(model, GaussianVAE) and model.latent_dim == 2 * 4 * 4   # 2 channels on a 4 x 4 map of 8 x 8 digits
    assert "-gauss-beta0.5-" in config.key()
    x = load_dataset("digits", n_train=256, n_test=64, seed=0).x_test
    untrained = build_gaussian_vae(x.shape[1:], 2, (8,), dense_units=0, seed=config.seed)
    assert np.mean((model.reconstruct(x) - x) ** 2) < np.mean((untrained.reconstruct(x) - x) ** 2)
    assert result.history["loss"][-1] < result.history["loss"][0]


def test_it_refuses_the_options_it_does_not_implement():
    with pytest.raises(ValueError, match=r"`model='gaussian_vae'` does not support free_bits"):
        TrainConfig(model="gaussian_vae", free_bits=0.5)
