"""Notebook 01's autoencoder with the VAE's interface, so the training cache can hold it too.

The same convolutional encoder and decoder (:mod:`vae_helpers.models`), one deterministic code
``z = encoder(x)``, trained to minimize the Bernoulli reconstruction loss (binary cross-entropy
summed over pixels), optionally from corrupted inputs (a denoising autoencoder, Vincent et al. 2008).
``encode``, ``decode`` and ``reconstruct`` take and return numpy arrays like :class:`~vae_helpers.vae.VAE`'s.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from .checks import check_images, check_int
from .models import DENSE_UNITS, TrainingNoise, build_decoder, build_encoder, predict_images, run_batched
from .vae import bernoulli_log_likelihood, for_keras_logs, replica_share, with_submodels


@keras.saving.register_keras_serializable(package="vae_helpers")
class Autoencoder(keras.Model):
    """A deterministic autoencoder: ``encoder`` (image -> z) and ``decoder`` (z -> logits).

    Args:
        encoder: model from an image to one code.
        decoder: model from a code to image logits.
        denoising: train on inputs corrupted by :class:`~vae_helpers.models.TrainingNoise`.
        seed: seed of that noise.
    """

    def __init__(self, encoder: keras.Model, decoder: keras.Model, denoising: bool = False,
                 seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(encoder, keras.Model) or len(encoder.outputs) != 1:
            raise ValueError(f"`encoder` must be a Keras model with one output (the code). Received: encoder={encoder!r}")
        if not isinstance(decoder, keras.Model) or decoder.inputs[0].shape[-1] != encoder.output_shape[-1]:
            raise ValueError("`decoder` must be a Keras model whose input size equals the code size "
                             f"{encoder.output_shape[-1]}. Received: decoder={decoder!r}")
        self.encoder, self.decoder = encoder, decoder
        self.latent_dim = int(decoder.inputs[0].shape[-1])
        self.code_shape = tuple(int(s) for s in decoder.inputs[0].shape[1:])  # (latent_dim,) or (h, w, latent_dim)
        self.denoising, self.seed = bool(denoising), seed
        self.noise = TrainingNoise(seed=seed, name="training_noise") if self.denoising else None
        self.loss_tracker = keras.metrics.Mean(name="loss")

    def build(self, input_shape=None):
        if self.noise is not None:
            self.noise.build(input_shape)
        self.built = True  # the encoder and decoder are functional models, built already

    @property
    def metrics(self):
        return [self.loss_tracker]

    def call(self, x, training=False):
        return self.decoder(self.encoder(x, training=training), training=training)

    def _loss(self, x, x_in):
        logits = self(x_in, training=True)
        return -ops.mean(bernoulli_log_likelihood(ops.cast(x, "float32"), ops.cast(logits, "float32")))

    def train_step(self, data):
        x = data[0] if isinstance(data, tuple) else data
        x_in = self.noise(x, training=True) if self.denoising else x
        with tf.GradientTape() as tape:
            loss = self._loss(x, x_in)
            scaled = replica_share(loss)
        grads = tape.gradient(scaled, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        self.loss_tracker.update_state(loss)
        return {"loss": for_keras_logs(self.loss_tracker.result())}

    def test_step(self, data):
        x = data[0] if isinstance(data, tuple) else data
        logits = self(x, training=False)
        self.loss_tracker.update_state(-ops.mean(bernoulli_log_likelihood(x, logits)))
        return {"loss": for_keras_logs(self.loss_tracker.result())}

    @property
    def image_shape(self) -> tuple[int, ...]:
        """``(height, width, channels)`` of the images the model takes."""
        return tuple(int(s) for s in self.encoder.inputs[0].shape[1:])

    def encode(self, x, batch_size: int = 512) -> np.ndarray:
        """The code of each image in ``x`` (shape ``(n, h, w, c)``, values in [0, 1])."""
        return run_batched(self.encoder, check_images("x", x, self.image_shape), check_int("batch_size", batch_size))

    def decode(self, z, batch_size: int = 512) -> np.ndarray:
        """Pixel probabilities ``sigmoid(decoder(z))`` for codes ``z`` of shape ``(n, *code_shape)``."""
        z = np.asarray(z)
        if not np.issubdtype(z.dtype, np.number) or z.ndim < 2 or len(z) == 0 or z.shape[1:] != self.code_shape:
            raise ValueError(f"`z` must be a numeric array of shape (n, {', '.join(map(str, self.code_shape))}). "
                             f"Received: z.shape={z.shape}, z.dtype={z.dtype}")
        return predict_images(self.decoder, z.astype("float32"), check_int("batch_size", batch_size))

    def reconstruct(self, x, batch_size: int = 512) -> np.ndarray:
        """``decode(encode(x))``: the reconstruction of each image."""
        return self.decode(self.encode(x, batch_size), batch_size)

    def get_config(self):
        return {**super().get_config(), "encoder": keras.saving.serialize_keras_object(self.encoder),
                "decoder": keras.saving.serialize_keras_object(self.decoder),
                "denoising": self.denoising, "seed": self.seed}

    @classmethod
    def from_config(cls, config):
        return cls(**with_submodels(config))


def build_autoencoder_model(input_shape: Sequence[int], latent_dim: int, filters: Sequence[int] = (32, 64),
                            dense_units: int = DENSE_UNITS, denoising: bool = False, seed: int | None = None) -> Autoencoder:
    """An :class:`Autoencoder` with the course's encoder and decoder (notebook 01's architecture).

    ``dense_units=0`` gives a convolutional autoencoder whose code is a feature map with
    ``latent_dim`` channels at 1/2**len(filters) of the image size (no dense bottleneck).
    """
    encoder = build_encoder(input_shape, latent_dim, filters, dense_units)
    decoder = build_decoder(input_shape, latent_dim, filters, spatial=dense_units == 0)
    model = Autoencoder(encoder, decoder, denoising=denoising, seed=seed, name="autoencoder")
    model.build((None, *input_shape))
    return model
