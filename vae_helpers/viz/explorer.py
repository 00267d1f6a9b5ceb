"""An interactive latent-space explorer for JupyterLab (ipywidgets), with a static fallback figure."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from ..core.checks import check_int, check_unconditional
from .plotting import plot_images

__all__ = ["explorer_fallback", "latent_explorer"]


def latent_explorer(vae, dims: tuple[int, ...] = (0, 1), limit: float = 3.0, step: float = 0.1):
    """Sliders over latent coordinates ``dims`` (others fixed at 0) that redraw the decoded image.

    Returns the ipywidgets ``interactive`` object (displayed by Jupyter). Needs ipywidgets.

    Args:
        vae: a trained :class:`~vae_helpers.models.vae.VAE`.
        dims: which latent coordinates get a slider.
        limit: each slider runs from ``-limit`` to ``limit`` (in prior standard deviations).
        step: slider step.
    """
    import ipywidgets as widgets

    dims = _check_dims(vae, dims)
    if not limit > 0 or not 0 < step <= limit:
        raise ValueError(f"`limit` and `step` must satisfy 0 < step <= limit. Received: limit={limit!r}, step={step!r}")
    sliders = {f"z{d + 1}": widgets.FloatSlider(value=0.0, min=-limit, max=limit, step=step,
                                                description=f"z{d + 1}", continuous_update=True) for d in dims}

    def show(**values):
        z = np.zeros((1, vae.latent_dim), dtype="float32")
        for d in dims:
            z[0, d] = values[f"z{d + 1}"]
        fig, ax = plt.subplots(figsize=(2.5, 2.5))
        ax.imshow(vae.decode(z)[0, ..., 0], cmap="binary", vmin=0, vmax=1)
        ax.set_title(", ".join(f"z{d + 1}={z[0, d]:+.1f}" for d in dims), fontsize=8)
        ax.axis("off")
        plt.show()

    class LatentExplorer(widgets.interactive):
        def __repr__(self) -> str:
            # Shown where the widget cannot run (GitHub, a notebook not yet run) instead of
            # ipywidgets' "interactive(children=(FloatSlider(...".
            return f"Latent explorer: sliders {', '.join(sliders)} (run the cell in Jupyter to move them)"

    return LatentExplorer(show, **sliders)


def explorer_fallback(vae, dim: int = 0, limit: float = 3.0, n: int = 9) -> Figure:
    """The static version of the explorer: images decoded along one latent coordinate, others at 0."""
    (dim,) = _check_dims(vae, (dim,))
    values = np.linspace(-limit, limit, n)
    z = np.zeros((n, vae.latent_dim), dtype="float32")
    z[:, dim] = values
    return plot_images(vae.decode(z), n_cols=n, titles=[f"z{dim + 1}={v:+.1f}" for v in values])


def _check_dims(vae, dims) -> tuple[int, ...]:
    check_unconditional("vae", vae)
    dims = tuple(dims)
    try:
        if not dims:
            raise ValueError
        return tuple(check_int("dims", d, 0, vae.latent_dim - 1) for d in dims)
    except ValueError:
        raise ValueError(f"`dims` must be latent coordinates in 0..{vae.latent_dim - 1}. Received: dims={dims!r}") from None
