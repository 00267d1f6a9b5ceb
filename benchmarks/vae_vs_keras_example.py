"""The course's default VAE training against a faithful re-implementation of the Keras VAE example.

Both train on the same MNIST training images and are scored with the same code: the test
-ELBO in nats (vae_helpers.measures.evaluation, one sample of z per image, a fixed seed), measured after
every epoch with the clock stopped. Each runs in its own subprocess, one after the other, so
that peak memory (max RSS) is its own and the two never share the CPU.

1. The Keras example trains for its published 30 epochs; its training time is the budget T.
2. The course's default training (vae_helpers.training.trainer.TrainConfig) trains for the same budget T.

The table reports seconds per epoch, images per second, peak memory, the test -ELBO after
the budget, and the time the course needs to reach the example's final test -ELBO.

With ``--pairs N`` it measures speed only: N rounds, each training every variant for the same
``--epochs`` (no budget), the order of the variants rotating from round to round so that neither
always runs first on this shared machine. It prints each round's seconds per epoch (the median
epoch) and the ratio to the Keras example in the same round, then the median ratio and the ratio
of each variant's fastest epoch over all rounds: at the same batch size and on the same images, a
ratio of seconds per epoch is a ratio of seconds per image. This machine's speed changes by up to
about 2x for tens of seconds to minutes at a time, whatever runs, so a round whose variants
met different speeds gives a wall-clock ratio that says nothing about them. Two measures resist
it: the CPU time of each epoch (the work done; it changes much less with the machine's speed) and
each variant's fastest epoch over all rounds (the least slowed).
``--also-config`` adds a second course variant to every round.

    python benchmarks/vae_vs_keras_example.py               # full: 30 epochs (about 25 min on 2 cores)
    python benchmarks/vae_vs_keras_example.py --epochs 10   # a shorter budget
    python benchmarks/vae_vs_keras_example.py --pairs 3 --epochs 3 --also-config '{"dense_units": 16}'
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
    """Keras callback: training seconds per epoch (wall and the process's CPU), then the test -ELBO with the clock stopped."""

    def __new__(cls, *args, **kwargs):
        import keras

        class _EpochClock(keras.callbacks.Callback):
            def __init__(self, evaluate, budget):
                super().__init__()
                self.evaluate, self.budget = evaluate, budget
                self.train_seconds, self.cpu_seconds, self.neg_elbo = [], [], []

            def on_epoch_begin(self, epoch, logs=None):
                self.start, self.cpu_start = time.perf_counter(), time.process_time()

            def on_epoch_end(self, epoch, logs=None):
                self.train_seconds.append(time.perf_counter() - self.start)
                self.cpu_seconds.append(time.process_time() - self.cpu_start)
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
    return {"variant": variant, "settings": settings, "n_train": len(ds.x_train), "batch_size": batch_size,
            "train_seconds": clock.train_seconds, "cpu_seconds": clock.cpu_seconds, "neg_elbo": clock.neg_elbo,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def run_worker(variant: str, epochs: int, budget: float | None, n_train, n_test, overrides: dict | None = None) -> dict:
    """Train ``variant`` in a subprocess; its stderr comes back without TensorFlow's start-up lines."""
    from vae_helpers.core.tf_startup import drop_startup_lines

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
        done = subprocess.run(cmd, stderr=subprocess.PIPE, text=True)
        sys.stderr.write(drop_startup_lines(done.stderr))
        if done.returncode != 0:
            raise SystemExit(f"the {variant} worker failed (exit code {done.returncode}); its stderr is above")
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


def pairs_report(rounds: list[list[dict]]) -> str:
    """The speed table of ``--pairs``: each round's median seconds per epoch (wall and CPU) and the ratios to the example's."""
    names = [r["label"] for r in rounds[0]]
    course = [n for n in names if n != "keras_example"]
    batches = ", ".join(sorted({str(r["batch_size"]) for r in rounds[0]}))
    lines = [f"MNIST, {rounds[0][0]['n_train']} training images, batch {batches}; seconds per epoch (the median "
             f"epoch of {len(rounds[0][0]['train_seconds'])}), wall clock and the process's CPU time, each variant in "
             "its own process",
             "",
             "| round | order | " + " | ".join(f"{n} s/epoch (CPU)" for n in names) + " | "
             + " | ".join(f"{n} / keras_example (CPU)" for n in course) + " |",
             "| ---: | --- | " + " | ".join("---:" for _ in names + course) + " |"]
    ratios = {(n, kind): [] for n in course for kind in ("train_seconds", "cpu_seconds")}
    for i, records in enumerate(rounds, start=1):
        median = {(r["label"], kind): statistics.median(r[kind]) for r in records for kind in ("train_seconds", "cpu_seconds")}
        for n, kind in ratios:
            ratios[n, kind].append(median[n, kind] / median["keras_example", kind])
        lines.append(f"| {i} | {', '.join(r['label'] for r in records)} | "
                     + " | ".join(f"{median[n, 'train_seconds']:.1f} ({median[n, 'cpu_seconds']:.1f})" for n in names)
                     + " | " + " | ".join(f"{ratios[n, 'train_seconds'][-1]:.3f} ({ratios[n, 'cpu_seconds'][-1]:.3f})"
                                          for n in course) + " |")
    lines.append("")
    fastest = {n: min(min(r["train_seconds"]) for records in rounds for r in records if r["label"] == n) for n in names}
    for n in course:
        wall, cpu = ratios[n, "train_seconds"], ratios[n, "cpu_seconds"]
        lines.append(f"{n} / keras_example, median over {len(rounds)} rounds: wall {statistics.median(wall):.3f} "
                     f"(range {min(wall):.3f} to {max(wall):.3f}), CPU {statistics.median(cpu):.3f} "
                     f"(range {min(cpu):.3f} to {max(cpu):.3f}); fastest epoch of each, over all rounds: "
                     f"{fastest[n]:.1f} / {fastest['keras_example']:.1f} s = {fastest[n] / fastest['keras_example']:.3f}")
    last = {r["label"]: r for r in rounds[-1]}
    lines.append("test -ELBO after the last epoch (last round): "
                 + ", ".join(f"{n} {last[n]['neg_elbo'][-1]:.2f}" for n in names))
    for n in names:
        lines.append(f"{n}: {last[n]['settings']}")
    return "\n".join(lines)


def course_label(overrides: dict | None) -> str:
    """``course``, or ``course (dense_units=16, ...)`` for a config that differs from the defaults."""
    return "course" + (f" ({', '.join(f'{k}={v}' for k, v in overrides.items())})" if overrides else "")


def run_pairs(pairs: int, epochs: int, n_train, n_test, overrides: dict | None, also: dict | None) -> str:
    """``pairs`` rounds of every variant, the order rotating each round; the table of :func:`pairs_report`."""
    variants = [("keras_example", "keras_example", None), ("course", course_label(overrides), overrides)]
    if also is not None:
        variants.append(("course", course_label(also), also))
    rounds = []
    for i in range(pairs):
        order = variants[i % len(variants):] + variants[:i % len(variants)]
        records = []
        for worker_name, label, config in order:
            record = run_worker(worker_name, epochs, None, n_train, n_test, config)
            records.append({**record, "label": label})
            print(f"round {i + 1}/{pairs}: {label} {statistics.median(record['train_seconds']):.1f} s per epoch",
                  flush=True)
        rounds.append(records)
    return pairs_report(rounds)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30, help="epochs of the Keras example (published: 30)")
    parser.add_argument("--smoke", action="store_true", help="512 training / 256 test images, 1 epoch")
    parser.add_argument("--n-train", type=int, default=None)
    parser.add_argument("--n-test", type=int, default=None)
    parser.add_argument("--course-config", type=json.loads, default=None,
                        help='JSON of TrainConfig fields to try instead of the defaults, e.g. \'{"batch_size": 256}\'')
    parser.add_argument("--pairs", type=int, default=0,
                        help="speed only: this many rounds of every variant for --epochs each, the order rotating")
    parser.add_argument("--also-config", type=json.loads, default=None,
                        help="with --pairs: a second course variant (JSON of TrainConfig fields) in every round")
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
    if args.pairs < 0:
        parser.error(f"--pairs must be 0 (the budget comparison) or a positive integer. Received: {args.pairs}")
    if args.also_config is not None and not args.pairs:
        parser.error("--also-config needs --pairs N (it adds a variant to the speed rounds)")
    if args.smoke:
        epochs, n_train, n_test = 1, 512, 256
    if args.pairs:
        text = run_pairs(args.pairs, epochs, n_train, n_test, args.course_config, args.also_config)
        print(text)
        return text
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
