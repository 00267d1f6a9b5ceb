"""Train a VAE for a named configuration, or load it from a cache keyed by that configuration.

A cache entry is a folder holding ``vae.weights.h5``, ``history.json`` (the Keras history),
``snapshots.npz`` when the config asks for per-epoch snapshots (for the training animations) and
``meta.json`` (the configuration, the library versions and a SHA-256 of each file). An entry
whose metadata does not match, or whose weights fail the checksum or do not load, is retrained,
never silently used.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np

from . import __version__
from .data import DATASETS, load_dataset
from .vae import VAE, build_vae

CACHE_ENV = "VAE_COURSE_CACHE"
WEIGHTS_FILE, HISTORY_FILE, META_FILE = "vae.weights.h5", "history.json", "meta.json"
SNAPSHOTS_FILE = "snapshots.npz"


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a trained VAE; two equal configs give the same weights on CPU."""

    dataset: str = "fashion_mnist"
    latent_dim: int = 2
    beta: float = 1.0
    epochs: int = 30
    batch_size: int = 64               # more updates per epoch; no slower per image on CPU
    seed: int = 42
    n_train: int | None = None
    n_test: int | None = None
    learning_rate: float = 3e-3        # peak learning rate of Adam
    lr_schedule: str = "cosine"        # "cosine": decay to 2% of the peak over all epochs; or "constant"
    filters: tuple[int, ...] = (32, 64)
    dense_units: int = 16
    jit_compile: bool = False          # XLA is ~2x slower on CPU here (benchmarks/cpu_levers.py)
    steps_per_execution: int = 1
    snapshot_images: int = 0           # test images whose encoder means are recorded every epoch
    snapshot_samples: int = 0          # fixed prior samples decoded every epoch

    def __post_init__(self):
        if self.dataset not in DATASETS:
            raise ValueError(f"`dataset` must be one of {', '.join(DATASETS)}. Received: dataset={self.dataset!r}")
        for name in ("latent_dim", "epochs", "batch_size", "dense_units", "steps_per_execution"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")
        for name in ("snapshot_images", "snapshot_samples"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"`{name}` must be a non-negative integer. Received: {name}={value!r}")
        for name in ("n_train", "n_test"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"`{name}` must be a positive integer or None. Received: {name}={value!r}")
        if not (isinstance(self.beta, (int, float)) and not isinstance(self.beta, bool) and self.beta >= 0):
            raise ValueError(f"`beta` must be a non-negative number. Received: beta={self.beta!r}")
        if self.lr_schedule not in ("cosine", "constant"):
            raise ValueError(f"`lr_schedule` must be one of cosine, constant. Received: lr_schedule={self.lr_schedule!r}")
        if not (isinstance(self.learning_rate, float) and self.learning_rate > 0):
            raise ValueError(f"`learning_rate` must be a positive float. Received: learning_rate={self.learning_rate!r}")
        object.__setattr__(self, "filters", tuple(self.filters))

    def key(self) -> str:
        """Cache key: a readable prefix and a hash of the config and the library versions."""
        digest = hashlib.sha256(json.dumps(_key_material(self), sort_keys=True).encode()).hexdigest()[:16]
        return f"{self.dataset}-z{self.latent_dim}-beta{self.beta:g}-e{self.epochs}-{digest}"


@dataclass
class TrainResult:
    """A trained VAE with its Keras history and where it came from."""

    vae: VAE
    history: dict[str, list[float]]
    config: TrainConfig
    from_cache: bool
    path: Path | None = field(default=None)
    snapshots: dict[str, np.ndarray] | None = field(default=None)


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
        if loss is not None and not math.isfinite(float(loss)):
            raise NaNLossError(
                f"The training loss became {float(loss)} at epoch {self.epoch + 1}, batch {batch + 1}; "
                "training stopped. Try a lower learning_rate, a smaller beta, or check the data for NaNs."
            )


def _key_material(config: TrainConfig) -> dict:
    import tensorflow as tf

    return {"config": dataclasses.asdict(config),
            "versions": {"vae_helpers": __version__, "keras": keras.__version__,
                         "tensorflow": tf.__version__, "numpy": np.__version__}}


def default_cache_dir() -> Path:
    """``$VAE_COURSE_CACHE`` if set, else ``~/.cache/vae-course/models``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "vae-course" / "models")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build_for(config: TrainConfig, image_shape: tuple[int, int, int], n_train: int) -> VAE:
    """A fresh VAE for ``config``, compiled for ``n_train`` training images (weights seeded by ``config.seed``)."""
    keras.utils.set_random_seed(config.seed)
    vae = build_vae(image_shape, config.latent_dim, config.filters, config.dense_units, config.beta, seed=config.seed)
    learning_rate = config.learning_rate
    if config.lr_schedule == "cosine":
        steps = config.epochs * math.ceil(n_train / config.batch_size)
        learning_rate = keras.optimizers.schedules.CosineDecay(config.learning_rate, decay_steps=steps, alpha=0.02)
    vae.compile(optimizer=keras.optimizers.Adam(learning_rate),
                jit_compile=config.jit_compile, steps_per_execution=config.steps_per_execution)
    return vae


def _load_entry(entry: Path, config: TrainConfig, image_shape, n_train: int) -> TrainResult:
    """Load a cache entry, raising ValueError if anything about it is off."""
    meta = json.loads((entry / META_FILE).read_text())
    if meta.get("key_material") != json.loads(json.dumps(_key_material(config))):
        raise ValueError("its configuration or library versions differ")
    files = [WEIGHTS_FILE, HISTORY_FILE] + ([SNAPSHOTS_FILE] if _wants_snapshots(config) else [])
    for name in files:
        if meta.get("sha256", {}).get(name) != _sha256(entry / name):
            raise ValueError(f"its file {name} fails the checksum")
    vae = build_for(config, image_shape, n_train)
    vae.optimizer.build(vae.trainable_variables)  # so the saved optimizer state loads too
    vae.load_weights(entry / WEIGHTS_FILE)
    history = json.loads((entry / HISTORY_FILE).read_text())
    snapshots = None
    if _wants_snapshots(config):
        with np.load(entry / SNAPSHOTS_FILE) as npz:
            snapshots = {k: npz[k] for k in npz.files}
    return TrainResult(vae, history, config, from_cache=True, path=entry, snapshots=snapshots)


def _wants_snapshots(config: TrainConfig) -> bool:
    return config.snapshot_images > 0 or config.snapshot_samples > 0


def _snapshot_callbacks(config: TrainConfig, ds) -> tuple[list, dict]:
    """The animation callbacks for ``config`` with their fixed inputs (chosen with ``config.seed``)."""
    from .animation import LatentSnapshots, SampleSnapshots

    rng = np.random.default_rng([config.seed, 2])
    n_images = min(config.snapshot_images, len(ds.x_test))
    index = np.sort(rng.choice(len(ds.x_test), size=n_images, replace=False))
    z_fixed = rng.standard_normal((config.snapshot_samples, config.latent_dim)).astype("float32")
    callbacks = {}
    if n_images:
        callbacks["latent"] = LatentSnapshots(ds.x_test[index], ds.y_test[index])
    if config.snapshot_samples:
        callbacks["samples"] = SampleSnapshots(z_fixed)
    return list(callbacks.values()), {"callbacks": callbacks, "index": index, "z_fixed": z_fixed}


def _collect_snapshots(state: dict, ds) -> dict[str, np.ndarray]:
    callbacks, out = state["callbacks"], {"test_index": state["index"], "z_fixed": state["z_fixed"]}
    out["seconds"] = np.asarray(sum(cb.seconds for cb in callbacks.values()))  # time spent in the callbacks
    if "latent" in callbacks:
        out.update(z=np.stack(callbacks["latent"].z), labels=ds.y_test[state["index"]],
                   epochs=np.asarray(callbacks["latent"].epochs))
    if "samples" in callbacks:
        out.update(images=np.stack(callbacks["samples"].images), epochs=np.asarray(callbacks["samples"].epochs))
    return out


def train_vae(
    config: TrainConfig,
    cache_dir: str | Path | None = None,
    retrain: bool = False,
    verbose: int = 1,
    callbacks: list[keras.callbacks.Callback] | None = None,
) -> TrainResult:
    """Train a VAE for ``config``, or load it from the cache if an intact entry exists.

    Args:
        config: what to train (dataset, sizes, epochs, seed...).
        cache_dir: cache folder (default: :func:`default_cache_dir`); ``False``-y paths are not allowed.
        retrain: ignore an existing entry and train again (the entry is replaced).
        verbose: Keras ``fit`` verbosity (1 shows a progress bar).
        callbacks: extra Keras callbacks for ``fit`` (they do not run when the model is loaded).
    """
    if not isinstance(config, TrainConfig):
        raise TypeError(f"`config` must be a TrainConfig. Received: config={config!r}")
    cache_dir = default_cache_dir() if cache_dir is None else Path(cache_dir)
    entry = cache_dir / config.key()
    ds = load_dataset(config.dataset, n_train=config.n_train, n_test=config.n_test, seed=config.seed)
    if entry.exists() and not retrain:
        try:
            return _load_entry(entry, config, ds.image_shape, len(ds.x_train))
        except Exception as exc:  # corrupt or mismatched: never use it
            print(f"Cache entry {entry.name} is unusable ({type(exc).__name__}: {exc}); retraining.")

    vae = build_for(config, ds.image_shape, len(ds.x_train))
    snapshot_callbacks, state = _snapshot_callbacks(config, ds) if _wants_snapshots(config) else ([], None)
    fit = vae.fit(ds.x_train, epochs=config.epochs, batch_size=config.batch_size, shuffle=True,
                  validation_data=(ds.x_test,), verbose=verbose,
                  callbacks=[StopOnNaN(), *snapshot_callbacks, *(callbacks or [])])
    history = {k: [float(v) for v in vals] for k, vals in fit.history.items()}
    snapshots = _collect_snapshots(state, ds) if state else None

    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{entry.name}-", dir=cache_dir))
    try:
        vae.save_weights(tmp / WEIGHTS_FILE)
        (tmp / HISTORY_FILE).write_text(json.dumps(history, indent=1))
        files = [WEIGHTS_FILE, HISTORY_FILE]
        if snapshots is not None:
            np.savez_compressed(tmp / SNAPSHOTS_FILE, **snapshots)
            files.append(SNAPSHOTS_FILE)
        meta = {"key_material": _key_material(config), "sha256": {name: _sha256(tmp / name) for name in files}}
        (tmp / META_FILE).write_text(json.dumps(meta, indent=1))
        if entry.exists():
            shutil.rmtree(entry)
        os.replace(tmp, entry)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return TrainResult(vae, history, config, from_cache=False, path=entry, snapshots=snapshots)
