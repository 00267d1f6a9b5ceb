"""Scoring models: ELBO/IWAE, diagnostics, disentanglement, image quality, the judge classifier."""
