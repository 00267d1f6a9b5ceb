"""Where a training step's time goes: the course's model against the Keras VAE example, op by op.

Both models train on the same MNIST images at batch 128 in one process. Each is traced with
TensorFlow's profiler (``tf.profiler.experimental``) for ``--steps`` steps, ``--rounds`` times, the
two alternating, after a warm-up; the trace (an XSpace protobuf) is read back here and every op the
graph ran is summed into a group by its name scope: the encoder's convolutions, its dense layer, the
rest of the encoder, the decoder, forward and backward, the loss and the sampling, the optimizer's
update, and the rest (the metric trackers among it). The table gives each group's op time per step
(CPU milliseconds: two threads run ops at once, so the groups add up to more than the wall time)
from each model's least disturbed round (its fastest wall time), and the difference.

    python benchmarks/training_step_profile.py                       # the course's TrainConfig defaults
    python benchmarks/training_step_profile.py --course-config '{"dense_units": 16}'
    python benchmarks/training_step_profile.py --smoke               # seconds; used by the tests
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))   # the sibling scripts: the Keras example's model, the benchmark's label of a course variant

from vae_vs_keras_example import course_label  # noqa: E402

#: (group, pattern of the op's full name); the first match wins. Backward ops sit under ``gradient_tape/``.
GROUPS = (
    ("optimizer update (Adam)", r"(^|/)adam[^/]*/"),
    ("encoder dense layer, backward", r"gradient_tape/encoder[^/]*/dense[^/]*/"),
    ("encoder dense layer, forward", r"(^|/)encoder[^/]*/dense[^/]*/"),
    ("encoder convolutions, backward", r"gradient_tape/encoder[^/]*/conv"),
    ("encoder convolutions, forward", r"(^|/)encoder[^/]*/conv"),
    ("encoder heads (z_mean, z_log_var)", r"encoder[^/]*/z_"),
    ("decoder, backward", r"gradient_tape/decoder"),
    ("decoder, forward", r"(^|/)decoder"),
    ("loss and sampling, forward and backward", r"logistic_loss|binary_crossentropy|sampling|Sampling|random|"
                                                r"gradient_tape/"),
)
OTHER = "everything else (the KL, the metric trackers, casts, bookkeeping)"
#: The profiler's own log lines (session start and stop, where it saved the trace), dropped from stderr.
PROFILER_LINE = re.compile(r"^[IW]\d{4} [\d:.]+\s+\d+ (?:profiler_session|save_profile)\.cc:\d+\] .*$")


def group_of(op_name: str) -> str:
    """The :data:`GROUPS` name of a traced op (its full name, ``scope/.../name:Type``), or :data:`OTHER`."""
    for name, pattern in GROUPS:
        if re.search(pattern, op_name):
            return name
    return OTHER


def op_times(logdir: Path) -> dict[str, float]:
    """Seconds of every op the trace in ``logdir`` ran on TensorFlow's compute threads, summed by op name."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    path = sorted(logdir.glob("**/*.xplane.pb"))[-1]
    space = xplane_pb2.XSpace()
    space.ParseFromString(path.read_bytes())
    totals: dict[str, float] = collections.Counter()
    for plane in space.planes:
        if plane.name != "/host:CPU":
            continue
        names = {k: v.name for k, v in plane.event_metadata.items()}
        for line in plane.lines:
            if not line.name.startswith("tf_Compute"):
                continue
            for event in line.events:
                name = names.get(event.metadata_id, "")
                if ":" in name and "::" not in name:   # an op ("scope/name:Type"), not the executor's own events
                    totals[name] += event.duration_ps * 1e-12
    return dict(totals)


def build_models(overrides: dict | None, n_train: int):
    """The Keras example as published and the course's model for ``TrainConfig(**overrides)``, both on MNIST."""
    import keras

    from vae_helpers.data.datasets import load_dataset
    from vae_helpers.training.trainer import TrainConfig, build_for

    import keras_example_vae as example

    ds = load_dataset("mnist", n_train=n_train, n_test=256, seed=0)
    keras.utils.set_random_seed(0)
    config = TrainConfig(**{"dataset": "mnist", "epochs": 3, "seed": 0, **(overrides or {})})
    return ds.x_train, {"keras_example": (example.build_compiled_vae(), 128), "course": (build_for(config, ds), config.batch_size)}


def profile(steps: int, rounds: int, overrides: dict | None) -> dict:
    """Per model: the op seconds per step by group, and the wall milliseconds per step, of its fastest round."""
    from vae_helpers.core.tf_startup import filtered_stderr_fd, tf

    x, models = build_models(overrides, 128 * (steps + 5))
    best: dict[str, tuple[float, dict[str, float], dict[str, float]]] = {}   # wall s per step, groups, ops
    for name, (model, batch) in models.items():   # warm-up: trace the step, fill the caches
        model.fit(x[:batch * 5], epochs=1, batch_size=batch, verbose=0)
    for r in range(rounds):
        order = list(models) if r % 2 == 0 else list(models)[::-1]
        for name in order:
            model, batch = models[name]
            data = x[:batch * steps]
            with tempfile.TemporaryDirectory() as logdir, filtered_stderr_fd(also=PROFILER_LINE):
                tf.profiler.experimental.start(logdir)
                start = time.perf_counter()
                model.fit(data, epochs=1, batch_size=batch, verbose=0, shuffle=True)
                wall = (time.perf_counter() - start) / steps
                tf.profiler.experimental.stop()
                ops = op_times(Path(logdir))
            print(f"round {r + 1}/{rounds}: {name} {wall * 1000:.1f} ms per step (traced)", flush=True)
            if name not in best or wall < best[name][0]:
                grouped = collections.Counter()
                for op, seconds in ops.items():
                    grouped[group_of(op)] += seconds / steps
                best[name] = (wall, dict(grouped), ops)
    return {name: {"wall_ms": wall * 1000, "groups_ms": {g: s * 1000 for g, s in groups.items()},
                   "top_ops_ms": {op: s / steps * 1000 for op, s in sorted(ops.items(), key=lambda kv: -kv[1])[:8]}}
            for name, (wall, groups, ops) in best.items()}


def report(result: dict, overrides: dict | None) -> str:
    example, course = result["keras_example"], result["course"]
    groups = [g for g, _ in GROUPS] + [OTHER]
    label = course_label(overrides)
    lines = ["Op time per training step (CPU ms, summed over TensorFlow's compute threads), each model's fastest "
             "traced round",
             "",
             f"| op group | keras_example | {label} | difference |",
             "| --- | ---: | ---: | ---: |"]
    for g in groups:
        a, b = example["groups_ms"].get(g, 0.0), course["groups_ms"].get(g, 0.0)
        lines.append(f"| {g} | {a:.2f} | {b:.2f} | {b - a:+.2f} |")
    ta, tb = sum(example["groups_ms"].values()), sum(course["groups_ms"].values())
    lines.append(f"| **all ops** | {ta:.2f} | {tb:.2f} | {tb - ta:+.2f} |")
    lines.append(f"| wall time per step (traced) | {example['wall_ms']:.1f} | {course['wall_ms']:.1f} | "
                 f"{course['wall_ms'] - example['wall_ms']:+.1f} |")
    lines.append("")
    lines.append(f"{label}'s costliest ops (CPU ms per step):")
    for op, ms in course["top_ops_ms"].items():
        lines.append(f"  {ms:6.2f}  {op}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60, help="training steps traced per round (default 60)")
    parser.add_argument("--rounds", type=int, default=3, help="traced rounds per model, alternating (default 3)")
    parser.add_argument("--course-config", type=json.loads, default=None,
                        help='JSON of TrainConfig fields instead of the defaults, e.g. \'{"dense_units": 16}\'')
    parser.add_argument("--smoke", action="store_true", help="4 steps, 1 round")
    args = parser.parse_args(argv)
    for name in ("steps", "rounds"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be a positive integer. Received: {getattr(args, name)}")
    steps, rounds = (4, 1) if args.smoke else (args.steps, args.rounds)
    text = report(profile(steps, rounds, args.course_config), args.course_config)
    print(text)
    return text


if __name__ == "__main__":
    main()
