"""What a model kind is: how to build it, what its decoder's likelihood is, and which options it implements.

A :class:`ModelKind` is one entry of the registry (:data:`vae_helpers.models.registry.MODEL_KINDS`).
Everything outside the kind's own module asks it, never the model's class or the kind's name:
``TrainConfig`` refuses the options it does not implement, the trainer builds it, TensorBoard shows
prior samples only when it has a prior and no labels, and the cache key reads its ``key_tag``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["OPTIONS", "ModelKind"]

#: The optional settings of a TrainConfig a kind may implement (``labels``: it trains on images and labels;
#: ``spatial_code``: it accepts ``dense_units=0``).
OPTIONS = frozenset({"beta", "kl_warmup_epochs", "free_bits", "snapshot_images", "snapshot_samples", "denoising", "filters",
                     "objective", "capacity_nats", "convs_per_stage", "labels", "spatial_code",
                     "iwae_samples"})


def _beta_tag(config) -> str:
    return f"beta{config.beta:g}"


def _halved_by_each_filter(filters: tuple[int, ...]) -> int:
    """A convolutional kind halves the image once per entry of ``filters``: sides must be multiples of this."""
    return 2 ** len(filters)


@dataclass(frozen=True)
class ModelKind:
    """One model kind of the registry.

    Args:
        name: the ``TrainConfig.model`` that selects it.
        build: ``build(config, dataset, steps_per_epoch)``: the untrained model for a config and its data.
        options: the optional settings it implements (a subset of :data:`OPTIONS`); the others are refused.
        likelihood: what its decoder's output parameterizes, such as ``"bernoulli"`` (logits per pixel) or
            ``"discretized_logistic"`` (8-bit pixels); the model's ``log_likelihood`` computes it, and the
            lossless coder (:mod:`vae_helpers.applications.compression`) codes only these two.
        has_prior: whether codes drawn from ``N(0, I)`` decode to images (a VAE; not an autoencoder).
        key_tag: the readable part of the cache key after the latent size (the hash holds every setting).
        key_settings: how the kind's settings enter the hashed key material (a kind keyed before the
            registry existed keeps the form its cached models were saved under).
        side_multiple: what an image's height and width must be a multiple of, given the config's
            ``filters`` (a convolutional kind: ``2 ** len(filters)``; an MLP: 1).
    """

    name: str
    build: Callable
    options: frozenset[str]
    likelihood: str = "bernoulli"
    has_prior: bool = True
    key_tag: Callable = _beta_tag
    key_settings: Callable = dict
    side_multiple: Callable = _halved_by_each_filter

    def __post_init__(self):
        unknown = set(self.options) - OPTIONS
        if unknown:
            raise ValueError(f"`options` must be a subset of {', '.join(sorted(OPTIONS))}. Received: {sorted(unknown)}")

    @property
    def takes_labels(self) -> bool:
        """Whether the kind trains on images and their labels (a conditional VAE)."""
        return "labels" in self.options

    @property
    def samples_prior(self) -> bool:
        """Whether prior samples alone decode to images: a prior, and no labels to ask for."""
        return self.has_prior and not self.takes_labels
