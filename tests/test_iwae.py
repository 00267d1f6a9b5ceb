"""The IWAE-trained VAE (vae_helpers.iwae): its bound, its warm-up and its output bias."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import logit, logsumexp

from vae_helpers.data import load_dataset
from vae_helpers.iwae import IWAEVAE, build_iwae_vae, iwae_loss, mean_log_odds
from vae_helpers.training import TrainConfig, train_vae


def test_the_loss_is_the_negative_bound_of_the_log_weights():
    rng = np.random.default_rng(0)
    log_px_z, log_pz, log_qz_x = (rng.normal(-50, 5, (5, 7)) for _ in range(3))
    expected = -(logsumexp(log_px_z + log_pz - log_qz_x, axis=0) - np.log(5)).mean()
    assert float(iwae_loss(log_px_z, log_pz, log_qz_x)) == pytest.approx(expected, rel=1e-6)
    # warm-up weight 0: only the likelihood term is inside the log-mean-exp
    assert float(iwae_loss(log_px_z, log_pz, log_qz_x, 0.0)) == pytest.approx(
        -(logsumexp(log_px_z, axis=0) - np.log(5)).mean(), rel=1e-6)
    # one sample: the bound is the ELBO's single-sample estimate
    one = (log_px_z[:1], log_pz[:1], log_qz_x[:1])
    assert float(iwae_loss(*one)) == pytest.approx(-(one[0] + one[1] - one[2]).mean(), rel=1e-6)


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
