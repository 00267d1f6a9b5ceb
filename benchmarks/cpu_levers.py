"""Throughput of the course VAE's training step under the obvious CPU levers.

Prints one row per setting: XLA (jit_compile) on/off, steps_per_execution, batch size.
Each row trains the same VAE (28x28x1, latent 2) for a warm-up epoch and a timed epoch on
the same images; only the timed epoch is reported. Speeds only: quality is judged in
vae_vs_keras_example.py.

    python benchmarks/cpu_levers.py [--n-images 12800] [--smoke]
"""

from __future__ import annotations

import argparse
import itertools
import time

import keras
import numpy as np

from vae_helpers.data.datasets import load_dataset
from vae_helpers.models.vae import build_vae


def time_epoch(x: np.ndarray, jit: bool, spe: int, batch_size: int) -> float:
    """Seconds for one epoch after a warm-up epoch (tracing and compilation excluded)."""
    keras.utils.set_random_seed(0)
    vae = build_vae(x.shape[1:], latent_dim=2, seed=0)
    vae.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=jit, steps_per_execution=spe)
    vae.fit(x, epochs=1, batch_size=batch_size, verbose=0)
    start = time.perf_counter()
    vae.fit(x, epochs=1, batch_size=batch_size, verbose=0)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-images", type=int, default=12800)
    parser.add_argument("--smoke", action="store_true", help="tiny run (256 digits images, two settings)")
    args = parser.parse_args(argv)
    if args.smoke:
        x = load_dataset("digits", n_train=256).x_train
        grid = [(False, 1, 128), (True, 8, 128)]
    else:
        x = load_dataset("mnist", n_train=args.n_images).x_train
        grid = list(itertools.product([False, True], [1, 8], [128, 256, 512]))
    rows = []
    print(f"{'jit_compile':>11} {'steps/exec':>10} {'batch':>6} {'s/epoch':>8} {'images/s':>9}")
    for jit, spe, batch in grid:
        seconds = time_epoch(x, jit, spe, batch)
        rows.append(dict(jit_compile=jit, steps_per_execution=spe, batch_size=batch,
                         seconds=seconds, images_per_second=len(x) / seconds))
        print(f"{str(jit):>11} {spe:>10} {batch:>6} {seconds:>8.2f} {len(x) / seconds:>9.0f}", flush=True)
    return rows


if __name__ == "__main__":
    main()
