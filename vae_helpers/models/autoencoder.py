"""Notebook 01's autoencoder with the VAE's interface, so the training cache can hold it too.

The same convolutional encoder and decoder (:mod:`vae_helpers.models.builders`), one deterministic code
``z = encoder(x)``, trained to minimize the Bernoulli reconstruction loss (binary cross-entropy
summed over pixels), optionally from corrupted inputs (a denoising autoencoder, Vincent et al. 2008).
Its training step is every course model's (:class:`~vae_helpers.models.base.CourseModel`).
``encode``, ``decode`` and ``reconstruct`` take and return numpy arrays like :class:`~vae_helpers.models.vae.VAE`'s.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .base import CourseModel
from ..core.checks import check_int
from .builders import (DENSE_UNITS, build_decoder, build_encoder, build_spatial_decoder, build_spatial_encoder,
                     predict_images, run_batched)
from ..core.tf_startup import keras
from .kind import ModelKind
from .vae import bernoulli_log_likelihood

__all__ = ["KIND", "Autoencoder", "SUPPORTS", "build_autoencoder_model", "build_from_config"]

ops = keras.ops


@keras.saving.register_keras_serializable(package="vae_helpers")
class Autoencoder(CourseModel):
    """A deterministic autoencoder: ``encoder`` (image -> z) and ``decoder`` (z -> logits).

    Args:
        encoder: model from an image to one code.
        decoder: model from a code to image logits.
        denoising: train on inputs corrupted by :class:`~vae_helpers.models.builders.TrainingNoise`.
        seed: seed of that noise.
    """

    def __init__(self, encoder: keras.Model, decoder: keras.Model, denoising: bool = False,
                 seed: int | None = None, **kwargs):
        if not isinstance(encoder, keras.Model) or len(encoder.outputs) != 1:
            raise ValueError(f"`encoder` must be a Keras model with one output (the code). Received: encoder={encoder!r}")
        if not isinstance(decoder, keras.Model) or decoder.inputs[0].shape[-1] != encoder.output_shape[-1]:
            raise ValueError("`decoder` must be a Keras model whose input size equals the code size "
                             f"{encoder.output_shape[-1]}. Received: decoder={decoder!r}")
        super().__init__(encoder, decoder, denoising=denoising, seed=seed, **kwargs)
        self.latent_dim = int(decoder.inputs[0].shape[-1])
        self.code_shape = tuple(int(s) for s in decoder.inputs[0].shape[1:])  # (latent_dim,) or (h, w, latent_dim)

    def build(self, input_shape=None):
        if self.noise is not None:
            self.noise.build(input_shape)
        self.built = True  # the encoder and decoder are functional models, built already

    def call(self, x, training=False):
        return self.decoder(self.encoder(x, training=training), training=training)

    def compute_losses(self, x, y=None, training: bool = False) -> dict:
        """The reconstruction loss ``-log p(x | decoder(encoder(x)))``, a batch mean (binary cross-entropy)."""
        logits = self.decoder(self.encoder(self.encoder_input(x, training), training=training), training=training)
        return {"loss": -ops.mean(bernoulli_log_likelihood(ops.cast(x, "float32"), ops.cast(logits, "float32")))}

    def encode(self, x, batch_size: int = 512) -> np.ndarray:
        """The code of each image in ``x`` (shape ``(n, h, w, c)``, values in [0, 1])."""
        return run_batched(self.encoder, self.check_images(x), check_int("batch_size", batch_size))

    def decode(self, z, batch_size: int = 512) -> np.ndarray:
        """Pixel probabilities ``sigmoid(decoder(z))`` for codes ``z`` of shape ``(n, *code_shape)``."""
        z = np.asarray(z)
        if not np.issubdtype(z.dtype, np.number) or z.ndim < 2 or len(z) == 0 or z.shape[1:] != self.code_shape \
                or not np.all(np.isfinite(z)):
            raise ValueError(f"`z` must be a finite numeric array of shape (n, {', '.join(map(str, self.code_shape))}). "
                             f"Received: z.shape={z.shape}, z.dtype={z.dtype}")
        return predict_images(self.decoder, z.astype("float32"), check_int("batch_size", batch_size))

    def reconstruct(self, x, batch_size: int = 512) -> np.ndarray:
        """``decode(encode(x))``: the reconstruction of each image."""
        return self.decode(self.encode(x, batch_size), batch_size)

    def get_config(self):
        return {**super().get_config(), "denoising": self.denoising}


def build_autoencoder_model(input_shape: Sequence[int], latent_dim: int, filters: Sequence[int] = (32, 64),
                            dense_units: int = DENSE_UNITS, denoising: bool = False, seed: int | None = None,
                            convs_per_stage: int = 1) -> Autoencoder:
    """An :class:`Autoencoder` with the course's encoder and decoder (notebook 01's architecture).

    ``dense_units=0`` gives a convolutional autoencoder whose code is a feature map with
    ``latent_dim`` channels at 1/2**len(filters) of the image size (no dense bottleneck), with
    ``convs_per_stage`` convolutions per resolution.
    """
    if check_int("dense_units", dense_units, 0) == 0:
        encoder = build_spatial_encoder(input_shape, latent_dim, filters, convs_per_stage=convs_per_stage)
        decoder = build_spatial_decoder(input_shape, latent_dim, filters, convs_per_stage=convs_per_stage)
    else:
        encoder = build_encoder(input_shape, latent_dim, filters, dense_units)
        decoder = build_decoder(input_shape, latent_dim, filters)
    model = Autoencoder(encoder, decoder, denoising=denoising, seed=seed, name="autoencoder")
    model.build((None, *input_shape))
    return model


#: The TrainConfig options this model kind supports beyond the shared ones (vae_helpers.training.trainer's registry);
#: ``dense_units=0`` (a spatial code) is allowed too.
SUPPORTS = frozenset({"filters", "denoising", "spatial_code", "convs_per_stage"})


def build_from_config(config, dataset, steps_per_epoch: int) -> Autoencoder:
    """The autoencoder a :class:`~vae_helpers.training.trainer.TrainConfig` describes (the training registry's builder)."""
    image_shape = dataset.image_shape
    return build_autoencoder_model(image_shape, config.latent_dim, config.filters, config.dense_units,
                                   denoising=config.denoising, seed=config.seed, convs_per_stage=config.convs_per_stage)


#: This module's entry in the registry of model kinds (:data:`vae_helpers.models.registry.MODEL_KINDS`).
KIND = ModelKind("autoencoder", build_from_config, SUPPORTS, has_prior=False,
                 key_tag=lambda config: "convae" if config.dense_units == 0 else "ae")
