"""The widgets in a real browser: JupyterLab and Notebook 7 driven by Debian's Chromium through Playwright.

For each front end the test starts a server (`jupyter lab` or `jupyter notebook`, on
127.0.0.1, a free port, a random token, the repository as its root), opens
notebooks/09_play_with_it.ipynb, runs all cells, then uses the widgets as a student would:
  * no probability row scrolls, and Tab walks the controls without stopping on the rows;
  * the accessible names Chromium computes (get_by_role, aria_snapshot): the slider's handle,
    the number box (a named textbox), the buttons (their words, no icon-font characters),
    the pictures' alt texts, the pressed state of the toggle, the prediction as a live
    region, no title="null" tooltip; axe-core finds no violation inside the widgets (when
    npm can fetch axe-core into ~/.cache/scratchcnn-tests/axe-core; otherwise a warning says so);
  * space on the slider's handle scrolls nothing; the right arrow key moves the slider to
    the next test image and the prediction changes to that image's digit (in Notebook 7
    too, where arrow keys are notebook shortcuts: the widget handles them itself); a number
    typed into the box with Enter shows that test image;
  * "only the mistakes": the number box and the text count the mistakes alike, from 1;
    "next mistake" pressed with Enter moves on;
  * the drawing pad: a test digit picked with the keyboard is read; a "1" drawn with the
    mouse is read as 1, each step labelled with its size; a dot gets the not-a-digit note.
A third test opens JupyterLab 950 pixels wide with the file browser open: the pad's steps
wrap, no caption is cut, no picture clipped, and every Tab stop in the pad is a named control.
Screenshots go to test-artifacts/ (git-ignored); notebooks/screenshots/ holds copies (copy them by hand
after a change): digit_slider.png <- browser_lab_digit_slider_mistakes.png, drawing_pad.png <-
browser_lab_drawing_pad.png, drawing_pad_not_a_digit.png <- browser_lab_drawing_pad_dot.png,
digit_slider_notebook7.png <- browser_notebook7_digit_slider_mistakes.png and
drawing_pad_narrow_window.png <- browser_lab_narrow_drawing_pad.png.

Requirements: `apt-get install chromium` (Debian's build, at /usr/bin/chromium) and
`pip install playwright`. Playwright's own browser download is never used. When
either is missing the test FAILS (it does not skip): the widgets must be tested.
"""
import contextlib
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
import warnings
from pathlib import Path

import pytest

import scratchcnn
from browser_helpers import axe_core_script

REPO = Path(__file__).resolve().parent.parent
NOTEBOOK = "notebooks/09_play_with_it.ipynb"
ARTIFACTS = REPO / "test-artifacts"

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


# The two front ends: the server command and the notebook's address under it.
FRONT_ENDS = {
    "lab": (["lab", "--LabApp.extension_manager=readonly"], "LabApp", f"/lab/tree/{NOTEBOOK}"),
    "notebook7": (["notebook"], "JupyterNotebookApp", f"/notebooks/{NOTEBOOK}"),
}


@contextlib.contextmanager
def jupyter_server(front_end, home):
    """A JupyterLab or Notebook 7 server: yields (base URL, token, the notebook's URL path)."""
    for name, settings in LAB_SETTINGS.items():
        path = home / "settings" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(settings))
    arguments, app, notebook_path = FRONT_ENDS[front_end]
    port, token = free_port(), secrets.token_hex(16)
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(home / "runtime"), JUPYTER_CONFIG_DIR=str(home / "config"),
               JUPYTER_DATA_DIR=str(home / "data"))   # no user-level kernels or settings interfere
    env.pop("MPLBACKEND", None)           # the kernel should draw inline, as for a student
    command = [sys.executable, "-m", "jupyter", *arguments, "--no-browser", "--allow-root",
               "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
               f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={REPO}",
               f"--{app}.user_settings_dir={home / 'settings'}", f"--{app}.workspaces_dir={home / 'workspaces'}"]
    log = open(home / "jupyter.log", "w")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    notebook_before = (REPO / NOTEBOOK).read_bytes()
    checkpoints = (REPO / NOTEBOOK).parent / ".ipynb_checkpoints"     # the server makes one on opening
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
                    pytest.fail(f"jupyter {front_end} did not start:\n" + (home / "jupyter.log").read_text()[-3000:])
                time.sleep(0.3)
        yield base_url, token, notebook_path
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


NO_SCROLL = "() => [window.scrollY, ...Array.from(document.querySelectorAll('*')).filter(e => e.scrollTop > 0)" \
            ".map(e => e.scrollTop)]"
NULL_TITLES = "root => root.querySelectorAll('[title=\"null\"]').length"
def axe_violations(page, selector):
    """axe-core's violations inside the element ``selector`` ([] when clean), or None without axe-core."""
    script = axe_core_script()
    if script is None:
        warnings.warn("axe-core not available (npm could not install it): the axe check did not run")
        return None
    if not page.evaluate("() => typeof axe !== 'undefined'"):
        page.add_script_tag(content=script.read_text(encoding="utf-8"))
    return page.evaluate("""async selector => {
        const result = await axe.run(document.querySelector(selector), {resultTypes: ['violations']});
        return result.violations.map(v => `${v.id}: ${v.help} (${v.nodes.length}): ${v.nodes.slice(0, 3)
            .map(n => n.html.slice(0, 120)).join(' | ')}`);
    }""", selector)


def open_and_run_all(page, base_url, token, notebook_path):
    """Open notebook 09 in the front end and Run All Cells; fail on an error output."""
    page.goto(f"{base_url}{notebook_path}?token={token}")
    page.locator(".jp-NotebookPanel .jp-Notebook").first.wait_for(timeout=60_000)
    wait_until(lambda: kernel_connected(base_url, token), 60, "the notebook's kernel did not start")
    wait_until(lambda: len(page.evaluate(CELL_PROMPTS)) > 20, 30, "the notebook's cells did not appear")
    # Before running: the saved notebook (no widget state) shows what is true without a kernel,
    # the line saying each widget needs one and the static figures, never a widget that looks alive.
    saved = page.locator(".jp-Notebook").first
    wait_until(lambda: all(f"The {name} is a live widget: it needs Jupyter with a running kernel" in
                           (saved.text_content() or "") and f"[{name}: a live widget; it needs a running kernel]"
                           in (saved.text_content() or "") for name in ("digit slider", "drawing pad")), 30,
               "the saved notebook does not say that its widgets need a running kernel")
    assert page.locator(".scratchcnn-digit-slider, .scratchcnn-drawing-pad, .noUi-handle").count() == 0
    figures = sum("image/png" in output.get("data", {}) for cell in json.loads((REPO / NOTEBOOK).read_text())["cells"]
                  for output in cell.get("outputs", []))
    assert figures >= 4 and page.locator(".jp-OutputArea-output img").count() == figures, "saved figures missing"
    front_end = "lab" if notebook_path.startswith("/lab/") else "notebook7"
    page.screenshot(path=str(ARTIFACTS / f"browser_{front_end}_before_running.png"))

    def first_cell_ran():
        return re.fullmatch(r"\[\d+\]:", page.evaluate(CELL_PROMPTS)[0])

    def all_cells_ran():
        prompts = page.evaluate(CELL_PROMPTS)
        return all(re.fullmatch(r"\[\d+\]:", prompt) for prompt in prompts)

    # Run > Run All Cells. Right after start-up the front end can drop the requests (the cells
    # go back to "[ ]" unrun); then nothing is running and we simply ask again.
    for attempt in range(3):
        page.locator(".jp-NotebookPanel .jp-Notebook").first.click(position={"x": 5, "y": 5})
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_role("menuitem", name=re.compile(r"^Run All Cells")).click()
        if poll(first_cell_ran, 30):
            break
        wait_until(lambda: "*" not in "".join(page.evaluate(CELL_PROMPTS)), 30, "cells stuck in '[*]'")
    else:
        pytest.fail(f"Run All Cells did not run the notebook: prompts {page.evaluate(CELL_PROMPTS)}")
    wait_until(all_cells_ran, 150, lambda: f"the notebook did not finish running: prompts "
                                           f"{page.evaluate(CELL_PROMPTS)}")
    assert page.evaluate(ERROR_OUTPUTS) == [], "a cell raised an error"


@contextlib.contextmanager
def browser_page(browser, name, width=1500):
    """A page whose console goes to test-artifacts/browser_NAME_console.log, with a last screenshot."""
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": width, "height": 1000})
    console = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
    try:
        yield page
    finally:
        (ARTIFACTS / f"browser_{name}_console.log").write_text("\n".join(console))
        page.screenshot(path=str(ARTIFACTS / f"browser_{name}_last_state.png"))
        page.close()


def text(locator):
    """The element's text, also while the front end skips rendering it (Notebook 7 does so for cells
    out of view, and then inner_text() is empty)."""
    return (locator.text_content() or "").strip()


@pytest.mark.slow
@pytest.mark.parametrize("front_end", list(FRONT_ENDS))
def test_widgets_in_the_browser(front_end, browser, tmp_path):
    images, labels = scratchcnn.load_mnist("test")
    model = scratchcnn.load_model(scratchcnn.DEFAULT_MODEL_PATH)
    with jupyter_server(front_end, tmp_path) as (base_url, token, notebook_path), \
            browser_page(browser, front_end) as page:
        open_and_run_all(page, base_url, token, notebook_path)
        page.screenshot(path=str(ARTIFACTS / f"browser_{front_end}_notebook_ran.png"))

        # --- the probability rows: as tall as their content, so nothing scrolls ------------
        rows = page.evaluate(ROW_SIZES)
        assert len(rows) == 20, f"expected 10 probability rows in each widget, found {len(rows)}"
        scrolling = [row for row in rows if row[0] > row[1] or row[2] > row[3]]
        assert not scrolling, f"probability rows that scroll ([scrollHeight, clientHeight, ...]): {scrolling}"

        # --- the digit slider: accessible names ---------------------------------------------
        slider_widget = page.locator(".scratchcnn-digit-slider").first
        slider_widget.scroll_into_view_if_needed()
        prediction = slider_widget.locator(".scratchcnn-prediction")
        readout = slider_widget.locator(".widget-readout").first
        info = slider_widget.locator(".scratchcnn-info")
        wait_until(lambda: "prediction:" in text(prediction), 20, "the slider shows no prediction")
        handle = slider_widget.get_by_role("slider", name=f"test image number, 0 to {len(images) - 1}")
        wait_until(lambda: handle.count() == 1, 20, "the slider's handle has no accessible name")
        number_box = slider_widget.get_by_role("textbox", name=f"type the test image number, 0 to {len(images) - 1}")
        assert number_box.count() == 1, "the number box has no role or name"
        toggle = slider_widget.get_by_role("button", name=re.compile(r"^only the \d+ mistakes$"))
        assert toggle.get_attribute("aria-pressed") == "false"
        assert slider_widget.get_by_role("img", name=re.compile(r"^test image \d+: a handwritten \d")).count() == 1
        assert slider_widget.get_by_role("img", name=re.compile(r"feature maps .* of conv \d")).count() == 2
        for name in ("previous mistake", "next mistake"):    # the name is the words, nothing before them
            assert slider_widget.get_by_role("button", name=name, exact=True).count() == 1, f"no '{name}' button"
        assert slider_widget.get_by_role("status").count() == 1
        assert prediction.get_attribute("aria-live") == "polite" and prediction.get_attribute("role") == "status"
        wait_until(lambda: slider_widget.evaluate(NULL_TITLES) == 0, 20, 'title="null" left in the slider')
        tree = slider_widget.aria_snapshot()
        (ARTIFACTS / f"browser_{front_end}_slider_accessibility_tree.yaml").write_text(tree)
        assert not re.search("[\ue000-\uf8ff]", tree), "an icon-font character in an accessible name"
        assert 'textbox "type the test image number' in tree and 'slider "test image number' in tree

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

        # --- keys on the handle: space scrolls nothing; the right arrow moves one image ------
        slider_widget.scroll_into_view_if_needed()     # Notebook 7 skips rendering cells out of view
        start = int(text(readout))
        assert text(prediction).strip() == f"prediction: {labels[start]} (true {labels[start]})"
        new = start + 1
        assert labels[new] != labels[start], "pick a start image whose neighbour is another digit"
        assert model.predict(images[new:new + 1])[0] == labels[new], f"test image {new} must be read right"
        handle = slider_widget.locator(".noUi-handle").first
        handle.focus()
        scrolled = page.evaluate(NO_SCROLL)
        page.keyboard.press(" ")
        time.sleep(0.5)
        assert page.evaluate(NO_SCROLL) == scrolled, "space on the slider's handle scrolled the page"
        assert int(text(readout)) == start
        page.keyboard.press("ArrowRight")
        expected = f"prediction: {labels[new]} (true {labels[new]})"
        wait_until(lambda: text(prediction).strip() == expected, 20,
                   lambda: f"after ArrowRight expected '{expected}', the slider shows "
                           f"'{text(prediction)}' at readout {text(readout)}")
        assert int(text(readout)) == new
        assert page.evaluate("() => !!document.activeElement.closest('.noUi-handle')"), "the handle lost focus"
        page.keyboard.press("ArrowLeft")
        wait_until(lambda: int(text(readout)) == start, 20, "ArrowLeft did not step back")
        # or type a number into the box and press Enter
        number_box.focus()
        page.keyboard.press("Control+A")
        page.keyboard.type("42")
        page.keyboard.press("Enter")
        expected = f"prediction: {model.predict(images[42:43])[0]} (true {labels[42]})"
        wait_until(lambda: text(readout) == "42" and text(prediction) == expected, 20,
                   lambda: f"typing 42 and Enter: box {text(readout)}, '{text(prediction)}'")
        slider_widget.screenshot(path=str(ARTIFACTS / f"browser_{front_end}_digit_slider.png"))

        # the toggle: only mistakes, so the prediction differs from the true label
        toggle.click()
        mistakes = int(re.search(r"\d+", toggle.inner_text()).group())

        def shows_a_mistake():
            shown = re.fullmatch(r"prediction: (\d) \(true (\d)\)", text(prediction).strip())
            return shown and shown.group(1) != shown.group(2)

        wait_until(shows_a_mistake, 20, lambda: f"the mistakes-only toggle shows '{text(prediction)}'")
        wait_until(lambda: toggle.get_attribute("aria-pressed") == "true", 20, "the toggle does not say it is pressed")
        handle = slider_widget.get_by_role("slider", name=f"mistake number, 1 to {mistakes}")
        wait_until(lambda: handle.count() == 1, 20, "in mistakes mode the handle is not named 'mistake number'")

        def counters_agree():
            counted = re.search(r"mistake (\d+) of (\d+)", text(info))
            return counted and counted.group(1) == text(readout).strip() and int(counted.group(2)) == mistakes

        wait_until(counters_agree, 20, lambda: f"box {text(readout)} vs text '{text(info)}'")
        first = int(text(readout))
        assert first >= 1
        handle.focus()
        page.keyboard.press("ArrowRight")
        wait_until(lambda: text(readout).strip() == str(first + 1) and counters_agree(), 20,
                   lambda: f"after ArrowRight: box {text(readout)} vs text '{text(info)}'")
        slider_widget.get_by_role("button", name="next mistake", exact=True).focus()
        page.keyboard.press("Enter")                          # a notebook shortcut too; the widget keeps it
        wait_until(lambda: text(readout).strip() == str(first + 2) and counters_agree(), 20,
                   lambda: f"after Enter on 'next mistake': box {text(readout)} vs text '{text(info)}'")
        slider_widget.screenshot(path=str(ARTIFACTS / f"browser_{front_end}_digit_slider_mistakes.png"))
        violations = axe_violations(page, ".scratchcnn-digit-slider")
        assert not violations, f"axe-core in the digit slider: {violations}"

        # --- the drawing pad: a test digit picked with the keyboard --------------------------
        pad_widget = page.locator(".scratchcnn-drawing-pad").first
        pad_widget.scroll_into_view_if_needed()
        pad_prediction = pad_widget.locator(".scratchcnn-prediction")
        wait_until(lambda: "prediction: 2" in text(pad_prediction), 20,
                   lambda: f"the pad should show the notebook's sample drawing (a 2), shows "
                           f"'{text(pad_prediction)}'")
        wait_until(lambda: pad_widget.evaluate(NULL_TITLES) == 0, 20, 'title="null" left in the pad')
        picker = pad_widget.get_by_role("combobox", name="or start from a test digit")
        assert picker.count() == 1, "the pad has no keyboard alternative to drawing"
        picker.focus()
        page.keyboard.press("ArrowDown")                      # (none) -> the first test 0
        wait_until(lambda: "prediction: 0" in text(pad_prediction), 20,
                   lambda: f"a test 0 picked with the keyboard shows '{text(pad_prediction)}'")
        violations = axe_violations(page, ".scratchcnn-drawing-pad")
        assert not violations, f"axe-core in the drawing pad: {violations}"

        # --- then draw a "1" with the mouse -----------------------------------------------------
        pad_widget.get_by_role("button", name="clear", exact=True).click()
        wait_until(lambda: "draw a digit" in text(pad_prediction), 20, "clear did not reset the pad")
        canvas = pad_widget.locator("canvas.scratchcnn-pad-canvas")
        box = canvas.bounding_box()
        x = box["x"] + box["width"] * 0.5
        page.mouse.move(x, box["y"] + box["height"] * 0.15)
        page.mouse.down()
        page.mouse.move(x + box["width"] * 0.03, box["y"] + box["height"] * 0.85, steps=25)
        page.mouse.up()
        wait_until(lambda: re.search(r"prediction: \d", text(pad_prediction)), 20,
                   lambda: f"no prediction after drawing: '{text(pad_prediction)}'")
        drawn = re.search(r"prediction: (\d)", text(pad_prediction)).group(1)
        pad_widget.screenshot(path=str(ARTIFACTS / f"browser_{front_end}_drawing_pad.png"))
        assert drawn == "1", f"a vertical stroke should read as 1, the pad says {drawn}"
        not_a_digit = pad_widget.locator(".scratchcnn-not-a-digit")
        assert "does not look like a digit" not in text(not_a_digit)
        assert "100.0%" not in pad_widget.inner_text()
        assert re.search(r"your drawing\s+280 x 280 pixels", pad_widget.inner_text())
        assert re.search(r"centred in 28 x 28\s+28 x 28 pixels", pad_widget.inner_text())
        step_2 = re.compile(r"^step 2, cropped to the ink: \d+ x \d+ pixels$")
        assert pad_widget.get_by_role("img", name=step_2).count() == 1
        assert pad_widget.get_by_role("img", name=re.compile(r"^drawing area")).count() == 1

        # a dot is no digit: the network still picks one, the pad says what it is
        pad_widget.get_by_role("button", name="clear", exact=True).click()
        wait_until(lambda: "draw a digit" in text(pad_prediction), 20, "clear did not reset the pad")
        page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
        page.mouse.down()
        page.mouse.up()
        wait_until(lambda: "does not look like a digit" in text(not_a_digit), 20,
                   lambda: f"a dot got no not-a-digit note: '{text(pad_prediction)}' "
                           f"'{text(not_a_digit)}'")
        assert re.search(r"prediction: \d", text(pad_prediction))
        pad_widget.screenshot(path=str(ARTIFACTS / f"browser_{front_end}_drawing_pad_dot.png"))


# For every element in the pad: is it clipped by an ancestor inside the pad, or cut (text wider than its box)?
CLIPPED = """root => {
  const problems = [];
  const inside = (a, b) => a.left >= b.left - 1 && a.right <= b.right + 1
                           && a.top >= b.top - 1 && a.bottom <= b.bottom + 1;
  for (const element of root.querySelectorAll('img, canvas, select, button, .widget-html-content, .widget-label')) {
    const box = element.getBoundingClientRect();
    if (box.width === 0) continue;
    if (element.scrollWidth > element.clientWidth + 1) problems.push(`cut: ${element.textContent.trim().slice(0, 40)}`);
    for (let up = element.parentElement; up && up !== root.parentElement; up = up.parentElement) {
      if (getComputedStyle(up).overflow !== 'visible' && !inside(box, up.getBoundingClientRect()))
        problems.push(`clipped: ${element.getAttribute('alt') || element.textContent.trim().slice(0, 40)}`);
    }
  }
  const outer = root.closest('.jp-OutputArea-output') || root;
  for (const picture of root.querySelectorAll('img, canvas, select, .widget-label'))
    if (picture.getBoundingClientRect().width > 0
        && !inside(picture.getBoundingClientRect(), outer.getBoundingClientRect()))
      problems.push(`outside the output: ${picture.getAttribute('alt') || picture.textContent.trim().slice(0, 40)}`);
  return problems;
}"""
FOCUSED_CONTROL = "() => { const e = document.activeElement; return {" \
                  " inPad: !!e.closest('.scratchcnn-drawing-pad'), tag: e.tagName, role: e.getAttribute('role')," \
                  " name: (e.getAttribute('aria-label') || e.textContent || '').trim().slice(0, 40)}; }"


def tab_stops_after_clear(page):
    """Tab from the pad's clear button until focus leaves the pad: [{tag, role, name}, ...]."""
    page.locator(".scratchcnn-drawing-pad .jupyter-button").first.focus()
    stops = []
    for _ in range(12):
        page.keyboard.press("Tab")
        stop = page.evaluate(FOCUSED_CONTROL)
        if not stop["inPad"]:
            break
        stops.append(stop)
    return stops


@pytest.mark.slow
def test_the_drawing_pad_in_a_narrow_window(browser, tmp_path):
    """JupyterLab with the file browser open, from 1,300 down to 700 pixels wide (below about 900
    the old layout clipped the steps and made each step column an unnamed Tab stop): nothing is
    clipped or cut, and Tab stops only on named controls. Then 560 pixels wide: the four steps wrap."""
    with jupyter_server("lab", tmp_path) as (base_url, token, notebook_path), \
            browser_page(browser, "lab_narrow", width=1300) as page:
        open_and_run_all(page, base_url, token, notebook_path)
        file_browser = page.locator("#filebrowser")
        if not file_browser.is_visible():
            page.get_by_role("tab", name=re.compile("File Browser")).click()
        wait_until(file_browser.is_visible, 10, "the file browser did not open")
        pad_widget = page.locator(".scratchcnn-drawing-pad").first
        pad_widget.scroll_into_view_if_needed()
        wait_until(lambda: "prediction: 2" in pad_widget.locator(".scratchcnn-prediction").inner_text(), 20,
                   "the pad shows no prediction")
        for width in range(1300, 699, -50):
            page.set_viewport_size({"width": width, "height": 1000})
            time.sleep(0.7)
            pad_widget.scroll_into_view_if_needed()
            problems = pad_widget.evaluate(CLIPPED)
            if problems:
                pad_widget.screenshot(path=str(ARTIFACTS / f"browser_lab_{width}px_drawing_pad.png"))
            assert not problems, f"{width} pixels wide with the file browser open: {problems}"
            captions = pad_widget.inner_text()
            for title in ("your drawing", "cropped to the ink", "scaled to 20 pixels", "centred in 28 x 28"):
                assert title in captions
            stops = tab_stops_after_clear(page)      # every stop a named control, no unnamed box
            unnamed = [stop for stop in stops if stop["tag"] in ("DIV", "SPAN") and not stop["role"]
                       or not stop["name"]]
            assert not unnamed, f"{width} pixels wide: unnamed Tab stops in the pad: {unnamed}"
            assert [stop["tag"] for stop in stops] == ["SELECT"], f"Tab from 'clear': {stops}"   # then it leaves
        output_width = pad_widget.evaluate("root => (root.closest('.jp-OutputArea-output') || root).clientWidth")
        assert output_width < 700, f"the window is not narrow enough to test wrapping ({output_width} px)"
        pad_widget.scroll_into_view_if_needed()
        pad_widget.screenshot(path=str(ARTIFACTS / "browser_lab_narrow_drawing_pad.png"))

        # narrower still (a phone), the file browser closed: now the four steps themselves wrap
        page.get_by_role("tab", name=re.compile("File Browser")).click()
        wait_until(lambda: not file_browser.is_visible(), 10, "the file browser did not close")
        page.set_viewport_size({"width": 560, "height": 1000})
        time.sleep(1)
        pad_widget.scroll_into_view_if_needed()
        steps = ".scratchcnn-drawing-pad img[class*='scratchcnn-step-']"
        tops = page.evaluate(f"() => Array.from(document.querySelectorAll(\"{steps}\"))"
                             ".map(e => Math.round(e.getBoundingClientRect().top))")
        assert len(tops) == 4 and len(set(tops)) > 1, f"the four steps did not wrap to a second line: {tops}"
        problems = pad_widget.evaluate(CLIPPED)
        assert not problems, f"560 pixels wide: {problems}"
        pad_widget.screenshot(path=str(ARTIFACTS / "browser_lab_560px_drawing_pad.png"))
