"""A toy model kind for the registry test: a VAE whose decoder is a Gaussian per pixel, in one module.

It is what a contributor would write for a new decoder: the model (its likelihood and its decoding),
``build_from_config(config, dataset, steps_per_epoch)`` and ``KIND``; the test adds ``KIND`` to the
registry and nothing else.
"""

from __future__ import annotations

import math

import keras
import numpy as np

from vae_helpers.models.builders import build_decoder, build_encoder
from vae_helpers.models.densities import gaussian_log_density, kl_divergence
from vae_helpers.models.kind import ModelKind
from vae_helpers.models.vae import VAE

ops = keras.ops
SIGMA = 0.1  # the decoder's fixed standard deviation per pixel


@keras.saving.register_keras_serializable(package="vae_helpers_tests")
class GaussianDecoderVAE(VAE):
    """p(x|z) = N(x; decoder(z), SIGMA²) per pixel: a density of grey levels, not a code length."""

    likelihood = "gaussian"

    def log_likelihood(self, x, decoder_output):
        log_p = gaussian_log_density(x, decoder_output, ops.ones_like(decoder_output) * (2.0 * math.log(SIGMA)))
        return ops.sum(ops.reshape(log_p, (ops.shape(log_p)[0], -1)), axis=-1)

    def compute_losses(self, x, y=None, training: bool = False) -> dict:
        z_mean, z_log_var = self.encoder(x, training=training)
        means = self.decoder(self.sampling([z_mean, z_log_var]), training=training)
        reconstruction_loss = -ops.mean(self.log_likelihood(x, means))
        kl_loss = ops.mean(kl_divergence(z_mean, z_log_var))
        return {"loss": reconstruction_loss + self.beta * kl_loss, "reconstruction_loss": reconstruction_loss,
                "kl_loss": kl_loss}

    def decode(self, z, batch_size: int = 512) -> np.ndarray:
        means = self.decoder.predict(np.asarray(z, dtype="float32"), batch_size=batch_size, verbose=0)
        return np.clip(means, 0.0, 1.0)


def build_from_config(config, dataset, steps_per_epoch: int) -> GaussianDecoderVAE:
    shape = dataset.image_shape
    vae = GaussianDecoderVAE(build_encoder(shape, config.latent_dim, config.filters, config.dense_units, variational=True),
                             build_decoder(shape, config.latent_dim, config.filters), beta=config.beta, seed=config.seed,
                             name="gaussian_decoder_vae")
    vae.build((None, *shape))
    return vae


KIND = ModelKind("toy_gaussian_vae", build_from_config, frozenset({"filters", "beta", "snapshot_samples"}), likelihood="gaussian",
                 key_tag=lambda config: f"gauss-beta{config.beta:g}")
