"""The test NLL of notebook 10's IWAE-trained VAE on statically binarized MNIST, with Burda et al.'s k = 5,000.

Notebook 10 scores its binarized-MNIST model (model kind ``iwae_vae``: IWAE training with K = 5, KL
warm-up, the mean log-odds output bias) with k = 1,000 importance samples per image on its first 2,000 test
images, which its 30-minute budget allows. Published numbers use k = 5,000 (Burda et al. 2016). This script loads the
same model from the cache (or trains it: about 10 min here) and prints -IWAE_k in nats on all 10,000
test images for both k, with the wall and CPU seconds each took.

    python benchmarks/binarized_nll.py            # full settings (about 20 min of scoring here)
    python benchmarks/binarized_nll.py --smoke    # seconds; used by the tests
"""

from __future__ import annotations

import argparse
import time

from vae_helpers.data.datasets import load_dataset
from vae_helpers.measures.evaluation import iwae_per_example
from vae_helpers.notebook import notebook_parameters
from vae_helpers.training.trainer import TrainConfig, train_vae


def config(smoke: bool) -> TrainConfig:
    """Notebook 10's IWAE-trained binarized config, read from its Parameters cell: the cache then serves both."""
    return notebook_parameters("10_bits_back_at_the_iwae_bound.ipynb", "smoke" if smoke else "full")["BINARY_CONFIGS"]["IWAE-trained"]


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="smoke settings (tiny data, small k)")
    args = parser.parse_args(argv)
    cfg = config(args.smoke)
    run = train_vae(cfg, verbose=0 if args.smoke else 1)
    x = load_dataset(cfg.dataset, n_test=cfg.n_test, seed=cfg.seed).x_test
    lines = [f"Statically binarized MNIST, {len(x):,} test images; iwae_vae, latent {cfg.latent_dim}, {cfg.epochs} epochs "
             f"({'loaded from the cache' if run.from_cache else 'trained now'})", "",
             "| k | -IWAE_k (nats) | wall s | CPU s |", "| ---: | ---: | ---: | ---: |"]
    for k in ((10, 50) if args.smoke else (1000, 5000)):
        wall, cpu = time.perf_counter(), time.process_time()
        nll = -iwae_per_example(run.vae, x, k=k, batch_size=20, seed=0).mean()
        lines.append(f"| {k} | {nll:.2f} | {time.perf_counter() - wall:.0f} | {time.process_time() - cpu:.0f} |")
    text = "\n".join(lines)
    print(text)
    return text


if __name__ == "__main__":
    main()
