"""Full disks lose nothing and say so: the model cache (no HDF5 crash at exit) and a TensorBoard run (no silent truncation).

Each case runs on a real full disk, a small tmpfs, where one can be mounted (Linux, as root), and
by patching the write everywhere.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import uuid
import warnings
from pathlib import Path

import pytest

from vae_helpers.training import cache
from vae_helpers.training import tensorboard as tbl
from vae_helpers.training.tensorboard import TensorBoardWarning, read_run
from vae_helpers.core.tf_startup import tf
from vae_helpers.training.trainer import TrainConfig, train_vae

TINY = TrainConfig(dataset="digits", latent_dim=2, epochs=3, batch_size=64, n_train=128, n_test=64,
                   filters=(8,), dense_units=16)


@pytest.fixture
def tiny_disk(tmp_path):
    """A 64 KiB tmpfs, or a skip where none can be mounted."""
    where = tmp_path / f"disk-{uuid.uuid4().hex[:6]}"
    where.mkdir()
    if shutil.which("mount") is None or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root on Linux")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(where)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def _fill(folder: Path) -> None:
    """Fill the disk under ``folder`` to the last byte."""
    fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        while os.write(fd, b"\0" * 1024):
            pass
    except OSError:
        pass
    finally:
        os.close(fd)


def test_a_cache_that_cannot_hold_the_entry_is_not_written_and_the_model_is_returned(tmp_path, monkeypatch):
    monkeypatch.setattr(cache.shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10**9, 10**9 - 5000, 5000))
    with pytest.warns(cache.CacheWarning, match=r"No space left on device: the entry needs about 0\.\d MB and 0\.0 MB "
                                                r"are free in .*; it is returned but will be trained again next time"):
        result = train_vae(TINY, cache_dir=tmp_path / "c", verbose=0)
    assert result.path is None and not result.from_cache and len(result.history["loss"]) == 3
    assert list((tmp_path / "c").iterdir()) == []   # no half entry, no hidden save folder
    assert result.model.decode(result.model.encode(result.model.sample(2))[0]).shape == (2, 8, 8, 1)


def test_entry_bytes_is_an_upper_bound_close_to_the_real_entry(tmp_path):
    result = train_vae(TINY, cache_dir=tmp_path, verbose=0)
    real = sum(f.stat().st_size for f in result.path.iterdir())
    estimate = cache.entry_bytes(result.model, result.history)
    assert real < estimate < real * 1.5 + 512 * 1024, (real, estimate)


SAVE_INTO_FULL_DISK = textwrap.dedent("""
    import sys, warnings
    from pathlib import Path
    import numpy as np
    from vae_helpers.training import cache
    from vae_helpers.core.tf_startup import keras
    cache.check_free_space = lambda folder, needed: None   # the disk fills up during the save, after the check
    model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(400), keras.layers.Dense(10)])
    model.compile("adam", "mse")
    model.fit(np.zeros((8, 784)), np.zeros((8, 10)), verbose=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        path = cache.save_entry_or_warn(Path(sys.argv[1]) / "entry", model, {"k": 1}, {"loss": [1.0]})
    print(path, [str(w.message) for w in caught])
""")


def test_a_disk_that_fills_up_during_the_save_ends_in_a_warning_not_a_crash(tiny_disk):
    """HDF5 writing straight to a full disk left a broken file that crashed the process at exit (exit 139)."""
    _fill(tiny_disk)
    done = subprocess.run([sys.executable, "-c", SAVE_INTO_FULL_DISK, str(tiny_disk)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith("None [") and "No space left on device" in done.stdout, done.stdout
    assert "Traceback" not in done.stderr and "decrement id ref count" not in done.stderr, done.stderr[-3000:]
    assert sorted(p.name for p in tiny_disk.iterdir()) == ["filler"]


class _FailingWriter:
    """A summary writer whose flushes fail from the ``fail_from``-th one on, as on a disk that fills up."""

    def __init__(self, writer, fail_from: int):
        self.writer, self.fail_from, self.flushes = writer, fail_from, 0

    def flush(self):
        self.flushes += 1
        if self.flushes >= self.fail_from:
            raise tf.errors.ResourceExhaustedError(None, None, "{{function_node x}} /runs/x/train/events; "
                                                               "No space left on device\n\tFailed to flush 1 events")
        self.writer.flush()

    def __getattr__(self, name):
        return getattr(self.writer, name)


def test_a_failing_tensorboard_write_keeps_the_training_and_says_the_run_is_incomplete(tmp_path, monkeypatch, capsys):
    real = tf.summary.create_file_writer
    monkeypatch.setattr(tbl.tf.summary, "create_file_writer", lambda logdir: _FailingWriter(real(logdir), fail_from=3))
    with pytest.warns(TensorBoardWarning, match=r"The TensorBoard run .* is incomplete \(No space left on device\)\. "
                                                r"The model itself is trained: it is cached in .*, so running again"):
        result = train_vae(TINY, cache_dir=tmp_path / "c", tensorboard_dir=tmp_path / "runs", verbose=0)
    assert len(result.history["loss"]) == 3 and result.path is not None   # trained to the end and cached
    out = capsys.readouterr().out
    assert out.count("could not be written (No space left on device); training goes on without it") == 1, out
    monkeypatch.undo()
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # the rerun writes the whole run from the cache, with no warning
        again = train_vae(TINY, cache_dir=tmp_path / "c", tensorboard_dir=tmp_path / "runs", verbose=0)
    assert again.from_cache
    assert [s for s, _ in read_run(tmp_path / "runs" / TINY.key())["validation"]["loss"]] == [1, 2, 3]


def test_check_run_reads_the_run_back(tmp_path):
    assert tbl.write_history(tmp_path / "r", {"loss": [3.0, 2.0], "val_loss": [4.0, 3.5]}) is None
    assert tbl.check_run(tmp_path / "r", 2) is None
    assert tbl.check_run(tmp_path / "r", 3) == "train holds the loss of 2 of 3 epochs"
    (event,) = (tmp_path / "r" / "train").glob("events.out.tfevents.*")
    event.write_bytes(event.read_bytes()[:-7])          # a record cut short, as a full disk leaves it
    assert "truncated record" in tbl.check_run(tmp_path / "r", 2)


def test_the_cli_fails_when_the_tensorboard_disk_is_full_but_keeps_model_and_figures(tiny_disk, tmp_path):
    _fill(tiny_disk)
    env = {**os.environ, cache.CACHE_ENV: str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-m", "vae_helpers.cli", "plots", "--mode", "smoke", "--dataset", "digits",
                           "--latent-dim", "2", "--tensorboard", str(tiny_disk), "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=900, env=env)
    assert done.returncode == 1, done.stderr[-3000:]
    assert "vae-course: warning: The TensorBoard run" in done.stderr and "No space left on device" in done.stderr
    assert done.stderr.rstrip().splitlines()[-1] == ("vae-course: error: the figures were written, but the TensorBoard "
                                                      "run is incomplete (see the warning above)")
    assert len(list((tmp_path / "out").iterdir())) == 4 and len(list((tmp_path / "cache").iterdir())) == 1
