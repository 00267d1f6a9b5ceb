"""The model cache: one folder per trained model, keyed by everything that determines its weights.

An entry ``<cache_dir>/<key>/`` holds ``vae.weights.h5`` (weights and optimizer state),
``history.json`` (the Keras history), ``snapshots.npz`` when the model recorded per-epoch
snapshots, and ``meta.json``: the key material (configuration and library versions) and a
SHA-256 of each file. :func:`load_or_train` loads an entry only if its metadata matches and every
checksum passes; anything else is retrained, never silently used. Entries are written into a
hidden temporary folder (``.saving-<key>-*``) and moved into place in one step, so a crash never
leaves half an entry. The writer holds a lock on a file in that folder while it writes; a folder
whose lock is free was left by a killed process and is removed the next time the cache is opened
(:func:`remove_stale_saves`), whatever its key. The files of an entry are read only if they are
regular files: a FIFO or a device there (or a link to one) makes the entry unusable, never a read
that blocks.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import os
import re
import shutil
import socket
import stat
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; a stale save folder is then recognised by its age alone
    fcntl = None

__all__ = ["CACHE_ENV", "CacheNotWritableError", "CacheWarning", "META_FILE", "NotEnoughSpaceError", "SAVING_PREFIX",
           "STALE_SAVE_SECONDS", "Trained", "WEIGHTS_FILE", "check_apart", "check_free_space", "default_cache_dir",
           "entry_bytes", "key_digest", "library_versions", "load_or_train", "remove_stale_saves", "resolve_cache_dir",
           "save_entry_or_warn"]

CACHE_ENV = "VAE_COURSE_CACHE"
WEIGHTS_FILE, _HISTORY_FILE, META_FILE = "vae.weights.h5", "history.json", "meta.json"
_SNAPSHOTS_FILE = "snapshots.npz"


class CacheWarning(UserWarning):
    """A trained model could not be written to the cache (the model itself is fine)."""


class CacheNotWritableError(OSError):
    """The model cache folder cannot be written, found before any training starts."""


@dataclass
class Trained:
    """What a cache entry holds: the compiled model, its history and its snapshots (or None)."""

    model: object
    history: dict[str, list[float]]
    snapshots: dict[str, np.ndarray] | None
    path: Path | None
    from_cache: bool


def library_versions() -> dict[str, str]:
    """The library versions a cached model depends on (part of every key)."""
    import keras
    import tensorflow as tf

    from .. import __version__

    return {"vae_helpers": __version__, "keras": keras.__version__, "tensorflow": tf.__version__, "numpy": np.__version__}


def key_digest(key_material: dict) -> str:
    """The hashed part of a cache key: 16 hex digits of the SHA-256 of ``key_material`` (JSON, sorted keys)."""
    return hashlib.sha256(json.dumps(key_material, sort_keys=True).encode()).hexdigest()[:16]


def default_cache_dir() -> Path:
    """``$VAE_COURSE_CACHE`` if set, else ``~/.cache/vae-course/models``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "vae-course" / "models")


def resolve_cache_dir(cache_dir: str | os.PathLike | None) -> Path:
    """``cache_dir``, or :func:`default_cache_dir` when None, checked to be a folder path (it may be read-only).

    Errors name ``$VAE_COURSE_CACHE`` when that is where the folder came from.
    """
    from ..core.checks import check_writable_folder

    arg = f"${CACHE_ENV}" if cache_dir is None and os.environ.get(CACHE_ENV) else "cache_dir"
    return check_writable_folder(arg, default_cache_dir() if cache_dir is None else cache_dir, writable=False)


_FILE_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
               (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def _read_regular(path: Path) -> bytes:
    """The bytes of ``path`` if it is (or links to) a regular file; ValueError otherwise.

    Opened without blocking: reading a FIFO (a link to one, in an entry) would wait for a writer for ever.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = next((name for test, name in _FILE_KINDS if test(mode)), "not a file")
            raise ValueError(f"its file {path.name} is not a regular file but {kind}")
        with os.fdopen(os.dup(fd), "rb") as f:
            return f.read()
    finally:
        os.close(fd)


def _sha256(path: Path) -> str:
    return hashlib.sha256(_read_regular(path)).hexdigest()


def check_apart(arg: str, folder: Path, cache_dir: Path) -> None:
    """Refuse a ``folder`` (a TensorBoard or output folder) that is, contains or lies inside the model cache.

    A TensorBoard run replaces ``<folder>/<key>``, which inside the cache is a model's entry.
    """
    a, b = Path(folder).expanduser().resolve(), Path(cache_dir).expanduser().resolve()
    if a == b or a in b.parents or b in a.parents:
        raise ValueError(f"`{arg}` must not overlap the model cache {str(b)!r}: a run there would replace cached "
                         f"models (or the cache would replace the run). Received: {arg}={str(folder)!r}")


def _check_cache_writable(cache_dir: Path) -> None:
    """Create ``cache_dir`` and write a probe folder in it, or raise :class:`CacheNotWritableError`."""
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        if not os.access(cache_dir, os.W_OK | os.X_OK):
            raise PermissionError(13, "Permission denied (read-only)")
        shutil.rmtree(tempfile.mkdtemp(prefix=".write-test-", dir=cache_dir))
    except OSError as exc:
        raise CacheNotWritableError(
            f"The model cache {str(cache_dir)!r} cannot be written ({type(exc).__name__}: {exc.strerror or exc}); "
            f"nothing was trained. Set ${CACHE_ENV} to a writable folder, or pass cache_dir=."
        ) from exc


def _verify_entry(entry: Path, key_material: dict, files: list[str]) -> None:
    """Raise ValueError unless ``entry`` was saved for ``key_material`` and its ``files`` pass their checksums."""
    meta = json.loads(_read_regular(entry / META_FILE))
    if meta.get("key_material") != json.loads(json.dumps(key_material)):
        raise ValueError("its configuration or library versions differ")
    for name in files:
        if meta.get("sha256", {}).get(name) != _sha256(entry / name):
            raise ValueError(f"its file {name} fails the checksum")


def _load_weights(model, entry: Path) -> None:
    """Load the weights into the compiled ``model``, its optimizer state included.

    The optimizer's variables are created first; otherwise Keras skips the saved optimizer state
    with a UserWarning ("Skipping variable loading for optimizer ...").
    """
    model.optimizer.build(model.trainable_variables)
    model.load_weights(entry / WEIGHTS_FILE)


SAVING_PREFIX = ".saving-"   # an entry being written: <cache_dir>/.saving-<key>-<random>/
_LOCK_FILE = ".saving.lock"   # in it, locked by the writing process for as long as it writes
STALE_SAVE_SECONDS = 600      # a save folder without a lock (an older version's, a lock-less disk) this old is dead
# What the cache's temporary folders are called: saves of this version, saves of older versions (.<key>-<random>,
# a key ends in 16 hex digits) and the probes of _check_cache_writable. Nothing else in the folder is touched.
_TEMPORARY = re.compile(rf"^(?:{re.escape(SAVING_PREFIX)}.+|\..+-[0-9a-f]{{16}}-.+|\.write-test-.+)$")


def _lock_save(folder: Path):
    """Create ``folder``'s lock file already locked (so that it is never seen unlocked while its writer lives).

    The file names this machine: a lock taken on another machine may not be visible here (a network disk that
    locks locally only), so only this machine's free locks are trusted. Returns the open descriptor, held until
    the save ends (the lock goes with the process), or None where the disk or the platform has no locks; such a
    folder is then recognised as stale by its age alone.
    """
    if fcntl is None:
        return None
    draft = folder / f"{_LOCK_FILE}.new"
    fd = os.open(draft, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.write(fd, f"{socket.gethostname()}\n".encode())
    except OSError:
        os.close(fd)
        draft.unlink(missing_ok=True)
        return None
    os.replace(draft, folder / _LOCK_FILE)
    return fd


def _abandoned(folder: Path, age_s: float) -> bool:
    """Whether the save folder ``folder`` (last changed ``age_s`` ago) belongs to no live process."""
    try:
        fd = os.open(folder / _LOCK_FILE, os.O_RDWR | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError:  # no lock file: an older version's save, or one that has just begun or is being installed
        return age_s > STALE_SAVE_SECONDS
    try:
        if fcntl is None:
            return age_s > STALE_SAVE_SECONDS
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False                       # its writer holds the lock: it is alive and writing
        except OSError:                        # this disk has no locks
            return age_s > STALE_SAVE_SECONDS
        if os.read(fd, 256).decode(errors="replace").strip() == socket.gethostname():
            return True                        # the lock was free: its writer, on this machine, is gone
        return age_s > STALE_SAVE_SECONDS      # written from another machine: its lock may not show here
    finally:
        os.close(fd)


def remove_stale_saves(cache_dir: Path) -> list[Path]:
    """Remove the hidden save folders in ``cache_dir`` that no live process is writing; returns those removed.

    A killed save leaves its folder (about the size of an entry). It is removed when its lock is free (its process
    is gone, whatever the key) or, for a folder without a lock, after :data:`STALE_SAVE_SECONDS`. A folder whose
    writer still holds its lock is never touched, however old; links are never followed. Called whenever the cache
    is opened (:func:`load_or_train`) and before every save; a read-only cache is left as it is.
    """
    removed = []
    try:
        names = os.listdir(cache_dir)
    except OSError:
        return removed
    for name in names:
        if not _TEMPORARY.match(name):
            continue
        folder = Path(cache_dir) / name
        try:
            info = os.lstat(folder)
            if not stat.S_ISDIR(info.st_mode) or not _abandoned(folder, time.time() - info.st_mtime):
                continue
            shutil.rmtree(folder)
            removed.append(folder)
        except OSError:  # removed meanwhile by another process, or not ours to remove (read-only)
            continue
    return removed


class NotEnoughSpaceError(OSError):
    """The cache's disk has less free space than an entry needs (found before anything is written)."""


def entry_bytes(model, history: dict, snapshots: dict | None = None) -> int:
    """About how many bytes an entry of ``model`` takes: its and its optimizer's variables, history and snapshots."""
    variables = list(model.variables) + list(getattr(getattr(model, "optimizer", None), "variables", []) or [])
    n = sum(int(np.prod(v.shape)) * np.dtype(getattr(v.dtype, "name", v.dtype)).itemsize for v in variables)
    n += sum(np.asarray(a).nbytes for a in (snapshots or {}).values()) + len(json.dumps(history))
    return int(n * 1.1) + 256 * 1024   # HDF5's own structures, meta.json


def check_free_space(folder: Path, needed: int) -> None:
    """Raise :class:`NotEnoughSpaceError` unless ``folder``'s disk has ``needed`` bytes free.

    HDF5 (under Keras's ``save_weights``) does not fail cleanly on a full disk: it leaves broken
    objects whose clean-up can crash the interpreter at exit, so a save that cannot fit is not begun.
    """
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise NotEnoughSpaceError(errno.ENOSPC, f"No space left on device: the entry needs about {needed / 1e6:.1f} MB "
                                                f"and {free / 1e6:.1f} MB are free in {folder}")


def _write_weights(model, path: Path) -> None:
    """``model.save_weights(path)``, but HDF5 writes into memory and Python writes the file.

    HDF5 does not fail cleanly on a full disk: the broken file it leaves open crashes the process
    when HDF5 shuts down at exit (a segmentation fault after the run has finished). Written from
    memory, a full disk is an ordinary ``OSError``. Keras's ``H5IOStore`` writes the same
    ``.weights.h5`` format to a file or to ``io.BytesIO``; a Keras without it gets its own save
    (after :func:`check_free_space`).
    """
    try:
        from keras.src.saving.saving_lib import H5IOStore, _save_state
    except ImportError:
        model.save_weights(path)
        return
    memory = io.BytesIO()
    store = H5IOStore(memory, mode="w")
    _save_state(model, weights_store=store, assets_store=None, inner_path="", visited_saveables=set())
    store.close()
    with open(path, "wb") as f:
        f.write(memory.getbuffer())


def _save_entry(entry: Path, model, key_material: dict, history: dict, snapshots: dict | None = None) -> Path:
    """Write a cache entry into a hidden temporary folder, then move it into place in one step."""
    remove_stale_saves(entry.parent)
    check_free_space(entry.parent, entry_bytes(model, history, snapshots))
    tmp = Path(tempfile.mkdtemp(prefix=f"{SAVING_PREFIX}{entry.name}-", dir=entry.parent))
    lock = None
    try:
        lock = _lock_save(tmp)
        with warnings.catch_warnings():  # Keras's numpy-2 DeprecationWarning must not lose a finished training
            warnings.simplefilter("ignore", DeprecationWarning)   # under python -W error
            _write_weights(model, tmp / WEIGHTS_FILE)
        (tmp / _HISTORY_FILE).write_text(json.dumps(history, indent=1))
        files = [WEIGHTS_FILE, _HISTORY_FILE]
        if snapshots is not None:
            np.savez_compressed(tmp / _SNAPSHOTS_FILE, **snapshots)
            files.append(_SNAPSHOTS_FILE)
        meta = {"key_material": key_material, "sha256": {name: _sha256(tmp / name) for name in files}}
        (tmp / META_FILE).write_text(json.dumps(meta, indent=1))
        (tmp / _LOCK_FILE).unlink(missing_ok=True)   # not part of the entry (the lock itself stays held until the end)
        if entry.is_symlink() or (entry.exists() and not entry.is_dir()):  # a stray file, FIFO or link: removed,
            entry.unlink()                                                  # whatever a link points to is kept
        elif entry.exists():  # retrain=True, or an unusable entry: replace it
            shutil.rmtree(entry, ignore_errors=True)
        try:
            os.replace(tmp, entry)
        except OSError:
            # Another process installed the same configuration between the check and the move
            # (its weights are the same: same config, same seed). Keep its entry, drop ours.
            if not (entry / META_FILE).is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if lock is not None:
            os.close(lock)
    return entry


def save_entry_or_warn(entry: Path, model, key_material: dict, history: dict,
                       snapshots: dict | None = None) -> Path | None:
    """:func:`_save_entry`, but a failure only warns (:class:`CacheWarning`) and returns None.

    A finished training is never thrown away because the cache could not be written.
    """
    try:
        return _save_entry(entry, model, key_material, history, snapshots)
    except Exception as exc:  # a full disk, a vanished folder, an h5py error: the model in hand is still good
        warnings.warn(f"The trained model could not be saved in the cache ({type(exc).__name__}: {_reason(exc)}); "
                      f"it is returned but will be trained again next time. Cache entry: {entry}",
                      CacheWarning, stacklevel=3)
        return None


def _reason(exc: Exception) -> str:
    """One line: our own message, or the system's words for an errno (h5py's message runs over several lines)."""
    if isinstance(exc, NotEnoughSpaceError) or not getattr(exc, "errno", None):
        return " ".join(str(exc).split())[:300]
    return f"[Errno {exc.errno}] {os.strerror(exc.errno)}"


def load_or_train(entry: Path, key_material: dict, build: Callable[[], object],
                  train: Callable[[object], tuple[dict, dict | None]], retrain: bool = False,
                  with_snapshots: bool = False, scope: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
                  ) -> Trained:
    """Load the entry for ``key_material``, or build, train and save it: the one train-or-load flow.

    Args:
        entry: the entry's folder, ``<cache_dir>/<key>``.
        key_material: what the entry must have been saved for (compared with its ``meta.json``).
        build: returns a fresh compiled model (used both to load into and to train).
        train: trains the model in place and returns ``(history, snapshots or None)``.
        retrain: ignore an existing entry (it is replaced).
        with_snapshots: the entry also holds ``snapshots.npz``.
        scope: a context for building and loading (a ``tf.distribute`` strategy's ``scope``).
    """
    files = [WEIGHTS_FILE, _HISTORY_FILE] + ([_SNAPSHOTS_FILE] if with_snapshots else [])
    remove_stale_saves(entry.parent)  # the folders of saves that were killed, whatever their key
    if entry.is_symlink() or (entry.exists() and not entry.is_dir()):  # never followed: it could be another model's
        kind = "a symbolic link" if entry.is_symlink() else "a file"
        print(f"Cache entry {entry.name} is unusable ({kind}, not a folder: {entry}); it will be replaced; retraining.")
    elif entry.exists() and not retrain:
        try:
            _verify_entry(entry, key_material, files)
            with scope():
                model = build()
                _load_weights(model, entry)
            history = json.loads(_read_regular(entry / _HISTORY_FILE))
            snapshots = None
            if with_snapshots:
                with np.load(io.BytesIO(_read_regular(entry / _SNAPSHOTS_FILE))) as npz:
                    snapshots = {k: npz[k] for k in npz.files}
            return Trained(model, history, snapshots, entry, from_cache=True)
        except Exception as exc:  # corrupt or mismatched: never use it
            print(f"Cache entry {entry.name} is unusable ({type(exc).__name__}: {exc}); retraining.")
    _check_cache_writable(entry.parent)  # before training, not after: a full training takes many minutes
    with scope():
        model = build()
    history, snapshots = train(model)
    path = save_entry_or_warn(entry, model, key_material, history, snapshots)
    return Trained(model, history, snapshots, path, from_cache=False)
