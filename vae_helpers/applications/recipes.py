"""Recipes that a notebook and a benchmark share, so that both run the same comparison on the same cached models.

Notebook 05 (one-class anomaly detection) and ``benchmarks/one_class_recipes.py``: the one-class
models' config and the validation images, from the training split, that their recipe is chosen on.

Notebook 07, section 1 (denoising), and ``benchmarks/denoiser_recipes.py``: the noises, the grids the
classical denoisers are tuned over, how an image is corrupted, the denoising autoencoder's config and
the held-out training images that every denoising choice is made on.

Notebook 07, section 2 (rate and distortion), and ``benchmarks/rd_vae_recipes.py``: the β family of
VAEs with a spatial code trained on the squared error, and the held-out images its size is chosen on.
Notebook 08, section 5 (disentanglement), and ``benchmarks/disentangling_recipes.py``: the shapes VAEs,
each objective's candidate settings, and the setting of each that the benchmark chose on the
validation grid (``shapes.make_shapes(between=True)``), never on the grid the notebook scores.
(Settings that live in a notebook's Parameters cell are read by benchmarks with
:func:`vae_helpers.notebook.notebook_parameters` instead.)
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..core.checks import MAX_LATENT_DIM, check_int
from ..core.settings import RunSettings
from ..data.datasets import load_dataset
from ..measures import image_quality as iq
from ..training.trainer import TrainConfig, training_data

__all__ = ["DENOISER_GRIDS", "DENOISING_NOISES", "RD_VAE_BETAS", "corrupt", "denoising_ae_config", "denoising_validation",
           "held_out_images", "one_class_config", "one_class_validation", "rd_vae_base", "rd_vae_config"]


def one_class_config(settings: RunSettings, model: str, normal_class: int, seed: int, epochs: int) -> TrainConfig:
    """Notebook 05's one-class model: ``"autoencoder"`` or ``"vae"``, 16-D code, filters (16, 32), 128 dense units.

    It trains on the MNIST training images of ``normal_class`` except the last 500 (20 in a smoke run),
    which :func:`one_class_validation` keeps as normal validation images.
    """
    return TrainConfig(dataset="mnist", model=model, latent_dim=16, filters=(16, 32), dense_units=128,
                       epochs=settings.epochs(epochs), seed=seed, normal_class=normal_class,
                       validation_images=20 if settings.is_smoke else 500,
                       n_train=settings.n_train, n_test=settings.n_test or 1000)


def one_class_validation(config: TrainConfig, n_anomalies: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Validation images for ``config``'s one-class task, all from the training split, and which are anomalies.

    The normal class's held-out training images (``config.validation_images``) and ``n_anomalies``
    training images of the other classes (default: four times as many), drawn with the normal class
    as the seed. Recipes (epochs, the k of PCA) are chosen on these, never on the test split.
    """
    if not isinstance(config, TrainConfig) or config.normal_class is None or not config.validation_images:
        raise ValueError("`config` must be a one-class TrainConfig with validation_images (one_class_config). "
                         f"Received: config={config!r}")
    n_anomalies = check_int("n_anomalies", 4 * config.validation_images if n_anomalies is None else n_anomalies, 1)
    _, (x_normal, _) = training_data(config)
    full = load_dataset(config.dataset, n_train=config.n_train, seed=config.seed)
    others = np.flatnonzero(full.y_train != config.normal_class)
    pick = np.random.default_rng(config.normal_class).choice(others, min(n_anomalies, len(others)), replace=False)
    x = np.concatenate([x_normal, full.x_train[np.sort(pick)]])
    return x, np.r_[np.zeros(len(x_normal), bool), np.ones(len(pick), bool)]

#: Notebook 07's noises: name -> (kind, level); Gaussian noise of standard deviation ``level``, or
#: salt and pepper on a share ``level`` of the pixels.
DENOISING_NOISES = {"Gaussian 0.1": ("gaussian", 0.1), "Gaussian 0.3": ("gaussian", 0.3), "Gaussian 0.5": ("gaussian", 0.5),
                    "salt & pepper 0.2": ("salt_and_pepper", 0.2)}

#: The values each classical denoiser (:data:`vae_helpers.measures.image_quality.DENOISERS`) is tuned over,
#: on validation images from the training split.
DENOISER_GRIDS = {"gaussian": (0.4, 0.5, 0.6, 0.75, 1.0, 1.25, 1.5, 2.0), "median": (3, 5, 7), "adaptive median": (3, 5, 7, 9),
                  "total variation": (0.01, 0.02, 0.03, 0.06, 0.1, 0.15, 0.25, 0.4, 0.6, 1.0),
                  "wavelet (BayesShrink)": (0.5, 1.0, 1.5, 2.0, 3.0),
                  "non-local means": (0.05, 0.1, 0.2, 0.3, 0.45), "BM3D": (0.07, 0.1, 0.15, 0.2, 0.3, 0.4)}


def corrupt(x, noise: str, seed: int) -> np.ndarray:
    """Images ``x`` under the noise named ``noise`` (a key of :data:`DENOISING_NOISES`), drawn with ``seed``."""
    if noise not in DENOISING_NOISES:
        raise ValueError(f"`noise` must be one of {', '.join(DENOISING_NOISES)}. Received: noise={noise!r}")
    kind, level = DENOISING_NOISES[noise]
    return iq.gaussian_noise(x, level, seed) if kind == "gaussian" else iq.salt_and_pepper(x, level, seed)


def denoising_ae_config(settings: RunSettings, seed: int = 0, width: int = 64, epochs: int = 4) -> TrainConfig:
    """Notebook 07's denoising autoencoder: a 14 x 14 x ``width`` code, ``width`` filters, two convolutions per stage.

    It trains ``epochs`` (default 4; at most 2 in a smoke run) on the Fashion-MNIST training images
    except the last 1,000, which :func:`denoising_validation` returns: the width, the epochs and every
    classical method's parameter are chosen on those, never on the test split. (A smoke run holds out
    the last 64 of a subset drawn with ``seed``, so its seeds hold out different images.)
    """
    width, epochs = check_int("width", width, 1, MAX_LATENT_DIM), check_int("epochs", epochs, 1)
    return TrainConfig(dataset="fashion_mnist", model="autoencoder", latent_dim=width, filters=(width,), dense_units=0,
                       convs_per_stage=2, epochs=settings.epochs(epochs), seed=seed, denoising=True,
                       validation_images=64 if settings.is_smoke else 1000,
                       n_train=settings.n_train, n_test=settings.n_test or 1000)


def denoising_validation(config: TrainConfig) -> np.ndarray:
    """The clean training images that ``config`` (a :func:`denoising_ae_config`) holds out of its training."""
    if not isinstance(config, TrainConfig) or not config.denoising or not config.validation_images:
        raise ValueError("`config` must be a denoising TrainConfig with validation_images (denoising_ae_config). "
                         f"Received: config={config!r}")
    return held_out_images(config)


#: Notebook 07's rate–distortion family: one VAE per β (larger β, fewer bits), each fine-tuned from one base.
RD_VAE_BETAS = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0)


def rd_vae_base(settings: RunSettings, channels: int = 8, epochs: int = 5, seed: int = 0) -> TrainConfig:
    """The base of notebook 07's rate–distortion family: β = 1, a 7 x 7 x ``channels`` latent, the squared error.

    A ``"gaussian_vae"`` (:mod:`vae_helpers.models.gaussian`) with the course's filters (32, 64) and a spatial
    code, ``epochs`` epochs (at most 2 in a smoke run) on 21,000 Fashion-MNIST training images of which the
    last 1,000 (64 in a smoke run) are held out: :func:`held_out_images` returns them, and the number of
    channels is chosen on them (``benchmarks/rd_vae_recipes.py``), never on the test split.
    """
    channels, epochs = check_int("channels", channels, 1, MAX_LATENT_DIM), check_int("epochs", epochs, 1)
    return TrainConfig(dataset="fashion_mnist", model="gaussian_vae", latent_dim=channels, dense_units=0, beta=1.0,
                       epochs=settings.epochs(epochs), seed=seed, validation_images=64 if settings.is_smoke else 1000,
                       n_train=settings.n_train or 21_000, n_test=settings.n_test)


def rd_vae_config(settings: RunSettings, beta: float, channels: int = 8, epochs: int = 5, seed: int = 0) -> TrainConfig:
    """One point of the family: :func:`rd_vae_base` trained one more epoch at ``beta`` (at a third of the learning rate).

    Every point, β = 1 included, thus has the same budget, as notebook 07's 16-D sweep from the README model.
    """
    base = rd_vae_base(settings, channels, epochs, seed)
    return dataclasses.replace(base, beta=beta, epochs=1, learning_rate=1e-3, init_from=base)


def held_out_images(config: TrainConfig) -> np.ndarray:
    """The training images that ``config`` holds out of its training (``validation_images``): validation data."""
    if not isinstance(config, TrainConfig) or not config.validation_images:
        raise ValueError(f"`config` must be a TrainConfig with validation_images. Received: config={config!r}")
    return training_data(config)[1][0]


#: Notebook 08's objectives and the settings each was tried at (``benchmarks/disentangling_recipes.py``). ``beta``
#: weights the KL (β-VAE), the total correlation (β-TCVAE) or ``|KL - C|`` (capacity annealing, where it is γ).
DISENTANGLING_CANDIDATES = {
    "VAE": (dict(beta=1.0),),
    "beta-VAE": tuple(dict(beta=b) for b in (2.0, 4.0, 8.0)),
    "capacity": tuple(dict(objective="capacity", beta=100.0, capacity_nats=c) for c in (3.0, 6.0, 9.0)),
    "beta-TCVAE": tuple(dict(objective="beta_tcvae", beta=b) for b in (4.0, 8.0)),
}
#: The candidate of each objective with the best median MIG over the sweep's seeds on the validation grid.
DISENTANGLING_CHOSEN = {"VAE": DISENTANGLING_CANDIDATES["VAE"][0], "beta-VAE": DISENTANGLING_CANDIDATES["beta-VAE"][1],
                        "capacity": DISENTANGLING_CANDIDATES["capacity"][2], "beta-TCVAE": DISENTANGLING_CANDIDATES["beta-TCVAE"][0]}


def disentangling_config(settings: RunSettings, seed: int = 0, **objective) -> TrainConfig:
    """A shapes VAE of notebook 08: the ``"disentangling_vae"`` kind, a 10-D code, trained on the factor grid.

    The convolutional encoder and decoder of the course (filters 32, 32, 64; one dense layer of 256), as
    Burgess et al. (2018) and Locatello et al. (2019) use a convolutional VAE with a 10-D code on dSprites;
    22 epochs of the 4,704 grid images (about 810 steps of 128; at most 2 epochs in a smoke run) with
    Adam at 3·10⁻³ and a cosine decay. ``objective`` holds ``beta`` and, if any, ``objective`` and
    ``capacity_nats`` (one entry of :data:`DISENTANGLING_CANDIDATES`).
    """
    return TrainConfig(dataset="shapes_grid", model="disentangling_vae", latent_dim=10, filters=(32, 32, 64), dense_units=256,
                       batch_size=128, learning_rate=3e-3, epochs=settings.epochs(22), seed=seed,
                       n_train=settings.n_train, n_test=512, **objective)
