"""The model cache's own files: the folders of killed saves are removed (never one a live process is writing), an
entry file that is a FIFO never blocks, and a cache folder that is a looping or broken link is named as such."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from vae_helpers.training import cache
from vae_helpers.training.cache import CACHE_ENV, SAVING_PREFIX, STALE_SAVE_SECONDS, remove_stale_saves
from vae_helpers.training.trainer import TrainConfig, train_vae

TINY = TrainConfig(dataset="digits", latent_dim=2, epochs=1, batch_size=64, n_train=128, n_test=64,
                   filters=(8,), dense_units=16)
OTHER_KEY = "digits-z2-beta1-e1-0123456789abcdef"   # another model's key: the saves below are not of TINY

# A real save in another process (a stand-in model, so that TensorFlow need not start): it writes a megabyte of
# weights into its hidden folder, then is killed there ("die") or keeps writing until the test ends ("live").
SAVER = textwrap.dedent("""
    import os, signal, sys, time, types
    from pathlib import Path
    from vae_helpers.training import cache
    def write(model, path):
        Path(path).write_bytes(b"x" * 1_000_000)
        if sys.argv[2] == "die":
            os.kill(os.getpid(), signal.SIGKILL)
        print("writing", flush=True)
        time.sleep(600)
    cache._write_weights = write
    model = types.SimpleNamespace(variables=[], optimizer=None)
    cache.save_entry_or_warn(Path(sys.argv[1]) / sys.argv[3], model, {"config": {}}, {"loss": [1.0]})
""")


def _saver(cache_dir, how: str, key: str = OTHER_KEY) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", SAVER, str(cache_dir), how, key], stdout=subprocess.PIPE, text=True)


def _save_folders(cache_dir) -> list[str]:
    return sorted(p.name for p in cache_dir.iterdir() if p.name.startswith(SAVING_PREFIX))


def test_a_killed_save_is_removed_when_the_cache_is_next_opened_but_never_a_live_one(tmp_path):
    cache_dir = tmp_path / "cache"
    cache_dir.mkdir()
    killed = _saver(cache_dir, "die")
    assert killed.wait(120) == -9
    (dead,) = _save_folders(cache_dir)                        # what the killed process left: a megabyte
    assert (cache_dir / dead / "vae.weights.h5").stat().st_size == 1_000_000
    live = _saver(cache_dir, "live", key=OTHER_KEY.replace("0123", "4567"))
    try:
        assert live.stdout.readline() == "writing\n"
        (writing,) = set(_save_folders(cache_dir)) - {dead}
        old = time.time() - 10 * STALE_SAVE_SECONDS           # however old: its writer is alive
        os.utime(cache_dir / writing, (old, old))
        result = train_vae(TINY, cache_dir=cache_dir, verbose=0)   # another key; nothing waits for an hour
        assert not (cache_dir / dead).exists() and (cache_dir / writing / "vae.weights.h5").is_file()
        assert result.path.is_dir() and not (result.path / ".saving.lock").exists()
        assert train_vae(TINY, cache_dir=cache_dir, verbose=0).from_cache  # opening the cache keeps the live save too
        assert (cache_dir / writing).is_dir()
    finally:
        live.kill()
        live.wait(60)
    assert remove_stale_saves(cache_dir) == [cache_dir / writing] and _save_folders(cache_dir) == []


def test_save_folders_without_a_lock_go_by_their_age_and_nothing_else_is_touched(tmp_path):
    old = time.time() - 2 * STALE_SAVE_SECONDS
    names = {f"{SAVING_PREFIX}{OTHER_KEY}-old": old, f"{SAVING_PREFIX}{OTHER_KEY}-new": None,
             f".{OTHER_KEY}-abcd1234": old,             # an older version's save folder
             ".write-test-abcd1234": old, ".git": old, ".config": old, "notes": old}
    for name, mtime in names.items():
        (tmp_path / name).mkdir()
        if mtime is not None:
            os.utime(tmp_path / name, (mtime, mtime))
    (tmp_path / f"{SAVING_PREFIX}link").symlink_to(tmp_path / ".config")   # a link is never followed
    for age in ("old", "new"):   # a free lock taken on another machine may not show here: these go by their age too
        folder = tmp_path / f"{SAVING_PREFIX}{OTHER_KEY}-elsewhere-{age}"
        folder.mkdir()
        (folder / ".saving.lock").write_text("another-machine\n")
        if age == "old":
            os.utime(folder, (old, old))
    removed = remove_stale_saves(tmp_path)
    assert sorted(p.name for p in removed) == sorted([f"{SAVING_PREFIX}{OTHER_KEY}-old", f".{OTHER_KEY}-abcd1234",
                                                      ".write-test-abcd1234", f"{SAVING_PREFIX}{OTHER_KEY}-elsewhere-old"])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([".config", ".git", "notes", f"{SAVING_PREFIX}link",
                                                                 f"{SAVING_PREFIX}{OTHER_KEY}-new",
                                                                 f"{SAVING_PREFIX}{OTHER_KEY}-elsewhere-new"])
    assert remove_stale_saves(tmp_path / "missing") == []


@pytest.mark.parametrize("name", ["meta.json", "vae.weights.h5", "history.json"])
def test_an_entry_file_that_links_to_a_fifo_is_unusable_and_never_blocks(name, tmp_path, capsys):
    cache_dir = tmp_path / "cache"
    entry = train_vae(TINY, cache_dir=cache_dir, verbose=0).path
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    (entry / name).unlink()
    (entry / name).symlink_to(fifo)
    capsys.readouterr()
    outcome = {}
    thread = threading.Thread(target=lambda: outcome.update(result=train_vae(TINY, cache_dir=cache_dir, verbose=0)),
                              daemon=True)
    thread.start()
    thread.join(300)
    if thread.is_alive():   # blocked in open() or read() of the FIFO: release it, then fail
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(60)
        pytest.fail(f"train_vae blocked on the FIFO behind {name}")
    assert not outcome["result"].from_cache
    assert (f"Cache entry {TINY.key()} is unusable (ValueError: its file {name} is not a regular file but a FIFO "
            "(named pipe)); retraining.") in capsys.readouterr().out
    assert not (entry / name).is_symlink() and (entry / name).is_file() and fifo.exists()
    assert train_vae(TINY, cache_dir=cache_dir, verbose=0).from_cache


def _refuse_training(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("training started")
    monkeypatch.setattr(cache, "_check_cache_writable", refuse)


def test_a_cache_folder_that_is_a_looping_or_broken_link_is_named(tmp_path, monkeypatch):
    _refuse_training(monkeypatch)
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    (tmp_path / "broken").symlink_to(tmp_path / "nowhere")
    loops = "a symbolic link that loops (Too many levels of symbolic links)"
    cases = {
        tmp_path / "loop": f"`cache_dir` must be a folder, but '{tmp_path / 'loop'}' is {loops}",
        tmp_path / "a": f"`cache_dir` must be a folder, but '{tmp_path / 'a'}' is {loops}",
        tmp_path / "loop" / "models": f"'{tmp_path / 'loop' / 'models'}' goes through '{tmp_path / 'loop'}', which is {loops}",
        tmp_path / "broken": f"'{tmp_path / 'broken'}' is a symbolic link to '{tmp_path / 'nowhere'}', which does not exist",
    }
    for folder, message in cases.items():
        with pytest.raises(ValueError) as info:
            train_vae(TINY, cache_dir=folder, verbose=0)
        assert message in str(info.value) and f"Received: cache_dir='{folder}'" in str(info.value)
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "loop"))
    with pytest.raises(ValueError, match=rf"`\${CACHE_ENV}` must be a folder, but .* is a symbolic link that loops"):
        train_vae(TINY, verbose=0)
