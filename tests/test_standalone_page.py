"""The standalone page (course_machinery/standalone_page.py) in a real browser.

The page is opened from a file:// URL in Debian's Chromium, driven by Playwright
(never Playwright's own browser download), and compared with NumPy:
  * the probabilities its JavaScript computes for 1,200 MNIST test digits equal
    ``model.predict_proba`` to float32 precision (and a float64 NumPy model to 1e-12),
    for the reference CNN and for the deep one (batch norm and residual blocks);
  * the feature maps it shows equal ``plots.conv_feature_maps``;
  * a stroke drawn with the mouse is read as the notebook's pad reads the same PNG
    (``preprocess_digit`` and ``predict_proba`` on the canvas's PNG data URL);
  * the keyboard reaches everything: the slider, previous/next, the mistakes filter,
    "edit this digit on the pad"; a live region announces each prediction;
  * it makes no network request (only its own file:// URL and data: URLs), its
    layout does not overflow at tablet and phone widths, and axe-core finds no
    accessibility violation (axe-core comes from npm into a cache folder; only
    that test is skipped when npm cannot reach its registry).
Screenshots go to test-artifacts/ (git-ignored).
"""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import scratchcnn
from browser_helpers import axe_core_script
from course_machinery import standalone_page
from course_machinery.plots import conv_feature_maps
from course_machinery.widgets import _read_png_data_url, format_percent

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "test-artifacts"
SHIPPED_PAGE = REPO / "docs" / "scratchcnn_demo.html"
REFERENCE_MODEL = REPO / "data" / "scratchcnn_mnist.npz"
DEEP_MODEL = REPO / "data" / "deep_mnist.npz"


def run_command(*arguments):
    return subprocess.run([sys.executable, "-m", "course_machinery.standalone_page", *map(str, arguments)],
                          capture_output=True, text=True, cwd=REPO, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(REPO)})


# ---------------------------------------------------------------------------
# The command (no browser)
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("arguments, message", [
    (["--model", "no_such_model.npz"], "does not exist"),
    (["--model", "README.md"], "not a ScratchCNN model file"),
    (["--model", "data/deep_fashion.npz"], "trained on fashion-mnist"),
    (["--digits", "0"], "--digits must be between 1 and 10,000"),
    (["--digits", "10001"], "--digits must be between 1 and 10,000"),
])
def test_bad_input_gets_a_clear_error_and_no_traceback(tmp_path, arguments, message):
    out = tmp_path / "page.html"
    out.write_text("the page from before")
    result = run_command(*arguments, "--out", out)
    assert result.returncode == 1 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert out.read_text() == "the page from before"          # nothing half-written, nothing replaced


def test_an_unwritable_or_wrong_output_gets_a_clear_error(tmp_path):
    for out, message in [(tmp_path, "is a folder"), (tmp_path / "page.txt", "does not end in .html")]:
        result = run_command("--digits", "1", "--out", out)
        assert result.returncode == 1 and message in result.stderr and "Traceback" not in result.stderr
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    result = run_command("--digits", "1", "--out", blocker / "page.html")     # its folder is a file
    assert result.returncode == 1 and "is a file, not a folder" in result.stderr and "Traceback" not in result.stderr
    if os.geteuid() != 0:                                                 # root may write anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o555)
        result = run_command("--digits", "1", "--out", locked / "page.html")
        assert result.returncode == 1 and "cannot write" in result.stderr and "Traceback" not in result.stderr


def test_a_model_the_page_cannot_show_is_refused():
    model = scratchcnn.reference_cnn(in_channels=3, image_size=32)
    indices, images, labels = standalone_page.sample_test_digits(1)
    with pytest.raises(standalone_page.PageError, match="does not read 1 x 28 x 28"):
        standalone_page.build_page(model, "cifar.npz", indices, images, labels)


def test_a_model_in_memory_makes_a_page_too(tmp_path):
    """What notebook 09's "share what you trained" does: a model in training mode, with
    dropout and batch norm, never saved; the page carries its weights and running statistics."""
    model = scratchcnn.deep_cnn(channels=(4, 8), hidden=16, seed=3).train()
    model.layers[1].running_var = np.random.default_rng(0).random(4, dtype=np.float32) + 0.5    # as if trained
    out = tmp_path / "mine.html"
    size = standalone_page.write_page(model, out, digits=2, name="my <b>model</b>")
    assert out.stat().st_size == size and model.layers[0].training       # its mode is left alone
    page = out.read_text(encoding="utf-8")
    assert "my \\u003cb>model\\u003c/b>" in page                        # a name is data, never markup
    running_var = model.layers[1].running_var
    assert standalone_page._base64_float32(running_var) in page


def test_the_page_is_one_file_whose_data_cannot_break_out_of_its_script(tmp_path):
    model = scratchcnn.load_model(REFERENCE_MODEL)
    model.metadata = {"note": "</script><script>alert(1)</script>"}
    page = standalone_page.build_page(model, "x.npz", *standalone_page.sample_test_digits(3))
    assert page.lower().count("</script") == 2                  # the two script elements' own ends
    for reference in ("src=", "href=", "url(", "@import", "fetch(", "XMLHttpRequest", "http://", "https://"):
        assert reference not in page, f"the page refers to something outside itself: {reference}"
    assert "default-src 'none'" in page                         # and its policy forbids loading anything


def test_the_shipped_page_is_made_from_the_shipped_model():
    """docs/scratchcnn_demo.html is what the command writes from data/scratchcnn_mnist.npz
    today (re-make it with the command in the module's docstring when either changes)."""
    model = scratchcnn.load_model(REFERENCE_MODEL)
    expected = standalone_page.build_page(model, REFERENCE_MODEL.name,
                                          *standalone_page.sample_test_digits(standalone_page.DEFAULT_DIGITS))
    assert SHIPPED_PAGE.read_text(encoding="utf-8") == expected, (
        "docs/scratchcnn_demo.html is out of date: run "
        "`python -m course_machinery.standalone_page --model data/scratchcnn_mnist.npz --out docs/scratchcnn_demo.html`")
    assert SHIPPED_PAGE.stat().st_size < 1_000_000


# ---------------------------------------------------------------------------
# In Chromium (the `browser` fixture is in tests/conftest.py)
# ---------------------------------------------------------------------------

class OpenPage:
    """A page opened from disk; records every request and every JavaScript error."""

    def __init__(self, browser, path: Path, width: int = 1280, height: int = 900, touch: bool = False):
        self.url = path.resolve().as_uri()
        self.page = browser.new_page(viewport={"width": width, "height": height}, has_touch=touch)
        self.requests, self.errors = [], []
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("console", lambda message: message.type == "error" and self.errors.append(message.text))
        self.page.goto(self.url)
        self.page.wait_for_selector("body.ready", timeout=120_000)

    def check_clean(self):
        """No JavaScript error, and no request but the page itself and data: URLs."""
        assert self.errors == []
        strangers = [url for url in self.requests if url != self.url and not url.startswith("data:")]
        assert strangers == [], f"the page made network requests: {strangers[:5]}"

    def close(self):
        self.check_clean()
        self.page.close()


@pytest.fixture
def shipped(browser):
    opened = OpenPage(browser, SHIPPED_PAGE)
    yield opened
    opened.close()


def page_probabilities(opened):
    return np.array(opened.page.evaluate("scratchcnnDemo.sample.map(s => s.probabilities)"))


@pytest.mark.slow
@pytest.mark.parametrize("model_path, digits", [(REFERENCE_MODEL, 1200), (DEEP_MODEL, 300)])
def test_the_pages_probabilities_equal_numpys(browser, tmp_path, model_path, digits):
    """The page computes every embedded test digit's probabilities when it opens."""
    out = tmp_path / "page.html"
    result = run_command("--model", model_path, "--out", out, "--digits", digits)
    assert result.returncode == 0, result.stderr
    indices, images, labels = standalone_page.sample_test_digits(digits)
    opened = OpenPage(browser, out)
    try:
        assert opened.page.evaluate("scratchcnnDemo.sample.map(s => s.index)") == indices.tolist()
        assert opened.page.evaluate("scratchcnnDemo.sample.map(s => s.label)") == labels.tolist()
        in_browser = page_probabilities(opened)
    finally:
        opened.close()
    float32 = scratchcnn.load_model(model_path).predict_proba(images)
    float64 = scratchcnn.load_model(model_path, dtype=np.float64).predict_proba(images.astype(np.float64))
    assert in_browser.shape == (digits, 10)
    # float32 NumPy differs from exact arithmetic by ~1e-6; the page (float64 sums) by ~1e-15.
    assert np.abs(in_browser - float32).max() < 1e-5
    assert np.abs(in_browser - float64).max() < 1e-12
    assert np.array_equal(in_browser.argmax(axis=1), float32.argmax(axis=1))


def shown_percentages(page, bars_id):
    return page.locator(f"#{bars_id} .bar-percent").all_inner_texts()


@pytest.mark.slow
def test_the_slider_shows_numpys_probabilities_and_feature_maps_and_works_by_keyboard(shipped):
    page, model = shipped.page, scratchcnn.load_model(REFERENCE_MODEL)
    indices, images, labels = standalone_page.sample_test_digits(standalone_page.DEFAULT_DIGITS)
    page.locator("#digit-slider").focus()
    for position in range(12):
        if position:
            page.keyboard.press("ArrowRight")
        shown = page.evaluate("({...scratchcnnDemo.shownDigit, featureMaps: scratchcnnDemo.shownDigit.featureMaps"
                              ".map(m => ({shape: m.shape, data: Array.from(m.data)}))})")
        assert shown["position"] == position and shown["testIndex"] == indices[position]
        expected_maps = conv_feature_maps(model, images[position])
        assert len(shown["featureMaps"]) == len(expected_maps) == 2
        for maps, expected in zip(shown["featureMaps"], expected_maps):
            assert tuple(maps["shape"]) == expected.shape
            np.testing.assert_allclose(np.reshape(maps["data"], maps["shape"]), expected, rtol=1e-5, atol=1e-5)
        probabilities = model.predict_proba(images[position:position + 1])[0]
        assert shown_percentages(page, "digit-bars") == [format_percent(p) for p in probabilities]
        verdict = page.locator("#digit-prediction").inner_text()
        assert f"#{indices[position]} is a {labels[position]}" in verdict
        assert f"says {probabilities.argmax()}" in verdict
        assert page.locator("#maps-1 canvas").count() == 8 and page.locator("#maps-2 canvas").count() == 16
    assert page.locator("#digit-prediction").get_attribute("aria-live") == "polite"
    # previous / next buttons and the mistakes filter, by keyboard
    page.locator("#previous-digit").focus()
    page.keyboard.press("Enter")
    assert page.evaluate("scratchcnnDemo.shownDigit.position") == 10
    page.locator("#only-mistakes").focus()
    page.keyboard.press("Space")
    mistakes = np.flatnonzero(model.predict(images) != labels)
    assert len(mistakes) >= 1
    assert page.evaluate("scratchcnnDemo.shownDigit.testIndex") == indices[mistakes[0]]
    assert "wrong" in page.locator("#digit-prediction").inner_text()
    assert page.locator("#digit-counter").inner_text() == f"1 of {len(mistakes)} mistakes"


@pytest.mark.slow
def test_the_deep_models_feature_maps_equal_conv_feature_maps(browser, tmp_path):
    out = tmp_path / "deep.html"
    assert run_command("--model", DEEP_MODEL, "--out", out, "--digits", 5).returncode == 0
    model = scratchcnn.load_model(DEEP_MODEL)
    _, images, _ = standalone_page.sample_test_digits(5)
    opened = OpenPage(browser, out)
    try:
        for image in images:
            maps = opened.page.evaluate("pixels => scratchcnnDemo.forward(pixels).featureMaps"
                                        ".map(m => ({shape: m.shape, data: Array.from(m.data)}))",
                                        image.ravel().tolist())
            expected_maps = conv_feature_maps(model, image)
            assert len(maps) == len(expected_maps) == 2
            for shown, expected in zip(maps, expected_maps):
                np.testing.assert_allclose(np.reshape(shown["data"], shown["shape"]), expected, rtol=1e-5, atol=1e-5)
    finally:
        opened.close()


@pytest.mark.slow
def test_strides_paddings_leaky_relu_overlapping_pools_dropout_and_layer_norm_match_numpy(browser, tmp_path):
    """Layer settings the shipped models do not use: a stride-2 5 x 5 convolution with
    padding 2, LeakyReLU, 3 x 3 pooling windows with stride 2 (overlapping, odd sizes),
    an unpadded convolution, dropout (the identity in evaluation), layer normalisation with
    its own gamma and beta."""
    rng = np.random.default_rng(5)
    layer_norm = scratchcnn.LayerNorm(16, eps=1e-3)
    layer_norm.params = {"gamma": rng.uniform(0.5, 2, 16).astype(np.float32),
                         "beta": rng.normal(0, 0.5, 16).astype(np.float32)}
    model = scratchcnn.Sequential([
        scratchcnn.Conv2D(1, 4, 5, stride=2, padding=2, rng=rng), scratchcnn.LeakyReLU(0.1),   # 28 -> 14
        scratchcnn.MaxPool2D(3, stride=2),                                                        # 14 -> 6
        scratchcnn.Conv2D(4, 6, 3, rng=rng), scratchcnn.ReLU(), scratchcnn.Dropout(0.3, rng=rng),  # 6 -> 4
        scratchcnn.Flatten(), scratchcnn.Dense(6 * 4 * 4, 16, rng=rng), layer_norm, scratchcnn.ReLU(),
        scratchcnn.Dense(16, 10, rng=rng),
    ])
    out = tmp_path / "odd.html"
    standalone_page.write_page(model, out, digits=3)
    _, images, _ = standalone_page.sample_test_digits(3)
    for layer in model.layers:             # the page's float32 weights, summed in float64 as the page does
        layer.params = {name: value.astype(np.float64) for name, value in layer.params.items()}
    opened = OpenPage(browser, out)
    try:
        for image in images:
            shown = opened.page.evaluate("pixels => { const r = scratchcnnDemo.forward(pixels); return {logits: r.logits,"
                                         " maps: r.featureMaps.map(m => ({shape: m.shape, data: Array.from(m.data)}))}; }",
                                         image.ravel().tolist())
            expected_logits = model.eval().forward(image[None].astype(np.float64))[0]
            np.testing.assert_allclose(shown["logits"], expected_logits, rtol=1e-12, atol=1e-12)
            expected_maps = conv_feature_maps(model, image)
            assert [tuple(m["shape"]) for m in shown["maps"]] == [(4, 14, 14), (6, 4, 4)]
            for maps, expected in zip(shown["maps"], expected_maps):
                np.testing.assert_allclose(np.reshape(maps["data"], maps["shape"]), expected, rtol=1e-6, atol=1e-6)
    finally:
        opened.close()


def crafted_pictures():
    """RGBA pictures (uint8) that take preprocess_digit's every branch."""
    rng = np.random.default_rng(7)
    bar = np.zeros((60, 60))
    bar[20:25, 10:50] = 1.0                      # a 5 x 40 box: 20 / 40 * 5 = 2.5 rows, Python rounds to 2
    dark_on_paper = np.ones((90, 70))
    dark_on_paper[20:70, 30:38] = 0.1            # a dark 1 on white paper: inverted first
    grey_paper = np.clip(0.3 + 0.05 * rng.standard_normal((50, 80)), 0, 1)
    grey_paper[10:40, 20:60] += 0.6 * (rng.random((30, 40)) > 0.5)   # noisy ink on grey paper: the median subtracted
    blob = np.zeros((120, 100))
    blob[30:95, 25:80] = rng.random((65, 55)) ** 3
    pictures = [np.clip(p, 0, 1) for p in (bar, dark_on_paper, grey_paper, blob)]
    rgba = [np.dstack([np.round(255 * p)] * 3 + [np.full(p.shape, 255)]).astype(np.uint8) for p in pictures]
    half_transparent = rgba[3].copy()
    half_transparent[..., 3] = 128                # alpha over white paper
    return rgba + [half_transparent]


@pytest.mark.slow
def test_preprocessing_equals_preprocess_digit_on_every_branch(shipped):
    model = scratchcnn.load_model(REFERENCE_MODEL)
    for picture in crafted_pictures():
        expected = scratchcnn.preprocess_digit(picture.astype(np.float32) / np.float32(255))
        height, width = picture.shape[:2]
        centred = shipped.page.evaluate(
            """([height, width, bytes]) => {
                const steps = scratchcnnDemo.preprocessDigit(scratchcnnDemo.toGrey({height, width, data: bytes}));
                return Array.from(steps.centred.data); }""", [height, width, picture.ravel().tolist()])
        np.testing.assert_allclose(np.reshape(centred, (28, 28)), expected, rtol=0, atol=1e-6)
        probabilities = shipped.page.evaluate("pixels => scratchcnnDemo.forward(pixels).probabilities", centred)
        assert np.abs(np.array(probabilities) - model.predict_proba(expected[None, None])[0]).max() < 1e-5


def draw(page, strokes):
    """Draw strokes (lists of points in the pad's 280 x 280 coordinates) with the mouse."""
    box = page.locator("#pad").bounding_box()
    scale = box["width"] / 280
    for stroke in strokes:
        x, y = stroke[0]
        page.mouse.move(box["x"] + x * scale, box["y"] + y * scale)
        page.mouse.down()
        for x, y in stroke[1:]:
            page.mouse.move(box["x"] + x * scale, box["y"] + y * scale, steps=4)
        page.mouse.up()


def check_pad_reads_like_the_notebook(page, model):
    """The pad's PNG through the notebook pad's path (widgets.DrawingPad.predict_drawing)."""
    png = page.evaluate("scratchcnnDemo.padPng()")
    centred, steps = scratchcnn.preprocess_digit(_read_png_data_url(png), return_steps=True)
    probabilities = model.predict_proba(centred[None, None])[0]
    state = page.evaluate("({probabilities: scratchcnnDemo.pad.probabilities, centred: "
                          "Array.from(scratchcnnDemo.pad.steps.centred.data)})")
    np.testing.assert_allclose(np.reshape(state["centred"], (28, 28)), centred, rtol=0, atol=1e-6)
    assert np.abs(np.array(state["probabilities"]) - probabilities).max() < 1e-5
    assert shown_percentages(page, "pad-bars") == [format_percent(p) for p in probabilities]
    prediction = int(probabilities.argmax())
    assert page.locator("#pad-prediction").inner_text() == (
        f"The network reads your drawing as {prediction}, {format_percent(probabilities[prediction])} sure.")
    sizes = [f"{steps[name].shape[0]} x {steps[name].shape[1]} pixels" for name in ("ink", "cropped", "scaled", "centred")]
    assert [page.locator(f"#step-{k}-size").inner_text() for k in range(1, 5)] == sizes
    assert page.locator("#step-2").get_attribute("aria-label") == f"step 2, cropped to the ink: {sizes[1]}"
    return prediction


@pytest.mark.slow
def test_a_drawn_stroke_is_read_as_the_notebooks_pad_reads_it(shipped):
    page, model = shipped.page, scratchcnn.load_model(REFERENCE_MODEL)
    assert page.locator("#pad-prediction").inner_text() == "Draw a digit on the black square."
    seven = [[(80, 60), (200, 60), (190, 80), (130, 240)]]
    draw(page, seven)
    assert check_pad_reads_like_the_notebook(page, model) == 7
    assert page.locator("#pad-maps-1 canvas").count() == 8
    page.locator("#pad-clear").click()
    assert page.locator("#pad-prediction").inner_text() == "Draw a digit on the black square."
    one = [[(150, 40), (140, 250)]]                 # tall and thin: cropping makes it 20 x a few pixels
    draw(page, one)
    assert check_pad_reads_like_the_notebook(page, model) == 1
    draw(page, [[(60, 200), (220, 210)]])           # a second stroke on top
    check_pad_reads_like_the_notebook(page, model)
    for strokes in ([[(2, 140), (278, 150)]],        # edge to edge: ink on the border the pad looks at
                    [[(140, 140)]]):                 # a click: a dot
        page.locator("#pad-clear").click()
        draw(page, strokes)
        check_pad_reads_like_the_notebook(page, model)
    # The keyboard's way to the pad: a test digit copied onto it, read like any drawing.
    page.locator("#pad-clear").focus()
    page.keyboard.press("Enter")
    page.locator("#digit-to-pad").focus()
    page.keyboard.press("Enter")
    assert check_pad_reads_like_the_notebook(page, model) == page.evaluate("scratchcnnDemo.sample[0].label")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "standalone_page_1280.png"), full_page=True)


@pytest.mark.slow
@pytest.mark.parametrize("width", [768, 390])
def test_the_layout_fits_tablets_and_phones(browser, width):
    opened = OpenPage(browser, SHIPPED_PAGE, width=width, height=1000, touch=True)
    try:
        page = opened.page
        # Touch: a finger drawing a line, as a tablet's touch screen reports it.
        box = page.locator("#pad").bounding_box()
        assert box["width"] <= width - 20
        touch = page.context.new_cdp_session(page)
        x = box["x"] + box["width"] / 2
        points = [(x, box["y"] + box["height"] * (0.15 + 0.035 * t)) for t in range(21)]
        touch.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [dict(x=points[0][0], y=points[0][1])]})
        for px, py in points[1:]:
            touch.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [dict(x=px, y=py)]})
        touch.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
        assert page.locator("#pad-prediction").inner_text().startswith("The network reads your drawing as 1,")
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"the page is {overflow} px wider than a {width} px screen"
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"standalone_page_{width}.png"), full_page=True)
    finally:
        opened.close()


@pytest.mark.slow
def test_axe_core_finds_no_accessibility_violations(shipped):
    script = axe_core_script()
    if script is None:
        pytest.skip("npm could not install axe-core (no npm, or no network?): accessibility check not run")
    page = shipped.page
    draw(page, [[(80, 60), (200, 60), (190, 80), (130, 240)]])      # every part of the page filled in
    page.evaluate(script.read_text(encoding="utf-8"))              # evaluate: not subject to the page's policy
    violations = page.evaluate("""async () => (await axe.run(document)).violations.map(
        v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(" ")).slice(0, 3)}))""")
    assert violations == []
