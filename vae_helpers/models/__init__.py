"""The model kinds, their shared builders and training step, and the loss terms."""
