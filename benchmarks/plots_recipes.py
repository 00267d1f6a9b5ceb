"""Can the README figures' model train in less time at the same quality? Recipes compared on held-out training images.

``vae-course plots`` (``make``) trains the 16-D Fashion-MNIST VAE of ``figures.plots_config``: batch
128, Adam at a peak of 3e-3 with a cosine decay, 12 epochs. This script trains that recipe and
cheaper ones (fewer epochs; a batch of 256 with the learning rate scaled by sqrt(2); a batch of 64, whose
twice as many updates per epoch may need fewer epochs) with the same
seed on the Fashion-MNIST training images except the last 10,000, and scores each on those 10,000
held-out images: the -ELBO in nats (one sample of z, seed 0) and the active dimensions. No test
image is used. The rule, fixed before any run: among the recipes whose validation -ELBO is within
``--tolerance`` nats of the 12-epoch recipe's (default 0.1) and which keep at least as many active
dimensions, the one with the fewest epochs, then the least measured training time (this machine's
speed varies, so the epochs, which do not, come first).

    python benchmarks/plots_recipes.py                 # full settings (about an hour here when nothing is cached)
    python benchmarks/plots_recipes.py --smoke         # seconds; used by the tests
    python benchmarks/plots_recipes.py --only "8 epochs, batch 64"   # that recipe and the one in use
"""

from __future__ import annotations

import argparse
import dataclasses
import math

import numpy as np

from vae_helpers.core.settings import get_settings
from vae_helpers.measures import diagnostics, evaluation
from vae_helpers.notebook import format_table
from vae_helpers.training.trainer import train_vae, training_data
from vae_helpers.viz.figures import plots_config

VALIDATION_IMAGES = 10_000
#: name -> TrainConfig fields that differ from plots_config's; the first is the recipe in use.
CANDIDATES = {
    "12 epochs (in use)": {},
    "9 epochs": {"epochs": 9},
    "8 epochs": {"epochs": 8},
    "12 epochs, batch 256": {"batch_size": 256, "learning_rate": 3e-3 * math.sqrt(2)},
    "8 epochs, batch 256": {"epochs": 8, "batch_size": 256, "learning_rate": 3e-3 * math.sqrt(2)},
    "9 epochs, batch 64": {"epochs": 9, "batch_size": 64},
    "8 epochs, batch 64": {"epochs": 8, "batch_size": 64},
    "7 epochs, batch 64": {"epochs": 7, "batch_size": 64},
    "6 epochs, batch 64": {"epochs": 6, "batch_size": 64},
    "8 epochs, batch 64, lr / sqrt(2)": {"epochs": 8, "batch_size": 64, "learning_rate": 3e-3 / math.sqrt(2)},
}
IN_USE = next(iter(CANDIDATES))


def configs(smoke: bool, names: list[str] | None = None) -> dict:
    """The candidates as TrainConfigs: plots_config without snapshots, the last images of the training split held out.

    ``names``: only these candidates, after the recipe in use (which every table needs); ``None``: all of them.
    """
    settings = get_settings("smoke" if smoke else "full")
    base = dataclasses.replace(plots_config(settings), snapshot_images=0, snapshot_samples=0,
                               validation_images=512 if smoke else VALIDATION_IMAGES)
    unknown = sorted(set(names or ()) - set(CANDIDATES))
    if unknown:
        raise ValueError(f"`names` must be candidates of CANDIDATES ({', '.join(CANDIDATES)}). "
                         f"Received: {', '.join(unknown)}")
    chosen = CANDIDATES if names is None else [IN_USE] + [n for n in CANDIDATES if n in names and n != IN_USE]
    return {name: dataclasses.replace(base, **{k: (settings.epochs(v) if k == "epochs" else v)
                                               for k, v in CANDIDATES[name].items()})
            for name in chosen}


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="smoke settings (tiny data, at most two epochs)")
    parser.add_argument("--only", nargs="+", metavar="RECIPE", choices=list(CANDIDATES), default=None,
                        help="train and score only these recipes (quoted names), besides the one in use")
    parser.add_argument("--tolerance", type=float, default=0.1, help="nats of validation -ELBO a cheaper recipe may lose")
    args = parser.parse_args(argv)
    rows, scores = [], {}
    configs_by_name = configs(args.smoke, args.only)
    _, (x_val, _) = training_data(next(iter(configs_by_name.values())))   # the same held-out images for every recipe
    for name, config in configs_by_name.items():
        print(f"{name}: training or loading", flush=True)
        result = train_vae(config, verbose=1)
        neg_elbo = float(-evaluation.elbo_per_example(result.vae, x_val, seed=0).mean())
        active = diagnostics.latent_report(result.vae, x_val)["active"]
        seconds = float(sum(result.history["epoch_seconds"]))
        scores[name] = (neg_elbo, active, seconds)
        rows.append([name, config.epochs, config.batch_size, f"{config.learning_rate:.2g}", f"{seconds:.0f}",
                     f"{np.median(result.history['epoch_seconds']):.1f}", neg_elbo, f"{active}/{config.latent_dim}"])
    reference = scores[IN_USE]
    eligible = [n for n, (e, a, _) in scores.items() if e <= reference[0] + args.tolerance and a >= reference[1]]
    chosen = min(eligible, key=lambda n: (configs_by_name[n].epochs, scores[n][2]))
    text = (f"README model recipes, seed 42, scored on {len(x_val):,} held-out Fashion-MNIST training images "
            "(-ELBO in nats, one sample of z)\n\n"
            + format_table(rows, ["recipe", "epochs", "batch", "peak lr", "training s", "s/epoch", "validation -ELBO",
                                  "active dims"], digits=2)
            + f"\n\neligible (within {args.tolerance:g} nats of the recipe in use, as many active dimensions): "
            + ", ".join(eligible) + f"\nchosen: {chosen} (the fewest epochs among them, then the least training time)")
    print(text, flush=True)
    return text


if __name__ == "__main__":
    main()
