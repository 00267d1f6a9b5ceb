"""Checks, the full/smoke settings, TensorFlow started quietly, atomic files: what every other wing uses."""
