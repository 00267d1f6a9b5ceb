"""Recipes that a notebook and a benchmark share, so that both run the same comparison on the same cached models.

Notebook 05, section 3 (denoising), and ``benchmarks/denoiser_seeds.py``: the noises, the grids the
classical denoisers are tuned over, how an image is corrupted, and the denoising autoencoder's
config. (Settings that live in a notebook's Parameters cell are read by benchmarks with
:func:`vae_helpers.notebook.notebook_parameters` instead.)
"""

from __future__ import annotations

import numpy as np

from ..core.settings import RunSettings
from ..measures import image_quality as iq
from ..training.trainer import TrainConfig

__all__ = ["DENOISER_GRIDS", "DENOISING_NOISES", "corrupt", "denoising_ae_config"]

#: Notebook 05's noises: name -> (kind, level); Gaussian noise of standard deviation ``level``, or
#: salt and pepper on a share ``level`` of the pixels.
DENOISING_NOISES = {"Gaussian 0.1": ("gaussian", 0.1), "Gaussian 0.3": ("gaussian", 0.3), "Gaussian 0.5": ("gaussian", 0.5),
                    "salt & pepper 0.2": ("salt_and_pepper", 0.2)}

#: The values each classical denoiser (:data:`vae_helpers.measures.image_quality.DENOISERS`) is tuned over,
#: on validation images from the training split.
DENOISER_GRIDS = {"gaussian": (0.4, 0.5, 0.6, 0.75, 1.0, 1.25), "median": (3, 5, 7),
                  "total variation": (0.01, 0.02, 0.03, 0.06, 0.1, 0.15, 0.25, 0.4),
                  "wavelet (BayesShrink)": (0.5, 1.0, 1.5, 2.0, 3.0),
                  "non-local means": (0.05, 0.1, 0.2, 0.3, 0.45), "BM3D": (0.05, 0.07, 0.1, 0.15, 0.2, 0.3, 0.4)}


def corrupt(x, noise: str, seed: int) -> np.ndarray:
    """Images ``x`` under the noise named ``noise`` (a key of :data:`DENOISING_NOISES`), drawn with ``seed``."""
    if noise not in DENOISING_NOISES:
        raise ValueError(f"`noise` must be one of {', '.join(DENOISING_NOISES)}. Received: noise={noise!r}")
    kind, level = DENOISING_NOISES[noise]
    return iq.gaussian_noise(x, level, seed) if kind == "gaussian" else iq.salt_and_pepper(x, level, seed)


def denoising_ae_config(settings: RunSettings, seed: int = 0, latent_dim: int = 64) -> TrainConfig:
    """Notebook 05's denoising autoencoder: a 14 x 14 x ``latent_dim`` code, 64 filters, two convolutions per stage."""
    return TrainConfig(dataset="fashion_mnist", model="autoencoder", latent_dim=latent_dim, filters=(64,), dense_units=0,
                       convs_per_stage=2, epochs=settings.epochs(5), seed=seed, denoising=True,
                       n_train=settings.n_train, n_test=settings.n_test or 1000)
