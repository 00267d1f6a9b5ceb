"""Every density and log-likelihood of the course, written once.

Each function takes numpy arrays or tensors (``keras.ops``): float64 stays float64, so the evaluation
helpers score in float64 with the same formulas the models train with.

- the Gaussian: ``log N(z; mean, exp(log_var))`` and its KL to ``N(0, I)`` (notebook 02);
- the Bernoulli log-likelihood of pixels given logits (notebook 02), and the Gaussian one of fixed
  standard deviation around ``sigmoid(logits)`` (a squared error in nats; notebook 07's rate–distortion VAE);
- the discretized logistic of 8-bit pixels (Salimans et al. 2017; notebook 09), its log-likelihood
  and the probabilities of all 256 levels;
- the importance weights ``log w = log p(x|z) + log p(z) - log q(z|x)`` and the IWAE bound
  ``log (1/K) sum_k w_k`` (Burda et al. 2016), used both to train the IWAE model kind and to score
  every model (:mod:`vae_helpers.measures.evaluation`).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import expit

from ..core.tf_startup import keras

__all__ = ["HALF_BIN", "LEVELS", "LOG_2PI", "MIN_LOG_SCALE", "bernoulli_log_likelihood", "discretized_logistic_log_likelihood",
           "discretized_logistic_probabilities", "gaussian_log_density", "gaussian_pixel_log_likelihood", "iwae_bound",
           "kl_divergence", "kl_per_dimension", "log_importance_weights"]

ops = keras.ops
LOG_2PI = math.log(2.0 * math.pi)
LEVELS = 256
HALF_BIN = 1.0 / (LEVELS - 1)
MIN_LOG_SCALE = -7.0   # s >= e^-7: the mass of one bin stays finite in float32


def gaussian_log_density(z, mean, log_var):
    """log N(z; mean, exp(log_var)), elementwise (broadcasting)."""
    return -0.5 * (LOG_2PI + log_var + ops.square(z - mean) * ops.exp(-log_var))


def kl_per_dimension(z_mean, z_log_var):
    """KL(N(z_mean, exp(z_log_var)) || N(0, 1)) of each latent dimension of each example (same shape as z_mean).

    The course's one formula for this KL: numpy arrays in (float64 stays float64), tensors out.
    """
    return -0.5 * (1.0 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))


def kl_divergence(z_mean, z_log_var):
    """KL(N(z_mean, exp(z_log_var)) || N(0, I)) per example, summed over latent dimensions."""
    return ops.sum(kl_per_dimension(z_mean, z_log_var), axis=-1)


def bernoulli_log_likelihood(x, logits):
    """log p(x | logits) per example, summed over all pixels: ``-BCE(x, sigmoid(logits))``.

    The course's one Bernoulli log-likelihood (numpy or tensors in; float64 stays float64): one
    value per entry of the first axis, summed over all the others.
    """
    per_pixel = ops.binary_crossentropy(x, logits, from_logits=True)
    return -ops.sum(ops.reshape(per_pixel, (ops.shape(per_pixel)[0], -1)), axis=-1)


def gaussian_pixel_log_likelihood(x, logits, sigma: float):
    """log p(x | logits) per example, summed over all pixels, for ``p = N(sigmoid(logits), sigma²)`` per pixel.

    ``-(x - sigmoid(logits))² / (2 sigma²) - log(sigma sqrt(2 pi))`` per pixel: the squared error in nats,
    up to a constant. A density of grey levels, not a code length (notebook 09's discretized logistic is one).
    """
    log_p = gaussian_log_density(x, ops.sigmoid(logits), ops.zeros_like(logits) + 2.0 * math.log(sigma))
    return ops.sum(ops.reshape(log_p, (ops.shape(log_p)[0], -1)), axis=-1)


def log_importance_weights(log_px_z, z, eps, z_log_var, weight=1.0):
    """``log w = log p(x|z) + weight * (log p(z) - log q(z|x))`` of each sample ``z = z_mean + exp(z_log_var / 2) * eps``.

    ``log_px_z`` has shape ``(K, batch)``; ``z`` and ``eps`` ``(K, batch, latent_dim)``; ``z_log_var``
    broadcasts against them. ``weight`` is a KL warm-up factor (1 gives the true weights).
    """
    log_pz = -0.5 * ops.sum(ops.square(z) + LOG_2PI, axis=-1)
    log_qz_x = -0.5 * ops.sum(ops.square(eps) + z_log_var + LOG_2PI, axis=-1)
    return log_px_z + weight * (log_pz - log_qz_x)


def iwae_bound(log_w):
    """``IWAE_K = logsumexp_k(log w_k) - log K`` of each example from its ``(K, batch)`` log-weights (K = 1: the ELBO)."""
    k = ops.cast(ops.shape(log_w)[0], log_w.dtype)
    return ops.logsumexp(log_w, axis=0) - ops.log(k)


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
