"""The model cache: one folder per trained model, keyed by everything that determines its weights.

An entry ``<cache_dir>/<key>/`` holds ``vae.weights.h5`` (weights and optimizer state),
``history.json`` (the Keras history), ``snapshots.npz`` when the model recorded per-epoch
snapshots, and ``meta.json``: the key material (configuration and library versions) and a
SHA-256 of each file. :func:`load_or_train` loads an entry only if its metadata matches and every
checksum passes; anything else is retrained, never silently used. Entries are written into a
hidden temporary folder and moved into place in one step, so a crash never leaves half an entry.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import hashlib
import io
import json
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["CACHE_ENV", "CacheNotWritableError", "CacheWarning", "META_FILE", "NotEnoughSpaceError", "Trained",
           "WEIGHTS_FILE", "check_apart", "check_free_space", "default_cache_dir", "entry_bytes", "key_digest",
           "library_versions", "load_or_train", "resolve_cache_dir", "save_entry_or_warn"]

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


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


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
    meta = json.loads((entry / META_FILE).read_text())
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


STALE_SAVE_SECONDS = 3600  # a save takes seconds; a hidden save folder this old was left by a killed process


def _remove_stale_saves(entry: Path) -> None:
    """Remove the hidden temporary folders that a killed save of ``entry`` left behind (older than an hour)."""
    now = time.time()
    for stale in entry.parent.glob(f".{glob.escape(entry.name)}-*"):
        try:
            if stale.is_dir() and not stale.is_symlink() and now - stale.stat().st_mtime > STALE_SAVE_SECONDS:
                shutil.rmtree(stale, ignore_errors=True)
        except OSError:
            pass


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
    _remove_stale_saves(entry)
    check_free_space(entry.parent, entry_bytes(model, history, snapshots))
    tmp = Path(tempfile.mkdtemp(prefix=f".{entry.name}-", dir=entry.parent))
    try:
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
        if entry.is_symlink() or entry.is_file():  # a stray file or link: removed, whatever it points to is kept
            entry.unlink()
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
    if entry.is_symlink() or (entry.exists() and not entry.is_dir()):  # never followed: it could be another model's
        kind = "a symbolic link" if entry.is_symlink() else "a file"
        print(f"Cache entry {entry.name} is unusable ({kind}, not a folder: {entry}); it will be replaced; retraining.")
    elif entry.exists() and not retrain:
        try:
            _verify_entry(entry, key_material, files)
            with scope():
                model = build()
                _load_weights(model, entry)
            history = json.loads((entry / _HISTORY_FILE).read_text())
            snapshots = None
            if with_snapshots:
                with np.load(entry / _SNAPSHOTS_FILE) as npz:
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
