"""Regenerate the README figures from one training run (``vae-course plots``).

- ``VAE_Loss.png``: training and validation loss, reconstruction loss and KL per epoch;
- ``VAE.png``: a grid of images sampled from the prior after training;
- ``tsne_animation-3.gif``: the encoder means of fixed test images over the epochs (t-SNE for
  latents of more than two dimensions, the latent itself for two);
- ``animation-3.gif``: the same prior samples decoded after every epoch.

Training goes through :func:`vae_helpers.training.trainer.train_vae`, so a cached run is reused.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

from .animation import latent_frames, render_image_frames, render_scatter_frames, write_gif
from ..core.checks import check_writable_folder
from .plotting import PLOTS_DIR, output_dir, plot_history, plot_images, save_fig
from ..core.files import write_bytes_atomic
from ..core.settings import PLOTS_EPOCHS, RunSettings
from ..training.trainer import TrainConfig, TrainResult, train_vae

__all__ = ["FIGURES", "FRAME_MS", "GIF_SAMPLES", "LAST_FRAME_MS", "PlotsReport", "TSNE_POINTS", "draw_plots", "gif_durations", "install_all",
           "latent_gif_frames", "output_dir", "plots_config", "regenerate_plots"]

FIGURES = {"tsne": "tsne_animation-3.gif", "samples": "animation-3.gif", "loss": "VAE_Loss.png", "final": "VAE.png"}
TSNE_POINTS = 2000      # test images followed through training in the latent GIF
GIF_SAMPLES = 64        # prior samples decoded every epoch in the samples GIF
FRAME_MS, LAST_FRAME_MS = 250, 2000
DIGITS_TRAIN = 1437     # training images of scikit-learn's digits, fewer than a smoke run's n_train


def plots_config(settings: RunSettings, dataset: str = "fashion_mnist", latent_dim: int = 16, epochs: int = PLOTS_EPOCHS,
                 beta: float = 1.0, seed: int = 42) -> TrainConfig:
    """The training configuration behind the README figures, shrunk by ``settings`` in smoke runs."""
    n_train, n_test = settings.n_train, settings.n_test
    if n_train is not None and dataset == "digits":
        n_train = min(n_train, DIGITS_TRAIN)
    return TrainConfig(dataset=dataset, latent_dim=latent_dim, beta=beta, epochs=settings.epochs(epochs), seed=seed,
                       n_train=n_train, n_test=n_test,
                       snapshot_images=TSNE_POINTS if n_test is None else min(TSNE_POINTS, n_test),
                       snapshot_samples=GIF_SAMPLES)


@dataclass
class PlotsReport:
    """What :func:`regenerate_plots` wrote and where its time went (seconds)."""

    paths: list[Path]
    seconds: dict[str, float] = field(default_factory=dict)
    result: TrainResult | None = None


def gif_durations(n_frames: int) -> list[int]:
    """Every frame ``FRAME_MS`` except the last, which pauses ``LAST_FRAME_MS``."""
    return [FRAME_MS] * (n_frames - 1) + [LAST_FRAME_MS]


def latent_gif_frames(result: TrainResult, seed: int = 0, progress=True):
    """The (unrendered) 2-D layouts of the latent GIF and the axis labels that fit them."""
    snaps = result.snapshots
    layouts = latent_frames(list(snaps["z"]), seed=seed, progress=progress)
    two_d = result.config.latent_dim == 2
    return layouts, (("$z_1$", "$z_2$") if two_d else ("t-SNE 1", "t-SNE 2"))


def _check_records_snapshots(config: TrainConfig) -> None:
    if not isinstance(config, TrainConfig):
        raise TypeError(f"`config` must be a TrainConfig (see plots_config()). Received: config={config!r}")
    if config.latent_dim < 2:
        raise ValueError("`config.latent_dim` must be at least 2: the latent GIF draws two coordinates. "
                         f"Received: latent_dim={config.latent_dim}")
    if config.snapshot_images < 2 or config.snapshot_samples < 1:
        raise ValueError("`config` must record snapshots (snapshot_images >= 2, snapshot_samples >= 1); "
                         f"use plots_config(). Received: snapshot_images={config.snapshot_images}, "
                         f"snapshot_samples={config.snapshot_samples}")


def regenerate_plots(config: TrainConfig, out_dir: str | Path = PLOTS_DIR, retrain: bool = False,
                     verbose: int = 1, progress: bool = True, cache_dir: str | Path | None = None,
                     tensorboard_dir: str | Path | None = None, strategy=None) -> PlotsReport:
    """Train (or load) the VAE for ``config`` and write the four README figures into ``out_dir``.

    ``tensorboard_dir`` and ``strategy`` go to :func:`~vae_helpers.training.trainer.train_vae`.

    Everything is checked before training (``out_dir`` writable, a latent of at least two
    dimensions); the figures are drawn into a temporary folder and moved into ``out_dir`` only
    when all four exist, so a failure never leaves a half-updated ``out_dir``.
    """
    _check_records_snapshots(config)
    out_dir = check_writable_folder("out_dir", out_dir)
    with tempfile.TemporaryDirectory(prefix="vae-course-plots-") as staging:
        report = draw_plots(config, Path(staging), retrain, verbose, progress, cache_dir, tensorboard_dir, strategy)
        report.paths = install_all(out_dir, report.paths)
    return report


def install_all(out_dir: Path, files: list[Path]) -> list[Path]:
    """Copy ``files`` into ``out_dir`` all or nothing: every copy is written first, then each is renamed into place.

    A full disk fails while the copies are written, before any figure is replaced; the renames need no space.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    staged: list[tuple[Path, Path]] = []
    try:
        for path in files:
            staged.append((write_bytes_atomic(out_dir / f".new-{path.name}", path.read_bytes(), arg="out_dir"),
                           out_dir / path.name))
    except BaseException:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise
    for tmp, target in staged:
        os.replace(tmp, target)
    return [target for _, target in staged]


def draw_plots(config: TrainConfig, out_dir: Path, retrain: bool = False, verbose: int = 1, progress: bool = True,
               cache_dir: str | Path | None = None, tensorboard_dir: str | Path | None = None,
               strategy=None) -> PlotsReport:
    """The steps themselves: train (or load) the model, then draw the loss curves, the samples and the two GIFs."""
    seconds: dict[str, float] = {}
    start = time.perf_counter()
    result = train_vae(config, cache_dir=cache_dir, retrain=retrain, verbose=verbose,
                       tensorboard_dir=tensorboard_dir, strategy=strategy)
    snaps = result.snapshots
    train_total = time.perf_counter() - start
    seconds["snapshots"] = float(snaps["seconds"]) if not result.from_cache else 0.0
    seconds["training"] = train_total - seconds["snapshots"]
    class_names = result.class_names
    paths = []
    with matplotlib.rc_context({"figure.max_open_warning": 0}):
        start = time.perf_counter()
        fig = plot_history(result.history, metrics=("loss", "reconstruction_loss", "kl_loss"),
                           title=f"VAE on {config.dataset}, latent dim {config.latent_dim}, beta {config.beta:g} (nats per image)")
        paths.append(save_fig(fig, FIGURES["loss"], out_dir))
        fig = plot_images(result.model.sample(GIF_SAMPLES, seed=config.seed), n_cols=8, scale=1.0)
        paths.append(save_fig(fig, FIGURES["final"], out_dir))
        matplotlib.pyplot.close("all")
        seconds["static figures"] = time.perf_counter() - start

    start = time.perf_counter()
    layouts, axis_labels = latent_gif_frames(result, seed=config.seed, progress=progress)
    seconds["t-SNE frames"] = time.perf_counter() - start

    start = time.perf_counter()
    epochs = list(snaps["epochs"])
    kind = "latent means" if config.latent_dim == 2 else f"t-SNE of the {config.latent_dim}-D encoder means"
    frames = render_scatter_frames(layouts, snaps["labels"], class_names, epochs,
                                   title=f"{kind}, {len(snaps['labels'])} test images", axis_labels=axis_labels)
    paths.append(write_gif(out_dir / FIGURES["tsne"], frames, gif_durations(len(frames))))
    frames = render_image_frames(list(snaps["images"]), epochs, n_cols=8)
    paths.append(write_gif(out_dir / FIGURES["samples"], frames, gif_durations(len(frames))))
    seconds["GIF rendering and encoding"] = time.perf_counter() - start
    return PlotsReport(paths, seconds, result)
