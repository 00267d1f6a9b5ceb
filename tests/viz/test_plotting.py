import matplotlib.pyplot as plt
import numpy as np
import pytest
from PIL import Image

from vae_helpers.viz import plotting


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_save_fig_writes_a_png_under_a_stable_name(tmp_path):
    fig = plotting.plot_images(np.zeros((3, 8, 8, 1)), n_cols=3)
    path = plotting.save_fig(fig, "digits_row", folder=tmp_path)
    assert path == tmp_path / "digits_row.png"
    with Image.open(path) as im:
        assert im.format == "PNG" and im.size[0] > im.size[1]


@pytest.mark.parametrize("bad", ["", "sub/fig.png", "../fig"])
def test_save_fig_rejects_paths_as_names(tmp_path, bad):
    with pytest.raises(ValueError, match=r"`name` must be a plain file name"):
        plotting.save_fig(plt.figure(), bad, folder=tmp_path)


def test_latent_grid_is_row_major_in_the_order_given():
    grid = plotting.latent_grid([0.0, 1.0, 2.0], [5.0, -5.0])
    assert grid.shape == (6, 2) and grid.dtype == np.float32
    np.testing.assert_array_equal(grid[:3], [[0, 5], [1, 5], [2, 5]])
    np.testing.assert_array_equal(grid[3:], [[0, -5], [1, -5], [2, -5]])


def test_decoded_grid_checks_the_image_count():
    with pytest.raises(ValueError, match=r"`images` must hold len\(grid_y\) \* len\(grid_x\) = 6 images. Received: 5"):
        plotting.plot_decoded_grid(np.zeros((5, 8, 8)), [0, 1, 2], [0, 1])
    fig = plotting.plot_decoded_grid(np.zeros((6, 8, 8, 1)), [0, 1, 2], [1, 0])
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["0.0", "1.0", "2.0"]


def test_latent_scatter_has_one_legend_entry_per_class():
    z = np.random.default_rng(0).normal(size=(30, 2))
    labels = np.arange(30) % 3
    fig = plotting.plot_latent_scatter(z, labels, ["a", "b", "c"])
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["a", "b", "c"]


@pytest.mark.parametrize(
    "z, labels, match",
    [
        (np.zeros((4, 3)), np.zeros(4, int), r"`z` must have shape \(n, 2\).*Received: z.shape=\(4, 3\)"),
        (np.zeros((4, 2)), np.zeros(3, int), r"`labels` must be integer labels of shape \(4,\).*Received: labels.shape=\(3,\)"),
        (np.zeros((4, 2)), np.array([0, 1, 2, 5]), r"`labels` must lie in \[0, 2\]"),
    ],
)
def test_latent_scatter_bad_input(z, labels, match):
    with pytest.raises(ValueError, match=match):
        plotting.plot_latent_scatter(z, labels, ["a", "b", "c"])


def test_reconstructions_need_matching_shapes():
    with pytest.raises(ValueError, match=r"`originals` and `reconstructions` must have the same shape"):
        plotting.plot_reconstructions(np.zeros((4, 8, 8, 1)), np.zeros((3, 8, 8, 1)))
    with pytest.raises(ValueError, match=r"`originals` must be a non-empty batch"):
        plotting.plot_reconstructions(np.zeros((0, 8, 8)), np.zeros((0, 8, 8)))


def test_history_plot_has_training_and_validation_curves():
    fig = plotting.plot_history({"loss": [3, 2, 1], "val_loss": [3.5, 2.5, 2]})
    assert len(fig.axes[0].lines) == 2
    with pytest.raises(ValueError, match=r"`metrics` must be keys of `history`"):
        plotting.plot_history({"loss": [1]}, metrics=("kl_loss",))


def test_tile_puts_gutters_between_images_only():
    from vae_helpers.viz.plotting import tile_images

    images = np.ones((6, 4, 5), dtype=np.float32)
    tiled = tile_images(images, n_rows=2, n_cols=3, gutter=2, fill=0.5)
    assert tiled.shape == (2 * 4 + 2, 3 * 5 + 2 * 2)
    assert np.all(tiled[4:6] == 0.5) and np.all(tiled[:, 5:7] == 0.5)   # one gutter row band, two column bands
    assert (tiled == 1).sum() == 6 * 4 * 5                              # every pixel of every image kept
    np.testing.assert_array_equal(tile_images(images, 2, 3), np.ones((8, 15)))


def test_history_epochs_are_integer_ticks():
    fig = plotting.plot_history({"loss": [3.0, 2.0, 1.5]})
    ticks = fig.axes[0].get_xticks()
    assert np.allclose(ticks, np.round(ticks))


def test_decoded_grid_outlines_the_highlighted_cells():
    images = np.zeros((6, 8, 8))
    mask = np.array([[True, False, False], [False, False, True]])
    fig = plotting.plot_decoded_grid(images, np.arange(3.0), np.arange(2.0), highlight=mask)
    assert len(fig.axes[0].patches) == 2
    with pytest.raises(ValueError, match=r"`highlight` must have shape \(2, 3\)"):
        plotting.plot_decoded_grid(images, np.arange(3.0), np.arange(2.0), highlight=mask.T)


def test_kl_per_dimension_draws_one_sorted_bar_chart_per_model():
    fig = plotting.plot_kl_per_dimension({"a": np.array([0.0, 2.0, 1.0]), "b": np.array([3.0, 0.1, 0.0])}, threshold=0.5)
    assert len(fig.axes) == 2
    heights = [bar.get_height() for bar in fig.axes[0].patches]
    assert heights == [2.0, 1.0, 0.0]
    with pytest.raises(ValueError, match=r"`kl_by_model` must name at least one model"):
        plotting.plot_kl_per_dimension({})


def test_bits_back_stack_is_drawn_to_scale_and_refuses_impossible_numbers():
    from vae_helpers.viz.plotting import plot_bits_back_stack

    fig = plot_bits_back_stack({"read": 200.0, "pixels": 900.0, "prior": 320.0}, before=1024.0)
    tops = sorted({round(p.get_y() + p.get_height()) for p in fig.axes[0].patches})
    assert tops[-1] == 1024 - 200 + 900 + 320 and 1024 in tops and "1,020 bits" in fig.axes[0].get_title()
    plt.close(fig)
    with pytest.raises(ValueError, match="`before` must be at least"):
        plot_bits_back_stack({"read": 200.0, "pixels": 900.0, "prior": 320.0}, before=100.0)
