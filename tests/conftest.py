"""Unit-test fixtures. The repository's root conftest.py already selects the smoke settings."""

import matplotlib

matplotlib.use("Agg")  # tests draw figures without a screen
