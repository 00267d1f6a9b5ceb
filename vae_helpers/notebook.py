"""Running the course notebooks and showing helper code inside them.

TensorFlow writes C++ log lines straight to stderr when it is imported (timestamps, process
ids, CUDA probing). They say nothing about the lesson and differ between machines, so
:func:`strip_tf_logs` removes them from stored outputs and from nbval's comparison.
"""

from __future__ import annotations

import inspect
import os
import re
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from .checks import check_int
from .settings import MODE_ENV, get_settings

NOTEBOOKS_DIR = Path(__file__).resolve().parent.parent / "notebooks"

# absl/glog format: "I0000 00:00:1795265292.083713    2309 port.cc:153] message"
_TF_LOG_LINE = re.compile(
    r"^(?:[IWEF]\d{4} [\d:.]+\s+\d+ [\w./-]+:\d+\] .*"
    r"|WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|To enable the following instructions: .*rebuild TensorFlow with the appropriate compiler flags\.)$"
)


def strip_tf_log_lines(text: str) -> str:
    """Remove TensorFlow's C++ log lines from a block of stderr text."""
    return "".join(line for line in text.splitlines(keepends=True) if not _TF_LOG_LINE.match(line.rstrip("\n")))


def strip_tf_logs(outputs: Iterable[dict]) -> list[dict]:
    """Drop TensorFlow's C++ log lines from stderr stream outputs; drop streams left empty."""
    kept = []
    for out in outputs:
        if out.get("output_type") == "stream" and out.get("name") == "stderr":
            text = strip_tf_log_lines(out["text"])
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
    from nbclient import NotebookClient

    get_settings(mode)  # validates `mode`
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"`path` must be an existing notebook. Received: path={str(path)!r}")
    nb = nbformat.read(path, as_version=4)
    old_env = {k: os.environ.get(k) for k in (MODE_ENV, "TF_CPP_MIN_LOG_LEVEL")}
    os.environ[MODE_ENV] = mode  # inherited by the kernel
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    start = time.perf_counter()
    try:
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                resources={"metadata": {"path": str(path.parent)}})
        client.execute()
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
    nbformat.write(nb, path)
    return elapsed


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
