"""Watch a training run in TensorBoard: the three losses and decoded prior samples, once per epoch.

``train_vae(config, tensorboard_dir="runs")`` (or ``vae-course plots --tensorboard runs``) writes
one TensorBoard run per configuration, ``runs/<config.key()>``, with two sub-runs that
TensorBoard overlays: ``train`` and ``validation``. Each holds the scalars ``loss``,
``reconstruction_loss`` and ``kl_loss`` per epoch; ``train`` also holds the image
``prior_samples``, a grid of the same prior samples decoded before training (step 0) and after
every epoch. Watch it live with ``tensorboard --logdir runs`` (``pip install tensorboard``; it
is in the ``lab`` extras), or in a notebook with ``%load_ext tensorboard`` and
``%tensorboard --logdir runs``.

A model loaded from the cache is not trained again, so its run is written from what the cache
stored: the history, and the per-epoch samples when the config records snapshots (otherwise
the final model's samples only). Writing only needs TensorFlow's ``tf.summary``.
"""

from __future__ import annotations

import contextlib
import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ..models.registry import model_kind
from .callbacks import SampleSnapshots, snapshot_inputs
from ..core.checks import check_images, check_int
from ..data.datasets import pixel_levels
from ..core.tf_startup import tf

__all__ = ["IMAGE_TAG", "RunWriter", "TENSORBOARD_SAMPLES", "TensorBoardLogger", "TensorBoardWarning", "check_run",
           "read_run", "run_samples", "tile", "write_cached_run", "write_history"]

_SPLITS = ("train", "validation")
IMAGE_TAG = "prior_samples"
_N_COLS = 8


def tile(images: np.ndarray, n_cols: int = _N_COLS) -> np.ndarray:
    """``(n, h, w, c)`` images as one ``(rows * h, n_cols * w, c)`` grid, empty cells left black."""
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"`images` must have shape (n, height, width, channels). Received: shape={images.shape}")
    n_cols = check_int("n_cols", n_cols, 1)
    n, h, w, c = images.shape
    n_cols = min(n_cols, n)
    rows = -(-n // n_cols)
    grid = np.zeros((rows * n_cols, h, w, c), dtype=images.dtype)
    grid[:n] = images
    return grid.reshape(rows, n_cols, h, w, c).transpose(0, 2, 1, 3, 4).reshape(rows * h, n_cols * w, c)


def _as_uint8(images: np.ndarray) -> np.ndarray:
    """uint8 images as they are; floats (a decoder's means may overshoot [0, 1] a little) clipped, NaN refused by name."""
    images = np.asarray(images)
    if images.dtype == np.uint8:
        check_images("images", images / 255)      # the shape
        return images
    return pixel_levels(check_images("images", np.clip(images, 0, 1))).astype("uint8")


def _reason(exc: Exception) -> str:
    """The gist of a TensorFlow write error, in one line: "No space left on device", not the op and the path."""
    message = re.sub(r"\{\{.*?\}\}\s*", "", getattr(exc, "message", None) or str(exc)).strip()
    first = message.splitlines()[0] if message else type(exc).__name__
    return first.rsplit("; ", 1)[-1][:300]


class RunWriter:
    """The two summary writers of one run (``train`` and ``validation``) and how an epoch is written.

    A write that fails (a full disk, a folder removed under it) does not stop the training that
    feeds the run: the first failure is kept in :attr:`error`, printed once, and nothing more is
    written. :func:`check_run` then reports the run as incomplete.
    """

    def __init__(self, run_dir: str | Path, fresh: bool = True):
        self.run_dir = Path(run_dir)
        self.error: str | None = None
        if self.run_dir.is_symlink() or (self.run_dir.exists() and not self.run_dir.is_dir()):
            raise ValueError(f"`run_dir` must be a folder (or not exist yet), but {str(self.run_dir)!r} is a "
                             f"{'symbolic link' if self.run_dir.is_symlink() else 'file'}; remove it or choose another "
                             f"TensorBoard folder. Received: run_dir={str(self.run_dir)!r}")
        if fresh and self.run_dir.exists():  # a rerun replaces the run instead of appending a second curve
            shutil.rmtree(self.run_dir)
        self.writers: dict = {}
        with self._guard():   # a disk that is full already: the run is incomplete from the start
            self.writers = {split: tf.summary.create_file_writer(str(self.run_dir / split)) for split in _SPLITS}

    @contextlib.contextmanager
    def _guard(self):
        """Run a write; on the first failure keep its reason, say it once, and write nothing more."""
        if self.error is not None:
            yield False
            return
        try:
            yield True
        except (tf.errors.OpError, OSError) as exc:
            self.error = _reason(exc)
            print(f"TensorBoard: the run {self.run_dir} could not be written ({self.error}); training goes on "
                  "without it", flush=True)

    def scalars(self, step: int, logs: Mapping[str, float]) -> None:
        """Write ``logs`` at ``step``: ``val_``-prefixed names under ``validation``, the rest under ``train``."""
        with self._guard() as ok:
            for name, value in (logs.items() if ok else ()):
                split, tag = ("validation", name[4:]) if name.startswith("val_") else ("train", name)
                with self.writers[split].as_default():
                    tf.summary.scalar(tag, float(value), step=step)

    def images(self, step: int, images: np.ndarray) -> None:
        """Write ``images`` (``(n, h, w, c)``, floats in [0, 1] or uint8) as one grid at ``step``."""
        with self._guard() as ok:
            if ok:
                with self.writers["train"].as_default():
                    tf.summary.image(IMAGE_TAG, tile(_as_uint8(images))[None], step=step)

    def flush(self) -> None:
        with self._guard() as ok:
            for writer in self.writers.values() if ok else ():
                writer.flush()

    def close(self) -> None:
        for writer in self.writers.values():
            with self._guard():
                writer.close()


class TensorBoardLogger(SampleSnapshots):
    """A Keras callback: per epoch, the losses Keras reports and the decoded ``z_fixed``, flushed at once.

    Args:
        run_dir: the run's folder (replaced if it exists).
        z_fixed: prior samples to decode before training and after every epoch, shape
            ``(n, latent_dim)``; None for the losses only (an autoencoder has no prior to sample).
    """

    def __init__(self, run_dir: str | Path, z_fixed=None):
        self.with_images = z_fixed is not None
        super().__init__(z_fixed if self.with_images else np.zeros((1, 1)), include_initial=True)
        self.run = RunWriter(run_dir)

    def _record(self, epoch: int) -> None:
        super()._record(epoch)
        self.run.images(epoch, self.images.pop())   # written, not kept: a long run would hold them all
        self.epochs.pop()

    def on_train_begin(self, logs=None):
        if self.with_images:
            super().on_train_begin(logs)
            self.run.flush()

    def on_epoch_end(self, epoch, logs=None):
        self.run.scalars(epoch + 1, {k: v for k, v in (logs or {}).items() if len(getattr(v, "shape", ())) == 0})
        if self.with_images:
            super().on_epoch_end(epoch, logs)
        self.run.flush()

    def on_train_end(self, logs=None):
        self.run.close()


def write_history(run_dir: str | Path, history: Mapping[str, Sequence[float]], images: np.ndarray | None = None,
                  image_epochs: Sequence[int] | None = None) -> str | None:
    """Write a finished run (a Keras history and optional per-epoch images) as :class:`TensorBoardLogger` would.

    Args:
        run_dir: the run's folder (replaced if it exists).
        history: lists of per-epoch values; epoch ``i`` (0-based) is written at step ``i + 1``.
            ``epoch_seconds`` is left out.
        images: ``(n_snapshots, n, h, w, c)`` decoded samples, or None.
        image_epochs: the step of each snapshot (default ``0, 1, ...``).

    Returns the first write failure (see :class:`RunWriter`), or None.
    """
    if not isinstance(history, Mapping):
        raise ValueError(f"`history` must be a dict of per-epoch values, as Keras's History.history. Received: history={history!r}")
    run = RunWriter(run_dir)
    series = {k: v for k, v in history.items() if k != "epoch_seconds"}
    for i in range(max(map(len, series.values()), default=0)):
        run.scalars(i + 1, {k: v[i] for k, v in series.items() if i < len(v)})
    if images is not None:
        steps = range(len(images)) if image_epochs is None else image_epochs
        for step, batch in zip(steps, images):
            run.images(int(step), batch)
    run.close()
    return run.error


def read_run(run_dir: str | Path) -> dict[str, dict[str, list[tuple[int, object]]]]:
    """What a run holds: ``{split: {tag: [(step, value), ...]}}``; values are floats, images ``(h, w, c)`` uint8.

    Reads the event files with TensorFlow alone (no ``tensorboard`` package needed); used by the
    tests and handy in a notebook.
    """
    out: dict[str, dict[str, list[tuple[int, object]]]] = {}
    for split in _SPLITS:
        tags: dict[str, list[tuple[int, object]]] = {}
        for path in sorted((Path(run_dir) / split).glob("events.out.tfevents.*")):
            for record in tf.data.TFRecordDataset(str(path)):
                event = tf.compat.v1.Event.FromString(record.numpy())
                for value in event.summary.value:
                    tensor = tf.make_ndarray(value.tensor)
                    if value.metadata.plugin_data.plugin_name == "images":   # [width, height, png, ...]
                        decoded = tf.io.decode_png(tensor[2]).numpy()
                        tags.setdefault(value.tag, []).append((event.step, decoded))
                    else:
                        tags.setdefault(value.tag, []).append((event.step, float(tensor)))
        out[split] = tags
    return out


class TensorBoardWarning(UserWarning):
    """A TensorBoard run is incomplete (the trained model itself is fine and cached)."""


def check_run(run_dir: str | Path, n_epochs: int, error: str | None = None) -> str | None:
    """Why the run in ``run_dir`` is incomplete, or None: every split must read back with a loss for each epoch.

    Reading the event files back catches what the writer did not report (a record cut short when
    the disk filled up).
    """
    if error is not None:
        return error
    try:
        logged = read_run(run_dir)
    except (tf.errors.OpError, OSError) as exc:
        return _reason(exc)
    for split in _SPLITS:
        steps = sorted({step for step, _ in logged[split].get("loss", [])})
        if steps != list(range(1, n_epochs + 1)):
            return f"{split} holds the loss of {len(steps)} of {n_epochs} epochs"
    return None


TENSORBOARD_SAMPLES = 64  # prior samples in a TensorBoard run when the config records no snapshots


def run_samples(config, n_test: int) -> np.ndarray | None:
    """The prior samples a run of ``config`` shows: its snapshot samples if it records them, else 64 fixed ones."""
    if not model_kind(config.model).samples_prior:
        return None  # an autoencoder has no prior; a conditional decoder also needs labels
    if config.snapshot_samples:
        return snapshot_inputs(config, n_test)[1]
    return np.random.default_rng([config.seed, 3]).standard_normal((TENSORBOARD_SAMPLES, config.latent_dim)).astype("float32")


def write_cached_run(result, run_dir: Path, n_test: int) -> str | None:
    """A run for a model loaded from the cache (a ``TrainResult``): its history, and its samples (per epoch if snapshotted)."""
    snaps = result.snapshots or {}
    images, epochs = snaps.get("images"), snaps.get("epochs")
    z = run_samples(result.config, n_test)
    if images is None and z is not None:
        images, epochs = result.model.decode(z)[None], [len(result.history.get("loss", []))]
    return write_history(run_dir, result.history, images, epochs)
