import keras
import numpy as np
import pytest

from vae_helpers.models import vae as vae_lib
from vae_helpers.models.vae import VAE, Sampling, build_vae, kl_divergence, load_vae, vae_losses


# -- the Sampling layer --

def test_sampling_shape_and_seeding():
    z_mean = np.zeros((4, 3), "float32")
    a = Sampling(seed=1)([z_mean, z_mean])
    b = Sampling(seed=1)([z_mean, z_mean])
    c = Sampling(seed=2)([z_mean, z_mean])
    assert a.shape == (4, 3)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_sampling_statistics_match_mean_and_variance():
    n = 20000
    z_mean = np.full((n, 2), [1.0, -2.0], "float32")
    z_log_var = np.full((n, 2), np.log([0.25, 4.0]), "float32")
    z = keras.ops.convert_to_numpy(Sampling(seed=0)([z_mean, z_log_var]))
    np.testing.assert_allclose(z.mean(0), [1.0, -2.0], atol=0.05)
    np.testing.assert_allclose(z.std(0), [0.5, 2.0], rtol=0.03)


def test_sampling_config_round_trip_and_bad_seed():
    layer = Sampling(seed=5, name="s")
    assert Sampling.from_config(layer.get_config()).seed == 5
    with pytest.raises(ValueError, match=r"`seed`.*Received: seed='5'"):
        Sampling(seed="5")


def test_gradients_flow_through_the_sampling_layer():
    import tensorflow as tf

    z_mean = tf.Variable(np.zeros((8, 2), "float32"))
    z_log_var = tf.Variable(np.zeros((8, 2), "float32"))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(Sampling(seed=0)([z_mean, z_log_var]) ** 2)
    g_mean, g_log_var = tape.gradient(loss, [z_mean, z_log_var])
    assert np.abs(g_mean.numpy()).sum() > 0 and np.abs(g_log_var.numpy()).sum() > 0


# -- the loss --

def test_kl_is_zero_for_the_prior():
    zeros = np.zeros((5, 4), "float32")
    np.testing.assert_allclose(kl_divergence(zeros, zeros), np.zeros(5), atol=1e-7)


def test_kl_matches_a_monte_carlo_estimate():
    rng = np.random.default_rng(0)
    mu, log_var = np.array([[0.7, -1.2]]), np.array([[-0.5, 0.8]])
    z = mu + np.exp(0.5 * log_var) * rng.standard_normal((200000, 2))
    log_q = -0.5 * (((z - mu) ** 2) / np.exp(log_var) + log_var + np.log(2 * np.pi)).sum(1)
    log_p = -0.5 * (z**2 + np.log(2 * np.pi)).sum(1)
    mc = (log_q - log_p).mean()
    analytic = float(kl_divergence(mu.astype("float32"), log_var.astype("float32"))[0])
    assert analytic == pytest.approx(mc, abs=0.01)


def test_reconstruction_loss_is_summed_over_pixels_and_averaged_over_the_batch():
    x = np.ones((2, 4, 4, 1), "float32")
    logits = np.zeros((2, 4, 4, 1), "float32")  # p = 0.5 everywhere: -log p = log 2 per pixel
    zeros = np.zeros((2, 3), "float32")
    losses = vae_losses(x, logits, zeros, zeros, beta=2.0)
    assert float(losses["reconstruction_loss"]) == pytest.approx(16 * np.log(2), rel=1e-6)
    assert float(losses["kl_loss"]) == pytest.approx(0.0, abs=1e-7)
    assert float(losses["loss"]) == pytest.approx(16 * np.log(2), rel=1e-6)


# -- the model --

@pytest.mark.parametrize("shape", [(28, 28, 1), (8, 8, 1), (32, 32, 3)])
def test_vae_shapes(shape):
    vae = build_vae(shape, latent_dim=3, seed=0)
    x = np.random.default_rng(0).random((5, *shape), dtype=np.float32)
    assert vae(x).shape == (5, *shape)
    z_mean, z_log_var = vae.encode(x)
    assert z_mean.shape == z_log_var.shape == (5, 3)
    assert vae.decode(z_mean).shape == vae.reconstruct(x).shape == (5, *shape)
    samples = vae.sample(7, seed=3)
    assert samples.shape == (7, *shape) and 0 <= samples.min() and samples.max() <= 1
    np.testing.assert_array_equal(samples, vae.sample(7, seed=3))


def test_fit_reports_all_losses_for_training_and_validation():
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).random((64, 8, 8, 1), dtype=np.float32).round()
    vae = build_vae((8, 8, 1), latent_dim=2, seed=0)
    vae.compile(optimizer="adam")
    history = vae.fit(x, epochs=1, batch_size=32, validation_data=(x,), verbose=0).history
    for name in ("loss", "reconstruction_loss", "kl_loss"):
        assert np.isfinite(history[name][0]) and np.isfinite(history[f"val_{name}"][0])
    assert history["loss"][0] == pytest.approx(history["reconstruction_loss"][0] + history["kl_loss"][0], rel=1e-4)


def test_keras_file_round_trip_gives_identical_outputs(tmp_path):
    vae = build_vae((8, 8, 1), latent_dim=2, beta=0.5, seed=3)
    x = np.random.default_rng(1).random((6, 8, 8, 1), dtype=np.float32)
    vae.save(tmp_path / "vae.keras")
    loaded = load_vae(tmp_path / "vae.keras")
    assert isinstance(loaded, VAE) and loaded.beta == 0.5 and loaded.seed == 3
    np.testing.assert_array_equal(vae.reconstruct(x), loaded.reconstruct(x))
    np.testing.assert_array_equal(vae.sample(4, seed=1), loaded.sample(4, seed=1))


def test_weights_only_round_trip(tmp_path):
    a = build_vae((8, 8, 1), latent_dim=2, seed=0)
    keras.utils.set_random_seed(99)
    b = build_vae((8, 8, 1), latent_dim=2, seed=0)
    x = np.random.default_rng(1).random((6, 8, 8, 1), dtype=np.float32)
    assert not np.array_equal(a.reconstruct(x), b.reconstruct(x))
    a.save_weights(tmp_path / "vae.weights.h5")
    b.load_weights(tmp_path / "vae.weights.h5")
    np.testing.assert_array_equal(a.reconstruct(x), b.reconstruct(x))


def test_loading_something_that_is_not_a_vae_fails_clearly(tmp_path):
    other = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    other.save(tmp_path / "dense.keras")
    with pytest.raises(ValueError, match=r"holds a Sequential, not a VAE"):
        load_vae(tmp_path / "dense.keras")
    (tmp_path / "junk.keras").write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match=r"`path` is not a loadable saved VAE"):
        load_vae(tmp_path / "junk.keras")
    with pytest.raises(ValueError, match=r"`path` must be an existing .keras file"):
        load_vae(tmp_path / "missing.keras")


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda v: v.decode(np.zeros((2, 5))), r"`z` must have shape \(n, 2\) with n >= 1. Received: z.shape=\(2, 5\)"),
        (lambda v: v.sample(0), r"`n` must be an integer in \[1, 100000\]. Received: n=0"),
        (lambda v: v.sample(2.5), r"Received: n=2.5"),
    ],
)
def test_vae_methods_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call(build_vae((8, 8, 1), latent_dim=2, seed=0))


def test_vae_constructor_bad_input():
    from vae_helpers.models.builders import build_decoder, build_encoder

    enc = build_encoder((8, 8, 1), 2, variational=True)
    with pytest.raises(ValueError, match=r"`encoder` must be a Keras model image -> \[z_mean, z_log_var\] \(one input, two outputs\)"):
        VAE(build_encoder((8, 8, 1), 2), build_decoder((8, 8, 1), 2))
    with pytest.raises(ValueError, match=r"`decoder` must be a Keras model with one input whose size equals the latent size 2"):
        VAE(enc, build_decoder((8, 8, 1), 3))
    with pytest.raises(ValueError, match=r"`beta` must be a finite non-negative number. Received: beta=-1"):
        VAE(enc, build_decoder((8, 8, 1), 2), beta=-1)
    assert vae_lib.build_vae((8, 8, 1), 2).beta == 1.0


# -- remedies against posterior collapse: free bits and KL warm-up --

def test_free_bits_charge_each_dimension_at_least_lambda():
    x = np.ones((2, 4, 4, 1), "float32")
    logits = np.zeros((2, 4, 4, 1), "float32")
    # dimension 0: mean 1 in both examples (KL 0.5 each); dimension 1: the prior (KL 0)
    z_mean = np.array([[1.0, 0.0], [1.0, 0.0]], "float32")
    z_log_var = np.zeros((2, 2), "float32")
    rec = 16 * np.log(2)
    plain = vae_losses(x, logits, z_mean, z_log_var, beta=1.0)
    assert float(plain["loss"]) == pytest.approx(rec + 0.5, rel=1e-6)
    # lambda = 0.2: dimension 0 pays 0.5 (above lambda), dimension 1 pays 0.2 instead of 0
    freed = vae_losses(x, logits, z_mean, z_log_var, beta=1.0, free_bits=0.2)
    assert float(freed["loss"]) == pytest.approx(rec + 0.5 + 0.2, rel=1e-6)
    assert float(freed["kl_loss"]) == pytest.approx(0.5, rel=1e-6)  # the reported KL is the true one
    # lambda = 1 with beta = 2: both dimensions are charged 1 nat, times beta
    assert float(vae_losses(x, logits, z_mean, z_log_var, beta=2.0, free_bits=1.0)["loss"]) == pytest.approx(rec + 4.0, rel=1e-6)


def test_kl_weight_ramps_linearly_during_warm_up_then_stays_at_beta():
    vae = build_vae((8, 8, 1), latent_dim=2, beta=2.0, seed=0, kl_warmup_steps=4)
    vae.compile(optimizer="adam")
    vae.optimizer.build(vae.trainable_variables)
    weights = []
    for step in (0, 1, 2, 4, 10):
        vae.optimizer.iterations.assign(step)
        weights.append(float(vae.kl_weight()))
    np.testing.assert_allclose(weights, [0.0, 0.5, 1.0, 2.0, 2.0])
    assert build_vae((8, 8, 1), latent_dim=2, beta=2.0).kl_weight() == 2.0  # no warm-up: beta


def test_warm_up_changes_the_training_loss_but_not_the_validation_loss():
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).random((64, 8, 8, 1), dtype=np.float32).round()
    vae = build_vae((8, 8, 1), latent_dim=2, seed=0, kl_warmup_steps=1000)
    vae.compile(optimizer="adam")
    history = vae.fit(x, epochs=1, batch_size=32, validation_data=(x,), verbose=0).history
    # during warm-up the KL weight is below 1, so the training loss is below rec + KL
    assert history["loss"][0] < history["reconstruction_loss"][0] + history["kl_loss"][0]
    assert history["val_loss"][0] == pytest.approx(history["val_reconstruction_loss"][0] + history["val_kl_loss"][0], rel=1e-4)


def test_remedy_settings_survive_a_keras_file_round_trip(tmp_path):
    vae = build_vae((8, 8, 1), latent_dim=2, seed=3, kl_warmup_steps=7, free_bits=0.25)
    vae.save(tmp_path / "vae.keras")
    loaded = load_vae(tmp_path / "vae.keras")
    assert (loaded.kl_warmup_steps, loaded.free_bits) == (7, 0.25)


@pytest.mark.parametrize("kwargs, match", [
    (dict(free_bits=-0.1), r"`free_bits` must be a finite non-negative number. Received: free_bits=-0.1"),
    (dict(beta=float("inf")), r"`beta` must be a finite non-negative number. Received: beta=inf"),
    (dict(kl_warmup_steps=-1), r"`kl_warmup_steps` must be a non-negative integer. Received: kl_warmup_steps=-1"),
])
def test_remedy_settings_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        build_vae((8, 8, 1), latent_dim=2, **kwargs)


def test_load_vae_and_write_history_name_the_argument_they_refuse(tmp_path):
    from vae_helpers.training.tensorboard import write_history

    with pytest.raises(ValueError, match=r"`path` must be the path of a .keras file saved from a VAE. Received: path=None"):
        vae_lib.load_vae(None)
    with pytest.raises(ValueError, match=r"`history` must be a dict of per-epoch values.*Received: history=None"):
        write_history(tmp_path / "run", None)
