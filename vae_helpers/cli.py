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


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``vae-course``."""
    parser = argparse.ArgumentParser(prog="vae-course", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run-notebooks", help="execute the course notebooks and save them with their outputs")
    run.add_argument("notebooks", nargs="*", help="notebooks to run (default: all of notebooks/NN_*.ipynb)")
    run.add_argument("--mode", choices=MODES, default="full", help="full (what readers see) or smoke (tiny)")
    run.add_argument("--timeout", type=int, default=None, help="seconds allowed per cell (default: none)")
    run.set_defaults(func=_run_notebooks)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``vae-course`` console script."""
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
