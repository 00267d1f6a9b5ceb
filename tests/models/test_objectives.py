"""Issue 19's building blocks on cases with known answers: the TC estimator, capacity annealing, the probe, the TV band."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vae_helpers.measures.classifier import total_variation, total_variation_band
from vae_helpers.measures.diagnostics import linear_probe_accuracy
from vae_helpers.models.mlp_vae import DisentanglingVAE, build_mlp_vae
from vae_helpers.models.objectives import capacity, capacity_kl_term, gaussian_log_density, total_correlation
from vae_helpers.training.trainer import TrainConfig, train_vae


def _codes(z_mean: np.ndarray, sigma: float, seed: int = 0):
    """Samples of q(z|x) = N(z_mean, sigma^2) and the encoder outputs that define it."""
    z_log_var = np.full_like(z_mean, 2 * math.log(sigma))
    z = z_mean + sigma * np.random.default_rng(seed).standard_normal(z_mean.shape)
    return z, z_mean, z_log_var


def test_gaussian_log_density_is_the_normal_density():
    value = np.asarray(gaussian_log_density(np.array([1.0]), np.array([0.0]), np.array([0.0])))
    np.testing.assert_allclose(value, [-0.5 * math.log(2 * math.pi) - 0.5], rtol=1e-6)


def test_total_correlation_is_near_zero_for_independent_dimensions_and_large_for_a_copied_one():
    rng = np.random.default_rng(1)
    n = 2000
    independent = rng.standard_normal((n, 2))
    copied = np.repeat(rng.standard_normal((n, 1)), 2, axis=1)   # z_2 = z_1: fully dependent
    tc_independent = float(total_correlation(*_codes(independent, 0.1)))
    tc_copied = float(total_correlation(*_codes(copied, 0.1)))
    assert abs(tc_independent) < 0.15, tc_independent
    # For a Gaussian pair with correlation r, TC = -0.5 log(1 - r^2): here r = 1 / (1 + 0.01), TC = 1.96 nats.
    r = 1 / 1.01
    assert tc_copied == pytest.approx(-0.5 * math.log(1 - r * r), abs=0.5), tc_copied
    assert tc_copied > tc_independent + 1.0


def test_capacity_ramps_to_c_max_and_the_term_is_gamma_times_the_gap():
    np.testing.assert_allclose([float(capacity(s, 25.0, 100)) for s in (0, 50, 100, 400)], [0.0, 12.5, 25.0, 25.0])
    # hand-computed: at step 40 of a 100-step ramp to 25 nats, C = 10; |KL - C| = |13 - 10| = 3; times gamma 100
    assert float(capacity_kl_term(np.float32(13.0), 40, c_max=25.0, ramp_steps=100, gamma=100.0)) == pytest.approx(300.0)
    assert float(capacity_kl_term(np.float32(7.0), 40, c_max=25.0, ramp_steps=100, gamma=100.0)) == pytest.approx(300.0)
    with pytest.raises(ValueError, match=r"`ramp_steps` must be a positive integer. Received: ramp_steps=0"):
        capacity(3, 25.0, 0)


def test_the_linear_probe_reads_separable_codes_and_not_random_ones():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 4, 800)
    separable = np.eye(4)[y] * 3 + 0.3 * rng.standard_normal((800, 4))
    random = rng.standard_normal((800, 4))
    assert linear_probe_accuracy(separable[:600], y[:600], separable[600:], y[600:]) > 0.95
    assert 0.1 < linear_probe_accuracy(random[:600], y[:600], random[600:], y[600:]) < 0.4   # chance is 0.25
    with pytest.raises(ValueError, match=r"`y_train` must hold at least two classes"):
        linear_probe_accuracy(random[:10], np.zeros(10, dtype=int), random[10:20], y[10:20])


def test_the_tv_band_covers_the_chance_distance_of_n_draws():
    p = np.array([0.5, 0.3, 0.2])
    band = total_variation_band(p, n=1000, level=0.95, seed=0)
    rng = np.random.default_rng(123)
    distances = [total_variation(rng.multinomial(1000, p) / 1000, p) for _ in range(400)]
    assert 0.9 < np.mean(np.array(distances) <= band) < 0.99   # about 95% of fresh draws fall inside
    assert total_variation_band(p, n=100_000) < band / 5        # the band narrows as 1 / sqrt(n)
    with pytest.raises(ValueError, match=r"`level` must be in \(0, 1\)"):
        total_variation_band(p, n=10, level=1.5)


# -- the "mlp_vae" model kind that uses them (vae_helpers.models.mlp_vae) --

SHAPES_TINY = dict(dataset="shapes", model="mlp_vae", latent_dim=4, epochs=2, batch_size=128, n_train=512, n_test=128,
                   dense_units=32)


@pytest.mark.parametrize("objective, beta, capacity_nats", [("elbo", 4.0, 0.0), ("beta_tcvae", 10.0, 0.0),
                                                            ("capacity", 100.0, 10.0)])
def test_each_objective_trains_caches_and_reports_the_elbo_on_validation(tmp_path, objective, beta, capacity_nats):
    config = TrainConfig(**SHAPES_TINY, objective=objective, beta=beta, capacity_nats=capacity_nats)
    result = train_vae(config, cache_dir=tmp_path, verbose=0)
    h = result.history
    assert isinstance(result.model, DisentanglingVAE) and result.model.objective == objective
    assert all(np.all(np.isfinite(v)) for v in h.values())
    # validation is the ELBO's two terms with beta = 1, whatever the training objective
    np.testing.assert_allclose(h["val_loss"], np.add(h["val_reconstruction_loss"], h["val_kl_loss"]), rtol=1e-4)
    again = train_vae(config, cache_dir=tmp_path, verbose=0)
    assert again.from_cache and f"mlp-{objective}-beta{beta:g}" in config.key()
    x = np.zeros((3, 32, 32, 1), dtype="float32")
    np.testing.assert_allclose(again.model.encode(x)[0], result.model.encode(x)[0], rtol=1e-6)


def test_the_training_losses_are_the_objectives_formulas():
    x = np.random.default_rng(0).integers(0, 2, (64, 32, 32, 1)).astype("float32")
    for objective, beta in (("beta_tcvae", 10.0), ("capacity", 100.0), ("elbo", 4.0)):
        vae = build_mlp_vae((32, 32, 1), latent_dim=3, dense_units=16, beta=beta, seed=0, objective=objective,
                            capacity_nats=10.0, capacity_steps=100)
        vae.compile(optimizer="adam")
        vae.sampling = lambda args: args[0]            # z = the encoder mean, so the test can recompute the terms
        mean_layer, log_var_layer = vae.encoder.get_layer("z_mean"), vae.encoder.get_layer("z_log_var")
        kernel = mean_layer.get_weights()[0]
        mean_layer.set_weights([np.repeat(5 * kernel[:, :1], 3, axis=1), np.zeros(3)])   # three copies of one code:
        log_var_layer.set_weights([0 * log_var_layer.get_weights()[0], np.full(3, -4.0)])  # a large TC and KL
        losses = {k: float(v) for k, v in vae.compute_losses(x, training=True).items()}
        z_mean, z_log_var = (np.asarray(a) for a in vae.encoder(x))
        recon, kl = losses["reconstruction_loss"], losses["kl_loss"]
        if objective == "beta_tcvae":   # reconstruction + KL + (beta - 1) TC
            expected = recon + kl + (beta - 1) * float(total_correlation(z_mean, z_mean, z_log_var))
        elif objective == "capacity":   # reconstruction + gamma |KL - C|, C = 0 at step 0
            expected = recon + beta * abs(kl - 0.0)
        else:                           # reconstruction + beta KL
            expected = recon + beta * kl
        assert kl > 5 and losses["loss"] == pytest.approx(expected, abs=0.05), objective
    assert float(total_correlation(z_mean, z_mean, z_log_var)) > 1.0    # so a wrong TC weight would show


def test_options_of_other_kinds_are_refused():
    with pytest.raises(ValueError, match=r"`model='vae'` does not support objective"):
        TrainConfig(objective="beta_tcvae")
    with pytest.raises(ValueError, match=r"`model='mlp_vae'` does not support filters"):
        TrainConfig(model="mlp_vae", filters=(8,))
    with pytest.raises(ValueError, match=r"`capacity_nats` must be positive with objective='capacity' and 0 otherwise"):
        TrainConfig(model="mlp_vae", objective="capacity")
    with pytest.raises(ValueError, match=r"`objective` must be one of elbo, beta_tcvae, capacity"):
        TrainConfig(model="mlp_vae", objective="tc")
    assert TrainConfig(filters=[32, 64]).filters == (32, 64)   # a list equal to the default is the default


def test_a_negative_step_and_a_one_image_batch_for_beta_tcvae_are_refused():
    from vae_helpers.models.objectives import capacity
    from vae_helpers.training.trainer import TrainConfig

    assert float(capacity(5, 10.0, 10)) == pytest.approx(5.0)
    with pytest.raises(ValueError, match=r"`step` must be a finite non-negative number. Received: step=-5"):
        capacity(-5, 10.0, 10)
    with pytest.raises(ValueError, match=r"`batch_size` must be at least 2 with objective='beta_tcvae'"):
        TrainConfig(dataset="shapes", model="mlp_vae", objective="beta_tcvae", beta=4.0, batch_size=1)


# -- the convolutional kind with the same objectives (vae_helpers.models.disentangling) --

def test_the_convolutional_kind_trains_every_objective_on_the_grid_and_starts_at_the_mean_ink(tmp_path):
    from vae_helpers.data.datasets import load_dataset
    from vae_helpers.models.disentangling import build_from_config

    tiny = dict(dataset="shapes_grid", model="disentangling_vae", latent_dim=3, epochs=1, batch_size=64, n_train=256,
                n_test=64, filters=(4, 8), dense_units=16)
    data = load_dataset("shapes_grid", n_train=256, n_test=64)
    untrained = build_from_config(TrainConfig(**tiny), data, steps_per_epoch=4)
    ink = data.x_train.mean()
    np.testing.assert_allclose(untrained.decode(np.zeros((2, 3), "float32")).mean(), ink, rtol=0.05)
    assert untrained.decoder.get_layer("logits").bias.numpy()[0] == pytest.approx(np.log(ink / (1 - ink)), rel=1e-5)
    for objective, beta, capacity_nats in (("elbo", 4.0, 0.0), ("beta_tcvae", 6.0, 0.0), ("capacity", 100.0, 3.0)):
        config = TrainConfig(**tiny, objective=objective, beta=beta, capacity_nats=capacity_nats)
        result = train_vae(config, cache_dir=tmp_path, verbose=0)
        assert isinstance(result.model, DisentanglingVAE) and result.model.objective == objective
        assert result.model.encoder.get_layer("conv_1") is not None and np.isfinite(result.history["val_loss"][-1])
        assert config.key().startswith("shapes_grid-z3-conv-") and train_vae(config, cache_dir=tmp_path, verbose=0).from_cache
    assert "c3-gamma100" in TrainConfig(**tiny, objective="capacity", beta=100.0, capacity_nats=3.0).key()


def test_the_convolutional_kind_refuses_what_it_does_not_implement():
    with pytest.raises(ValueError, match=r"`model='disentangling_vae'` does not support free_bits"):
        TrainConfig(dataset="shapes_grid", model="disentangling_vae", free_bits=0.5)
    with pytest.raises(ValueError, match=r"its sides must be multiples of 64"):
        TrainConfig(dataset="shapes_grid", model="disentangling_vae", filters=(8,) * 6)
