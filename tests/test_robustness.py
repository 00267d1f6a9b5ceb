"""Careless and hostile use (issue 11): finished work is never lost, committed figures are never
overwritten, and bad input is refused at the door with a message that names the argument."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil

import keras
import numpy as np
import pytest

from vae_helpers.training import cache

from vae_helpers.core import checks

from vae_helpers.data import datasets as data

from vae_helpers.measures import evaluation

from vae_helpers.training import trainer as training
from vae_helpers.viz.animation import write_gif
from vae_helpers.data.datasets import DatasetUnavailableError, load_dataset
from vae_helpers.viz.plotting import save_fig
from vae_helpers.training.cache import CacheNotWritableError, CacheWarning
from vae_helpers.training.trainer import TrainConfig, train_vae
from vae_helpers.models.vae import build_vae

TINY = TrainConfig(dataset="digits", latent_dim=2, epochs=1, batch_size=64, n_train=128, n_test=32, seed=5)


@pytest.fixture(scope="module")
def tiny_vae():
    keras.utils.set_random_seed(0)
    return build_vae((8, 8, 1), latent_dim=2, seed=0)


@pytest.fixture
def images():
    return np.random.default_rng(0).random((6, 8, 8, 1)).astype("float32")


def no_training(monkeypatch):
    """Make any attempt to build and train a model fail the test."""
    def refuse(*args, **kwargs):
        raise AssertionError("training started although the input was bad")
    monkeypatch.setattr(training, "build_for", refuse)


def read_only(monkeypatch, *folders):
    """Simulate read-only folders (tests run as root, where chmod does not stop writes)."""
    blocked = {os.path.realpath(f) for f in folders}
    real_access = os.access

    def access(path, mode, *args, **kwargs):
        if mode & os.W_OK and os.path.realpath(path) in blocked:
            return False
        return real_access(path, mode, *args, **kwargs)
    monkeypatch.setattr(os, "access", access)


# -- 2. a cache folder that cannot be written is found before training --

def test_cache_under_a_regular_file_is_refused_before_training(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("not a folder")
    no_training(monkeypatch)
    with pytest.raises(ValueError, match=r"`cache_dir` must be a folder, but .* goes through .*file.*, which is a file"):
        train_vae(TINY, cache_dir=tmp_path / "file" / "cache")


def test_read_only_cache_is_refused_before_training(tmp_path, monkeypatch):
    (tmp_path / "cache").mkdir()
    read_only(monkeypatch, tmp_path / "cache")
    no_training(monkeypatch)
    with pytest.raises(CacheNotWritableError, match=r"The model cache .* cannot be written .*read-only.*nothing was trained"):
        train_vae(TINY, cache_dir=tmp_path / "cache")


def test_a_read_only_cache_holding_the_entry_is_loaded(tmp_path, monkeypatch):
    """A shared, read-only model cache on a course server: its models load; only training would need a write."""
    first = train_vae(TINY, cache_dir=tmp_path / "cache", verbose=0)
    read_only(monkeypatch, tmp_path / "cache")
    again = train_vae(TINY, cache_dir=tmp_path / "cache", verbose=0)
    assert again.from_cache and all(np.array_equal(a, b) for a, b in zip(first.model.get_weights(), again.model.get_weights()))


def test_cache_that_fails_a_real_write_is_refused_before_training(tmp_path, monkeypatch):
    def mkdtemp(*args, **kwargs):
        raise PermissionError(errno.EROFS, "Read-only file system")
    monkeypatch.setattr(cache.tempfile, "mkdtemp", mkdtemp)
    no_training(monkeypatch)
    with pytest.raises(CacheNotWritableError, match=r"cannot be written .*Read-only file system.*nothing was trained. "
                                                    r"Set \$VAE_COURSE_CACHE"):
        train_vae(TINY, cache_dir=tmp_path)


def test_empty_cache_dir_is_refused(monkeypatch):
    no_training(monkeypatch)
    with pytest.raises(ValueError, match=r"`cache_dir` must be a folder path. Received: cache_dir=''"):
        train_vae(TINY, cache_dir="")


def test_a_failed_save_still_returns_the_trained_model(tmp_path, monkeypatch):
    def full_disk(model, path):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(cache, "_write_weights", full_disk)
    with pytest.warns(CacheWarning, match="could not be saved in the cache .*No space left.*it is returned"):
        result = train_vae(TINY, cache_dir=tmp_path, verbose=0)
    assert not result.from_cache and result.path is None
    assert len(result.history["loss"]) == 1 and np.isfinite(result.history["loss"][0])
    assert result.vae.decode(np.zeros((1, 2))).shape == (1, 8, 8, 1)
    assert list(tmp_path.iterdir()) == []  # no half-written entry or temporary folder


# -- 3. a finished training survives another process installing the same entry --

def test_training_survives_a_concurrent_install_of_the_same_entry(tmp_path, monkeypatch):
    real_replace = os.replace
    raced = []

    def replace_after_a_rival(src, dst):
        if str(dst).endswith(TINY.key()) and not raced:  # the rival finishes first, with the same files
            shutil.copytree(src, dst)
            raced.append(dst)
        return real_replace(src, dst)   # now fails: "Directory not empty"
    monkeypatch.setattr(cache.os, "replace", replace_after_a_rival)
    result = train_vae(TINY, cache_dir=tmp_path, verbose=0)
    assert raced and result.path == tmp_path / TINY.key() and not result.from_cache
    assert [p.name for p in tmp_path.iterdir()] == [TINY.key()]   # our temporary folder is gone
    monkeypatch.setattr(cache.os, "replace", real_replace)
    again = train_vae(TINY, cache_dir=tmp_path, verbose=0)
    assert again.from_cache
    assert all(np.array_equal(a, b) for a, b in zip(again.vae.get_weights(), result.vae.get_weights()))


# -- 4. images outside [0, 1], and 6. other bad images, are refused by every entry point --

def _entry_points(vae):
    return {
        "encode": lambda x, **kw: vae.encode(x, **kw),
        "reconstruct": lambda x, **kw: vae.reconstruct(x, **kw),
        "elbo_per_example": lambda x, **kw: evaluation.elbo_per_example(vae, x, **kw),
        "iwae_per_example": lambda x, **kw: evaluation.iwae_per_example(vae, x, k=3, **kw),
    }


@pytest.mark.parametrize("entry", ["encode", "reconstruct", "elbo_per_example", "iwae_per_example"])
@pytest.mark.parametrize("bad, match", [
    (lambda x: np.round(x * 255).astype("uint8"), r"pixel values in \[0, 1\]\. For uint8 images \(0-255\), pass x / 255\. "
                                                   r"Received: x with values in \[\d+, 25\d\]"),
    (lambda x: x - 0.5, r"pixel values in \[0, 1\]\. Received: x with values in \[-0\.\d+, 0\.\d+\]"),
    (lambda x: np.where(x > 0.9, np.nan, x), r"`x` must hold only finite pixel values. Received: x with \d+ NaN"),
    (lambda x: x[:, :4], r"`x` must be a non-empty batch of images of shape \(n, 8, 8, 1\). Received: x.shape=\(6, 4, 8, 1\)"),
    (lambda x: x[0], r"it is one image without the batch axis. Use x\[None\]"),
    (lambda x: x[:0], r"non-empty batch .*Received: x.shape=\(0, 8, 8, 1\)"),
    (lambda x: "images", r"`x` must be a numeric array of images"),
    (lambda x: x.astype(str), r"`x` must be a numeric array of images"),
])
def test_bad_images_are_refused(tiny_vae, images, entry, bad, match):
    with pytest.raises(ValueError, match=match):
        _entry_points(tiny_vae)[entry](bad(images))


@pytest.mark.parametrize("entry", ["encode", "reconstruct", "elbo_per_example", "iwae_per_example"])
@pytest.mark.parametrize("batch_size", [0, -1, 2.0])
def test_bad_batch_sizes_are_refused(tiny_vae, images, entry, batch_size):
    with pytest.raises(ValueError, match=rf"`batch_size` must be a positive integer. Received: batch_size={batch_size!r}"):
        _entry_points(tiny_vae)[entry](images, batch_size=batch_size)


def test_valid_images_of_any_numeric_dtype_and_numpy_sizes_are_accepted(tiny_vae, images):
    binary = images > 0.5                                  # bool and float64 are fine when in [0, 1]
    assert tiny_vae.encode(binary)[0].shape == (6, 2)
    assert tiny_vae.reconstruct(images.astype("float64"), batch_size=np.int64(4)).shape == (6, 8, 8, 1)
    assert evaluation.iwae_per_example(tiny_vae, images, k=np.int64(2), batch_size=np.int32(4), seed=np.uint32(1)).shape == (6,)


# -- 6. numbers: numpy integers accepted, bad seeds and betas named --

def test_numpy_integers_are_accepted_where_python_ints_are(tiny_vae):
    config = TrainConfig(dataset="digits", latent_dim=np.int64(2), epochs=np.int32(1), seed=np.int64(3), n_train=np.int64(64))
    assert config.key() == TrainConfig(dataset="digits", latent_dim=2, epochs=1, seed=3, n_train=64).key()
    assert type(config.latent_dim) is int
    assert load_dataset("digits", n_train=np.int64(10), n_test=np.int16(5), seed=np.int64(1)).x_train.shape == (10, 8, 8, 1)
    assert build_vae((8, 8, 1), latent_dim=np.int64(3), dense_units=np.int64(8), seed=np.int64(0)).latent_dim == 3
    assert tiny_vae.sample(np.int64(2), seed=np.int64(4)).shape == (2, 8, 8, 1)


@pytest.mark.parametrize("seed", [-1, 2**32, 1.5, "7", True, None])
def test_bad_seeds_are_named_everywhere(tiny_vae, images, seed):
    match = rf"`seed` must be an integer in \[0, 4294967295\]. Received: seed={seed!r}"
    with pytest.raises(ValueError, match=match):
        load_dataset("digits", seed=seed)
    with pytest.raises(ValueError, match=match):
        TrainConfig(seed=seed)
    with pytest.raises(ValueError, match=match):
        tiny_vae.sample(2, seed=seed)
    with pytest.raises(ValueError, match=match):
        evaluation.elbo_per_example(tiny_vae, images, seed=seed)


@pytest.mark.parametrize("beta", [float("inf"), float("nan"), -1.0, "1"])
def test_infinite_or_negative_beta_is_refused_before_training(beta):
    with pytest.raises(ValueError, match=r"`beta` must be a finite non-negative number. Received: beta="):
        TrainConfig(beta=beta)
    with pytest.raises(ValueError, match=r"`beta` must be a finite non-negative number. Received: beta="):
        build_vae((8, 8, 1), latent_dim=2, beta=beta)


@pytest.mark.parametrize("arg, split", [("n_train", 1437), ("n_test", 360)])
def test_subset_larger_than_the_split_is_refused_not_clipped(arg, split):
    with pytest.raises(ValueError, match=rf"`{arg}` must be at most {split:,}, the size of the digits .* split"):
        load_dataset("digits", **{arg: split + 1})
    assert len(getattr(load_dataset("digits", **{arg: split}), "x_train" if arg == "n_train" else "x_test")) == split


def test_iwae_with_a_huge_k_is_chunked_not_out_of_memory(tiny_vae, images, monkeypatch):
    monkeypatch.setattr(evaluation, "MAX_SAMPLES_PER_STEP", 64)
    steps = []
    real = evaluation._log_weights

    def spy(vae, xb, k, rng):
        steps.append(k * len(xb))
        return real(vae, xb, k, rng)
    monkeypatch.setattr(evaluation, "_log_weights", spy)
    chunked = evaluation.iwae_per_example(tiny_vae, images, k=200, batch_size=6, seed=0)
    assert max(steps) <= 64 and sum(steps) == 200 * len(images)          # every sample drawn, 64 at a time
    monkeypatch.setattr(evaluation, "MAX_SAMPLES_PER_STEP", 2**20)
    whole = evaluation.iwae_per_example(tiny_vae, images, k=200, batch_size=6, seed=0)
    assert np.all(np.isfinite(chunked))
    np.testing.assert_allclose(chunked, whole, atol=0.05)                  # same estimator, other draws
    elbo = evaluation.elbo_per_example(tiny_vae, images, n_samples=200, seed=0)
    assert np.all(whole >= elbo - 0.05)                                    # IWAE_k >= ELBO


# -- 5. data files: damaged, missing, or hidden by a read-only KERAS_HOME --

@pytest.fixture
def keras_home(tmp_path, monkeypatch):
    """A private KERAS_HOME holding copies of the real cached dataset files."""
    from keras.src.backend import config

    home = tmp_path / "keras_home"
    (home / "datasets" / "fashion-mnist").mkdir(parents=True)
    real = data.keras_cache_dir()
    for rel in [*data.KERAS_FILES["mnist"], *data.KERAS_FILES["fashion_mnist"]]:
        shutil.copyfile(os.path.join(real, rel), home / "datasets" / rel)
    monkeypatch.setattr(config, "_KERAS_DIR", str(home))
    return home


@pytest.mark.parametrize("name, rel", [("mnist", "mnist.npz"), ("fashion_mnist", "fashion-mnist/t10k-images-idx3-ubyte.gz")])
def test_a_truncated_dataset_file_is_reported_as_damaged_and_kept(keras_home, name, rel):
    path = keras_home / "datasets" / rel
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(DatasetUnavailableError, match=rf"The cached file .*{rel.split('/')[-1]} is damaged or incomplete "
                                                       r"\(1,000 bytes.*Delete it and copy it again"):
        load_dataset(name)
    assert path.stat().st_size == 1000   # the user's file is not deleted behind their back


def test_a_read_only_keras_home_names_both_folders(keras_home, monkeypatch):
    read_only(monkeypatch, keras_home)
    monkeypatch.setattr(data, "keras_cache_dir", lambda: str(keras_home.parent / "tmp_keras" / "datasets"))
    with pytest.raises(DatasetUnavailableError, match=r"files are in .*keras_home/datasets, but Keras will not read them: "
                                                       r"that KERAS_HOME is not writable, so Keras uses .*tmp_keras/datasets"):
        load_dataset("mnist")


def test_a_missing_file_reports_the_folder_and_the_failed_download(keras_home, monkeypatch):
    (keras_home / "datasets" / "mnist.npz").unlink()

    def offline():
        raise Exception("URL fetch failure on https://storage.googleapis.com/...: None -- [Errno -3] no network")
    monkeypatch.setattr(keras.datasets.mnist, "load_data", offline)
    with pytest.raises(DatasetUnavailableError, match=r"mnist.npz not in the Keras cache \(.*keras_home/datasets\) "
                                                       r"and the download failed .*no network"):
        load_dataset("mnist")


def test_intact_files_load(keras_home):
    assert load_dataset("fashion_mnist", n_test=10).x_test.shape == (10, 28, 28, 1)


# -- 7. figures and GIFs: clear errors, no second traceback, no orphaned temporary files --

def frames(n=3):
    return [np.full((20, 24, 3), 40 * i, dtype="uint8") for i in range(n)]


@pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")
def test_gif_into_a_read_only_folder_is_one_clear_error(tmp_path, monkeypatch):
    read_only(monkeypatch, tmp_path)
    with pytest.raises(ValueError, match=r"`path` must be in a writable folder, but .* is read-only. Received: path='.*a.gif'"):
        write_gif(tmp_path / "a.gif", frames())
    assert list(tmp_path.iterdir()) == []


def test_gif_target_that_is_a_folder_or_under_a_file(tmp_path):
    (tmp_path / "a.gif").mkdir()
    with pytest.raises(ValueError, match=r"`path` must be a file path, but .*a.gif' is a folder"):
        write_gif(tmp_path / "a.gif", frames())
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match=r"`path` must be in a folder, but .*file/sub' goes through .*file', which is a file"):
        write_gif(tmp_path / "file" / "sub" / "b.gif", frames())


@pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")
def test_a_failed_write_names_the_file_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    from pathlib import Path

    def full_disk(self, data):
        with open(self, "wb") as f:
            f.write(data[:10])
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(Path, "write_bytes", full_disk)
    with pytest.raises(OSError, match=r"Could not write .*a.gif \(No space left on device\); check that the folder"):
        write_gif(tmp_path / "a.gif", frames())
    assert list(tmp_path.iterdir()) == []


def _partial(name: str) -> str:
    return f".partial-{hashlib.sha256(name.encode()).hexdigest()[:8]}-1234abcd.tmp"


def test_a_temporary_file_orphaned_by_a_killed_run_is_removed_by_the_next_write(tmp_path):
    orphan = tmp_path / _partial("a.gif")
    orphan.write_bytes(b"")                      # what a SIGKILL during a write leaves
    other = tmp_path / _partial("b.gif")
    other.write_bytes(b"")                       # another target's: not ours to remove
    write_gif(tmp_path / "a.gif", frames())
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([_partial("b.gif"), "a.gif"])


def test_a_250_character_file_name_is_written(tmp_path):
    """The temporary name is short, so any name the file system allows for the target works."""
    name = "a" * 246 + ".gif"
    assert write_gif(tmp_path / name, frames()).name == name and [p.name for p in tmp_path.iterdir()] == [name]


def test_save_fig_checks_the_folder_and_writes_atomically(tmp_path):
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(1, 1))
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match=r"`folder` must be a folder, but .*file' is a file"):
        save_fig(fig, "x.png", tmp_path / "file")
    path = save_fig(fig, "x", tmp_path / "new")
    plt.close(fig)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and [p.name for p in path.parent.iterdir()] == ["x.png"]


# -- the shared checks themselves --

@pytest.mark.parametrize("value, ok", [(3, True), (np.int64(3), True), (np.uint8(3), True), (0, False), (3.0, False),
                                       (True, False), (np.bool_(True), False), ("3", False), (None, False)])
def test_check_int(value, ok):
    if ok:
        assert checks.check_int("n", value) == 3 and type(checks.check_int("n", value)) is int
    else:
        with pytest.raises(ValueError, match=r"`n` must be a positive integer. Received: n="):
            checks.check_int("n", value)


def test_check_images_messages():
    with pytest.raises(ValueError, match=r"`x` must be a batch of images \(n, 2, 2, 1\): it is one image"):
        checks.check_images("x", np.zeros((2, 2, 1)), (2, 2, 1))
    out = checks.check_images("x", np.ones((1, 2, 2, 1), dtype="uint8"))
    assert out.dtype == np.float32 and out.max() == 1.0



# -- 8. no half-written output folder --

def test_a_failure_midway_leaves_the_output_folder_as_it_was(tmp_path, monkeypatch):
    from vae_helpers.viz import figures
    from vae_helpers.core.settings import get_settings

    config = figures.plots_config(get_settings("smoke"), dataset="digits", latent_dim=2, epochs=1)
    out = tmp_path / "out"
    out.mkdir()
    (out / figures.FIGURES["final"]).write_bytes(b"the figure of an earlier run")
    written = []
    real_write_gif = figures.write_gif

    def fail_on_the_second_gif(path, frames, durations):
        written.append(path)
        if len(written) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write_gif(path, frames, durations)
    monkeypatch.setattr(figures, "write_gif", fail_on_the_second_gif)
    with pytest.raises(OSError, match="No space left"):
        figures.regenerate_plots(config, out, verbose=0, progress=False, cache_dir=tmp_path / "cache")
    assert len(written) == 2 and not written[0].parent.exists()          # the staging folder is gone
    assert [p.name for p in out.iterdir()] == [figures.FIGURES["final"]]
    assert (out / figures.FIGURES["final"]).read_bytes() == b"the figure of an earlier run"


def test_plots_refuse_a_one_dimensional_latent_before_training(tmp_path, monkeypatch):
    from vae_helpers.viz import figures
    from vae_helpers.core.settings import get_settings

    no_training(monkeypatch)
    config = figures.plots_config(get_settings("smoke"), dataset="digits", latent_dim=1, epochs=1)
    with pytest.raises(ValueError, match=r"`config.latent_dim` must be at least 2: the latent GIF draws two coordinates"):
        figures.regenerate_plots(config, tmp_path, verbose=0, progress=False, cache_dir=tmp_path / "cache")
