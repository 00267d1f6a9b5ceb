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

import keras
import numpy as np
import tensorflow as tf
from keras import layers, ops
from .checks import check_images, check_int, check_number, check_seed
from .models import DENSE_UNITS, TrainingNoise, build_decoder, build_encoder, predict_images, run_batched


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


def kl_per_dimension(z_mean, z_log_var):
    """KL(N(z_mean, exp(z_log_var)) || N(0, 1)) of each latent dimension of each example."""
    return -0.5 * (1.0 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))


def kl_divergence(z_mean, z_log_var):
    """KL(N(z_mean, exp(z_log_var)) || N(0, I)) per example, summed over latent dimensions."""
    return ops.sum(kl_per_dimension(z_mean, z_log_var), axis=-1)


def bernoulli_log_likelihood(x, logits):
    """log p(x | logits) per example, summed over all pixels: ``-BCE(x, sigmoid(logits))``."""
    per_pixel = ops.binary_crossentropy(x, logits, from_logits=True)
    return -ops.sum(ops.reshape(per_pixel, (ops.shape(per_pixel)[0], -1)), axis=-1)


def vae_losses(x, logits, z_mean, z_log_var, beta=1.0, free_bits: float = 0.0) -> dict:
    """The three batch losses: ``loss = reconstruction_loss + beta * kl_loss`` (each a batch mean).

    With ``free_bits > 0`` the loss charges each dimension ``max(free_bits, its batch-mean KL)``
    instead; ``kl_loss`` always reports the true KL.
    """
    x, logits, z_mean, z_log_var = (ops.cast(t, "float32") for t in (x, logits, z_mean, z_log_var))
    reconstruction_loss = -ops.mean(bernoulli_log_likelihood(x, logits))
    kl_j = ops.mean(kl_per_dimension(z_mean, z_log_var), axis=0)   # batch-mean KL of each dimension
    kl_loss = ops.sum(kl_j)
    kl_charged = ops.sum(ops.maximum(kl_j, free_bits))             # = kl_loss when free_bits = 0
    return {"loss": reconstruction_loss + beta * kl_charged,
            "reconstruction_loss": reconstruction_loss, "kl_loss": kl_loss}


def replica_share(loss):
    """``loss`` divided by the number of replicas training in sync (1 outside a ``tf.distribute`` strategy).

    Under a strategy each replica computes the mean loss of its share of the batch and the
    optimizer sums the replicas' gradients; dividing first makes that sum the gradient of the
    mean over the whole batch, as on one device.
    """
    return loss / tf.distribute.get_strategy().num_replicas_in_sync


def for_keras_logs(value):
    """``value`` as ``fit`` can reduce it: shape ``(1,)`` under a multi-worker strategy, else unchanged.

    Keras 3 reduces each replica's logs with ``strategy.reduce("MEAN", v, axis=0)`` under
    ``MultiWorkerMirroredStrategy``, which fails on scalars ("Invalid reduction dimension 0 for
    input with 0 dimensions", tensorflow/tensorflow#72388); a one-element vector reduces to the
    mean over the workers.
    """
    strategy = tf.distribute.get_strategy()
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return ops.reshape(value, (1,))
    return value


@keras.saving.register_keras_serializable(package="vae_helpers")
class VAE(keras.Model):
    """A VAE from an encoder (image -> [z_mean, z_log_var]) and a decoder (z -> logits).

    Args:
        encoder: model with two outputs, ``z_mean`` and ``z_log_var``.
        decoder: model from a latent code to image logits.
        beta: weight of the KL term (1.0 gives the ELBO).
        seed: seed of the sampling layer.
        kl_warmup_steps: training steps over which the KL weight grows linearly from 0 to ``beta``
            (0: no warm-up).
        free_bits: nats of KL per latent dimension that training does not penalize below.
        denoising: train on corrupted inputs (:class:`~vae_helpers.models.TrainingNoise`) with the
            clean images as targets: a denoising VAE (Im et al. 2017).
    """

    def __init__(self, encoder: keras.Model, decoder: keras.Model, beta: float = 1.0,
                 seed: int | None = None, kl_warmup_steps: int = 0, free_bits: float = 0.0,
                 denoising: bool = False, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(encoder, keras.Model) or len(encoder.outputs) != 2:
            raise ValueError(f"`encoder` must be a Keras model with two outputs [z_mean, z_log_var]. Received: encoder={encoder!r}")
        if not isinstance(decoder, keras.Model) or decoder.inputs[0].shape[-1] != encoder.output_shape[0][-1]:
            raise ValueError("`decoder` must be a Keras model whose input size equals the latent size "
                             f"{encoder.output_shape[0][-1]}. Received: decoder={decoder!r}")
        beta, free_bits = check_number("beta", beta), check_number("free_bits", free_bits)
        kl_warmup_steps = check_int("kl_warmup_steps", kl_warmup_steps, 0)
        seed = _check_seed(seed)
        self.encoder, self.decoder = encoder, decoder
        self.beta, self.seed = beta, seed
        self.kl_warmup_steps, self.free_bits = int(kl_warmup_steps), free_bits
        self.latent_dim = int(decoder.inputs[0].shape[-1])
        self.sampling = Sampling(seed=seed, name="sampling")
        self.denoising = bool(denoising)
        self.noise = TrainingNoise(seed=seed, name="training_noise") if self.denoising else None
        self.trackers = {name: keras.metrics.Mean(name=name) for name in ("loss", "reconstruction_loss", "kl_loss")}

    def build(self, input_shape=None):
        self.sampling.build([(None, self.latent_dim), (None, self.latent_dim)])
        self.built = True

    @property
    def metrics(self):
        return list(self.trackers.values())  # listed here so Keras resets them every epoch

    def call(self, x, training=False):
        z_mean, z_log_var = self.encoder(x, training=training)
        return self.decoder(self.sampling([z_mean, z_log_var]), training=training)

    def kl_weight(self):
        """The KL weight of the current training step: ``beta``, ramped up during a warm-up."""
        if not self.kl_warmup_steps:
            return self.beta
        step = ops.cast(self.optimizer.iterations, "float32")
        return self.beta * ops.minimum(1.0, step / self.kl_warmup_steps)

    def compute_vae_losses(self, x, training: bool = False, x_in=None) -> dict:
        """Encode ``x_in`` (default ``x``), sample with the reparameterization trick, decode, and
        return :func:`vae_losses` against ``x``."""
        z_mean, z_log_var = self.encoder(x if x_in is None else x_in, training=training)
        logits = self.decoder(self.sampling([z_mean, z_log_var]), training=training)
        if training:  # the training objective, with the warm-up and free bits if any
            return vae_losses(x, logits, z_mean, z_log_var, self.kl_weight(), self.free_bits)
        return vae_losses(x, logits, z_mean, z_log_var, self.beta)

    def _update_trackers(self, losses: dict) -> dict:
        for name, tracker in self.trackers.items():
            tracker.update_state(losses[name])
        return {name: for_keras_logs(tracker.result()) for name, tracker in self.trackers.items()}

    def train_step(self, data):
        x = data[0] if isinstance(data, tuple) else data
        x_in = self.noise(x, training=True) if self.denoising else None  # a denoising VAE (notebook 05)
        with tf.GradientTape() as tape:
            losses = self.compute_vae_losses(x, training=True, x_in=x_in)
            loss = replica_share(losses["loss"])   # the loss itself on one device (tf.distribute: see replica_share)
        grads = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        return self._update_trackers(losses)

    def test_step(self, data):
        x = data[0] if isinstance(data, tuple) else data
        return self._update_trackers(self.compute_vae_losses(x, training=False))

    # -- using a trained model (numpy in, numpy out, one batched call each) --

    @property
    def image_shape(self) -> tuple[int, ...]:
        """``(height, width, channels)`` of the images the model takes (its encoder's first input)."""
        return tuple(int(s) for s in self.encoder.inputs[0].shape[1:])

    def check_images(self, x, arg: str = "x") -> np.ndarray:
        """``x`` as float32 if it is a finite batch of this model's images in [0, 1]; else a clear ValueError."""
        return check_images(arg, x, self.image_shape)

    def encode(self, x, batch_size: int = 512) -> tuple[np.ndarray, np.ndarray]:
        """``(z_mean, z_log_var)`` of images ``x``, shape ``(n, h, w, c)`` with values in [0, 1]."""
        z_mean, z_log_var = run_batched(self.encoder, self.check_images(x), check_int("batch_size", batch_size))
        return z_mean, z_log_var

    def decode(self, z, batch_size: int = 512) -> np.ndarray:
        """Pixel probabilities ``sigmoid(decoder(z))`` for latent codes ``z`` of shape ``(n, latent_dim)``."""
        z = np.asarray(z)
        if not np.issubdtype(z.dtype, np.number) or z.ndim != 2 or len(z) == 0 or z.shape[1] != self.latent_dim:
            raise ValueError(f"`z` must be a numeric array of shape (n, {self.latent_dim}). "
                             f"Received: z.shape={z.shape}, z.dtype={z.dtype}")
        if not np.all(np.isfinite(z)):
            raise ValueError("`z` must hold only finite values. Received: z with NaN or inf")
        return predict_images(self.decoder, z.astype("float32"), check_int("batch_size", batch_size))

    def reconstruct(self, x, batch_size: int = 512) -> np.ndarray:
        """Decode the mean code of each image: the VAE's deterministic reconstruction."""
        return self.decode(self.encode(x, batch_size)[0], batch_size)

    def sample(self, n: int, seed: int = 0) -> np.ndarray:
        """``n`` new images decoded from ``z ~ N(0, I)`` drawn with ``seed``."""
        n, seed = check_int("n", n), check_seed("seed", seed)
        z = np.random.default_rng(seed).standard_normal((n, self.latent_dim)).astype("float32")
        return self.decode(z)

    def get_config(self):
        return {
            **super().get_config(),
            "encoder": keras.saving.serialize_keras_object(self.encoder),
            "decoder": keras.saving.serialize_keras_object(self.decoder),
            "beta": self.beta,
            "seed": self.seed,
            "kl_warmup_steps": self.kl_warmup_steps,
            "free_bits": self.free_bits,
            "denoising": self.denoising,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**with_submodels(config))


def with_submodels(config: dict) -> dict:
    """A copy of a model's ``config`` with its serialized ``encoder`` and ``decoder`` rebuilt (for ``from_config``)."""
    config = dict(config)
    for part in ("encoder", "decoder"):
        config[part] = keras.saving.deserialize_keras_object(config[part])
    return config


def build_vae(
    input_shape: Sequence[int],
    latent_dim: int = 2,
    filters: Sequence[int] = (32, 64),
    dense_units: int = DENSE_UNITS,
    beta: float = 1.0,
    seed: int | None = None,
    **vae_kwargs,
) -> VAE:
    """A :class:`VAE` with the course's convolutional encoder and decoder (see :mod:`vae_helpers.models`).

    ``vae_kwargs`` (``kl_warmup_steps``, ``free_bits``) are passed to :class:`VAE`.
    """
    encoder = build_encoder(input_shape, latent_dim, filters, dense_units, variational=True)
    decoder = build_decoder(input_shape, latent_dim, filters)
    vae = VAE(encoder, decoder, beta=beta, seed=seed, name="vae", **vae_kwargs)
    vae.build((None, *input_shape))
    return vae


def load_vae(path) -> VAE:
    """Load a VAE saved with ``vae.save(path)`` (a ``.keras`` file), with ``safe_mode=True``."""
    from pathlib import Path

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
