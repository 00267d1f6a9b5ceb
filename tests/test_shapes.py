"""The dSprites-like grid: shapes, one image per factor combination, determinism, sizes."""

import numpy as np
import pytest

from vae_helpers.data import load_dataset
from vae_helpers.shapes import FACTOR_NAMES, SHAPES, make_shapes


@pytest.fixture(scope="module")
def grid():
    return make_shapes()


def test_shapes_and_factor_grid(grid):
    assert grid.images.shape == (3 * 4 * 8 * 8 * 8, 32, 32, 1) and grid.images.dtype == np.float32
    assert grid.factor_names == FACTOR_NAMES and grid.factor_sizes == (len(SHAPES), 4, 8, 8, 8)
    assert set(np.unique(grid.images)) == {0.0, 1.0}
    # every combination of factor indices appears exactly once
    assert len({tuple(row) for row in grid.factors}) == len(grid.factors) == np.prod(grid.factor_sizes)
    for k, size in enumerate(grid.factor_sizes):
        assert np.array_equal(np.bincount(grid.factors[:, k]), np.full(size, len(grid.factors) // size))


def test_every_image_is_drawn_inside_the_canvas_and_differs(grid):
    pixels = grid.images.reshape(len(grid.images), -1)
    assert pixels.sum(1).min() >= 6                                 # no empty image, even the smallest shape
    border = np.concatenate([grid.images[:, 0], grid.images[:, -1], grid.images[:, :, 0], grid.images[:, :, -1]], 1)
    assert border.max() == 0                                         # nothing is cut by the edge
    # images differing only in position are shifted copies of one another
    by_position = grid.images[..., 0].reshape(*grid.factor_sizes, 32, 32)
    first = by_position[:, :, :, 0, 0]
    shift = int(grid.factor_values[3][1] - grid.factor_values[3][0])
    assert np.array_equal(np.roll(first, shift, axis=-1), by_position[:, :, :, 1, 0])
    assert np.array_equal(np.roll(first, shift, axis=-2), by_position[:, :, :, 0, 1])


def test_position_and_scale_factors_move_and_grow_the_shape(grid):
    rows, cols = np.mgrid[0:32, 0:32]
    mass = grid.images[..., 0].reshape(len(grid.images), -1).sum(1)
    cx = (grid.images[..., 0] * cols).reshape(len(grid.images), -1).sum(1) / mass
    cy = (grid.images[..., 0] * rows).reshape(len(grid.images), -1).sum(1) / mass
    assert np.corrcoef(cx, grid.factors[:, 3])[0, 1] > 0.99 and np.corrcoef(cy, grid.factors[:, 4])[0, 1] > 0.99
    assert np.all(np.diff([mass[grid.factors[:, 1] == s].mean() for s in range(4)]) > 0)


def test_deterministic_and_loadable_as_a_dataset(grid):
    again = make_shapes()
    assert np.array_equal(again.images, grid.images) and np.array_equal(again.factors, grid.factors)
    ds = load_dataset("shapes")
    assert ds.x_train.shape == grid.images.shape and ds.class_names == SHAPES
    assert np.array_equal(ds.y_train, grid.factors[:, 0])


@pytest.mark.parametrize("kwargs, match", [
    ({"size": 8}, r"`size` must be an integer in \[16, 1024\]. Received: size=8"),
    ({"n_scales": 0}, r"`n_scales` must be an integer in \[1, 1024\]"),
    ({"n_positions": 2.0}, r"`n_positions` must be an integer in \[1, 1024\]. Received: n_positions=2.0"),
    ({"n_positions": 30}, r"`n_positions` must be at most 16 for size 32, so that every shape stays on the canvas"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_shapes(**kwargs)
