"""`vae-course plots` end to end in smoke mode, and its figures read back."""

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from vae_helpers import cli
from vae_helpers.viz.figures import FIGURES, FRAME_MS, LAST_FRAME_MS, latent_gif_frames, plots_config, regenerate_plots
from vae_helpers.core.settings import get_settings
from vae_helpers.training.cache import CACHE_ENV

from gif_utils import gif_pixels, read_gif


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_plots_command_smoke_end_to_end(tmp_path):
    """The real console script, default dataset, smoke settings: four figures, GIFs with one frame per epoch.

    It uses the test run's model cache (conftest.py), which test_cli.py's smoke run shares: one training for both.
    """
    out = tmp_path / "plots"
    exe = shutil.which("vae-course", path=os.path.dirname(sys.executable))
    done = subprocess.run([exe, "plots", "--mode", "smoke", "--out", str(out)], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    for name in FIGURES.values():
        assert (out / name).is_file() and f"wrote {out / name} (" in done.stdout
    epochs = get_settings("smoke").epochs(30)
    for name in (FIGURES["tsne"], FIGURES["samples"]):
        n_frames, size, durations, loop = read_gif(out / name)
        assert n_frames == epochs + 1                      # epoch 0 (untrained) + one per epoch
        assert durations == [FRAME_MS] * epochs + [LAST_FRAME_MS] and loop == 0
        assert min(size) > 100
    assert "seconds: " in done.stdout and "t-SNE frames" in done.stdout


def test_same_seed_gives_the_same_images(tmp_path, cache):
    config = plots_config(get_settings("smoke"), dataset="digits", latent_dim=3, epochs=2, seed=7)
    a = regenerate_plots(config, tmp_path / "a", verbose=0, progress=False)
    b = regenerate_plots(config, tmp_path / "b", retrain=True, verbose=0, progress=False)
    assert not a.result.from_cache and not b.result.from_cache
    for name in (FIGURES["tsne"], FIGURES["samples"]):
        np.testing.assert_array_equal(gif_pixels(tmp_path / "a" / name), gif_pixels(tmp_path / "b" / name))
    with Image.open(tmp_path / "a" / FIGURES["final"]) as fa, Image.open(tmp_path / "b" / FIGURES["final"]) as fb:
        np.testing.assert_array_equal(np.asarray(fa), np.asarray(fb))
    c = regenerate_plots(config, tmp_path / "c", verbose=0, progress=False)
    assert c.result.from_cache and c.seconds["snapshots"] == 0.0


def test_two_dimensional_latent_is_plotted_directly(tmp_path, cache):
    config = plots_config(get_settings("smoke"), dataset="digits", latent_dim=2, epochs=1)
    report = regenerate_plots(config, tmp_path, verbose=0, progress=False)
    layouts, axis_labels = latent_gif_frames(report.result, progress=False)
    np.testing.assert_array_equal(np.stack(layouts), report.result.snapshots["z"])  # no t-SNE
    assert axis_labels == ("$z_1$", "$z_2$")


def test_plots_rejects_a_config_without_snapshots(tmp_path):
    from vae_helpers.training.trainer import TrainConfig

    with pytest.raises(ValueError, match=r"`config` must record snapshots"):
        regenerate_plots(TrainConfig(dataset="digits"), tmp_path)


def test_plots_cli_rejects_bad_options(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["plots", "--dataset", "cifar10"])
    assert exit_info.value.code == 2 and "argument --dataset: invalid choice: 'cifar10'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["plots", "--latent-dim", "0", "--mode", "smoke"])
    assert exit_info.value.code == 2
    assert "argument --latent-dim: must be an integer in [2, 1024], received '0'" in capsys.readouterr().err
