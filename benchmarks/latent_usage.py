"""Does the VAE use its latent space? The Keras example's encoder against the course's, in 2-D and 16-D.

For each latent size (2, 16) and each architecture (`keras_example`: a 16-unit ReLU layer
before the latent heads, as in the Keras VAE example; `course`: 256 units), the VAE is trained
on Fashion-MNIST with the course's recipe (vae_helpers.training.TrainConfig, through the cache,
so the models are the ones the notebooks and `vae-course plots` use) and scored on the test
set by vae_helpers.evaluation and vae_helpers.diagnostics:

- test -ELBO (one sample of z per image) and the IWAE bound with k samples, in nats per image,
  with the floor sum_d H(x_d) that no Bernoulli decoder can beat on grey-level pixels;
- active dimensions (the activity statistic of Burda et al. 2016: variance over the test set of the
  encoder mean, here above 0.01);
- dead units of every ReLU layer of the encoder (never positive on any test image);
- seconds per training epoch (median; from the cache entry's history).

Then a likelihood that can be compared with published numbers: a VAE on statically binarized
MNIST (the course's conv encoder, an MLP decoder so that k = 1000 importance samples per test
image stay affordable), scored by IWAE with k = 1000 on the 10,000 test images.

    python benchmarks/latent_usage.py            # full settings (about 40 min here when nothing is cached)
    python benchmarks/latent_usage.py --smoke    # seconds; used by the tests
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

import numpy as np

from vae_helpers import diagnostics, evaluation
from vae_helpers.data import load_dataset
from vae_helpers.figures import plots_config
from vae_helpers.models import ARCHITECTURES
from vae_helpers.settings import get_settings
from vae_helpers.training import TrainConfig, train_vae

IWAE_K, IWAE_IMAGES = 100, 1000          # Fashion-MNIST rows: IWAE on the first 1,000 test images
SMOKE_IWAE_K = 10                        # --smoke (the tests): the table's form, not its numbers
BINARIZED = {"latent_dim": 32, "hidden": 512, "epochs": 30, "k": 1000, "learning_rate": 1e-3, "batch_size": 128}


def configs(smoke: bool) -> dict[tuple[int, str], TrainConfig]:
    """The four trained models: (latent_dim, architecture) -> config. 16-D is the README figures' model."""
    settings = get_settings("smoke" if smoke else "full")
    base = {2: TrainConfig(dataset="fashion_mnist", latent_dim=2, epochs=settings.epochs(12), seed=42,
                           n_train=settings.n_train, n_test=settings.n_test),
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


def binarized_mnist_nll(smoke: bool, verbose: int) -> dict:
    """Train a VAE on statically binarized MNIST and estimate its test NLL with IWAE (k importance samples)."""
    import keras

    from vae_helpers.models import build_encoder
    from vae_helpers.callbacks import progress_callbacks
    from vae_helpers.vae import VAE

    p = dict(BINARIZED, **({"epochs": 1, "k": 50} if smoke else {}))
    settings = get_settings("smoke" if smoke else "full")
    ds = load_dataset("binarized_mnist", n_train=settings.n_train, n_test=settings.n_test, seed=0)
    keras.utils.set_random_seed(0)
    encoder = build_encoder(ds.image_shape, p["latent_dim"], variational=True)
    decoder = keras.Sequential([keras.Input((p["latent_dim"],)),
                                keras.layers.Dense(p["hidden"], activation="relu"),
                                keras.layers.Dense(p["hidden"], activation="relu"),
                                keras.layers.Dense(int(np.prod(ds.image_shape))),
                                keras.layers.Reshape(ds.image_shape)], name="mlp_decoder")
    vae = VAE(encoder, decoder, seed=0)
    steps = p["epochs"] * -(-len(ds.x_train) // p["batch_size"])
    vae.compile(optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(p["learning_rate"], steps, alpha=0.02)))
    wall, cpu = time.perf_counter(), time.process_time()
    vae.fit(ds.x_train, epochs=p["epochs"], batch_size=p["batch_size"], validation_data=(ds.x_test,), verbose=0,
            callbacks=progress_callbacks(verbose))
    train = (time.perf_counter() - wall, time.process_time() - cpu)
    wall, cpu = time.perf_counter(), time.process_time()
    neg_iwae = -evaluation.iwae_per_example(vae, ds.x_test, k=p["k"], batch_size=20, seed=0).mean()
    scoring = (time.perf_counter() - wall, time.process_time() - cpu)
    neg_elbo = -evaluation.elbo_per_example(vae, ds.x_test, seed=0).mean()
    return {**p, "n_test": len(ds.x_test), "neg_elbo": neg_elbo, "neg_iwae": neg_iwae, "train": train, "scoring": scoring}


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="smoke settings (tiny data, one or two epochs)")
    parser.add_argument("--skip-binarized", action="store_true", help="only the Fashion-MNIST table")
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
    if not args.skip_binarized:
        b = binarized_mnist_nll(args.smoke, verbose)
        lines += ["", f"Statically binarized MNIST ({b['n_test']} test images): conv encoder, MLP decoder "
                  f"{b['hidden']}-{b['hidden']}, latent {b['latent_dim']}, {b['epochs']} epochs, batch {b['batch_size']}", "",
                  "| test -ELBO | IWAE NLL estimate | k | training (wall / CPU s) | IWAE scoring (wall / CPU s) |",
                  "| ---: | ---: | ---: | ---: | ---: |",
                  f"| {b['neg_elbo']:.2f} | {b['neg_iwae']:.2f} | {b['k']} | {b['train'][0]:.0f} / {b['train'][1]:.0f} "
                  f"| {b['scoring'][0]:.0f} / {b['scoring'][1]:.0f} |"]
    text = "\n".join(lines)
    print(text)
    return text


if __name__ == "__main__":
    main()
