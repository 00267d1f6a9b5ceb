"""A small convolutional classifier, trained once and cached like the VAEs, to judge generated images.

It answers "which class does this generated image look like, and how sure is it?", which is
how notebook 08 measures a conditional VAE (does it draw the digit it was asked for?) and mode
coverage (does the prior decode to every class equally often?).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..training.cache import key_digest, library_versions, load_or_train, resolve_cache_dir
from ..core.checks import check_images, check_int, check_labels, check_number, check_seed
from ..data.datasets import DATASETS, load_dataset
from ..data.shapes import DATA_VERSION as SHAPES_DATA_VERSION
from ..models.builders import run_batched
from ..core.tf_startup import keras

__all__ = ["Classifier", "ClassifierConfig", "build_classifier", "per_class_accuracy", "total_variation", "total_variation_band",
           "train_classifier"]

layers = keras.layers


@dataclass(frozen=True)
class ClassifierConfig:
    """Everything that determines a trained classifier."""

    dataset: str = "mnist"
    epochs: int = 3
    batch_size: int = 128
    seed: int = 0
    n_train: int | None = None
    n_test: int | None = None

    def __post_init__(self):
        if self.dataset not in DATASETS:
            raise ValueError(f"`dataset` must be one of {', '.join(DATASETS)}. Received: dataset={self.dataset!r}")
        values = {"epochs": check_int("epochs", self.epochs), "batch_size": check_int("batch_size", self.batch_size),
                  "seed": check_seed("seed", self.seed), "n_train": check_int("n_train", self.n_train, or_none=True),
                  "n_test": check_int("n_test", self.n_test, or_none=True)}
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def key(self) -> str:
        """Cache key: a readable prefix and a hash of the config and the library versions."""
        return f"classifier-{self.dataset}-e{self.epochs}-{key_digest(_key_material(self))}"


def _key_material(config: ClassifierConfig) -> dict:
    settings = dataclasses.asdict(config)
    if config.dataset in ("shapes", "shapes_grid"):   # the drawn data changes under the same settings
        settings["shapes_data"] = SHAPES_DATA_VERSION
    return {"classifier": settings, "versions": library_versions()}


@dataclass
class Classifier:
    """A trained classifier: the Keras model (logits), its history and its accuracy on the test split."""

    model: keras.Model
    history: dict[str, list[float]]
    test_accuracy: float
    config: ClassifierConfig
    from_cache: bool

    def predict_proba(self, x, batch_size: int = 1024) -> np.ndarray:
        """Class probabilities ``(n, n_classes)`` of images ``x`` in [0, 1]."""
        x = check_images("x", x, tuple(int(s) for s in self.model.input_shape[1:]))
        logits = run_batched(self.model, x, batch_size).astype("float64")
        logits -= logits.max(1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(1, keepdims=True)


def build_classifier(input_shape: tuple[int, int, int], n_classes: int) -> keras.Model:
    """Two conv + max-pool blocks, dropout and a dense layer of logits."""
    return keras.Sequential([
        keras.Input(shape=input_shape, name="image"),
        layers.Conv2D(32, 3, padding="same", activation="relu", name="conv_0"),
        layers.MaxPooling2D(name="pool_0"),
        layers.Conv2D(64, 3, padding="same", activation="relu", name="conv_1"),
        layers.MaxPooling2D(name="pool_1"),
        layers.Flatten(name="flatten"),
        layers.Dropout(0.3, name="dropout"),
        layers.Dense(n_classes, name="logits"),
    ], name="classifier")


def _compiled(config: ClassifierConfig, image_shape, n_classes: int) -> keras.Model:
    keras.utils.set_random_seed(config.seed)
    model = build_classifier(image_shape, n_classes)
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    return model


def train_classifier(config: ClassifierConfig = ClassifierConfig(), cache_dir: str | Path | None = None,
                     retrain: bool = False, verbose: int = 0) -> Classifier:
    """Train the classifier for ``config``, or load it from the model cache; report its test accuracy."""
    if not isinstance(config, ClassifierConfig):
        raise TypeError(f"`config` must be a ClassifierConfig. Received: config={config!r}")
    cache_dir = resolve_cache_dir(cache_dir)
    ds = load_dataset(config.dataset, n_train=config.n_train, n_test=config.n_test, seed=config.seed)

    def train(model):
        start = time.perf_counter()
        fit = model.fit(ds.x_train, ds.y_train, epochs=config.epochs, batch_size=config.batch_size,
                        shuffle=True, verbose=verbose)
        history = {k: [float(v) for v in vals] for k, vals in fit.history.items()}
        history["train_seconds"] = [time.perf_counter() - start]
        return history, None

    trained = load_or_train(cache_dir / config.key(), _key_material(config),
                            build=lambda: _compiled(config, ds.image_shape, len(ds.class_names)), train=train,
                            retrain=retrain)
    classifier = Classifier(trained.model, trained.history, 0.0, config, trained.from_cache)
    classifier.test_accuracy = float((classifier.predict_proba(ds.x_test).argmax(1) == ds.y_test).mean())
    return classifier


def per_class_accuracy(probabilities, requested) -> np.ndarray:
    """For each class c, the share of images requested as c that the classifier assigns to c."""
    probabilities = np.asarray(probabilities)
    if probabilities.ndim != 2:
        raise ValueError(f"`probabilities` must have shape (n, n_classes). Received: probabilities.shape={probabilities.shape}")
    requested = check_labels("requested", requested, n=len(probabilities), n_classes=probabilities.shape[1])
    predicted = probabilities.argmax(1)
    return np.array([(predicted[requested == c] == c).mean() if np.any(requested == c) else np.nan
                     for c in range(probabilities.shape[1])])


def total_variation(p, q) -> float:
    """Total variation distance ``0.5 * sum |p - q|`` between two distributions over the same classes."""
    p, q = np.asarray(p, dtype="float64"), np.asarray(q, dtype="float64")
    if p.shape != q.shape or p.ndim != 1 or not (np.all(np.isfinite(p)) and np.all(np.isfinite(q))) \
            or np.any(p < 0) or np.any(q < 0) or p.sum() <= 0 or q.sum() <= 0:
        raise ValueError(f"`p` and `q` must be finite non-negative vectors of one length with a positive sum. "
                         f"Received: p={p!r}, q={q!r}")
    return float(0.5 * np.abs(p / p.sum() - q / q.sum()).sum())


def total_variation_band(p, n: int, level: float = 0.95, draws: int = 2000, seed: int = 0) -> float:
    """How far ``n`` draws from ``p`` land from ``p`` by chance: the ``level`` quantile of their TV distance.

    A model's class shares over ``n`` samples are a multinomial draw even when the model matches
    ``p`` exactly, so a measured TV below this band is noise; only one above it is a real gap.
    """
    p = np.asarray(p, dtype="float64")
    total_variation(p, p)   # the same checks as for a distance
    n, draws = check_int("n", n, 1, 10**9), check_int("draws", draws, 1, 100_000)
    level = check_number("level", level)
    if not 0 < level < 1:
        raise ValueError(f"`level` must be in (0, 1). Received: level={level!r}")
    p = p / p.sum()
    shares = np.random.default_rng(check_seed("seed", seed)).multinomial(n, p, size=draws) / n
    return float(np.quantile(0.5 * np.abs(shares - p).sum(axis=1), level))
