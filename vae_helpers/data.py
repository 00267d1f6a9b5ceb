"""Datasets for the course: MNIST, Fashion-MNIST (through the real Keras loaders) and 8x8 digits.

Every loader returns images as float32 in [0, 1] with a channel axis, integer labels,
and the human-readable class names. ``binarized_mnist`` is MNIST with every pixel drawn once
as a Bernoulli sample of its grey level, with a fixed seed (a *static* binarization, the usual
benchmark for likelihoods in nats): a Bernoulli decoder is then a proper likelihood.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
DIGIT_CLASSES = tuple(str(d) for d in range(10))
DATASETS = ("mnist", "fashion_mnist", "digits", "binarized_mnist")
BINARIZATION_SEED = 1234  # fixes the one Bernoulli draw per pixel of binarized_mnist


class DatasetUnavailableError(RuntimeError):
    """Raised when a dataset is neither in the Keras cache nor downloadable."""


@dataclass(frozen=True)
class Dataset:
    """Train and test splits of one image dataset.

    Images are float32 arrays of shape ``(n, height, width, channels)`` in [0, 1];
    labels are int64 arrays of shape ``(n,)`` indexing ``class_names``.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """Shape of one image: ``(height, width, channels)``."""
        return tuple(self.x_train.shape[1:])


def keras_cache_dir() -> str:
    """The folder where Keras looks for (and downloads) datasets."""
    from keras.src.backend import config  # the same lookup `keras.utils.get_file` uses

    return os.path.join(config.keras_home(), "datasets")


def _to_images(x: np.ndarray, max_value: float) -> np.ndarray:
    """Scale integer pixels to float32 in [0, 1] and add a channel axis."""
    return (np.asarray(x, dtype=np.float32) / max_value)[..., np.newaxis]


def _load_keras(name: str) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Call the real Keras loader; turn a failed download into a clear error."""
    import keras

    loader = {"mnist": keras.datasets.mnist, "fashion_mnist": keras.datasets.fashion_mnist}[name]
    try:
        return loader.load_data()
    except Exception as exc:  # Keras raises a bare Exception on URL errors
        raise DatasetUnavailableError(
            f"Could not fetch the {name!r} dataset: it is not in the Keras cache "
            f"({keras_cache_dir()}) and the download failed ({type(exc).__name__}: {exc}). "
            "To use it offline, copy the files Keras downloads (mnist.npz, or the four "
            "fashion-mnist/*.gz files) into $KERAS_HOME/datasets/ (default ~/.keras/datasets/) "
            "and make sure KERAS_HOME is set before Keras is imported."
        ) from exc


def binarize(x: np.ndarray, seed: int | Sequence[int] = BINARIZATION_SEED) -> np.ndarray:
    """Draw each pixel once: 1 with probability equal to its grey level in [0, 1], else 0."""
    x = np.asarray(x, dtype=np.float32)
    if x.size == 0 or not (np.all(x >= 0) and np.all(x <= 1)):
        raise ValueError("`x` must be a non-empty array of grey levels in [0, 1]. "
                         f"Received: x with range [{x.min() if x.size else None}, {x.max() if x.size else None}]")
    return (np.random.default_rng(seed).random(x.shape, dtype=np.float32) < x).astype(np.float32)


def _load_digits(seed: int = 0) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """scikit-learn's bundled 8x8 digits, split 80/20 with a fixed permutation."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    order = np.random.default_rng(seed).permutation(len(bunch.target))
    images, labels = bunch.images[order], bunch.target[order]
    n_train = int(0.8 * len(labels))
    return (images[:n_train], labels[:n_train]), (images[n_train:], labels[n_train:])


def _check_size(arg: str, value: int | None) -> None:
    if value is not None and (not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1):
        raise ValueError(f"`{arg}` must be a positive integer or None. Received: {arg}={value!r}")


def _subset(x: np.ndarray, y: np.ndarray, size: int | None, rng: np.random.Generator):
    """A deterministic random subset of ``size`` examples (all of them if ``size`` is None)."""
    if size is None or size >= len(y):
        return x, y
    keep = np.sort(rng.choice(len(y), size=size, replace=False))
    return x[keep], y[keep]


def load_dataset(
    name: str,
    n_train: int | None = None,
    n_test: int | None = None,
    seed: int = 0,
) -> Dataset:
    """Load ``name`` (one of :data:`DATASETS`) scaled to [0, 1] with a channel axis.

    Args:
        name: ``"mnist"``, ``"fashion_mnist"``, ``"digits"`` (offline, 8x8) or ``"binarized_mnist"``.
        n_train: keep a random subset of this many training images (None: all).
        n_test: keep a random subset of this many test images (None: all).
        seed: seed of the subset choice; the same seed gives the same subset.
    """
    if name not in DATASETS:
        raise ValueError(f"`name` must be one of {', '.join(DATASETS)}. Received: name={name!r}")
    _check_size("n_train", n_train)
    _check_size("n_test", n_test)
    if name == "digits":
        (x_train, y_train), (x_test, y_test) = _load_digits()
        max_value, class_names = 16.0, DIGIT_CLASSES
    else:
        (x_train, y_train), (x_test, y_test) = _load_keras("mnist" if name == "binarized_mnist" else name)
        max_value = 255.0
        class_names = FASHION_MNIST_CLASSES if name == "fashion_mnist" else DIGIT_CLASSES
    if name == "binarized_mnist":  # binarize the whole splits first, so a subset never changes an image
        x_train = binarize(x_train / max_value, seed=[BINARIZATION_SEED, 0]) * max_value
        x_test = binarize(x_test / max_value, seed=[BINARIZATION_SEED, 1]) * max_value
    # One stream per split, so the test subset does not depend on `n_train`.
    x_train, y_train = _subset(x_train, y_train, n_train, np.random.default_rng([seed, 0]))
    x_test, y_test = _subset(x_test, y_test, n_test, np.random.default_rng([seed, 1]))
    return Dataset(
        name=name,
        x_train=_to_images(x_train, max_value),
        y_train=np.asarray(y_train, dtype=np.int64),
        x_test=_to_images(x_test, max_value),
        y_test=np.asarray(y_test, dtype=np.int64),
        class_names=class_names,
    )
