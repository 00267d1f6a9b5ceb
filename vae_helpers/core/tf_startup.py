"""Start TensorFlow without its C++ start-up log lines, keeping every other line of stderr.

Importing TensorFlow 2.21 on a machine without a GPU writes lines like these straight to the
process's stderr (file descriptor 2), before TensorFlow's logger is configured::

    WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
    I0000 00:00:1795346951.347236   23969 port.cc:153] oneDNN custom operations are on. ...
    I0000 00:00:1795346951.347763   23969 cudart_stub.cc:31] Could not find cuda drivers on your machine, ...
    I0000 00:00:1795346951.963934   23969 cpu_feature_guard.cc:227] This TensorFlow binary is optimized ...
    E0000 00:00:1795346967.625124   23969 cuda_platform.cc:52] failed call to cuInit: ... UNKNOWN ERROR (303)

A Jupyter kernel (JupyterLab, Notebook, VS Code) forwards file descriptor 2 to the notebook, so
learners see them as pink boxes. ``TF_CPP_MIN_LOG_LEVEL`` hides only some of them (the first
three come before the logger reads it), and hides real errors with them. So
:func:`import_tensorflow_quietly` captures file descriptor 2 while TensorFlow is imported and its
devices are listed (where the ``cuInit`` line comes from), drops the lines matched by
:data:`STARTUP_LINE`, and writes every other line back to ``sys.stderr``: anything unexpected
still shows. Set ``VAE_COURSE_TF_STARTUP_LOGS=1`` to see the lines anyway.

TensorFlow is imported only by the modules that need it, through this module:
``from .tf_startup import keras, tf`` starts it quietly on first use (a lazy module attribute),
so ``import vae_helpers``, the command line's ``--help`` and its option errors never load it.
A notebook starts it first with ``tf = import_tensorflow_quietly()``.

This module is also the one policy for TensorFlow's log lines in stored notebook outputs and in
nbval's comparison (:func:`vae_helpers.notebook.strip_tf_logs` uses :func:`drop_startup_lines`):
only the known start-up lines go; every other line, real ``E``/``F`` errors included, stays.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from types import ModuleType

__all__ = ["SHOW_ENV", "STARTUP_LINE", "drop_startup_lines", "filtered_stderr_fd", "import_tensorflow_quietly",
           "keras", "tf"]

SHOW_ENV = "VAE_COURSE_TF_STARTUP_LOGS"

_GLOG = r"[IWE]\d{4} [\d:.]+\s+\d+ "  # "I0000 00:00:1795346951.347236   23969 "
#: The start-up lines that are dropped, and only these (everything else on stderr is kept); plus one harmless
#: line of the graph optimizer that the codec's first call logs.
STARTUP_LINE = re.compile(
    r"^(?:WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    rf"|{_GLOG}port\.cc:\d+\] oneDNN custom operations are on\..*"
    rf"|{_GLOG}cudart_stub\.cc:\d+\] Could not find cuda drivers on your machine, GPU will not be used\."
    rf"|{_GLOG}cpu_feature_guard\.cc:\d+\] This TensorFlow binary is optimized to use available CPU instructions.*"
    r"|To enable the following instructions: .*rebuild TensorFlow with the appropriate compiler flags\."
    rf"|{_GLOG}cuda_(?:platform|executor|diagnostics)\.cc:\d+\] failed call to cuInit: .*"
    # not at start-up: the graph optimizer's note, when the codec first traces its float64 networks, that it fuses
    # no op of that type (vae_helpers.applications.compression wraps that first call in filtered_stderr_fd)
    rf"|{_GLOG}util\.cc:\d+\] Not handling type DT_DOUBLE)\r?$"
)


def _drop_lines(text: str, pattern: re.Pattern) -> str:
    """``text`` without the lines ``pattern`` matches (each without its line ending)."""
    return "".join(line for line in text.splitlines(keepends=True) if not pattern.match(line.rstrip("\n")))


def drop_startup_lines(text: str) -> str:
    """``text`` without the lines matched by :data:`STARTUP_LINE`."""
    return _drop_lines(text, STARTUP_LINE)


@contextlib.contextmanager
def filtered_stderr_fd(also: re.Pattern | None = None) -> Iterator[None]:
    """Capture file descriptor 2 for the block; then write back what :func:`drop_startup_lines` keeps.

    ``also`` drops the lines it matches too (a caller's own known lines, such as the profiler's).
    Does nothing when file descriptor 2 cannot be duplicated (no console, for example).
    """
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):
        yield
        return
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            kept = drop_startup_lines(capture.read().decode("utf-8", errors="replace"))
            if also is not None:
                kept = _drop_lines(kept, also)
            if kept:
                sys.stderr.write(kept)
                sys.stderr.flush()


def import_tensorflow_quietly() -> ModuleType:
    """Import TensorFlow (once) and list its devices, without the start-up lines of :data:`STARTUP_LINE`.

    If TensorFlow is already imported, or ``$VAE_COURSE_TF_STARTUP_LOGS`` is ``1``, nothing is filtered.
    """
    if "tensorflow" in sys.modules or os.environ.get(SHOW_ENV, "").strip() == "1":
        import tensorflow as tf

        return tf
    with filtered_stderr_fd():
        import tensorflow as tf

        tf.config.list_physical_devices()  # the cuInit line; logical devices can still be configured after this
    return tf


def __getattr__(name: str) -> ModuleType:
    """``tf`` and ``keras``, imported on first use through :func:`import_tensorflow_quietly`."""
    if name == "tf":
        return import_tensorflow_quietly()
    if name == "keras":
        import_tensorflow_quietly()
        import keras

        return keras
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
