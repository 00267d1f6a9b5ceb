"""The dSprites-like data: the factor grid (one image per combination), random draws, determinism, sizes."""

import numpy as np
import pytest

from vae_helpers.data.datasets import load_dataset
from vae_helpers.data.shapes import FACTOR_NAMES, SHAPES, draw_shapes, make_shapes, position_range, random_shapes


@pytest.fixture(scope="module")
def grid():
    return make_shapes()


def test_shapes_and_factor_grid(grid):
    assert grid.images.shape == (3 * 4 * 8 * 7 * 7, 32, 32, 1) and grid.images.dtype == np.float32
    assert grid.factor_names == FACTOR_NAMES and grid.factor_sizes == (len(SHAPES), 4, 8, 7, 7)
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
    ds = load_dataset("shapes", n_train=1000)
    assert ds.x_test.shape == grid.images.shape and ds.class_names == SHAPES
    assert np.array_equal(ds.x_test, grid.images) and np.array_equal(ds.y_test, grid.factors[:, 0])
    assert ds.x_train.shape == (1000, 32, 32, 1) and set(np.unique(ds.y_train)) == {0, 1, 2}
    on_grid = load_dataset("shapes_grid")   # trained on the grid itself, tested on the grid between
    assert np.array_equal(on_grid.x_train, grid.images) and np.array_equal(on_grid.y_train, grid.factors[:, 0])
    assert np.array_equal(on_grid.x_test, make_shapes(between=True).images)


def test_the_positions_are_whole_pixels_two_apart_around_the_canvas_centre(grid):
    positions = grid.factor_values[3]
    assert np.all(positions == np.round(positions)) and np.all(np.diff(positions) == 2)
    assert abs(positions[len(positions) // 2] - (32 - 1) / 2) <= 0.5
    low, high = position_range(32)
    assert low <= positions[0] and positions[-1] <= high


def test_the_validation_grid_lies_halfway_between_and_shares_no_image(grid):
    between = make_shapes(between=True)
    assert between.factor_sizes == (3, 3, 8, 6, 6) and between.images.shape[1:] == (32, 32, 1)
    for k in (1, 3):   # scales and positions: the midpoints of the grid's
        np.testing.assert_allclose(between.factor_values[k], (grid.factor_values[k][1:] + grid.factor_values[k][:-1]) / 2)
    np.testing.assert_allclose(between.factor_values[2] - grid.factor_values[2], np.pi / 8)
    assert not {im.tobytes() for im in grid.images} & {im.tobytes() for im in between.images}
    with pytest.raises(ValueError, match=r"`between=True` needs at least two scales and two positions"):
        make_shapes(n_scales=1, between=True)
    with pytest.raises(ValueError, match=r"`between` must be True or False. Received: between=1"):
        make_shapes(between=1)


def test_random_draws_cover_the_grid_ranges_and_keep_shapes_on_the_canvas(grid):
    images, factors = random_shapes(3000, seed=5)
    assert images.shape == (3000, 32, 32, 1) and images.dtype == np.float32 and factors.shape == (3000, 5)
    low, high = position_range(32)
    for k, (lo, hi) in enumerate([(0, 2), (0.5, 1.0), (0, 2 * np.pi), (low, high), (low, high)]):
        assert lo <= factors[:, k].min() and factors[:, k].max() <= hi
        assert np.ptp(factors[:, k]) > 0.95 * (hi - lo)                       # uniform draws reach both ends
    border = np.concatenate([images[:, 0], images[:, -1], images[:, :, 0], images[:, :, -1]], 1)
    assert border.max() == 0 and images.reshape(3000, -1).sum(1).min() >= 6
    # continuous positions: the centre of mass follows the drawn x to within a pixel
    cols = np.mgrid[0:32, 0:32][1]
    cx = (images[..., 0] * cols).sum((1, 2)) / images[..., 0].sum((1, 2))
    assert np.abs(cx - factors[:, 3]).mean() < 1.0
    # a draw at a grid point gives the grid's image
    f = grid.factors[1234]
    at_grid = draw_shapes(*([grid.factor_values[k][f[k]]] for k in range(5)), size=32)
    np.testing.assert_array_equal(at_grid[0], grid.images[1234, ..., 0])
    again, other = random_shapes(50, seed=5), random_shapes(50, seed=6)               # seeded: the same draws
    assert np.array_equal(again[0], random_shapes(50, seed=5)[0]) and not np.array_equal(again[0], other[0])



@pytest.mark.parametrize("kwargs, match", [
    ({"size": 8}, r"`size` must be an integer in \[16, 1024\]. Received: size=8"),
    ({"n_scales": 0}, r"`n_scales` must be an integer in \[1, 1024\]"),
    ({"n_positions": 2.0}, r"`n_positions` must be an integer in \[1, 1024\]. Received: n_positions=2.0"),
    ({"n_positions": 30}, r"`n_positions` must be at most 14 for size 32, so that every shape stays on the canvas"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_shapes(**kwargs)
