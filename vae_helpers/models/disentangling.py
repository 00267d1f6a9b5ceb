"""The convolutional VAE for disentanglement: the course's conv networks with β-VAE, β-TCVAE or capacity objectives.

The model kind ``"disentangling_vae"``. Burgess et al. (2018) and Locatello et al. (2019) train on
dSprites with a convolutional encoder and decoder (four stride-2 convolutions, then dense layers); an
MLP (``"mlp_vae"``, after Chen et al. 2018) needs far more steps to draw a shape at all, and on the
course's budget it learned only round blobs (``benchmarks/disentangling_recipes.py``). This kind
uses the course's convolutional encoder and decoder (:func:`~vae_helpers.models.builders.build_encoder`,
:func:`~vae_helpers.models.builders.build_decoder`: one stride-2 convolution per entry of
``filters``, one dense layer of ``dense_units``) with the objectives of
:class:`~vae_helpers.models.mlp_vae.DisentanglingVAE` (``TrainConfig.objective``).
"""

from __future__ import annotations

from collections.abc import Sequence

from .builders import build_decoder, build_encoder, start_at_mean_ink
from .kind import ModelKind
from .mlp_vae import CAPACITY_RAMP_SHARE, DisentanglingVAE

__all__ = ["KIND", "SUPPORTS", "build_conv_disentangling_vae", "build_from_config"]


def build_conv_disentangling_vae(input_shape: Sequence[int], latent_dim: int = 10, filters: Sequence[int] = (32, 32, 64),
                                 dense_units: int = 256, beta: float = 1.0, seed: int | None = None,
                                 **kwargs) -> DisentanglingVAE:
    """A :class:`~vae_helpers.models.mlp_vae.DisentanglingVAE` with the course's conv encoder and decoder.

    ``kwargs`` (``objective``, ``capacity_nats``, ``capacity_steps``) go to the model.
    """
    vae = DisentanglingVAE(build_encoder(input_shape, latent_dim, filters, dense_units, variational=True),
                           build_decoder(input_shape, latent_dim, filters), beta=beta, seed=seed,
                           name="disentangling_vae", **kwargs)
    vae.build((None, *input_shape))
    return vae


#: The TrainConfig options this model kind supports beyond the shared ones (vae_helpers.training.trainer's registry).
SUPPORTS = frozenset({"filters", "beta", "objective", "capacity_nats", "snapshot_images", "snapshot_samples"})


def build_from_config(config, dataset, steps_per_epoch: int) -> DisentanglingVAE:
    """The model a :class:`~vae_helpers.training.trainer.TrainConfig` describes (the training registry's builder),
    its output bias at the training images' mean ink (:func:`~vae_helpers.models.builders.start_at_mean_ink`)."""
    steps = config.epochs * steps_per_epoch
    vae = build_conv_disentangling_vae(dataset.image_shape, config.latent_dim, config.filters, config.dense_units,
                                       config.beta, seed=config.seed, objective=config.objective,
                                       capacity_nats=config.capacity_nats,
                                       capacity_steps=max(1, round(CAPACITY_RAMP_SHARE * steps)))
    start_at_mean_ink(vae.decoder.get_layer("logits"), dataset.x_train)
    return vae


def _key_tag(config) -> str:
    setting = f"c{config.capacity_nats:g}-gamma{config.beta:g}" if config.objective == "capacity" else f"beta{config.beta:g}"
    return f"conv-{config.objective}-{setting}"


#: This module's entry in the registry of model kinds (:data:`vae_helpers.models.registry.MODEL_KINDS`).
KIND = ModelKind("disentangling_vae", build_from_config, SUPPORTS, key_tag=_key_tag)
