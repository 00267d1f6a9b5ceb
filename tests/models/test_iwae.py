"""The IWAE-trained VAE (vae_helpers.models.iwae): its bound, its warm-up and its output bias."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import logit, logsumexp
from scipy.stats import norm

from vae_helpers.data.datasets import load_dataset
from vae_helpers.models.densities import iwae_bound, log_importance_weights
from vae_helpers.models.iwae import IWAEVAE, build_iwae_vae, mean_log_odds
from vae_helpers.training.trainer import TrainConfig, train_vae


def test_the_log_weights_are_likelihood_plus_prior_minus_posterior_and_the_bound_their_log_mean_exp():
    rng = np.random.default_rng(0)
    log_px_z = rng.normal(-50, 5, (5, 7))
    z, eps = rng.normal(size=(2, 5, 7, 3))
    z_log_var = rng.normal(size=(7, 3))
    std = np.exp(z_log_var / 2)
    log_pz = norm.logpdf(z).sum(-1)
    log_qz_x = norm.logpdf(z, loc=z - std * eps, scale=std).sum(-1)   # q(z|x) = N(z_mean, std²), z = z_mean + std * eps
    log_w = np.asarray(log_importance_weights(log_px_z, z, eps, z_log_var))
    np.testing.assert_allclose(log_w, log_px_z + log_pz - log_qz_x, rtol=1e-9)
    np.testing.assert_allclose(np.asarray(iwae_bound(log_w)), logsumexp(log_w, axis=0) - np.log(5), rtol=1e-9)
    # warm-up weight 0: only the likelihood term is left inside the log-mean-exp
    np.testing.assert_allclose(np.asarray(log_importance_weights(log_px_z, z, eps, z_log_var, 0.0)), log_px_z)
    # one sample: the bound is the ELBO's single-sample estimate
    np.testing.assert_allclose(np.asarray(iwae_bound(log_w[:1])), log_w[0], rtol=1e-9)


def test_the_output_bias_starts_at_the_mean_log_odds():
    x = load_dataset("binarized_mnist", n_train=512, n_test=64, seed=0).x_train
    bias = mean_log_odds(x)
    np.testing.assert_allclose(bias, logit(np.clip(x.mean(0), 1e-3, 1 - 1e-3)), rtol=1e-5)
    vae = build_iwae_vae(x.shape[1:], latent_dim=3, output_bias=bias, dense_units=16, seed=0)
    np.testing.assert_allclose(vae.decoder.get_layer("logits").bias.numpy(), bias.ravel(), rtol=1e-6)


def test_the_training_bound_is_tighter_than_the_elbo_of_the_same_samples():
    """With K = 5 the loss (-IWAE_5) never exceeds the ELBO's terms in expectation: check over a batch."""
    x = load_dataset("binarized_mnist", n_train=256, n_test=64, seed=0).x_test[:64]
    vae = build_iwae_vae(x.shape[1:], latent_dim=3, dense_units=16, seed=0)
    losses = {name: float(v) for name, v in vae.compute_losses(x).items()}
    assert np.isfinite(list(losses.values())).all()
    assert losses["loss"] < losses["elbo_loss"]
    assert losses["elbo_loss"] == pytest.approx(losses["reconstruction_loss"] + losses["kl_loss"], rel=1e-6)


def test_the_model_kind_trains_through_the_cache(tmp_path):
    config = TrainConfig(dataset="binarized_mnist", model="iwae_vae", latent_dim=2, epochs=1, n_train=256, n_test=64,
                         dense_units=16, kl_warmup_epochs=1)
    result = train_vae(config, cache_dir=tmp_path, verbose=0)
    assert isinstance(result.model, IWAEVAE) and result.model.iwae_samples == 5
    assert np.isfinite(result.history["val_loss"][-1])
    again = train_vae(config, cache_dir=tmp_path, verbose=0)
    assert again.from_cache and isinstance(again.model, IWAEVAE)
    with pytest.raises(ValueError, match="does not support beta"):
        TrainConfig(dataset="binarized_mnist", model="iwae_vae", beta=2.0)
