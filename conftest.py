"""pytest set-up shared by the unit tests and ``pytest --nbval notebooks/``.

- Runs in the smoke settings (tiny data, 1-2 epochs) unless VAE_COURSE_MODE is already set.
- Is hermetic: the run gets its own, empty model cache (VAE_COURSE_CACHE, inherited by nbval's
  kernels and by the CLI subprocesses), removed at the end, so nothing is read from or written to
  the user's ~/.cache. Set VAE_COURSE_TEST_CACHE to a folder to keep that cache between runs.
  It also gets its own KERAS_HOME, whose datasets/ links to the dataset files of $KERAS_HOME (or
  ~/.keras) so that nothing is downloaded again.
- Keeps TensorFlow's C++ log lines out of the comparison: TF_CPP_MIN_LOG_LEVEL silences most,
  and the lines TF prints before its logger starts are filtered from nbval's stderr streams.
- Sanitizes memory addresses and similar run-to-run noise (notebooks/nbval_sanitize.cfg).
"""

import atexit
import os
import shutil
import tempfile
from pathlib import Path

# Set before any kernel or TensorFlow starts: both the tests and nbval's kernels inherit them.
os.environ.setdefault("VAE_COURSE_MODE", "smoke")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _own_model_cache() -> str:
    """An empty model cache for this run (or ``$VAE_COURSE_TEST_CACHE``, kept between runs)."""
    if os.environ.get("VAE_COURSE_TEST_CACHE"):
        return os.environ["VAE_COURSE_TEST_CACHE"]
    cache = tempfile.mkdtemp(prefix="vae-course-test-cache-")
    atexit.register(shutil.rmtree, cache, ignore_errors=True)
    return cache


def _own_keras_home() -> str:
    """A Keras home for this run only, whose datasets/ links to the files of the one Keras would use otherwise.

    Nothing else is shared with the user's Keras home (its keras.json, models, other caches), and
    nothing the run writes stays behind.
    """
    source = Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras") / "datasets"
    home = Path(tempfile.mkdtemp(prefix="vae-course-test-keras-"))
    (home / "datasets").mkdir()
    if source.is_dir():
        for entry in source.iterdir():
            (home / "datasets" / entry.name).symlink_to(entry.resolve())
    atexit.register(shutil.rmtree, home, ignore_errors=True)
    return str(home)


# pytest-xdist's workers inherit the environment of the process that starts them: they share its model
# cache and Keras home (a model one worker trained, the other loads), and only that process removes them.
_SET_UP = "VAE_COURSE_TEST_RUN"
if not os.environ.get(_SET_UP):
    os.environ[_SET_UP] = "1"
    os.environ["VAE_COURSE_CACHE"] = _own_model_cache()
    os.environ["KERAS_HOME"] = _own_keras_home()

SANITIZE_FILE = Path(__file__).parent / "notebooks" / "nbval_sanitize.cfg"


def pytest_configure(config):
    if hasattr(config.option, "nbval_sanitize_with") and not config.option.nbval_sanitize_with:
        config.option.nbval_sanitize_with = str(SANITIZE_FILE)
    try:
        from nbval.plugin import IPyNbCell
    except ImportError:  # nbval not installed: plain unit tests
        return
    from vae_helpers.notebook import strip_tf_logs

    if getattr(IPyNbCell.compare_outputs, "_strips_tf_logs", False):
        return
    original = IPyNbCell.compare_outputs

    def compare_outputs(self, test, ref, skip_compare=None):
        return original(self, strip_tf_logs(test), strip_tf_logs(ref), skip_compare)

    compare_outputs._strips_tf_logs = True
    IPyNbCell.compare_outputs = compare_outputs
