"""Figures of the course: image grids, reconstructions, latent scatters and decoded latent grids.

Each function returns the matplotlib Figure; :func:`save_fig` is the one place figures are saved.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ..core.checks import check_codes, check_images, check_int, check_labels, check_writable_folder
from ..core.files import write_bytes_atomic
from ..core.settings import RunSettings

__all__ = ["GUTTER_GREY", "GUTTER_PX", "PLOTS_DIR", "as_images", "latent_grid", "output_dir", "plot_bits_back_stack",
           "plot_decoded_grid", "plot_history",
           "plot_image_table", "plot_images", "plot_kl_per_dimension", "plot_latent_scatter", "plot_matrix",
           "plot_reconstructions", "plot_roc_curves", "plot_score_histograms", "save_fig", "tile_images"]

PLOTS_DIR = Path(__file__).resolve().parents[2] / "plots"
GUTTER_PX, GUTTER_GREY = 2, 0.15  # light-grey lines between tiled images, so each one reads on its own


def save_fig(fig: Figure, name: str, folder: str | Path = PLOTS_DIR, dpi: int = 100) -> Path:
    """Save ``fig`` as ``folder/name`` (``.png`` added when ``name`` has no suffix); return the path."""
    if not name or Path(name).name != name:
        raise ValueError(f"`name` must be a plain file name without folders. Received: name={name!r}")
    path = Path(check_writable_folder("folder", folder)) / (name if Path(name).suffix else f"{name}.png")
    buffer = io.BytesIO()
    fig.savefig(buffer, format=path.suffix[1:].lower(), dpi=dpi, bbox_inches="tight")
    return write_bytes_atomic(path, buffer.getvalue(), arg="name")


def output_dir(settings: RunSettings) -> Path:
    """Where a notebook writes the README figures: ``plots/`` in full runs, a temporary folder in smoke runs."""
    if settings.is_smoke:
        return Path(tempfile.mkdtemp(prefix="vae-course-plots-"))
    return PLOTS_DIR


def as_images(images: np.ndarray, arg: str = "images") -> np.ndarray:
    """Check greyscale images ``(n, h, w)`` or ``(n, h, w, 1)`` in [0, 1] and return them as float32 ``(n, h, w)``.

    The figures draw ink on paper (the ``binary`` colour map, 1 is black), which a colour image would
    bypass with the opposite polarity; uint8 levels would all show as black.
    """
    array = images if isinstance(images, (str, bytes)) else np.asarray(images)
    if np.ndim(array) == 3 and len(array):
        array = array[..., None]   # (n, h, w): one channel
    return check_images(arg, array, greyscale=True)[..., 0]


def tile_images(images: np.ndarray, n_rows: int, n_cols: int, gutter: int = 0, fill: float = 0.0) -> np.ndarray:
    """Tile the first ``n_rows * n_cols`` images ``(n, h, w[, c])`` into one array (row-major), ``gutter`` pixels of
    ``fill`` between them. A layout only: the values (any dtype, any channels) are copied as they are."""
    n_rows, n_cols, gutter = check_int("n_rows", n_rows), check_int("n_cols", n_cols), check_int("gutter", gutter, 0)
    images = np.asarray(images)
    if images.ndim not in (3, 4) or len(images) < n_rows * n_cols:
        raise ValueError(f"`images` must be a batch (n, height, width[, channels]) of at least n_rows * n_cols = "
                         f"{n_rows * n_cols} images. Received: images.shape={images.shape}")
    images = images[: n_rows * n_cols]
    if gutter:
        pad = [(0, 0), (0, gutter), (0, gutter)] + [(0, 0)] * (images.ndim - 3)
        images = np.pad(images, pad, constant_values=fill)
    h, w = images.shape[1:3]
    grid = images.reshape(n_rows, n_cols, h, w, *images.shape[3:])
    grid = grid.swapaxes(1, 2).reshape(n_rows * h, n_cols * w, *images.shape[3:])
    return grid[: grid.shape[0] - gutter, : grid.shape[1] - gutter] if gutter else grid


def _frame(ax) -> None:
    """Hide the ticks and draw a thin light-grey frame, so that white-background images stay apart."""
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_color("0.8")


def plot_images(images: np.ndarray, n_cols: int = 10, titles: Sequence[str] | None = None,
                scale: float = 1.2) -> Figure:
    """Show a batch of images in a grid, with an optional title under each."""
    images = as_images(images)
    n_rows = -(-len(images) // n_cols)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(n_cols * scale, n_rows * scale * 1.15), squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i < len(images):
            ax.imshow(images[i], cmap="binary", vmin=0, vmax=1)
            _frame(ax)
            if titles is not None:
                ax.set_title(titles[i], fontsize=8)
        else:
            ax.axis("off")
    fig.tight_layout()
    return fig


def plot_image_table(images: np.ndarray, row_labels: Sequence[str], col_labels: Sequence[str],
                     title: str | None = None, scale: float = 0.9) -> Figure:
    """Tile ``len(row_labels) * len(col_labels)`` images row by row, with a label per row and per column."""
    images = as_images(images)
    n_rows, n_cols = len(row_labels), len(col_labels)
    if len(images) != n_rows * n_cols:
        raise ValueError(f"`images` must hold len(row_labels) * len(col_labels) = {n_rows * n_cols} images. "
                         f"Received: {len(images)}")
    h, w = images.shape[1:3]
    fig, ax = plt.subplots(figsize=(1.2 + n_cols * scale, 0.6 + n_rows * scale * h / w))
    ax.imshow(tile_images(images, n_rows, n_cols, gutter=GUTTER_PX, fill=GUTTER_GREY), cmap="binary", vmin=0, vmax=1,
              interpolation="nearest")
    ax.set_xticks([c * (w + GUTTER_PX) + w / 2 - 0.5 for c in range(n_cols)], list(col_labels), fontsize=8)
    ax.set_yticks([r * (h + GUTTER_PX) + h / 2 - 0.5 for r in range(n_rows)], list(row_labels), fontsize=8)
    ax.tick_params(length=0)
    ax.xaxis.tick_top()
    for spine in ax.spines.values():
        spine.set_visible(False)
    if title:
        ax.set_title(title, fontsize=10, pad=22)
    fig.tight_layout()
    return fig


def plot_matrix(values: np.ndarray, row_labels: Sequence[str], col_labels: Sequence[str], title: str | None = None,
                fmt: str = ".2f") -> Figure:
    """A heat map of a small matrix with every value written in its cell."""
    values = np.asarray(values, dtype="float64")
    if values.shape != (len(row_labels), len(col_labels)):
        raise ValueError(f"`values` must have shape ({len(row_labels)}, {len(col_labels)}). Received: values.shape={values.shape}")
    fig, ax = plt.subplots(figsize=(1.5 + 1.0 * len(col_labels), 0.8 + 0.4 * len(row_labels)))
    image = ax.imshow(values, cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(col_labels)), list(col_labels))
    ax.set_yticks(range(len(row_labels)), list(row_labels))
    for (r, c), v in np.ndenumerate(values):
        ax.text(c, r, format(v, fmt), ha="center", va="center", fontsize=8,
                color="white" if v < values.min() + 0.6 * (values.max() - values.min()) else "black")
    fig.colorbar(image, ax=ax)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_reconstructions(originals: np.ndarray, reconstructions: np.ndarray, n: int = 10) -> Figure:
    """Originals (top row) above their reconstructions (bottom row)."""
    originals, reconstructions = as_images(originals, "originals"), as_images(reconstructions, "reconstructions")
    if originals.shape != reconstructions.shape:
        raise ValueError(
            "`originals` and `reconstructions` must have the same shape. "
            f"Received: {originals.shape} and {reconstructions.shape}"
        )
    n = min(n, len(originals))
    fig, axes = plt.subplots(2, n, figsize=(n * 1.2, 2.6), squeeze=False)
    for row, (batch, label) in enumerate([(originals, "original"), (reconstructions, "reconstruction")]):
        for i in range(n):
            axes[row, i].imshow(batch[i], cmap="binary", vmin=0, vmax=1)
            _frame(axes[row, i])
        axes[row, 0].set_title(label, fontsize=9, loc="left")
    fig.tight_layout()
    return fig


def plot_latent_scatter(z: np.ndarray, labels: np.ndarray, class_names: Sequence[str],
                        ax: plt.Axes | None = None, title: str | None = None, s: float = 3) -> Figure:
    """Scatter of 2-D latent points coloured by class, with a legend of class names."""
    z = np.asarray(z)
    if z.ndim != 2 or z.shape[1] != 2:
        raise ValueError(f"`z` must have shape (n, 2); project higher-dimensional codes first. Received: z.shape={z.shape}")
    z = check_codes("z", z, dim=2)
    labels = check_labels("labels", labels, n=len(z), n_classes=len(class_names))
    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 6))
    else:
        fig = ax.figure
    cmap = plt.get_cmap("tab10")
    for k, name in enumerate(class_names):
        mask = labels == k
        ax.scatter(z[mask, 0], z[mask, 1], s=s, color=cmap(k % 10), label=name, alpha=0.7, linewidths=0)
    ax.legend(markerscale=4, fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    if title:
        ax.set_title(title)
    return fig


def plot_decoded_grid(images: np.ndarray, grid_x: np.ndarray, grid_y: np.ndarray,
                      size: float = 8, title: str | None = None, highlight: np.ndarray | None = None) -> Figure:
    """Tile images decoded at :func:`latent_grid` points, labelling rows and columns with their z values.

    ``highlight``: optional boolean array ``(len(grid_y), len(grid_x))``; those cells get a red outline.
    """
    images = as_images(images)
    n_rows, n_cols = len(grid_y), len(grid_x)
    if len(images) != n_rows * n_cols:
        raise ValueError(f"`images` must hold len(grid_y) * len(grid_x) = {n_rows * n_cols} images. "
                         f"Received: {len(images)}")
    h, w = images.shape[1:3]
    fig, ax = plt.subplots(figsize=(size, size * n_rows * h / (n_cols * w)))
    ax.imshow(tile_images(images, n_rows, n_cols, GUTTER_PX, GUTTER_GREY), cmap="binary", vmin=0, vmax=1)
    ax.set_xticks(np.arange(n_cols) * (w + GUTTER_PX) + (w - 1) / 2, [f"{v:.1f}" for v in grid_x], fontsize=7)
    ax.set_yticks(np.arange(n_rows) * (h + GUTTER_PX) + (h - 1) / 2, [f"{v:.1f}" for v in grid_y], fontsize=7)
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    if highlight is not None:
        highlight = np.asarray(highlight, dtype=bool)
        if highlight.shape != (n_rows, n_cols):
            raise ValueError(f"`highlight` must have shape {(n_rows, n_cols)}. Received: highlight.shape={highlight.shape}")
        for row, col in zip(*np.nonzero(highlight)):
            ax.add_patch(plt.Rectangle((col * (w + GUTTER_PX) - 0.5, row * (h + GUTTER_PX) - 0.5), w, h,
                                       fill=False, edgecolor="red", linewidth=1.2))
    if title:
        ax.set_title(title)
    return fig


def latent_grid(grid_x: np.ndarray, grid_y: np.ndarray) -> np.ndarray:
    """All (z1, z2) pairs of a grid, row by row in the order of ``grid_y`` (pass it descending
    to put large z2 at the top of :func:`plot_decoded_grid`)."""
    grid_x, grid_y = np.asarray(grid_x, dtype="float32"), np.asarray(grid_y, dtype="float32")
    if grid_x.ndim != 1 or grid_y.ndim != 1 or len(grid_x) < 1 or len(grid_y) < 1:
        raise ValueError(f"`grid_x` and `grid_y` must be non-empty 1-D arrays. "
                         f"Received shapes {grid_x.shape} and {grid_y.shape}")
    zx, zy = np.meshgrid(grid_x, grid_y)
    return np.stack([zx.ravel(), zy.ravel()], axis=1)


def plot_history(history: dict[str, Sequence[float]], metrics: Sequence[str] = ("loss",),
                 title: str | None = None) -> Figure:
    """One panel per metric: its training curve and, when present, its ``val_`` curve, per epoch."""
    missing = [m for m in metrics if m not in history]
    if missing:
        raise ValueError(f"`metrics` must be keys of `history` ({sorted(history)}). Received: {missing}")
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.5 * len(metrics), 3.4), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        epochs = np.arange(1, len(history[metric]) + 1)
        ax.plot(epochs, history[metric], "o-", ms=3, label="training")
        if f"val_{metric}" in history:
            ax.plot(epochs, history[f"val_{metric}"], "s--", ms=3, label="validation")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(metric.replace("_", " "))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_kl_per_dimension(kl_by_model: dict[str, np.ndarray], threshold: float | None = None) -> Figure:
    """One bar chart per model: the KL of each latent dimension in nats, largest first.

    Args:
        kl_by_model: model name -> KL per dimension (``diagnostics.kl_per_dimension``).
        threshold: optional height of a dashed reference line.
    """
    if not kl_by_model:
        raise ValueError("`kl_by_model` must name at least one model. Received: {}")
    fig, axes = plt.subplots(1, len(kl_by_model), figsize=(3.6 * len(kl_by_model), 3.0), sharey=True, squeeze=False)
    for ax, (name, kl) in zip(axes[0], kl_by_model.items()):
        kl = np.sort(np.asarray(kl, dtype=float))[::-1]
        ax.bar(np.arange(1, len(kl) + 1), kl, color="tab:blue")
        if threshold is not None:
            ax.axhline(threshold, color="grey", linestyle="--", linewidth=1)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("latent dimension, by KL")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3, axis="y")
    axes[0, 0].set_ylabel("KL (nats)")
    fig.tight_layout()
    return fig


def plot_roc_curves(curves: dict[str, tuple[np.ndarray, np.ndarray, float]], title: str | None = None) -> Figure:
    """ROC curves on one axis, each labelled with its AUC.

    Args:
        curves: score name -> ``(false positive rates, true positive rates, AUC)``
            (``anomaly.roc_curve`` and ``anomaly.roc_auc``).
    """
    if not curves:
        raise ValueError("`curves` must name at least one score. Received: {}")
    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    for name, (fpr, tpr, auc) in curves.items():
        ax.plot(fpr, tpr, label=f"{name} (AUC {auc:.3f})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1, label="chance (AUC 0.5)")
    ax.set_xlabel("false positive rate (normal images flagged)")
    ax.set_ylabel("true positive rate (anomalies caught)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_score_histograms(panels: dict[str, dict[str, np.ndarray]], bins: int = 60, xlabel: str = "") -> Figure:
    """One panel per score, overlaid histograms of that score for each group of images.

    Args:
        panels: panel title (the score) -> {group name -> scores}.
        bins: histogram bins, shared by the groups of a panel.
        xlabel: the scores' unit, written under every panel (such as ``"bits per image"``).
    """
    if not panels or any(not groups for groups in panels.values()):
        raise ValueError("`panels` must map each title to at least one group of scores. Received: "
                         f"{ {k: list(v) for k, v in panels.items()} }")
    fig, axes = plt.subplots(1, len(panels), figsize=(4.8 * len(panels), 3.3), squeeze=False)
    for ax, (title, groups) in zip(axes[0], panels.items()):
        edges = np.histogram_bin_edges(np.concatenate([np.asarray(v, float) for v in groups.values()]), bins=bins)
        for name, values in groups.items():
            ax.hist(values, bins=edges, alpha=0.55, density=True, label=name)
        ax.set_title(title, fontsize=10)
        ax.set_ylabel("density")
        ax.set_xlabel(str(xlabel))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_bits_back_stack(bits: dict[str, float], before: float, before_label: str = "initial words") -> Figure:
    """The ANS stack through the three bits-back steps of one image, drawn to scale in bits.

    Args:
        bits: ``read`` (-log2 q(z|x), popped), ``pixels`` (-log2 p(x|z), pushed) and ``prior``
            (-log2 p(z), pushed), as from :func:`vae_helpers.applications.compression.code_lengths`.
        before: bits on the stack before the image.
        before_label: what those bits are (the seeded initial words before a file's first image; earlier images' later).
    """
    if any(bits.get(k, -1) < 0 for k in ("read", "pixels", "prior")) or before < bits["read"]:
        raise ValueError("`bits` must hold non-negative read, pixels and prior, and `before` must be at least bits['read']. "
                         f"Received: bits={bits!r}, before={before!r}")
    base = before - bits["read"]
    steps = [("before the image", [(before_label, before, "0.75")]),
             ("1. pop z with q(z|x)", [(before_label, base, "0.75")]),
             ("2. push x with p(x|z)", [(before_label, base, "0.75"), ("x", bits["pixels"], "tab:blue")]),
             ("3. push z with p(z)", [(before_label, base, "0.75"), ("x", bits["pixels"], "tab:blue"),
                                      ("z", bits["prior"], "tab:orange")])]
    fig, ax = plt.subplots(figsize=(9, 4.2))
    for i, (title, blocks) in enumerate(steps):
        bottom = 0.0
        for label, height, colour in blocks:
            ax.bar(i, height, bottom=bottom, color=colour, edgecolor="black", width=0.6)
            ax.text(i, bottom + height / 2, f"{label}\n{height:,.0f} bits", ha="center", va="center", fontsize=8)
            bottom += height
        if i == 1:
            ax.bar(i, bits["read"], bottom=base, color="white", edgecolor="tab:red", hatch="//", width=0.6)
            ax.text(i, base + bits["read"] / 2, f"read back as z\n{bits['read']:,.0f} bits", ha="center", va="center",
                    fontsize=8, color="tab:red")
    ax.set_xticks(range(len(steps)), [t for t, _ in steps])
    ax.set_ylabel("bits on the stack")
    net = bits["pixels"] + bits["prior"] - bits["read"]
    ax.set_title(f"The stack grows by {bits['pixels']:,.0f} + {bits['prior']:,.0f} - {bits['read']:,.0f} = {net:,.0f} bits")
    fig.tight_layout()
    return fig
