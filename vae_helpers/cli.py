"""The ``vae-course`` command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .settings import MODES


def _run_notebooks(args: argparse.Namespace) -> int:
    from .notebook import NOTEBOOKS_DIR, execute_notebook

    paths = [Path(p) for p in args.notebooks] or sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))
    if not paths:
        print(f"no notebooks found in {NOTEBOOKS_DIR}", file=sys.stderr)
        return 1
    total = 0.0
    for path in paths:
        print(f"running {path.name} ({args.mode} settings)...", flush=True)
        elapsed = execute_notebook(path, mode=args.mode, timeout=args.timeout)
        total += elapsed
        print(f"  wrote {path} in {elapsed:.0f} s", flush=True)
    print(f"{len(paths)} notebook(s) in {total:.0f} s")
    return 0


def _plots(args: argparse.Namespace) -> int:
    from .figures import plots_config, regenerate_plots
    from .settings import get_settings

    settings = get_settings(args.mode)
    config = plots_config(settings, dataset=args.dataset, latent_dim=args.latent_dim, epochs=args.epochs,
                          beta=args.beta, seed=args.seed)
    print(f"vae-course plots: {args.mode} settings, {config.dataset}, latent dim {config.latent_dim}, "
          f"beta {config.beta:g}, {config.epochs} epochs, seed {config.seed}", flush=True)
    report = regenerate_plots(config, out_dir=args.out, retrain=args.retrain, verbose=settings.verbose)
    print("loaded the trained model from the cache" if report.result.from_cache else
          f"trained and cached the model in {report.result.path}")
    for path in report.paths:
        print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")
    print("seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in report.seconds.items()))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``vae-course``."""
    parser = argparse.ArgumentParser(prog="vae-course", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run-notebooks", help="execute the course notebooks and save them with their outputs")
    run.add_argument("notebooks", nargs="*", help="notebooks to run (default: all of notebooks/NN_*.ipynb)")
    run.add_argument("--mode", choices=MODES, default="full", help="full (what readers see) or smoke (tiny)")
    run.add_argument("--timeout", type=int, default=None, help="seconds allowed per cell (default: none)")
    run.set_defaults(func=_run_notebooks)

    from .data import DATASETS
    from .figures import PLOTS_EPOCHS
    from .plotting import PLOTS_DIR

    plots = sub.add_parser("plots", help="train (or load from the cache) a VAE and regenerate the README figures")
    plots.add_argument("--dataset", choices=DATASETS, default="fashion_mnist")
    plots.add_argument("--latent-dim", type=int, default=16, help="latent dimensions (2 plots the latent directly)")
    plots.add_argument("--epochs", type=int, default=PLOTS_EPOCHS, help="epochs in full mode (smoke mode caps them)")
    plots.add_argument("--beta", type=float, default=1.0, help="weight of the KL term")
    plots.add_argument("--seed", type=int, default=42)
    plots.add_argument("--out", default=str(PLOTS_DIR), help="output folder (default: the repository's plots/)")
    plots.add_argument("--mode", choices=MODES, default="full", help="full (what readers see) or smoke (tiny)")
    plots.add_argument("--retrain", action="store_true", help="train again even if the model is cached")
    plots.set_defaults(func=_plots)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``vae-course`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ValueError as exc:  # bad option values: a clear message instead of a traceback
        parser.error(str(exc))


if __name__ == "__main__":
    raise SystemExit(main())
