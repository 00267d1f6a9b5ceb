"""The course's default VAE training against a faithful re-implementation of the Keras VAE example.

Both train on the same MNIST training images and are scored with the same code: the test
-ELBO in nats (vae_helpers.measures.evaluation, one sample of z per image, a fixed seed), measured after
every epoch with the clock stopped. Each runs in its own subprocess, one after the other, so
that peak memory (max RSS) is its own and the two never share the CPU.

1. The Keras example trains for its published 30 epochs; its training time is the budget T.
2. The course's default training (vae_helpers.training.trainer.TrainConfig) trains for the same budget T.

The table reports seconds per epoch, images per second, peak memory, the test -ELBO after
the budget, and the time the course needs to reach the example's final test -ELBO.

    python benchmarks/vae_vs_keras_example.py               # full: 30 epochs (about 25 min on 2 cores)
    python benchmarks/vae_vs_keras_example.py --epochs 10   # a shorter budget
    python benchmarks/vae_vs_keras_example.py --smoke       # seconds; used by the tests
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


class EpochClock:
    """Keras callback: training seconds per epoch, then the test -ELBO with the clock stopped."""

    def __new__(cls, *args, **kwargs):
        import keras

        class _EpochClock(keras.callbacks.Callback):
            def __init__(self, evaluate, budget):
                super().__init__()
                self.evaluate, self.budget = evaluate, budget
                self.train_seconds, self.neg_elbo = [], []

            def on_epoch_begin(self, epoch, logs=None):
                self.start = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                self.train_seconds.append(time.perf_counter() - self.start)
                self.neg_elbo.append(self.evaluate())
                if self.budget is not None and sum(self.train_seconds) >= self.budget:
                    self.model.stop_training = True

        return _EpochClock(*args, **kwargs)


def worker(variant: str, epochs: int, budget: float | None, n_train: int | None, n_test: int | None,
           overrides: dict | None = None) -> dict:
    """Train one variant in this process and return its per-epoch record."""
    import keras
    import numpy as np

    from vae_helpers.data.datasets import load_dataset
    from vae_helpers.measures.evaluation import elbo_per_example
    from vae_helpers.models.densities import bernoulli_log_likelihood
    from vae_helpers.training.trainer import TrainConfig, build_for

    ds = load_dataset("mnist", n_train=n_train, n_test=n_test, seed=0)
    keras.utils.set_random_seed(0)
    if variant == "keras_example":
        sys.path.insert(0, str(HERE))
        import keras_example_vae as example

        vae = example.build_compiled_vae()
        encoder, decoder = example.for_evaluation(vae)
        scored = type("Scored", (), {"encoder": encoder, "decoder": decoder,
                                     "log_likelihood": staticmethod(bernoulli_log_likelihood)})
        batch_size, settings = 128, "as published (Adam 1e-3, batch 128, sigmoid output)"
    else:
        config = TrainConfig(**{"dataset": "mnist", "epochs": epochs, "seed": 0, **(overrides or {})})
        vae = build_for(config, ds)
        scored, batch_size = vae, config.batch_size
        settings = (f"TrainConfig {'with ' + json.dumps(overrides) if overrides else 'defaults'} (Adam {config.learning_rate:g} "
                    f"with {config.lr_schedule} schedule over {config.epochs} epochs, batch {config.batch_size}, "
                    f"logits, jit_compile={config.jit_compile})")

    def evaluate() -> float:
        return float(-np.mean(elbo_per_example(scored, ds.x_test, seed=0)))

    clock = EpochClock(evaluate, budget)
    vae.fit(ds.x_train, epochs=epochs, batch_size=batch_size, shuffle=True, verbose=0, callbacks=[clock])
    return {"variant": variant, "settings": settings, "n_train": len(ds.x_train),
            "train_seconds": clock.train_seconds, "neg_elbo": clock.neg_elbo,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def run_worker(variant: str, epochs: int, budget: float | None, n_train, n_test, overrides: dict | None = None) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", variant, "--epochs", str(epochs),
               "--out", str(out)]
        if budget is not None:
            cmd += ["--budget", f"{budget:.3f}"]
        if overrides:
            cmd += ["--course-config", json.dumps(overrides)]
        for name, value in (("--n-train", n_train), ("--n-test", n_test)):
            if value is not None:
                cmd += [name, str(value)]
        subprocess.run(cmd, check=True)
        return json.loads(out.read_text())


@dataclasses.dataclass
class Summary:
    variant: str
    epochs: int
    seconds_per_epoch: float
    images_per_second: float
    peak_rss_mb: float
    neg_elbo_at_budget: float


def summarize(record: dict, budget: float) -> Summary:
    seconds, neg_elbo = record["train_seconds"], record["neg_elbo"]
    within = [e for e, t in zip(neg_elbo, _cumsum(seconds)) if t <= budget * 1.02] or neg_elbo[:1]
    per_epoch = statistics.median(seconds)
    return Summary(record["variant"], len(seconds), per_epoch, record["n_train"] / per_epoch,
                   record["peak_rss_mb"], within[-1])


def _cumsum(values):
    total, out = 0.0, []
    for v in values:
        total += v
        out.append(total)
    return out


def time_to_reach(record: dict, target: float) -> tuple[float, int] | None:
    """Training seconds (and epochs) after which ``record`` first has test -ELBO <= ``target``."""
    for epoch, (t, e) in enumerate(zip(_cumsum(record["train_seconds"]), record["neg_elbo"]), start=1):
        if e <= target:
            return t, epoch
    return None


def report(anchor: dict, course: dict) -> str:
    budget = sum(anchor["train_seconds"])
    rows = [summarize(anchor, budget), summarize(course, budget)]
    lines = [
        f"MNIST, {anchor['n_train']} training images; test -ELBO in nats (lower is better); budget T = {budget:.0f} s "
        f"(the Keras example's {len(anchor['train_seconds'])} epochs)",
        "",
        "| variant | epochs in T | s/epoch | images/s | peak RSS (MB) | test -ELBO after T |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(f"| {r.variant} | {r.epochs} | {r.seconds_per_epoch:.1f} | {r.images_per_second:.0f} | "
                     f"{r.peak_rss_mb:.0f} | {r.neg_elbo_at_budget:.2f} |")
    target = anchor["neg_elbo"][-1]
    reach = time_to_reach(course, target)
    lines.append("")
    if reach is None:
        lines.append(f"course default did not reach the Keras example's final test -ELBO {target:.2f} within T")
    else:
        t, epoch = reach
        lines.append(f"course default reaches the Keras example's final test -ELBO ({target:.2f}) after "
                     f"{t:.0f} s ({epoch} epochs): {t / budget:.2f} of the example's time ({budget / t:.1f}x faster)")
    lines.append(f"keras_example: {anchor['settings']}")
    lines.append(f"course: {course['settings']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30, help="epochs of the Keras example (published: 30)")
    parser.add_argument("--smoke", action="store_true", help="512 training / 256 test images, 1 epoch")
    parser.add_argument("--n-train", type=int, default=None)
    parser.add_argument("--n-test", type=int, default=None)
    parser.add_argument("--course-config", type=json.loads, default=None,
                        help='JSON of TrainConfig fields to try instead of the defaults, e.g. \'{"batch_size": 256}\'')
    parser.add_argument("--worker", choices=["keras_example", "course"], help=argparse.SUPPRESS)
    parser.add_argument("--budget", type=float, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        record = worker(args.worker, args.epochs, args.budget, args.n_train, args.n_test, args.course_config)
        Path(args.out).write_text(json.dumps(record))
        return ""
    if args.epochs < 1:
        parser.error(f"--epochs must be a positive integer. Received: {args.epochs}")
    epochs, n_train, n_test = args.epochs, args.n_train, args.n_test
    if args.smoke:
        epochs, n_train, n_test = 1, 512, 256
    anchor = run_worker("keras_example", epochs, None, n_train, n_test)
    budget = sum(anchor["train_seconds"])
    # The course trains its default config for the same number of epochs (its schedule spans them),
    # stopped early if it runs past the example's time budget.
    course = run_worker("course", epochs, budget, n_train, n_test, args.course_config)
    text = report(anchor, course)
    print(text)
    return text


if __name__ == "__main__":
    main()
