"""How long should notebook 05's one-class models train? Validation AUC per epoch budget, chosen on the training split.

Notebook 05 trains an autoencoder and a VAE per normal MNIST digit (three seeds each) and reports
their ROC AUC on the test split. Their epochs are chosen here, never on the test split: for each
budget, seed 0 is trained on every class (the training images of the class minus its last 500) and
scored on validation images from the training split (those 500 and 2,000 training images of the other
classes, :func:`vae_helpers.applications.recipes.one_class_validation`). The table gives the mean
validation AUC over the classes of the autoencoder's squared error and of the VAE's squared error
and Bernoulli -ELBO, and the seconds each budget took; the notebook uses, per model, the budget with
the best mean of its headline score (the AE's squared error, the VAE's -ELBO).

    python benchmarks/one_class_recipes.py             # full settings (about 30 min here when nothing is cached)
    python benchmarks/one_class_recipes.py --smoke     # seconds; used by the tests
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from vae_helpers.applications import anomaly
from vae_helpers.applications.recipes import one_class_config, one_class_validation
from vae_helpers.core.settings import get_settings
from vae_helpers.measures import evaluation
from vae_helpers.notebook import format_table
from vae_helpers.training.trainer import train_vae

BUDGETS = (5, 10, 20)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="smoke settings (tiny data, capped epochs, two classes)")
    parser.add_argument("--epochs", type=int, nargs="+", default=list(BUDGETS), help=f"budgets (default: {BUDGETS})")
    args = parser.parse_args(argv)
    settings = get_settings("smoke" if args.smoke else "full")
    classes = range(2) if args.smoke else range(10)
    rows, auc = [], {}
    for model, scores in (("autoencoder", ("squared error",)), ("vae", ("squared error", "Bernoulli -ELBO"))):
        for epochs in args.epochs:
            start, per_class = time.perf_counter(), []
            for c in classes:
                config = one_class_config(settings, model, c, seed=0, epochs=epochs)
                net = train_vae(config, verbose=0).model
                x, is_anomaly = one_class_validation(config)
                values = {"squared error": anomaly.squared_error(net, x)}
                if model == "vae":
                    values["Bernoulli -ELBO"] = -evaluation.elbo_per_example(net, x, n_samples=2, seed=0)
                per_class.append([anomaly.roc_auc(values[s], is_anomaly) for s in scores])
            auc[model, epochs] = np.mean(per_class, axis=0)
            cells = [f"{a:.4f}" for a in auc[model, epochs]] + ["-"] * (2 - len(scores))
            rows.append([model, epochs, *cells, f"{time.perf_counter() - start:.0f}"])
            print(f"{model}, {epochs} epochs: done", flush=True)
    best = {model: max(args.epochs, key=lambda e: auc[model, e][-1]) for model in ("autoencoder", "vae")}
    lines = [f"Mean validation ROC AUC over normal classes {list(classes)}, seed 0 (validation images from the "
             "training split)", "",
             format_table(rows, ["model", "epochs", "AUC squared error", "AUC Bernoulli -ELBO", "seconds"]), "",
             "chosen (best headline score): " + ", ".join(f"{m} {e} epochs" for m, e in best.items())]
    text = "\n".join(lines)
    print(text)
    return text


if __name__ == "__main__":
    main()
