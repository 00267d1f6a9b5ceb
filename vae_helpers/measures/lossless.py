"""The lossless baselines a VAE's file is measured against, on equal terms.

Three families, every size a whole output (headers included) and every encode timed:

- **image codecs** (Pillow): PNG, WebP lossless and JPEG XL lossless (``pillow-jxl-plugin``), each image
  its own file *and* mosaics of :data:`MOSAIC_IMAGES` images per file, so that a codec pays its headers
  once per mosaic and can use what neighbouring images share, as a file of the whole set does;
- **general-purpose coders** of the whole set's raw bytes (gzip, bz2, lzma, zstd), and zstd with a
  dictionary trained on the training images, the codec that has also seen the training set;
- **latent-free models fitted on the training images**, entropy coded with ``constriction``'s ANS:
  a per-position histogram (each pixel position's distribution of levels) and a causal-context model
  (the distribution of a pixel given its already-coded neighbours, quantized: JBIG's idea for bilevel
  images, CALIC's for grey levels), whose template is chosen on held-out training images.

Images are 8-bit levels (``(n, h, w, 1)`` in [0, 1], multiples of 1/255) or binary ({0, 1}); for binary
images the general-purpose coders get eight pixels per byte (BB-ANS's protocol), the image codecs a
1-bit PNG or a two-level greyscale image.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import time
from dataclasses import dataclass

import numpy as np

from ..core.checks import check_images, check_int, check_number
from .image_quality import require_codec

__all__ = ["BINARY_TEMPLATES", "CONTEXT_CANDIDATES", "ContextModel", "IMAGE_CODECS", "MOSAIC_IMAGES", "NEIGHBOURS",
           "choose_context_model", "codec_sizes", "context_code_bits", "context_compress", "context_decompress",
           "fit_context_model", "latent_free_sizes", "pixel_symbols"]

#: Images per mosaic file (25 rows of 40 images: 700 x 1,120 pixels for MNIST).
MOSAIC_IMAGES = 1000
_MOSAIC_COLUMNS = 40

#: Causal neighbours by name, as (rows up, columns right) offsets: W is the pixel to the left, N the one above.
NEIGHBOURS = {"W": (0, -1), "N": (-1, 0), "NW": (-1, -1), "NE": (-1, 1), "WW": (0, -2), "NN": (-2, 0),
              "NWW": (-1, -2), "NEE": (-1, 2), "NNW": (-2, -1), "NNE": (-2, 1), "WWW": (0, -3), "NNN": (-3, 0),
              "NWWW": (-1, -3), "NEEE": (-1, 3), "NNWW": (-2, -2), "NNEE": (-2, 2)}
#: Templates for bilevel images: JBIG's three-line template of 10 pixels, smaller ones, and a 16-pixel one as large as
#: JBIG2's generic template.
_JBIG = ("W", "WW", "NWW", "NW", "N", "NE", "NEE", "NNW", "NN", "NNE")
BINARY_TEMPLATES = {"4 pixels": ("W", "N", "NW", "NE"), "6 pixels": ("W", "WW", "N", "NW", "NE", "NN"),
                    "10 pixels (JBIG)": _JBIG, "16 pixels": _JBIG + ("WWW", "NNN", "NWWW", "NEEE", "NNWW", "NNEE")}
#: The causal-context models tried on held-out training images: (neighbours, bins per neighbour's level, the side of
#: the square blocks whose index is also part of the context: 1 for the pixel's own position, None for no position).
CONTEXT_CANDIDATES = {
    256: tuple((("W", "N"), b, None) for b in (16, 64, 256)) + tuple((("W", "N", "NW"), b, None) for b in (16, 32, 64))
    + tuple((("W", "N", "NW", "NE"), b, None) for b in (8, 16)),
    2: tuple((t, 2, None) for t in BINARY_TEMPLATES.values())
    + ((_JBIG, 2, 1), (_JBIG, 2, 4), (BINARY_TEMPLATES["16 pixels"], 2, 7), (BINARY_TEMPLATES["16 pixels"], 2, 4)),
}
_MAX_TABLE = 2 ** 26          # contexts x levels: the largest probability table a model may hold (512 MiB of float64)


def pixel_symbols(images, binary: bool, arg: str = "images") -> np.ndarray:
    """The integer levels ``(n, h, w)`` of greyscale images: 0/1 (``binary``), or 0..255 (8-bit, multiples of 1/255)."""
    x = check_images(arg, images, greyscale=True)[..., 0]
    if binary:
        if not np.all((x == 0) | (x == 1)):
            raise ValueError(f"`{arg}` must be binary (every pixel 0 or 1) with binary=True; these hold grey levels. "
                             f"Received: images with {int(np.sum((x != 0) & (x != 1))):,} pixels strictly between 0 and 1")
        return x.astype(np.uint8)
    levels = np.round(x * 255.0)
    if np.abs(levels / 255.0 - x).max() > 1e-4:
        raise ValueError(f"`{arg}` must be 8-bit (every pixel a multiple of 1/255) for a lossless codec. "
                         f"Received: a pixel {float(np.abs(levels / 255.0 - x).max()):.2g} away from the nearest level")
    return levels.astype(np.uint8)


def _mosaics(levels: np.ndarray) -> list[np.ndarray]:
    """The images in mosaics of MOSAIC_IMAGES (rows of _MOSAIC_COLUMNS images; a last, partial mosaic padded with 0)."""
    n, h, w = levels.shape
    out = []
    for start in range(0, n, MOSAIC_IMAGES):
        chunk = levels[start:start + MOSAIC_IMAGES]
        columns = min(_MOSAIC_COLUMNS, len(chunk))
        rows = -(-len(chunk) // columns)
        padded = np.zeros((rows * columns, h, w), np.uint8)
        padded[:len(chunk)] = chunk
        out.append(padded.reshape(rows, columns, h, w).transpose(0, 2, 1, 3).reshape(rows * h, columns * w))
    return out


def _image_file(image: np.ndarray, codec: str, binary: bool) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    if codec == "PNG":
        picture = Image.fromarray(image.astype(bool)) if binary else Image.fromarray(image, mode="L")
        picture.save(buffer, format="PNG", optimize=True)
    elif codec == "WebP":
        Image.fromarray(image * 255 if binary else image, mode="L").save(buffer, format="WEBP", lossless=True,
                                                                        quality=100, method=6)
    else:   # "JPEG XL e7" ... "JPEG XL e10": lossless at that effort
        Image.fromarray(image * 255 if binary else image, mode="L").save(buffer, format="JXL", lossless=True,
                                                                        effort=int(codec.rsplit("e", 1)[1]))
    return buffer.getvalue()


def _read_image(data: bytes, binary: bool) -> np.ndarray:
    from PIL import Image

    image = np.asarray(Image.open(io.BytesIO(data)).convert("L"))
    return (image > 127).astype(np.uint8) if binary else image


#: The image codecs of :func:`codec_sizes`, each image alone or in mosaics.
IMAGE_CODECS = ("PNG", "WebP", "JPEG XL e9", "JPEG XL e10")


def codec_sizes(x_test, x_train=None, binary: bool = False, per_image: tuple[str, ...] = ("PNG", "WebP", "JPEG XL e9"),
                mosaic: tuple[str, ...] = IMAGE_CODECS, general: bool = True) -> list[dict]:
    """Bits per image of every lossless codec on ``x_test``, each file decoded back and checked equal.

    Returns rows ``{"codec", "files", "bits per image", "encode s"}``: the image codecs ``per_image``
    (one file per image) and in ``mosaic`` (files of :data:`MOSAIC_IMAGES` images), gzip -9, bz2 -9,
    lzma -9e and zstd -22 of the whole set's bytes, and, given ``x_train`` (training images), zstd -22 with a
    dictionary of 110 KiB trained on them (the dictionary is not counted, as a VAE's weights are not),
    per image and on the whole set; ``general=False`` leaves out the general-purpose coders.
    """
    import zstandard

    for name, codecs in (("per_image", per_image), ("mosaic", mosaic)):
        if not set(codecs) <= set(IMAGE_CODECS):
            raise ValueError(f"`{name}` must name codecs among {', '.join(IMAGE_CODECS)}. Received: {name}={codecs!r}")
    levels = pixel_symbols(x_test, binary, "x_test")
    if any(codec.startswith("JPEG XL") for codec in (*per_image, *mosaic)):
        require_codec("JXL")                      # registers JPEG XL with Pillow, or says how to install it
    n = len(levels)
    rows = []

    def measure(codec: str, files: str, images: list[np.ndarray]) -> None:
        started = time.perf_counter()
        data = [_image_file(image, codec, binary) for image in images]
        seconds = time.perf_counter() - started
        for image, blob in zip(images, data):
            if not np.array_equal(_read_image(blob, binary), image):
                raise RuntimeError(f"{codec} did not decode its file back to the same image: not a lossless baseline")
        rows.append({"codec": codec, "files": files, "bits per image": 8 * sum(map(len, data)) / n, "encode s": seconds})

    for codec in per_image:
        measure(codec, "one per image", list(levels))
    for codec in mosaic:
        measure(codec, f"mosaics of {min(MOSAIC_IMAGES, n):,}", _mosaics(levels))

    def as_bytes(a: np.ndarray) -> bytes:
        return np.packbits(a, axis=None).tobytes() if binary else a.tobytes()

    if not general:
        return rows
    raw = as_bytes(levels)
    coders = {"gzip -9": lambda b: gzip.compress(b, compresslevel=9, mtime=0),
               "bz2 -9": lambda b: bz2.compress(b, compresslevel=9),
               "lzma -9e": lambda b: lzma.compress(b, preset=9 | lzma.PRESET_EXTREME),
               "zstd -22": lambda b: zstandard.ZstdCompressor(level=22).compress(b)}
    for codec, compress in coders.items():
        started = time.perf_counter()
        size = len(compress(raw))
        rows.append({"codec": codec, "files": "whole set", "bits per image": 8 * size / n,
                     "encode s": time.perf_counter() - started})
    if x_train is not None:
        train = pixel_symbols(x_train, binary, "x_train")
        dictionary = zstandard.train_dictionary(112_640, [as_bytes(image) for image in train])
        compressor = zstandard.ZstdCompressor(level=22, dict_data=dictionary)
        decompressor = zstandard.ZstdDecompressor(dict_data=dictionary)
        for files, parts in (("one per image", [as_bytes(image) for image in levels]), ("whole set", [raw])):
            started = time.perf_counter()
            data = [compressor.compress(part) for part in parts]
            seconds = time.perf_counter() - started
            if any(decompressor.decompress(blob) != part for blob, part in zip(data, parts)):
                raise RuntimeError("zstd with a dictionary did not decode back to the same bytes")
            rows.append({"codec": "zstd -22, training-set dictionary", "files": files,
                         "bits per image": 8 * sum(map(len, data)) / n, "encode s": seconds})
    return rows


@dataclass(frozen=True)
class ContextModel:
    """A latent-free model of pixels: ``P(level | context)``, counted on training images.

    The context of a pixel is its position (``position=True``: a per-position histogram; with ``block`` b > 1,
    the b x b block the pixel lies in) and/or the levels of its already-coded ``neighbours`` (names of
    :data:`NEIGHBOURS`; outside the image they read 0), each quantized to ``bins`` bins. ``probabilities`` has one row per context; counts are smoothed by adding
    ``alpha`` to every level (the Krichevsky-Trofimov estimator at 0.5).
    """

    levels: int
    neighbours: tuple[str, ...]
    bins: int
    position: bool
    shape: tuple[int, int]
    probabilities: np.ndarray
    block: int = 1

    @property
    def name(self) -> str:
        where = "position" if self.block == 1 else f"position in {self.block} x {self.block} blocks"
        parts = ([where] if self.position else []) + ([f"{len(self.neighbours)} neighbours ({', '.join(self.neighbours)})"
                                                              + (f", {self.bins} bins each" if self.levels > 2 else "")]
                                                             if self.neighbours else [])
        return "context: " + " + ".join(parts)


def _context_index(neighbour_levels, levels: int, bins: int, position_index, n_positions: int | None) -> np.ndarray:
    """The one formula of a context: each neighbour's level quantized to ``bins`` bins, in order, then the position
    (``n_positions`` None: no position). Works on whole images or on one position of every image."""
    index = 0
    for value in neighbour_levels:
        index = index * bins + value * bins // levels
    if n_positions is not None:
        index = index * n_positions + position_index
    return np.asarray(index, np.int64)


def _blocks(h: int, w: int, block: int) -> tuple[np.ndarray, int]:
    """Each pixel's block index ``(h, w)`` (blocks of ``block`` x ``block`` pixels in raster order) and the number of blocks."""
    columns = -(-w // block)
    return (np.arange(h)[:, None] // block) * columns + np.arange(w)[None, :] // block, -(-h // block) * columns


def _contexts(symbols: np.ndarray, levels: int, neighbours: tuple[str, ...], bins: int, position: bool,
              block: int = 1) -> np.ndarray:
    """Each pixel's context index, ``(n, h * w)`` in raster order (neighbours outside the image read 0)."""
    n, h, w = symbols.shape
    m = max([2] + [max(abs(dy), abs(dx)) for dy, dx in (NEIGHBOURS[name] for name in neighbours)])   # padding
    padded = np.zeros((n, h + m, w + 2 * m), np.int64)
    padded[:, m:, m:w + m] = symbols
    shifted = (padded[:, m + dy:m + dy + h, m + dx:m + dx + w] for dy, dx in (NEIGHBOURS[name] for name in neighbours))
    blocks, n_blocks = _blocks(h, w, block)
    index = _context_index(shifted, levels, bins, blocks[None], n_blocks if position else None)
    return np.broadcast_to(index, (n, h, w)).reshape(n, h * w)


def fit_context_model(x_train, binary: bool, neighbours: tuple[str, ...] = (), bins: int = 2, position: bool = False,
                      alpha: float = 0.5, block: int = 1) -> ContextModel:
    """A :class:`ContextModel` counted on the training images ``x_train``: a per-position histogram with
    ``position=True`` and no ``neighbours`` (``measures.baselines.PixelHistogram``'s code length, coded for
    real); a causal-context model with ``neighbours``, which also knows the pixel's ``block`` with ``position=True``."""
    symbols = pixel_symbols(x_train, binary, "x_train")
    levels = 2 if binary else 256
    unknown = [name for name in neighbours if name not in NEIGHBOURS]
    if isinstance(neighbours, str) or unknown:
        raise ValueError(f"`neighbours` must be a tuple of names among {', '.join(NEIGHBOURS)}. Received: neighbours={neighbours!r}")
    bins = check_int("bins", bins, 2, levels)
    alpha = check_number("alpha", alpha, strict=True)
    if not neighbours and not position:
        raise ValueError("a context model needs `neighbours` or `position=True`; with neither it is one histogram of every pixel")
    h, w = symbols.shape[1:]
    block = check_int("block", block, 1, max(h, w))
    n_contexts = bins ** len(neighbours) * (_blocks(h, w, block)[1] if position else 1)
    if n_contexts * levels > _MAX_TABLE:
        raise ValueError(f"{n_contexts:,} contexts x {levels} levels exceed the {_MAX_TABLE:,} table entries allowed: "
                         f"use fewer `neighbours` or `bins`. Received: neighbours={neighbours!r}, bins={bins}")
    context = _contexts(symbols, levels, tuple(neighbours), bins, position, block)
    counts = np.bincount((context * levels + symbols.reshape(len(symbols), -1)).ravel(),
                         minlength=n_contexts * levels).reshape(n_contexts, levels)
    probabilities = (counts + alpha) / (counts.sum(axis=1, keepdims=True) + alpha * levels)
    return ContextModel(levels, tuple(neighbours), bins, position, (h, w), probabilities, block)


def _check_model_images(model: ContextModel, images, binary: bool) -> np.ndarray:
    if not isinstance(model, ContextModel):
        raise ValueError(f"`model` must be a ContextModel from fit_context_model. Received: {type(model).__name__}")
    symbols = pixel_symbols(images, binary)
    if (2 if binary else 256) != model.levels or symbols.shape[1:] != model.shape:
        raise ValueError(f"`images` must be {'binary' if model.levels == 2 else '8-bit'} images of {model.shape} like the "
                         f"model's training images. Received: {'binary' if binary else '8-bit'} images of {symbols.shape[1:]}")
    return symbols


def context_code_bits(model: ContextModel, images, binary: bool) -> np.ndarray:
    """Ideal code length ``-log2 P(image)`` of each image under the model, in bits, shape ``(n,)``."""
    symbols = _check_model_images(model, images, binary)
    context = _contexts(symbols, model.levels, model.neighbours, model.bins, model.position, model.block)
    p = model.probabilities[context, symbols.reshape(len(symbols), -1)]
    return -np.log2(p).sum(axis=1)


def choose_context_model(x_train, x_val, binary: bool) -> tuple[ContextModel, list[tuple[str, float]]]:
    """The causal-context model of :data:`CONTEXT_CANDIDATES` with the fewest bits on the validation images ``x_val``,
    fitted on the training images ``x_train``; and each candidate's name with its mean bits per validation image."""
    pixel_symbols(x_train, binary, "x_train"), pixel_symbols(x_val, binary, "x_val")
    tried = []
    for neighbours, bins, block in CONTEXT_CANDIDATES[2 if binary else 256]:
        model = fit_context_model(x_train, binary, neighbours, bins, block is not None, block=block or 1)
        tried.append((model, float(context_code_bits(model, x_val, binary).mean())))
    best = min(tried, key=lambda pair: pair[1])[0]
    return best, [(model.name, bits) for model, bits in tried]


def _coder():
    import constriction

    return constriction.stream.stack.AnsCoder, constriction.stream.model.Categorical(perfect=False)


def context_compress(model: ContextModel, images, binary: bool) -> bytes:
    """The images coded with ANS under the model, pixel position by pixel position (all images at once)."""
    symbols = _check_model_images(model, images, binary)
    context = _contexts(symbols, model.levels, model.neighbours, model.bins, model.position, model.block)
    flat = symbols.reshape(len(symbols), -1).astype(np.int32)
    coder_class, family = _coder()
    coder = coder_class()
    for p in reversed(range(flat.shape[1])):   # pushed last to first, so decoding pops position 0 first
        coder.encode_reverse(flat[:, p], family, model.probabilities[context[:, p]].astype(np.float32))
    return coder.get_compressed().astype("<u4").tobytes()


def context_decompress(model: ContextModel, data: bytes, n: int) -> np.ndarray:
    """The level arrays ``(n, h, w)`` that :func:`context_compress` coded into ``data``."""
    if not isinstance(model, ContextModel):
        raise ValueError(f"`model` must be a ContextModel from fit_context_model. Received: {type(model).__name__}")
    n = check_int("n", n, 1)
    coder_class, family = _coder()
    coder = coder_class(np.frombuffer(data, dtype="<u4").astype(np.uint32))
    h, w = model.shape
    blocks, n_blocks = _blocks(h, w, model.block)
    symbols = np.zeros((n, h, w), np.uint8)
    for p in range(h * w):
        row, column = divmod(p, w)
        inside = ((row + dy, column + dx) for dy, dx in (NEIGHBOURS[name] for name in model.neighbours))
        values = (symbols[:, y, x].astype(np.int64) if 0 <= y < h and 0 <= x < w else np.zeros(n, np.int64) for y, x in inside)
        index = _context_index(values, model.levels, model.bins, blocks[row, column], n_blocks if model.position else None)
        context = np.broadcast_to(index, (n,))
        symbols[:, row, column] = coder.decode(family, model.probabilities[context].astype(np.float32))
    return symbols


def latent_free_sizes(x_test, models: list[ContextModel], binary: bool) -> list[dict]:
    """Rows like :func:`codec_sizes`'s for context models fitted on training images: each codes ``x_test`` with ANS
    into one file, decoded back and checked equal (the model's table, like a VAE's weights, is not counted)."""
    symbols = pixel_symbols(x_test, binary, "x_test")
    rows = []
    for model in models:
        started = time.perf_counter()
        data = context_compress(model, x_test, binary)
        seconds = time.perf_counter() - started
        if not np.array_equal(context_decompress(model, data, len(symbols)), symbols):
            raise RuntimeError(f"{model.name} did not decode its file back to the same images")
        rows.append({"codec": "histogram per position" if model.position and not model.neighbours else model.name,
                     "files": "whole set", "bits per image": 8 * len(data) / len(symbols), "encode s": seconds})
    return rows
