"""`vae-course` as a careless user runs it: every bad option is one line on stderr, found before
any work, and a smoke run never touches the committed figures in plots/."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from vae_helpers import cli

from vae_helpers.viz import figures
from vae_helpers.viz.figures import FIGURES
from vae_helpers.viz.plotting import PLOTS_DIR
from vae_helpers.core.settings import MODE_ENV


def snapshot(folder: Path) -> dict[str, tuple[str, int]]:
    """Content hash and modification time of every file in ``folder``."""
    return {p.name: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(folder.iterdir()) if p.is_file()}


def run_cli(*args, env=None, timeout=600):
    exe = shutil.which("vae-course", path=os.path.dirname(sys.executable))
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


@pytest.mark.skipif(not PLOTS_DIR.is_dir(), reason="needs the repository's plots/ folder")
def test_smoke_run_from_the_environment_never_touches_plots(tmp_path):
    """VAE_COURSE_MODE=smoke and no --mode, no --out: the figures go to a temporary folder."""
    before = snapshot(PLOTS_DIR)
    done = run_cli("plots", env={MODE_ENV: "smoke"})   # the test run's model cache, shared with test_figures.py
    assert done.returncode == 0, done.stderr[-3000:]
    assert snapshot(PLOTS_DIR) == before
    first = done.stdout.splitlines()[0]
    assert first.startswith("vae-course plots: smoke settings, fashion_mnist, latent dim 16")
    out = Path(first.rsplit("figures go to ", 1)[1])
    assert out.resolve() != PLOTS_DIR.resolve() and sorted(p.name for p in out.iterdir()) == sorted(FIGURES.values())
    shutil.rmtree(out)

    refused = run_cli("plots", "--mode", "smoke", "--out", str(PLOTS_DIR))
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr.count("\n") == 1 and "argument --out: smoke-mode figures must not replace the committed ones" in refused.stderr
    assert snapshot(PLOTS_DIR) == before


def no_work(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("work started although an option was bad")
    monkeypatch.setattr(figures, "regenerate_plots", refuse)
    monkeypatch.setattr(figures, "train_vae", refuse)


@pytest.mark.parametrize("argv, message", [
    (["plots", "--beta", "inf"], "argument --beta: must be a finite number >= 0, received 'inf'"),
    (["plots", "--beta", "nan"], "argument --beta: must be a finite number >= 0, received 'nan'"),
    # negative numbers and infinities are values that the option's check refuses, not missing arguments
    (["plots", "--beta", "-inf"], "argument --beta: must be a finite number >= 0, received '-inf'"),
    (["plots", "--beta", "-1"], "argument --beta: must be a finite number >= 0, received '-1'"),
    (["plots", "--beta", "-1e3"], "argument --beta: must be a finite number >= 0, received '-1e3'"),
    (["plots", "--beta", "-.5"], "argument --beta: must be a finite number >= 0, received '-.5'"),
    (["plots", "--beta", "-nan"], "argument --beta: must be a finite number >= 0, received '-nan'"),
    (["plots", "--beta", "-Infinity", "--seed", "1"], "argument --beta: must be a finite number >= 0, received '-Infinity'"),
    (["plots", "--seed", "-1e3"], "argument --seed: must be an integer in [0, 4294967295], received '-1e3'"),
    (["plots", "--epochs", "-inf"], "argument --epochs: must be an integer in [1, 10000], received '-inf'"),
    (["plots", "--batch-size", "0"], "argument --batch-size: must be an integer in [1, 65536], received '0'"),
    (["plots", "--batch-size", "-64"], "argument --batch-size: must be an integer in [1, 65536], received '-64'"),
    (["plots", "--epochs", "0"], "argument --epochs: must be an integer in [1, 10000], received '0'"),
    (["plots", "--latent-dim", "1"], "argument --latent-dim: must be an integer in [2, 1024], received '1'"),
    (["plots", "--seed", "-1"], "argument --seed: must be an integer in [0, 4294967295], received '-1'"),
    (["plots", "--dataset", "cifar10"], "argument --dataset: invalid choice: 'cifar10'"),
    (["plots", "--mode", "fast"], "argument --mode: invalid choice: 'fast'"),
    (["run-notebooks", "--timeout", "0"], "argument --timeout: must be an integer >= 1, received '0'"),
    (["plots", "--strategy", "tpu"], "argument --strategy: invalid choice: 'tpu'"),
    (["plots", "--logical-cpus", "1"], "argument --logical-cpus: must be an integer in [2, 64], received '1'"),
])
def test_bad_options_are_one_line_before_any_work(argv, message, monkeypatch, capsys):
    no_work(monkeypatch)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert err.startswith("vae-course: error: ") and err.count("\n") == 1 and message in err


def test_logical_cpus_without_mirrored_is_one_line_before_any_work(monkeypatch, capsys):
    no_work(monkeypatch)
    assert cli.main(["plots", "--logical-cpus", "2"]) == 2
    err = capsys.readouterr().err
    assert err == "vae-course: error: argument --logical-cpus: only with --strategy mirrored (received --strategy none)\n"


def test_out_that_is_a_file_or_read_only_is_refused_before_training(tmp_path, monkeypatch, capsys):
    no_work(monkeypatch)
    (tmp_path / "file").write_text("x")
    assert cli.main(["plots", "--mode", "smoke", "--out", str(tmp_path / "file")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "argument --out must be a folder, but" in err and "is a file" in err

    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, m, *a, **k: False if Path(p) == tmp_path and m & os.W_OK else real_access(p, m))
    assert cli.main(["plots", "--mode", "smoke", "--out", str(tmp_path / "new")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "argument --out must be a writable folder" in err and "read-only" in err


def test_bad_mode_variable_is_one_line(monkeypatch, capsys):
    no_work(monkeypatch)
    monkeypatch.setenv(MODE_ENV, "fast")
    assert cli.main(["plots"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "`$VAE_COURSE_MODE` must be one of full, smoke. Received: $VAE_COURSE_MODE='fast'" in err


def test_run_notebooks_checks_every_file_before_running_any(tmp_path, monkeypatch, capsys):
    import vae_helpers.notebook as notebook

    monkeypatch.setattr(notebook, "execute_notebook", lambda *a, **k: pytest.fail("a notebook ran"))
    good = tmp_path / "good.ipynb"
    good.write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    (tmp_path / "data.ipynb").write_text(json.dumps({"not": "a notebook"}))
    (tmp_path / "broken.ipynb").write_text("{")
    (tmp_path / "notes.txt").write_text("hello")
    cases = {str(tmp_path / "missing.ipynb"): "is not a file",
             str(tmp_path / "data.ipynb"): "is not a valid notebook",
             str(tmp_path / "broken.ipynb"): "is not a valid notebook",
             str(tmp_path / "notes.txt"): "is not a .ipynb notebook"}
    for path, message in cases.items():
        assert cli.main(["run-notebooks", "--mode", "smoke", str(good), path]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("vae-course: error: argument notebooks: ") and message in err


def test_a_failure_during_work_is_one_line_and_traceback_on_request(tmp_path, monkeypatch, capsys):
    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(figures, "regenerate_plots", disk_full)
    assert cli.main(["plots", "--mode", "smoke", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err == "vae-course: error: OSError: [Errno 28] No space left on device (run with --traceback for details)\n"
    with pytest.raises(OSError, match="No space left"):
        cli.main(["--traceback", "plots", "--mode", "smoke", "--out", str(tmp_path)])


def test_a_failed_notebook_cell_is_one_line(tmp_path, monkeypatch, capsys):
    import vae_helpers.notebook as notebook

    class CellExecutionError(Exception):
        ename, evalue = "AssertionError", "the loss is NaN"
    monkeypatch.setattr(notebook, "execute_notebook", lambda *a, **k: (_ for _ in ()).throw(CellExecutionError("long\ntraceback")))
    good = tmp_path / "01_x.ipynb"
    good.write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    assert cli.main(["run-notebooks", str(good)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "01_x.ipynb failed in a cell with AssertionError: the loss is NaN" in err


def test_tensorboard_dir_that_is_a_file_is_refused_before_training(tmp_path, monkeypatch, capsys):
    no_work(monkeypatch)
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert cli.main(["plots", "--mode", "smoke", "--out", str(tmp_path / "out"), "--tensorboard", str(blocker)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("vae-course: error: argument --tensorboard") and err.count("\n") == 1


class _Replicas:
    """What ``_plots`` reads of a tf.distribute strategy: its number of replicas."""

    def __init__(self, n):
        self.num_replicas_in_sync = n


@pytest.mark.parametrize("replicas, batch_size, used", [
    (None, None, 128), (None, "100", 100), (2, None, 128),
    (3, None, 129), (5, None, 130), (6, None, 126), (7, None, 126), (200, None, 200),   # the default, rounded
    (3, "96", 96), (7, "7", 7),
])
def test_batch_size_reaches_the_training_and_splits_between_any_number_of_replicas(replicas, batch_size, used, tmp_path,
                                                                                   monkeypatch, capsys):
    seen = []

    def regenerate_plots(config, **kwargs):
        seen.append((config.batch_size, kwargs["strategy"]))
        result = type("Result", (), {"from_cache": True, "path": None})()
        return type("Report", (), {"result": result, "paths": [], "seconds": {}})()
    monkeypatch.setattr(figures, "regenerate_plots", regenerate_plots)
    monkeypatch.setattr(cli, "_strategy", lambda args: None if replicas is None else _Replicas(replicas))
    argv = ["plots", "--mode", "smoke", "--out", str(tmp_path)] + (["--batch-size", batch_size] if batch_size else [])
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert [size for size, _ in seen] == [used] and f", batch {used}, seed 42;" in out.splitlines()[0]
    note = (f"the default batch of 128 images does not split evenly between the {replicas} replicas; using a batch of "
            f"{used} ({used // (replicas or 1)} per replica; choose another with --batch-size)")
    assert (note in out) == (used != 128 and batch_size is None), out


def test_a_batch_size_that_does_not_split_between_the_replicas_is_refused_before_training(monkeypatch, capsys, tmp_path):
    no_work(monkeypatch)
    monkeypatch.setattr(cli, "_strategy", lambda args: _Replicas(3))
    assert cli.main(["plots", "--mode", "smoke", "--out", str(tmp_path), "--batch-size", "128"]) == 2
    assert capsys.readouterr().err == ("vae-course: error: argument --batch-size must be a multiple of the 3 replicas of "
                                       "the strategy, so that each batch splits evenly; try 126 or 129. Received: "
                                       "--batch-size 128\n")


def test_a_mirrored_smoke_run_on_three_replicas_trains_with_a_batch_that_splits(tmp_path):
    """Three logical CPUs stand for three GPUs: the default batch of 128 cannot split, so it becomes 129."""
    done = run_cli("plots", "--mode", "smoke", "--dataset", "digits", "--latent-dim", "2", "--strategy", "mirrored",
                   "--logical-cpus", "3", "--out", str(tmp_path / "out"), env={"TF_CPP_MIN_LOG_LEVEL": "2"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert "training with MirroredStrategy on 3 replicas" in done.stdout
    assert "using a batch of 129 (43 per replica; choose another with --batch-size)" in done.stdout
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(FIGURES.values())
