"""Argument checks shared by every module: one message style, raised before any work starts.

Every check names the argument, says what was received and what is allowed, in the form
Keras uses: ``"`batch_size` must be a positive integer. Received: batch_size=0"``.
numpy scalars (``np.int64(2)``, ``np.float32(0.5)``) are accepted wherever Python numbers are.
"""

from __future__ import annotations

import errno
import math
import os
from pathlib import Path

import numpy as np

__all__ = ["MAX_BATCH_SIZE", "MAX_EPOCHS", "MAX_LATENT_DIM", "MAX_PIXELS", "MAX_SAMPLES", "MAX_SEED", "MAX_STEPS",
           "MAX_UNITS", "assert_finite_spread", "check_code", "check_codes", "check_durations_ms", "check_epochs", "check_even_batches",
           "check_frames", "check_images", "check_int", "check_labels", "check_latent_dim", "check_not_implemented", "check_number",
           "check_pixels", "check_seed", "check_size_px", "check_unconditional", "check_units", "check_writable_folder"]

MAX_SEED = 2**32 - 1  # numpy's and Keras's seeds are unsigned 32-bit integers

# Upper bounds on every size a user can type, so that a typo fails at once instead of exhausting
# memory (or the afternoon). Each is far above what the course uses.
MAX_LATENT_DIM = 1024        # latent dimensions
MAX_UNITS = 16_384           # dense units of a layer, filters of a convolution
MAX_EPOCHS = 10_000
MAX_BATCH_SIZE = 65_536
MAX_STEPS = 10_000           # codes on an interpolation or a traversal
MAX_SAMPLES = 100_000        # images one sample() call decodes (100,000 MNIST images: 314 MB of float32)
MAX_PIXELS = 100_000_000     # pixels of a generated data set (400 MB of float32)


def check_int(arg: str, value: object, minimum: int = 1, maximum: int | None = None, or_none: bool = False) -> int | None:
    """``value`` as a Python int in ``[minimum, maximum]`` (or None if ``or_none``); bools and floats are refused."""
    if value is None and or_none:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) \
            or value < minimum or (maximum is not None and value > maximum):
        allowed = {0: "a non-negative integer", 1: "a positive integer"}.get(minimum, f"an integer >= {minimum}")
        if maximum is not None:
            allowed = f"an integer in [{minimum}, {maximum}]"
        raise ValueError(f"`{arg}` must be {allowed}{' or None' if or_none else ''}. Received: {arg}={value!r}")
    return int(value)


def check_latent_dim(value: object) -> int:
    """A latent size: an integer in ``[1, MAX_LATENT_DIM]``."""
    return check_int("latent_dim", value, 1, MAX_LATENT_DIM)


def check_units(arg: str, value: object) -> int:
    """A layer width (dense units, convolution filters): an integer in ``[1, MAX_UNITS]``."""
    return check_int(arg, value, 1, MAX_UNITS)


def check_seed(arg: str, value: object) -> int:
    """A seed: an integer in ``[0, 2**32 - 1]``."""
    return check_int(arg, value, 0, MAX_SEED)


def check_number(arg: str, value: object, minimum: float = 0.0, strict: bool = False) -> float:
    """``value`` as a finite float ``>= minimum`` (``> minimum`` when ``strict``)."""
    ok = (not isinstance(value, (bool, np.bool_)) and isinstance(value, (int, float, np.integer, np.floating))
          and math.isfinite(value) and (value > minimum if strict else value >= minimum))
    if not ok:
        allowed = f"a finite number {'>' if strict else '>='} {minimum:g}"
        if minimum == 0:
            allowed = "a finite positive number" if strict else "a finite non-negative number"
        raise ValueError(f"`{arg}` must be {allowed}. Received: {arg}={value!r}")
    return float(value)


def check_images(arg: str, x: object, image_shape: tuple[int, ...] | None = None, greyscale: bool = False) -> np.ndarray:
    """A non-empty, finite float32 batch ``(n, h, w, c)`` with pixel values in [0, 1]: the one check of image inputs.

    Args:
        arg: the argument's name, for the message.
        x: the images.
        image_shape: ``(h, w, c)`` the model expects, if known.
        greyscale: require one channel (helpers that would otherwise use channel 0 of a colour image).
    """
    want = f"(n, {', '.join(map(str, image_shape))})" if image_shape else "(n, height, width, channels)"
    array = _numeric_array(arg, x, f"images {want}")
    if image_shape is not None and array.shape == tuple(image_shape):
        raise ValueError(f"`{arg}` must be a batch of images {want}: it is one image without the batch axis. "
                         f"Use {arg}[None]. Received: {arg}.shape={array.shape}")
    if array.ndim != 4 or len(array) == 0 or (image_shape is not None and array.shape[1:] != tuple(image_shape)):
        raise ValueError(f"`{arg}` must be a non-empty batch of images of shape {want}. Received: {arg}.shape={array.shape}")
    if greyscale and array.shape[-1] != 1:
        raise ValueError(f"`{arg}` must be greyscale images (n, height, width, 1); these helpers work on 8-bit greyscale "
                         f"and would use channel 0 only. Received: {arg}.shape={array.shape}")
    return _pixel_values(arg, array).astype("float32", copy=False)


def check_pixels(arg: str, x: object) -> np.ndarray:
    """Pixel values of any shape (a single image, a batch, a 1-D row), finite and in [0, 1]: :func:`check_images`'s
    value checks, for the helpers that convert every value on its own. Returned as a numeric array, dtype kept."""
    return _pixel_values(arg, _numeric_array(arg, x, "pixel values in [0, 1]"))


def _numeric_array(arg: str, x: object, what: str) -> np.ndarray:
    """``x`` as a numeric (or boolean) array, or the error that names ``arg`` and says it must hold ``what``."""
    array = np.asarray(x) if not isinstance(x, (str, bytes)) else np.asarray(x, dtype=object)
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        raise ValueError(f"`{arg}` must be a numeric array of {what}. Received: {arg} of type "
                         f"{type(x).__name__} with dtype {array.dtype}")
    return array


def _pixel_values(arg: str, array: np.ndarray) -> np.ndarray:
    """``array`` if every value is finite and in [0, 1] (an empty array passes)."""
    if not np.all(np.isfinite(array)):
        raise ValueError(f"`{arg}` must hold only finite pixel values. Received: {arg} with "
                         f"{int(np.sum(~np.isfinite(array)))} NaN or infinite values")
    lo, hi = (float(array.min()), float(array.max())) if array.size else (0.0, 0.0)
    if lo < 0 or hi > 1:
        hint = " For uint8 images (0-255), pass x / 255." if hi > 1 and lo >= 0 else ""
        raise ValueError(f"`{arg}` must hold pixel values in [0, 1].{hint} Received: {arg} with values in [{lo:g}, {hi:g}]")
    return array


def check_writable_folder(arg: str, folder: object, file: object = None, writable: bool = True) -> Path:
    """A folder that exists and is writable, or can be created; nothing is created here.

    Catches the cases that would otherwise fail only after the work is done: an empty path,
    a path that is (or goes through) a regular file, and a folder without write permission.
    With ``file``, the messages are about the folder of that file (``arg`` names the file).
    With ``writable=False`` only the first two are checked (a folder that is read but maybe not written).
    """
    if folder is None or (isinstance(folder, (str, os.PathLike)) and not str(folder).strip()):
        raise ValueError(f"`{arg}` must be a folder path. Received: {arg}={folder!r}")
    if not isinstance(folder, (str, os.PathLike)):
        raise ValueError(f"`{arg}` must be a folder path (str or Path). Received: {arg}={folder!r}")
    path = Path(folder).expanduser()
    must, received = ("must be a folder", folder) if file is None else ("must be in a folder", file)
    existing = path
    while not existing.exists():  # the nearest part of the path that exists
        if existing.is_symlink():  # a link that loops or points nowhere: creating the folder would fail "File exists"
            where = "is" if existing == path else f"goes through {str(existing)!r}, which is"
            raise ValueError(f"`{arg}` {must}, but {str(path)!r} {where} a symbolic link {_broken_link(existing)}. "
                             f"Received: {arg}={str(received)!r}")
        if existing.parent == existing:
            break
        existing = existing.parent
    if not existing.is_dir():
        where = "is" if existing == path else f"goes through {str(existing)!r}, which is"
        raise ValueError(f"`{arg}` {must}, but {str(path)!r} {where} a file. Received: {arg}={str(received)!r}")
    if writable and not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"`{arg}` {must.replace('a folder', 'a writable folder')}, but {str(existing)!r} is read-only. "
                         f"Received: {arg}={str(received)!r}")
    return path


def _broken_link(link: Path) -> str:
    """Why the symbolic link ``link`` leads to no file: it loops, or what it points to does not exist."""
    try:
        os.stat(link)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "that loops (Too many levels of symbolic links)"
    try:
        return f"to {os.readlink(link)!r}, which does not exist"
    except OSError:
        return "that leads nowhere"


def assert_finite_spread(name: str, values: object, axis: int | None = None, min_std: float = 0.0) -> np.ndarray:
    """Fail unless every value is finite and the values spread out: the guard of the notebooks' smoke checks.

    ``np.testing.assert_array_equal`` treats NaN as equal to NaN, and a collapsed model gives
    constant codes that every shape check accepts; this catches both.

    Args:
        name: what the values are, for the message.
        values: an array-like of numbers.
        axis: ``None`` to take one standard deviation over all values, or the axis of the
            observations (``0`` for codes of shape ``(n, d)``) to require a spread in every column.
        min_std: the standard deviation (each one, with ``axis``) must be larger than this.

    Returns:
        ``values`` as a float array, so the call can wrap an expression.

    Raises:
        AssertionError: naming how many values are NaN or infinite, or which spread is too small.
    """
    array = np.asarray(values, dtype=float)
    bad = ~np.isfinite(array)
    if bad.any():
        raise AssertionError(f"{name}: {int(bad.sum())} of {array.size} values are NaN or infinite")
    if array.size == 0:
        raise AssertionError(f"{name}: no values")
    std = np.atleast_1d(array.std() if axis is None else array.std(axis=axis))
    low = np.flatnonzero(std <= min_std)
    if low.size:
        where = "" if axis is None else f" in {low.size} of {std.size} columns (first: column {int(low[0])})"
        raise AssertionError(f"{name}: standard deviation {float(std[low[0]]):.3g} <= {min_std:g}{where}: "
                             "the values have collapsed")
    return array


def check_codes(arg: str, z: object, dim: int | None = None, min_rows: int = 1) -> np.ndarray:
    """Latent codes: a finite numeric array ``(n, d)`` with ``n >= min_rows`` (``d == dim`` when given).

    Floats keep their dtype; integers become float32.
    """
    z = np.asarray(z) if not isinstance(z, (str, bytes)) else np.asarray(z, dtype=object)
    if not (np.issubdtype(z.dtype, np.floating) or np.issubdtype(z.dtype, np.integer)):
        raise ValueError(f"`{arg}` must be a numeric array. Received: {arg}.dtype={z.dtype}")
    if z.ndim != 2 or len(z) < min_rows or z.shape[1] < 1 or (dim is not None and z.shape[1] != dim):
        want = f"(n, {dim})" if dim is not None else "(n, latent_dim)"
        raise ValueError(f"`{arg}` must have shape {want} with n >= {min_rows}. Received: {arg}.shape={z.shape}")
    if not np.all(np.isfinite(z)):
        raise ValueError(f"`{arg}` must hold only finite values. Received: {arg} with NaN or inf")
    return z if np.issubdtype(z.dtype, np.floating) else z.astype("float32")


def check_code(arg: str, z: object, dim: int | None = None) -> np.ndarray:
    """One latent code: a finite 1-D array (of length ``dim`` when given)."""
    array = np.asarray(z) if not isinstance(z, (str, bytes)) else np.asarray(z, dtype=object)
    if array.ndim != 1 or len(array) < 1 or (dim is not None and len(array) != dim):
        want = f"({dim},)" if dim is not None else "(latent_dim,)"
        raise ValueError(f"`{arg}` must be one latent code of shape {want}. Received: {arg}.shape={array.shape}")
    return check_codes(arg, array[None])[0]


def check_labels(arg: str, labels: object, n: int | None = None, n_classes: int | None = None) -> np.ndarray:
    """Integer class labels of shape ``(n,)`` (any n >= 1 when None), each in ``[0, n_classes - 1]`` when given."""
    array = np.asarray(labels) if not isinstance(labels, (str, bytes)) else np.asarray(labels, dtype=object)
    want = f"({n},)" if n is not None else "(n,)"
    if array.ndim != 1 or len(array) == 0 or (n is not None and len(array) != n) \
            or not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"`{arg}` must be integer labels of shape {want}. "
                         f"Received: {arg}.shape={array.shape}, {arg}.dtype={array.dtype}")
    if n_classes is not None and (array.min() < 0 or array.max() >= n_classes):
        raise ValueError(f"`{arg}` must lie in [0, {n_classes - 1}]. "
                         f"Received: {arg} with values in [{int(array.min())}, {int(array.max())}]")
    return array


def check_unconditional(arg: str, model: object) -> None:
    """Refuse a model whose encoder and decoder also take labels (a conditional VAE) in a helper that cannot pass them."""
    if getattr(model, "takes_labels", False):
        raise ValueError(f"`{arg}` is a {type(model).__name__}, whose encoder and decoder also take the label; this "
                         "helper passes images (or codes) only. Use the model's own encode(x, labels) / "
                         f"decode(z, labels). Received: {arg}={type(model).__name__}")


def check_size_px(arg: str, size_px: object, minimum: int = 16) -> tuple[int, int]:
    """A ``(width, height)`` in pixels, each an integer >= ``minimum``."""
    if isinstance(size_px, (str, bytes)) or not hasattr(size_px, "__len__") or len(size_px) != 2:
        raise ValueError(f"`{arg}` must be (width, height) in pixels, each an integer >= {minimum}. "
                         f"Received: {arg}={size_px!r}")
    try:
        return tuple(check_int(arg, s, minimum) for s in size_px)
    except ValueError:
        raise ValueError(f"`{arg}` must be (width, height) in pixels, each an integer >= {minimum}. "
                         f"Received: {arg}={size_px!r}") from None


def check_epochs(arg: str, epochs: object, n_frames: int) -> list[int]:
    """One integer epoch number per frame."""
    values = np.asarray(epochs) if not isinstance(epochs, (str, bytes)) else np.asarray([])
    if values.ndim != 1 or len(values) != n_frames or not np.issubdtype(values.dtype, np.integer):
        raise ValueError(f"`{arg}` must hold one integer epoch number per frame ({n_frames}). Received: {arg}={epochs!r}")
    return [int(e) for e in values]


def check_frames(arg: str, frames: object) -> list[np.ndarray]:
    """A non-empty list of uint8 RGB frames ``(H, W, 3)``, all of one shape (a 4-D array is split into frames)."""
    if isinstance(frames, np.ndarray) and frames.ndim == 4:
        frames = list(frames)
    if isinstance(frames, (str, bytes)) or not hasattr(frames, "__len__") or len(frames) == 0:
        raise ValueError(f"`{arg}` must be a non-empty list of (H, W, 3) uint8 arrays. Received: {type(frames).__name__} "
                         f"of length {len(frames) if hasattr(frames, '__len__') else '?'}")
    arrays = [np.asarray(frame) for frame in frames]
    first = arrays[0]
    for i, frame in enumerate(arrays):
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[-1] != 3 or frame.shape != first.shape:
            raise ValueError(f"`{arg}` must all be uint8 RGB arrays of one shape (H, W, 3), like {arg}[0] "
                             f"{first.shape} {first.dtype}. Received: {arg}[{i}].shape={frame.shape}, "
                             f"{arg}[{i}].dtype={frame.dtype}")
    return arrays


def check_durations_ms(arg: str, duration_ms: object, n_frames: int) -> list[int]:
    """Display times in ms, one number or one per frame, each >= 10 (GIF counts hundredths of a second)."""
    try:
        durations = np.atleast_1d(np.asarray(duration_ms, dtype="float64")) if np.ndim(duration_ms) <= 1 else None
    except (TypeError, ValueError):
        durations = None
    if durations is None or len(durations) not in (1, n_frames) or not np.all(durations >= 10) \
            or not np.all(np.isfinite(durations)):
        raise ValueError(f"`{arg}` must be a number >= 10 (GIF counts hundredths of a second), or one per frame "
                         f"({n_frames}). Received: {arg}={duration_ms!r}")
    return [int(round(d)) for d in np.broadcast_to(durations, (n_frames,))]


def check_even_batches(batch_size: int, replicas: int) -> None:
    """Refuse a ``batch_size`` that does not split evenly between ``replicas``: ``MirroredStrategy`` fails at the first
    step then (3 replicas, batch 128: ``AddN [43,...] != [42,...]``). A shorter last batch is split by TensorFlow itself.
    """
    if replicas > 1 and batch_size % replicas:
        raise ValueError(f"`batch_size` must be a multiple of the {replicas} replicas of the strategy, so that each "
                         f"batch splits evenly; try {batch_size - batch_size % replicas} or "
                         f"{batch_size - batch_size % replicas + replicas}. Received: batch_size={batch_size}")


def check_not_implemented(owner: str, **options) -> None:
    """Refuse options that ``owner`` accepts through a shared signature but does not implement (left at 0/False)."""
    given = {name: value for name, value in options.items() if value}
    if given:
        raise ValueError(f"{owner} does not implement {', '.join(given)}: its loss would ignore them; leave them at their "
                         f"defaults. Received: {', '.join(f'{n}={v!r}' for n, v in given.items())}")
