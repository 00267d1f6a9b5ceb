# Two commands do all the set-up (see README.md):
#   make        the main job: create/reuse .venv, install the course, regenerate plots/ (vae-course plots)
#   make test   create/reuse .venv, install the course with its test extras, run all tests
# Also: make notebooks (re-execute every notebook with the full settings), make lab, make benchmarks,
#       make browser-test (JupyterLab in headless Chromium; needs: apt-get install chromium).
# Both create the virtual environment in $(VENV) with $(PYTHON) (3.10-3.13) on first use.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP_FLAGS ?= --disable-pip-version-check --quiet

.PHONY: all plots notebooks test unit nbval browser-test lab benchmarks clean-venv

all: plots

plots: $(VENV)/.installed-lab
	$(BIN)/vae-course plots

$(BIN)/python:
	@$(PYTHON) -c 'import sys; v = sys.version_info[:2]; sys.exit(0 if (3, 10) <= v <= (3, 13) else "Python 3.10-3.13 is required (TensorFlow wheels); found %d.%d. Run: make PYTHON=python3.12" % v)'
	@$(PYTHON) -m venv $(VENV) || { echo "Could not create $(VENV). On Debian/Ubuntu: sudo apt-get install python3-venv"; exit 1; }
	$(BIN)/python -m pip install $(PIP_FLAGS) --upgrade pip

# Reinstall only when pyproject.toml changes (the package itself is installed in editable mode).
$(VENV)/.installed-%: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install $(PIP_FLAGS) -e ".[$*]"
	@touch $@

notebooks: $(VENV)/.installed-lab
	$(BIN)/vae-course run-notebooks --mode full

# Two workers by default, each taking whole files (a notebook's cells run in order in one kernel); TEST_WORKERS=0: one process.
TEST_WORKERS ?= 2

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest tests --nbval notebooks/ --durations=20 -n $(TEST_WORKERS) --dist loadfile

# JupyterLab in headless Chromium: Run All on copies of every notebook (smoke mode), no stderr allowed,
# the explorer's slider moved; screenshots in browser-screenshots/. Needs Chromium: apt-get install chromium.
browser-test: $(VENV)/.installed-browser
	$(BIN)/python -m pytest tests_browser -s

unit: $(VENV)/.installed-test
	$(BIN)/python -m pytest tests

nbval: $(VENV)/.installed-test
	$(BIN)/python -m pytest --nbval notebooks/

benchmarks: $(VENV)/.installed-test
	$(BIN)/python benchmarks/cpu_levers.py
	$(BIN)/python benchmarks/vae_vs_keras_example.py
	$(BIN)/python benchmarks/training_step_profile.py
	$(BIN)/python benchmarks/plots_pipeline.py
	$(BIN)/python benchmarks/cli_startup.py

lab: $(VENV)/.installed-lab
	$(BIN)/jupyter lab notebooks/

clean-venv:
	rm -rf $(VENV)
