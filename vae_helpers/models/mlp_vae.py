"""A VAE trained for a disentangled code: an MLP after Chen et al.'s, and the β-VAE, β-TCVAE or capacity objective.

The model kind ``"mlp_vae"`` of :data:`vae_helpers.training.trainer.MODEL_KINDS`. Its encoder and decoder
are a smaller version of the MLP Chen et al. (2018) use on dSprites (theirs has 1,200 units per
layer and three tanh layers in the decoder; here two layers each way, ``dense_units`` wide, 256
by default). ``TrainConfig.objective`` picks what training minimizes:

- ``"elbo"``: ``reconstruction + beta * KL``, the β-VAE (Higgins et al. 2017); β = 1 is the VAE;
- ``"beta_tcvae"``: ``reconstruction + KL + (beta - 1) * TC``, β-TCVAE (Chen et al. 2018). Since
  ``KL = MI + TC + dimension-wise KL``, this weights only the total correlation by β, with TC
  estimated on each batch (:func:`vae_helpers.models.objectives.total_correlation`);
- ``"capacity"``: ``reconstruction + beta * |KL - C|``, capacity annealing (Burgess et al. 2018),
  with C raised linearly from 0 to ``capacity_nats`` over the first 80% of the training steps.

Validation always reports the ELBO's terms with β = 1, so every objective is compared on the
same ``loss``. It subclasses :class:`~vae_helpers.models.vae.VAE` (encode, decode, sample, the cache
all work), leaving the VAE taught in notebook 02 as it is.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..core.checks import check_latent_dim, check_not_implemented, check_number, check_units
from .builders import check_image_shape, start_at_mean_ink
from .objectives import OBJECTIVES, capacity_kl_term, total_correlation
from ..core.tf_startup import keras
from .kind import ModelKind
from .vae import VAE, vae_losses

__all__ = ["KIND", "CAPACITY_RAMP_SHARE", "DisentanglingVAE", "OBJECTIVES", "SUPPORTS", "build_from_config",
           "build_mlp_decoder", "build_mlp_encoder", "build_mlp_vae"]

layers, ops = keras.layers, keras.ops
CAPACITY_RAMP_SHARE = 0.8  # C reaches capacity_nats after this share of the training steps (Burgess et al.)
MAX_ABS_LOG_VAR = 20.0     # the log-variance the objectives see is clipped: exp(-log_var) in the TC must not overflow


def build_mlp_encoder(input_shape: Sequence[int], latent_dim: int, dense_units: int = 256) -> keras.Model:
    """``image -> [z_mean, z_log_var]``: flatten, two ReLU layers of ``dense_units``."""
    input_shape = check_image_shape("input_shape", input_shape, 0)
    latent_dim, dense_units = check_latent_dim(latent_dim), check_units("dense_units", dense_units)
    x_in = keras.Input(shape=input_shape, name="image")
    h = layers.Flatten(name="flatten")(x_in)
    for i in range(2):
        h = layers.Dense(dense_units, activation="relu", name=f"dense_{i}")(h)
    return keras.Model(x_in, [layers.Dense(latent_dim, name="z_mean")(h), layers.Dense(latent_dim, name="z_log_var")(h)],
                       name="encoder")


def build_mlp_decoder(output_shape: Sequence[int], latent_dim: int, dense_units: int = 256) -> keras.Model:
    """``z -> logits``: two tanh layers of ``dense_units``, then one logit per pixel (as in Chen et al.'s decoder)."""
    height, width, channels = check_image_shape("output_shape", output_shape, 0)
    latent_dim, dense_units = check_latent_dim(latent_dim), check_units("dense_units", dense_units)
    z_in = keras.Input(shape=(latent_dim,), name="z")
    h = z_in
    for i in range(2):
        h = layers.Dense(dense_units, activation="tanh", name=f"dense_{i}")(h)
    logits = layers.Reshape((height, width, channels), name="logits")(layers.Dense(height * width * channels, name="pixels")(h))
    return keras.Model(z_in, logits, name="decoder")


@keras.saving.register_keras_serializable(package="vae_helpers")
class DisentanglingVAE(VAE):
    """A :class:`~vae_helpers.models.vae.VAE` whose training objective is one of :data:`OBJECTIVES`.

    Args:
        encoder, decoder, beta, seed: as for :class:`~vae_helpers.models.vae.VAE`; ``beta`` weights the
            KL (``"elbo"``), the TC (``"beta_tcvae"``) or ``|KL - C|`` (``"capacity"``).
        objective: ``"elbo"``, ``"beta_tcvae"`` or ``"capacity"``.
        capacity_nats: the final capacity ``C`` (``"capacity"`` only).
        capacity_steps: training steps over which ``C`` rises from 0 (``"capacity"`` only).
    """

    def __init__(self, encoder: keras.Model, decoder: keras.Model, beta: float = 1.0, seed: int | None = None,
                 objective: str = "elbo", capacity_nats: float = 0.0, capacity_steps: int = 1,
                 free_bits: float = 0.0, denoising: bool = False, kl_warmup_steps: int = 0, **kwargs):
        check_not_implemented("DisentanglingVAE", free_bits=free_bits, denoising=denoising, kl_warmup_steps=kl_warmup_steps)
        super().__init__(encoder, decoder, beta=beta, seed=seed, **kwargs)
        if objective not in OBJECTIVES:
            raise ValueError(f"`objective` must be one of {', '.join(OBJECTIVES)}. Received: objective={objective!r}")
        self.objective = objective
        self.capacity_nats, self.capacity_steps = check_number("capacity_nats", capacity_nats), int(capacity_steps)

    def compute_losses(self, x, y=None, training: bool = False) -> dict:
        """The objective's training loss; validation reports the ELBO's terms with β = 1."""
        z_mean, z_log_var = self.encoder(x, training=training)
        z_log_var = ops.clip(z_log_var, -MAX_ABS_LOG_VAR, MAX_ABS_LOG_VAR)
        z = self.sampling([z_mean, z_log_var])
        logits = self.decoder(z, training=training)
        if not training:
            return vae_losses(x, logits, z_mean, z_log_var, 1.0)
        if self.objective == "elbo":
            return vae_losses(x, logits, z_mean, z_log_var, self.beta)
        losses = vae_losses(x, logits, z_mean, z_log_var, 1.0)
        if self.objective == "beta_tcvae":
            tc = total_correlation(z, z_mean, z_log_var)
            return {**losses, "loss": losses["loss"] + (self.beta - 1.0) * tc}
        kl_term = capacity_kl_term(losses["kl_loss"], self.optimizer.iterations, self.capacity_nats,
                                   self.capacity_steps, self.beta)
        return {**losses, "loss": losses["reconstruction_loss"] + kl_term}

    def get_config(self):
        return {**super().get_config(), "objective": self.objective,
                "capacity_nats": self.capacity_nats, "capacity_steps": self.capacity_steps}


def build_mlp_vae(input_shape: Sequence[int], latent_dim: int = 6, dense_units: int = 256, beta: float = 1.0,
                  seed: int | None = None, **kwargs) -> DisentanglingVAE:
    """A :class:`DisentanglingVAE` with the MLP encoder and decoder; ``kwargs`` go to the model."""
    vae = DisentanglingVAE(build_mlp_encoder(input_shape, latent_dim, dense_units),
                           build_mlp_decoder(input_shape, latent_dim, dense_units), beta=beta, seed=seed,
                           name="mlp_vae", **kwargs)
    vae.build((None, *input_shape))
    return vae


#: The TrainConfig options this model kind supports beyond the shared ones (vae_helpers.training.trainer's registry).
SUPPORTS = frozenset({"beta", "objective", "capacity_nats", "snapshot_images", "snapshot_samples"})


def build_from_config(config, dataset, steps_per_epoch: int) -> DisentanglingVAE:
    """The model a :class:`~vae_helpers.training.trainer.TrainConfig` describes (the training registry's builder),
    its output bias at the training images' mean ink (:func:`~vae_helpers.models.builders.start_at_mean_ink`)."""
    image_shape = dataset.image_shape
    steps = config.epochs * steps_per_epoch
    vae = build_mlp_vae(image_shape, config.latent_dim, config.dense_units, config.beta, seed=config.seed,
                        objective=config.objective, capacity_nats=config.capacity_nats,
                        capacity_steps=max(1, round(CAPACITY_RAMP_SHARE * steps)))
    start_at_mean_ink(vae.decoder.get_layer("pixels"), dataset.x_train)
    return vae


#: This module's entry in the registry of model kinds (:data:`vae_helpers.models.registry.MODEL_KINDS`).
KIND = ModelKind("mlp_vae", build_from_config, SUPPORTS, side_multiple=lambda filters: 1,
                 key_tag=lambda config: f"mlp-{config.objective}-beta{config.beta:g}")
