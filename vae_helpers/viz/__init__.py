"""Figures, latent-space tools, GIF animations, the README figures and the latent explorer."""
