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
from scipy.special import expit

from .models import DENSE_UNITS, build_decoder, build_encoder
from .tf_startup import keras
from .vae import VAE, kl_divergence

__all__ = ["DiscreteVAE", "SUPPORTS", "build_discrete_vae", "build_from_config", "discretized_logistic_log_likelihood",
           "discretized_logistic_probabilities", "is_discrete", "to_levels"]

ops = keras.ops
LEVELS = 256
HALF_BIN = 1.0 / (LEVELS - 1)
MIN_LOG_SCALE = -7.0   # s >= e^-7: the mass of one bin stays finite in float32


def to_levels(x) -> np.ndarray:
    """Images in [0, 1] (``k / 255``) back to their integer levels ``k`` (int32), refusing other values."""
    x = np.asarray(x, dtype="float64")
    levels = np.rint(x * (LEVELS - 1))
    if x.size and (np.abs(levels - x * (LEVELS - 1)).max() > 1e-3 or levels.min() < 0 or levels.max() > LEVELS - 1):
        raise ValueError("`x` must hold 8-bit images scaled to [0, 1] (every value k / 255 for an integer k in [0, 255]); "
                         f"received values in [{x.min():g}, {x.max():g}] that are not")
    return levels.astype(np.int32)


def _split(params):
    channels = ops.shape(params)[-1] // 2
    return params[..., :channels], ops.maximum(params[..., channels:], MIN_LOG_SCALE)


def discretized_logistic_log_likelihood(x, params):
    """``log P(x)`` per image in nats, summed over pixels; ``x`` in [0, 1] (levels / 255), ``params = [mu, log s]``."""
    x = ops.cast(x, "float32") * 2.0 - 1.0
    mu, log_s = _split(ops.cast(params, "float32"))
    inv_s = ops.exp(-log_s)
    plus, minus = inv_s * (x - mu + HALF_BIN), inv_s * (x - mu - HALF_BIN)
    log_cdf_plus = plus - ops.softplus(plus)               # log sigmoid(plus): the lowest bin
    log_survival_minus = -ops.softplus(minus)              # log (1 - sigmoid(minus)): the highest bin
    delta = ops.sigmoid(plus) - ops.sigmoid(minus)
    mid = inv_s * (x - mu)                                 # where delta underflows: density times bin width
    log_mid = ops.where(delta > 1e-5, ops.log(ops.maximum(delta, 1e-12)),
                        mid - log_s - 2.0 * ops.softplus(mid) + np.log(2.0 * HALF_BIN))
    log_p = ops.where(x < -1.0 + HALF_BIN, log_cdf_plus, ops.where(x > 1.0 - HALF_BIN, log_survival_minus, log_mid))
    return ops.sum(ops.reshape(log_p, (ops.shape(log_p)[0], -1)), axis=-1)


def discretized_logistic_probabilities(params) -> np.ndarray:
    """``P(k)`` for all 256 levels of every pixel: shape ``(n, pixels, 256)``, float64, each row summing to 1."""
    params = np.asarray(params, dtype="float64")
    channels = params.shape[-1] // 2
    mu = params[..., :channels].reshape(len(params), -1, 1)
    log_s = np.maximum(params[..., channels:], MIN_LOG_SCALE).reshape(len(params), -1, 1)
    inner = 2.0 * np.arange(1, LEVELS) / (LEVELS - 1) - 1.0 - HALF_BIN          # the 255 inner bin edges
    cdf = expit((inner[None, None] - mu) / np.exp(log_s))
    ones = np.ones_like(cdf[..., :1])
    return np.diff(np.concatenate([0 * ones, cdf, ones], axis=-1), axis=-1)


def is_discrete(model) -> bool:
    """Whether ``model``'s decoder is a discretized logistic (a :class:`DiscreteVAE`) rather than Bernoulli logits."""
    return isinstance(model, DiscreteVAE)


@keras.saving.register_keras_serializable(package="vae_helpers")
class DiscreteVAE(VAE):
    """A :class:`~vae_helpers.vae.VAE` with a discretized-logistic decoder (``decoder(z) -> [mu, log s]``).

    The losses are those of the VAE with the reconstruction term ``-log P(x | z)`` in nats;
    :meth:`decode` returns the decoder's means mapped back to [0, 1].
    """

    def compute_losses(self, x, y=None, training: bool = False) -> dict:
        z_mean, z_log_var = self.encoder(x, training=training)
        params = self.decoder(self.sampling([z_mean, z_log_var]), training=training)
        reconstruction_loss = -ops.mean(discretized_logistic_log_likelihood(x, params))
        kl_loss = ops.mean(kl_divergence(z_mean, z_log_var))
        beta = self.kl_weight() if training else self.beta
        return {"loss": reconstruction_loss + beta * kl_loss, "reconstruction_loss": reconstruction_loss, "kl_loss": kl_loss}

    def decode(self, z, batch_size: int = 512) -> np.ndarray:
        params = np.asarray(self.decoder.predict(np.asarray(z, dtype="float32"), batch_size=batch_size, verbose=0))
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


#: The TrainConfig options this model kind supports beyond the shared ones (vae_helpers.training's registry).
SUPPORTS = frozenset({"filters", "beta", "kl_warmup_epochs"})


def build_from_config(config, image_shape: tuple[int, int, int], n_classes: int, steps_per_epoch: int) -> DiscreteVAE:
    """The model a :class:`~vae_helpers.training.TrainConfig` describes (the training registry's builder)."""
    return build_discrete_vae(image_shape, config.latent_dim, config.filters, config.dense_units, config.beta,
                              seed=config.seed, kl_warmup_steps=config.kl_warmup_epochs * steps_per_epoch)
