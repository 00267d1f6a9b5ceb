"""A VAE whose decoder is a Gaussian of fixed standard deviation per pixel: the squared error as its likelihood.

The Bernoulli decoder of notebook 02 charges an error on a pixel near 0 or 1 far more than the same
error on a grey one; PSNR, by which an image codec is judged, charges them alike. This model kind
(``"gaussian_vae"``) is trained on the squared error that PSNR measures: ``p(x|z) = N(sigmoid(decoder(z)), SIGMA²)`` per pixel, so that

    -log p(x|z) = ||x - x_hat||² / (2 SIGMA²) + const,     loss = -log p(x|z) + beta * KL(q(z|x) || p(z))

which is the rate–distortion Lagrangian of learned image codecs (Ballé et al. 2017): a squared error
plus a weighted rate. ``SIGMA`` only sets the unit of beta (the trade-off depends on ``beta * SIGMA²``).
Everything else is the course's :class:`~vae_helpers.models.vae.VAE`, a spatial latent included
(notebook 07's rate–distortion family).
"""

from __future__ import annotations

from collections.abc import Sequence

from ..core.tf_startup import keras
from .builders import DENSE_UNITS
from .densities import gaussian_pixel_log_likelihood
from .kind import ModelKind
from .vae import VAE, vae_networks

__all__ = ["KIND", "SIGMA", "SUPPORTS", "GaussianVAE", "build_from_config", "build_gaussian_vae"]

SIGMA = 0.1   # the decoder's standard deviation per pixel (pixel units)


@keras.saving.register_keras_serializable(package="vae_helpers")
class GaussianVAE(VAE):
    """A :class:`~vae_helpers.models.vae.VAE` with ``p(x|z) = N(sigmoid(logits), SIGMA²)`` per pixel."""

    likelihood = "gaussian"

    def log_likelihood(self, x, decoder_output):
        """``log p(x|z)`` of each image in nats (a density of grey levels) from the decoder's logits."""
        return gaussian_pixel_log_likelihood(x, decoder_output, SIGMA)


def build_gaussian_vae(input_shape: Sequence[int], latent_dim: int = 16, filters: Sequence[int] = (32, 64),
                       dense_units: int = DENSE_UNITS, beta: float = 1.0, seed: int | None = None,
                       convs_per_stage: int = 1, **vae_kwargs) -> GaussianVAE:
    """The networks of :func:`~vae_helpers.models.vae.build_vae` (``dense_units=0``: a spatial latent), Gaussian decoder."""
    vae = GaussianVAE(*vae_networks(input_shape, latent_dim, filters, dense_units, convs_per_stage), beta=beta, seed=seed,
                      name="gaussian_vae", **vae_kwargs)
    vae.build((None, *input_shape))
    return vae


#: The TrainConfig options this model kind supports beyond the shared ones (vae_helpers.training.trainer's registry).
SUPPORTS = frozenset({"filters", "beta", "kl_warmup_epochs", "spatial_code", "convs_per_stage"})


def build_from_config(config, dataset, steps_per_epoch: int) -> GaussianVAE:
    """The model a :class:`~vae_helpers.training.trainer.TrainConfig` describes (the training registry's builder)."""
    return build_gaussian_vae(dataset.image_shape, config.latent_dim, config.filters, config.dense_units, config.beta,
                              seed=config.seed, convs_per_stage=config.convs_per_stage,
                              kl_warmup_steps=config.kl_warmup_epochs * steps_per_epoch)


#: This module's entry in the registry of model kinds (:data:`vae_helpers.models.registry.MODEL_KINDS`).
KIND = ModelKind("gaussian_vae", build_from_config, SUPPORTS, likelihood="gaussian",
                 key_tag=lambda config: f"gauss-beta{config.beta:g}")
