"""The guards behind a quiet, honest smoke run: TensorFlow's start-up lines filtered, NaN and collapse caught."""

import dataclasses
import os
import subprocess
import sys

import numpy as np
import pytest

from vae_helpers.viz import latent_space as latent
from vae_helpers.core.checks import assert_finite_spread
from vae_helpers.viz.figures import DIGITS_TRAIN, plots_config
from vae_helpers.core.settings import get_settings
from vae_helpers.core.tf_startup import SHOW_ENV, drop_startup_lines, filtered_stderr_fd

# Lines TensorFlow 2.21 printed when imported on this machine (no GPU).
STARTUP = """\
WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
I0000 00:00:1795346951.347236   23969 port.cc:153] oneDNN custom operations are on. You may see slightly different numerical results due to floating-point round-off errors from different computation orders. To turn them off, set the environment variable `TF_ENABLE_ONEDNN_OPTS=0`.
I0000 00:00:1795346951.347763   23969 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will not be used.
I0000 00:00:1795346951.963934   23969 cpu_feature_guard.cc:227] This TensorFlow binary is optimized to use available CPU instructions in performance-critical operations.
To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild TensorFlow with the appropriate compiler flags.
E0000 00:00:1795346967.625124   23969 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)
"""


def test_startup_lines_are_dropped_and_other_lines_kept():
    real_error = "E0000 00:00:1795346967.625124   23969 op_kernel.cc:1840] OP_REQUIRES failed: out of memory\n"
    assert drop_startup_lines(STARTUP) == ""
    assert drop_startup_lines(STARTUP + real_error + "Traceback (most recent call last):\n") == \
        real_error + "Traceback (most recent call last):\n"


def _run(code: str, **env) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", SHOW_ENV)}
    return subprocess.run([sys.executable, "-c", code], env={**clean, **env}, capture_output=True, text=True,
                          timeout=300, check=True)


def test_importing_vae_helpers_starts_tensorflow_without_its_log_lines():
    code = ("from vae_helpers.core.tf_startup import import_tensorflow_quietly\n"
            "tf = import_tensorflow_quietly()\n"   # the notebooks' first line
            "import keras, numpy as np\n"
            "keras.utils.set_random_seed(0)\n"
            "print(float(keras.ops.sum(keras.random.normal((4,)) * 0 + 1)))\n")
    quiet = _run(code)
    assert quiet.stdout.strip() == "4.0"
    assert quiet.stderr == "", quiet.stderr
    shown = _run(code, **{SHOW_ENV: "1"})   # the same run with the filter off: the lines are really there
    assert "cpu_feature_guard" in shown.stderr or "absl::InitializeLog" in shown.stderr, shown.stderr
    assert drop_startup_lines(shown.stderr) == "", drop_startup_lines(shown.stderr)


def test_filter_keeps_what_is_not_a_start_up_line():
    code = ("import os, sys\n"
            "from vae_helpers.core.tf_startup import filtered_stderr_fd\n"
            "with filtered_stderr_fd():\n"
            "    os.write(2, b'W0000 00:00:1.0   1 cpu_feature_guard.cc:1] This TensorFlow binary is optimized to use available CPU instructions x\\n')\n"
            "    os.write(2, b'a real problem\\n')\n"
            "print('done', file=sys.stderr)\n")
    assert _run(code).stderr == "a real problem\ndone\n"


def test_filtered_stderr_fd_restores_file_descriptor_2(capfd):
    with filtered_stderr_fd():
        os.write(2, b"kept line\n")
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "kept line\nafter\n"


def test_filtered_stderr_fd_also_drops_the_callers_own_lines(capfd):
    import re

    with filtered_stderr_fd(also=re.compile(r"^I0000 .* profiler_session\.cc:\d+\] .*$")):
        os.write(2, b"I0000 00:00:1.0   7 profiler_session.cc:117] Profiler session initializing.\n")
        os.write(2, b"I0000 00:00:1.0   7 other.cc:1] kept\n")
    assert capfd.readouterr().err == "I0000 00:00:1.0   7 other.cc:1] kept\n"


@pytest.mark.filterwarnings("ignore::RuntimeWarning")      # openTSNE and PCA divide by a zero spread
def test_guard_catches_the_nan_that_assert_array_equal_lets_through():
    collapsed = np.zeros((100, 16), dtype="float32")       # every test image encoded to the same code
    layout = latent.tsne_2d(collapsed, seed=0)              # openTSNE divides by a zero spread
    np.testing.assert_array_equal(layout, latent.tsne_2d(collapsed, seed=0))   # passes: NaN == NaN here
    with pytest.raises(AssertionError, match=r"t-SNE layout: 200 of 200 values are NaN or infinite"):
        assert_finite_spread("t-SNE layout", layout, axis=0)
    with pytest.raises(AssertionError, match=r"codes: standard deviation 0 <= 0 in 16 of 16 columns"):
        assert_finite_spread("codes", collapsed, axis=0)


def test_guard_accepts_spread_values_and_names_a_collapsed_column():
    rng = np.random.default_rng(0)
    codes = rng.standard_normal((50, 3))
    assert assert_finite_spread("codes", codes, axis=0).shape == (50, 3)
    codes[:, 1] = 0.5
    with pytest.raises(AssertionError, match=r"1 of 3 columns \(first: column 1\)"):
        assert_finite_spread("codes", codes, axis=0)
    with pytest.raises(AssertionError, match="std|deviation"):
        assert_finite_spread("image", np.full((28, 28), 0.5))
    with pytest.raises(AssertionError, match="no values"):
        assert_finite_spread("empty", [])
    with pytest.raises(AssertionError, match="1 of 2 values"):
        assert_finite_spread("losses", [1.0, np.inf])


def test_smoke_models_are_not_collapsed():
    """The smoke setting trains on enough images that the course's 2-D and 16-D VAEs use their latent space."""
    from vae_helpers.measures import diagnostics
    from vae_helpers.data.datasets import load_dataset
    from vae_helpers.training.trainer import train_vae

    smoke = get_settings("smoke")
    config = plots_config(smoke)
    assert config.n_train == smoke.n_train == 2048 and config.latent_dim == 16
    assert plots_config(smoke, dataset="digits").n_train == DIGITS_TRAIN      # all of its training split
    assert plots_config(get_settings("full")).n_train is None
    for latent_dim, at_least in ((2, 2), (16, 8)):
        model = dataclasses.replace(config, latent_dim=latent_dim, snapshot_images=0, snapshot_samples=0)
        ds = load_dataset(model.dataset, n_train=model.n_train, n_test=model.n_test, seed=model.seed)
        z_mean, _ = train_vae(model, verbose=0).vae.encode(ds.x_test)
        n_active, _ = diagnostics.active_dimensions(z_mean)
        assert n_active >= at_least, f"{latent_dim}-D smoke model: {n_active} active dimensions"
