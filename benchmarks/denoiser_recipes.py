"""Which width of notebook 07's denoising autoencoder? Chosen on held-out training images, never on the test split.

Notebook 07 (section 1) trains a denoising autoencoder with a 14 x 14 spatial code: ``width`` filters
per convolution and ``width`` code channels (``recipes.denoising_ae_config``). This script trains it
for each width with seed 0, on the Fashion-MNIST training images except the last 1,000, and scores
it on those 1,000 held-out images under each of the notebook's noises (one draw). It prints, per
width, the training time, the validation loss after each epoch (where it stops improving sets the
epochs) and the validation PSNR per noise, and picks the width with the best mean PSNR. With the
recipe's epochs, seed 0 of the chosen width is the notebook's first model (the cache serves both).

    python benchmarks/denoiser_recipes.py --epochs 5         # full settings, widths 16, 32, 64
    python benchmarks/denoiser_recipes.py --smoke            # seconds; used by the tests
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np

from vae_helpers.applications.recipes import DENOISING_NOISES as NOISES
from vae_helpers.applications.recipes import corrupt, denoising_ae_config, denoising_validation
from vae_helpers.core.settings import get_settings
from vae_helpers.measures import image_quality as iq
from vae_helpers.notebook import format_table
from vae_helpers.training.trainer import train_many, train_vae


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="smoke settings (tiny data, at most two epochs)")
    parser.add_argument("--widths", type=int, nargs="+", default=[16, 32, 64], help="widths to try (default: 16 32 64)")
    parser.add_argument("--epochs", type=int, default=4, help="epochs per model (default: the recipe's 4)")
    args = parser.parse_args(argv)
    settings = get_settings("smoke" if args.smoke else "full")
    configs = {width: denoising_ae_config(settings, 0, width, args.epochs) for width in args.widths}
    if args.smoke:   # the table's form, not its numbers: a quarter of the smoke training images
        configs = {width: dataclasses.replace(c, n_train=512) for width, c in configs.items()}
    train_many({f"width {width}": c for width, c in configs.items()})   # one line per model
    validation = denoising_validation(next(iter(configs.values())))
    noisy = {noise: corrupt(validation, noise, seed=0) for noise in NOISES}
    rows, mean_psnr = [], {}
    for width, config in configs.items():
        result = train_vae(config, verbose=0)   # from the cache, with its history
        scores = [iq.psnr(validation, result.model.reconstruct(noisy[noise])).mean() for noise in NOISES]
        mean_psnr[width] = float(np.mean(scores))
        rows.append([width, f"{sum(result.history['epoch_seconds']):.0f}",
                     ", ".join(f"{v:.1f}" for v in result.history["val_loss"]), *scores, mean_psnr[width]])
    best = max(mean_psnr, key=mean_psnr.get)
    text = (f"Denoising AE, seed 0, validation PSNR (dB) on {len(validation)} held-out Fashion-MNIST training images, "
            "one noise draw\n\n"
            + format_table(rows, ["width", "training s", "validation loss per epoch", *NOISES, "mean"], digits=2)
            + f"\n\nchosen: width {best} (best mean validation PSNR)")
    print(text, flush=True)
    return text


if __name__ == "__main__":
    main()
