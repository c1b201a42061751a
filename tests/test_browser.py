"""The widgets in a real browser: JupyterLab driven by Debian's Chromium through Playwright.

The test starts `jupyter lab` on 127.0.0.1 (a free port, a random token, the
repository as its root), opens notebooks/09_play_with_it.ipynb, runs all cells,
then uses the widgets as a student would:
  * checks that no probability row scrolls (scrollHeight <= clientHeight) and that
    Tab walks the controls without stopping on the rows;
  * checks the accessible names Chromium computes: the slider's handle, the pictures'
    alt texts, the pressed state of the mistakes toggle, the previous/next buttons;
  * focuses the digit slider and presses the right arrow key: the slider moves
    to the next test image and the prediction text changes to that image's digit;
  * switches on "only the mistakes": the slider shows a misclassified digit, and
    its number box and its text count the mistakes alike, from 1;
  * clears the drawing pad, draws a "1" with the mouse: a prediction appears, each
    step is labelled with its size; then a dot: the pad says it is not a digit.
Screenshots go to test-artifacts/ (git-ignored); notebooks/screenshots/ are copies of
browser_digit_slider_mistakes.png and browser_drawing_pad.png.

Requirements: `apt-get install chromium` (Debian's build, at /usr/bin/chromium) and
`pip install playwright`. Playwright's own browser download is never used. When
either is missing the test FAILS (it does not skip): the widgets must be tested.
"""
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

import scratchcnn

REPO = Path(__file__).resolve().parent.parent
NOTEBOOK = "notebooks/09_play_with_it.ipynb"
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

# JupyterLab settings for an unattended run: no autosave (the committed notebook must
# stay as it is), no update check or news (no network), and every cell in the page
# (by default JupyterLab only renders the cells near the visible part of a notebook).
LAB_SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"checkForUpdates": False,
                                                                        "fetchNews": "false"},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def jupyter_lab(tmp_path_factory):
    """A JupyterLab server for this module: yields its base URL and token."""
    home = tmp_path_factory.mktemp("jupyter")
    for name, settings in LAB_SETTINGS.items():
        path = home / "settings" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(settings))
    port, token = free_port(), secrets.token_hex(16)
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(home / "runtime"), JUPYTER_CONFIG_DIR=str(home / "config"),
               JUPYTER_DATA_DIR=str(home / "data"))   # no user-level kernels or settings interfere
    env.pop("MPLBACKEND", None)           # the kernel should draw inline, as for a student
    command = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root",
               "--LabApp.extension_manager=readonly",              # no look-ups on PyPI
               "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
               f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={REPO}",
               f"--LabApp.user_settings_dir={home / 'settings'}",
               f"--LabApp.workspaces_dir={home / 'workspaces'}"]
    log = open(home / "jupyter-lab.log", "w")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    notebook_before = (REPO / NOTEBOOK).read_bytes()
    checkpoints = (REPO / NOTEBOOK).parent / ".ipynb_checkpoints"     # JupyterLab makes one on opening
    checkpoints_before = checkpoints.exists()
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base_url}/api/status?token={token}", timeout=2):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    pytest.fail("jupyter lab did not start:\n" + (home / "jupyter-lab.log").read_text()[-3000:])
                time.sleep(0.3)
        yield base_url, token
    finally:
        server.send_signal(signal.SIGTERM)          # jupyter shuts its kernels down on SIGTERM
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()
        if not checkpoints_before:
            shutil.rmtree(checkpoints, ignore_errors=True)
        if (REPO / NOTEBOOK).read_bytes() != notebook_before:   # never leave the committed notebook changed
            (REPO / NOTEBOOK).write_bytes(notebook_before)
            pytest.fail(f"the browser session modified {NOTEBOOK} (restored it)")


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, headless, driven by Playwright. Missing pieces fail the test."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("Playwright for Python is missing: `pip install -r requirements-test.txt` "
                    "(or `pip install playwright`). The browser itself comes from Debian, not Playwright.")
    if not CHROMIUM.is_file():
        pytest.fail(f"Chromium is missing at {CHROMIUM}: install Debian's build with "
                    f"`apt-get install -y chromium` (never `playwright install`).")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def poll(condition, timeout, interval=0.25):
    """Call ``condition()`` until it returns something truthy (returned) or ``timeout`` s pass (None)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    return None


def wait_until(condition, timeout, message):
    """Like poll, but fail the test with ``message`` on timeout."""
    value = poll(condition, timeout)
    if not value:
        pytest.fail(message() if callable(message) else message)
    return value


def kernel_connected(base_url, token):
    """True when the notebook's kernel is idle and the page's websocket is connected to it."""
    with urllib.request.urlopen(f"{base_url}/api/sessions?token={token}", timeout=5) as response:
        sessions = json.load(response)
    return any(session["path"].endswith(Path(NOTEBOOK).name) and session["kernel"]["execution_state"] == "idle"
               and session["kernel"]["connections"] > 0 for session in sessions)


CELL_PROMPTS = "() => Array.from(document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt'))" \
               ".map(e => e.textContent.trim())"
ROW_SIZES = "() => Array.from(document.querySelectorAll('.scratchcnn-probabilities > *'))" \
            ".map(row => [row.scrollHeight, row.clientHeight, row.scrollWidth, row.clientWidth])"
FOCUSED = "() => { const e = document.activeElement; return {" \
          " inProbabilities: !!e.closest('.scratchcnn-probabilities')," \
          " inSlider: !!e.closest('.scratchcnn-digit-slider')," \
          " text: (e.getAttribute('aria-label') || e.textContent || e.tagName).trim().slice(0, 40)}; }"
ERROR_OUTPUTS = "() => Array.from(document.querySelectorAll('.jp-Notebook [data-mime-type=\"application/" \
                "vnd.jupyter.stderr\"]')).map(e => e.textContent).filter(t => /Error|Traceback/.test(t))"


def test_widgets_in_jupyterlab(jupyter_lab, browser):
    base_url, token = jupyter_lab
    ARTIFACTS.mkdir(exist_ok=True)
    images, labels = scratchcnn.load_mnist("test")
    model = scratchcnn.load_model(scratchcnn.DEFAULT_MODEL_PATH)

    page = browser.new_page(viewport={"width": 1500, "height": 1000})
    console = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
    try:
        # --- open the notebook and run every cell -------------------------------------
        page.goto(f"{base_url}/lab/tree/{NOTEBOOK}?token={token}")
        page.locator(".jp-NotebookPanel .jp-Notebook").first.wait_for(timeout=60_000)
        page.locator(".jp-NotebookPanel [data-status='idle']").first.wait_for(timeout=60_000)
        wait_until(lambda: kernel_connected(base_url, token), 60, "the notebook's kernel did not start")
        assert len(page.evaluate(CELL_PROMPTS)) > 20

        def first_cell_ran():
            return re.fullmatch(r"\[\d+\]:", page.evaluate(CELL_PROMPTS)[0])

        def all_cells_ran():
            prompts = page.evaluate(CELL_PROMPTS)
            return all(re.fullmatch(r"\[\d+\]:", prompt) for prompt in prompts)

        # Run > Run All Cells. Right after start-up JupyterLab can drop the requests (the cells
        # go back to "[ ]" unrun); then nothing is running and we simply ask again.
        for attempt in range(3):
            page.locator(".jp-NotebookPanel .jp-Notebook").first.click(position={"x": 5, "y": 5})
            page.get_by_role("menuitem", name="Run", exact=True).click()
            page.get_by_role("menuitem", name=re.compile(r"^Run All Cells")).click()
            console.append(f"test: Run All Cells, attempt {attempt + 1}")
            if poll(first_cell_ran, 30):
                break
            wait_until(lambda: "*" not in "".join(page.evaluate(CELL_PROMPTS)), 30, "cells stuck in '[*]'")
        else:
            pytest.fail(f"Run All Cells did not run the notebook: prompts {page.evaluate(CELL_PROMPTS)}")

        wait_until(all_cells_ran, 90, lambda: f"the notebook did not finish running: prompts "
                                              f"{page.evaluate(CELL_PROMPTS)}")
        assert page.evaluate(ERROR_OUTPUTS) == [], "a cell raised an error"
        page.screenshot(path=str(ARTIFACTS / "browser_notebook_ran.png"))

        # --- the probability rows: as tall as their content, so nothing scrolls ------------
        rows = page.evaluate(ROW_SIZES)
        assert len(rows) == 20, f"expected 10 probability rows in each widget, found {len(rows)}"
        scrolling = [row for row in rows if row[0] > row[1] or row[2] > row[3]]
        assert not scrolling, f"probability rows that scroll ([scrollHeight, clientHeight, ...]): {scrolling}"

        # --- the digit slider: accessible names, then one step to the right with the keyboard
        slider_widget = page.locator(".scratchcnn-digit-slider").first
        slider_widget.scroll_into_view_if_needed()
        prediction = slider_widget.locator(".scratchcnn-prediction")
        readout = slider_widget.locator(".widget-readout").first
        info = slider_widget.locator(".scratchcnn-info")
        wait_until(lambda: "prediction:" in prediction.inner_text(), 20, "the slider shows no prediction")
        handle = slider_widget.get_by_role("slider", name=f"test image number, 0 to {len(images) - 1}")
        wait_until(lambda: handle.count() == 1, 20, "the slider's handle has no accessible name")
        toggle = slider_widget.get_by_role("button", name=re.compile(r"^only the \d+ mistakes$"))
        assert toggle.get_attribute("aria-pressed") == "false"
        assert slider_widget.get_by_role("img", name=re.compile(r"^test image \d+: a handwritten \d")).count() == 1
        assert slider_widget.get_by_role("img", name=re.compile(r"feature maps .* of conv \d")).count() == 2
        for name in ("previous mistake", "next mistake"):
            assert slider_widget.get_by_role("button", name=name).count() == 1, f"no '{name}' button"

        # Tab from the handle walks the controls and leaves the widget, never stopping on a bar row
        handle.focus()
        stops = []
        for _ in range(10):
            page.keyboard.press("Tab")
            stops.append(page.evaluate(FOCUSED))
            if not stops[-1]["inSlider"]:
                break
        assert not any(stop["inProbabilities"] for stop in stops), f"Tab stopped on a probability row: {stops}"
        assert not stops[-1]["inSlider"], f"Tab did not leave the slider in 10 presses: {stops}"
        start = int(readout.inner_text())
        assert prediction.inner_text().strip() == f"prediction: {labels[start]} (true {labels[start]})"
        new = start + 1
        assert labels[new] != labels[start], "pick a start image whose neighbour is another digit"
        assert model.predict(images[new:new + 1])[0] == labels[new], f"test image {new} must be read right"

        slider_widget.locator(".noUi-handle").first.focus()
        page.keyboard.press("ArrowRight")
        expected = f"prediction: {labels[new]} (true {labels[new]})"
        wait_until(lambda: prediction.inner_text().strip() == expected, 20,
                   lambda: f"after ArrowRight expected '{expected}', the slider shows "
                           f"'{prediction.inner_text()}' at readout {readout.inner_text()}")
        assert int(readout.inner_text()) == new
        slider_widget.screenshot(path=str(ARTIFACTS / "browser_digit_slider.png"))

        # the toggle: only mistakes, so the prediction differs from the true label
        toggle.click()
        mistakes = int(re.search(r"\d+", toggle.inner_text()).group())

        def shows_a_mistake():
            shown = re.fullmatch(r"prediction: (\d) \(true (\d)\)", prediction.inner_text().strip())
            return shown and shown.group(1) != shown.group(2)

        wait_until(shows_a_mistake, 20, lambda: f"the mistakes-only toggle shows '{prediction.inner_text()}'")
        wait_until(lambda: toggle.get_attribute("aria-pressed") == "true", 20, "the toggle does not say it is pressed")
        handle = slider_widget.get_by_role("slider", name=f"mistake number, 1 to {mistakes}")
        wait_until(lambda: handle.count() == 1, 20, "in mistakes mode the handle is not named 'mistake number'")

        def counters_agree():
            counted = re.search(r"mistake (\d+) of (\d+)", info.inner_text())
            return counted and counted.group(1) == readout.inner_text().strip() and int(counted.group(2)) == mistakes

        wait_until(counters_agree, 20, lambda: f"box {readout.inner_text()} vs text '{info.inner_text()}'")
        first = int(readout.inner_text())
        assert first >= 1
        handle.focus()
        page.keyboard.press("ArrowRight")
        wait_until(lambda: readout.inner_text().strip() == str(first + 1) and counters_agree(), 20,
                   lambda: f"after ArrowRight: box {readout.inner_text()} vs text '{info.inner_text()}'")
        slider_widget.get_by_role("button", name="next mistake").click()
        wait_until(lambda: readout.inner_text().strip() == str(first + 2) and counters_agree(), 20,
                   lambda: f"after 'next mistake': box {readout.inner_text()} vs text '{info.inner_text()}'")
        slider_widget.screenshot(path=str(ARTIFACTS / "browser_digit_slider_mistakes.png"))

        # --- the drawing pad: clear, then draw a "1" with the mouse -------------------------
        pad_widget = page.locator(".scratchcnn-drawing-pad").first
        pad_widget.scroll_into_view_if_needed()
        pad_prediction = pad_widget.locator(".scratchcnn-prediction")
        wait_until(lambda: "prediction: 2" in pad_prediction.inner_text(), 20,
                   lambda: f"the pad should show the notebook's sample drawing (a 2), shows "
                           f"'{pad_prediction.inner_text()}'")
        pad_widget.get_by_role("button", name="clear").click()
        wait_until(lambda: "draw a digit" in pad_prediction.inner_text(), 20, "clear did not reset the pad")

        canvas = pad_widget.locator("canvas.scratchcnn-pad-canvas")
        box = canvas.bounding_box()
        x = box["x"] + box["width"] * 0.5
        page.mouse.move(x, box["y"] + box["height"] * 0.15)
        page.mouse.down()
        page.mouse.move(x + box["width"] * 0.03, box["y"] + box["height"] * 0.85, steps=25)
        page.mouse.up()
        wait_until(lambda: re.search(r"prediction: \d", pad_prediction.inner_text()), 20,
                   lambda: f"no prediction after drawing: '{pad_prediction.inner_text()}'")
        drawn = re.search(r"prediction: (\d)", pad_prediction.inner_text()).group(1)
        pad_widget.screenshot(path=str(ARTIFACTS / "browser_drawing_pad.png"))
        assert drawn == "1", f"a vertical stroke should read as 1, the pad says {drawn}"
        not_a_digit = pad_widget.locator(".scratchcnn-not-a-digit")
        assert "does not look like a digit" not in not_a_digit.inner_text()
        assert "100.0%" not in pad_widget.inner_text()
        assert re.search(r"your drawing\s+280 x 280 pixels", pad_widget.inner_text())
        assert re.search(r"centred in 28 x 28\s+28 x 28 pixels", pad_widget.inner_text())
        step_2 = re.compile(r"^step 2, cropped to the ink: \d+ x \d+ pixels$")
        assert pad_widget.get_by_role("img", name=step_2).count() == 1
        assert pad_widget.get_by_role("img", name=re.compile(r"^drawing area")).count() == 1

        # a dot is no digit: the network still picks one, the pad says what it is
        pad_widget.get_by_role("button", name="clear").click()
        wait_until(lambda: "draw a digit" in pad_prediction.inner_text(), 20, "clear did not reset the pad")
        page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
        page.mouse.down()
        page.mouse.up()
        wait_until(lambda: "does not look like a digit" in not_a_digit.inner_text(), 20,
                   lambda: f"a dot got no not-a-digit note: '{pad_prediction.inner_text()}' "
                           f"'{not_a_digit.inner_text()}'")
        assert re.search(r"prediction: \d", pad_prediction.inner_text())
        pad_widget.screenshot(path=str(ARTIFACTS / "browser_drawing_pad_dot.png"))
    finally:
        (ARTIFACTS / "browser_console.log").write_text("\n".join(console))
        page.screenshot(path=str(ARTIFACTS / "browser_last_state.png"))
        page.close()
