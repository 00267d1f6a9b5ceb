"""The course as a learner runs it: JupyterLab in a real browser (``make browser-test``).

JupyterLab is started on 127.0.0.1 with a token, in a temporary folder holding copies of the
notebooks (JupyterLab autosaves; the committed notebooks are never touched, and this is checked).
Headless Chromium, driven by Playwright, opens each notebook in reading order, clears its
outputs, runs all cells in smoke mode (``$VAE_COURSE_MODE``, set by the root ``conftest.py``) and
fails on any error or stderr output on the page: a traceback, a warning, or a TensorFlow C++ log
line. The kernel gets the environment a learner has: no ``TF_CPP_MIN_LOG_LEVEL``. In notebook 03
it moves the latent explorer's slider and checks that the decoded image changes. Screenshots go
to ``browser-screenshots/`` (ignored by git).

Playwright comes from PyPI (``pip install -e .[browser]``); the browser is the system's
Chromium (``apt-get install chromium``), since ``playwright install`` downloads browsers.
Without Chromium the test is skipped with a message saying how to install it.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vae_helpers.core.tf_startup import STARTUP_LINE

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
SCREENSHOTS = ROOT / "browser-screenshots"
CHROMIUM_ENV = "VAE_COURSE_CHROMIUM"
RUN_TIMEOUT_S = 900          # per notebook, smoke mode
PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"   # the notebook in front (selectors never see another tab)
INSTALL_HINT = (f"install Chromium (Debian/Ubuntu: sudo apt-get install chromium) or set ${CHROMIUM_ENV} "
                "to a Chromium or Chrome executable")


def find_chromium() -> str | None:
    """``$VAE_COURSE_CHROMIUM``, else the first Chromium or Chrome on ``PATH``."""
    if os.environ.get(CHROMIUM_ENV):
        return os.environ[CHROMIUM_ENV]
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if shutil.which(name):
            return shutil.which(name)
    return None


sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed: pip install -e .[browser]")
CHROMIUM = find_chromium()
if CHROMIUM is None:
    pytest.skip(f"no Chromium found for the browser test: {INSTALL_HINT}", allow_module_level=True)


def _digests() -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in NOTEBOOKS}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _settings(folder: Path) -> None:
    """User settings of the test's JupyterLab: every cell in the page, no news pop-up."""
    files = {
        "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
        "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                              "checkForUpdates": False},
    }
    for name, content in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(json.dumps(content))


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server on copies of the notebooks: ``(base_url, token, folder)``."""
    before = _digests()
    work = tmp_path_factory.mktemp("lab")
    root = work / "notebooks"
    root.mkdir()
    for path in NOTEBOOKS:
        shutil.copy2(path, root / path.name)
    for sub in ("settings", "workspaces", "config", "runtime", "ipython"):
        (work / sub).mkdir()
    _settings(work / "settings")
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}   # what a learner's kernel gets
    env.update(JUPYTERLAB_SETTINGS_DIR=str(work / "settings"), JUPYTERLAB_WORKSPACES_DIR=str(work / "workspaces"),
               JUPYTER_CONFIG_DIR=str(work / "config"), JUPYTER_RUNTIME_DIR=str(work / "runtime"),
               IPYTHONDIR=str(work / "ipython"))
    port, token = _free_port(), secrets.token_hex(16)
    log = open(work / "jupyterlab.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}", "--ServerApp.open_browser=False",
         *(["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else [])],   # CI containers run as root
        env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5)
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail("JupyterLab did not start:\n" + (work / "jupyterlab.log").read_text()[-3000:])
            time.sleep(0.5)
    try:
        yield base, token, root
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
        assert _digests() == before, "the browser test modified a committed notebook"


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield chromium
        chromium.close()


def _wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {seconds} s waiting for: {what}")
        time.sleep(0.25)


def _menu(page, menu: str, item: str) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text=menu).first.click()
    page.locator(".lm-Menu-itemLabel", has_text=item).first.click()


def _shutdown_kernels(base: str, token: str) -> None:
    """Free the memory of the notebook's kernel before the next notebook starts its own."""
    with urllib.request.urlopen(f"{base}/api/sessions?token={token}") as response:
        sessions = json.load(response)
    for session in sessions:
        request = urllib.request.Request(f"{base}/api/sessions/{session['id']}?token={token}", method="DELETE")
        urllib.request.urlopen(request).close()


def _wait_until_run(page, n_code_cells: int, name: str) -> None:
    """Wait until every code cell shows an execution count and the kernel is idle."""
    deadline = time.monotonic() + RUN_TIMEOUT_S
    prompts = page.locator(f"{PANEL} .jp-CodeCell .jp-InputArea-prompt")
    last_shot = time.monotonic()
    while time.monotonic() < deadline:
        if time.monotonic() - last_shot > 20:   # where a slow run is, while it runs
            page.screenshot(path=SCREENSHOTS / f"{name}-running.png")
            (SCREENSHOTS / f"{name}-running.txt").write_text(repr(prompts.all_inner_texts()))
            last_shot = time.monotonic()
        texts = prompts.all_inner_texts()
        done = len(texts) == n_code_cells and all(t.strip().strip("[]:").isdigit() for t in texts)
        idle = page.locator(f"{PANEL} .jp-Notebook-ExecutionIndicator[data-status='idle']").count() > 0
        if done and idle:
            return
        if page.locator(f"{PANEL} .jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").count():
            return  # an error stops "Run All" at that cell: report it now
        time.sleep(1)
    pytest.fail(f"Run All did not finish within {RUN_TIMEOUT_S} s; prompts: {prompts.all_inner_texts()}")


def _problems(page) -> list[str]:
    """Text of every stderr or error output on the page."""
    outputs = page.locator(f"{PANEL} .jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    return [text.strip()[-2000:] for text in outputs.all_inner_texts()]


def _pixels(src: str) -> np.ndarray:
    """The grey levels of a ``data:image/png;base64,...`` image, without its top fifth (the title)."""
    image = np.asarray(Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).convert("L"), dtype=float)
    return image[image.shape[0] // 5:]


def _explorer_changes_the_image(page, name: str) -> float:
    """Move the first slider of notebook 03's latent explorer from 0 to 1; return how much the decoded image changed.

    The title (``z1=+1.0, ...``) changes whatever the model does, so only the image below it is compared.
    """
    explorer = page.locator(f"{PANEL} .jp-OutputArea-output .widget-interact").first
    explorer.scroll_into_view_if_needed()
    image = explorer.locator("img").first
    image.wait_for(timeout=60_000)
    before = image.get_attribute("src")
    explorer.screenshot(path=SCREENSHOTS / f"{name}-explorer-before.png")
    handle = explorer.locator(".widget-slider .noUi-handle, .widget-slider [role='slider']").first
    handle.focus()
    for _ in range(10):   # 10 steps of 0.1
        page.keyboard.press("ArrowRight")
    _wait_for(lambda: image.get_attribute("src") != before, 60, "the explorer to redraw")
    time.sleep(1)         # the last of the ten redraws
    explorer.screenshot(path=SCREENSHOTS / f"{name}-explorer-after.png")
    return float(np.abs(_pixels(image.get_attribute("src")) - _pixels(before)).mean())


@pytest.mark.parametrize("notebook", [p.name for p in NOTEBOOKS])
def test_run_all_in_jupyterlab_shows_no_error_and_no_stderr(lab, browser, notebook):
    base, token, root = lab
    SCREENSHOTS.mkdir(exist_ok=True)
    n_code_cells = sum(c["cell_type"] == "code" for c in json.loads((root / notebook).read_text())["cells"])
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page_errors: list[str] = []
    page.on("pageerror", lambda exc: page_errors.append(str(exc)))
    start = time.monotonic()
    try:
        page.goto(f"{base}/lab/tree/{notebook}?reset&token={token}")   # reset: no notebook left open before
        page.locator(f"{PANEL} .jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for(timeout=120_000)
        page.screenshot(path=SCREENSHOTS / f"{Path(notebook).stem}-opened.png")
        _menu(page, "Edit", "Clear Outputs of All Cells")
        _wait_for(lambda: page.locator(f"{PANEL} .jp-CodeCell .jp-OutputArea-output").count() == 0, 30, "outputs cleared")
        _menu(page, "Run", "Run All Cells")
        _wait_until_run(page, n_code_cells, Path(notebook).stem)
        seconds = time.monotonic() - start
        page.screenshot(path=SCREENSHOTS / f"{Path(notebook).stem}-run.png")
        problems = _problems(page)
        tf_lines = [line for text in problems for line in text.splitlines() if STARTUP_LINE.match(line)]
        assert not tf_lines, f"{notebook}: TensorFlow start-up lines reached the notebook:\n" + "\n".join(tf_lines)
        assert not problems, f"{notebook}: stderr or error output after Run All:\n" + "\n---\n".join(problems)
        assert page.locator(f"{PANEL} .jp-CodeCell .jp-OutputArea-output").count() > 0, "Run All produced no output at all"
        if notebook.startswith("03_"):
            change = _explorer_changes_the_image(page, Path(notebook).stem)
            print(f"explorer: moving z1 from 0 to 1 changed the decoded image by {change:.1f} grey levels on average")
            assert change > 1.0, f"moving the explorer's slider hardly changed the decoded image ({change:.2f} grey levels)"
        assert not page_errors, f"{notebook}: JavaScript errors in the page: {page_errors}"
        print(f"{notebook}: {n_code_cells} code cells run in {seconds:.0f} s, no stderr")
    finally:
        page.close()
        _shutdown_kernels(base, token)
