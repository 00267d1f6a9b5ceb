"""Helpers for the autoencoder and VAE course: data, models, training, plotting."""

__version__ = "0.1.0"

# Start TensorFlow now, without its C++ start-up log lines (vae_helpers/tf_startup.py says why);
# notebooks import vae_helpers before keras so that learners never see them.
from .tf_startup import import_tensorflow_quietly as _import_tensorflow_quietly

_import_tensorflow_quietly()
