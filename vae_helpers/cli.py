"""The ``vae-course`` command line.

Every option is checked before any work starts, and every failure is one line on stderr,
``vae-course: error: ...``, with a non-zero exit code (2 for a bad option, 1 for a failure
while working). ``--traceback`` shows the full Python traceback instead.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
import warnings
from pathlib import Path

from .core.checks import MAX_BATCH_SIZE, MAX_EPOCHS, MAX_LATENT_DIM, MAX_SEED
from .training.cluster import MAX_CLUSTER_TIMEOUT_S
from .core.settings import MODE_ENV, MODES

__all__ = ["STRATEGIES", "UsageError", "build_parser", "main"]

EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130
MAX_LOGICAL_CPUS = 64  # bounds on what a typed option may ask for (the others are in checks)
STRATEGIES = ("mirrored", "multi-worker")
CLUSTER_TIMEOUT_S = 300  # default wait for the other workers of a multi-worker run


class UsageError(Exception):
    """A bad option value, found before any work started."""


# What argparse must read as a negative number (a value), not as an unknown option: its own rule takes "-1" and
# "-1.5" only, so "--beta -inf" or "--seed -1e3" failed with "expected one argument" instead of the option's check.
_NEGATIVE_NUMBER = re.compile(r"-(?:(?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)(?:e[-+]?\d+)?|inf|infinity|nan)$", re.IGNORECASE)


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line: ``vae-course: error: <message>``.

    Negative numbers, infinities and NaN (``-1e3``, ``-inf``, ``-nan``) are read as values, so that the option's
    own check refuses them by name; no option of ``vae-course`` looks like a negative number.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = _NEGATIVE_NUMBER

    def error(self, message):
        self.exit(EXIT_USAGE, f"vae-course: error: {message} (see: {self.prog} --help)\n")


def _int_type(minimum: int, maximum: int | None = None):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum or (maximum is not None and value > maximum):
            allowed = f"an integer >= {minimum}" if maximum is None else f"an integer in [{minimum}, {maximum}]"
            raise argparse.ArgumentTypeError(f"must be {allowed}, received {text!r}")
        return value
    return parse


def _beta(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, received {text!r}")
    return value


def _check_notebook(path: Path) -> None:
    import nbformat

    if not path.is_file():
        raise UsageError(f"argument notebooks: {str(path)!r} is not a file")
    if not os.access(path, os.W_OK) or not os.access(path.parent, os.W_OK | os.X_OK):
        where = path if not os.access(path, os.W_OK) else path.parent
        raise UsageError(f"argument notebooks: {str(where)!r} is read-only, so the executed notebook could not be "
                         "saved; nothing was run")
    if path.suffix != ".ipynb":
        raise UsageError(f"argument notebooks: {str(path)!r} is not a .ipynb notebook")
    try:
        nbformat.validate(nbformat.read(path, as_version=4))
    except Exception as exc:  # JSON errors, missing keys, schema violations
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(f"argument notebooks: {str(path)!r} is not a valid notebook ({first_line})") from exc


def _settings(args: argparse.Namespace):
    from .core.settings import get_settings

    try:
        return get_settings(args.mode)
    except ValueError as exc:  # a bad $VAE_COURSE_MODE
        raise UsageError(str(exc)) from exc


def _run_notebooks(args: argparse.Namespace) -> int:
    from .notebook import NOTEBOOKS_DIR, execute_notebook

    mode = _settings(args).mode
    paths = [Path(p) for p in args.notebooks] or sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))
    if not paths:
        raise UsageError(f"no notebooks found in {NOTEBOOKS_DIR}")
    for path in paths:  # all of them, before the first one runs
        _check_notebook(path)
    total = 0.0
    for path in paths:
        print(f"running {path.name} ({mode} settings)...", flush=True)
        try:
            elapsed = execute_notebook(path, mode=mode, timeout=args.timeout)
        except Exception as exc:
            if type(exc).__name__ == "CellTimeoutError":
                raise RuntimeError(f"{path.name}: a cell ran longer than --timeout {args.timeout} s; "
                                   "the notebook file was not changed") from None
            if not hasattr(exc, "ename"):
                raise
            raise RuntimeError(f"{path.name} failed in a cell with {exc.ename}: {exc.evalue}; "
                               "the notebook file was not changed") from exc
        total += elapsed
        print(f"  wrote {path} in {elapsed:.0f} s", flush=True)
    print(f"{len(paths)} notebook(s) in {total:.0f} s")
    return 0


def _writable_folder_option(option: str, folder: str) -> Path:
    """``folder`` (``~`` expanded) as a writable folder, created if missing, or a UsageError naming ``option``."""
    from .core.checks import check_writable_folder

    if not folder.strip():
        raise UsageError(f"argument {option}: must name a folder, received {folder!r} (use . for the current folder)")
    try:
        return check_writable_folder(option, Path(folder).expanduser())
    except ValueError as exc:
        raise UsageError(f"argument {str(exc).replace(f'`{option}`', option)}") from exc


def _plots_out_dir(args: argparse.Namespace, settings) -> Path:
    from .viz.plotting import PLOTS_DIR, output_dir

    if args.out is None:
        return output_dir(settings)  # plots/ in full mode, a new temporary folder in smoke mode
    if settings.is_smoke and Path(args.out).expanduser().resolve() == PLOTS_DIR.resolve():
        raise UsageError(f"argument --out: smoke-mode figures must not replace the committed ones in {PLOTS_DIR}; "
                         "leave out --out (a temporary folder is used) or choose another folder")
    return _writable_folder_option("--out", args.out)


def _strategy(args: argparse.Namespace):
    """The tf.distribute strategy asked for by --strategy (None for one device), after --logical-cpus."""
    if args.logical_cpus and args.strategy != "mirrored":
        raise UsageError("argument --logical-cpus: only with --strategy mirrored "
                         f"(received --strategy {args.strategy or 'none'})")
    if args.cluster_timeout is not None and args.strategy != "multi-worker":
        raise UsageError("argument --cluster-timeout: only with --strategy multi-worker "
                         f"(received --strategy {args.strategy or 'none'})")
    if args.strategy is None:
        return None
    if args.strategy == "multi-worker":
        _wait_for_cluster(_check_tf_config(os.environ.get("TF_CONFIG", "")), args.cluster_timeout or CLUSTER_TIMEOUT_S)
    from .core.tf_startup import tf

    devices = None
    if args.logical_cpus:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * args.logical_cpus)
        devices = [d.name for d in tf.config.list_logical_devices("CPU")]
    if args.strategy == "mirrored":
        return tf.distribute.MirroredStrategy(devices)   # every GPU of this machine (or the logical CPUs)
    return tf.distribute.MultiWorkerMirroredStrategy()    # the machines listed in $TF_CONFIG


def _wait_for_cluster(config: dict, timeout_s: int) -> None:
    """Meet the other workers in Python (interruptible, with a timeout) before TensorFlow blocks until they join."""
    from .training.cluster import ClusterConfigError, parse_workers, wait_for_workers

    try:
        workers = parse_workers(config)
    except ValueError as exc:
        raise UsageError(f"argument --strategy multi-worker: {exc}") from None
    print(f"waiting up to {timeout_s} s for the {len(workers.addresses)} workers in $TF_CONFIG "
          f"(this is worker {workers.index}, {workers.own}; --cluster-timeout)", flush=True)
    try:
        seconds = wait_for_workers(workers, timeout_s)
    except ClusterConfigError as exc:  # an address that reaches this worker itself, indices that differ
        raise UsageError(f"argument --strategy multi-worker: {exc}") from None
    print(f"all {len(workers.addresses)} workers met after {seconds:.1f} s", flush=True)


def _check_tf_config(text: str) -> dict:
    """Refuse a ``$TF_CONFIG`` that is not JSON or names no cluster of at least two workers, before TensorFlow starts."""
    import json

    advice = ('set it like TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
              '"task": {"type": "worker", "index": 0}}\' (README, "Several GPUs or machines")')
    try:
        config = json.loads(text) if text.strip() else None
    except ValueError as exc:
        raise UsageError(f"argument --strategy multi-worker: $TF_CONFIG is not JSON ({exc}); {advice}") from None
    workers = (config or {}).get("cluster", {}).get("worker") if isinstance(config, dict) else None
    task = config.get("task", {}) if isinstance(config, dict) else {}
    if not isinstance(workers, list) or len(workers) < 2 or not isinstance(task, dict) \
            or task.get("type") != "worker" or task.get("index") not in range(len(workers)):
        raise UsageError("argument --strategy multi-worker: $TF_CONFIG must name at least two workers and this "
                         f"process's task (type worker, an index into them); received {text.strip()[:200]!r}; {advice}")
    return config


def _with_batch_size(args: argparse.Namespace, config, replicas: int):
    """``config`` with the batch of --batch-size, which must split evenly between the replicas of --strategy, and a
    note for the user (or None).

    Without --batch-size, a default batch that does not split is rounded to the nearest multiple of the replicas
    (3 replicas: 129) and the note says so; an explicit --batch-size that does not split is refused.
    """
    import dataclasses

    from .core.checks import check_even_batches

    if args.batch_size is None:
        if config.batch_size % replicas == 0:
            return config, None
        rounded = replicas * max(1, round(config.batch_size / replicas))
        return dataclasses.replace(config, batch_size=rounded), (
            f"the default batch of {config.batch_size} images does not split evenly between the {replicas} replicas; "
            f"using a batch of {rounded} ({rounded // replicas} per replica; choose another with --batch-size)")
    try:
        check_even_batches(args.batch_size, replicas)
    except ValueError as exc:
        message = str(exc).replace("`batch_size`", "--batch-size").replace("Received: batch_size=", "Received: --batch-size ")
        raise UsageError(f"argument {message}") from None
    return dataclasses.replace(config, batch_size=args.batch_size), None


def _plots(args: argparse.Namespace) -> int:
    settings = _settings(args)
    out_dir = _plots_out_dir(args, settings)
    tensorboard_dir = None if args.tensorboard is None else _writable_folder_option("--tensorboard", args.tensorboard)
    if tensorboard_dir is not None:
        from .training.cache import check_apart, default_cache_dir

        try:
            check_apart("--tensorboard", tensorboard_dir, default_cache_dir())
        except ValueError as exc:
            raise UsageError(f"argument {str(exc).replace('`--tensorboard`', '--tensorboard')}") from exc
    strategy = _strategy(args)
    from .viz.figures import plots_config, regenerate_plots

    config = plots_config(settings, dataset=args.dataset, latent_dim=args.latent_dim, epochs=args.epochs,
                          beta=args.beta, seed=args.seed)
    config, batch_note = _with_batch_size(args, config, 1 if strategy is None else strategy.num_replicas_in_sync)
    print(f"vae-course plots: {settings.mode} settings, {config.dataset}, latent dim {config.latent_dim}, "
          f"beta {config.beta:g}, {config.epochs} epochs, batch {config.batch_size}, seed {config.seed}; "
          f"figures go to {out_dir}", flush=True)
    if strategy is not None:
        print(f"training with {type(strategy).__name__} on {strategy.num_replicas_in_sync} replicas", flush=True)
    if batch_note:
        print(batch_note, flush=True)
    if tensorboard_dir is not None:
        print(f"TensorBoard run: {tensorboard_dir / config.key()} (watch it: tensorboard --logdir {tensorboard_dir})",
              flush=True)
    report = regenerate_plots(config, out_dir=out_dir, retrain=args.retrain, verbose=settings.verbose,
                              tensorboard_dir=tensorboard_dir, strategy=strategy)
    print("loaded the trained model from the cache" if report.result.from_cache else
          "trained the model" + (f" and cached it in {report.result.path}" if report.result.path else " (not cached)"))
    for path in report.paths:
        print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")
    print("seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in report.seconds.items()))
    from .training.tensorboard import TensorBoardWarning

    if any(issubclass(category, TensorBoardWarning) for category in _WARNED):
        print("vae-course: error: the figures were written, but the TensorBoard run is incomplete (see the warning "
              "above)", file=sys.stderr)
        return EXIT_FAILED
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``vae-course``."""
    parser = _Parser(prog="vae-course", description="Run the course notebooks or regenerate the README figures.")
    parser.add_argument("--traceback", action="store_true", help="on failure, show the full Python traceback")
    traceback_too = _Parser(add_help=False)   # so that --traceback also works after the subcommand
    traceback_too.add_argument("--traceback", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    mode_help = f"full (what readers see) or smoke (tiny); default: ${MODE_ENV}, else full"
    run = sub.add_parser("run-notebooks", parents=[traceback_too], help="execute the course notebooks and save them with their outputs")
    run.add_argument("notebooks", nargs="*", help="notebooks to run (default: all of notebooks/NN_*.ipynb)")
    run.add_argument("--mode", choices=MODES, default=None, help=mode_help)
    run.add_argument("--timeout", type=_int_type(1), default=None, help="seconds allowed per cell (default: none)")
    run.set_defaults(func=_run_notebooks)

    from .data.datasets import DATASETS
    from .core.settings import PLOTS_EPOCHS

    plots = sub.add_parser("plots", parents=[traceback_too], help="train (or load from the cache) a VAE and regenerate the README figures")
    plots.add_argument("--dataset", choices=DATASETS, default="fashion_mnist")
    plots.add_argument("--latent-dim", type=_int_type(2, MAX_LATENT_DIM), default=16,
                       help="latent dimensions, at least 2 (2 plots the latent directly, more go through t-SNE)")
    plots.add_argument("--epochs", type=_int_type(1, MAX_EPOCHS), default=PLOTS_EPOCHS, help="epochs in full mode (smoke mode caps them)")
    plots.add_argument("--beta", type=_beta, default=1.0, help="weight of the KL term (finite, >= 0)")
    plots.add_argument("--seed", type=_int_type(0, MAX_SEED), default=42)
    plots.add_argument("--batch-size", type=_int_type(1, MAX_BATCH_SIZE), default=None, metavar="N",
                       help="images per training step (default 128); with --strategy it must split evenly between the "
                            "replicas, and the default is rounded to the nearest multiple of them (3 replicas: 129)")
    plots.add_argument("--out", default=None,
                       help="output folder (default: the repository's plots/ in full mode, a temporary folder in smoke mode)")
    plots.add_argument("--mode", choices=MODES, default=None, help=mode_help)
    plots.add_argument("--retrain", action="store_true", help="train again even if the model is cached")
    plots.add_argument("--tensorboard", metavar="DIR", default=None,
                       help="also write a TensorBoard run into DIR: the three losses and decoded prior samples per epoch")
    plots.add_argument("--strategy", choices=STRATEGIES, default=None,
                       help="train with tf.distribute: mirrored (every GPU of this machine) or multi-worker "
                            "(several machines, described by $TF_CONFIG); default: one device")
    plots.add_argument("--logical-cpus", type=_int_type(2, MAX_LOGICAL_CPUS), default=None, metavar="N",
                       help="with --strategy mirrored: split the CPU into N logical devices (to try it without GPUs)")
    plots.add_argument("--cluster-timeout", type=_int_type(1, MAX_CLUSTER_TIMEOUT_S), default=None, metavar="SECONDS",
                       help=f"with --strategy multi-worker: how long to wait for every worker in $TF_CONFIG to answer "
                            f"(default {CLUSTER_TIMEOUT_S})")
    plots.set_defaults(func=_plots)
    return parser


def _one_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    return " ".join(lines) if lines else type(exc).__name__


class _PipeSafe:
    """``sys.stdout`` that goes quiet once its reader has gone (``vae-course plots | head -1``): the work goes on."""

    def __init__(self, stream):
        self.stream, self.closed_pipe = stream, False

    def write(self, text):
        if not self.closed_pipe:
            try:
                return self.stream.write(text)
            except BrokenPipeError:
                self._close()
        return len(text)

    def flush(self):
        if not self.closed_pipe:
            try:
                self.stream.flush()
            except BrokenPipeError:
                self._close()

    def _close(self):
        self.closed_pipe = True
        try:  # Python's own flush at exit must not fail either
            os.dup2(os.open(os.devnull, os.O_WRONLY), self.stream.fileno())
        except (OSError, ValueError):
            pass

    def __getattr__(self, name):
        return getattr(self.stream, name)


_WARNED: list[type[Warning]] = []  # the categories of the warnings shown during this run


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    _WARNED.append(category)
    print(f"vae-course: warning: {_one_line(message) if isinstance(message, Exception) else message}",
          file=sys.stderr, flush=True)


_INTERRUPTED = []  # set when SIGINT or SIGTERM arrived: whatever error follows is the interruption's


def _interrupt(signum, frame):
    _INTERRUPTED.append(signum)
    if "vae_helpers.notebook" in sys.modules:
        sys.modules["vae_helpers.notebook"].KERNEL_STOPPING.set()
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``vae-course`` console script."""
    import signal

    if not isinstance(sys.stdout, _PipeSafe):
        sys.stdout = _PipeSafe(sys.stdout)
    _INTERRUPTED.clear()
    _WARNED.clear()
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            signal.signal(signum, _interrupt)
        except ValueError:  # not the main thread (a test calling main from another thread)
            pass
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with warnings.catch_warnings():   # one line each, as the errors are
            warnings.showwarning = _show_warning
            return args.func(args)
    except UsageError as exc:
        if args.traceback:
            raise
        print(f"vae-course: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("vae-course: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # one line for the user; --traceback for the developer
        if _INTERRUPTED:  # an error raised while stopping (nbclient's clean-up, for example)
            print("vae-course: interrupted", file=sys.stderr)
            return EXIT_INTERRUPTED
        if args.traceback:
            raise
        message = _one_line(exc) if isinstance(exc, RuntimeError) else f"{type(exc).__name__}: {_one_line(exc)}"
        print(f"vae-course: error: {message} (run with --traceback for details)", file=sys.stderr)
        return EXIT_FAILED
    except BaseException:  # asyncio's CancelledError, when an interruption reached nbclient's event loop
        if not _INTERRUPTED:
            raise
        print("vae-course: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    raise SystemExit(main())
