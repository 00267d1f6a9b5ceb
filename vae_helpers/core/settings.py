"""Run settings: one switch between the full course run and a tiny smoke run.

The switch is the environment variable ``VAE_COURSE_MODE`` (``full`` by default,
``smoke`` under pytest). Notebooks read their epochs and subset sizes from
:func:`get_settings` in their ``## 0. Parameters`` cell, and nowhere else.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from .checks import check_int

__all__ = ["MODES", "MODE_ENV", "PLOTS_EPOCHS", "RunSettings", "get_settings"]

MODE_ENV = "VAE_COURSE_MODE"
MODES = ("full", "smoke")
PLOTS_EPOCHS = 12  # epochs of the model behind the README figures (about 7 minutes on 2 CPU cores)


@dataclass(frozen=True)
class RunSettings:
    """What a run may spend: data subset sizes, an epoch cap and progress output.

    Args:
        mode: ``"full"`` (what readers see) or ``"smoke"`` (a test run).
        n_train: training images to use, or ``None`` for the whole split.
        n_test: test images to use, or ``None`` for the whole split.
        max_epochs: cap applied by :meth:`epochs`, or ``None`` for no cap.
        verbose: training output (1 = one line per epoch, 0 = quiet).
    """

    mode: str
    n_train: int | None
    n_test: int | None
    max_epochs: int | None
    verbose: int

    @property
    def is_smoke(self) -> bool:
        """Whether this is the tiny test run."""
        return self.mode == "smoke"

    def epochs(self, full: int, arg: str = "epochs") -> int:
        """Epochs to train: ``full`` in a full run, capped in a smoke run (``arg`` names it in errors)."""
        full = check_int(arg, full, 1)
        return full if self.max_epochs is None else min(full, self.max_epochs)


_PRESETS = {
    "full": RunSettings(mode="full", n_train=None, n_test=None, max_epochs=None, verbose=1),
    # 2048 training images, not fewer: with 512 for 2 epochs the 2-D VAE kept 0 of 2 latent dimensions
    # active and the 16-D one 1 of 16 (collapsed codes, blank t-SNE panels); with 2048, 2 of 2 and 15 of 16.
    "smoke": RunSettings(mode="smoke", n_train=2048, n_test=256, max_epochs=2, verbose=0),
}


def get_settings(mode: str | None = None) -> RunSettings:
    """Settings for ``mode``, or for ``$VAE_COURSE_MODE`` (default ``full``) when ``mode`` is None."""
    if mode is None:
        mode = os.environ.get(MODE_ENV, "").strip().lower() or "full"
        source = f"${MODE_ENV}"
    else:
        source = "mode"
    if mode not in _PRESETS:
        raise ValueError(
            f"`{source}` must be one of {', '.join(MODES)}. Received: {source}={mode!r}"
        )
    return _PRESETS[mode]
