"""The registry of model kinds: ``TrainConfig.model`` -> :class:`~vae_helpers.models.kind.ModelKind`.

A new kind is one module in ``models/`` that defines its model, ``build_from_config(config, dataset,
steps_per_epoch)`` and ``KIND``, plus one entry here.
"""

from __future__ import annotations

from . import autoencoder, conditional, discrete, disentangling, gaussian, iwae, mlp_vae, vae
from .kind import ModelKind

__all__ = ["MODEL_KINDS", "model_kind"]

MODEL_KINDS: dict[str, ModelKind] = {kind.name: kind for kind in (
    vae.KIND, autoencoder.KIND, conditional.KIND, mlp_vae.KIND, discrete.KIND, iwae.KIND, gaussian.KIND,
    disentangling.KIND)}


def model_kind(name: str) -> ModelKind:
    """The kind registered as ``name`` (see :data:`MODEL_KINDS`)."""
    if name not in MODEL_KINDS:
        raise ValueError(f"`model` must be one of {', '.join(MODEL_KINDS)}. Received: model={name!r}")
    return MODEL_KINDS[name]
