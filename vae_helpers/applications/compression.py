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

The coder and the decoder must compute bit-identical probabilities, in any process: the networks are
evaluated in exact arithmetic (:mod:`vae_helpers.applications.exact_networks`), so the thread count,
oneDNN and the instruction set do not change a single bit, and the rest (the posterior's buckets, the
pixel probabilities) is computed one image at a time in numpy and scipy.

The file holds a header (format, the model's fingerprint, image count and shape, a digest of the images,
a checksum of the file, and a digest of how this machine computes the coder's probabilities), so a
truncated, damaged or foreign file, a different model or a machine that computes differently raises
:class:`CompressionError` that says which, instead of decoding a wrong image. The header is checked
against the model and the payload before anything is allocated, and every image must add at least one
bit to the file, so a file that claims more images than its bytes can hold is refused at once.
"""

from __future__ import annotations

import hashlib
import struct
import weakref

import numpy as np
from scipy.special import expit
from scipy.stats import norm

from ..core.checks import check_images, check_seed
from ..core.tf_startup import filtered_stderr_fd, keras, tf
from ..models.densities import discretized_logistic_probabilities
from ..models.discrete import to_levels
from .exact_networks import exact_network

__all__ = ["CODED_LIKELIHOODS", "CompressionError", "HEADER_BYTES", "INITIAL_WORDS", "LATENT_BITS", "code_lengths", "compress", "decompress",
           "lossless_baselines", "model_fingerprint", "net_bits"]

FORMAT_NAME, FORMAT_VERSION = b"VAEBB", 2
MAGIC = FORMAT_NAME + bytes([FORMAT_VERSION])
LATENT_BITS = 10            # each latent dimension is cut into 2**LATENT_BITS buckets of equal prior mass
INITIAL_WORDS = 32          # seeded random 32-bit words the first pop reads from
# magic, model key, n, height, width, channels, image digest, seed, words, numerics digest, checksum of all before it + payload
_HEADER = struct.Struct("<6s16sIHHH32sII8s8s")
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


def _numerics_digest() -> bytes:
    """8 bytes that change if this machine's numpy and scipy compute the coder's probabilities differently.

    The probabilities of fixed network outputs (posterior buckets, Bernoulli and discretized-logistic
    pixels), as the float32 numbers the coder receives: a file records the digest of the process
    that wrote it, so a reader whose maths differs is told so instead of decoding wrong images.
    """
    edges, _ = _bucket_edges()
    grid = np.linspace(-6.0, 6.0, 97)
    parts = [_posterior_buckets(grid, np.linspace(-9.0, 2.0, 97), edges), expit(grid),
             discretized_logistic_probabilities(np.stack([grid / 6.0, np.linspace(-7.0, 1.0, 97)], axis=-1)[None])]
    return hashlib.sha256(b"".join(np.asarray(p, dtype="<f4").tobytes() for p in parts)).digest()[:8]


CODED_LIKELIHOODS = ("bernoulli", "discretized_logistic")  # pixels 0/1, or 256 levels per pixel


def _is_8bit(vae) -> bool:
    """Whether the model's decoder is a distribution over 256 levels per pixel (else Bernoulli over 0/1)."""
    likelihood = getattr(vae, "likelihood", None)
    if likelihood not in CODED_LIKELIHOODS:
        raise CompressionError(f"`vae` must be a model whose likelihood is one of {', '.join(CODED_LIKELIHOODS)} "
                               f"(a discrete distribution of pixels). Received: a model with likelihood={likelihood!r}")
    return likelihood == "discretized_logistic"


def _check_vae(vae) -> tuple[tuple[int, int, int], int]:
    """The image shape and latent size of a VAE the coder can use, or :class:`CompressionError` saying why not."""
    _is_8bit(vae)
    encoder, decoder = getattr(vae, "encoder", None), getattr(vae, "decoder", None)
    if not isinstance(encoder, keras.Model) or not isinstance(decoder, keras.Model):
        raise CompressionError(f"`vae` must have Keras networks `encoder` and `decoder`. Received: a {type(vae).__name__}")
    inputs, outputs = encoder.inputs, encoder.outputs
    if len(inputs) != 1 or len(inputs[0].shape) != 4 or len(decoder.inputs) != 1 or len(decoder.inputs[0].shape) != 2:
        raise CompressionError(f"`vae` must be an unconditional VAE: an encoder of images (n, h, w, c) alone and a decoder of "
                               f"z alone. Received: a {type(vae).__name__} whose encoder takes {len(inputs)} input(s) and "
                               f"decoder {len(decoder.inputs)}")
    if len(outputs) != 2:
        raise CompressionError(f"`vae` must have an encoder that returns [z_mean, z_log_var] (a posterior to code with). "
                               f"Received: a {type(vae).__name__} whose encoder returns {len(outputs)} output(s)")
    return tuple(int(n) for n in inputs[0].shape[1:]), int(decoder.inputs[0].shape[-1])


def _symbols(vae, images, image_shape: tuple[int, int, int]) -> np.ndarray:
    """The integer pixel symbols to code: 0/1 for a Bernoulli decoder, the level 0..255 for a discrete one."""
    try:
        x = check_images("images", images, image_shape)
    except ValueError as error:
        raise CompressionError(str(error)) from None
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
    """The encoder and decoder, evaluated exactly, as graphs for one image at a time (~10x faster than eager calls)."""

    def __init__(self, vae: keras.Model):
        shape, d = _check_vae(vae)
        try:
            encoder, decoder = exact_network(vae.encoder), exact_network(vae.decoder)
        except ValueError as error:
            raise CompressionError(f"`vae` cannot be evaluated exactly, so its files would not decode in another process: "
                                   f"{error}") from None
        self.encoder = tf.function(lambda x: encoder(x, training=False), input_signature=[tf.TensorSpec((1, *shape), tf.float32)])
        self.decoder = tf.function(lambda z: decoder(z, training=False), input_signature=[tf.TensorSpec((1, d), tf.float32)])
        with filtered_stderr_fd():    # tracing float64 graphs logs a harmless line per fused op
            self.encoder(tf.zeros((1, *shape)))
            self.decoder(tf.zeros((1, d)))


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
    image_shape, _ = _check_vae(vae)
    symbols = _symbols(vae, images, image_shape)
    x = _images(vae, symbols)
    edges, medians = _bucket_edges()
    coder = stack.AnsCoder(_initial_words(seed))
    posterior, prior = model.Categorical(perfect=False), model.Uniform(2 ** LATENT_BITS)
    nets = _networks(vae)
    size = coder.num_valid_bits()
    for i, (image, pixels) in enumerate(zip(x, symbols)):
        z_index = coder.decode(posterior, _encode_posterior(nets, image, edges).astype("float32"))  # 1. bits back
        coder.encode_reverse(pixels.reshape(-1), *_pixel_model(vae, nets, model, medians[z_index]))  # 2. x with p(x|z)
        coder.encode_reverse(z_index.astype(np.int32), prior)                                       # 3. z with p(z)
        if coder.num_valid_bits() <= size:   # the format's promise that lets decompress bound a file's image count
            raise CompressionError(f"`images`[{i}] adds no bits to the stack (it read more bits back than it wrote): "
                                   "this model cannot code it in this format")
        size = coder.num_valid_bits()
    words = coder.get_compressed().astype("<u4").tobytes()
    header = _HEADER.pack(MAGIC, model_fingerprint(vae), len(x), *x.shape[1:],
                          hashlib.sha256(symbols.astype(np.uint8).tobytes()).digest(), seed, len(words) // 4,
                          _numerics_digest(), b"")
    return header[:-8] + _checksum(header[:-8], words) + words


def _checksum(header: bytes, words: bytes) -> bytes:
    return hashlib.sha256(header + words).digest()[:8]


def _read_header(data) -> tuple:
    """The header fields of a file, after the checks that need no model: format, length, checksum."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise CompressionError(f"`data` must be the bytes compress returned. Received: {type(data).__name__}")
    data = bytes(data)
    if not data.startswith(FORMAT_NAME):
        raise CompressionError(f"`data` is not a BB-ANS file of vae_helpers.applications.compression: it does not start with "
                               f"{FORMAT_NAME!r}")
    if len(data) > len(FORMAT_NAME) and data[len(FORMAT_NAME)] != FORMAT_VERSION:
        raise CompressionError(f"`data` is a file of format version {data[len(FORMAT_NAME)]}; this version of "
                               f"vae_helpers reads version {FORMAT_VERSION}: compress the images again")
    if len(data) < HEADER_BYTES:
        raise CompressionError(f"`data` is truncated: {len(data)} bytes, shorter than the {HEADER_BYTES}-byte header")
    fields = _HEADER.unpack_from(data)
    n_words = fields[8]
    if len(data) != HEADER_BYTES + 4 * n_words:
        raise CompressionError(f"`data` is truncated or has extra bytes: its header announces {HEADER_BYTES + 4 * n_words:,} "
                               f"bytes, received {len(data):,}")
    if _checksum(data[:HEADER_BYTES - 8], data[HEADER_BYTES:]) != fields[-1]:
        raise CompressionError("`data` is corrupted: its bytes changed since it was written (the checksum does not match)")
    return fields, data[HEADER_BYTES:]


def decompress(vae: keras.Model, data: bytes) -> np.ndarray:
    """The images :func:`compress` coded into ``data``, float32 ``(n, h, w, c)``: {0, 1}, or levels / 255."""
    stack, model = _coder_modules()
    (_, key, n, height, width, channels, digest, seed, n_words, numerics, _), payload = _read_header(data)
    image_shape, d = _check_vae(vae)
    if key != model_fingerprint(vae):
        raise CompressionError(f"`data` was written with another model (key {key.hex()}), not this one "
                               f"({model_fingerprint(vae).hex()}); decompress it with the model that compressed it")
    if (height, width, channels) != image_shape:
        raise CompressionError(f"`data` holds images of shape {(height, width, channels)}, but `vae` codes {image_shape}")
    if numerics != _numerics_digest():
        raise CompressionError("`data` was written by a process whose numpy and scipy compute the coder's probabilities "
                               f"differently from this one (digest {numerics.hex()}, here {_numerics_digest().hex()}): "
                               "decompress it with the numpy and scipy versions, on the kind of CPU, that wrote it")
    coder = stack.AnsCoder(np.frombuffer(payload, dtype="<u4").astype(np.uint32))
    room = coder.num_valid_bits() - stack.AnsCoder(_initial_words(seed)).num_valid_bits()
    if n < 1 or n > room:
        raise CompressionError(f"`data` claims {n:,} images, but its payload can hold at most {max(room, 0):,} "
                               "(each image adds at least one bit): a damaged or forged header")
    edges, medians = _bucket_edges()
    posterior, prior = model.Categorical(perfect=False), model.Uniform(2 ** LATENT_BITS)
    nets = _networks(vae)
    decoded = []
    size = coder.num_valid_bits()
    try:
        for i in reversed(range(n)):
            z_index = coder.decode(prior, d)
            pixels = coder.decode(*_pixel_model(vae, nets, model, medians[z_index])).reshape(image_shape)
            coder.encode_reverse(z_index.astype(np.int32), posterior,
                                 _encode_posterior(nets, _images(vae, pixels), edges).astype("float32"))
            if coder.num_valid_bits() >= size:
                raise ValueError(f"image {i} of {n} took no bits off the stack")
            size = coder.num_valid_bits()
            decoded.append(pixels)
    except (ValueError, RuntimeError, AssertionError) as error:   # constriction refuses an impossible stack
        raise CompressionError(f"`data` does not decode with this model although its bytes are intact: {error} "
                               "(a file forged with a valid checksum, or a model evaluated differently)") from error
    symbols = np.stack(decoded[::-1])
    if not np.array_equal(coder.get_compressed(), _initial_words(seed)) or \
            hashlib.sha256(symbols.astype(np.uint8).tobytes()).digest() != digest:
        raise CompressionError("`data` does not decode to the images it was written from, although its bytes are intact "
                               "(checksum) and this model wrote it: this process evaluates the model differently from "
                               "the one that wrote the file")
    return _images(vae, symbols)


def net_bits(data: bytes) -> int:
    """The bits of a :func:`compress` file that its images added: all of it less the header and the initial words."""
    if not isinstance(data, (bytes, bytearray)) or len(data) < HEADER_BYTES + 4 * INITIAL_WORDS:
        raise CompressionError(f"`data` must be a file written by compress, at least {HEADER_BYTES + 4 * INITIAL_WORDS} bytes. "
                               f"Received: {type(data).__name__} of {len(data) if hasattr(data, '__len__') else '?'} bytes")
    _read_header(data)
    return 8 * (len(data) - HEADER_BYTES) - 32 * INITIAL_WORDS


def code_lengths(vae: keras.Model, image, z_index: np.ndarray | None = None) -> dict[str, float]:
    """The three steps' bits for one image: ``read`` (-log2 q(z|x)), ``pixels`` (-log2 p(x|z)), ``prior`` (-log2 p(z)).

    ``z_index`` picks the latent buckets (default: each dimension's most probable bucket under q). The
    stack grows by ``pixels + prior - read`` bits: the image's one-sample negative ELBO in bits.
    """
    _, model = _coder_modules()
    image_shape, _ = _check_vae(vae)
    if np.shape(image) != image_shape:
        raise CompressionError(f"`image` must be one image of shape {image_shape} (no batch axis). "
                               f"Received: shape {np.shape(image)}")
    symbols = _symbols(vae, np.asarray(image)[None], image_shape)[0]
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
