"""Running the course notebooks and showing helper code inside them.

TensorFlow writes C++ start-up lines straight to stderr when it is imported (timestamps, process
ids, CUDA probing). They say nothing about the lesson and differ between machines, so
:func:`strip_tf_logs` removes them from stored outputs and from nbval's comparison, with the one
policy of :mod:`vae_helpers.core.tf_startup`: the known start-up lines only, never a real error.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import io
import os
import re
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from .core.checks import check_int
from .core.settings import MODE_ENV, get_settings
from .core.tf_startup import drop_startup_lines

__all__ = ["NOTEBOOKS_DIR", "coalesce_progress", "execute_notebook", "format_table", "notebook_parameters",
           "refresh_shown_sources", "show_source", "strip_tf_logs"]

NOTEBOOKS_DIR = Path(__file__).resolve().parent.parent / "notebooks"


def strip_tf_logs(outputs: Iterable[dict]) -> list[dict]:
    """Drop TensorFlow's known start-up lines from stderr stream outputs; drop streams left empty."""
    kept = []
    for out in outputs:
        if out.get("output_type") == "stream" and out.get("name") == "stderr":
            text = drop_startup_lines(out["text"])
            if not text:
                continue
            out["text"] = text
        kept.append(out)
    return kept


_CR_OVERWRITTEN = re.compile(r"^.*\r(?=[^\n])", re.MULTILINE)


def coalesce_progress(outputs: list[dict]) -> list[dict]:
    """Merge consecutive stream outputs and keep only the last state of ``\\r``-updated lines."""
    merged: list[dict] = []
    for out in outputs:
        prev = merged[-1] if merged else None
        if (out.get("output_type") == "stream" and prev is not None
                and prev.get("output_type") == "stream" and prev.get("name") == out.get("name")):
            prev["text"] += out["text"]
        else:
            merged.append(out)
    for out in merged:
        if out.get("output_type") == "stream":
            text = out["text"]
            while True:  # a backspace cancels the character before it
                new = re.sub(r"[^\n\x08]\x08", "", text)
                if new == text:
                    break
                text = new
            out["text"] = _CR_OVERWRITTEN.sub("", text.replace("\r\n", "\n"))
    return merged


def execute_notebook(path: str | Path, mode: str = "full", timeout: int | None = None) -> float:
    """Execute the notebook at ``path`` top to bottom in ``mode`` and save it with its outputs.

    Returns the wall time in seconds. Outputs are cleaned with :func:`coalesce_progress` and
    :func:`strip_tf_logs`; nothing else is changed.
    """
    import nbformat

    get_settings(mode)  # validates `mode`
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"`path` must be an existing notebook. Received: path={str(path)!r}")
    before = _fingerprint(path)
    nb = nbformat.read(path, as_version=4)
    old_env = {k: os.environ.get(k) for k in (MODE_ENV, "TF_CPP_MIN_LOG_LEVEL")}
    os.environ[MODE_ENV] = mode  # inherited by the kernel
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    start = time.perf_counter()
    try:
        _run_kernel(nb, path.parent, timeout)
    finally:
        for key, value in old_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    elapsed = time.perf_counter() - start
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [nbformat.from_dict(o) for o in strip_tf_logs(coalesce_progress(cell.outputs))]
    from .core.files import write_bytes_atomic

    if _fingerprint(path) != before:  # saved from JupyterLab while it ran: the learner's edit wins
        copy = path.with_name(f"{path.stem}.executed.ipynb")
        write_bytes_atomic(copy, nbformat.writes(nb).encode() + b"\n", arg="path")
        raise RuntimeError(f"{path.name} was changed on disk while it ran (saved from an editor?): it was left as "
                           f"it is, and the executed copy was written to {copy}")
    write_bytes_atomic(path, nbformat.writes(nb).encode() + b"\n", arg="path")
    return elapsed


def _run_kernel(nb, folder: Path, timeout: int | None) -> None:
    """Execute ``nb`` in a fresh kernel started in ``folder``; Ctrl-C or SIGTERM comes out as KeyboardInterrupt."""
    from nbclient import NotebookClient

    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(folder)}})
    with _kernel_stderr_filtered() as stderr:
        try:
            client.execute(stderr=stderr)
        except AssertionError:
            if client.km is None:  # nbclient stopped the kernel on Ctrl-C or SIGTERM, then failed its own clean-up
                raise KeyboardInterrupt from None
            raise
        except asyncio.CancelledError:  # Ctrl-C or SIGTERM while the kernel was starting
            raise KeyboardInterrupt from None


def _fingerprint(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_mtime_ns, stat.st_size


KERNEL_STOPPING = threading.Event()  # set on Ctrl-C or SIGTERM: the kernel's tracebacks while it stops are noise
_KERNEL_NOISE = re.compile(r"Kernel is running over TCP without encryption")
_HANDLER_ERROR = re.compile(r"^\[IPKernelApp\] ERROR \| Exception in message handler:")


@contextlib.contextmanager
def _kernel_stderr_filtered():
    """A pipe for the kernel's stderr that forwards every line but ipykernel's TCP warning (a local kernel)."""
    import sys

    read_fd, write_fd = os.pipe()

    def emit(text):
        sys.stderr.write(text)
        sys.stderr.flush()

    def forward():
        block: list[str] = []  # an "Exception in message handler" report, held until its last line
        with os.fdopen(read_fd, "r", errors="replace") as lines:
            for line in lines:
                if KERNEL_STOPPING.is_set():
                    continue
                if block:
                    block.append(line)
                    if not line.startswith((" ", "Traceback", "\t")):  # the report's last line: the exception
                        if not line.startswith("zmq.error."):  # a closed socket after a timeout: noise
                            emit("".join(block))
                        block = []
                elif _HANDLER_ERROR.search(line):
                    block = [line]
                elif not _KERNEL_NOISE.search(line):
                    emit(line)
            if block:
                emit("".join(block))

    thread = threading.Thread(target=forward, daemon=True)
    thread.start()
    try:
        yield write_fd
    finally:
        os.close(write_fd)
        thread.join(timeout=5)


def _is_shown_source(cell) -> bool:
    return cell.cell_type == "code" and "show_source(" in cell.source


def refresh_shown_sources(path: str | Path, timeout: int | None = 600) -> list[int]:
    """Re-execute only the cells of ``path`` that display helper source, after its Parameters cell; save.

    For a change to helper code that alters no result: the cells calling :func:`show_source` get
    the source as it is now, every other output is kept from the notebook's last full run. The
    Parameters cell (the first code cell) runs first, unsaved, for the imports. Returns the indices
    of the refreshed cells. Use :func:`execute_notebook` whenever a result may have changed.
    """
    import nbformat

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"`path` must be an existing notebook. Received: path={str(path)!r}")
    nb = nbformat.read(path, as_version=4)
    code = [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"]
    shown = [i for i in code if _is_shown_source(nb.cells[i])]
    if not code or not shown:
        return []
    runner = nbformat.v4.new_notebook(metadata=nb.metadata)
    runner.cells = [nbformat.from_dict(dict(nb.cells[i])) for i in [code[0], *shown]]
    _run_kernel(runner, path.parent, timeout)
    for i, cell in zip(shown, runner.cells[1:]):
        nb.cells[i].outputs = [nbformat.from_dict(o) for o in strip_tf_logs(coalesce_progress(cell.outputs))]
    nbformat.write(nb, path)
    return shown


def show_source(obj: object) -> None:
    """Display the real source code of a helper (function, class or module) as a code block."""
    from IPython.display import Markdown, display

    try:
        source = inspect.getsource(obj)
    except (TypeError, OSError) as exc:
        raise TypeError(f"`obj` must be a function, class or module defined in Python source. "
                        f"Received: obj={obj!r}") from exc
    display(Markdown(f"```python\n{source.rstrip()}\n```"))


def format_table(rows: Sequence[Sequence[object]], headers: Sequence[str], digits: int = 3) -> str:
    """A plain-text table (Markdown pipes) of ``rows`` under ``headers``; floats with ``digits`` decimals."""
    if any(len(row) != len(headers) for row in rows):
        raise ValueError(f"every row of `rows` must have {len(headers)} cells, one per header. "
                         f"Received row lengths {sorted({len(row) for row in rows})}")
    digits = check_int("digits", digits, 0)

    def cell(value) -> str:
        if isinstance(value, (float, np.floating)):
            return f"{value:.{digits}f}"
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            return f"{value:,}"
        return str(value)

    table = [list(map(str, headers))] + [[cell(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(headers))]
    lines = ["| " + " | ".join(v.rjust(w) for v, w in zip(r, widths)) + " |" for r in table]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def notebook_parameters(name: str, mode: str = "full") -> dict:
    """The names that notebook ``name``'s Parameters cell (its first code cell) defines, run in ``mode``.

    How a benchmark takes a notebook's settings (its ``TrainConfig`` and sizes) without copying them:
    the notebook stays their one home, and both train the same cached model.

    Args:
        name: a notebook file name in ``notebooks/`` (``"02_vae.ipynb"``) or a path.
        mode: ``"full"`` or ``"smoke"`` (``$VAE_COURSE_MODE`` while the cell runs).
    """
    import nbformat

    from .core.settings import MODES

    if mode not in MODES:
        raise ValueError(f"`mode` must be one of {', '.join(MODES)}. Received: mode={mode!r}")
    path = Path(name) if Path(name).is_file() else NOTEBOOKS_DIR / str(name)
    if not path.is_file():
        raise FileNotFoundError(f"`name` must be a notebook in {NOTEBOOKS_DIR} or a path. Received: name={name!r}")
    cell = next((c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"), None)
    if cell is None:
        raise ValueError(f"`name` must be a notebook with a Parameters cell; {path.name} has no code cell")
    namespace: dict = {}
    before = os.environ.get(MODE_ENV)
    os.environ[MODE_ENV] = mode
    try:
        with contextlib.redirect_stdout(io.StringIO()):   # what the cell prints is for the notebook's reader
            exec(compile(cell.source, f"{path.name} (Parameters cell)", "exec"), namespace)  # noqa: S102 - the course's own notebook
    finally:
        if before is None:
            os.environ.pop(MODE_ENV, None)
        else:
            os.environ[MODE_ENV] = before
    return namespace
