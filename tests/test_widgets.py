"""Headless tests of the digit slider and the drawing pad (scratchcnn section 11).

The widgets are driven from Python exactly as the browser drives them: setting a
control's value (what moving the slider does), clicking a button, or setting the
canvas's ``png`` trait (what the JavaScript does on mouse release). The real
browser is tested in test_browser.py.
"""
import base64
import io
import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.image
import matplotlib.pyplot as plt
import numpy as np
import pytest

import scratchcnn
from course_machinery import plots
from course_machinery import digit_likeness, widgets


@pytest.fixture(scope="module")
def default_slider():
    """One slider with every default: the shipped model and the 10,000 test images."""
    return widgets.digit_slider()


@pytest.fixture
def slider(default_slider):
    """A fresh slider that reuses the default one's predictions (cheap to build)."""
    return widgets.digit_slider(default_slider.model, default_slider.images, default_slider.labels,
                                   probabilities=default_slider.probabilities)


@pytest.fixture(scope="module")
def model(default_slider):
    return default_slider.model


@pytest.fixture(scope="module")
def likeness(model):
    """What MNIST's test digits look like to the shipped model (measured once, shared by the pads)."""
    return widgets.digit_likeness(model)


@pytest.fixture
def pad(model, likeness):
    return widgets.drawing_pad(model, likeness=likeness)


def read_png(data: bytes) -> np.ndarray:
    """PNG bytes -> the grey values (first colour channel) in [0, 1]."""
    return matplotlib.image.imread(io.BytesIO(data), format="png")[:, :, 0]


def as_drawing(digit: np.ndarray, scale: int = 10) -> np.ndarray:
    """A 28 x 28 test digit blown up to 280 x 280, as if drawn on the pad."""
    return np.kron(digit, np.ones((scale, scale)))


def data_url(drawing: np.ndarray) -> str:
    """What the canvas's JavaScript sends: an opaque RGBA PNG as a data URL."""
    buffer = io.BytesIO()
    plt.imsave(buffer, drawing, cmap="gray", vmin=0, vmax=1, format="png")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


strokes = digit_likeness.draw_strokes     # SYNTHETIC drawings, drawn like the pad's pen


NOT_DIGITS = {
    "a dot": strokes([((140, 140), (140, 140))]),
    "an X": strokes([((60, 60), (220, 220)), ((60, 220), (220, 60))]),
    "a horizontal line": strokes([((140, 40), (140, 240))]),
}


# --- the digit slider ----------------------------------------------------------

def test_default_slider_walks_the_whole_test_set_with_the_shipped_model(default_slider):
    images, labels = scratchcnn.load_mnist("test")
    assert default_slider.slider.min == 0 and default_slider.slider.max == len(images) - 1 == 9999
    np.testing.assert_array_equal(default_slider.labels, labels)
    shipped = scratchcnn.load_model(scratchcnn.DEFAULT_MODEL_PATH)
    np.testing.assert_allclose(default_slider.probabilities[:50], shipped.predict_proba(images[:50]),
                               rtol=1e-5, atol=1e-7)
    assert np.mean(default_slider.predictions == labels) >= 0.99


def test_moving_the_slider_updates_prediction_bars_image_and_feature_maps(slider):
    wrong = int(slider.misclassified[0])
    old_maps = [picture.value for picture in slider.feature_map_images]
    for index in (1, 2, 1234, 9999, wrong):
        slider.slider.value = index
        assert slider.index == index
        predicted, true_label = int(slider.probabilities[index].argmax()), int(slider.labels[index])
        assert f"prediction: {predicted} (true {true_label})" in slider.prediction_label.value
        assert ("color:green" if predicted == true_label else "color:red") in slider.prediction_label.value
        bars = np.array([bar.value for bar in slider.bars])
        np.testing.assert_allclose(bars, slider.probabilities[index], rtol=1e-6)
        assert slider.bars[predicted].bar_style == ("success" if predicted == true_label else "danger")
        if predicted != true_label:
            assert slider.bars[true_label].bar_style == "info"
        others = [bar for digit, bar in enumerate(slider.bars) if digit not in (predicted, true_label)]
        assert all(bar.bar_style == "" for bar in others)
        assert len({bar.style.bar_color for bar in others}) == 1      # one neutral colour
        assert others[0].style.bar_color not in {slider.bars[predicted].style.bar_color,
                                                 slider.bars[true_label].style.bar_color}
        shown = read_png(slider.image.value)
        assert shown.shape == (140, 140)                     # 28 x 28, each pixel a 5 x 5 block
        np.testing.assert_allclose(shown[::5, ::5], slider.images[index, 0], atol=0.5 / 255 + 1e-6)
        new_maps = [picture.value for picture in slider.feature_map_images]
        assert all(new != old for new, old in zip(new_maps, old_maps))
        old_maps = new_maps


def test_widgets_are_updated_in_place_not_recreated(slider):
    """No flicker: moving the slider changes values, never the widget tree."""
    children_before = [id(child) for child in slider.widget.children]
    image, label, bars = slider.image, slider.prediction_label, list(slider.bars)
    slider.slider.value = 42
    assert [id(child) for child in slider.widget.children] == children_before
    assert slider.image is image and slider.prediction_label is label and slider.bars == bars


def test_feature_maps_are_the_relu_outputs_of_both_conv_layers(slider):
    index = 7
    slider.slider.value = index
    x = slider.images[index:index + 1]
    outputs = []
    for layer in slider.model.layers:
        x = layer.forward(x)
        outputs.append(x)
    maps = plots.conv_feature_maps(slider.model, slider.images[index])
    assert [m.shape for m in maps] == [(8, 28, 28), (16, 14, 14)]
    np.testing.assert_allclose(maps[0], outputs[1][0], rtol=1e-6)
    np.testing.assert_allclose(maps[1], outputs[4][0], rtol=1e-6)
    tile = plots.tile_feature_maps(maps[0])
    assert tile.shape == (2 * 28 + 1, 4 * 28 + 3) and np.nanmax(tile) == pytest.approx(1.0)
    assert read_png(slider.feature_map_images[0].value).shape == (2 * tile.shape[0], 2 * tile.shape[1])


def test_misclassified_toggle_restricts_the_slider_to_mistakes(slider):
    mistakes = np.flatnonzero(slider.probabilities.argmax(axis=1) != slider.labels)
    assert 0 < len(mistakes) < 200
    k = next(k for k in range(1, len(mistakes)) if mistakes[k] - 1 != mistakes[k - 1])
    slider.slider.value = int(mistakes[k]) - 1             # a correctly classified image
    slider.misclassified_toggle.value = True
    assert slider.index == mistakes[k]                     # jumped to the next mistake
    assert (slider.slider.min, slider.slider.max) == (1, len(mistakes))   # mistakes count from 1
    visited = []
    for position in range(slider.slider.max, slider.slider.min - 1, -1):   # the whole slider, backwards
        slider.slider.value = position
        visited.append(slider.index)
        assert "color:red" in slider.prediction_label.value
    assert sorted(visited) == list(mistakes)
    assert set(visited) <= set(mistakes.tolist())

    slider.slider.value = 5                                # the fifth mistake
    slider.misclassified_toggle.value = False
    assert (slider.slider.min, slider.slider.max) == (0, len(slider.images) - 1)
    assert slider.index == mistakes[4] and slider.slider.value == mistakes[4]   # stays on the same image


def test_mistakes_count_from_one_in_the_number_box_and_the_text(slider):
    """The slider's number box and the text agree: box 13 <-> "mistake 13 of 73"."""
    slider.misclassified_toggle.value = True
    total = len(slider.misclassified)
    for value in (1, 2, 13, total):
        slider.slider.value = value
        assert slider.index == slider.misclassified[value - 1]
        assert f"mistake {value} of {total}" in slider.info_label.value
    assert slider.slider.description == "mistake"
    slider.slider.value = 1
    slider.misclassified_toggle.value = False              # all test images: numbered from 0, as images[i]
    assert slider.slider.value == slider.index == slider.misclassified[0]
    assert f"test image {slider.index}<br>" in slider.info_label.value


def test_previous_and_next_mistake_buttons(slider):
    mistakes = slider.misclassified
    slider.show(0)
    assert slider.previous_button.disabled or mistakes[0] == 0
    slider.next_button.click()                             # from image 0 to the first mistake
    assert slider.index == mistakes[0] and not slider.misclassified_toggle.value
    slider.next_button.click()
    assert slider.index == mistakes[1]
    slider.show(int(mistakes[3]) + 1 if mistakes[3] + 1 not in mistakes else int(mistakes[3]))
    slider.previous_button.click()
    assert slider.index == mistakes[3]
    slider.misclassified_toggle.value = True               # in mistakes mode they step the counter
    slider.next_button.click()
    assert slider.index == mistakes[4] and slider.slider.value == 5
    assert "mistake 5 of" in slider.info_label.value
    slider.show(int(mistakes[-1]))
    assert slider.next_button.disabled and not slider.previous_button.disabled
    assert slider.previous_button.description == "previous mistake"
    assert slider.next_button.description == "next mistake"


def test_accessible_names_alt_texts_and_pressed_state(slider):
    aria = slider.aria.attributes
    assert aria[".scratchcnn-slider .noUi-handle"]["aria-label"] == "test image number, 0 to 9999"
    assert aria[".scratchcnn-mistakes-toggle"]["aria-pressed"] == "false"
    assert "scratchcnn-slider" in slider.slider._dom_classes
    assert "scratchcnn-mistakes-toggle" in slider.misclassified_toggle._dom_classes
    assert "scratchcnn-digit-image" in slider.image._dom_classes
    slider.show(1234)
    label = slider.labels[1234]
    assert aria is not slider.aria.attributes                # a new dict each time, so that it syncs
    aria = slider.aria.attributes
    assert aria[".scratchcnn-digit-image"]["alt"].startswith(f"test image 1234: a handwritten {label}")
    for number, picture in enumerate(slider.feature_map_images, start=1):
        assert f"scratchcnn-conv-{number}" in picture._dom_classes
        assert f"conv {number} for test image 1234" in aria[f".scratchcnn-conv-{number}"]["alt"]
    slider.misclassified_toggle.value = True
    aria = slider.aria.attributes
    assert aria[".scratchcnn-mistakes-toggle"]["aria-pressed"] == "true"
    assert aria[".scratchcnn-slider .noUi-handle"]["aria-label"] == \
        f"mistake number, 1 to {len(slider.misclassified)}"
    slider.misclassified_toggle.value = False
    assert slider.aria.attributes[".scratchcnn-mistakes-toggle"]["aria-pressed"] == "false"
    # the JavaScript that puts them on the page: applies every selector's attributes, also later
    esm = slider.aria._esm
    assert "setAttribute(name, value)" in esm and "MutationObserver" in esm
    assert slider.aria.root == ".scratchcnn-digit-slider" and slider.aria in slider.widget.children


def _probability_rows(box_widget):
    boxes = [child for child in _all_widgets(box_widget) if "scratchcnn-probabilities" in child._dom_classes]
    assert len(boxes) == 1
    return boxes[0].children


def _all_widgets(widget):
    yield widget
    for child in getattr(widget, "children", ()):
        yield from _all_widgets(child)


def test_probability_rows_are_as_tall_as_their_content(slider, pad):
    """A row with a fixed height smaller than its content scrolls, shows scroll arrows
    and becomes a Tab stop: the rows have no fixed height and never scroll."""
    for widget in (slider.widget, pad.widget):
        rows = _probability_rows(widget)
        assert len(rows) == 10
        for row in rows:
            assert row.layout.height in (None, "auto") and row.layout.max_height is None
            assert row.layout.overflow == "visible"
            bar, percent = row.children
            assert bar.layout.height == "20px" and percent.layout.height is None   # content sizes itself


def test_percentages_are_honest():
    assert widgets.format_percent(0.9996) == "99.96%"
    assert widgets.format_percent(0.99999) == "> 99.99%"
    assert widgets.format_percent(1.0) == "> 99.99%" or widgets.format_percent(1.0) == "100.00%"
    assert widgets.format_percent(0.5) == "50.0%"
    assert widgets.format_percent(0.0001) == "< 0.1%" and widgets.format_percent(0.0) == "0.0%"
    assert all(widgets.format_percent(p) != "100.0%" for p in (0.9995, 0.99951, 0.9999999))


def test_show_jumps_to_an_image_and_leaves_mistake_mode_if_needed(slider):
    correct = int(np.flatnonzero(slider.predictions == slider.labels)[10])
    slider.misclassified_toggle.value = True
    slider.show(int(slider.misclassified[2]))
    assert slider.misclassified_toggle.value and slider.index == slider.misclassified[2]
    slider.show(correct)
    assert not slider.misclassified_toggle.value and slider.index == correct
    assert "color:green" in slider.prediction_label.value


def test_slider_accepts_a_students_own_model():
    images, labels = scratchcnn.load_mnist("test")
    own = scratchcnn.reference_cnn(seed=3, channels=(4, 6), hidden=16)   # untrained, other sizes
    slider = widgets.digit_slider(own, images[:200], labels[:200])
    np.testing.assert_allclose(slider.probabilities, own.predict_proba(images[:200]), rtol=1e-6)
    assert slider.slider.max == 199
    assert [m.shape for m in plots.conv_feature_maps(own, images[0])] == [(4, 28, 28), (6, 14, 14)]
    assert len(slider.feature_map_images) == 2
    slider.slider.value = 150
    assert f"(true {labels[150]})" in slider.prediction_label.value


def test_slider_displays_as_a_widget_with_a_static_text_fallback(slider):
    bundle = slider._repr_mimebundle_()
    text = bundle["text/plain"]
    assert "digit slider" in text and "live widget" in text and "running kernel" in text
    assert "needs Jupyter with a running kernel" in slider.static_text() and "figure" in slider.static_text()
    assert repr(slider) == "DigitSlider(10000 test images)" and repr(slider) not in text
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == slider.widget.model_id
    assert "scratchcnn-digit-slider" in slider.widget._dom_classes


def test_slider_static_figure(slider):
    slider.show(int(slider.misclassified[0]))
    fig = slider.figure()
    assert len(fig.axes) == 4
    assert "prediction" in fig.axes[0].get_title()
    plt.close(fig)


# --- the drawing pad --------------------------------------------------------------

def test_drawn_test_digits_are_read_correctly(pad, default_slider):
    images, labels = default_slider.images, default_slider.labels
    right_as_28x28 = [i for i in range(60) if default_slider.predictions[i] == labels[i]]
    read_right = 0
    for index in right_as_28x28:
        probabilities = pad.predict_drawing(as_drawing(images[index, 0]))
        assert probabilities.shape == (10,) and probabilities.sum() == pytest.approx(1.0, rel=1e-5)
        read_right += pad.prediction == labels[index]
    assert read_right >= 0.95 * len(right_as_28x28)

    # one in detail: test digit 0, a 7
    pad.predict_drawing(as_drawing(images[0, 0]))
    assert labels[0] == 7 and pad.prediction == 7
    assert "prediction: 7" in pad.prediction_label.value
    np.testing.assert_allclose([bar.value for bar in pad.bars], pad.probabilities, rtol=1e-6)
    assert pad.bars[7].bar_style == "success"
    assert pad.steps["cropped"].shape[0] > 150 and max(pad.steps["scaled"].shape) == 20
    centred = read_png(pad.step_images[3].value)          # the 28 x 28 step, blown up x4 into 112 x 112
    np.testing.assert_allclose(centred[::4, ::4], pad.steps["centred"], atol=0.5 / 255 + 1e-6)


def test_the_canvas_trait_triggers_a_prediction(pad, default_slider):
    """What the browser does on mouse release: set ``png`` to the canvas as a PNG data URL."""
    digit, label = default_slider.images[1, 0], default_slider.labels[1]
    pad.canvas.png = data_url(as_drawing(digit))
    assert pad.prediction == label == 2
    assert "prediction: 2" in pad.prediction_label.value


def test_draw_from_code_goes_through_the_canvas(pad, default_slider):
    digit = default_slider.images[3, 0]                    # a 0, drawn at 140 x 140: draw() resizes it
    pad.draw(as_drawing(digit, scale=5))
    assert pad.canvas.png.startswith("data:image/png;base64,")
    assert pad.prediction == default_slider.labels[3] == 0
    np.testing.assert_allclose(pad.steps["grey"].shape, (280, 280))


def test_dark_ink_on_white_paper_is_inverted(pad, default_slider):
    drawing = as_drawing(default_slider.images[0, 0])
    white_paper = pad.predict_drawing(1 - drawing)
    black_paper = pad.predict_drawing(drawing)
    np.testing.assert_allclose(white_paper, black_paper, rtol=1e-5, atol=1e-7)


def test_clear_button_resets_canvas_steps_and_bars(pad, default_slider):
    pad.draw(as_drawing(default_slider.images[0, 0]))
    assert pad.prediction == 7
    assert read_png(pad.step_images[0].value).std() > 0    # a drawing is shown
    pad.clear_button.click()
    assert pad.canvas.png == ""
    assert pad.prediction is None and pad.steps == {}
    assert all(bar.value == 0 for bar in pad.bars)
    assert "draw a digit" in pad.prediction_label.value
    for picture in pad.step_images:
        placeholder = read_png(picture.value)
        assert np.all(placeholder == placeholder[0, 0])     # uniform grey placeholders
    with pytest.raises(ValueError, match="nothing drawn"):
        pad.figure()


def test_pad_steps_are_labelled_with_their_sizes(pad, default_slider):
    assert all("nothing drawn yet" in label.value for label in pad.step_labels)
    pad.predict_drawing(as_drawing(default_slider.images[0, 0]))
    for number, (label, step) in enumerate(zip(pad.step_labels, ("ink", "cropped", "scaled", "centred")), start=1):
        h, w = pad.steps[step].shape
        assert f"{h} x {w} pixels" in label.value and pad.STEP_TITLES[number - 1] in label.value
        assert f"scratchcnn-step-{number}" in pad.step_images[number - 1]._dom_classes
        assert pad.aria.attributes[f".scratchcnn-step-{number}"]["alt"].endswith(f"{h} x {w} pixels")
    assert "20 x" in pad.step_labels[2].value or "x 20 pixels" in pad.step_labels[2].value
    assert "28 x 28 pixels" in pad.step_labels[3].value


@pytest.mark.parametrize("name", list(NOT_DIGITS))
def test_a_drawing_unlike_any_digit_is_called_so(pad, name):
    """A dot, an X, a line (SYNTHETIC strokes): the network still gives them a digit, often
    very sure; the pad says the drawing does not look like a digit and why."""
    probabilities = pad.predict_drawing(NOT_DIGITS[name])
    assert probabilities is not None and pad.prediction in range(10)
    assert pad.not_a_digit, f"{name} should not look like a digit"
    note = pad.note_label.value
    assert "does not look like a digit" in note and "no \"none of these\" answer" in note
    assert widgets.format_percent(probabilities.max()) in note and "100.0%" not in note
    assert "100.0%" not in pad.prediction_label.value
    fig = pad.figure()
    assert "does not look like a digit" in fig.axes[4].get_title()
    plt.close(fig)


def test_which_measure_flags_a_dot_an_x_and_a_line(pad, likeness):
    pad.predict_drawing(NOT_DIGITS["a dot"])                # a dot scaled to 20 pixels: a filled disc
    assert any("too much ink" in reason for reason in pad.not_a_digit)
    assert pad.steps["centred"].sum() > likeness.ink_range[1]
    pad.predict_drawing(NOT_DIGITS["a horizontal line"])    # far wider than tall
    assert any("times as wide as tall" in reason for reason in pad.not_a_digit), pad.not_a_digit
    assert likeness.measure(pad.steps["centred"])["width"][0] > likeness.width_limit
    pad.predict_drawing(NOT_DIGITS["an X"])                 # normal ink and shape, unusual in every other way
    assert any("unlike the digits the network knows" in reason for reason in pad.not_a_digit), pad.not_a_digit
    measured = likeness.measure(pad.steps["centred"])
    assert measured["unusual"][0] > likeness.unusual_limit
    for name in likeness.UNUSUAL_MEASURES:                  # rare in each of the three ways
        assert likeness.share_as_far_out(name, measured[name])[0] < 0.2, name


def issue_drawing(name):
    """The drawings issue 20 named, drawn straight (no jitter): lines by length and tilt, or a shape."""
    if name.startswith("line"):
        _, length, degrees = name.split()
        return digit_likeness.draw_strokes(digit_likeness._line(float(length), float(degrees)))
    return digit_likeness.draw_strokes([[(280 * y, 280 * x) for y, x in stroke]
                                        for stroke in digit_likeness.NON_DIGIT_SHAPES[name]])


def test_the_drawings_issue_20_named(likeness):
    """A flat line, the 60% line tilted 10 degrees, a dot, a triangle, a star, a plus sign and a
    letter A are all flagged; the A and the plus sign by the learned detector, with its reason."""
    def flagged(name):
        return bool(likeness.flags(scratchcnn.preprocess_digit(issue_drawing(name)))["any"][0])
    for name in ("line 0.6 0", "line 0.6 10", "line 0.8 -20", "dot", "triangle", "star", "plus sign", "letter A"):
        assert flagged(name), name
    for name in ("plus sign", "letter A"):
        reasons = likeness.reasons(scratchcnn.preprocess_digit(issue_drawing(name)))
        assert any("more like the non-digits the pad was shown" in reason for reason in reasons), (name, reasons)


def test_the_pad_builds_its_rule_on_its_first_drawing(model, likeness):
    """Building the rule takes seconds: a pad nobody draws on never pays for it."""
    pad = widgets.drawing_pad(model)
    assert pad._likeness is None
    pad.predict_drawing(NOT_DIGITS["an X"])
    assert pad._likeness is likeness and pad.not_a_digit     # digit_likeness(model): built once per model


def test_fit_logistic_separates_what_it_can_and_is_deterministic():
    rng = np.random.default_rng(0)
    features = np.concatenate([rng.normal(0, 1, (200, 3)), rng.normal([3, 0, 0], 1, (50, 3))])
    is_non_digit = np.repeat([0.0, 1.0], [200, 50])
    weights = np.ones(250)
    fitted = digit_likeness.fit_logistic(features, is_non_digit, weights, penalty=1.0)
    scores = digit_likeness.log_odds(features, *fitted)
    assert np.mean((scores > 0) == (is_non_digit == 1)) > 0.9      # the classes overlap a little
    assert abs(fitted[2][0]) > 5 * max(abs(fitted[2][1]), abs(fitted[2][2]))   # only feature 0 tells them apart
    again = digit_likeness.fit_logistic(features, is_non_digit, weights, penalty=1.0)
    assert all(np.array_equal(a, b) for a, b in zip(fitted, again))


def rate(likeness, drawings):
    return likeness.flags(np.stack([scratchcnn.preprocess_digit(picture) for picture in drawings.values()]))["any"]


@pytest.mark.slow        # about 15 s: the 10,000 test digits through the network and their nearest neighbours
def test_the_rule_on_drawn_non_digits_and_on_the_test_digits(likeness):
    """Both rates, measured: the SYNTHETIC non-digits (lines, letters, signs, shapes, scribbles
    drawn like the pad draws) are mostly flagged, on the half the rule was chosen on and on the
    held-out half; MNIST's 10,000 test digits, which set no limit, about 1 in 100; digits drawn
    with the pad's pen, none. The numbers notebook 09 states. (The held-out SHAPES, drawings of kinds
    the detector never learned from, are measured in the DigitLikeness docstring.)"""
    tuning, held_out = widgets.non_digit_drawings("tuning"), widgets.non_digit_drawings("held-out")
    assert len(tuning) == len(held_out) >= 120 and set(tuning) != set(held_out)
    assert not any(np.array_equal(tuning[name], held_out.get(name)) for name in tuning)
    assert 0.86 <= rate(likeness, tuning).mean() < 0.91          # 114 of 129
    assert 0.89 <= rate(likeness, held_out).mean() < 0.94        # 118 of 129
    drawn = digit_likeness.drawn_digits()
    assert rate(likeness, drawn).sum() == 0, "a digit drawn with the pad's pen was flagged"
    images, _ = scratchcnn.load_mnist("test")
    test_flags = likeness.flags(np.stack([scratchcnn.preprocess_digit(image[0]) for image in images]))
    assert 0.005 < test_flags["any"].mean() <= 0.0105, {name: value.sum() for name, value in test_flags.items()}


def test_real_test_digits_get_no_not_a_digit_note(pad, default_slider):
    images = default_slider.images
    for index in (0, 1, 2, 3, 4):                           # test digits drawn large on the pad
        pad.predict_drawing(as_drawing(images[index, 0]))
        assert pad.not_a_digit == [] and pad.note_label.value == "", (index, pad.not_a_digit)
        assert pad.note_label.layout.display == "none"
    pad.predict_drawing(strokes([((40, 140), (240, 146))]))  # a vertical stroke is a fine "1"
    assert pad.prediction == 1 and pad.not_a_digit == []


def test_the_limits_are_measured_on_training_digits(likeness, model):
    """Nothing guessed: the limits are percentiles of 5,000 training digits (after preprocessing),
    the neighbours 15,000 other training digits' hidden features."""
    images, _ = scratchcnn.load_mnist("train")
    calibration = np.stack([scratchcnn.preprocess_digit(image[0]) for image in images[15_000:20_000]])
    ink = calibration.reshape(len(calibration), -1).sum(axis=1)
    low, high = likeness.ink_range
    assert 20 < low < 40 and 200 < high < 260
    assert np.mean((ink < low) | (ink > high)) == pytest.approx(0.001, abs=0.0005)
    assert np.mean(digit_likeness.width_to_height(calibration) > likeness.width_limit) <= 0.001
    assert likeness.reference_features.shape == (15_000, 128) and likeness.reference_pixels.shape == (15_000, 784)
    measured = likeness.measure(calibration)
    assert np.mean(measured["unusual"] > likeness.unusual_limit) == pytest.approx(0.003, abs=0.001)
    assert np.mean(measured["learned"] > likeness.learned_limit) == pytest.approx(0.003, abs=0.001)
    assert len(likeness.detectors) >= 5          # one per answer some learning non-digit was read as
    assert widgets.digit_likeness(model) is likeness       # measured once per model


def test_a_blank_drawing_predicts_nothing(pad):
    assert pad.predict_drawing(np.zeros((280, 280))) is None
    assert pad.prediction is None and "draw a digit" in pad.prediction_label.value


def test_pad_static_figure_and_text_form(pad, default_slider):
    pad.draw(as_drawing(default_slider.images[0, 0]))
    fig = pad.figure()
    assert len(fig.axes) == 5 and fig.axes[4].get_title() == "prediction: 7"
    plt.close(fig)
    bundle = pad._repr_mimebundle_()
    assert "drawing pad" in bundle["text/plain"] and "running kernel" in bundle["text/plain"]
    assert repr(pad) == "DrawingPad(280 x 280 canvas)"
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert "export default" in pad.canvas._esm and "pointerup" in pad.canvas._esm
    assert 'setAttribute("aria-label", model.get("label"))' in pad.canvas._esm and "draw one digit" in pad.canvas.label


def test_a_static_copy_shows_the_text_fallback(slider, pad, default_slider):
    """What a static renderer gets: nbconvert's Markdown export (like GitHub, which cannot run
    widgets) falls back to text/plain, which now says what the widget is."""
    import nbformat
    from nbconvert import MarkdownExporter
    pad.draw(as_drawing(default_slider.images[0, 0]))
    notebook = nbformat.v4.new_notebook()
    for widget in (slider, pad):
        cell = nbformat.v4.new_code_cell("widget")
        cell.outputs = [nbformat.v4.new_output("execute_result", data=widget._repr_mimebundle_(), execution_count=1)]
        notebook.cells.append(cell)
    markdown, _ = MarkdownExporter().from_notebook_node(notebook)
    assert "[digit slider: a live widget" in markdown and "[drawing pad: a live widget" in markdown
    assert "DigitSlider(" not in markdown


def test_importing_scratchcnn_needs_no_widget_libraries():
    code = ("import sys, scratchcnn; "
            "assert 'ipywidgets' not in sys.modules and 'anywidget' not in sys.modules, 'imported eagerly'")
    subprocess.run([sys.executable, "-c", code], check=True)


# --- keys, accessibility, the digit picker --------------------------------------

def test_keys_on_the_handle_move_the_slider(slider):
    """What the browser helper sends for a key on the slider's handle (in JupyterLab and Notebook 7 alike)."""
    slider.show(100)
    for key, expected in (("ArrowRight", 101), ("ArrowUp", 102), ("ArrowLeft", 101), ("ArrowDown", 100),
                          ("PageUp", 110), ("PageDown", 100), ("End", 9999), ("ArrowRight", 9999), ("Home", 0),
                          ("ArrowLeft", 0), (" ", 0), ("x", 0)):
        slider.press_key(key)
        assert slider.index == expected, (key, slider.index)
    slider.misclassified_toggle.value = True                 # in mistakes mode a key steps the counter
    slider.press_key("ArrowRight")
    assert slider.slider.value == 2 and slider.index == slider.misclassified[1]
    slider.aria._handle_custom_msg({"key": "ArrowRight"}, [])   # the message path from the browser
    assert slider.slider.value == 3
    esm = slider.aria._esm
    assert 'window.addEventListener("keydown", key, true)' in esm and "model.send({ key: event.key })" in esm
    assert "event.preventDefault()" in esm                   # space on the handle scrolls nothing


def test_buttons_are_named_by_their_words_not_icons(slider, pad):
    for button in (slider.previous_button, slider.next_button, pad.clear_button):
        assert button.icon == "", button.description


def test_number_box_labels_and_live_region(slider, pad):
    aria = slider.aria.attributes
    box = aria[".scratchcnn-slider .widget-readout"]
    assert box == {"role": "textbox", "aria-label": "type the test image number, 0 to 9999"}
    for widget in (slider, pad):
        attributes = widget.aria.attributes
        assert attributes['[title="null"]'] == {"title": None}            # removed on the page
        assert attributes[".scratchcnn-prediction"] == {"role": "status", "aria-live": "polite"}
    assert "element.removeAttribute(name)" in slider.aria._esm


def test_a_test_digit_can_be_picked_instead_of_drawn(pad, default_slider):
    labels = default_slider.labels
    options = dict(pad.digit_picker.options)
    assert len(options) == 11 and pad.digit_picker.value == -1
    for name, index in list(options.items())[1:]:
        assert name == f"a {labels[index]} (test image {index})"
    index = options[[name for name in options if name.startswith("a 5 ")][0]]
    pad.digit_picker.value = index
    assert pad.prediction == 5 and pad.canvas.png.startswith("data:image/png")
    np.testing.assert_allclose(pad.steps["centred"], scratchcnn.preprocess_digit(
        widgets._read_png_data_url(pad.canvas.png)), atol=1e-6)
    pad.clear()
    assert pad.digit_picker.value == -1 and pad.prediction is None


def test_the_pad_steps_wrap_and_never_scroll(pad):
    """In a narrow window the four step columns wrap instead of being squeezed or clipped."""
    steps_box = pad.widget.children[1].children[0]
    assert steps_box.layout.flex_flow == "row wrap" and steps_box.layout.overflow == "visible"
    for column in steps_box.children:
        assert column.layout.flex == "0 0 auto" and column.layout.overflow == "visible"
    assert pad.widget.children[1].layout.min_width == "0"


# --- the committed notebooks -----------------------------------------------------

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))


def test_every_notebook_names_the_kernel_as_the_installed_ipykernel_does():
    """JupyterLab rewrites a notebook's kernelspec to the running kernel's: a notebook committed
    with another display name is 'modified' as soon as it is opened."""
    from jupyter_client.kernelspec import KernelSpecManager
    import nbformat
    spec = KernelSpecManager().get_kernel_spec("python3")
    assert len(NOTEBOOKS) >= 11
    for path in NOTEBOOKS:
        kernelspec = nbformat.read(path, as_version=4).metadata["kernelspec"]
        assert kernelspec == {"display_name": spec.display_name, "language": spec.language, "name": "python3"}, path


def test_an_html_export_of_notebook_09_shows_the_figures_and_the_note():
    """nbconvert's HTML of the committed notebook (as GitHub or a browser offline shows it): no widget
    state is saved, so no frozen widget; each widget's place says it needs a kernel, and the figures are there."""
    import nbformat
    from nbconvert import HTMLExporter
    notebook = nbformat.read(NOTEBOOKS[0].parent / "09_play_with_it.ipynb", as_version=4)
    assert "widgets" not in notebook.metadata
    html, _ = HTMLExporter().from_notebook_node(notebook)
    assert "application/vnd.jupyter.widget-state+json" not in html
    assert "application/vnd.jupyter.widget-view+json" not in html
    for name in ("digit slider", "drawing pad"):
        assert f"The {name} is a live widget: it needs Jupyter with a running kernel" in html
        assert f"[{name}: a live widget; it needs a running kernel]" in html
    assert html.count("data:image/png;base64,") >= 5        # the static figures
