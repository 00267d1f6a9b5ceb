"""Training animations: 2-D layouts per epoch, frame renderers, and a GIF writer (imageio).

The per-epoch snapshots come from :mod:`vae_helpers.training.callbacks`. The renderers draw every frame at
the same pixel size with fixed axes and colours, so a GIF shows the model changing, not the plot.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..core.checks import check_codes, check_durations_ms, check_epochs, check_frames, check_int, check_size_px
from .latent_space import procrustes_align, tsne_2d
from .plotting import GUTTER_GREY, GUTTER_PX, as_images, plot_latent_scatter, tile_images
from ..core.files import write_bytes_atomic

__all__ = ["latent_frames", "render_image_frames", "render_scatter_frames", "write_gif"]


# -- 2-D layouts per epoch --

def _print_progress(done: int, total: int) -> None:
    print(f"\rt-SNE frames: {done}/{total}", end="\n" if done == total else "", flush=True)


def latent_frames(z_per_epoch: Sequence[np.ndarray], seed: int = 0,
                  progress: bool | Callable[[int, int], None] = True, align: bool = True,
                  perplexity: float = 30.0, n_iter: int | None = None, n_jobs: int = -1) -> list[np.ndarray]:
    """One 2-D layout ``(n, 2)`` per epoch: the codes themselves if 2-D, else warm-started t-SNE.

    For codes of more than 2 dimensions, the first epoch gets a full t-SNE run; every later one
    starts from the previous layout (no early exaggeration) and is then rotated onto it with
    :func:`~vae_helpers.viz.latent_space.procrustes_align`, so points move smoothly from frame to frame.

    Args:
        z_per_epoch: codes of the same ``n`` examples at each epoch, each ``(n, latent_dim)``.
        seed: t-SNE seed; the same seed gives the same frames.
        progress: print ``t-SNE frames: i/n`` on one line (True), nothing (False), or call
            ``progress(i, n)`` after each frame.
        align: rotate each t-SNE frame onto the previous one (False shows why this is needed).
        perplexity, n_iter, n_jobs: passed to :func:`~vae_helpers.viz.latent_space.tsne_2d` (``n_iter`` for
            the warm-started frames).
    """
    if isinstance(z_per_epoch, np.ndarray) and z_per_epoch.ndim == 3:
        z_per_epoch = list(z_per_epoch)
    if not isinstance(z_per_epoch, Sequence) or len(z_per_epoch) == 0:
        raise ValueError(f"`z_per_epoch` must be a non-empty list of (n, latent_dim) arrays. Received: {type(z_per_epoch).__name__}")
    codes = [check_codes(f"z_per_epoch[{i}]", z) for i, z in enumerate(z_per_epoch)]
    for i, z in enumerate(codes):
        if z.shape != codes[0].shape:
            raise ValueError(f"`z_per_epoch` must hold arrays of one shape. "
                             f"Received: z_per_epoch[0].shape={codes[0].shape}, z_per_epoch[{i}].shape={z.shape}")
    if codes[0].shape[1] == 2:
        return [z.astype("float32") for z in codes]
    report = _print_progress if progress is True else (progress or None)
    frames: list[np.ndarray] = []
    for i, z in enumerate(codes):
        if not frames:
            frame = tsne_2d(z, seed=seed, perplexity=perplexity, n_jobs=n_jobs)
        else:
            frame = tsne_2d(z, seed=seed, perplexity=perplexity, initialization=frames[-1], n_iter=n_iter, n_jobs=n_jobs)
            frame = procrustes_align(frame, frames[-1]) if align else frame
        frames.append(frame)
        if report:
            report(i + 1, len(codes))
    return frames


# -- rendering --

def _new_canvas(size_px: tuple[int, int], dpi: int) -> tuple[Figure, FigureCanvasAgg]:
    """A pyplot-free figure of exactly ``size_px`` pixels (nothing is displayed or leaked)."""
    fig = Figure(figsize=(size_px[0] / dpi, size_px[1] / dpi), dpi=dpi)
    return fig, FigureCanvasAgg(fig)


def _to_rgb(canvas: FigureCanvasAgg) -> np.ndarray:
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def render_scatter_frames(frames: Sequence[np.ndarray], labels, class_names: Sequence[str],
                          epochs: Sequence[int], size_px: tuple[int, int] = (640, 480), dpi: int = 100,
                          title: str | None = None, axis_labels: tuple[str, str] = ("$z_1$", "$z_2$"),
                          s: float = 6) -> list[np.ndarray]:
    """Draw each ``(n, 2)`` layout as a class-coloured scatter: uint8 RGB arrays ``(H, W, 3)``.

    All frames share the axis limits (taken over every frame), the tab10 colour of each class,
    the legend and the pixel size ``size_px = (W, H)``; each says ``epoch N``.

    Args:
        frames: layouts from :func:`latent_frames`, each ``(n, 2)``.
        labels: class of each point, shape ``(n,)``, indexing ``class_names``.
        class_names: legend names.
        epochs: epoch number of each frame.
        axis_labels: x and y labels (use e.g. ``("t-SNE 1", "t-SNE 2")`` for t-SNE layouts).
    """
    if isinstance(frames, np.ndarray) and frames.ndim == 3:
        frames = list(frames)
    if not isinstance(frames, Sequence) or len(frames) == 0:
        raise ValueError(f"`frames` must be a non-empty list of (n, 2) arrays. Received: {type(frames).__name__}")
    layouts = [check_codes(f"frames[{i}]", f, dim=2) for i, f in enumerate(frames)]
    if any(f.shape != layouts[0].shape for f in layouts):
        raise ValueError(f"`frames` must all have the same shape. Received shapes {sorted({f.shape for f in layouts})}")
    epochs = check_epochs("epochs", epochs, len(layouts))
    width, height = check_size_px("size_px", size_px)
    lo, hi = np.min([f.min(0) for f in layouts], 0), np.max([f.max(0) for f in layouts], 0)
    pad = 0.05 * np.maximum(hi - lo, 1e-6)
    fig, canvas = _new_canvas((width, height), dpi)
    ax = fig.add_axes((0.1, 0.12, 0.62, 0.78))
    out = []
    for layout, epoch in zip(layouts, epochs):
        ax.clear()
        plot_latent_scatter(layout, labels, class_names, ax=ax, title=title, s=s)
        ax.set_xlim(lo[0] - pad[0], hi[0] + pad[0])
        ax.set_ylim(lo[1] - pad[1], hi[1] + pad[1])
        ax.set_xlabel(axis_labels[0])
        ax.set_ylabel(axis_labels[1])
        ax.text(0.02, 0.97, f"epoch {epoch}", transform=ax.transAxes, va="top", fontsize=11,
                bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none"})
        out.append(_to_rgb(canvas))
    return out


def _from_levels(batch):
    """uint8 levels 0..255 (as :class:`~vae_helpers.training.callbacks.SampleSnapshots` stores them) as floats in [0, 1]."""
    array = np.asarray(batch) if not isinstance(batch, (str, bytes)) else batch
    return array / np.float32(255) if getattr(array, "dtype", None) == np.uint8 else array


def render_image_frames(images_per_epoch: Sequence[np.ndarray], epochs: Sequence[int], n_cols: int = 8,
                        size_px: tuple[int, int] | None = None, dpi: int = 100) -> list[np.ndarray]:
    """Tile each epoch's decoded samples into a grid captioned ``epoch N``: uint8 RGB ``(H, W, 3)``.

    Args:
        images_per_epoch: one batch of greyscale images ``(n, h, w[, 1])`` per epoch, uint8 in 0..255 (as
            :class:`SampleSnapshots` stores them) or floats in [0, 1].
        epochs: epoch number of each batch.
        n_cols: images per grid row.
        size_px: ``(width, height)``; default 480 pixels wide, height from the grid's shape.
    """
    if not isinstance(images_per_epoch, Sequence) or len(images_per_epoch) == 0:
        raise ValueError(f"`images_per_epoch` must be a non-empty list of image batches. "
                         f"Received: {type(images_per_epoch).__name__}")
    batches = [as_images(_from_levels(b), f"images_per_epoch[{i}]") for i, b in enumerate(images_per_epoch)]
    if any(b.shape != batches[0].shape for b in batches):
        raise ValueError(f"`images_per_epoch` must hold batches of one shape. Received shapes {sorted({b.shape for b in batches})}")
    epochs = check_epochs("epochs", epochs, len(batches))
    n_cols = check_int("n_cols", n_cols, 1)
    n, h, w = batches[0].shape[:3]
    n_cols = min(int(n_cols), n)
    n_rows = -(-n // n_cols)
    if size_px is None:
        size_px = (480, int(round(480 * (n_rows * h) / (n_cols * w) / 0.9)))
    width, height = check_size_px("size_px", size_px)
    fig, canvas = _new_canvas((width, height), dpi)
    ax = fig.add_axes((0.0, 0.0, 1.0, 0.9))
    caption = fig.text(0.5, 0.95, "", ha="center", va="center", fontsize=12)
    out = []
    for batch, epoch in zip(batches, epochs):
        padded = np.zeros((n_rows * n_cols, *batch.shape[1:]), dtype=batch.dtype)
        padded[:n] = batch
        ax.clear()
        ax.axis("off")
        ax.imshow(tile_images(padded, n_rows, n_cols, gutter=GUTTER_PX, fill=GUTTER_GREY), cmap="binary", vmin=0, vmax=1,
                  interpolation="nearest")
        caption.set_text(f"epoch {epoch}")
        out.append(_to_rgb(canvas))
    return out


# -- GIF --

def write_gif(path: str | Path, frames: Sequence[np.ndarray], duration_ms: float | Sequence[float] = 200,
              loop: int = 0) -> Path:
    """Write uint8 RGB ``frames`` as an animated GIF with imageio, atomically; return the path.

    The GIF is encoded in memory, then written to a hidden temporary file in the same folder and
    moved into place (:func:`~vae_helpers.core.files.write_bytes_atomic`), so an interrupted run
    leaves the old file (or none), never a partial one.

    Args:
        path: destination, ending in ``.gif``; missing folders are created.
        frames: arrays ``(H, W, 3)`` of dtype uint8, all the same size.
        duration_ms: display time of each frame in milliseconds (one number, or one per frame).
            GIF stores hundredths of a second, so use multiples of 10.
        loop: how many times the GIF loops; 0 loops forever.
    """
    import imageio.v3 as iio

    path = Path(path)
    if path.suffix.lower() != ".gif":
        raise ValueError(f"`path` must end in .gif. Received: path={str(path)!r}")
    frames = check_frames("frames", frames)
    durations = check_durations_ms("duration_ms", duration_ms, len(frames))
    loop = check_int("loop", loop, 0)
    with iio.imopen("<bytes>", "w", extension=".gif", plugin="pillow") as gif:
        try:
            data = gif.write(np.stack(frames), duration=durations if len(frames) > 1 else durations[0],  # one frame: a number
                             loop=loop)  # encoded in memory
        except BaseException:
            gif.images_to_write.clear()  # so that closing does not encode again ("Exception ignored in ...")
            raise
    return write_bytes_atomic(path, data, arg="path")
