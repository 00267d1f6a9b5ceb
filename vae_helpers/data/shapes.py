"""A dSprites-like dataset drawn in numpy: five known factors, on a grid or drawn at random.

dSprites (Matthey et al. 2017) is the usual test bed for disentanglement: shapes on a blank
canvas whose generative factors (shape, scale, rotation, x and y position) are known and
independent. This module draws a smaller version in numpy, so no download is needed:

- :func:`make_shapes`: every point of a factor grid once (the images disentanglement is scored on);
- :func:`random_shapes`: factors drawn independently and uniformly, scale, rotation and position
  continuous (the training images: no finite set of images that a code could simply number).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.checks import MAX_PIXELS, check_int

__all__ = ["DATA_VERSION", "FACTOR_NAMES", "SHAPES", "ShapesDataset", "draw_shapes", "make_shapes", "position_range",
           "random_shapes"]

SHAPES = ("square", "ellipse", "triangle")
FACTOR_NAMES = ("shape", "scale", "rotation", "pos_x", "pos_y")   # pos_x, pos_y: the centre (as dSprites names them)
DEFAULT_SIZE, DEFAULT_POSITIONS = 32, 7   # 7 whole-pixel positions per axis, 2 px apart
DATA_VERSION = 3   # part of the cache key of models trained on "shapes" (3: 32-px canvas, largest half-size size / 6.4)
HALF_SIZE_SHARE = 1 / 6.4   # the largest shape's half-size, as a share of the canvas side


@dataclass(frozen=True)
class ShapesDataset:
    """Images ``(n, size, size, 1)`` in {0, 1} and the factor indices ``(n, 5)`` that drew them.

    ``factors[i, k]`` indexes ``factor_values[k]``; the rows enumerate the grid in C order
    (shape slowest, y fastest), so ``n`` is the product of ``factor_sizes``.
    """

    images: np.ndarray
    factors: np.ndarray
    factor_names: tuple[str, ...]
    factor_values: tuple[np.ndarray, ...]

    @property
    def factor_sizes(self) -> tuple[int, ...]:
        """Number of values of each factor."""
        return tuple(len(v) for v in self.factor_values)


def _inside(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Whether points ``(u, v)`` in the shape's own frame (half-size 1) lie inside it."""
    if shape == "square":
        return (np.abs(u) <= 1) & (np.abs(v) <= 1)
    if shape == "ellipse":
        return (u / 1.0) ** 2 + (v / 0.6) ** 2 <= 1
    # an isosceles triangle pointing up: apex (0, -1), base from (-1, 1) to (1, 1)
    return (v <= 1) & (np.abs(u) <= (v + 1) / 2)


def _positions(size: int, margin: float, n: int) -> np.ndarray | None:
    """``n`` whole-pixel centres a whole number of pixels apart, centred, inside the margins (None if impossible)."""
    if n == 1:
        return np.array([float(round((size - 1) / 2))])
    for step in range(int((size - 1 - 2 * margin) // (n - 1)), 0, -1):  # the widest spacing that fits
        positions = np.round((size - 1 - step * (n - 1)) / 2) + step * np.arange(n, dtype="float64")
        if positions[0] >= margin and positions[-1] <= size - 1 - margin:
            return positions  # moving a shape by whole pixels shifts the same pixels
    return None


def _largest_half_size(size: int) -> tuple[float, float]:
    """The largest shape's half-size (``size / 6.4``) and the margin that keeps it on the canvas at any rotation."""
    half = size * HALF_SIZE_SHARE
    return half, half * np.sqrt(2) + 1   # a rotated square's corner stays inside


def position_range(size: int = DEFAULT_SIZE) -> tuple[float, float]:
    """The lowest and highest centre (pixels) at which every shape stays on a ``size``-pixel canvas."""
    size = check_int("size", size, 16, 1024)
    _, margin = _largest_half_size(size)
    return float(np.ceil(margin)), float(np.floor(size - 1 - margin))


def draw_shapes(shape, scale, rotation, x, y, size: int) -> np.ndarray:
    """Images ``(n, size, size)`` in {0, 1} of shape indices, scales (share of the largest),
    angles (radians) and centres (pixels, rows and columns from 0), all arrays of length ``n``."""
    half, _ = _largest_half_size(size)
    shape, scale, rotation, x, y = (np.asarray(a) for a in (shape, scale, rotation, x, y))
    rows, cols = np.mgrid[0:size, 0:size].astype("float64")
    images = np.zeros((len(shape), size, size), dtype=bool)
    for s, name in enumerate(SHAPES):
        pick = np.nonzero(shape == s)[0]
        for chunk in np.array_split(pick, max(1, len(pick) // 4096)):   # bounded temporary arrays
            r = scale[chunk][:, None, None] * half
            dx, dy = cols[None] - x[chunk][:, None, None], rows[None] - y[chunk][:, None, None]
            cos, sin = np.cos(rotation[chunk])[:, None, None], np.sin(rotation[chunk])[:, None, None]
            # rotate the canvas by -angle into the shape's own frame
            images[chunk] = _inside(name, (cos * dx + sin * dy) / r, (-sin * dx + cos * dy) / r)
    return images


def make_shapes(size: int = DEFAULT_SIZE, n_scales: int = 4, n_rotations: int = 8,
                n_positions: int = DEFAULT_POSITIONS, between: bool = False) -> ShapesDataset:
    """Draw every combination of shape, scale, rotation, x and y position once.

    Args:
        size: the canvas is ``size x size`` pixels.
        n_scales: scales from 0.5 to 1 of the largest shape (half-size ``size / 6.4``).
        n_rotations: angles evenly spaced over a full turn (0 to 2 pi, end excluded).
        n_positions: centre positions along each axis, evenly spaced (rounded to whole pixels) so
            that the largest shape stays on the canvas at any rotation.
        between: the grid of the values halfway between these: ``n_scales - 1`` scales, the angles turned by
            half a step, ``n_positions - 1`` positions per axis. It shares no image with the default grid
            (every scale differs), so settings can be chosen on it and scored on the other.
    """
    size = check_int("size", size, 16, 1024)
    n_scales, n_rotations, n_positions = (check_int(name, value, 1, 1024) for name, value in
                                          (("n_scales", n_scales), ("n_rotations", n_rotations), ("n_positions", n_positions)))
    pixels = len(SHAPES) * n_scales * n_rotations * n_positions ** 2 * size ** 2
    if pixels > MAX_PIXELS:
        raise ValueError(f"the grid must have at most {MAX_PIXELS:,} pixels in all, but size={size}, n_scales={n_scales}, "
                         f"n_rotations={n_rotations}, n_positions={n_positions} make {pixels:,} "
                         f"({len(SHAPES)} x {n_scales} x {n_rotations} x {n_positions}^2 images of {size} x {size})")
    _, margin = _largest_half_size(size)
    positions = _positions(size, margin, n_positions)
    if positions is None:
        largest = max(n for n in range(1, size) if _positions(size, margin, n) is not None)
        raise ValueError(f"`n_positions` must be at most {largest} for size {size}, so that every shape stays on the "
                         f"canvas. Received: n_positions={n_positions}")
    scales = np.linspace(0.5, 1.0, n_scales) if n_scales > 1 else np.array([1.0])
    rotations = np.arange(n_rotations) * 2 * np.pi / n_rotations
    if not isinstance(between, bool):
        raise ValueError(f"`between` must be True or False. Received: between={between!r}")
    if between:
        if n_scales < 2 or n_positions < 2:
            raise ValueError("`between=True` needs at least two scales and two positions to go between. "
                             f"Received: n_scales={n_scales}, n_positions={n_positions}")
        scales, positions = (scales[1:] + scales[:-1]) / 2, (positions[1:] + positions[:-1]) / 2
        rotations = rotations + np.pi / n_rotations
    values = (np.arange(len(SHAPES)), scales, rotations, positions, positions.copy())
    grid = np.stack(np.meshgrid(*[np.arange(len(v)) for v in values], indexing="ij"), -1).reshape(-1, len(values))
    images = draw_shapes(*(v[grid[:, k]] for k, v in enumerate(values)), size=size)
    return ShapesDataset(images=images[..., None].astype("float32"), factors=grid.astype("int64"),
                         factor_names=FACTOR_NAMES, factor_values=tuple(values))


def random_shapes(n: int, size: int = DEFAULT_SIZE, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` images ``(n, size, size, 1)`` float32 in {0, 1} with independent, uniformly drawn factors.

    The shape is one of :data:`SHAPES`; scale (0.5 to 1), rotation (0 to 2 pi) and the x and y
    centres (over :func:`position_range`, sub-pixel) are continuous, so every image is new. Returns
    the images and the factor values ``(n, 5)`` in :data:`FACTOR_NAMES` order.
    """
    size = check_int("size", size, 16, 1024)
    n = check_int("n", n, 1, max(1, MAX_PIXELS // size ** 2))
    rng = np.random.default_rng(check_int("seed", seed, 0))
    low, high = position_range(size)
    factors = np.stack([rng.integers(0, len(SHAPES), n), rng.uniform(0.5, 1.0, n), rng.uniform(0, 2 * np.pi, n),
                        rng.uniform(low, high, n), rng.uniform(low, high, n)], axis=1)
    images = draw_shapes(factors[:, 0].astype(int), *factors[:, 1:].T, size=size)
    return images[..., None].astype("float32"), factors
