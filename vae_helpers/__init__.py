"""Helpers for the autoencoder and VAE course: data, models, training, plotting."""

__version__ = "0.1.0"
