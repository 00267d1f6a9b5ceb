"""Argument checks shared by every module: one message style, raised before any work starts.

Every check names the argument, says what was received and what is allowed, in the form
Keras uses: ``"`batch_size` must be a positive integer. Received: batch_size=0"``.
numpy scalars (``np.int64(2)``, ``np.float32(0.5)``) are accepted wherever Python numbers are.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

MAX_SEED = 2**32 - 1  # numpy's and Keras's seeds are unsigned 32-bit integers


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


def check_images(arg: str, x: object, image_shape: tuple[int, ...] | None = None) -> np.ndarray:
    """A non-empty, finite float32 batch ``(n, h, w, c)`` with pixel values in [0, 1].

    Args:
        arg: the argument's name, for the message.
        x: the images.
        image_shape: ``(h, w, c)`` the model expects, if known.
    """
    want = f"(n, {', '.join(map(str, image_shape))})" if image_shape else "(n, height, width, channels)"
    array = np.asarray(x) if not isinstance(x, (str, bytes)) else np.asarray(x, dtype=object)
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        raise ValueError(f"`{arg}` must be a numeric array of images {want}. Received: {arg} of type "
                         f"{type(x).__name__} with dtype {array.dtype}")
    if image_shape is not None and array.shape == tuple(image_shape):
        raise ValueError(f"`{arg}` must be a batch of images {want}: it is one image without the batch axis. "
                         f"Use {arg}[None]. Received: {arg}.shape={array.shape}")
    if array.ndim != 4 or len(array) == 0 or (image_shape is not None and array.shape[1:] != tuple(image_shape)):
        raise ValueError(f"`{arg}` must be a non-empty batch of images of shape {want}. Received: {arg}.shape={array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"`{arg}` must hold only finite pixel values. Received: {arg} with "
                         f"{int(np.sum(~np.isfinite(array)))} NaN or infinite values")
    lo, hi = float(array.min()), float(array.max())
    if lo < 0 or hi > 1:
        hint = " For uint8 images (0-255), pass x / 255." if hi > 1 and lo >= 0 else ""
        raise ValueError(f"`{arg}` must hold pixel values in [0, 1].{hint} Received: {arg} with values in [{lo:g}, {hi:g}]")
    return array.astype("float32", copy=False)


def check_writable_folder(arg: str, folder: object, file: object = None) -> Path:
    """A folder that exists and is writable, or can be created; nothing is created here.

    Catches the cases that would otherwise fail only after the work is done: an empty path,
    a path that is (or goes through) a regular file, and a folder without write permission.
    With ``file``, the messages are about the folder of that file (``arg`` names the file).
    """
    if folder is None or (isinstance(folder, (str, os.PathLike)) and not str(folder).strip()):
        raise ValueError(f"`{arg}` must be a folder path. Received: {arg}={folder!r}")
    if not isinstance(folder, (str, os.PathLike)):
        raise ValueError(f"`{arg}` must be a folder path (str or Path). Received: {arg}={folder!r}")
    path = Path(folder).expanduser()
    existing = path
    while not existing.exists():  # the nearest part of the path that exists
        if existing.parent == existing:
            break
        existing = existing.parent
    must, received = ("must be a folder", folder) if file is None else ("must be in a folder", file)
    if not existing.is_dir():
        where = "is" if existing == path else f"goes through {str(existing)!r}, which is"
        raise ValueError(f"`{arg}` {must}, but {str(path)!r} {where} a file. Received: {arg}={str(received)!r}")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"`{arg}` {must.replace('a folder', 'a writable folder')}, but {str(existing)!r} is read-only. "
                         f"Received: {arg}={str(received)!r}")
    return path


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
