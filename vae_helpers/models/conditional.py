"""The conditional VAE (Sohn et al. 2015): encoder and decoder both see the label.

    q(z | x, y) = N(z_mean(x, y), exp(z_log_var(x, y)))      p(x | z, y): Bernoulli logits

The loss is the VAE's (:func:`vae_helpers.models.vae.vae_losses`), with every distribution conditioned on
the label ``y`` (one-hot). Because the decoder is told the class, the code ``z`` is free to
hold what the label does not say (slant, stroke width, size): decoding one ``z`` with each of
the ten labels draws ten digits in the same style.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .base import CourseModel
from ..core.checks import MAX_SAMPLES, check_codes, check_int, check_labels, check_number
from .builders import DENSE_UNITS, check_filters, check_image_shape, predict_images, run_batched
from ..core.tf_startup import keras
from .kind import ModelKind
from .vae import VAE, Sampling, prior_sample, vae_losses

__all__ = ["KIND", "ConditionalVAE", "SUPPORTS", "build_conditional_decoder", "build_conditional_encoder",
           "build_conditional_vae", "build_from_config"]

layers, ops = keras.layers, keras.ops


def build_conditional_encoder(input_shape: Sequence[int], n_classes: int, latent_dim: int,
                              filters: Sequence[int] = (32, 64), dense_units: int = DENSE_UNITS) -> keras.Model:
    """``[image, one-hot label] -> [z_mean, z_log_var]``: the course's conv encoder, label joined before the dense layer."""
    filters = check_filters(filters)
    input_shape = check_image_shape("input_shape", input_shape, len(filters))
    n_classes, latent_dim, dense_units = (check_int(a, v) for a, v in
                                          (("n_classes", n_classes), ("latent_dim", latent_dim), ("dense_units", dense_units)))
    x_in = keras.Input(shape=input_shape, name="image")
    y_in = keras.Input(shape=(n_classes,), name="label")
    h = x_in
    for i, f in enumerate(filters):
        h = layers.Conv2D(f, 3, strides=2, padding="same", activation="relu", name=f"conv_{i}")(h)
    h = layers.Concatenate(name="with_label")([layers.Flatten(name="flatten")(h), y_in])
    h = layers.Dense(dense_units, activation="relu", name="dense")(h)
    z_mean = layers.Dense(latent_dim, name="z_mean")(h)
    z_log_var = layers.Dense(latent_dim, name="z_log_var")(h)
    return keras.Model([x_in, y_in], [z_mean, z_log_var], name="conditional_encoder")


def build_conditional_decoder(output_shape: Sequence[int], n_classes: int, latent_dim: int,
                              filters: Sequence[int] = (32, 64)) -> keras.Model:
    """``[z, one-hot label] -> image logits``: the course's conv decoder fed ``concat(z, y)``."""
    filters = check_filters(filters)
    height, width, channels = check_image_shape("output_shape", output_shape, len(filters))
    n_classes, latent_dim = check_int("n_classes", n_classes), check_int("latent_dim", latent_dim)
    factor = 2 ** len(filters)
    z_in = keras.Input(shape=(latent_dim,), name="z")
    y_in = keras.Input(shape=(n_classes,), name="label")
    h = layers.Concatenate(name="with_label")([z_in, y_in])
    h = layers.Dense((height // factor) * (width // factor) * filters[-1], activation="relu", name="dense")(h)
    h = layers.Reshape((height // factor, width // factor, filters[-1]), name="reshape")(h)
    for i, f in enumerate(reversed(filters)):
        h = layers.Conv2DTranspose(f, 3, strides=2, padding="same", activation="relu", name=f"deconv_{i}")(h)
    logits = layers.Conv2DTranspose(channels, 3, padding="same", name="logits")(h)
    return keras.Model([z_in, y_in], logits, name="conditional_decoder")


@keras.saving.register_keras_serializable(package="vae_helpers")
class ConditionalVAE(CourseModel):
    """A VAE whose encoder and decoder take the one-hot label as a second input.

    It shares the course models' base (:class:`~vae_helpers.models.base.CourseModel`: training step,
    trackers) and the VAE's sampling layer and loss, but not the :class:`~vae_helpers.models.vae.VAE`
    API: every method that encodes or decodes also takes the labels. ``fit(x, y)`` takes images
    and integer labels (one-hot encoding happens inside). KL warm-up, free bits and denoising are
    not supported (they are refused, never ignored).

    Args:
        encoder: ``[image, one-hot] -> [z_mean, z_log_var]``.
        decoder: ``[z, one-hot] -> logits``.
        beta: weight of the KL term.
        seed: seed of the sampling layer.
    """

    LOSS_NAMES = VAE.LOSS_NAMES
    takes_labels = True

    def __init__(self, encoder: keras.Model, decoder: keras.Model, beta: float = 1.0, seed: int | None = None,
                 **kwargs):
        unsupported = sorted(set(kwargs) & UNSUPPORTED)
        if unsupported:
            raise ValueError(f"ConditionalVAE does not support {', '.join(unsupported)}. "
                             f"Received: {', '.join(f'{k}={kwargs[k]!r}' for k in unsupported)}")
        if not isinstance(encoder, keras.Model) or len(encoder.inputs) != 2:
            raise ValueError(f"`encoder` must be a Keras model [image, label] -> [z_mean, z_log_var]. Received: encoder={encoder!r}")
        if not isinstance(decoder, keras.Model) or len(decoder.inputs) != 2:
            raise ValueError(f"`decoder` must be a Keras model [z, label] -> logits. Received: decoder={decoder!r}")
        super().__init__(encoder, decoder, seed=seed, **kwargs)
        self.beta = check_number("beta", beta)
        self.latent_dim = int(decoder.inputs[0].shape[-1])
        self.n_classes = int(encoder.inputs[1].shape[-1])
        self.sampling = Sampling(seed=self.seed, name="sampling")

    def build(self, input_shape=None):
        self.sampling.build([(None, self.latent_dim), (None, self.latent_dim)])
        self.built = True

    def _one_hot(self, labels):
        return ops.one_hot(ops.cast(ops.reshape(labels, (-1,)), "int32"), self.n_classes)

    def call(self, inputs, training=False):
        x, labels = inputs
        y = self._one_hot(labels)
        z_mean, z_log_var = self.encoder([x, y], training=training)
        return self.decoder([self.sampling([z_mean, z_log_var]), y], training=training)

    def compute_losses(self, x, y=None, training: bool = False) -> dict:
        """The VAE losses (:func:`~vae_helpers.models.vae.vae_losses`) with encoder and decoder conditioned on the labels ``y``."""
        y = self._one_hot(y)
        z_mean, z_log_var = self.encoder([x, y], training=training)
        logits = self.decoder([self.sampling([z_mean, z_log_var]), y], training=training)
        return vae_losses(x, logits, z_mean, z_log_var, self.beta)

    # -- numpy in, numpy out --

    def _labels(self, labels, n: int | None = None) -> np.ndarray:
        return np.eye(self.n_classes, dtype="float32")[check_labels("labels", labels, n=n, n_classes=self.n_classes)]

    def encode(self, x, labels, batch_size: int = 512) -> tuple[np.ndarray, np.ndarray]:
        """``(z_mean, z_log_var)`` of images ``x`` with their integer ``labels``."""
        x = self.check_images(x)
        return run_batched(self.encoder, (x, self._labels(labels, len(x))), check_int("batch_size", batch_size))

    def decode(self, z, labels, batch_size: int = 512) -> np.ndarray:
        """Pixel probabilities for codes ``z`` ``(n, latent_dim)`` drawn as the classes ``labels``."""
        z = check_codes("z", z, dim=self.latent_dim).astype("float32")
        return predict_images(self.decoder, (z, self._labels(labels, len(z))), check_int("batch_size", batch_size))

    def reconstruct(self, x, labels, batch_size: int = 512) -> np.ndarray:
        """Decode the mean code of each image with its own label: the deterministic reconstruction."""
        return self.decode(self.encode(x, labels, batch_size)[0], labels, batch_size)

    def sample(self, labels, seed: int = 0) -> np.ndarray:
        """One new image of each requested class in ``labels``, from ``z ~ N(0, I)`` drawn with ``seed``."""
        check_int("len(labels)", len(labels) if hasattr(labels, "__len__") else 0, 1, MAX_SAMPLES)  # before any work
        labels = check_labels("labels", labels, n_classes=self.n_classes)
        return self.decode(prior_sample(len(labels), self.latent_dim, seed), labels)

    def get_config(self):
        return {**super().get_config(), "beta": self.beta}


UNSUPPORTED = frozenset({"kl_warmup_steps", "free_bits", "denoising"})


def build_conditional_vae(input_shape: Sequence[int], n_classes: int = 10, latent_dim: int = 2,
                          filters: Sequence[int] = (32, 64), dense_units: int = DENSE_UNITS, beta: float = 1.0,
                          seed: int | None = None) -> ConditionalVAE:
    """A :class:`ConditionalVAE` with the course's convolutional encoder and decoder."""
    encoder = build_conditional_encoder(input_shape, n_classes, latent_dim, filters, dense_units)
    decoder = build_conditional_decoder(input_shape, n_classes, latent_dim, filters)
    cvae = ConditionalVAE(encoder, decoder, beta=beta, seed=seed, name="conditional_vae")
    cvae.build()
    return cvae


#: The TrainConfig options this model kind supports beyond the shared ones (vae_helpers.training.trainer's registry).
SUPPORTS = frozenset({"filters", "beta", "labels"})


def build_from_config(config, dataset, steps_per_epoch: int) -> ConditionalVAE:
    """The conditional VAE a :class:`~vae_helpers.training.trainer.TrainConfig` describes (the training registry's builder)."""
    image_shape, n_classes = dataset.image_shape, len(dataset.class_names)
    return build_conditional_vae(image_shape, n_classes, config.latent_dim, config.filters, config.dense_units,
                                 config.beta, seed=config.seed)


#: This module's entry in the registry of model kinds (:data:`vae_helpers.models.registry.MODEL_KINDS`).
KIND = ModelKind("conditional_vae", build_from_config, SUPPORTS,  # keyed as before the registry: a VAE with conditional=True
                 key_settings=lambda settings: {**settings, "model": "vae", "conditional": True})
