"""The conditional VAE (Sohn et al. 2015): encoder and decoder both see the label.

    q(z | x, y) = N(z_mean(x, y), exp(z_log_var(x, y)))      p(x | z, y): Bernoulli logits

The loss is the VAE's (:func:`vae_helpers.vae.vae_losses`), with every distribution conditioned on
the label ``y`` (one-hot). Because the decoder is told the class, the code ``z`` is free to
hold what the label does not say (slant, stroke width, size): decoding one ``z`` with each of
the ten labels draws ten digits in the same style.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from .checks import check_int, check_number, check_seed
from .models import DENSE_UNITS, _check_filters, _check_image_shape, predict_images, run_batched
from .vae import VAE, replica_share, vae_losses


def build_conditional_encoder(input_shape: Sequence[int], n_classes: int, latent_dim: int,
                              filters: Sequence[int] = (32, 64), dense_units: int = DENSE_UNITS) -> keras.Model:
    """``[image, one-hot label] -> [z_mean, z_log_var]``: the course's conv encoder, label joined before the dense layer."""
    filters = _check_filters(filters)
    input_shape = _check_image_shape("input_shape", input_shape, len(filters))
    n_classes, latent_dim, dense_units = (check_int(a, v) for a, v in
                                          (("n_classes", n_classes), ("latent_dim", latent_dim), ("dense_units", dense_units)))
    x_in = keras.Input(shape=input_shape, name="image")
    y_in = keras.Input(shape=(n_classes,), name="label")
    h = x_in
    for i, f in enumerate(filters):
        h = layers.Conv2D(f, 3, strides=2, padding="same", activation="relu", name=f"conv_{i}")(h)
    h = layers.Concatenate(name="with_label")([layers.Flatten(name="flatten")(h), y_in])
    h = layers.Dense(dense_units, activation="relu", name="dense")(h)
    z_mean = layers.Dense(latent_dim, name="z_mean")(h)
    z_log_var = layers.Dense(latent_dim, name="z_log_var")(h)
    return keras.Model([x_in, y_in], [z_mean, z_log_var], name="conditional_encoder")


def build_conditional_decoder(output_shape: Sequence[int], n_classes: int, latent_dim: int,
                              filters: Sequence[int] = (32, 64)) -> keras.Model:
    """``[z, one-hot label] -> image logits``: the course's conv decoder fed ``concat(z, y)``."""
    filters = _check_filters(filters)
    height, width, channels = _check_image_shape("output_shape", output_shape, len(filters))
    n_classes, latent_dim = check_int("n_classes", n_classes), check_int("latent_dim", latent_dim)
    factor = 2 ** len(filters)
    z_in = keras.Input(shape=(latent_dim,), name="z")
    y_in = keras.Input(shape=(n_classes,), name="label")
    h = layers.Concatenate(name="with_label")([z_in, y_in])
    h = layers.Dense((height // factor) * (width // factor) * filters[-1], activation="relu", name="dense")(h)
    h = layers.Reshape((height // factor, width // factor, filters[-1]), name="reshape")(h)
    for i, f in enumerate(reversed(filters)):
        h = layers.Conv2DTranspose(f, 3, strides=2, padding="same", activation="relu", name=f"deconv_{i}")(h)
    logits = layers.Conv2DTranspose(channels, 3, padding="same", name="logits")(h)
    return keras.Model([z_in, y_in], logits, name="conditional_decoder")


@keras.saving.register_keras_serializable(package="vae_helpers")
class ConditionalVAE(VAE):
    """A :class:`~vae_helpers.vae.VAE` whose encoder and decoder take the one-hot label as a second input.

    ``fit(x, y)`` takes images and integer labels (one-hot encoding happens inside).

    Args:
        encoder: ``[image, one-hot] -> [z_mean, z_log_var]``.
        decoder: ``[z, one-hot] -> logits``.
        beta: weight of the KL term.
        seed: seed of the sampling layer.
    """

    def __init__(self, encoder: keras.Model, decoder: keras.Model, beta: float = 1.0, seed: int | None = None, **kwargs):
        if not isinstance(encoder, keras.Model) or len(encoder.inputs) != 2:
            raise ValueError(f"`encoder` must be a Keras model [image, label] -> [z_mean, z_log_var]. Received: encoder={encoder!r}")
        if not isinstance(decoder, keras.Model) or len(decoder.inputs) != 2:
            raise ValueError(f"`decoder` must be a Keras model [z, label] -> logits. Received: decoder={decoder!r}")
        super().__init__(encoder, decoder, beta=beta, seed=seed, **kwargs)
        self.n_classes = int(encoder.inputs[1].shape[-1])

    def _one_hot(self, labels):
        return tf.one_hot(tf.cast(tf.reshape(labels, [-1]), "int32"), self.n_classes)

    def call(self, inputs, training=False):
        x, labels = inputs
        y = self._one_hot(labels)
        z_mean, z_log_var = self.encoder([x, y], training=training)
        return self.decoder([self.sampling([z_mean, z_log_var]), y], training=training)

    def compute_vae_losses(self, x, labels, training: bool = False) -> dict:
        """The VAE losses with encoder and decoder conditioned on ``labels``."""
        y = self._one_hot(labels)
        z_mean, z_log_var = self.encoder([x, y], training=training)
        logits = self.decoder([self.sampling([z_mean, z_log_var]), y], training=training)
        return vae_losses(x, logits, z_mean, z_log_var, self.beta)

    def train_step(self, data):
        x, labels = data[0], data[1]
        with tf.GradientTape() as tape:
            losses = self.compute_vae_losses(x, labels, training=True)
            loss = replica_share(losses["loss"])
        grads = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        return self._update_trackers(losses)

    def test_step(self, data):
        return self._update_trackers(self.compute_vae_losses(data[0], data[1]))

    # -- numpy in, numpy out --

    def _labels(self, labels, n: int | None = None) -> np.ndarray:
        labels = np.asarray(labels)
        if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer) or (n is not None and len(labels) != n) \
                or len(labels) == 0 or labels.min() < 0 or labels.max() >= self.n_classes:
            want = f"({n},)" if n is not None else "(n,)"
            raise ValueError(f"`labels` must be integers in [0, {self.n_classes - 1}] of shape {want}. "
                             f"Received: labels.shape={labels.shape}, labels.dtype={labels.dtype}")
        return np.eye(self.n_classes, dtype="float32")[labels]

    def encode(self, x, labels, batch_size: int = 512) -> tuple[np.ndarray, np.ndarray]:
        """``(z_mean, z_log_var)`` of images ``x`` with their integer ``labels``."""
        x = self.check_images(x)
        return run_batched(self.encoder, (x, self._labels(labels, len(x))), batch_size)

    def decode(self, z, labels, batch_size: int = 512) -> np.ndarray:
        """Pixel probabilities for codes ``z`` ``(n, latent_dim)`` drawn as the classes ``labels``."""
        z = np.asarray(z, dtype="float32")
        if z.ndim != 2 or z.shape[1] != self.latent_dim or not np.all(np.isfinite(z)):
            raise ValueError(f"`z` must be finite codes of shape (n, {self.latent_dim}). Received: z.shape={z.shape}")
        return predict_images(self.decoder, (z, self._labels(labels, len(z))), batch_size)

    def reconstruct(self, x, labels, batch_size: int = 512) -> np.ndarray:
        """Decode the mean code of each image with its own label: the deterministic reconstruction."""
        return self.decode(self.encode(x, labels, batch_size)[0], labels, batch_size)

    def sample(self, labels, seed: int = 0) -> np.ndarray:
        """One new image of each requested class in ``labels``, from ``z ~ N(0, I)`` drawn with ``seed``."""
        labels = np.asarray(labels)
        z = np.random.default_rng(check_seed("seed", seed)).standard_normal((len(labels), self.latent_dim)).astype("float32")
        return self.decode(z, labels)


def build_conditional_vae(input_shape: Sequence[int], n_classes: int = 10, latent_dim: int = 2,
                          filters: Sequence[int] = (32, 64), dense_units: int = DENSE_UNITS, beta: float = 1.0,
                          seed: int | None = None) -> ConditionalVAE:
    """A :class:`ConditionalVAE` with the course's convolutional encoder and decoder."""
    encoder = build_conditional_encoder(input_shape, n_classes, latent_dim, filters, dense_units)
    decoder = build_conditional_decoder(input_shape, n_classes, latent_dim, filters)
    cvae = ConditionalVAE(encoder, decoder, beta=beta, seed=seed, name="conditional_vae")
    cvae.build()
    return cvae
