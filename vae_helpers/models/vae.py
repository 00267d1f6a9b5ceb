"""The variational autoencoder: the sampling layer, the loss, and the ``VAE`` model.

The encoder outputs the mean and log-variance of q(z|x) = N(z_mean, exp(z_log_var)); the
decoder outputs Bernoulli *logits* of p(x|z). The loss is the negative ELBO:

    loss = reconstruction_loss + beta * kl_loss
    reconstruction_loss = -log p(x|z), summed over pixels, averaged over the batch
    kl_loss = KL(q(z|x) || N(0, I)), summed over latent dimensions, averaged over the batch

Two remedies against posterior collapse change only the *training* objective (validation
always reports the loss above): KL warm-up (Bowman et al. 2016) multiplies beta by a weight
that grows linearly from 0 to 1 over the first steps, and free bits (Kingma et al. 2016)
charge each latent dimension at least ``free_bits`` nats of KL.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .base import CourseModel
from ..core.checks import MAX_SAMPLES, check_codes, check_int, check_number, check_seed
from .builders import (DENSE_UNITS, build_decoder, build_encoder, build_spatial_decoder, build_spatial_encoder, predict_images,
                     run_batched)
from ..core.tf_startup import keras
from .kind import ModelKind
from .densities import bernoulli_log_likelihood, kl_divergence, kl_per_dimension

__all__ = ["KIND", "MAX_SAMPLES", "SUPPORTS", "Sampling", "VAE", "bernoulli_log_likelihood", "build_from_config", "build_vae",
           "kl_divergence", "kl_per_dimension", "load_vae", "prior_sample", "vae_losses", "vae_networks"]

layers, ops = keras.layers, keras.ops


def _check_seed(seed) -> int | None:
    return None if seed is None else check_seed("seed", seed)


@keras.saving.register_keras_serializable(package="vae_helpers")
class Sampling(layers.Layer):
    """Draw ``z = z_mean + exp(0.5 * z_log_var) * epsilon`` with ``epsilon ~ N(0, I)``.

    This is the reparameterization trick: the randomness sits in ``epsilon``, which does not
    depend on the encoder, so gradients flow through ``z_mean`` and ``z_log_var``.

    Args:
        seed: Integer, optional random seed to enable deterministic behavior.

    Call arguments:
        inputs: List ``[z_mean, z_log_var]`` of two tensors of the same shape
            ``(batch_size, latent_dim)``.
    """

    def __init__(self, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.seed = _check_seed(seed)
        self.seed_generator = keras.random.SeedGenerator(self.seed)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        epsilon = keras.random.normal(ops.shape(z_mean), dtype=self.compute_dtype, seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * epsilon

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


def vae_losses(x, logits, z_mean, z_log_var, beta=1.0, free_bits: float = 0.0,
               log_likelihood=bernoulli_log_likelihood) -> dict:
    """The three batch losses: ``loss = reconstruction_loss + beta * kl_loss`` (each a batch mean).

    With ``free_bits > 0`` the loss charges each dimension ``max(free_bits, its batch-mean KL)``
    instead; ``kl_loss`` always reports the true KL. ``log_likelihood(x, logits)`` is ``log p(x|z)`` per
    image (the model's own; Bernoulli by default).
    """
    x, logits, z_mean, z_log_var = (ops.cast(t, "float32") for t in (x, logits, z_mean, z_log_var))
    reconstruction_loss = -ops.mean(log_likelihood(x, logits))
    kl_j = ops.mean(kl_per_dimension(z_mean, z_log_var), axis=0)   # batch-mean KL of each dimension
    kl_loss = ops.sum(kl_j)
    kl_charged = ops.sum(ops.maximum(kl_j, free_bits))             # = kl_loss when free_bits = 0
    return {"loss": reconstruction_loss + beta * kl_charged,
            "reconstruction_loss": reconstruction_loss, "kl_loss": kl_loss}


@keras.saving.register_keras_serializable(package="vae_helpers")
class VAE(CourseModel):
    """A VAE from an encoder (image -> [z_mean, z_log_var]) and a decoder (z -> logits).

    Args:
        encoder: model with two outputs, ``z_mean`` and ``z_log_var``.
        decoder: model from a latent code to image logits.
        beta: weight of the KL term (1.0 gives the ELBO).
        seed: seed of the sampling layer.
        kl_warmup_steps: training steps over which the KL weight grows linearly from 0 to ``beta``
            (0: no warm-up; notebook 04).
        free_bits: nats of KL per latent dimension that training does not penalize below (notebook 04).
        denoising: train on corrupted inputs with the clean images as targets: a denoising VAE
            (Im et al. 2017; notebook 07).
    """

    LOSS_NAMES = ("loss", "reconstruction_loss", "kl_loss")

    def __init__(self, encoder: keras.Model, decoder: keras.Model, beta: float = 1.0,
                 seed: int | None = None, kl_warmup_steps: int = 0, free_bits: float = 0.0,
                 denoising: bool = False, **kwargs):
        if not isinstance(encoder, keras.Model) or len(encoder.outputs) != 2 or len(encoder.inputs) != 1:
            raise ValueError("`encoder` must be a Keras model image -> [z_mean, z_log_var] (one input, two outputs). "
                             f"Received: encoder={encoder!r}")
        if not isinstance(decoder, keras.Model) or len(decoder.inputs) != 1 \
                or decoder.inputs[0].shape[-1] != encoder.output_shape[0][-1]:
            raise ValueError("`decoder` must be a Keras model with one input whose size equals the latent size "
                             f"{encoder.output_shape[0][-1]}. Received: decoder={decoder!r}")
        super().__init__(encoder, decoder, denoising=denoising, seed=seed, **kwargs)
        self.beta, self.free_bits = check_number("beta", beta), check_number("free_bits", free_bits)
        self.kl_warmup_steps = check_int("kl_warmup_steps", kl_warmup_steps, 0)
        self.latent_dim = int(decoder.inputs[0].shape[-1])
        self.sampling = Sampling(seed=self.seed, name="sampling")

    def build(self, input_shape=None):
        self.sampling.build([(None, self.latent_dim), (None, self.latent_dim)])
        self.built = True

    def call(self, x, training=False):
        z_mean, z_log_var = self.encoder(x, training=training)
        return self.decoder(self.sampling([z_mean, z_log_var]), training=training)

    def compute_losses(self, x, y=None, training: bool = False) -> dict:
        """Encode, sample z with the reparameterization trick, decode: the losses of :func:`vae_losses`."""
        z_mean, z_log_var = self.encoder(self.encoder_input(x, training), training=training)
        logits = self.decoder(self.sampling([z_mean, z_log_var]), training=training)
        if training:  # the training objective: with KL warm-up and free bits, if any (notebook 04)
            return vae_losses(x, logits, z_mean, z_log_var, self.kl_weight(), self.free_bits, self.log_likelihood)
        return vae_losses(x, logits, z_mean, z_log_var, self.beta, log_likelihood=self.log_likelihood)

    def kl_weight(self):
        """The KL weight of the current training step: ``beta``, ramped up during a warm-up."""
        if not self.kl_warmup_steps:
            return self.beta
        step = ops.cast(self.optimizer.iterations, "float32")
        return self.beta * ops.minimum(1.0, step / self.kl_warmup_steps)

    # -- using a trained model (numpy in, numpy out, one batched call each) --

    def encode(self, x, batch_size: int = 512) -> tuple[np.ndarray, np.ndarray]:
        """``(z_mean, z_log_var)`` of images ``x``, shape ``(n, h, w, c)`` with values in [0, 1]."""
        z_mean, z_log_var = run_batched(self.encoder, self.check_images(x), check_int("batch_size", batch_size))
        return z_mean, z_log_var

    def decode(self, z, batch_size: int = 512) -> np.ndarray:
        """Pixel probabilities ``sigmoid(decoder(z))`` for latent codes ``z`` of shape ``(n, latent_dim)``."""
        z = check_codes("z", z, dim=self.latent_dim)
        return predict_images(self.decoder, z.astype("float32"), check_int("batch_size", batch_size))

    def reconstruct(self, x, batch_size: int = 512) -> np.ndarray:
        """Decode the mean code of each image: the VAE's deterministic reconstruction."""
        return self.decode(self.encode(x, batch_size)[0], batch_size)

    def sample(self, n: int, seed: int = 0) -> np.ndarray:
        """``n`` new images decoded from ``z ~ N(0, I)`` drawn with ``seed``."""
        return self.decode(prior_sample(check_int("n", n, 1, MAX_SAMPLES), self.latent_dim, seed))

    def get_config(self):
        return {**super().get_config(), "beta": self.beta, "kl_warmup_steps": self.kl_warmup_steps,
                "free_bits": self.free_bits, "denoising": self.denoising}


def prior_sample(n: int, latent_dim: int, seed: int = 0) -> np.ndarray:
    """``n`` codes ``z ~ N(0, I)`` of ``latent_dim`` dimensions, drawn with ``seed`` (float32)."""
    return np.random.default_rng(check_seed("seed", seed)).standard_normal((n, latent_dim)).astype("float32")


def build_vae(
    input_shape: Sequence[int],
    latent_dim: int = 2,
    filters: Sequence[int] = (32, 64),
    dense_units: int = DENSE_UNITS,
    beta: float = 1.0,
    seed: int | None = None,
    convs_per_stage: int = 1,
    **vae_kwargs,
) -> VAE:
    """A :class:`VAE` with the course's convolutional encoder and decoder (see :mod:`vae_helpers.models.builders`).

    ``vae_kwargs`` (``kl_warmup_steps``, ``free_bits``, ``denoising``) are passed to :class:`VAE`.
    ``dense_units=0`` gives a *spatial* latent: ``latent_dim`` channels at 1/2**len(filters) of the image
    size, with ``convs_per_stage`` convolutions per resolution (notebook 07's denoising VAE).
    """
    vae = VAE(*vae_networks(input_shape, latent_dim, filters, dense_units, convs_per_stage), beta=beta, seed=seed, name="vae",
              **vae_kwargs)
    vae.build((None, *input_shape))
    return vae


def vae_networks(input_shape: Sequence[int], latent_dim: int, filters: Sequence[int] = (32, 64), dense_units: int = DENSE_UNITS,
                 convs_per_stage: int = 1) -> tuple[keras.Model, keras.Model]:
    """The encoder (image -> ``[z_mean, z_log_var]``) and decoder (z -> logits) of :func:`build_vae`.

    ``dense_units=0``: a spatial latent (``latent_dim`` channels per position), flattened to a vector.
    """
    if dense_units == 0:
        return (build_spatial_encoder(input_shape, latent_dim, filters, convs_per_stage=convs_per_stage, variational=True),
                build_spatial_decoder(input_shape, latent_dim, filters, convs_per_stage=convs_per_stage, flat=True))
    return build_encoder(input_shape, latent_dim, filters, dense_units, variational=True), build_decoder(input_shape, latent_dim, filters)


#: The TrainConfig options this model kind supports beyond the shared ones (vae_helpers.training.trainer's registry).
SUPPORTS = frozenset({"filters", "beta", "kl_warmup_epochs", "free_bits", "snapshot_images", "snapshot_samples", "denoising",
                      "spatial_code", "convs_per_stage"})


def build_from_config(config, dataset, steps_per_epoch: int) -> VAE:
    """The VAE a :class:`~vae_helpers.training.trainer.TrainConfig` describes (the training registry's builder)."""
    image_shape = dataset.image_shape
    return build_vae(image_shape, config.latent_dim, config.filters, config.dense_units, config.beta, seed=config.seed,
                     kl_warmup_steps=config.kl_warmup_epochs * steps_per_epoch, free_bits=config.free_bits,
                     denoising=config.denoising, convs_per_stage=config.convs_per_stage)


def load_vae(path) -> VAE:
    """Load a VAE saved with ``vae.save(path)`` (a ``.keras`` file), with ``safe_mode=True``."""
    from pathlib import Path

    if not isinstance(path, (str, Path)):
        raise ValueError(f"`path` must be the path of a .keras file saved from a VAE. Received: path={path!r}")
    path = Path(path)
    if path.suffix != ".keras" or not path.is_file():
        raise ValueError(f"`path` must be an existing .keras file saved from a VAE. Received: path={str(path)!r}")
    try:
        model = keras.saving.load_model(path, safe_mode=True)
    except Exception as exc:
        raise ValueError(f"`path` is not a loadable saved VAE ({type(exc).__name__}: {exc}). Received: path={str(path)!r}") from exc
    if not isinstance(model, VAE):
        raise ValueError(f"`path` holds a {type(model).__name__}, not a VAE. Received: path={str(path)!r}")
    return model


#: This module's entry in the registry of model kinds (:data:`vae_helpers.models.registry.MODEL_KINDS`).
KIND = ModelKind("vae", build_from_config, SUPPORTS)
