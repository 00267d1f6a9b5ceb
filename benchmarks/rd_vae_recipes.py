"""How many latent channels for notebook 07's rate–distortion VAEs? Chosen on held-out training images.

Notebook 07 (section 2) trains one VAE with a 7 x 7 spatial code on the squared error at β = 1
(``recipes.rd_vae_base``), then one epoch more at each β (``recipes.rd_vae_config``). This script
trains the family for each number of channels with seed 0 (``--seed``)
and scores it on the 1,000 training images the recipe holds out: for each β, the KL rate, the size
of the real code (quantized mean codes in one ANS stream, ``latent_coding``) and the PSNR of what
the receiver decodes; then each family's curve read at matched rates. Among the families that reach
the codecs' rates (``--min-bits``, 1,000 bits per image: what the family is for), the channels with
the best mean PSNR over the rates that each of them reaches are chosen. With the recipe's epochs, the chosen
family is the notebook's (the cache serves both).

    python benchmarks/rd_vae_recipes.py                      # full settings, 4, 8 and 16 channels
    python benchmarks/rd_vae_recipes.py --channels 8 --seed 1   # another seed of the chosen family
    python benchmarks/rd_vae_recipes.py --smoke              # seconds; used by the tests
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np

from vae_helpers.applications import latent_coding
from vae_helpers.applications.recipes import RD_VAE_BETAS, held_out_images, rd_vae_config
from vae_helpers.core.settings import get_settings
from vae_helpers.measures import evaluation
from vae_helpers.measures import image_quality as iq
from vae_helpers.notebook import format_table
from vae_helpers.training.trainer import train_many

RATES = (128, 256, 512, 1024)   # bits per image at which the families are compared


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="smoke settings (tiny data, at most two epochs)")
    parser.add_argument("--channels", type=int, nargs="+", default=[4, 8, 16], help="latent channels to try (default: 4 8 16)")
    parser.add_argument("--epochs", type=int, default=5, help="epochs of each base model (default: the recipe's 5)")
    parser.add_argument("--seed", type=int, default=0, help="training seed (default: 0, the notebook's)")
    parser.add_argument("--min-bits", type=float, default=1000.0,
                        help="bits per image a family must reach to be chosen (default: 1000, the codecs' range)")
    args = parser.parse_args(argv)
    settings = get_settings("smoke" if args.smoke else "full")
    betas = RD_VAE_BETAS[::2 if args.smoke else 1]   # a smoke run: every other β, as notebook 07's
    configs = {(c, beta): rd_vae_config(settings, beta, c, args.epochs, args.seed) for c in args.channels for beta in betas}
    if args.smoke:   # the table's form, not its numbers: a quarter of the smoke training images
        configs = {key: dataclasses.replace(c, n_train=512, init_from=dataclasses.replace(c.init_from, n_train=512))
                   for key, c in configs.items()}
    train_many({f"{c} channels, base": configs[c, betas[0]].init_from for c in args.channels})   # one line per model
    models = train_many({f"{c} channels, beta {beta:g}": config for (c, beta), config in configs.items()})
    validation = held_out_images(next(iter(configs.values())))
    rows, curves = [], {c: ([], []) for c in args.channels}
    for ((c, beta), _), vae in zip(configs.items(), models.values()):
        z_mean, z_log_var = vae.encode(validation)
        decoded, bits = latent_coding.stream_round_trip(z_mean, latent_coding.latent_steps(z_log_var))
        psnr = iq.psnr(validation, vae.decode(decoded)).mean()
        curves[c][0].append(bits), curves[c][1].append(psnr)
        rows.append([c, f"{beta:g}", evaluation.kl_per_example(vae, validation).mean() / np.log(2), bits, psnr])
    at_rates = {c: iq.psnr_at_rates(*curves[c], RATES) for c in args.channels}
    eligible = [c for c in args.channels if max(curves[c][0]) >= args.min_bits]
    shared = np.all([np.isfinite(at_rates[c]) for c in eligible], axis=0) if eligible else np.zeros(len(RATES), bool)
    score = {c: float(np.mean(at_rates[c][shared])) for c in eligible} if shared.any() else {}
    text = (f"Rate-distortion VAEs, seed {args.seed}, on {len(validation)} held-out Fashion-MNIST training images\n\n"
            + format_table(rows, ["channels", "beta", "KL bits", "stream bits", "PSNR decoded"], digits=2)
            + "\n\nPSNR (dB) of each family at matched bits per image ('—': outside its range)\n\n"
            + format_table([[c, *("—" if np.isnan(v) else f"{v:.2f}" for v in at_rates[c])] for c in args.channels],
                           ["channels", *map(str, RATES)])
            + f"\n\nfamilies reaching {args.min_bits:g} bits per image: "
            + (", ".join(f"{c} channels ({max(curves[c][0]):.0f} bits)" for c in eligible) or "none"))
    if score:
        best = max(score, key=score.get)
        text += (f"\nchosen: {best} channels (best mean PSNR among them at the rates each reaches: "
                 f"{', '.join(str(r) for r, s in zip(RATES, shared) if s)} bits)")
    else:
        text += "\nnothing chosen: no family reaches that rate, or they share no rate of the table"
    print(text, flush=True)
    return text


if __name__ == "__main__":
    main()
