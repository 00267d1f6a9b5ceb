"""What every course model shares: an encoder, a decoder, one training step, loss trackers, numpy helpers.

A model says what its losses are (:meth:`CourseModel.compute_losses`, a dict whose ``"loss"`` is
minimized); the training step is written once, here, as in the Keras VAE example:

    losses = compute_losses(x, y)  ->  gradients of losses["loss"]  ->  apply them  ->  logs

Two things that notebook 02 does not teach live in helpers of their own, used by every model:
:meth:`CourseModel.apply_gradients` scales the gradients under a ``tf.distribute`` strategy, and
:meth:`CourseModel.logs` shapes the logs the way Keras can reduce them over workers. A denoising
model corrupts its encoder's input during training through :meth:`CourseModel.encoder_input`.
"""

from __future__ import annotations

import numpy as np

from ..core.checks import check_images, check_seed
from .builders import TrainingNoise
from ..core.tf_startup import keras, tf
from .densities import bernoulli_log_likelihood

__all__ = ["CourseModel", "for_keras_logs", "with_submodels"]


def for_keras_logs(value):
    """``value`` as ``fit`` can reduce it: shape ``(1,)`` under a multi-worker strategy, else unchanged.

    Keras 3 reduces each replica's logs with ``strategy.reduce("MEAN", v, axis=0)`` under
    ``MultiWorkerMirroredStrategy``, which fails on scalars ("Invalid reduction dimension 0 for
    input with 0 dimensions", tensorflow/tensorflow#72388); a one-element vector reduces to the
    mean over the workers.
    """
    if isinstance(tf.distribute.get_strategy(), tf.distribute.MultiWorkerMirroredStrategy):
        return keras.ops.reshape(value, (1,))
    return value


def with_submodels(config: dict) -> dict:
    """A copy of a model's ``config`` with its serialized ``encoder`` and ``decoder`` rebuilt (for ``from_config``)."""
    config = dict(config)
    for part in ("encoder", "decoder"):
        config[part] = keras.saving.deserialize_keras_object(config[part])
    return config


class CourseModel(keras.Model):
    """Base of the course's models: ``encoder``, ``decoder``, the training and test steps, and loss trackers.

    Subclasses set ``LOSS_NAMES`` (the first is minimized) and define :meth:`compute_losses`.
    ``fit``'s sample weights are not used (``fit(x, y)`` passes labels to a model that takes them).

    Args:
        encoder: the encoder model.
        decoder: the decoder model (outputs logits).
        denoising: train on inputs corrupted by :class:`~vae_helpers.models.builders.TrainingNoise`, with the
            clean images as targets (a denoising model, notebook 07).
        seed: seed of the model's random layers.
    """

    LOSS_NAMES: tuple[str, ...] = ("loss",)
    takes_labels = False  # True for a model whose encoder and decoder also take the class label
    likelihood = "bernoulli"  # what the decoder's output parameterizes (see log_likelihood); a ModelKind says the same

    def __init__(self, encoder: keras.Model, decoder: keras.Model, denoising: bool = False,
                 seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(denoising, (bool, np.bool_)):
            raise ValueError(f"`denoising` must be True or False. Received: denoising={denoising!r}")
        self.seed = None if seed is None else check_seed("seed", seed)
        self.encoder, self.decoder = encoder, decoder
        self.denoising = bool(denoising)
        self.noise = TrainingNoise(seed=self.seed, name="training_noise") if self.denoising else None
        self.trackers = {name: keras.metrics.Mean(name=name) for name in self.LOSS_NAMES}

    @property
    def metrics(self):
        return list(self.trackers.values())  # listed here so Keras resets them every epoch

    def compute_losses(self, x, y=None, training: bool = False) -> dict:
        """The batch losses of images ``x`` (and labels ``y`` for a model that takes them)."""
        raise NotImplementedError

    def log_likelihood(self, x, decoder_output):
        """``log p(x|z)`` of each image in nats, summed over pixels, from the decoder's output for ``z`` (Bernoulli logits)."""
        return bernoulli_log_likelihood(x, decoder_output)

    def encoder_input(self, x, training: bool = False):
        """``x``, corrupted while training if the model is a denoising one."""
        return self.noise(x, training=training) if self.noise is not None else x

    def train_step(self, data):
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape() as tape:
            losses = self.compute_losses(x, y, training=True)
        grads = tape.gradient(losses["loss"], self.trainable_weights)
        self.apply_gradients(grads)
        return self.logs(losses)

    def test_step(self, data):
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        return self.logs(self.compute_losses(x, y, training=False))

    def apply_gradients(self, grads) -> None:
        """One optimizer step with ``grads``, the gradients of the batch's mean loss.

        Under a ``tf.distribute`` strategy each replica computes the mean over its share of the
        batch and the optimizer sums the replicas' gradients; dividing by the number of replicas
        makes that sum the gradient of the mean over the whole batch, as on one device.
        """
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        if replicas > 1:
            grads = [g / replicas for g in grads]
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))

    def logs(self, losses: dict) -> dict:
        """Add the batch's ``losses`` to the epoch means and return the means for Keras's logs."""
        for name, tracker in self.trackers.items():
            tracker.update_state(losses[name])
        return {name: for_keras_logs(tracker.result()) for name, tracker in self.trackers.items()}

    # -- using a trained model (numpy in, numpy out) --

    @property
    def image_shape(self) -> tuple[int, ...]:
        """``(height, width, channels)`` of the images the model takes (its encoder's first input)."""
        return tuple(int(s) for s in self.encoder.inputs[0].shape[1:])

    def check_images(self, x, arg: str = "x") -> np.ndarray:
        """``x`` as float32 if it is a finite batch of this model's images in [0, 1]; else a clear ValueError."""
        return check_images(arg, x, self.image_shape)

    def get_config(self):
        return {**super().get_config(), "encoder": keras.saving.serialize_keras_object(self.encoder),
                "decoder": keras.saving.serialize_keras_object(self.decoder), "seed": self.seed}

    @classmethod
    def from_config(cls, config):
        return cls(**with_submodels(config))
