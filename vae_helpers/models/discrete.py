"""A VAE whose decoder is a discretized logistic per pixel: a likelihood of 8-bit images that is a code length.

A Bernoulli decoder on grey levels (notebook 02) is not a distribution over 8-bit images, so its
"likelihood" cannot be compared with bits per dimension. This model kind (``"discrete_vae"``) gives
every pixel value ``k`` in ``{0, ..., 255}`` the probability mass of a logistic distribution over the
bin around it (Salimans et al. 2017, PixelCNN++; Kingma et al. 2016), with the two end bins
stretched to infinity so that the 256 masses sum to one:

    x = 2 k / 255 - 1   in [-1, 1],   half-bin h = 1 / 255
    P(k) = sigmoid((x + h - mu) / s) - sigmoid((x - h - mu) / s)       (0 < k < 255)
    P(0) = sigmoid((-1 + h - mu) / s),   P(255) = 1 - sigmoid((1 - h - mu) / s)

The decoder outputs ``mu`` and ``log s`` for every pixel (twice the image's channels). ``-log2 P``
summed over the pixels is the length in bits of an 8-bit image coded with this model, and the
ELBO divided by ``pixels * log 2`` is in the bits per dimension that papers report.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .builders import DENSE_UNITS, build_decoder, build_encoder
from ..core.checks import check_codes, check_int, check_not_implemented, check_pixels
from ..data.datasets import pixel_levels
from ..core.tf_startup import keras
from .kind import ModelKind
from .densities import (LEVELS, discretized_logistic_log_likelihood, discretized_logistic_probabilities,
                        kl_divergence)
from .vae import VAE

__all__ = ["KIND", "DiscreteVAE", "SUPPORTS", "build_discrete_vae", "build_from_config", "discretized_logistic_log_likelihood",
           "discretized_logistic_probabilities", "to_levels"]

ops = keras.ops


def to_levels(x) -> np.ndarray:
    """Images in [0, 1] (``k / 255``) back to their integer levels ``k`` (int32), refusing other values.

    Every value is converted on its own, so ``x`` may have any shape (a batch, one image, a row of values).
    """
    x = check_pixels("x", x).astype("float64")
    levels = pixel_levels(x)
    off = np.abs(levels - x * (LEVELS - 1)) > 1e-3
    if off.any():
        raise ValueError("`x` must hold 8-bit images scaled to [0, 1] (every value k / 255 for an integer k in [0, 255]). "
                         f"Received: x with {int(off.sum())} other values, such as {x[off].flat[0]:g}")
    return levels.astype(np.int32)


@keras.saving.register_keras_serializable(package="vae_helpers")
class DiscreteVAE(VAE):
    """A :class:`~vae_helpers.models.vae.VAE` with a discretized-logistic decoder (``decoder(z) -> [mu, log s]``).

    The losses are those of the VAE with the reconstruction term ``-log P(x | z)`` in nats;
    :meth:`decode` returns the decoder's means mapped back to [0, 1].
    """

    likelihood = "discretized_logistic"

    def __init__(self, encoder, decoder, free_bits: float = 0.0, denoising: bool = False, **kwargs):
        check_not_implemented("DiscreteVAE", free_bits=free_bits, denoising=denoising)
        super().__init__(encoder, decoder, **kwargs)

    def log_likelihood(self, x, decoder_output):
        """``log P(x|z)`` of each 8-bit image in nats from the decoder's ``[mu, log s]``."""
        return discretized_logistic_log_likelihood(x, decoder_output)

    def compute_losses(self, x, y=None, training: bool = False) -> dict:
        z_mean, z_log_var = self.encoder(x, training=training)
        params = self.decoder(self.sampling([z_mean, z_log_var]), training=training)
        reconstruction_loss = -ops.mean(self.log_likelihood(x, params))
        kl_loss = ops.mean(kl_divergence(z_mean, z_log_var))
        beta = self.kl_weight() if training else self.beta
        return {"loss": reconstruction_loss + beta * kl_loss, "reconstruction_loss": reconstruction_loss, "kl_loss": kl_loss}

    def decode(self, z, batch_size: int = 512) -> np.ndarray:
        """The decoder's pixel means for latent codes ``z`` of shape ``(n, latent_dim)``, mapped to [0, 1]."""
        z = check_codes("z", z, dim=self.latent_dim)
        params = np.asarray(self.decoder.predict(z.astype("float32"), batch_size=check_int("batch_size", batch_size), verbose=0))
        return np.clip((params[..., :params.shape[-1] // 2] + 1.0) / 2.0, 0.0, 1.0)


def build_discrete_vae(input_shape: Sequence[int], latent_dim: int = 16, filters: Sequence[int] = (32, 64),
                       dense_units: int = DENSE_UNITS, beta: float = 1.0, seed: int | None = None,
                       **vae_kwargs) -> DiscreteVAE:
    """The course's convolutional encoder and decoder, the decoder with ``mu`` and ``log s`` per pixel."""
    height, width, channels = input_shape
    encoder = build_encoder(input_shape, latent_dim, filters, dense_units, variational=True)
    decoder = build_decoder((height, width, 2 * channels), latent_dim, filters)
    vae = DiscreteVAE(encoder, decoder, beta=beta, seed=seed, name="discrete_vae", **vae_kwargs)
    vae.build((None, *input_shape))
    return vae


#: The TrainConfig options this model kind supports beyond the shared ones (vae_helpers.training.trainer's registry).
SUPPORTS = frozenset({"filters", "beta", "kl_warmup_epochs"})


def build_from_config(config, dataset, steps_per_epoch: int) -> DiscreteVAE:
    """The model a :class:`~vae_helpers.training.trainer.TrainConfig` describes (the training registry's builder)."""
    image_shape = dataset.image_shape
    return build_discrete_vae(image_shape, config.latent_dim, config.filters, config.dense_units, config.beta,
                              seed=config.seed, kl_warmup_steps=config.kl_warmup_epochs * steps_per_epoch)


#: This module's entry in the registry of model kinds (:data:`vae_helpers.models.registry.MODEL_KINDS`).
KIND = ModelKind("discrete_vae", build_from_config, SUPPORTS, likelihood="discretized_logistic")
