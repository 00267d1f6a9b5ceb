"""A dSprites-like dataset drawn in numpy: every combination of five known factors, one image each.

dSprites (Matthey et al. 2017) is the usual test bed for disentanglement: white shapes on a
black canvas whose generative factors (shape, scale, rotation, x and y position) are known and
independent. This module draws a smaller version deterministically in a fraction of a second,
so no download is needed: each image is one point of the full factor grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .checks import MAX_PIXELS, check_int

__all__ = ["FACTOR_NAMES", "SHAPES", "ShapesDataset", "make_shapes"]

SHAPES = ("square", "ellipse", "triangle")
FACTOR_NAMES = ("shape", "scale", "rotation", "x", "y")


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


def make_shapes(size: int = 32, n_scales: int = 4, n_rotations: int = 8, n_positions: int = 8) -> ShapesDataset:
    """Draw every combination of shape, scale, rotation, x and y position once.

    Args:
        size: the canvas is ``size x size`` pixels.
        n_scales: scales from 0.5 to 1 of the largest shape (half-size ``size / 7``).
        n_rotations: angles evenly spaced over a full turn (0 to 2 pi, end excluded).
        n_positions: centre positions along each axis, evenly spaced (rounded to whole pixels) so
            that the largest shape stays on the canvas at any rotation.
    """
    size = check_int("size", size, 16, 1024)
    n_scales, n_rotations, n_positions = (check_int(name, value, 1, 1024) for name, value in
                                          (("n_scales", n_scales), ("n_rotations", n_rotations), ("n_positions", n_positions)))
    pixels = len(SHAPES) * n_scales * n_rotations * n_positions ** 2 * size ** 2
    if pixels > MAX_PIXELS:
        raise ValueError(f"the grid must have at most {MAX_PIXELS:,} pixels in all, but size={size}, n_scales={n_scales}, "
                         f"n_rotations={n_rotations}, n_positions={n_positions} make {pixels:,} "
                         f"({len(SHAPES)} x {n_scales} x {n_rotations} x {n_positions}^2 images of {size} x {size})")
    half = size / 7                                   # half-size of the largest shape, in pixels
    margin = half * np.sqrt(2) + 1                    # a rotated square's corner stays inside
    positions = _positions(size, margin, n_positions)
    if positions is None:
        largest = max(n for n in range(1, size) if _positions(size, margin, n) is not None)
        raise ValueError(f"`n_positions` must be at most {largest} for size {size}, so that every shape stays on the "
                         f"canvas. Received: n_positions={n_positions}")
    values = (np.arange(len(SHAPES)),
              np.linspace(0.5, 1.0, n_scales) if n_scales > 1 else np.array([1.0]),
              np.arange(n_rotations) * 2 * np.pi / n_rotations,
              positions, positions.copy())
    grid = np.stack(np.meshgrid(*[np.arange(len(v)) for v in values], indexing="ij"), -1).reshape(-1, len(values))
    rows, cols = np.mgrid[0:size, 0:size].astype("float64")
    images = np.zeros((len(grid), size, size), dtype=bool)
    for s, shape in enumerate(SHAPES):
        pick = grid[:, 0] == s
        scale = values[1][grid[pick, 1]] * half
        angle = values[2][grid[pick, 2]]
        dx = cols[None] - values[3][grid[pick, 3]][:, None, None]
        dy = rows[None] - values[4][grid[pick, 4]][:, None, None]
        cos, sin = np.cos(angle)[:, None, None], np.sin(angle)[:, None, None]
        u = (cos * dx + sin * dy) / scale[:, None, None]   # rotate the canvas by -angle into the shape's frame
        v = (-sin * dx + cos * dy) / scale[:, None, None]
        images[pick] = _inside(shape, u, v)
    return ShapesDataset(images=images[..., None].astype("float32"), factors=grid.astype("int64"),
                         factor_names=FACTOR_NAMES, factor_values=tuple(values))
