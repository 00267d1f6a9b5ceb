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

from ..core.checks import check_int, check_pixels, check_seed
from .shapes import DEFAULT_SIZE as SHAPES_SIZE

__all__ = ["BINARIZATION_SEED", "DATASETS", "SHAPES_SEED", "SHAPES_TRAIN_SIZE", "DIGIT_CLASSES", "Dataset", "DatasetUnavailableError",
           "FASHION_MNIST_CLASSES", "IMAGE_SHAPES", "KERAS_FILES", "binarize", "keras_cache_dir", "load_dataset",
           "only_class", "hold_out", "pixel_levels"]

FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
DIGIT_CLASSES = tuple(str(d) for d in range(10))
DATASETS = ("mnist", "fashion_mnist", "digits", "binarized_mnist", "shapes", "shapes_grid")
#: The shape of one image of each dataset, known before loading it (a model kind checks that it can take it).
IMAGE_SHAPES = {"mnist": (28, 28, 1), "fashion_mnist": (28, 28, 1), "digits": (8, 8, 1), "binarized_mnist": (28, 28, 1),
                "shapes": (SHAPES_SIZE, SHAPES_SIZE, 1), "shapes_grid": (SHAPES_SIZE, SHAPES_SIZE, 1)}
BINARIZATION_SEED = 1234  # fixes the one Bernoulli draw per pixel of binarized_mnist
SHAPES_TRAIN_SIZE, SHAPES_SEED = 60_000, 1234  # the "shapes" training split: this many random draws, this seed


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


# SHA-256 of the files Keras downloads (mnist.npz's is the one keras.datasets.mnist checks).
KERAS_FILES = {
    "mnist": {"mnist.npz": "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"},
    "fashion_mnist": {
        "fashion-mnist/train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "fashion-mnist/train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "fashion-mnist/t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
        "fashion-mnist/t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
    },
}
_VERIFIED: set[tuple[str, int, int]] = set()  # (path, size, mtime) of files whose hash was checked


def keras_cache_dir() -> str:
    """The folder where Keras looks for (and downloads) datasets.

    That is ``$KERAS_HOME/datasets`` (default ``~/.keras/datasets``), except when that home is
    not writable: Keras then silently uses ``/tmp/.keras/datasets`` (``keras.utils.get_file``).
    """
    import tempfile

    from keras.src.backend import config  # the same lookup `keras.utils.get_file` uses

    home = os.path.expanduser(config.keras_home())
    if not os.access(home, os.W_OK):
        home = os.path.join("/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir(), ".keras")
    return os.path.join(home, "datasets")


def _intended_cache_dir() -> str:
    from keras.src.backend import config

    return os.path.join(os.path.expanduser(config.keras_home()), "datasets")


def _sha256(path: str) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_keras_files(name: str) -> None:
    """Say clearly what is wrong with the cached files of ``name`` before Keras reads them."""
    if "KERAS_HOME" in os.environ and not os.environ["KERAS_HOME"].strip():
        raise DatasetUnavailableError(
            f"KERAS_HOME is set but empty, so Keras would look for the {name!r} files in {keras_cache_dir()}. "
            "Unset it (Keras then uses ~/.keras) or point it at the folder that holds datasets/."
        )
    folder, intended = keras_cache_dir(), _intended_cache_dir()
    files = KERAS_FILES[name]
    present = [f for f in files if os.path.isfile(os.path.join(folder, f))]
    if folder != intended and not present and any(os.path.isfile(os.path.join(intended, f)) for f in files):
        raise DatasetUnavailableError(
            f"The {name!r} files are in {intended}, but Keras will not read them: that KERAS_HOME is not "
            f"writable, so Keras uses {folder} instead. Make {os.path.dirname(intended)} writable "
            "(chmod -R u+w), or point KERAS_HOME at a writable copy of it."
        )
    for rel in present:
        path = os.path.join(folder, rel)
        stat = os.stat(path)
        key = (path, stat.st_size, stat.st_mtime_ns)
        if key in _VERIFIED:
            continue
        if _sha256(path) != files[rel]:
            raise DatasetUnavailableError(
                f"The cached file {path} is damaged or incomplete ({stat.st_size:,} bytes; its SHA-256 differs from "
                f"the file Keras downloads). Delete it and copy it again from a good source (or let Keras download it)."
            )
        _VERIFIED.add(key)


def _to_images(x: np.ndarray, max_value: float) -> np.ndarray:
    """Scale integer pixels to float32 in [0, 1] and add a channel axis."""
    return (np.asarray(x, dtype=np.float32) / max_value)[..., np.newaxis]


def _load_keras(name: str) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Call the real Keras loader; turn a missing or damaged file into a clear error."""
    import keras

    _check_keras_files(name)
    loader = {"mnist": keras.datasets.mnist, "fashion_mnist": keras.datasets.fashion_mnist}[name]
    missing = [f for f in KERAS_FILES[name] if not os.path.isfile(os.path.join(keras_cache_dir(), f))]
    try:
        return loader.load_data()
    except Exception as exc:  # Keras raises a bare Exception on URL errors
        if not missing:  # nothing had to be downloaded: reading the files failed
            raise DatasetUnavailableError(
                f"Keras could not read the {name!r} files in {keras_cache_dir()} ({type(exc).__name__}: {exc})."
            ) from exc
        raise DatasetUnavailableError(
            f"Could not fetch the {name!r} dataset: {', '.join(missing)} not in the Keras cache "
            f"({keras_cache_dir()}) and the download failed ({type(exc).__name__}: {exc}). "
            "To use it offline, copy the files Keras downloads (mnist.npz, or the four "
            "fashion-mnist/*.gz files) into $KERAS_HOME/datasets/ (default ~/.keras/datasets/) "
            "and make sure KERAS_HOME is set before Keras is imported."
        ) from exc


def pixel_levels(x) -> np.ndarray:
    """Pixel values in [0, 1] as the nearest of the 256 levels of an 8-bit image: ``round(255 x)`` (int64, same shape).

    The course's one rounding to 8 bits (PNG and codec files, pixel histograms, 8-bit inputs). Values must
    be finite and in [0, 1] (any shape); computed in the input's own precision.
    """
    return np.rint(check_pixels("x", x) * 255.0).astype(np.int64)


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


def _check_size(arg: str, value: int | None, split_size: int, name: str) -> int | None:
    """``value`` (already a positive int or None) if the split has that many examples."""
    if value is not None and value > split_size:
        split = "training" if arg == "n_train" else "test"
        raise ValueError(f"`{arg}` must be at most {split_size:,}, the size of the {name} {split} split "
                         f"(or None for all of it). Received: {arg}={value!r}")
    return value


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
        name: ``"mnist"``, ``"fashion_mnist"``, ``"digits"`` (offline, 8x8), ``"binarized_mnist"`` or
            ``"shapes"`` (dSprites-like images of :mod:`vae_helpers.data.shapes`, labelled by shape: the
            training split is ``SHAPES_TRAIN_SIZE`` images with factors drawn at random, the test
            split the factor grid, on which disentanglement is measured), or ``"shapes_grid"`` (the same
            images, trained on the factor grid itself as models are trained and scored on dSprites; its
            test split is the grid of the values halfway between, which shares no image with it).
        n_train: keep a random subset of this many training images (None: all).
        n_test: keep a random subset of this many test images (None: all).
        seed: seed of the subset choice; the same seed gives the same subset.
    """
    if name not in DATASETS:
        raise ValueError(f"`name` must be one of {', '.join(DATASETS)}. Received: name={name!r}")
    n_train, n_test = (check_int(arg, value, 1, or_none=True) for arg, value in (("n_train", n_train), ("n_test", n_test)))
    seed = check_seed("seed", seed)
    if name == "digits":
        (x_train, y_train), (x_test, y_test) = _load_digits()
        max_value, class_names = 16.0, DIGIT_CLASSES
    elif name == "shapes":  # random factors to train on, the factor grid to test on (see vae_helpers.data.shapes)
        from .shapes import SHAPES, make_shapes, random_shapes

        x_train, factors = random_shapes(SHAPES_TRAIN_SIZE, seed=SHAPES_SEED)
        grid = make_shapes()
        x_train, y_train = x_train[..., 0], factors[:, 0].astype("int64")
        x_test, y_test = grid.images[..., 0], grid.factors[:, 0]
        max_value, class_names = 1.0, SHAPES
    elif name == "shapes_grid":  # the factor grid to train on, the grid of the values between to test on
        from .shapes import SHAPES, make_shapes

        grid, between = make_shapes(), make_shapes(between=True)
        x_train, y_train = grid.images[..., 0], grid.factors[:, 0]
        x_test, y_test = between.images[..., 0], between.factors[:, 0]
        max_value, class_names = 1.0, SHAPES
    else:
        (x_train, y_train), (x_test, y_test) = _load_keras("mnist" if name == "binarized_mnist" else name)
        max_value = 255.0
        class_names = FASHION_MNIST_CLASSES if name == "fashion_mnist" else DIGIT_CLASSES
    if name == "binarized_mnist":  # binarize the whole splits first, so a subset never changes an image
        x_train = binarize(x_train / max_value, seed=[BINARIZATION_SEED, 0]) * max_value
        x_test = binarize(x_test / max_value, seed=[BINARIZATION_SEED, 1]) * max_value
    n_train = _check_size("n_train", n_train, len(y_train), name)
    n_test = _check_size("n_test", n_test, len(y_test), name)
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


def hold_out(ds: Dataset, n: int) -> tuple[Dataset, np.ndarray, np.ndarray]:
    """Split the last ``n`` training images off ``ds``: ``(ds without them, their images, their labels)``.

    The held-out images are validation data from the training split: recipes are chosen on them, never
    on the test split that a table reports.
    """
    import dataclasses

    n = check_int("n", n, 1)
    if n >= len(ds.y_train):
        raise ValueError(f"`n` must leave training images: the {ds.name} training split (after any subset or class) "
                         f"has {len(ds.y_train):,}. Received: n={n!r}")
    train = dataclasses.replace(ds, x_train=ds.x_train[:-n], y_train=ds.y_train[:-n])
    return train, ds.x_train[-n:], ds.y_train[-n:]


def only_class(ds: Dataset, normal_class: int) -> Dataset:
    """``ds`` restricted to the images of ``normal_class`` in both splits (after any ``n_train``/``n_test`` subset)."""
    import dataclasses

    normal_class = check_int("normal_class", normal_class, 0, len(ds.class_names) - 1)
    train, test = ds.y_train == normal_class, ds.y_test == normal_class
    if not train.any() or not test.any():
        raise ValueError(f"`normal_class` {normal_class} has no images in the (subset of the) {ds.name} "
                         f"{'training' if not train.any() else 'test'} split. Received: normal_class={normal_class}")
    return dataclasses.replace(ds, x_train=ds.x_train[train], y_train=ds.y_train[train],
                               x_test=ds.x_test[test], y_test=ds.y_test[test])
