import keras
import numpy as np
import pytest

from vae_helpers.measures import diagnostics
from vae_helpers.models.vae import build_vae


def test_active_dimensions_counts_the_variances_above_the_threshold():
    rng = np.random.default_rng(0)
    stds = np.array([2.0, 1.0, 0.3, 0.05, 0.0])  # variances 4, 1, 0.09, 0.0025, 0
    z_mean = rng.standard_normal((20000, 5)) * stds
    n_active, variance = diagnostics.active_dimensions(z_mean)
    assert n_active == 3
    np.testing.assert_allclose(variance, stds**2, rtol=0.05, atol=1e-4)
    assert diagnostics.active_dimensions(z_mean, threshold=0.5)[0] == 2


def test_kl_per_dimension_is_zero_for_the_prior_and_matches_the_closed_form():
    z_mean = np.array([[0.0, 1.0, 0.0], [0.0, 3.0, 0.0]])
    z_log_var = np.array([[0.0, 0.0, np.log(0.25)], [0.0, 0.0, np.log(0.25)]])
    kl = diagnostics.mean_kl_per_dimension(z_mean, z_log_var)
    # KL(N(m, s^2) || N(0, 1)) = (m^2 + s^2 - 1 - log s^2) / 2
    np.testing.assert_allclose(kl, [0.0, (0.5 + 4.5) / 2, 0.5 * (0.25 - 1 - np.log(0.25))], atol=1e-12)


def test_dead_units_finds_units_that_are_never_positive():
    inputs = keras.Input((2,))
    dense = keras.layers.Dense(3, activation="relu", name="hidden")
    model = keras.Model(inputs, keras.layers.Dense(1)(dense(inputs)))
    # unit 0 copies x0, unit 1 is -|x| shifted down (never positive), unit 2 is constant 1
    dense.set_weights([np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]), np.array([0.0, -1.0, 1.0])])
    x = np.random.default_rng(0).standard_normal((100, 2))
    assert diagnostics.dead_units(model, x) == {"hidden": (1, 3)}


def test_latent_report_of_a_vae_covers_every_relu_layer_of_the_encoder():
    vae = build_vae((8, 8, 1), latent_dim=3, dense_units=16, seed=0)
    x = np.random.default_rng(0).random((50, 8, 8, 1), dtype=np.float32)
    report = diagnostics.latent_report(vae, x)
    assert set(report["dead_units"]) == {"conv_0", "conv_1", "dense"}
    assert report["dead_units"]["dense"][1] == 16 and report["dead_units"]["conv_1"][1] == 64
    assert report["kl"].shape == report["variance"].shape == (3,) and 0 <= report["active"] <= 3


@pytest.mark.parametrize("z, match", [
    (np.zeros((1, 3)), r"`z_mean` must have shape \(n, latent_dim\) with n >= 2. Received: z_mean.shape=\(1, 3\)"),
    (np.full((4, 2), np.nan), r"`z_mean` must hold only finite values"),
    (np.zeros(5), r"Received: z_mean.shape=\(5,\)"),
])
def test_bad_codes_name_the_argument(z, match):
    with pytest.raises(ValueError, match=match):
        diagnostics.active_dimensions(z)


def test_kl_per_dimension_shapes_must_match():
    with pytest.raises(ValueError, match=r"`z_mean` and `z_log_var` must have the same shape"):
        diagnostics.mean_kl_per_dimension(np.zeros((3, 2)), np.zeros((3, 4)))


def test_prior_cell_counts_are_even_for_prior_samples_and_oriented_like_the_manifold():
    z = np.random.default_rng(0).standard_normal((40000, 2))
    counts = diagnostics.prior_cell_counts(z, 4)
    assert counts.sum() == 40000 and np.all(np.abs(counts - 2500) < 250)
    one = diagnostics.prior_cell_counts(np.array([[-3.0, 3.0], [3.0, -3.0]]), 4)
    assert one[0, 0] == 1 and one[3, 3] == 1 and one.sum() == 2   # top-left: small z_1, large z_2
    with pytest.raises(ValueError, match=r"`z_mean` must have shape \(n, 2\)"):
        diagnostics.prior_cell_counts(np.zeros((5, 3)), 4)
