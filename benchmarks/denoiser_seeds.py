"""How much of notebook 07's denoising margin is the training seed? Its autoencoder, three seeds, against BM3D and co.

Notebook 07 (section 1) trains one denoising autoencoder (seed 0, a 14 x 14 x 64 code) and reports its
PSNR over three noise draws; its smallest margin over the best classical denoiser is at Gaussian noise
0.1. This script trains the same config with seeds 0, 1 and 2 (through the cache: seed 0 is the
notebook's model when both use the same cache), tunes the same classical denoisers on the same 200
tuning images, and prints, per noise, the PSNR of each seed (mean over the same three draws of 400
test images), the seeds' mean and standard deviation, the best classical method, and the margin of
each seed.

With ``--latent-dims`` and ``--test-from`` it repeats the comparison for other code widths on other
test images: how the notebook's 64 channels were chosen (test images 5,000 to 5,399, seeds 1 and 2).

    python benchmarks/denoiser_seeds.py            # full settings (about 13 min here when nothing is cached)
    python benchmarks/denoiser_seeds.py --latent-dims 16 32 64 --seeds 1 2 --test-from 5000
    python benchmarks/denoiser_seeds.py --smoke    # seconds; used by the tests
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np

from vae_helpers.applications.recipes import DENOISER_GRIDS as PARAMS
from vae_helpers.applications.recipes import DENOISING_NOISES as NOISES
from vae_helpers.applications.recipes import corrupt, denoising_ae_config
from vae_helpers.measures import image_quality as iq
from vae_helpers.data.datasets import load_dataset
from vae_helpers.core.settings import get_settings
from vae_helpers.training.trainer import TrainConfig, train_many

DRAWS = (1, 2, 3)


def config(smoke: bool, seed: int, latent_dim: int = 64) -> TrainConfig:
    """Notebook 07's denoising autoencoder (the shared recipe) with ``seed``: the cache serves both."""
    return denoising_ae_config(get_settings("smoke" if smoke else "full"), seed, latent_dim)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="smoke settings (tiny data, one epoch, few images)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds (default: 0 1 2)")
    parser.add_argument("--latent-dims", type=int, nargs="+", default=[64], help="channels of the 14 x 14 code (default: 64)")
    parser.add_argument("--test-from", type=int, default=0, help="index of the first test image scored (default: 0)")
    args = parser.parse_args(argv)
    if len(args.seeds) < 2:
        parser.error(f"--seeds needs at least two seeds for a spread. Received: {args.seeds}")
    n_test, n_validation = (16, 8) if args.smoke else (400, 200)
    configs = {f"{d} channels, seed {s}": config(args.smoke, s, d) for d in args.latent_dims for s in args.seeds}
    if args.smoke:   # the table's form, not its numbers: a quarter of the smoke training images
        configs = {name: dataclasses.replace(c, n_train=512) for name, c in configs.items()}
    models = train_many(configs)
    data = load_dataset("fashion_mnist", seed=0)
    clean, validation = data.x_test[args.test_from:args.test_from + n_test], data.x_train[-n_validation:]
    lines = [f"Denoising AE of notebook 07, training seeds {args.seeds}; PSNR (dB) on Fashion-MNIST test images "
             f"{args.test_from} to {args.test_from + len(clean) - 1}, mean over noise draws {DRAWS}; "
             f"classical methods tuned on {n_validation} training images", "",
             "| noise | channels | " + " | ".join(f"AE seed {s}" for s in args.seeds) + " | AE mean ± std | best classical | PSNR | "
             "margin per seed (dB) |", "| --- | ---: | " + "---: | " * len(args.seeds) + "---: | --- | ---: | --- |"]
    for noise in NOISES:
        noisy_val = corrupt(validation, noise, seed=0)
        tuned = {kind: iq.best_filter(noisy_val, validation, kind, params)[0] for kind, params in PARAMS.items()}
        noisy = [corrupt(clean, noise, seed=d) for d in DRAWS]
        classical = {"identity": np.mean([iq.psnr(clean, x).mean() for x in noisy]),
                     **{kind: np.mean([iq.psnr(clean, iq.denoise(x, kind, p)).mean() for x in noisy]) for kind, p in tuned.items()}}
        best = max(classical, key=classical.get)
        for d in args.latent_dims:
            learned = np.array([np.mean([iq.psnr(clean, models[f"{d} channels, seed {s}"].reconstruct(x)).mean() for x in noisy])
                                for s in args.seeds])
            lines.append(f"| {noise} | {d} | " + " | ".join(f"{v:.2f}" for v in learned)
                         + f" | {learned.mean():.2f} ± {learned.std(ddof=1):.2f} | {best} ({tuned.get(best, '-')}) | "
                         f"{classical[best]:.2f} | " + ", ".join(f"{v - classical[best]:+.2f}" for v in learned) + " |")
        print(f"{noise}: done", flush=True)
    text = "\n".join(lines)
    print(text)
    return text


if __name__ == "__main__":
    main()
