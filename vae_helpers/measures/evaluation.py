"""How good is a trained VAE? The ELBO and the importance-weighted bound (IWAE), in nats.

For an image x with encoder q(z|x) = N(mu, diag(exp(log_var))), prior p(z) = N(0, I) and a
Bernoulli decoder p(x|z):

    ELBO(x)   = E_q[log p(x|z)] - KL(q(z|x) || p(z))                       <= log p(x)
    IWAE_k(x) = E[log (1/k) sum_i p(x|z_i) p(z_i) / q(z_i|x)],  z_i ~ q     <= log p(x)

IWAE_1 is the ELBO, and IWAE_k rises towards log p(x) as k grows, so -IWAE_k is the usual
estimate of the negative log-likelihood. Both use beta = 1, whatever beta the model was trained with.

On grey-level pixels (Fashion-MNIST) the Bernoulli "likelihood" is a cross-entropy, not a
normalized likelihood of x: it cannot go below the entropy floor sum_d H(x_d)
(:func:`entropy_floor`), so compare models by their nats above that floor. Only on binary
pixels (``binarized_mnist``) is -IWAE_k an estimate of a real negative log-likelihood.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

from ..core.checks import check_images, check_int, check_seed, check_unconditional
from ..models.builders import run_batched
from ..core.tf_startup import keras
from ..models.densities import bernoulli_log_likelihood, kl_divergence, log_importance_weights

__all__ = ["bernoulli_nll", "elbo_and_iwae_per_example", "elbo_per_example", "entropy_floor", "iwae_per_example",
           "kl_per_example"]

MAX_SAMPLES_PER_STEP = 2**20  # z samples drawn per step (k * images); a larger k is split into chunks
DECODER_BATCH = 2048          # z samples per decoder call


def _check(vae, x, k: int, batch_size: int, seed: int, k_name: str = "k") -> np.ndarray:
    for name in ("encoder", "decoder", "log_likelihood"):
        if not hasattr(vae, name):
            raise ValueError("`vae` must have an `encoder`, a `decoder` and a `log_likelihood` (a vae_helpers VAE). "
                             f"Received: vae={vae!r}")
    check_unconditional("vae", vae)
    check_int(k_name, k), check_int("batch_size", batch_size), check_seed("seed", seed)
    return check_images("x", x, tuple(int(s) for s in vae.encoder.input_shape[1:]))


def _log_bernoulli(x: np.ndarray, logits: np.ndarray) -> np.ndarray:
    """:func:`~vae_helpers.models.vae.bernoulli_log_likelihood` in float64, as numpy."""
    return keras.ops.convert_to_numpy(bernoulli_log_likelihood(np.asarray(x, "float64"), np.asarray(logits, "float64")))


def _log_likelihood(vae, x: np.ndarray, decoded: np.ndarray) -> np.ndarray:
    """log p(x|z) of each image from the decoder's output, in float64: the model's own likelihood."""
    log_p = vae.log_likelihood(np.asarray(x, "float64"), np.asarray(decoded, "float64"))
    return keras.ops.convert_to_numpy(log_p).astype("float64")


def _kl(z_mean: np.ndarray, z_log_var: np.ndarray) -> np.ndarray:
    """:func:`~vae_helpers.models.vae.kl_divergence` of each example in float64, as numpy."""
    return keras.ops.convert_to_numpy(kl_divergence(np.asarray(z_mean, "float64"), np.asarray(z_log_var, "float64")))


def _log_weights(vae, xb: np.ndarray, k: int, rng: np.random.Generator):
    """log p(x|z_i) and the log-weights log p(x|z_i) + log p(z_i) - log q(z_i|x) for k samples per image: two arrays (k, b).

    The decoder runs on ``DECODER_BATCH`` samples at a time and each chunk's logits are reduced
    to log-likelihoods at once, so memory holds the codes, never k * b decoded images.
    """
    z_mean, z_log_var = (a.astype("float64") for a in run_batched(vae.encoder, xb))
    eps = rng.standard_normal((k, *z_mean.shape))
    z = (z_mean + np.exp(0.5 * z_log_var) * eps).reshape(-1, z_mean.shape[-1])
    x_rep = np.broadcast_to(xb[None], (k, *xb.shape)).reshape(-1, *xb.shape[1:])
    log_px_z = np.concatenate([
        _log_likelihood(vae, x_rep[i:i + DECODER_BATCH],
                        run_batched(vae.decoder, z[i:i + DECODER_BATCH].astype("float32"), DECODER_BATCH))
        for i in range(0, len(z), DECODER_BATCH)]).reshape(k, len(xb))
    log_w = log_importance_weights(log_px_z, z.reshape(k, *z_mean.shape), eps, z_log_var)
    return log_px_z, keras.ops.convert_to_numpy(log_w), (z_mean, z_log_var)


def _clip01(p: np.ndarray) -> np.ndarray:
    return np.clip(np.asarray(p, dtype="float64"), 1e-7, 1 - 1e-7)


def bernoulli_nll(x, probabilities) -> np.ndarray:
    """``-log p(x | probabilities)`` of each image in nats, summed over pixels (probabilities clipped to 1e-7)."""
    x = check_images("x", x).astype("float64")
    p = np.asarray(probabilities, dtype="float64")
    if x.shape != p.shape:
        raise ValueError(f"`x` and `probabilities` must be batches of the same shape. Received: {x.shape} and {p.shape}")
    if not np.all(np.isfinite(p)) or p.min() < 0 or p.max() > 1:
        raise ValueError("`probabilities` must be finite pixel probabilities in [0, 1]. "
                         f"Received: values in [{np.nanmin(p):g}, {np.nanmax(p):g}]")
    p = _clip01(p)
    return -_log_bernoulli(x, np.log(p) - np.log1p(-p))  # the logits of the clipped probabilities


def entropy_floor(x) -> np.ndarray:
    """``sum_d H(x_d)`` of each image in nats: the lowest ``-log p(x|z)`` a Bernoulli decoder can reach."""
    return bernoulli_nll(x, x)


def _chunks(n_images: int, k: int, batch_size: int):
    """Steps ``(image slice, samples)`` with at most ``MAX_SAMPLES_PER_STEP`` samples of z in each.

    When ``k * batch_size`` fits, each step is ``batch_size`` images with all k samples, as written;
    otherwise fewer images per step, and for ``k > MAX_SAMPLES_PER_STEP`` several steps per image.
    """
    images_per_step = min(batch_size, max(1, MAX_SAMPLES_PER_STEP // k))
    samples_per_step = min(k, MAX_SAMPLES_PER_STEP)
    for start in range(0, n_images, images_per_step):
        rows = slice(start, start + images_per_step)
        yield rows, [min(samples_per_step, k - done) for done in range(0, k, samples_per_step)]


def elbo_per_example(vae, x, n_samples: int = 1, batch_size: int = 500, seed: int = 0) -> np.ndarray:
    """ELBO of each image in nats: a Monte-Carlo ``E_q[log p(x|z)]`` minus the analytic KL.

    Args:
        vae: an object with ``encoder`` (image -> [z_mean, z_log_var]) and ``decoder`` (z -> logits).
        x: images, shape ``(n, h, w, c)`` with values in [0, 1].
        n_samples: samples of z per image for the expectation.
        batch_size: images per encoder call.
        seed: seed of the samples.
    """
    x = _check(vae, x, n_samples, batch_size, seed, k_name="n_samples")
    rng = np.random.default_rng(seed)
    out = []
    for rows, sample_chunks in _chunks(len(x), n_samples, batch_size):
        total = 0.0
        for k in sample_chunks:
            log_px_z, _, (z_mean, z_log_var) = _log_weights(vae, x[rows], k, rng)
            total = total + log_px_z.sum(0)
        out.append(total / n_samples - _kl(z_mean, z_log_var))
    return np.concatenate(out)


def iwae_per_example(vae, x, k: int = 100, batch_size: int = 100, seed: int = 0) -> np.ndarray:
    """Importance-weighted bound ``IWAE_k`` of each image in nats (k samples of z per image).

    Args:
        vae: an object with ``encoder`` and ``decoder`` as in :func:`elbo_per_example`.
        x: images, shape ``(n, h, w, c)`` with values in [0, 1].
        k: importance samples per image. Any k works: steps hold at most ``MAX_SAMPLES_PER_STEP``
            samples (fewer images per step, or several steps per image), so memory stays bounded;
            time grows linearly with k.
        batch_size: images per step.
        seed: seed of the samples.
    """
    x = _check(vae, x, k, batch_size, seed)
    rng = np.random.default_rng(seed)
    out = []
    for rows, sample_chunks in _chunks(len(x), k, batch_size):
        parts = []
        for k_chunk in sample_chunks:
            _, log_w, _ = _log_weights(vae, x[rows], k_chunk, rng)
            parts.append(logsumexp(log_w, axis=0))
        out.append(logsumexp(np.stack(parts), axis=0) - np.log(k))
    return np.concatenate(out)


def kl_per_example(vae, x, batch_size: int = 512) -> np.ndarray:
    """``KL(q(z|x) || N(0, I))`` of each image in nats: the rate of its code (divide by ln 2 for bits)."""
    check_unconditional("vae", vae)
    z_mean, z_log_var = vae.encode(x, batch_size)
    return _kl(z_mean, z_log_var)


def elbo_and_iwae_per_example(vae, x, k: int = 8, batch_size: int = 100, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The ELBO and ``IWAE_k`` of each image in nats, from the *same* k samples of z (half the cost of both).

    The ELBO is ``mean_i log p(x|z_i)`` minus the analytic KL, as in :func:`elbo_per_example` with
    ``n_samples=k``; the IWAE bound is :func:`iwae_per_example`'s. Arguments as in those two.
    """
    x = _check(vae, x, k, batch_size, seed)
    rng = np.random.default_rng(seed)
    elbo, iwae = [], []
    for rows, sample_chunks in _chunks(len(x), k, batch_size):
        total, parts = 0.0, []
        for k_chunk in sample_chunks:
            log_px_z, log_w, (z_mean, z_log_var) = _log_weights(vae, x[rows], k_chunk, rng)
            total = total + log_px_z.sum(0)
            parts.append(logsumexp(log_w, axis=0))
        elbo.append(total / k - _kl(z_mean, z_log_var))
        iwae.append(logsumexp(np.stack(parts), axis=0) - np.log(k))
    return np.concatenate(elbo), np.concatenate(iwae)
