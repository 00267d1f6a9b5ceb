"""Which setting of each objective disentangles the shapes best? Chosen on the validation grid.

Notebook 08 (section 5) compares four objectives, each at its own best setting, over five seeds. This
script trains every candidate of ``recipes.DISENTANGLING_CANDIDATES`` (β-VAE at three β, capacity
annealing at three C around the plain VAE's KL, β-TCVAE at two β) with the seeds given, and scores each
model on the *validation* grid, ``shapes.make_shapes(between=True)``: factor values halfway between the
training grid's, so no image is one the model saw or one the notebook scores. For each objective the
candidate with the highest median MIG (Chen et al.'s estimator) over the seeds is chosen; the recipe
records it as ``recipes.DISENTANGLING_CHOSEN``. The blob baseline on the same images says how much of
the shapes a reconstruction carries beyond where they are and how many pixels they cover.

    python benchmarks/disentangling_recipes.py                   # full settings, seeds 0 and 1
    python benchmarks/disentangling_recipes.py --seeds 0 1 2     # more seeds
    python benchmarks/disentangling_recipes.py --smoke           # seconds; used by the tests
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from vae_helpers.applications.recipes import DISENTANGLING_CANDIDATES, disentangling_config
from vae_helpers.core.settings import get_settings
from vae_helpers.data import shapes
from vae_helpers.measures import baselines, disentanglement
from vae_helpers.notebook import format_table
from vae_helpers.training.trainer import train_vae


def setting_name(options: dict) -> str:
    """``beta=4``, ``C=6, gamma=100``: a candidate as the table shows it."""
    if options.get("objective") == "capacity":
        return f"C={options['capacity_nats']:g}, gamma={options['beta']:g}"
    return f"beta={options['beta']:g}"


def blob_groups(grid: shapes.ShapesDataset) -> np.ndarray:
    """What the blob baseline knows of each grid image: its position (pos_x, pos_y) and its pixel area."""
    return np.c_[grid.factors[:, 3:], grid.images.sum(axis=(1, 2, 3)).round()]


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="smoke settings (a subset of the grid, two epochs)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="training seeds (default: 0 1)")
    parser.add_argument("--objectives", nargs="+", default=list(DISENTANGLING_CANDIDATES), choices=list(DISENTANGLING_CANDIDATES),
                        help="objectives to sweep (default: all)")
    args = parser.parse_args(argv)
    candidates_of = {name: DISENTANGLING_CANDIDATES[name] for name in args.objectives}
    settings = get_settings("smoke" if args.smoke else "full")
    validation = shapes.make_shapes(between=True)
    n_scored = 256 if args.smoke else 2000
    rows, medians = [], {}
    for objective, candidates in candidates_of.items():
        for options in candidates:
            migs = []
            for seed in args.seeds:
                start = time.perf_counter()
                run = train_vae(disentangling_config(settings, seed, **options), verbose=0)
                seconds = time.perf_counter() - start
                s = disentanglement.score_model(run.vae, validation.images, validation.factors, n_scored)
                migs.append(s["mig"])
                rows.append([objective, setting_name(options), seed, s["mig"], s["binned"], *s["gaps"], s["kl"].sum(),
                             s["recon"], seconds])
                print(f"{objective}, {setting_name(options)}, seed {seed}: MIG {s['mig']:.3f} "
                      f"({'loaded' if run.from_cache else 'trained'} in {seconds:.0f} s)", flush=True)
            medians[objective, setting_name(options)] = float(np.median(migs))
    blob = baselines.group_mean_nll(validation.images, blob_groups(validation)).mean()
    text = (f"Shapes VAEs on the validation grid ({len(validation.images):,} images, MIG on {n_scored:,}), "
            f"seeds {', '.join(map(str, args.seeds))}\n\n"
            + format_table(rows, ["objective", "setting", "seed", "MIG", "binned", *validation.factor_names, "KL",
                                  "recon", "train s"], digits=3)
            + f"\n\nblob baseline (a decoder told only the position and the pixel area): {blob:.2f} nats per image\n\nchosen "
              "(highest median MIG over the seeds):\n")
    for objective, candidates in candidates_of.items():
        best = max((setting_name(o) for o in candidates), key=lambda name: medians[objective, name])
        text += f"  {objective}: {best} (median MIG {medians[objective, best]:.3f})\n"
    print(text, flush=True)
    return text


if __name__ == "__main__":
    main()
