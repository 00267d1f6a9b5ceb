"""A real file for a VAE's *lossy* code: quantize ``z`` and entropy-code it under the prior.

The KL term of a VAE is often called its rate, but it is the cost of an idealised code (bits-back
or relative-entropy coding of a sample of ``q(z | x)``). This module writes an actual file instead
(notebook 07, section 2), the way learned image codecs do (Ballé et al. 2017):

1. **quantize** each latent dimension ``j`` of the encoder mean on a grid of step ``Δ_j``:
   ``i_j = round(z_mean_j / Δ_j)``;
2. **code** each integer with the prior's mass on its cell,
   ``P(i) = Φ((i + ½) Δ) - Φ((i - ½) Δ)`` for ``p(z) = N(0, 1)``, with an ANS coder
   (``constriction``'s ``QuantizedGaussian`` over the symbols ``-max_index .. max_index``);
3. **decode** ``z_j = i_j Δ_j`` and run the decoder.

A dimension the model does not use (``q(z_j | x) ≈ p(z_j)``) gets a wide step (``sqrt(12)``) and costs
little: index 0 then has the mass ``Φ(√3) - Φ(-√3) ≈ 0.917``, about 0.13 bits. :func:`latent_steps`
sets ``Δ_j = scale * sqrt(12) * s_j``, where ``s_j`` is the dimension's
typical posterior standard deviation: the rounding error, uniform on a cell, then has the variance
``Δ_j² / 12 = scale² s_j²`` of the noise the decoder was trained with. The file holds only the ANS
words (32 bits each); the model and the steps are the codec's, shared by sender and receiver like a
JPEG decoder's tables (but JPEG stores its tables in every file).
"""

from __future__ import annotations

import numpy as np
from scipy.stats import norm

from ..core.checks import check_int, check_number

__all__ = ["MAX_INDEX", "code_bits", "compress_codes", "decompress_codes", "dequantize", "file_bits", "latent_steps",
           "quantize", "stream_round_trip"]

MAX_INDEX = 1023   # symbols -MAX_INDEX..MAX_INDEX; codes beyond them are clipped (a mean of 1023 steps is far out)
WORD_BITS = 32     # constriction's ANS coder writes 32-bit words


def _check_steps(steps, dim: int | None = None) -> np.ndarray:
    steps = np.asarray(steps, dtype="float64")
    if steps.ndim != 1 or len(steps) == 0 or not np.all(np.isfinite(steps)) or np.any(steps <= 0) \
            or (dim is not None and len(steps) != dim):
        raise ValueError(f"`steps` must be one positive finite step per latent dimension"
                         f"{'' if dim is None else f' ({dim})'}. Received: steps with shape {steps.shape}, "
                         f"values in [{steps.min() if steps.size else None}, {steps.max() if steps.size else None}]")
    return steps


def _check_indices(indices, dim: int) -> np.ndarray:
    indices = np.asarray(indices)
    if indices.ndim != 2 or indices.shape[1] != dim or not np.issubdtype(indices.dtype, np.integer) \
            or (indices.size and np.abs(indices).max() > MAX_INDEX):
        raise ValueError(f"`indices` must be integers of shape (n, {dim}) within ±{MAX_INDEX} (from quantize). "
                         f"Received: shape {indices.shape}, dtype {indices.dtype}")
    return indices.astype(np.int32)


def latent_steps(z_log_var, scale: float = 1.0) -> np.ndarray:
    """Steps ``Δ_j = scale * sqrt(12) * s_j``, with ``s_j`` the median posterior std of dimension ``j`` over ``z_log_var``."""
    z_log_var = np.asarray(z_log_var, dtype="float64")
    if z_log_var.ndim != 2 or len(z_log_var) == 0 or not np.all(np.isfinite(z_log_var)):
        raise ValueError(f"`z_log_var` must be a finite array (n, latent_dim) from the encoder. Received: shape {z_log_var.shape}")
    scale = check_number("scale", scale, strict=True)
    with np.errstate(over="ignore"):   # an overflow is reported below, by name
        steps = scale * np.sqrt(12.0) * np.median(np.exp(0.5 * z_log_var), axis=0)
    if not np.all(np.isfinite(steps) & (steps > 0)):
        raise ValueError("`z_log_var` must give each dimension a positive finite posterior std: its median log-variance "
                         f"is {np.median(z_log_var, axis=0).min():g} to {np.median(z_log_var, axis=0).max():g}, "
                         "so exp(z_log_var / 2) is 0 or infinite in float64")
    return steps


def quantize(z, steps) -> np.ndarray:
    """``round(z / steps)`` per dimension, clipped to ±:data:`MAX_INDEX` (int32, shape of ``z``)."""
    z = np.asarray(z, dtype="float64")
    steps = _check_steps(steps, z.shape[-1] if z.ndim == 2 else None)
    if z.ndim != 2 or not np.all(np.isfinite(z)):
        raise ValueError(f"`z` must be finite codes (n, {len(steps)}). Received: shape {z.shape}")
    return np.clip(np.rint(z / steps), -MAX_INDEX, MAX_INDEX).astype(np.int32)


def dequantize(indices, steps) -> np.ndarray:
    """The decoded codes ``indices * steps`` (float32)."""
    steps = _check_steps(steps)
    return (_check_indices(indices, len(steps)) * steps).astype("float32")


def code_bits(indices, steps) -> np.ndarray:
    """``-log2 P(i)`` of each image's code under the quantized N(0, 1) prior: the ideal size in bits (float64, (n,))."""
    steps = _check_steps(steps)
    i = _check_indices(indices, len(steps)).astype("float64")
    upper, lower = (i + 0.5) * steps, (i - 0.5) * steps
    # P = Phi(upper) - Phi(lower), computed on the side of the mean where it does not cancel
    mass = np.where(lower > 0, norm.sf(lower) - norm.sf(upper), norm.cdf(upper) - norm.cdf(lower))
    return -np.log2(np.maximum(mass, 1e-300)).sum(axis=1)


def _model_and_stds(steps: np.ndarray, n: int):
    import constriction

    model = constriction.stream.model.QuantizedGaussian(-MAX_INDEX, MAX_INDEX)
    stds = np.tile(1.0 / steps, n)          # in units of the step: z / Δ ~ N(0, 1 / Δ²) under the prior
    return model, np.zeros_like(stds), stds


def compress_codes(indices, steps) -> np.ndarray:
    """One ANS stream holding every image's ``indices`` (uint32 words): the whole file."""
    import constriction

    steps = _check_steps(steps)
    indices = _check_indices(indices, len(steps))
    model, means, stds = _model_and_stds(steps, len(indices))
    coder = constriction.stream.stack.AnsCoder()
    coder.encode_reverse(indices.ravel(), model, means, stds)
    return coder.get_compressed()


def decompress_codes(words, steps, n: int) -> np.ndarray:
    """The ``(n, latent_dim)`` indices stored by :func:`compress_codes` in ``words``."""
    import constriction

    steps = _check_steps(steps)
    n = check_int("n", n, 1)
    words = np.asarray(words)
    if words.ndim != 1 or words.dtype != np.uint32:
        raise ValueError(f"`words` must be the uint32 array from compress_codes. Received: shape {words.shape}, dtype {words.dtype}")
    model, means, stds = _model_and_stds(steps, 1)
    coder = constriction.stream.stack.AnsCoder(words)
    rows = []
    for i in range(n):   # one image at a time: a stream that runs dry is a wrong n, not codes made up from nothing
        if coder.is_empty():
            raise ValueError(f"`n` must be the number of codes in `words`: they hold {i} codes of {len(steps)} dimensions, "
                             f"received n={n:,}")
        rows.append(coder.decode(model, means, stds))
    if not coder.is_empty():
        raise ValueError(f"`words` holds more than {n} codes of {len(steps)} dimensions: wrong `n` or `steps`")
    return np.stack(rows)


def file_bits(indices, steps) -> np.ndarray:
    """Size in bits of each image's code written alone as a file (whole 32-bit ANS words)."""
    steps = _check_steps(steps)
    indices = _check_indices(indices, len(steps))
    return np.array([WORD_BITS * len(compress_codes(row[None], steps)) for row in indices], dtype="int64")


def stream_round_trip(z, steps) -> tuple[np.ndarray, float]:
    """Send codes ``z`` as one stream and decode it: what the receiver gets, and the bits per code.

    Quantizes ``z`` with ``steps``, writes every code in one ANS stream (:func:`compress_codes`), reads it
    back and checks that it holds the same integers, then dequantizes. Returns ``(decoded codes,
    stream size in bits / number of codes)``.
    """
    index = quantize(z, steps)
    words = compress_codes(index, steps)
    if not np.array_equal(decompress_codes(words, steps, len(index)), index):   # the file really decodes
        raise RuntimeError("the ANS stream did not decode to the codes it was written from")
    return dequantize(index, steps), WORD_BITS * len(words) / len(index)
