import keras
import numpy as np
import pytest

from vae_helpers.models import builders as models


@pytest.mark.parametrize("shape", [(28, 28, 1), (8, 8, 1), (32, 32, 3)])
@pytest.mark.parametrize("latent_dim", [2, 16])
def test_autoencoder_shapes(shape, latent_dim):
    encoder = models.build_encoder(shape, latent_dim)
    decoder = models.build_decoder(shape, latent_dim)
    autoencoder = models.build_autoencoder(encoder, decoder)
    x = np.random.default_rng(0).random((4, *shape), dtype=np.float32)
    assert encoder(x).shape == (4, latent_dim)
    assert decoder(np.zeros((4, latent_dim), "float32")).shape == (4, *shape)
    assert autoencoder(x).shape == (4, *shape)


def test_variational_encoder_outputs_mean_and_log_variance():
    encoder = models.build_encoder((8, 8, 1), 3, variational=True)
    z_mean, z_log_var = encoder(np.zeros((5, 8, 8, 1), "float32"))
    assert z_mean.shape == z_log_var.shape == (5, 3)
    assert encoder.outputs[0] is encoder.get_layer("z_mean").output
    assert encoder.outputs[1] is encoder.get_layer("z_log_var").output


def test_decoder_mirrors_encoder_layers():
    encoder = models.build_encoder((28, 28, 1), 2, filters=(32, 64))
    decoder = models.build_decoder((28, 28, 1), 2, filters=(32, 64))
    assert encoder.get_layer("conv_1").output.shape[1:] == (7, 7, 64)
    assert decoder.get_layer("reshape").output.shape[1:] == (7, 7, 64)
    assert decoder.get_layer("deconv_0").filters == 64 and decoder.get_layer("deconv_1").filters == 32


def test_decoder_outputs_logits_and_predict_images_squashes_them():
    keras.utils.set_random_seed(0)
    decoder = models.build_decoder((8, 8, 1), 2)
    z = np.random.default_rng(0).normal(size=(64, 2)).astype("float32") * 50  # large codes -> large logits
    logits = decoder.predict(z, verbose=0)
    images = models.predict_images(decoder, z)
    assert logits.min() < 0 or logits.max() > 1  # unbounded logits, not probabilities
    assert images.shape == (64, 8, 8, 1) and images.dtype == np.float32
    assert 0.0 <= images.min() and images.max() <= 1.0
    np.testing.assert_allclose(images, 1 / (1 + np.exp(-logits)), rtol=1e-5, atol=1e-6)


def test_same_seed_gives_same_weights():
    keras.utils.set_random_seed(7)
    a = models.build_encoder((8, 8, 1), 2).get_weights()
    keras.utils.set_random_seed(7)
    b = models.build_encoder((8, 8, 1), 2).get_weights()
    for wa, wb in zip(a, b):
        np.testing.assert_array_equal(wa, wb)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(input_shape=(28, 28, 1), latent_dim=0), r"`latent_dim` must be an integer in \[1, 1024\]. Received: latent_dim=0"),
        (dict(input_shape=(28, 28, 1), latent_dim=2.0), r"Received: latent_dim=2.0"),
        (dict(input_shape=(28, 28), latent_dim=2), r"`input_shape` must be \(height, width, channels\).*Received: input_shape=\(28, 28\)"),
        (dict(input_shape=(30, 30, 1), latent_dim=2), r"divisible by 4.*Received: input_shape=\(30, 30, 1\)"),
        (dict(input_shape=(28, 28, 1), latent_dim=2, filters=()), r"`filters` must be a non-empty sequence"),
        (dict(input_shape=(28, 28, 1), latent_dim=2, filters=(32, -1)), r"Received: filters=\(32, -1\)"),
        (dict(input_shape=(28, 28, 1), latent_dim=2, dense_units=-1), r"`dense_units` must be an integer in \[1, 16384\]"),
    ],
)
def test_encoder_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        models.build_encoder(**kwargs)


def test_decoder_bad_input():
    with pytest.raises(ValueError, match=r"`output_shape` height and width must be divisible by 8"):
        models.build_decoder((28, 28, 1), 2, filters=(8, 16, 32))


def test_autoencoder_rejects_mismatched_parts():
    encoder = models.build_encoder((8, 8, 1), 3)
    with pytest.raises(ValueError, match=r"`encoder` must output one code.*decoder.input_shape=\(None, 2\)"):
        models.build_autoencoder(encoder, models.build_decoder((8, 8, 1), 2))
    with pytest.raises(ValueError, match=r"`encoder` must output one code"):
        models.build_autoencoder(models.build_encoder((8, 8, 1), 2, variational=True), models.build_decoder((8, 8, 1), 2))


def test_start_at_mean_ink_sets_the_output_bias_to_the_logit_of_the_mean_pixel():
    from vae_helpers.core.tf_startup import keras
    from vae_helpers.models.builders import start_at_mean_ink

    layer = keras.layers.Dense(4)
    layer.build((None, 2))
    images = np.zeros((4, 2, 2, 1), "float32")
    images[:, 0, 0] = 1                                      # a quarter of the pixels on
    start_at_mean_ink(layer, images)
    np.testing.assert_allclose(layer.bias.numpy(), np.full(4, np.log(0.25 / 0.75)), rtol=1e-6)
    start_at_mean_ink(layer, np.zeros((2, 2, 2, 1), "float32"))   # blank images: clipped, not -inf
    assert np.all(np.isfinite(layer.bias.numpy())) and layer.bias.numpy()[0] == pytest.approx(np.log(1e-3 / (1 - 1e-3)))
