"""Issue 22's cases that are fixed: a clear, early, one-line error (or the right behaviour), nothing lost."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import warnings

import numpy as np
import pytest

from vae_helpers.applications import anomaly

from vae_helpers import cli

from vae_helpers.measures import disentanglement

from vae_helpers.measures import evaluation
from vae_helpers.measures import image_quality as iq
from vae_helpers.training.cache import CACHE_ENV
from vae_helpers.measures.classifier import per_class_accuracy
from vae_helpers.data.datasets import load_dataset
from vae_helpers.training.tensorboard import RunWriter
from vae_helpers.training.trainer import TrainConfig, train_vae

TINY = TrainConfig(dataset="digits", latent_dim=2, epochs=1, batch_size=64, n_train=128, n_test=64,
                   filters=(8,), dense_units=16)
RGB = np.random.default_rng(0).random((2, 8, 8, 3)).astype("float32")
GREY = np.random.default_rng(0).random((2, 8, 8, 1)).astype("float32")


@pytest.mark.parametrize("call", [lambda: iq.png_bits(RGB), lambda: iq.median_denoise(RGB, 3),
                                  lambda: iq.gaussian_denoise(RGB, 1.0), lambda: iq.jpeg_roundtrip(RGB, 50),
                                  lambda: iq.jpeg_curve(RGB, [50])])
def test_colour_images_are_refused_where_only_channel_0_would_be_used(call):
    with pytest.raises(ValueError, match=r"`x` must be greyscale images \(n, height, width, 1\).*Received: x.shape=\(2, 8, 8, 3\)"):
        call()


def test_filter_sizes_are_bounded_by_the_image():
    with pytest.raises(ValueError, match=r"`size` must be an integer in \[1, 8\]. Received: size=1000"):
        iq.median_denoise(GREY, 1000)
    with pytest.raises(ValueError, match=r"`sigma` must be at most the image size, 8 pixels"):
        iq.gaussian_denoise(GREY, 50.0)
    best, scores = iq.best_filter(GREY, GREY, "median", (p for p in (2, 3)))   # a generator is fine
    assert set(scores) == {2, 3} and best in (2, 3)
    with pytest.raises(ValueError, match=r"`params` must be a sequence of values to try"):
        iq.best_filter(GREY, GREY, "median", 3)


def test_likelihood_helpers_refuse_pixels_outside_0_1():
    with pytest.raises(ValueError, match=r"`x` must hold pixel values in \[0, 1\]. For uint8 images \(0-255\), pass x / 255"):
        evaluation.entropy_floor((GREY * 255).astype("uint8"))
    with pytest.raises(ValueError, match=r"`probabilities` must be finite pixel probabilities in \[0, 1\]"):
        evaluation.bernoulli_nll(GREY, GREY * 2)
    np.testing.assert_allclose(evaluation.entropy_floor(np.round(GREY)), 0.0, atol=1e-4)   # binary pixels: no floor


def test_n_samples_is_named_as_the_caller_wrote_it():
    from vae_helpers.models.vae import build_vae

    with pytest.raises(ValueError, match=r"`n_samples` must be a positive integer. Received: n_samples=0"):
        evaluation.elbo_per_example(build_vae((8, 8, 1), 2, (8,), 16), GREY, n_samples=0)


def test_scores_and_classes_are_checked():
    with pytest.raises(ValueError, match=r"`scores` must be numbers, one per test image"):
        anomaly.roc_auc(["a", "b"], np.array([True, False]))
    with pytest.raises(ValueError, match=r"`model` must be a trained course model with a reconstruct\(x\) method"):
        anomaly.squared_error(None, GREY)
    with pytest.raises(ValueError, match=r"`requested` must lie in \[0, 2\]"):
        per_class_accuracy(np.full((2, 3), 1 / 3), np.array([0, 7]))


def test_a_one_class_split_without_training_images_is_refused():
    ds = load_dataset("digits", n_train=64, n_test=32)
    import dataclasses

    no_sevens = dataclasses.replace(ds, y_train=np.where(ds.y_train == 7, 1, ds.y_train))
    with pytest.raises(ValueError, match=r"`normal_class` 7 must have training images .*0 training images"):
        anomaly.one_class_split(no_sevens, 7)


def test_mutual_information_inputs_that_gave_nan_or_zero():
    factors = np.repeat(np.arange(4), 5)[:, None]
    codes = np.random.default_rng(0).normal(size=(20, 2))
    with pytest.raises(ValueError, match=r"`mi` must hold finite, non-negative mutual information"):
        disentanglement.gap_from_matrix(np.array([[np.nan], [0.1]]), factors)
    with pytest.raises(ValueError, match=r"`mi` must hold finite, non-negative"):
        disentanglement.gap_from_matrix(np.array([[-1.0], [0.1]]), factors)
    with pytest.raises(ValueError, match=r"`z_log_var` must lie in \[-40.0, 40.0\]"):
        disentanglement.mutual_information_gap_q(codes, np.full((20, 2), 800.0), factors)
    with pytest.raises(ValueError, match=r"`n_bins` must be an integer in \[2, 1000\]. Received: n_bins=10000000"):
        disentanglement.mutual_information_gap(codes, factors, n_bins=10_000_000)


def test_a_run_folder_that_is_a_file_or_a_link_is_named(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match=r"`run_dir` must be a folder .* is a file"):
        RunWriter(tmp_path / "file")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(ValueError, match=r"`run_dir` must be a folder .* is a symbolic link"):
        RunWriter(tmp_path / "link")
    assert (tmp_path / "elsewhere").is_dir()              # nothing behind the link was deleted


def test_a_tensorboard_folder_may_not_overlap_the_model_cache(tmp_path):
    cache = tmp_path / "cache"
    first = train_vae(TINY, cache_dir=cache, verbose=0)
    for folder in (cache, tmp_path, cache / "runs"):
        with pytest.raises(ValueError, match=r"`tensorboard_dir` must not overlap the model cache"):
            train_vae(TINY, cache_dir=cache, verbose=0, tensorboard_dir=folder)
    assert train_vae(TINY, cache_dir=cache, verbose=0).from_cache and first.path.is_dir()   # the entry survived


def test_the_cache_folder_from_the_environment_is_named_as_such(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("x")
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "file" / "cache"))
    with pytest.raises(ValueError, match=r"`\$VAE_COURSE_CACHE` must be a folder"):
        train_vae(TINY, verbose=0)


def test_warnings_as_errors_do_not_lose_a_finished_training(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        result = train_vae(TINY, cache_dir=tmp_path, verbose=0)
    assert result.path is not None and train_vae(TINY, cache_dir=tmp_path, verbose=0).from_cache


@pytest.mark.parametrize("argv, message", [
    (["plots", "--out", ""], "argument --out: must name a folder, received ''"),
    (["plots", "--tensorboard", " "], "argument --tensorboard: must name a folder, received ' '"),
    (["plots", "--latent-dim", "10000000"], "argument --latent-dim: must be an integer in [2, 1024], received '10000000'"),
    (["plots", "--epochs", "99999999"], "argument --epochs: must be an integer in [1, 10000]"),
    (["plots", "--strategy", "mirrored", "--logical-cpus", "100000"], "argument --logical-cpus: must be an integer in [2, 64]"),
])
def test_options_without_bounds_or_empty_are_refused_in_one_line(argv, message, capsys, monkeypatch):
    from vae_helpers.viz import figures

    monkeypatch.setattr(figures, "regenerate_plots", lambda *a, **k: pytest.fail("work started"))
    try:
        code = cli.main(argv)
    except SystemExit as exc:   # argparse's own errors exit from parse_args
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1, err


def test_traceback_is_accepted_after_the_subcommand_too(tmp_path):
    args = cli.build_parser().parse_args(["plots", "--mode", "smoke", "--traceback"])
    assert args.traceback is True
    assert cli.build_parser().parse_args(["plots"]).traceback is False


@pytest.mark.parametrize("tf_config", ["not json", "{}", json.dumps({"cluster": {"worker": ["a:1"]},
                                                                     "task": {"type": "worker", "index": 0}})])
def test_a_bad_tf_config_is_refused_before_tensorflow_starts(tf_config):
    code = ("import sys\nfrom vae_helpers import cli\n"
            "print(cli.main(['plots', '--mode', 'smoke', '--strategy', 'multi-worker']), 'tensorflow' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "TF_CONFIG": tf_config})
    assert done.stdout.split() == ["2", "False"], done.stdout + done.stderr[-2000:]
    assert "argument --strategy multi-worker: $TF_CONFIG" in done.stderr and done.stderr.count("\n") == 1


def test_plots_piped_into_head_still_writes_every_figure(tmp_path):
    exe = shutil.which("vae-course", path=os.path.dirname(sys.executable))
    out = tmp_path / "out"
    command = (f"{exe} plots --mode smoke --dataset digits --latent-dim 2 --epochs 1 --out {out} | head -1; "
               "echo \"exit ${PIPESTATUS[0]}\"")
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=600)
    lines = done.stdout.strip().splitlines()
    assert lines[0].startswith("vae-course plots: smoke settings, digits") and lines[-1] == "exit 0", done.stdout + done.stderr
    assert len(list(out.iterdir())) == 4 and "BrokenPipeError" not in done.stderr


def test_a_full_output_disk_while_installing_the_figures_replaces_none_of_them(tmp_path, monkeypatch):
    from pathlib import Path

    from vae_helpers.viz import figures

    staging, out = tmp_path / "staging", tmp_path / "out"
    staging.mkdir(), out.mkdir()
    files = []
    for name in ("a.png", "b.png", "c.gif", "d.gif"):
        (staging / name).write_bytes(b"new " + name.encode())
        (out / name).write_bytes(b"old " + name.encode())
        files.append(staging / name)
    real_write = Path.write_bytes
    calls = []

    def full_after_one(self, data):
        calls.append(self)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real_write(self, data)

    monkeypatch.setattr(Path, "write_bytes", full_after_one)
    with pytest.raises(OSError, match="No space left"):
        figures.install_all(out, files)
    monkeypatch.setattr(Path, "write_bytes", real_write)
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png", "c.gif", "d.gif"]
    assert all((out / n).read_bytes() == b"old " + n.encode() for n in ("a.png", "b.png", "c.gif", "d.gif"))
    assert figures.install_all(out, files) == [out / f.name for f in files]
    assert (out / "d.gif").read_bytes() == b"new d.gif" and sorted(p.name for p in out.iterdir())[0] == "a.png"


def test_a_stray_file_or_link_at_an_entry_is_named_replaced_and_never_followed(tmp_path, capsys):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / TINY.key()).write_text("not an entry")
    first = train_vae(TINY, cache_dir=cache, verbose=0)
    assert "is unusable (a file, not a folder" in capsys.readouterr().out and first.path.is_dir()
    assert train_vae(TINY, cache_dir=cache, verbose=0).from_cache          # trained once, not on every call
    other = TrainConfig(**{**TINY.__dict__, "seed": 7})
    elsewhere = train_vae(other, cache_dir=cache, verbose=0).path
    (cache / TINY.key()).rename(tmp_path / "moved")
    (cache / TINY.key()).symlink_to(elsewhere)                             # points at another config's entry
    again = train_vae(TINY, cache_dir=cache, verbose=0)
    assert not again.from_cache and "a symbolic link" in capsys.readouterr().out
    assert (cache / TINY.key()).is_dir() and not (cache / TINY.key()).is_symlink() and elsewhere.is_dir()


def test_a_save_killed_midway_leaves_a_folder_that_the_next_save_removes(tmp_path):
    import time as time_module

    cache = tmp_path / "cache"
    cache.mkdir()
    stale = cache / f".{TINY.key()}-killed"
    stale.mkdir()
    (stale / "vae.weights.h5").write_bytes(b"x" * 1000)
    old = time_module.time() - 2 * 3600
    os.utime(stale, (old, old))
    recent = cache / f".{TINY.key()}-saving-now"          # a save in progress in another process: kept
    recent.mkdir()
    train_vae(TINY, cache_dir=cache, verbose=0)
    assert not stale.exists() and recent.is_dir()


def test_batches_that_do_not_split_between_replicas_are_refused_with_advice():
    from vae_helpers.core.checks import check_even_batches

    check_even_batches(128, 1)                                   # one device: anything goes
    check_even_batches(128, 2)
    with pytest.raises(ValueError, match=r"`batch_size` must be a multiple of the 3 replicas .*try 126 or 129"):
        check_even_batches(128, 3)


def _notebook(path, *sources):
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in sources]
    nbformat.write(nb, path)
    return path


def test_run_notebooks_refuses_a_read_only_notebook_before_running_it(tmp_path, monkeypatch, capsys):
    path = _notebook(tmp_path / "a.ipynb", "raise SystemExit('must not run')")
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, m, **k: False if str(p) == str(path) and m & os.W_OK else real(p, m, **k))
    assert cli.main(["run-notebooks", "--mode", "smoke", str(path)]) == 2
    err = capsys.readouterr().err
    assert "is read-only, so the executed notebook could not be saved; nothing was run" in err and err.count("\n") == 1


def test_a_notebook_saved_during_its_run_is_not_overwritten(tmp_path):
    from vae_helpers.notebook import execute_notebook

    path = tmp_path / "a.ipynb"
    _notebook(path, "print('run')", f"open({str(path)!r}, 'a').write(' ')   # the learner saves it meanwhile")
    edited = path.read_bytes() + b" "
    with pytest.raises(RuntimeError, match=r"a.ipynb was changed on disk while it ran .*a.executed.ipynb"):
        execute_notebook(path, mode="smoke")
    assert path.read_bytes() == edited and (tmp_path / "a.executed.ipynb").is_file()


def _run_notebooks_cli(path, *options, signal_after=None):
    import signal as signals
    import time

    exe = shutil.which("vae-course", path=os.path.dirname(sys.executable))
    proc = subprocess.Popen([exe, "run-notebooks", "--mode", "smoke", *options, str(path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if signal_after is not None:  # once the first cell has started
        deadline = time.time() + 120
        while not path.with_name("started").exists() and time.time() < deadline:
            time.sleep(0.2)
        time.sleep(signal_after)
        proc.send_signal(signals.SIGTERM)
    out, err = proc.communicate(timeout=300)
    return proc.returncode, out, err


def test_run_notebooks_timeout_and_sigterm_end_in_one_line_and_keep_the_notebook(tmp_path):
    path = _notebook(tmp_path / "slow.ipynb", "open('started', 'w').close()\nimport time\ntime.sleep(60)")
    before = path.read_bytes()
    code, out, err = _run_notebooks_cli(path, "--timeout", "2")
    assert code == 1 and err.strip().splitlines() == [
        "vae-course: error: slow.ipynb: a cell ran longer than --timeout 2 s; the notebook file was not changed "
        "(run with --traceback for details)"], err
    (tmp_path / "started").unlink()
    code, out, err = _run_notebooks_cli(path, signal_after=1)
    assert code == 130 and err.strip().splitlines() == ["vae-course: interrupted"], err
    assert path.read_bytes() == before


def test_run_notebooks_prints_no_kernel_transport_warning(tmp_path):
    path = _notebook(tmp_path / "ok.ipynb", "print(1 + 1)")
    code, out, err = _run_notebooks_cli(path)
    assert code == 0 and "wrote" in out and "without encryption" not in err and err == "", err


@pytest.mark.parametrize("make, message", [
    (lambda: TrainConfig(latent_dim=10_000_000), r"`latent_dim` must be an integer in \[1, 1024\]"),
    (lambda: TrainConfig(dense_units=10**9), r"`dense_units` must be an integer in \[0, 16384\]"),  # 0: a spatial code
    (lambda: TrainConfig(filters=(32, 10**6)), r"`filters` must be an integer in \[1, 16384\]"),
    (lambda: TrainConfig(batch_size=10**8), r"`batch_size` must be an integer in \[1, 65536\]"),
    (lambda: TrainConfig(epochs=10**6), r"`epochs` must be an integer in \[1, 10000\]"),
])
def test_sizes_that_would_exhaust_memory_are_refused_in_the_config(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_the_shapes_grid_and_interpolations_are_bounded():
    from vae_helpers.viz import latent_space as latent
    from vae_helpers.data import shapes

    with pytest.raises(ValueError, match=r"at most 100,000,000 pixels in all, but size=512.* make 1,233,125,376"):
        shapes.make_shapes(size=512)
    with pytest.raises(ValueError, match=r"`n` must be an integer in \[1, 97656\]. Received: n=1000000000"):
        shapes.random_shapes(10**9)
    with pytest.raises(ValueError, match=r"`n_positions` must be an integer in \[1, 1024\]"):
        shapes.make_shapes(n_positions=10**6)
    with pytest.raises(ValueError, match=r"`steps` must be an integer in \[2, 10000\]. Received: steps=100000000"):
        latent.lerp(np.zeros(2), np.ones(2), 10**8)


def test_a_million_conditional_samples_are_refused_before_any_work():
    from vae_helpers.models.conditional import build_conditional_vae

    cvae = build_conditional_vae((8, 8, 1), n_classes=10, latent_dim=2, filters=(8,), dense_units=16)
    with pytest.raises(ValueError, match=r"`len\(labels\)` must be an integer in \[1, 100000\]. Received: len\(labels\)=1000000"):
        cvae.sample(np.zeros(10**6, dtype=int))
    with pytest.raises(ValueError, match=r"`n` must be an integer in \[1, 100000\]"):
        train_vae_free_vae().sample(10**6)


def train_vae_free_vae():
    from vae_helpers.models.vae import build_vae

    return build_vae((8, 8, 1), latent_dim=2, filters=(8,), dense_units=16)
