"""Keras callbacks of the course: one line per epoch, epoch times, a NaN stop, and per-epoch snapshots.

The snapshot callbacks make one batched model call per epoch and keep only what the training
animations need (decoded samples as uint8, latent means as float32); they share one skeleton,
:class:`EpochSnapshots`: record before training (epoch 0) and after every epoch.
"""

from __future__ import annotations

import math
import time

import numpy as np

from ..core.checks import check_codes, check_images, check_int, check_labels
from ..data.datasets import pixel_levels
from ..models.builders import run_batched
from ..core.tf_startup import keras

__all__ = ["EpochLogger", "EpochSnapshots", "EpochTimer", "LatentSnapshots", "NaNLossError", "SampleSnapshots",
           "StopOnNaN", "progress_callbacks", "snapshot_inputs"]


class EpochLogger(keras.callbacks.Callback):
    """Print one line per epoch: its number, seconds and every logged value (no progress bar)."""

    def __init__(self, digits: int = 5):
        super().__init__()
        self.digits = digits

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        order = ("loss", "reconstruction_loss", "kl_loss")
        keys = sorted((k for k in (logs or {}) if k != "learning_rate"),
                      key=lambda k: (k.startswith("val_"), order.index(k.removeprefix("val_")) if k.removeprefix("val_") in order else 9, k))
        values = " - ".join(f"{k} {float(logs[k]):.{self.digits}g}" for k in keys)
        total = self.params.get("epochs", "?")
        print(f"epoch {epoch + 1:>{len(str(total))}}/{total} - {time.perf_counter() - self._start:.0f} s - {values}",
              flush=True)


class EpochTimer(keras.callbacks.Callback):
    """Record the wall time of every epoch (training and validation), in seconds."""

    def __init__(self):
        super().__init__()
        self.seconds: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


def progress_callbacks(verbose: int) -> list[keras.callbacks.Callback]:
    """Callbacks for ``fit(..., verbose=0)`` that print one line per epoch when ``verbose`` is 1."""
    return [EpochLogger()] if verbose == 1 else []


class NaNLossError(FloatingPointError):
    """Raised when the training loss becomes NaN or infinite."""


class StopOnNaN(keras.callbacks.Callback):
    """Stop training with a clear error as soon as the batch loss is not finite."""

    def __init__(self):
        super().__init__()
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(np.mean(loss))):
            raise NaNLossError(
                f"The training loss became {float(np.mean(loss))} at epoch {self.epoch + 1}, batch {batch + 1}; "
                "training stopped. Try a lower learning_rate, a smaller beta, or check the data for NaNs."
            )


class EpochSnapshots(keras.callbacks.Callback):
    """Call :meth:`snapshot` before training (epoch 0, with ``include_initial``) and after every epoch.

    Snapshots after epoch ``k`` (1-based) have ``epochs[i] == k``; ``seconds`` is the time spent
    taking them. Subclasses define :meth:`snapshot` and may check the model in :meth:`check_model`.

    Args:
        include_initial: also record the model before training (epoch 0), when the first ``fit`` begins.
        batch_size: chunk size of the one batched model call.
    """

    def __init__(self, include_initial: bool = True, batch_size: int = 512):
        super().__init__()
        self.include_initial = bool(include_initial)
        self.batch_size = check_int("batch_size", batch_size, 1)
        self.values: list[np.ndarray] = []
        self.epochs: list[int] = []
        self.seconds = 0.0

    def snapshot(self) -> np.ndarray:
        """What to record for the current state of ``self.model``."""
        raise NotImplementedError

    def check_model(self) -> None:
        """Raise ValueError if ``self.model`` does not fit the fixed inputs (called when training begins)."""

    def _record(self, epoch: int) -> None:
        start = time.perf_counter()
        self.values.append(self.snapshot())
        self.epochs.append(epoch)
        self.seconds += time.perf_counter() - start

    def on_train_begin(self, logs=None):
        self.check_model()
        if self.include_initial and not self.epochs:
            self._record(0)

    def on_epoch_end(self, epoch, logs=None):
        self._record(epoch + 1)


class SampleSnapshots(EpochSnapshots):
    """Decode the same latent points ``z_fixed`` after every epoch and keep the images (``.images``) as uint8.

    Memory: ``n * h * w * c`` bytes per snapshot.

    Args:
        z_fixed: latent codes, shape ``(n, latent_dim)``; copied, so later changes do not leak in.
        include_initial, batch_size: as in :class:`EpochSnapshots`.
    """

    def __init__(self, z_fixed, include_initial: bool = True, batch_size: int = 512):
        super().__init__(include_initial, batch_size)
        self.z_fixed = np.array(check_codes("z_fixed", z_fixed), dtype="float32")

    @property
    def images(self) -> list[np.ndarray]:
        return self.values

    def check_model(self) -> None:
        check_codes("z_fixed", self.z_fixed, dim=self.model.decoder.input_shape[-1])

    def snapshot(self) -> np.ndarray:
        return pixel_levels(self.model.decode(self.z_fixed, self.batch_size)).astype("uint8")   # the kind's own decoding


class LatentSnapshots(EpochSnapshots):
    """Record the encoder means (``.z``) of the same images ``x_fixed`` after every epoch (float32).

    Memory: ``4 * n * latent_dim`` bytes per snapshot.

    Args:
        x_fixed: images, shape ``(n, h, w, c)``, e.g. a fixed subset of the test set.
        labels: optional class of each image, shape ``(n,)``; kept as ``.labels`` for colouring.
        include_initial, batch_size: as in :class:`EpochSnapshots`.
    """

    def __init__(self, x_fixed, labels=None, include_initial: bool = True, batch_size: int = 512):
        super().__init__(include_initial, batch_size)
        self.x_fixed = check_images("x_fixed", x_fixed)
        self.labels = None if labels is None else check_labels("labels", labels, n=len(self.x_fixed))

    @property
    def z(self) -> list[np.ndarray]:
        return self.values

    def check_model(self) -> None:
        check_images("x_fixed", self.x_fixed, tuple(self.model.encoder.input_shape[1:]))

    def snapshot(self) -> np.ndarray:
        return run_batched(self.model.encoder, self.x_fixed, self.batch_size)[0].astype("float32")


def snapshot_inputs(config, n_test: int) -> tuple[np.ndarray, np.ndarray]:
    """The test images (indices) and prior samples the snapshots follow, chosen with ``config.seed``."""
    rng = np.random.default_rng([config.seed, 2])
    index = np.sort(rng.choice(n_test, size=min(config.snapshot_images, n_test), replace=False))
    z_fixed = rng.standard_normal((config.snapshot_samples, config.latent_dim)).astype("float32")
    return index, z_fixed
