"""What VAEs are for: anomaly and OOD scores, lossless compression, a coded latent file."""
