"""Where the time of `vae-course plots` goes, and what warm-started t-SNE saves.

Runs the full regeneration (retraining, so training is measured) in a subprocess and prints:
total wall time and peak memory (max RSS of that process), split into training, latent/sample
snapshots, t-SNE frames, static figures and GIF rendering + encoding; then, on the recorded
snapshots, the cost of one t-SNE frame of 2,000 points from scratch vs warm-started.

    python benchmarks/plots_pipeline.py                 # full settings, writes plots/ (about 15 min here)
    python benchmarks/plots_pipeline.py --out /tmp/p    # elsewhere
    python benchmarks/plots_pipeline.py --smoke         # seconds; used by the tests
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def worker(mode: str, out: str) -> dict:
    """Regenerate the figures in this process; return the timing split."""
    from vae_helpers.viz.figures import plots_config, regenerate_plots
    from vae_helpers.core.settings import get_settings

    settings = get_settings(mode)
    config = plots_config(settings)
    report = regenerate_plots(config, out_dir=out, retrain=True, verbose=1 if mode == "full" else 0)
    return {"seconds": report.seconds, "entry": str(report.result.path), "epochs": config.epochs,
            "latent_dim": config.latent_dim, "points": int(config.snapshot_images),
            "files": {p.name: p.stat().st_size for p in report.paths}}


def tsne_costs(entry: str, frames: int = 5) -> dict:
    """Seconds per t-SNE frame on the recorded snapshots: from scratch vs warm-started from the previous frame."""
    import numpy as np

    from vae_helpers.viz.latent_space import tsne_2d

    with np.load(Path(entry) / "snapshots.npz") as npz:
        z = npz["z"]
    picks = list(range(len(z) - frames, len(z)))       # late epochs, as most frames of a run are
    cold, warm = [], []
    previous = tsne_2d(z[picks[0] - 1], seed=0)
    for t in picks:
        start = time.perf_counter()
        tsne_2d(z[t], seed=0)
        cold.append(time.perf_counter() - start)
        start = time.perf_counter()
        previous = tsne_2d(z[t], seed=0, initialization=previous)
        warm.append(time.perf_counter() - start)
    return {"points": int(z.shape[1]), "cold": float(np.mean(cold)), "warm": float(np.mean(warm)), "frames": frames}


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="smoke settings, output in a temporary folder")
    parser.add_argument("--out", default=None, help="output folder (default: plots/, or a temporary one with --smoke)")
    parser.add_argument("--worker", choices=["full", "smoke"], help=argparse.SUPPRESS)
    parser.add_argument("--json", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        Path(args.json).write_text(json.dumps(worker(args.worker, args.out)))
        return ""
    mode = "smoke" if args.smoke else "full"
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or (tmp if args.smoke else str(Path(__file__).resolve().parent.parent / "plots"))
        result_file = Path(tmp) / "result.json"
        start = time.perf_counter()
        subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker", mode, "--out", out,
                        "--json", str(result_file)], check=True)
        wall = time.perf_counter() - start
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        result = json.loads(result_file.read_text())
    costs = tsne_costs(result["entry"], frames=2 if args.smoke else 5)
    lines = [f"`vae-course plots`, {mode} settings: {result['epochs']} epochs, latent dim {result['latent_dim']}, "
             f"{result['points']} points per t-SNE frame", "",
             "| step | seconds | share |", "| --- | ---: | ---: |"]
    for step, seconds in result["seconds"].items():
        lines.append(f"| {step} | {seconds:.1f} | {seconds / wall:.0%} |")
    lines.append(f"| total wall time (incl. start-up and data loading) | {wall:.1f} | 100% |")
    lines += ["", f"peak memory (max RSS of the regeneration process): {peak_mb:.0f} MB", "",
              f"t-SNE, one frame of {costs['points']} points (mean of {costs['frames']} late-epoch frames): "
              f"from scratch {costs['cold']:.2f} s, warm-started {costs['warm']:.2f} s "
              f"({costs['cold'] / costs['warm']:.1f}x faster)", ""]
    lines += [f"wrote {name} ({size / 1024:.0f} KiB)" for name, size in result["files"].items()]
    text = "\n".join(lines)
    print(text)
    return text


if __name__ == "__main__":
    main()
