"""How long the command line takes to answer when it needs no TensorFlow, beside a TensorFlow import.

``vae-course --help`` and an option error are answered before any module that needs TensorFlow is
imported (vae_helpers/core/tf_startup.py); the last row is what they would cost if TensorFlow were loaded.
Prints a table of the median wall time over ``--repeats`` runs of each command.

    python benchmarks/cli_startup.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

EXE = os.path.join(os.path.dirname(sys.executable), "vae-course")
COMMANDS = {
    "vae-course --help": [EXE, "--help"],
    "vae-course plots --latent-dim 1 (option error)": [EXE, "plots", "--latent-dim", "1"],
    "python -c 'import vae_helpers.training.trainer' (loads TensorFlow)": [sys.executable, "-c", "import vae_helpers.training.trainer"],
}


def median_seconds(command: list[str], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, capture_output=True, check=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    rows = {name: median_seconds(command, args.repeats) for name, command in COMMANDS.items()}
    tensorflow = list(rows.values())[-1]   # the last command imports TensorFlow: what the others should avoid
    lines = ["| command | median s | share of the TensorFlow import |", "|---|---|---|"]
    lines += [f"| {name} | {seconds:.2f} | {seconds / tensorflow:.0%} |" for name, seconds in rows.items()]
    out = "\n".join(lines)
    print(out)
    return out


if __name__ == "__main__":
    main()
