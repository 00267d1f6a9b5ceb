"""Throughput of the course VAE's training step under the obvious CPU levers.

Prints one row per setting: XLA (jit_compile) on/off, steps_per_execution, batch size.
Each row trains the same VAE (28x28x1, latent 2) for a warm-up epoch and a timed epoch on
the same images; only the timed epoch is reported. Speeds only: quality is judged in
vae_vs_keras_example.py.

With ``--readme-model ROUNDS`` it times the README figures' model instead (``figures.plots_config``,
built by the trainer) at a batch of 128 and of 64, the latter also with 32 steps per execution,
in ROUNDS rounds whose order rotates; per image, the wall-clock and the process's CPU time. This
machine's speed switches between two levels about 2x apart, so the CPU time is the steady measure.

    python benchmarks/cpu_levers.py [--n-images 12800] [--smoke]
    python benchmarks/cpu_levers.py --readme-model 4 [--n-images 7680] [--smoke]
"""

from __future__ import annotations

import argparse
import dataclasses
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


#: the README model's batch-size levers: name -> (batch_size, steps_per_execution)
README_LEVERS = {"batch 128": (128, 1), "batch 64": (64, 1), "batch 64, 32 steps per execution": (64, 32)}


def readme_model_rounds(n_images: int, rounds: int, smoke: bool) -> dict[str, list[tuple[float, float]]]:
    """(wall, CPU) microseconds per image of each README_LEVERS setting, one epoch of ``n_images`` per round."""
    from vae_helpers.core.settings import get_settings
    from vae_helpers.training.trainer import build_for, training_data
    from vae_helpers.viz.figures import plots_config

    base = dataclasses.replace(plots_config(get_settings("smoke" if smoke else "full")), snapshot_images=0,
                               snapshot_samples=0)
    data, _ = training_data(base)
    x = data.x_train[:n_images]
    models = {}
    for name, (batch, spe) in README_LEVERS.items():
        models[name] = build_for(dataclasses.replace(base, batch_size=batch, steps_per_execution=spe), data)
        models[name].fit(x[:batch * 8], epochs=1, batch_size=batch, verbose=0)   # warm-up: tracing excluded
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in models}
    names = list(models)
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            wall, cpu = time.perf_counter(), time.process_time()
            models[name].fit(x, epochs=1, batch_size=README_LEVERS[name][0], verbose=0)
            times[name].append(((time.perf_counter() - wall) / len(x) * 1e6, (time.process_time() - cpu) / len(x) * 1e6))
            print(f"round {r + 1}: {name}: {times[name][-1][0]:.0f} us/image wall, {times[name][-1][1]:.0f} CPU", flush=True)
    return times


def readme_model_table(times: dict[str, list[tuple[float, float]]]) -> str:
    """Median wall and CPU microseconds per image, and each CPU median's ratio to the first setting's."""
    first = float(np.median([c for _, c in next(iter(times.values()))]))
    lines = ["| setting | rounds | wall us/image (median) | wall (fastest) | CPU us/image (median) | CPU ratio |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for name, pairs in times.items():
        wall, cpu = np.array(pairs).T
        lines.append(f"| {name} | {len(pairs)} | {np.median(wall):.0f} | {wall.min():.0f} | {np.median(cpu):.0f} | "
                     f"{np.median(cpu) / first:.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-images", type=int, default=None, help="images per timed epoch (default 12,800; 7,680 "
                        "with --readme-model)")
    parser.add_argument("--smoke", action="store_true", help="tiny run (256 digits images, two settings)")
    parser.add_argument("--readme-model", type=int, default=0, metavar="ROUNDS",
                        help="time the README figures' model at batch 128 and 64 instead, in this many rounds")
    args = parser.parse_args(argv)
    if args.readme_model:
        n_images = 512 if args.smoke else (args.n_images or 7680)
        times = readme_model_rounds(n_images, args.readme_model, args.smoke)
        print(f"\nthe README figures' model, {n_images:,} Fashion-MNIST images per round\n\n" + readme_model_table(times),
              flush=True)
        return [dict(setting=name, wall_cpu_us=pairs) for name, pairs in times.items()]
    if args.smoke:
        x = load_dataset("digits", n_train=256).x_train
        grid = [(False, 1, 128), (True, 8, 128)]
    else:
        x = load_dataset("mnist", n_train=args.n_images or 12800).x_train
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
