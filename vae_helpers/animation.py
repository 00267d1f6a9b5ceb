"""Training animations: callbacks that take one snapshot per epoch, frame renderers, and a GIF writer.

The callbacks make one batched model call per epoch and keep only what the frames need
(decoded samples as uint8, latent means as float32). The renderers draw every frame at the same
pixel size with fixed axes and colours, so a GIF shows the model changing, not the plot.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import keras
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .checks import check_int
from .latent import _as_codes, procrustes_align, tsne_2d
from .models import predict_images, run_batched
from .plotting import GUTTER_GREY, GUTTER_PX, _as_images, _tile, plot_latent_scatter, write_bytes_atomic


# -- callbacks --

class SampleSnapshots(keras.callbacks.Callback):
    """Decode the same latent points ``z_fixed`` after every epoch and keep the images as uint8.

    With ``include_initial`` (the default) the untrained decoder's images are recorded too, as
    epoch 0, when the first ``fit`` begins; snapshots after epoch ``k`` (1-based) have ``epochs[i] == k``.
    Memory: ``n * h * w * c`` bytes per snapshot.

    Args:
        z_fixed: latent codes, shape ``(n, latent_dim)``; copied, so later changes do not leak in.
        include_initial: also record the model before training (epoch 0).
        batch_size: chunk size of the one batched decoder call.
    """

    def __init__(self, z_fixed, include_initial: bool = True, batch_size: int = 512):
        super().__init__()
        self.z_fixed = np.array(_as_codes("z_fixed", z_fixed), dtype="float32")
        self.include_initial = bool(include_initial)
        self.batch_size = check_int("batch_size", batch_size, 1)
        self.images: list[np.ndarray] = []
        self.epochs: list[int] = []
        self.seconds = 0.0  # time spent taking snapshots

    def _record(self, epoch: int) -> None:
        start = time.perf_counter()
        pixels = predict_images(self.model.decoder, self.z_fixed, self.batch_size)
        self.images.append(np.round(pixels * 255).astype("uint8"))
        self.epochs.append(epoch)
        self.seconds += time.perf_counter() - start

    def on_train_begin(self, logs=None):
        latent_dim = self.model.decoder.input_shape[-1]
        if self.z_fixed.shape[1] != latent_dim:
            raise ValueError(f"`z_fixed` must have shape (n, {latent_dim}) to match the decoder. "
                             f"Received: z_fixed.shape={self.z_fixed.shape}")
        if self.include_initial and not self.epochs:
            self._record(0)

    def on_epoch_end(self, epoch, logs=None):
        self._record(epoch + 1)


class LatentSnapshots(keras.callbacks.Callback):
    """Record the encoder means of the same images ``x_fixed`` after every epoch (float32).

    Epoch numbering and ``include_initial`` work as in :class:`SampleSnapshots`.
    Memory: ``4 * n * latent_dim`` bytes per snapshot.

    Args:
        x_fixed: images, shape ``(n, h, w, c)``, e.g. a fixed subset of the test set.
        labels: optional class of each image, shape ``(n,)``; kept as ``.labels`` for colouring.
        include_initial: also record the model before training (epoch 0).
        batch_size: chunk size of the one batched encoder call.
    """

    def __init__(self, x_fixed, labels=None, include_initial: bool = True, batch_size: int = 512):
        super().__init__()
        x_fixed = np.asarray(x_fixed, dtype="float32")
        if x_fixed.ndim != 4 or len(x_fixed) == 0:
            raise ValueError(f"`x_fixed` must be a non-empty batch of images (n, h, w, c). Received: x_fixed.shape={x_fixed.shape}")
        if labels is not None:
            labels = np.asarray(labels)
            if labels.shape != (len(x_fixed),) or not np.issubdtype(labels.dtype, np.integer):
                raise ValueError(f"`labels` must be integers of shape ({len(x_fixed)},), one per image. "
                                 f"Received: labels.shape={labels.shape}, labels.dtype={labels.dtype}")
        self.x_fixed, self.labels = x_fixed, labels
        self.include_initial = bool(include_initial)
        self.batch_size = check_int("batch_size", batch_size, 1)
        self.z: list[np.ndarray] = []
        self.epochs: list[int] = []
        self.seconds = 0.0  # time spent taking snapshots

    def _record(self, epoch: int) -> None:
        start = time.perf_counter()
        z_mean = run_batched(self.model.encoder, self.x_fixed, self.batch_size)[0]
        self.z.append(z_mean.astype("float32"))
        self.epochs.append(epoch)
        self.seconds += time.perf_counter() - start

    def on_train_begin(self, logs=None):
        image_shape = tuple(self.model.encoder.input_shape[1:])
        if self.x_fixed.shape[1:] != image_shape:
            raise ValueError(f"`x_fixed` must hold images of shape {image_shape} to match the encoder. "
                             f"Received: x_fixed.shape={self.x_fixed.shape}")
        if self.include_initial and not self.epochs:
            self._record(0)

    def on_epoch_end(self, epoch, logs=None):
        self._record(epoch + 1)


# -- 2-D layouts per epoch --

def _print_progress(done: int, total: int) -> None:
    print(f"\rt-SNE frames: {done}/{total}", end="\n" if done == total else "", flush=True)


def latent_frames(z_per_epoch: Sequence[np.ndarray], seed: int = 0,
                  progress: bool | Callable[[int, int], None] = True, align: bool = True,
                  perplexity: float = 30.0, n_iter: int | None = None, n_jobs: int = -1) -> list[np.ndarray]:
    """One 2-D layout ``(n, 2)`` per epoch: the codes themselves if 2-D, else warm-started t-SNE.

    For codes of more than 2 dimensions, the first epoch gets a full t-SNE run; every later one
    starts from the previous layout (no early exaggeration) and is then rotated onto it with
    :func:`~vae_helpers.latent.procrustes_align`, so points move smoothly from frame to frame.

    Args:
        z_per_epoch: codes of the same ``n`` examples at each epoch, each ``(n, latent_dim)``.
        seed: t-SNE seed; the same seed gives the same frames.
        progress: print ``t-SNE frames: i/n`` on one line (True), nothing (False), or call
            ``progress(i, n)`` after each frame.
        align: rotate each t-SNE frame onto the previous one (False shows why this is needed).
        perplexity, n_iter, n_jobs: passed to :func:`~vae_helpers.latent.tsne_2d` (``n_iter`` for
            the warm-started frames).
    """
    if isinstance(z_per_epoch, np.ndarray) and z_per_epoch.ndim == 3:
        z_per_epoch = list(z_per_epoch)
    if not isinstance(z_per_epoch, Sequence) or len(z_per_epoch) == 0:
        raise ValueError(f"`z_per_epoch` must be a non-empty list of (n, latent_dim) arrays. Received: {type(z_per_epoch).__name__}")
    codes = [_as_codes(f"z_per_epoch[{i}]", z) for i, z in enumerate(z_per_epoch)]
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

def _check_size_px(size_px) -> tuple[int, int]:
    if (not isinstance(size_px, Sequence) or len(size_px) != 2
            or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 16 for s in size_px)):
        raise ValueError(f"`size_px` must be (width, height) in pixels, each an integer >= 16. Received: size_px={size_px!r}")
    return int(size_px[0]), int(size_px[1])


def _check_epochs(epochs, n_frames: int) -> list[int]:
    values = np.asarray(epochs) if not isinstance(epochs, (str, bytes)) else np.asarray([])
    if values.ndim != 1 or len(values) != n_frames or not np.issubdtype(values.dtype, np.integer):
        raise ValueError(f"`epochs` must hold one integer epoch number per frame ({n_frames}). Received: epochs={epochs!r}")
    return [int(e) for e in values]


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
    layouts = [_as_codes(f"frames[{i}]", f, dim=2) for i, f in enumerate(frames)]
    if any(f.shape != layouts[0].shape for f in layouts):
        raise ValueError(f"`frames` must all have the same shape. Received shapes {sorted({f.shape for f in layouts})}")
    epochs = _check_epochs(epochs, len(layouts))
    width, height = _check_size_px(size_px)
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


def render_image_frames(images_per_epoch: Sequence[np.ndarray], epochs: Sequence[int], n_cols: int = 8,
                        size_px: tuple[int, int] | None = None, dpi: int = 100) -> list[np.ndarray]:
    """Tile each epoch's decoded samples into a grid captioned ``epoch N``: uint8 RGB ``(H, W, 3)``.

    Args:
        images_per_epoch: one batch ``(n, h, w[, c])`` per epoch, uint8 in 0..255 (as
            :class:`SampleSnapshots` stores them) or floats in [0, 1].
        epochs: epoch number of each batch.
        n_cols: images per grid row.
        size_px: ``(width, height)``; default 480 pixels wide, height from the grid's shape.
    """
    if not isinstance(images_per_epoch, Sequence) or len(images_per_epoch) == 0:
        raise ValueError(f"`images_per_epoch` must be a non-empty list of image batches. "
                         f"Received: {type(images_per_epoch).__name__}")
    batches = [_as_images(b, f"images_per_epoch[{i}]") for i, b in enumerate(images_per_epoch)]
    if any(b.shape != batches[0].shape for b in batches):
        raise ValueError(f"`images_per_epoch` must hold batches of one shape. Received shapes {sorted({b.shape for b in batches})}")
    epochs = _check_epochs(epochs, len(batches))
    if isinstance(n_cols, bool) or not isinstance(n_cols, (int, np.integer)) or n_cols < 1:
        raise ValueError(f"`n_cols` must be a positive integer. Received: n_cols={n_cols!r}")
    n, h, w = batches[0].shape[:3]
    n_cols = min(int(n_cols), n)
    n_rows = -(-n // n_cols)
    if size_px is None:
        size_px = (480, int(round(480 * (n_rows * h) / (n_cols * w) / 0.9)))
    width, height = _check_size_px(size_px)
    vmax = 255 if batches[0].dtype == np.uint8 else 1.0
    fig, canvas = _new_canvas((width, height), dpi)
    ax = fig.add_axes((0.0, 0.0, 1.0, 0.9))
    caption = fig.text(0.5, 0.95, "", ha="center", va="center", fontsize=12)
    out = []
    for batch, epoch in zip(batches, epochs):
        padded = np.zeros((n_rows * n_cols, *batch.shape[1:]), dtype=batch.dtype)
        padded[:n] = batch
        ax.clear()
        ax.axis("off")
        ax.imshow(_tile(padded, n_rows, n_cols, gutter=GUTTER_PX, fill=GUTTER_GREY * vmax), cmap="binary", vmin=0, vmax=vmax,
                  interpolation="nearest")
        caption.set_text(f"epoch {epoch}")
        out.append(_to_rgb(canvas))
    return out


# -- GIF --

def write_gif(path: str | Path, frames: Sequence[np.ndarray], duration_ms: float | Sequence[float] = 200,
              loop: int = 0) -> Path:
    """Write uint8 RGB ``frames`` as an animated GIF, atomically; return the path.

    The GIF is encoded in memory, written to a hidden temporary file in the same folder and moved
    into place with ``os.replace``, so an interrupted run leaves the old file (or none), never a
    partial one; a temporary file orphaned by a killed process is removed by the next write.

    Args:
        path: destination, ending in ``.gif``; missing folders are created.
        frames: arrays ``(H, W, 3)`` of dtype uint8, all the same size.
        duration_ms: display time of each frame in milliseconds (one number, or one per frame).
            GIF stores hundredths of a second, so use multiples of 10.
        loop: how many times the GIF loops (Pillow's ``loop``); 0 loops forever.

    Pillow merges consecutive identical frames into one longer frame.
    """
    from PIL import Image

    path = Path(path)
    if path.suffix.lower() != ".gif":
        raise ValueError(f"`path` must end in .gif. Received: path={str(path)!r}")
    if isinstance(frames, np.ndarray) and frames.ndim == 4:
        frames = list(frames)
    if not isinstance(frames, Sequence) or len(frames) == 0:
        raise ValueError(f"`frames` must be a non-empty list of (H, W, 3) uint8 arrays. Received: {type(frames).__name__} of length "
                         f"{len(frames) if hasattr(frames, '__len__') else '?'}")
    first = np.asarray(frames[0])
    for i, frame in enumerate(frames):
        frame = np.asarray(frame)
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[-1] != 3 or frame.shape != first.shape:
            raise ValueError(f"`frames` must all be uint8 RGB arrays of one shape (H, W, 3), like frames[0] "
                             f"{first.shape} {first.dtype}. Received: frames[{i}].shape={frame.shape}, "
                             f"frames[{i}].dtype={frame.dtype}")
    try:
        durations = np.atleast_1d(np.asarray(duration_ms, dtype="float64")) if np.ndim(duration_ms) <= 1 else None
    except (TypeError, ValueError):
        durations = None
    if durations is None or len(durations) not in (1, len(frames)) or not np.all(durations >= 10):
        raise ValueError(f"`duration_ms` must be a number >= 10 (GIF counts hundredths of a second), or one per frame ({len(frames)}). "
                         f"Received: duration_ms={duration_ms!r}")
    if isinstance(loop, bool) or not isinstance(loop, (int, np.integer)) or loop < 0:
        raise ValueError(f"`loop` must be an integer >= 0 (0 loops forever). Received: loop={loop!r}")
    duration = int(round(durations[0])) if len(durations) == 1 else [int(round(d)) for d in durations]

    images = [Image.fromarray(np.asarray(frame)) for frame in frames]
    buffer = io.BytesIO()  # encoded in memory first: no file is open while Pillow works
    images[0].save(buffer, format="GIF", save_all=len(images) > 1, append_images=images[1:],
                   duration=duration, loop=int(loop))
    return write_bytes_atomic(path, buffer.getvalue(), arg="path")

