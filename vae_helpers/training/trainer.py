"""Train a model for a named configuration, or load it from the model cache (:mod:`vae_helpers.training.cache`).

A :class:`TrainConfig` names everything that determines the trained weights: the data, the model
kind and its sizes, the objective and the optimisation. The trainer never names a kind: it asks the
registry (:data:`~vae_helpers.models.registry.MODEL_KINDS`) what a kind implements and how to build it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .cache import Trained, check_apart, key_digest, library_versions, load_or_train, resolve_cache_dir
from .callbacks import EpochTimer, LatentSnapshots, SampleSnapshots, StopOnNaN, progress_callbacks, snapshot_inputs
from ..core.checks import (MAX_BATCH_SIZE, MAX_EPOCHS, MAX_LATENT_DIM, MAX_UNITS, check_even_batches, check_int, check_number,
                     check_seed, check_writable_folder)
from ..data.datasets import DATASETS, IMAGE_SHAPES, Dataset, hold_out, load_dataset, only_class
from ..models.builders import DENSE_UNITS
from ..models.objectives import OBJECTIVES
from ..models.registry import MODEL_KINDS, model_kind
from ..data.shapes import DATA_VERSION as SHAPES_DATA_VERSION
from ..core.tf_startup import keras, tf

__all__ = ["MODEL_KINDS", "OBJECTIVES", "TrainConfig", "TrainResult", "build_for", "key_material", "make_optimizer", "model_kind",
           "train_many", "train_vae"]

OPTIONAL = ("beta", "kl_warmup_epochs", "free_bits", "snapshot_images", "snapshot_samples", "denoising", "filters",
            "objective", "capacity_nats", "convs_per_stage", "iwae_samples")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a trained model; two equal configs give the same weights on CPU."""

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
    model: str = "vae"                 # a key of MODEL_KINDS: "vae", "autoencoder" or "conditional_vae" (Sohn et al. 2015)
    normal_class: int | None = None    # train on this class's training images only (one-class anomaly detection)
    validation_images: int = 0         # hold out the last N training images (after normal_class) as the validation data
    denoising: bool = False            # train on corrupted inputs with clean targets (models.TrainingNoise)
    objective: str = "elbo"            # mlp_vae: "elbo" (beta-VAE), "beta_tcvae" or "capacity" (vae_helpers.models.mlp_vae)
    capacity_nats: float = 0.0         # mlp_vae with objective="capacity": the final capacity C in nats
    convs_per_stage: int = 1           # spatial codes (dense_units=0): convolutions per resolution (notebook 07's denoisers)
    init_from: TrainConfig | None = None  # warm start: begin from this config's trained weights (same architecture)
    iwae_samples: int | None = None    # iwae_vae: K, the importance samples per image of the training bound (None: iwae.IWAE_SAMPLES)

    def __post_init__(self):
        if self.dataset not in DATASETS:
            raise ValueError(f"`dataset` must be one of {', '.join(DATASETS)}. Received: dataset={self.dataset!r}")
        supports = model_kind(self.model).options
        fields = {name: check_int(name, getattr(self, name), 1, maximum) for name, maximum in
                  (("latent_dim", MAX_LATENT_DIM), ("epochs", MAX_EPOCHS), ("batch_size", MAX_BATCH_SIZE),
                   ("steps_per_execution", None), ("convs_per_stage", 4))}
        fields["dense_units"] = check_int("dense_units", self.dense_units, 0 if "spatial_code" in supports else 1, MAX_UNITS)
        fields |= {name: check_int(name, getattr(self, name), 0)
                   for name in ("snapshot_images", "snapshot_samples", "kl_warmup_epochs", "validation_images")}
        fields |= {name: check_int(name, getattr(self, name), 1, or_none=True) for name in ("n_train", "n_test")}
        fields["normal_class"] = check_int("normal_class", self.normal_class, 0, or_none=True)
        fields["iwae_samples"] = check_int("iwae_samples", self.iwae_samples, 1, 1000, or_none=True)
        fields |= {name: check_number(name, getattr(self, name)) for name in ("beta", "free_bits", "capacity_nats")}
        if self.objective not in OBJECTIVES:
            raise ValueError(f"`objective` must be one of {', '.join(OBJECTIVES)}. Received: objective={self.objective!r}")
        if self.objective == "beta_tcvae" and fields["batch_size"] < 2:
            raise ValueError("`batch_size` must be at least 2 with objective='beta_tcvae': its total correlation is estimated "
                             f"from the pairs of codes in a batch (one code gives 0). Received: batch_size={self.batch_size!r}")
        if (self.objective == "capacity") != (fields["capacity_nats"] > 0):
            raise ValueError("`capacity_nats` must be positive with objective='capacity' and 0 otherwise. "
                             f"Received: objective={self.objective!r}, capacity_nats={self.capacity_nats!r}")
        fields["seed"] = check_seed("seed", self.seed)
        fields["learning_rate"] = check_number("learning_rate", self.learning_rate, strict=True)
        if self.lr_schedule not in ("cosine", "constant"):
            raise ValueError(f"`lr_schedule` must be one of cosine, constant. Received: lr_schedule={self.lr_schedule!r}")
        if isinstance(self.filters, (str, bytes)) or not hasattr(self.filters, "__iter__"):
            raise ValueError(f"`filters` must be a non-empty sequence of positive integers. Received: filters={self.filters!r}")
        fields["filters"] = tuple(check_int("filters", f, 1, MAX_UNITS) for f in self.filters)
        for name in ("jit_compile", "denoising"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"`{name}` must be True or False. Received: {name}={getattr(self, name)!r}")
        refused = [name for name in OPTIONAL if name not in supports and fields.get(name, getattr(self, name)) != _default(name)]
        if refused:
            raise ValueError(f"`model={self.model!r}` does not support {', '.join(refused)}: leave them at their defaults. "
                             f"Received: {', '.join(f'{n}={getattr(self, n)!r}' for n in refused)}")
        if fields["convs_per_stage"] != 1 and fields["dense_units"] != 0:
            raise ValueError("`convs_per_stage` applies to spatial codes only: set dense_units=0 or leave it at 1. "
                             f"Received: convs_per_stage={self.convs_per_stage!r}, dense_units={self.dense_units!r}")
        height, width, _ = IMAGE_SHAPES[self.dataset]
        multiple = model_kind(self.model).side_multiple(fields["filters"])
        if height % multiple or width % multiple:
            raise ValueError(f"`dataset={self.dataset!r}` has {height} x {width} images, which `model={self.model!r}` with "
                             f"filters={fields['filters']} cannot take: its sides must be multiples of {multiple}. "
                             "Choose another dataset, or a kind without convolutions (model='mlp_vae').")
        if self.init_from is not None:
            _check_init_from(self)
        for name, value in fields.items():  # plain Python numbers, so the cache key never sees numpy types
            object.__setattr__(self, name, value)

    @property
    def takes_labels(self) -> bool:
        """Whether the model trains on images and their labels (a conditional VAE)."""
        return model_kind(self.model).takes_labels

    @property
    def records_snapshots(self) -> bool:
        """Whether training records per-epoch snapshots (for the training animations)."""
        return self.snapshot_images > 0 or self.snapshot_samples > 0

    def key(self) -> str:
        """Cache key: a readable prefix and a hash of the config and the library versions."""
        prefix = self.dataset if self.normal_class is None else f"{self.dataset}-class{self.normal_class}"
        kind = model_kind(self.model).key_tag(self)
        kind = f"{kind}-denoising" if self.denoising else kind
        kind = kind if self.init_from is None else f"{kind}-from-{key_digest(key_material(self.init_from))[:8]}"
        return f"{prefix}-z{self.latent_dim}-{kind}-e{self.epochs}-{key_digest(key_material(self))}"


_SHARED_WITH_PARENT = ("dataset", "model", "latent_dim", "filters", "dense_units", "convs_per_stage", "denoising",
                       "normal_class", "validation_images")


def _check_init_from(config: TrainConfig) -> None:
    """A warm start must come from a config with the same data and architecture (its weights must fit)."""
    parent = config.init_from
    if not isinstance(parent, TrainConfig):
        raise ValueError(f"`init_from` must be a TrainConfig or None. Received: init_from={parent!r}")
    differ = [name for name in _SHARED_WITH_PARENT if getattr(parent, name) != getattr(config, name)]
    if differ:
        raise ValueError(f"`init_from` must have the same {', '.join(_SHARED_WITH_PARENT)} as the config it starts. "
                         f"Received: init_from with {', '.join(f'{n}={getattr(parent, n)!r}' for n in differ)} "
                         f"(this config: {', '.join(f'{n}={getattr(config, n)!r}' for n in differ)})")


def _default(name: str):
    return TrainConfig.__dataclass_fields__[name].default


# Left out of the key at their defaults, so older keys stay valid.
_ADDED_LATER = ("model", "normal_class", "validation_images", "denoising", "objective", "capacity_nats",
                "convs_per_stage", "init_from", "iwae_samples")


def key_material(config: TrainConfig) -> dict:
    """What a cache key hashes: the settings (in the form keys have always had) and the library versions.

    Each kind may rewrite its settings (``ModelKind.key_settings``): a conditional VAE is keyed as it was
    before ``model="conditional_vae"`` existed, ``conditional: true`` with the default ``model``.
    """
    settings = dataclasses.asdict(config)
    if config.init_from is not None:  # the parent as its own key material says it (recursively)
        settings["init_from"] = key_material(config.init_from)["config"]
    settings = model_kind(config.model).key_settings(settings)
    for name in _ADDED_LATER:
        if settings[name] == _default(name):
            del settings[name]
    if settings["dataset"] in ("shapes", "shapes_grid"):   # the data and the TC estimator changed under the same settings
        settings["shapes_data"] = SHAPES_DATA_VERSION
    return {"config": settings, "versions": library_versions()}


@dataclass
class TrainResult:
    """A trained model (``.model``; ``.vae`` is the same object) with its Keras history and where it came from."""

    model: keras.Model
    history: dict[str, list[float]]
    config: TrainConfig
    from_cache: bool
    path: Path | None = field(default=None)
    snapshots: dict[str, np.ndarray] | None = field(default=None)
    class_names: tuple[str, ...] = ()  # the dataset's, for legends

    @property
    def vae(self) -> keras.Model:
        """The trained model (the name notebooks 02-06 use)."""
        return self.model


def make_optimizer(learning_rate: float, schedule: str = "cosine", total_steps: int | None = None):
    """Adam at ``learning_rate``, constant or decayed along a cosine to 2% of it over ``total_steps``."""
    if schedule not in ("cosine", "constant"):
        raise ValueError(f"`schedule` must be one of cosine, constant. Received: schedule={schedule!r}")
    learning_rate = check_number("learning_rate", learning_rate, strict=True)
    if schedule == "cosine":
        total_steps = check_int("total_steps", total_steps, 1)
        learning_rate = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=total_steps, alpha=0.02)
    return keras.optimizers.Adam(learning_rate)


def _scope(strategy):
    """``strategy.scope()``, or a no-op context for one device."""
    return strategy.scope() if strategy is not None else contextlib.nullcontext()


def build_for(config: TrainConfig, dataset: Dataset, strategy=None) -> keras.Model:
    """A fresh model for ``config``, compiled for ``dataset``'s training images (weights seeded by ``config.seed``).

    With a ``strategy``, the model and its optimizer are created in ``strategy.scope()``.
    """
    with _scope(strategy):
        keras.utils.set_random_seed(config.seed)
        steps_per_epoch = math.ceil(len(dataset.x_train) / config.batch_size)
        model = model_kind(config.model).build(config, dataset, steps_per_epoch)
        model.compile(optimizer=make_optimizer(config.learning_rate, config.lr_schedule, config.epochs * steps_per_epoch),
                      jit_compile=config.jit_compile, steps_per_execution=config.steps_per_execution)
    return model


def training_data(config: TrainConfig) -> tuple[Dataset, tuple[np.ndarray, np.ndarray] | None]:
    """The data ``config`` trains on, and its held-out validation images and labels (None without ``validation_images``).

    The dataset's ``x_test`` is the test split (after ``n_test`` and ``normal_class``); with
    ``validation_images`` the last that many training images are left out of ``x_train`` and returned
    apart, and Keras reports its validation loss on them instead of on the test split.
    """
    if not isinstance(config, TrainConfig):
        raise TypeError(f"`config` must be a TrainConfig. Received: config={config!r}")
    ds = load_dataset(config.dataset, n_train=config.n_train, n_test=config.n_test, seed=config.seed)
    if config.normal_class is not None:
        ds = only_class(ds, config.normal_class)
    if not config.validation_images:
        return ds, None
    ds, x_val, y_val = hold_out(ds, config.validation_images)
    return ds, (x_val, y_val)


def _fit(model, config: TrainConfig, ds: Dataset, verbose: int, callbacks,
         validation: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[dict, dict | None]:
    """Train ``model`` in place; return its history and (if the config records them) its snapshots.

    Keras's validation loss is computed on ``validation`` (images, labels) if given, else on the test split.
    """
    index, z_fixed = snapshot_inputs(config, len(ds.x_test))
    latent = LatentSnapshots(ds.x_test[index], ds.y_test[index]) if len(index) and config.snapshot_images else None
    samples = SampleSnapshots(z_fixed) if config.snapshot_samples else None
    snapshot_callbacks = [cb for cb in (latent, samples) if cb is not None]
    timer = EpochTimer()  # first, so that its epoch times leave out the snapshots
    labels = config.takes_labels
    x_val, y_val = validation if validation is not None else (ds.x_test, ds.y_test)
    with _tf_warnings_silenced():
        fit = model.fit(ds.x_train, ds.y_train if labels else None, epochs=config.epochs,
                        batch_size=config.batch_size, shuffle=True, verbose=1 if verbose == 2 else 0,
                        validation_data=(x_val, y_val) if labels else (x_val,),
                        callbacks=[timer, StopOnNaN(), *snapshot_callbacks, *progress_callbacks(verbose),
                                   *(callbacks or [])])
    history = {k: [float(v) for v in np.ravel(vals)] for k, vals in fit.history.items()}
    history["epoch_seconds"] = timer.seconds
    if not config.records_snapshots:
        return history, None
    snapshots = {"test_index": index, "z_fixed": z_fixed,
                 "seconds": np.asarray(sum(cb.seconds for cb in snapshot_callbacks))}  # time spent in the callbacks
    if latent is not None:
        snapshots.update(z=np.stack(latent.z), labels=ds.y_test[index], epochs=np.asarray(latent.epochs))
    if samples is not None:
        snapshots.update(images=np.stack(samples.images), epochs=np.asarray(samples.epochs))
    return history, snapshots


def train_vae(config: TrainConfig, cache_dir: str | Path | None = None, retrain: bool = False, verbose: int = 1,
              callbacks: list | None = None, tensorboard_dir: str | Path | None = None, strategy=None) -> TrainResult:
    """Train the model ``config`` describes, or load it from the cache if an intact entry exists.

    Args:
        config: what to train (dataset, model kind, sizes, epochs, seed...).
        cache_dir: cache folder (default: :func:`~vae_helpers.training.cache.default_cache_dir`); it is checked
            for writing before training starts (:class:`~vae_helpers.training.cache.CacheNotWritableError`).
            If saving still fails after training, the model is returned with ``path=None`` and a
            :class:`~vae_helpers.training.cache.CacheWarning`.
        retrain: ignore an existing entry and train again (the entry is replaced).
        verbose: 0 quiet, 1 one line per epoch (:class:`~vae_helpers.training.callbacks.EpochLogger`), 2 Keras's progress bar.
        callbacks: extra Keras callbacks for ``fit`` (they do not run when the model is loaded).
        tensorboard_dir: write a TensorBoard run into ``tensorboard_dir/<config.key()>``: the losses per
            epoch and, for a VAE, decoded prior samples per epoch (:mod:`vae_helpers.training.tensorboard`).
            A model loaded from the cache gets its run written from the stored history and snapshots.
        strategy: a ``tf.distribute`` strategy to train with, such as ``tf.distribute.MirroredStrategy()``
            or ``MultiWorkerMirroredStrategy()`` (set up by ``$TF_CONFIG``). Each batch of
            ``config.batch_size`` images is split between the replicas and their gradients are summed
            (:meth:`~vae_helpers.models.base.CourseModel.apply_gradients`), so the result matches one device up
            to floating-point order. The cache key does not depend on it.
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
    cache_dir = resolve_cache_dir(cache_dir)
    run_dir = None
    if tensorboard_dir is not None:
        run_dir = check_writable_folder("tensorboard_dir", tensorboard_dir) / config.key()
        check_apart("tensorboard_dir", tensorboard_dir, cache_dir)
    ds, validation = training_data(config)
    if strategy is not None:
        check_even_batches(config.batch_size, strategy.num_replicas_in_sync)

    loggers = []

    def train(model):
        if config.init_from is not None:  # warm start: the parent's weights (trained or loaded), a fresh optimizer
            model.set_weights(train_vae(config.init_from, cache_dir=cache_dir, verbose=verbose).model.get_weights())
        extra = list(callbacks or [])
        if run_dir is not None:  # created only when training starts: it replaces the run's folder
            from .tensorboard import TensorBoardLogger, run_samples

            loggers.append(TensorBoardLogger(run_dir, run_samples(config, len(ds.x_test))))
            extra.append(loggers[-1])
        return _fit(model, config, ds, verbose, extra, validation)

    trained: Trained = load_or_train(
        cache_dir / config.key(), key_material(config),
        build=lambda: build_for(config, ds), train=train,
        retrain=retrain, with_snapshots=config.records_snapshots, scope=lambda: _scope(strategy))
    result = TrainResult(trained.model, trained.history, config, trained.from_cache, trained.path, trained.snapshots,
                         ds.class_names)
    if run_dir is not None:
        from .tensorboard import TensorBoardWarning, check_run, write_cached_run

        error = write_cached_run(result, run_dir, len(ds.x_test)) if result.from_cache else loggers[-1].run.error
        problem = check_run(run_dir, len(result.history.get("loss", [])), error)
        if problem is not None:
            where = f"it is cached in {result.path}, so" if result.path else "once it is cached,"
            warnings.warn(f"The TensorBoard run {run_dir} is incomplete ({problem}). The model itself is trained: "
                          f"{where} running again with the same settings writes the run from the cache.",
                          TensorBoardWarning, stacklevel=2)
    return result


def train_many(configs: dict[str, TrainConfig], cache_dir: str | Path | None = None) -> dict[str, keras.Model]:
    """Train (or load) each config of ``{name: config}`` quietly, printing one line per model; return the models by name.

    For notebooks that train dozens of small models: a line per model says the cell is working, where
    one line per epoch of each would bury the results.
    """
    if not isinstance(configs, dict) or not all(isinstance(c, TrainConfig) for c in configs.values()):
        raise ValueError(f"`configs` must be a dict of name -> TrainConfig. Received: configs={configs!r}")
    models = {}
    for name, config in configs.items():
        start = time.perf_counter()
        result = train_vae(config, cache_dir=cache_dir, verbose=0)
        how = "loaded from the cache" if result.from_cache else f"trained for {config.epochs} epochs"
        print(f"{name}: {how} in {time.perf_counter() - start:.0f} s (final training loss "
              f"{result.history['loss'][-1]:.2f})", flush=True)
        models[name] = result.model
    return models


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
