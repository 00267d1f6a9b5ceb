"""Helpers for the autoencoder and VAE course: data, models, training, plotting.

Importing the package loads no TensorFlow: the modules that need it start it quietly on first
use (:mod:`vae_helpers.core.tf_startup`), so ``vae-course --help`` answers at once.
"""

__version__ = "0.1.0"
