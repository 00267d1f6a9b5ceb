"""Lossless compression of images with a VAE: bits-back coding with ANS (BB-ANS).

Townsend, Bird & Barber (2019), "Practical lossless compression with latent variables using bits
back coding", turn a VAE's negative ELBO into the length of a real file. The coder is a stack
(asymmetric numeral systems, here ``constriction``'s ``AnsCoder``), and each image ``x`` is added in
three steps:

1. **pop** a latent ``z`` from the stack with the posterior ``q(z | x)``: this *reads* about
   ``-log2 q(z | x)`` bits that earlier images left there (the bits that come "back");
2. **push** ``x`` with the decoder's ``p(x | z)`` (``-log2 p(x | z)`` bits);
3. **push** ``z`` with the prior ``p(z)`` (``-log2 p(z)`` bits).

Net, the stack grows by ``-log2 p(x | z) - log2 p(z) + log2 q(z | x)`` bits, the negative ELBO of one
sample. Decompression runs the steps backwards: pop ``z`` with the prior, pop ``x`` with the
decoder, push ``z`` back with the posterior, which restores the bits the first image read. The very
first pop needs bits that no image left: the file starts with ``INITIAL_WORDS`` seeded random
32-bit words, a one-off cost of ``32 * INITIAL_WORDS`` bits per file.

Two kinds of images are coded: binary images with a Bernoulli decoder (every VAE of the course), and
8-bit images with the discretized-logistic decoder of :mod:`vae_helpers.models.discrete` (256 levels per
pixel, each with its probability mass).

``z`` is discretized as in BB-ANS: each dimension is cut into ``2**LATENT_BITS`` buckets of equal
prior mass, so ``p(z)`` costs exactly ``LATENT_BITS`` bits per dimension, and ``q(z | x)`` gives each
bucket the posterior mass between its edges. A decoded ``z`` is the bucket's prior median.

The file holds a header (format, the model's fingerprint, image count and shape) and a digest of the
images, so a truncated file, a foreign file or a different model raises :class:`CompressionError`
instead of decoding a wrong image. Encoder and decoder run one image at a time in both directions,
so that compression and decompression compute bit-identical probabilities on the same machine.
"""

from __future__ import annotations

import hashlib
import struct
import weakref

import numpy as np
from scipy.special import expit
from scipy.stats import norm

from ..core.checks import check_images, check_seed
from ..models.densities import discretized_logistic_probabilities
from ..models.discrete import to_levels
from ..core.tf_startup import keras, tf

__all__ = ["CODED_LIKELIHOODS", "CompressionError", "HEADER_BYTES", "INITIAL_WORDS", "LATENT_BITS", "code_lengths", "compress", "decompress",
           "lossless_baselines", "model_fingerprint", "net_bits"]

MAGIC = b"VAEBB\x01"        # format name and version
LATENT_BITS = 10            # each latent dimension is cut into 2**LATENT_BITS buckets of equal prior mass
INITIAL_WORDS = 32          # seeded random 32-bit words the first pop reads from
_HEADER = struct.Struct("<6s16sIHHH32sII")  # magic, model key, n, height, width, channels, image digest, seed, words
HEADER_BYTES = _HEADER.size                  # the fixed part of every file


class CompressionError(ValueError):
    """A file that is not a complete BB-ANS file of this model, or images the model cannot code."""


def model_fingerprint(vae: keras.Model) -> bytes:
    """16 bytes of the SHA-256 of the model's weights: the file header's model key."""
    digest = hashlib.sha256()
    for w in vae.get_weights():
        digest.update(np.ascontiguousarray(w, dtype="<f4").tobytes())
    return digest.digest()[:16]


def _coder_modules():
    import constriction

    return constriction.stream.stack, constriction.stream.model


def _bucket_edges() -> tuple[np.ndarray, np.ndarray]:
    """Edges (2**LATENT_BITS + 1, with -inf and inf) and medians of equal-prior-mass buckets of N(0, 1)."""
    n = 2 ** LATENT_BITS
    edges = norm.ppf(np.arange(n + 1) / n)
    return edges, norm.ppf((np.arange(n) + 0.5) / n)


def _posterior_buckets(z_mean: np.ndarray, z_log_var: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """``q(bucket | x)`` for every latent dimension: shape ``(d, 2**LATENT_BITS)``, rows summing to 1."""
    sigma = np.exp(0.5 * z_log_var.astype("float64"))
    cdf = norm.cdf((edges[None, :] - z_mean.astype("float64")[:, None]) / sigma[:, None])
    return np.maximum(np.diff(cdf, axis=1), 0.0)


def _initial_words(seed: int) -> np.ndarray:
    """The seeded random words a file starts from (the first image's pop reads them)."""
    return np.random.default_rng(seed).integers(1, 2**32, INITIAL_WORDS, dtype=np.uint64).astype(np.uint32)


CODED_LIKELIHOODS = ("bernoulli", "discretized_logistic")  # pixels 0/1, or 256 levels per pixel


def _is_8bit(vae) -> bool:
    """Whether the model's decoder is a distribution over 256 levels per pixel (else Bernoulli over 0/1)."""
    likelihood = getattr(vae, "likelihood", None)
    if likelihood not in CODED_LIKELIHOODS:
        raise CompressionError(f"`vae` must be a model whose likelihood is one of {', '.join(CODED_LIKELIHOODS)} "
                               f"(a discrete distribution of pixels). Received: a model with likelihood={likelihood!r}")
    return likelihood == "discretized_logistic"


def _symbols(vae, images) -> np.ndarray:
    """The integer pixel symbols to code: 0/1 for a Bernoulli decoder, the level 0..255 for a discrete one."""
    x = np.asarray(images)
    if x.ndim != 4 or len(x) == 0:
        raise CompressionError(f"`images` must be a non-empty batch (n, height, width, channels). Received: shape {x.shape}")
    if _is_8bit(vae):
        try:
            return to_levels(x)
        except ValueError as error:
            raise CompressionError(f"`images` must be 8-bit for a discrete decoder: {error}") from None
    if not np.all((x == 0) | (x == 1)):
        raise CompressionError("`images` must be binary (every pixel 0 or 1) for a Bernoulli decoder; "
                               f"received values in [{x.min():g}, {x.max():g}] with non-binary pixels")
    return x.astype(np.int32)


def _images(vae, symbols: np.ndarray) -> np.ndarray:
    return (symbols / 255.0 if _is_8bit(vae) else symbols).astype("float32")


class _Networks:
    """The encoder and decoder as graphs for one image at a time: the same numbers in both directions, ~10x faster than eager calls."""

    def __init__(self, vae: keras.Model):
        encoder, decoder = vae.encoder, vae.decoder   # not the model itself: the cache below holds it weakly
        shape, d = tuple(encoder.input_shape[1:]), int(decoder.input_shape[-1])
        self.encoder = tf.function(lambda x: encoder(x, training=False),
                                   input_signature=[tf.TensorSpec((1, *shape), tf.float32)])
        self.decoder = tf.function(lambda z: decoder(z, training=False), input_signature=[tf.TensorSpec((1, d), tf.float32)])


_TRACED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _networks(vae: keras.Model) -> _Networks:
    """The model's traced pair, made once: repeated calls reuse it instead of tracing again (and warning about it)."""
    nets = _TRACED.get(vae)
    if nets is None:
        nets = _TRACED[vae] = _Networks(vae)
    return nets


def _pixel_model(vae, nets: _Networks, model, z: np.ndarray):
    """The entropy model family of the pixels given ``z``, and its parameters (one row per pixel)."""
    out = np.asarray(nets.decoder(z[None].astype("float32")), dtype="float64")
    if _is_8bit(vae):
        return model.Categorical(perfect=False), discretized_logistic_probabilities(out)[0].astype("float32")
    return model.Bernoulli(perfect=False), expit(out.reshape(-1))


def _encode_posterior(nets: _Networks, x: np.ndarray, edges: np.ndarray) -> np.ndarray:
    z_mean, z_log_var = nets.encoder(x[None])
    return _posterior_buckets(np.asarray(z_mean)[0], np.asarray(z_log_var)[0], edges)


def compress(vae: keras.Model, images, seed: int = 0) -> bytes:
    """Code ``images`` ``(n, h, w, c)`` into bytes with bits-back ANS (see the module docstring).

    ``vae`` needs ``encoder(x) -> [z_mean, z_log_var]`` and a decoder of logits (Bernoulli: binary
    images) or a :class:`~vae_helpers.models.discrete.DiscreteVAE` (8-bit images scaled to [0, 1]);
    ``seed`` draws the initial words.
    """
    seed = check_seed("seed", seed)
    stack, model = _coder_modules()
    symbols = _symbols(vae, images)
    x = _images(vae, symbols)
    edges, medians = _bucket_edges()
    coder = stack.AnsCoder(_initial_words(seed))
    posterior, prior = model.Categorical(perfect=False), model.Uniform(2 ** LATENT_BITS)
    nets = _networks(vae)
    for image, pixels in zip(x, symbols):
        z_index = coder.decode(posterior, _encode_posterior(nets, image, edges).astype("float32"))  # 1. bits back
        coder.encode_reverse(pixels.reshape(-1), *_pixel_model(vae, nets, model, medians[z_index]))  # 2. x with p(x|z)
        coder.encode_reverse(z_index.astype(np.int32), prior)                                       # 3. z with p(z)
    words = coder.get_compressed().astype("<u4")
    header = _HEADER.pack(MAGIC, model_fingerprint(vae), len(x), *x.shape[1:],
                          hashlib.sha256(symbols.astype(np.uint8).tobytes()).digest(), seed, len(words))
    return header + words.tobytes()


def decompress(vae: keras.Model, data: bytes) -> np.ndarray:
    """The images :func:`compress` coded into ``data``, float32 ``(n, h, w, c)``: {0, 1}, or levels / 255."""
    stack, model = _coder_modules()
    data = bytes(data)
    if len(data) < _HEADER.size or not data.startswith(MAGIC):
        raise CompressionError(f"`data` is not a BB-ANS file of vae_helpers.applications.compression: it does not start with {MAGIC!r}")
    _, key, n, height, width, channels, digest, seed, n_words = _HEADER.unpack_from(data)
    if key != model_fingerprint(vae):
        raise CompressionError(f"`data` was written with another model (key {key.hex()}), not this one "
                               f"({model_fingerprint(vae).hex()}); decompress it with the model that compressed it")
    if len(data) != _HEADER.size + 4 * n_words:
        raise CompressionError(f"`data` is truncated or has extra bytes: its header announces {_HEADER.size + 4 * n_words:,} "
                               f"bytes, received {len(data):,}")
    coder = stack.AnsCoder(np.frombuffer(data, dtype="<u4", offset=_HEADER.size).astype(np.uint32))
    edges, medians = _bucket_edges()
    d = int(vae.decoder.input_shape[-1])
    posterior, prior = model.Categorical(perfect=False), model.Uniform(2 ** LATENT_BITS)
    symbols = np.empty((n, height, width, channels), dtype=np.int32)
    nets = _networks(vae)
    try:
        for i in reversed(range(n)):
            z_index = coder.decode(prior, d)
            symbols[i] = coder.decode(*_pixel_model(vae, nets, model, medians[z_index])).reshape(symbols.shape[1:])
            image = _images(vae, symbols[i])
            coder.encode_reverse(z_index.astype(np.int32), posterior, _encode_posterior(nets, image, edges).astype("float32"))
    except (ValueError, RuntimeError, AssertionError) as error:   # constriction refuses an impossible stack
        raise CompressionError(f"`data` is corrupted: decoding failed ({error})") from error
    if not np.array_equal(coder.get_compressed(), _initial_words(seed)) or \
            hashlib.sha256(symbols.astype(np.uint8).tobytes()).digest() != digest:
        raise CompressionError("`data` is corrupted: the decoded images do not match the digest stored with them")
    return _images(vae, symbols)


def net_bits(data: bytes) -> int:
    """The bits of a :func:`compress` file that its images added: all of it less the header and the initial words."""
    if not isinstance(data, (bytes, bytearray)) or len(data) < HEADER_BYTES + 4 * INITIAL_WORDS:
        raise CompressionError(f"`data` must be a file written by compress, at least {HEADER_BYTES + 4 * INITIAL_WORDS} bytes. "
                               f"Received: {type(data).__name__} of {len(data) if hasattr(data, '__len__') else '?'} bytes")
    return 8 * (len(data) - HEADER_BYTES) - 32 * INITIAL_WORDS


def code_lengths(vae: keras.Model, image, z_index: np.ndarray | None = None) -> dict[str, float]:
    """The three steps' bits for one image: ``read`` (-log2 q(z|x)), ``pixels`` (-log2 p(x|z)), ``prior`` (-log2 p(z)).

    ``z_index`` picks the latent buckets (default: each dimension's most probable bucket under q). The
    stack grows by ``pixels + prior - read`` bits: the image's one-sample negative ELBO in bits.
    """
    _, model = _coder_modules()
    symbols = _symbols(vae, np.asarray(image)[None])[0]
    nets, (edges, medians) = _networks(vae), _bucket_edges()
    q = _encode_posterior(nets, _images(vae, symbols), edges)
    if z_index is None:
        z_index = q.argmax(axis=1)
    else:
        z_index = np.asarray(z_index)
        if z_index.shape != (len(q),) or not np.issubdtype(z_index.dtype, np.integer) \
                or z_index.min() < 0 or z_index.max() >= q.shape[1]:
            raise ValueError(f"`z_index` must be one bucket index in [0, {q.shape[1] - 1}] per latent dimension ({len(q)}). "
                             f"Received: z_index with shape {z_index.shape}, dtype {z_index.dtype}")
    family, params = _pixel_model(vae, nets, model, medians[z_index])
    flat = symbols.reshape(-1)
    p = params[np.arange(len(flat)), flat] if params.ndim == 2 else np.where(flat == 1, params, 1.0 - params)
    return {"read": float(-np.log2(q[np.arange(len(z_index)), z_index]).sum()),
            "pixels": float(-np.log2(np.asarray(p, dtype="float64")).sum()), "prior": float(LATENT_BITS * len(z_index))}


def lossless_baselines(images, binary: bool = False) -> dict[str, float]:
    """Bits per image of the usual lossless codecs on ``images`` (n, h, w, 1) in [0, 1]: 8-bit levels, or {0, 1}.

    PNG and WebP code each image on its own (Pillow; PNG ``optimize=True``, 1-bit PNG for binary
    images; WebP lossless at its slowest, smallest setting); gzip, bz2 and lzma code the whole set's
    raw bytes at once (one byte per pixel, or eight binary pixels per byte) at their highest levels,
    so they can use what images share. Every size is the whole output, headers included.
    """
    import bz2
    import gzip
    import io
    import lzma

    from PIL import Image

    x = check_images("images", images, greyscale=True)
    if binary and not np.all((x == 0) | (x == 1)):
        raise ValueError("`images` must be binary (every pixel 0 or 1) with binary=True; these hold grey levels. "
                         f"Received: images with {int(np.sum((x != 0) & (x != 1))):,} pixels strictly between 0 and 1")
    levels = x[..., 0].astype(np.uint8) if binary else to_levels(x)[..., 0].astype(np.uint8)

    def per_image(save) -> float:
        sizes = []
        for image in levels:
            buffer = io.BytesIO()
            save(image, buffer)
            sizes.append(8 * buffer.tell())
        return float(np.mean(sizes))

    png = (lambda a, f: Image.fromarray(a.astype(bool)).save(f, format="PNG", optimize=True)) if binary else \
        (lambda a, f: Image.fromarray(a, mode="L").save(f, format="PNG", optimize=True))
    webp = lambda a, f: Image.fromarray(a * 255 if binary else a, mode="L").save(f, format="WEBP", lossless=True,  # noqa: E731
                                                                                   quality=100, method=6)
    raw = np.packbits(levels, axis=None).tobytes() if binary else levels.tobytes()
    n = len(levels)
    return {"PNG": per_image(png), "WebP (lossless)": per_image(webp),
            "gzip -9": 8 * len(gzip.compress(raw, compresslevel=9, mtime=0)) / n,
            "bz2 -9": 8 * len(bz2.compress(raw, compresslevel=9)) / n,
            "lzma -9e": 8 * len(lzma.compress(raw, preset=9 | lzma.PRESET_EXTREME)) / n}
