import numpy as np
import pytest

from vae_helpers.core.settings import MODE_ENV, get_settings


def test_pytest_runs_in_smoke_mode():
    # The root conftest.py sets $VAE_COURSE_MODE before any test or kernel starts.
    settings = get_settings()
    assert settings.mode == "smoke" and settings.is_smoke
    assert settings.n_train <= 2048 and settings.epochs(30) <= 2


def test_full_mode_is_the_default(monkeypatch):
    monkeypatch.delenv(MODE_ENV, raising=False)
    settings = get_settings()
    assert settings.mode == "full" and settings.n_train is None and settings.epochs(30) == 30


@pytest.mark.parametrize("value", ["SMOKE", " smoke "])
def test_mode_is_read_case_and_space_insensitively(monkeypatch, value):
    monkeypatch.setenv(MODE_ENV, value)
    assert get_settings().mode == "smoke"


def test_epochs_is_capped_only_in_smoke():
    assert get_settings("smoke").epochs(1) == 1
    assert get_settings("smoke").epochs(10) == 2
    assert get_settings("full").epochs(10) == 10


def test_unknown_mode_names_the_variable_and_the_choices(monkeypatch):
    monkeypatch.setenv(MODE_ENV, "fast")
    with pytest.raises(ValueError, match=r"VAE_COURSE_MODE.*full, smoke.*'fast'"):
        get_settings()
    with pytest.raises(ValueError, match=r"`mode` must be one of full, smoke. Received: mode='x'"):
        get_settings("x")


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_epochs_rejects_non_positive_integers(bad):
    with pytest.raises(ValueError, match="`epochs` must be a positive integer. Received: epochs="):
        get_settings("full").epochs(bad)


def test_epochs_accepts_numpy_integers_and_names_the_caller_argument():
    assert get_settings("smoke").epochs(np.int64(5)) == 2
    with pytest.raises(ValueError, match="`BETA_EPOCHS` must be"):
        get_settings("full").epochs(0, arg="BETA_EPOCHS")
