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
import contextlib
import json
import logging
import math
import os
import shutil
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from . import __version__
from .checks import check_int, check_number, check_seed, check_writable_folder
from .data import DATASETS, Dataset, load_dataset
from .models import DENSE_UNITS
from .tensorboard_log import TensorBoardLogger, write_history
from .vae import VAE, build_vae

CACHE_ENV = "VAE_COURSE_CACHE"
MODELS = ("vae", "autoencoder")
WEIGHTS_FILE, HISTORY_FILE, META_FILE = "vae.weights.h5", "history.json", "meta.json"
SNAPSHOTS_FILE = "snapshots.npz"
TENSORBOARD_SAMPLES = 64  # prior samples in a TensorBoard run when the config records no snapshots


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a trained VAE; two equal configs give the same weights on CPU."""

    dataset: str = "fashion_mnist"
    latent_dim: int = 2
    beta: float = 1.0
    epochs: int = 30
    batch_size: int = 128
    seed: int = 42
    n_train: int | None = None
    n_test: int | None = None
    learning_rate: float = 3e-3        # peak learning rate of Adam
    lr_schedule: str = "cosine"        # "cosine": decay to 2% of the peak over all epochs; or "constant"
    filters: tuple[int, ...] = (32, 64)
    dense_units: int = DENSE_UNITS     # 16 is the Keras example's (models.ARCHITECTURES); 0: spatial code (autoencoder)
    kl_warmup_epochs: int = 0          # KL weight ramps from 0 to beta over these epochs (Bowman et al. 2016)
    free_bits: float = 0.0             # nats of KL per dimension left unpenalized (Kingma et al. 2016)
    jit_compile: bool = False          # XLA is ~2x slower on CPU here (benchmarks/cpu_levers.py)
    steps_per_execution: int = 1
    snapshot_images: int = 0           # test images whose encoder means are recorded every epoch
    snapshot_samples: int = 0          # fixed prior samples decoded every epoch
    conditional: bool = False          # a conditional VAE (Sohn et al. 2015) fed the labels
    model: str = "vae"                 # "vae", or "autoencoder" (deterministic, vae_helpers.autoencoder)
    normal_class: int | None = None    # train on this class's training images only (one-class anomaly detection)
    denoising: bool = False            # train on corrupted inputs with clean targets (models.TrainingNoise)

    def __post_init__(self):
        if self.dataset not in DATASETS:
            raise ValueError(f"`dataset` must be one of {', '.join(DATASETS)}. Received: dataset={self.dataset!r}")
        fields = {name: check_int(name, getattr(self, name), 1)
                  for name in ("latent_dim", "epochs", "batch_size", "steps_per_execution")}
        fields["dense_units"] = check_int("dense_units", self.dense_units, 0 if self.model == "autoencoder" else 1)
        fields |= {name: check_int(name, getattr(self, name), 0)
                   for name in ("snapshot_images", "snapshot_samples", "kl_warmup_epochs")}
        fields |= {name: check_int(name, getattr(self, name), 1, or_none=True) for name in ("n_train", "n_test")}
        fields["normal_class"] = check_int("normal_class", self.normal_class, 0, or_none=True)
        fields |= {name: check_number(name, getattr(self, name)) for name in ("beta", "free_bits")}
        fields["seed"] = check_seed("seed", self.seed)
        fields["learning_rate"] = check_number("learning_rate", self.learning_rate, strict=True)
        if self.lr_schedule not in ("cosine", "constant"):
            raise ValueError(f"`lr_schedule` must be one of cosine, constant. Received: lr_schedule={self.lr_schedule!r}")
        if isinstance(self.filters, (str, bytes)) or not hasattr(self.filters, "__iter__"):
            raise ValueError(f"`filters` must be a non-empty sequence of positive integers. Received: filters={self.filters!r}")
        fields["filters"] = tuple(check_int("filters", f, 1) for f in self.filters)
        for name in ("jit_compile", "conditional", "denoising"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"`{name}` must be True or False. Received: {name}={getattr(self, name)!r}")
        if self.conditional and (self.snapshot_images or self.snapshot_samples or self.kl_warmup_epochs or self.free_bits):
            raise ValueError("`conditional=True` does not support snapshots, KL warm-up or free bits. "
                             f"Received: snapshot_images={self.snapshot_images}, snapshot_samples={self.snapshot_samples}, "
                             f"kl_warmup_epochs={self.kl_warmup_epochs}, free_bits={self.free_bits}")
        if self.model not in MODELS:
            raise ValueError(f"`model` must be one of {', '.join(MODELS)}. Received: model={self.model!r}")
        if self.model == "autoencoder" and (self.conditional or self.kl_warmup_epochs or self.free_bits
                                            or self.snapshot_images or self.snapshot_samples):
            raise ValueError("`model='autoencoder'` has no KL term, labels or snapshots: leave conditional, "
                             "kl_warmup_epochs, free_bits, snapshot_images and snapshot_samples at their defaults. "
                             f"Received: conditional={self.conditional}, kl_warmup_epochs={self.kl_warmup_epochs}, "
                             f"free_bits={self.free_bits}, snapshot_images={self.snapshot_images}, "
                             f"snapshot_samples={self.snapshot_samples}")
        for name, value in fields.items():  # plain Python numbers, so the cache key never sees numpy types
            object.__setattr__(self, name, value)

    def key(self) -> str:
        """Cache key: a readable prefix and a hash of the config and the library versions."""
        prefix = self.dataset if self.normal_class is None else f"{self.dataset}-class{self.normal_class}"
        kind = ("convae" if self.dense_units == 0 else "ae") if self.model == "autoencoder" else f"beta{self.beta:g}"
        kind = f"{kind}-denoising" if self.denoising else kind
        return f"{prefix}-z{self.latent_dim}-{kind}-e{self.epochs}-{key_digest(_key_material(self))}"


@dataclass
class TrainResult:
    """A trained VAE with its Keras history and where it came from."""

    vae: VAE                 # an autoencoder.Autoencoder when config.model == "autoencoder"
    history: dict[str, list[float]]
    config: TrainConfig
    from_cache: bool
    path: Path | None = field(default=None)
    snapshots: dict[str, np.ndarray] | None = field(default=None)


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
        if loss is not None and not math.isfinite(float(loss)):
            raise NaNLossError(
                f"The training loss became {float(loss)} at epoch {self.epoch + 1}, batch {batch + 1}; "
                "training stopped. Try a lower learning_rate, a smaller beta, or check the data for NaNs."
            )


_ADDED_LATER = ("conditional", "model", "normal_class", "denoising")


def _key_material_versions() -> dict[str, str]:
    """The library versions a cached model depends on."""
    import tensorflow as tf

    return {"vae_helpers": __version__, "keras": keras.__version__, "tensorflow": tf.__version__, "numpy": np.__version__}


def _key_material(config: TrainConfig) -> dict:
    settings = dataclasses.asdict(config)
    for name in _ADDED_LATER:  # left out at their defaults, so that older cache keys stay valid
        if settings[name] == TrainConfig.__dataclass_fields__[name].default:
            del settings[name]
    return {"config": settings, "versions": _key_material_versions()}


def key_digest(key_material: dict) -> str:
    """The hashed part of a cache key: 16 hex digits of the SHA-256 of ``key_material`` (JSON, sorted keys)."""
    return hashlib.sha256(json.dumps(key_material, sort_keys=True).encode()).hexdigest()[:16]


def default_cache_dir() -> Path:
    """``$VAE_COURSE_CACHE`` if set, else ``~/.cache/vae-course/models``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "vae-course" / "models")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_optimizer(learning_rate: float, schedule: str = "cosine", total_steps: int | None = None):
    """Adam at ``learning_rate``, constant or decayed along a cosine to 2% of it over ``total_steps``."""
    if schedule not in ("cosine", "constant"):
        raise ValueError(f"`schedule` must be one of cosine, constant. Received: schedule={schedule!r}")
    learning_rate = check_number("learning_rate", learning_rate, strict=True)
    if schedule == "cosine":
        total_steps = check_int("total_steps", total_steps, 1)
        learning_rate = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=total_steps, alpha=0.02)
    return keras.optimizers.Adam(learning_rate)


def build_for(config: TrainConfig, image_shape: tuple[int, int, int], n_train: int, n_classes: int = 10,
              strategy: tf.distribute.Strategy | None = None) -> VAE:
    """A fresh VAE for ``config``, compiled for ``n_train`` training images (weights seeded by ``config.seed``).

    With a ``strategy``, the model and its optimizer are created in ``strategy.scope()``, so that
    ``fit`` trains a replica on each of the strategy's devices (see :func:`train_vae`).
    """
    with _scope(strategy):
        return _build_for(config, image_shape, n_train, n_classes)


def _scope(strategy: tf.distribute.Strategy | None):
    """``strategy.scope()``, or a no-op context for one device."""
    return strategy.scope() if strategy is not None else contextlib.nullcontext()


def _build_for(config: TrainConfig, image_shape: tuple[int, int, int], n_train: int, n_classes: int) -> VAE:
    keras.utils.set_random_seed(config.seed)
    steps_per_epoch = math.ceil(n_train / config.batch_size)
    if config.model == "autoencoder":
        from .autoencoder import build_autoencoder_model

        vae = build_autoencoder_model(image_shape, config.latent_dim, config.filters, config.dense_units,
                                      denoising=config.denoising, seed=config.seed)
    elif config.conditional:
        from .conditional import build_conditional_vae

        vae = build_conditional_vae(image_shape, n_classes, config.latent_dim, config.filters, config.dense_units,
                                    config.beta, seed=config.seed)
    else:
        vae = build_vae(image_shape, config.latent_dim, config.filters, config.dense_units, config.beta, seed=config.seed,
                        kl_warmup_steps=config.kl_warmup_epochs * steps_per_epoch, free_bits=config.free_bits,
                        denoising=config.denoising)
    optimizer = make_optimizer(config.learning_rate, config.lr_schedule, config.epochs * steps_per_epoch)
    vae.compile(optimizer=optimizer,
                jit_compile=config.jit_compile, steps_per_execution=config.steps_per_execution)
    return vae


def verify_entry(entry: Path, key_material: dict, files: list[str]) -> None:
    """Raise ValueError unless ``entry`` was saved for ``key_material`` and its ``files`` pass their checksums."""
    meta = json.loads((entry / META_FILE).read_text())
    if meta.get("key_material") != json.loads(json.dumps(key_material)):
        raise ValueError("its configuration or library versions differ")
    for name in files:
        if meta.get("sha256", {}).get(name) != _sha256(entry / name):
            raise ValueError(f"its file {name} fails the checksum")


def load_entry_weights(model: keras.Model, entry: Path) -> None:
    """Load the weights :func:`save_entry` stored into the compiled ``model``, its optimizer state included.

    The optimizer's variables are created first; otherwise Keras skips the saved optimizer state
    with a UserWarning ("Skipping variable loading for optimizer ...").
    """
    model.optimizer.build(model.trainable_variables)
    model.load_weights(entry / WEIGHTS_FILE)


def _load_entry(entry: Path, config: TrainConfig, image_shape, n_train: int, n_classes: int = 10,
                strategy: tf.distribute.Strategy | None = None) -> TrainResult:
    """Load a cache entry, raising ValueError if anything about it is off."""
    verify_entry(entry, _key_material(config), [WEIGHTS_FILE, HISTORY_FILE] + ([SNAPSHOTS_FILE] if _wants_snapshots(config) else []))
    with _scope(strategy):
        vae = _build_for(config, image_shape, n_train, n_classes)
        load_entry_weights(vae, entry)
    history = json.loads((entry / HISTORY_FILE).read_text())
    snapshots = None
    if _wants_snapshots(config):
        with np.load(entry / SNAPSHOTS_FILE) as npz:
            snapshots = {k: npz[k] for k in npz.files}
    return TrainResult(vae, history, config, from_cache=True, path=entry, snapshots=snapshots)


def _wants_snapshots(config: TrainConfig) -> bool:
    return config.snapshot_images > 0 or config.snapshot_samples > 0


def _snapshot_inputs(config: TrainConfig, n_test: int) -> tuple[np.ndarray, np.ndarray]:
    """The test images (indices) and prior samples the snapshots follow, chosen with ``config.seed``."""
    rng = np.random.default_rng([config.seed, 2])
    index = np.sort(rng.choice(n_test, size=min(config.snapshot_images, n_test), replace=False))
    z_fixed = rng.standard_normal((config.snapshot_samples, config.latent_dim)).astype("float32")
    return index, z_fixed


def _snapshot_callbacks(config: TrainConfig, ds) -> tuple[list, dict]:
    """The animation callbacks for ``config`` with their fixed inputs (chosen with ``config.seed``)."""
    from .animation import LatentSnapshots, SampleSnapshots

    index, z_fixed = _snapshot_inputs(config, len(ds.x_test))
    n_images = len(index)
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
    tensorboard_dir: str | Path | None = None,
    strategy: tf.distribute.Strategy | None = None,
) -> TrainResult:
    """Train a VAE for ``config``, or load it from the cache if an intact entry exists.

    Args:
        config: what to train (dataset, sizes, epochs, seed...).
        cache_dir: cache folder (default: :func:`default_cache_dir`); it is checked for writing
            before training starts (:class:`CacheNotWritableError`). If saving still fails after
            training, the model is returned with ``path=None`` and a :class:`CacheWarning`.
        retrain: ignore an existing entry and train again (the entry is replaced).
        verbose: 0 quiet, 1 one line per epoch (:class:`EpochLogger`), 2 Keras's own progress bar.
        callbacks: extra Keras callbacks for ``fit`` (they do not run when the model is loaded).
        tensorboard_dir: write a TensorBoard run into ``tensorboard_dir/<config.key()>``: the three
            losses per epoch and, for a VAE, decoded prior samples per epoch
            (:mod:`vae_helpers.tensorboard_log`). A model loaded from the cache gets its run
            written from the stored history and snapshots.
        strategy: a ``tf.distribute`` strategy to train with, such as ``tf.distribute.MirroredStrategy()``
            (the GPUs of one machine) or ``MultiWorkerMirroredStrategy()`` (several machines, set up
            by ``$TF_CONFIG``). Each batch of ``config.batch_size`` images is split between the
            replicas and their gradients are summed, so the result matches one device up to
            floating-point order. The cache key does not depend on it.
    """
    if not isinstance(config, TrainConfig):
        raise TypeError(f"`config` must be a TrainConfig. Received: config={config!r}")
    if verbose not in (0, 1, 2) or isinstance(verbose, bool):
        raise ValueError(f"`verbose` must be 0, 1 or 2. Received: verbose={verbose!r}")
    if callbacks is not None and not all(isinstance(cb, keras.callbacks.Callback) for cb in callbacks):
        raise ValueError(f"`callbacks` must be a list of keras.callbacks.Callback. Received: callbacks={callbacks!r}")
    if strategy is not None and not isinstance(strategy, tf.distribute.Strategy):
        raise ValueError("`strategy` must be a tf.distribute.Strategy, such as tf.distribute.MirroredStrategy(), "
                         f"or None. Received: strategy={strategy!r}")
    cache_dir = check_writable_folder("cache_dir", default_cache_dir() if cache_dir is None else cache_dir)
    if tensorboard_dir is not None:
        tensorboard_dir = check_writable_folder("tensorboard_dir", tensorboard_dir)
    entry = cache_dir / config.key()
    ds = load_dataset(config.dataset, n_train=config.n_train, n_test=config.n_test, seed=config.seed)
    if config.normal_class is not None:
        ds = only_class(ds, config.normal_class)
    if entry.exists() and not retrain:
        try:
            result = _load_entry(entry, config, ds.image_shape, len(ds.x_train), len(ds.class_names), strategy)
        except Exception as exc:  # corrupt or mismatched: never use it
            print(f"Cache entry {entry.name} is unusable ({type(exc).__name__}: {exc}); retraining.")
        else:
            if tensorboard_dir is not None:
                _write_cached_run(result, tensorboard_dir / config.key(), len(ds.x_test))
            return result
    check_cache_writable(cache_dir)  # before training, not after: a full training takes many minutes

    vae = build_for(config, ds.image_shape, len(ds.x_train), len(ds.class_names), strategy)
    if tensorboard_dir is not None:
        callbacks = [*(callbacks or []), TensorBoardLogger(tensorboard_dir / config.key(), _tensorboard_samples(config, len(ds.x_test)))]
    with _tf_warnings_silenced():
        return _fit_and_save(vae, config, ds, entry, verbose, callbacks)


def _tensorboard_samples(config: TrainConfig, n_test: int) -> np.ndarray | None:
    """The prior samples a TensorBoard run shows: the snapshot samples if the config records them, else 64 fixed ones."""
    if config.model != "vae" or config.conditional:
        return None  # an autoencoder has no prior; a conditional decoder also needs labels
    if config.snapshot_samples:
        return _snapshot_inputs(config, n_test)[1]
    return np.random.default_rng([config.seed, 3]).standard_normal((TENSORBOARD_SAMPLES, config.latent_dim)).astype("float32")


def _write_cached_run(result: TrainResult, run_dir: Path, n_test: int) -> None:
    """A TensorBoard run for a model loaded from the cache: its history, and its samples (per epoch if snapshotted)."""
    snaps = result.snapshots or {}
    images, epochs = snaps.get("images"), snaps.get("epochs")
    z = _tensorboard_samples(result.config, n_test)
    if images is None and z is not None:
        images, epochs = result.vae.decode(z)[None], [len(result.history.get("loss", []))]
    write_history(run_dir, result.history, images, epochs)


@contextlib.contextmanager
def _tf_warnings_silenced():
    """Hide TensorFlow's Python WARNING lines (errors still show) while a model trains.

    Training many small models in a loop (notebook 05) makes TensorFlow warn that ``fit`` "triggered
    tf.function retracing": each new model needs its own traced step, which is expected here.
    """
    logger = logging.getLogger("tensorflow")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _fit_and_save(vae, config: TrainConfig, ds: Dataset, entry: Path, verbose: int, callbacks) -> TrainResult:
    snapshot_callbacks, state = _snapshot_callbacks(config, ds) if _wants_snapshots(config) else ([], None)
    timer = EpochTimer()  # first, so that its epoch times leave out the snapshots
    fit = vae.fit(ds.x_train, ds.y_train if config.conditional else None, epochs=config.epochs,
                  batch_size=config.batch_size, shuffle=True, verbose=1 if verbose == 2 else 0,
                  validation_data=(ds.x_test, ds.y_test) if config.conditional else (ds.x_test,),
                  callbacks=[timer, StopOnNaN(), *snapshot_callbacks, *progress_callbacks(verbose),
                             *(callbacks or [])])
    history = {k: [float(v) for v in vals] for k, vals in fit.history.items()}
    history["epoch_seconds"] = timer.seconds
    snapshots = _collect_snapshots(state, ds) if state else None
    path = save_entry_or_warn(entry, vae, _key_material(config), history, snapshots)
    return TrainResult(vae, history, config, from_cache=False, path=path, snapshots=snapshots)


def only_class(ds: Dataset, normal_class: int) -> Dataset:
    """``ds`` restricted to the images of ``normal_class`` in both splits (after any ``n_train``/``n_test`` subset)."""
    normal_class = check_int("normal_class", normal_class, 0, len(ds.class_names) - 1)
    train, test = ds.y_train == normal_class, ds.y_test == normal_class
    if not train.any() or not test.any():
        raise ValueError(f"`normal_class` {normal_class} has no images in the (subset of the) {ds.name} "
                         f"{'training' if not train.any() else 'test'} split. Received: normal_class={normal_class}")
    return dataclasses.replace(ds, x_train=ds.x_train[train], y_train=ds.y_train[train],
                               x_test=ds.x_test[test], y_test=ds.y_test[test])


class CacheWarning(UserWarning):
    """A trained model could not be written to the cache (the model itself is fine)."""


class CacheNotWritableError(OSError):
    """The model cache folder cannot be written, found before any training starts."""


def check_cache_writable(cache_dir: Path) -> None:
    """Create ``cache_dir`` and write a probe folder in it, or raise :class:`CacheNotWritableError`."""
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(tempfile.mkdtemp(prefix=".write-test-", dir=cache_dir))
    except OSError as exc:
        raise CacheNotWritableError(
            f"The model cache {str(cache_dir)!r} cannot be written ({type(exc).__name__}: {exc.strerror or exc}); "
            f"nothing was trained. Set ${CACHE_ENV} to a writable folder, or pass cache_dir=."
        ) from exc


def save_entry_or_warn(entry: Path, model: keras.Model, key_material: dict, history: dict,
                       snapshots: dict | None = None) -> Path | None:
    """:func:`save_entry`, but a failure only warns (:class:`CacheWarning`) and returns None.

    A finished training is never thrown away because the cache could not be written.
    """
    try:
        return save_entry(entry, model, key_material, history, snapshots)
    except OSError as exc:
        warnings.warn(f"The trained model could not be saved in the cache ({type(exc).__name__}: {exc}); "
                      f"it is returned but will be trained again next time. Cache entry: {entry}",
                      CacheWarning, stacklevel=3)
        return None


def save_entry(entry: Path, model: keras.Model, key_material: dict, history: dict, snapshots: dict | None = None) -> Path:
    """Write a cache entry into a hidden temporary folder, then move it into place in one step."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{entry.name}-", dir=entry.parent))
    try:
        model.save_weights(tmp / WEIGHTS_FILE)
        (tmp / HISTORY_FILE).write_text(json.dumps(history, indent=1))
        files = [WEIGHTS_FILE, HISTORY_FILE]
        if snapshots is not None:
            np.savez_compressed(tmp / SNAPSHOTS_FILE, **snapshots)
            files.append(SNAPSHOTS_FILE)
        meta = {"key_material": key_material, "sha256": {name: _sha256(tmp / name) for name in files}}
        (tmp / META_FILE).write_text(json.dumps(meta, indent=1))
        if entry.exists():  # retrain=True, or an unusable entry: replace it
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
