"""Does the VAE use its latent space? The Keras example's encoder against the course's, in 2-D and 16-D.

For each latent size (2, 16) and each architecture (`keras_example`: a 16-unit ReLU layer
before the latent heads, as in the Keras VAE example; `course`: 256 units), the VAE is trained
on Fashion-MNIST with the course's recipe (vae_helpers.training.trainer.TrainConfig, through the cache,
so the models are the ones the notebooks and `vae-course plots` use) and scored on the test
set by vae_helpers.measures.evaluation and vae_helpers.measures.diagnostics:

- test -ELBO (one sample of z per image) and the IWAE bound with k samples, in nats per image,
  with the floor sum_d H(x_d) that no Bernoulli decoder can beat on grey-level pixels;
- active dimensions (the activity statistic of Burda et al. 2016: variance over the test set of the
  encoder mean, here above 0.01);
- dead units of every ReLU layer of the encoder (never positive on any test image);
- seconds per training epoch (median; from the cache entry's history).

A likelihood that can be compared with published numbers (statically binarized MNIST, IWAE with
k = 5,000) is `binarized_nll.py`'s, on notebook 10's model.

    python benchmarks/latent_usage.py            # full settings (about 40 min here when nothing is cached)
    python benchmarks/latent_usage.py --smoke    # seconds; used by the tests
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics


from vae_helpers.measures import diagnostics

from vae_helpers.measures import evaluation
from vae_helpers.data.datasets import load_dataset
from vae_helpers.viz.figures import plots_config
from vae_helpers.models.builders import ARCHITECTURES
from vae_helpers.core.settings import get_settings
from vae_helpers.notebook import notebook_parameters
from vae_helpers.training.trainer import TrainConfig, train_vae

IWAE_K, IWAE_IMAGES = 100, 1000          # Fashion-MNIST rows: IWAE on the first 1,000 test images
SMOKE_IWAE_K = 10                        # --smoke (the tests): the table's form, not its numbers


def configs(smoke: bool) -> dict[tuple[int, str], TrainConfig]:
    """The four trained models: (latent_dim, architecture) -> config. 16-D is the README figures' model."""
    settings = get_settings("smoke" if smoke else "full")
    base = {2: notebook_parameters("02_vae.ipynb", settings.mode)["CONFIG"],   # notebook 02's 2-D VAE
            16: plots_config(settings)}
    return {(d, arch): dataclasses.replace(base[d], **ARCHITECTURES[arch])
            for d in (2, 16) for arch in ("keras_example", "course")}


def score(config: TrainConfig, verbose: int, k: int = IWAE_K) -> dict:
    """Train (or load) ``config`` and measure it on its test split."""
    result = train_vae(config, verbose=verbose)
    ds = load_dataset(config.dataset, n_train=config.n_train, n_test=config.n_test, seed=config.seed)
    report = diagnostics.latent_report(result.vae, ds.x_test)
    x_iwae = ds.x_test[:IWAE_IMAGES]
    seconds = result.history.get("epoch_seconds")
    return {"neg_elbo": -evaluation.elbo_per_example(result.vae, ds.x_test, seed=0).mean(),
            "neg_iwae": -evaluation.iwae_per_example(result.vae, x_iwae, k=k, seed=0).mean(),
            "floor": evaluation.entropy_floor(ds.x_test).mean(), "active": report["active"], "dead": report["dead_units"],
            "kl": report["kl"].sum(), "s_epoch": statistics.median(seconds) if seconds else float("nan"),
            "train_s": sum(seconds) if seconds else float("nan"), "epochs": config.epochs}


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="smoke settings (tiny data, one or two epochs)")
    args = parser.parse_args(argv)
    verbose = 0 if args.smoke else 1
    k = SMOKE_IWAE_K if args.smoke else IWAE_K
    rows = {key: score(config, verbose, k) for key, config in configs(args.smoke).items()}
    first = next(iter(rows.values()))
    lines = [f"Fashion-MNIST test set, {first['epochs']} epochs each (2-D) / the README figures' model (16-D); "
             f"nats per image; IWAE k={k} on the first {IWAE_IMAGES} test images; "
             f"floor sum_d H(x_d) = {first['floor']:.1f}", "",
             "| latent | encoder | test -ELBO | above floor | IWAE NLL | KL | active dims | dead units (conv_0, conv_1, dense) | s/epoch |",
             "| ---: | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: |"]
    for (latent_dim, arch), r in rows.items():
        dead = ", ".join(f"{d}/{n}" for d, n in r["dead"].values())
        lines.append(f"| {latent_dim} | {arch} | {r['neg_elbo']:.2f} | {r['neg_elbo'] - r['floor']:.2f} | {r['neg_iwae']:.2f} "
                     f"| {r['kl']:.2f} | {r['active']}/{latent_dim} | {dead} | {r['s_epoch']:.1f} |")
    plots = rows[(16, "course")]
    lines += ["", f"README figures' model (16-D, course): {plots['epochs']} epochs trained in {plots['train_s']:.0f} s "
              f"({plots['train_s'] / 60:.1f} min; sum of the epochs, validation included, snapshots excluded)"]
    text = "\n".join(lines)
    print(text)
    return text


if __name__ == "__main__":
    main()
