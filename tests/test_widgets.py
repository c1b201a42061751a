"""Headless tests of the digit slider and the drawing pad (scratchcnn section 8).

The widgets are driven from Python exactly as the browser drives them: setting a
control's value (what moving the slider does), clicking a button, or setting the
canvas's ``png`` trait (what the JavaScript does on mouse release). The real
browser is tested in test_browser.py.
"""
import base64
import io
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.image
import matplotlib.pyplot as plt
import numpy as np
import pytest

import scratchcnn


@pytest.fixture(scope="module")
def default_slider():
    """One slider with every default: the shipped model and the 10,000 test images."""
    return scratchcnn.digit_slider()


@pytest.fixture
def slider(default_slider):
    """A fresh slider that reuses the default one's predictions (cheap to build)."""
    return scratchcnn.digit_slider(default_slider.model, default_slider.images, default_slider.labels,
                                   probabilities=default_slider.probabilities)


@pytest.fixture(scope="module")
def model(default_slider):
    return default_slider.model


@pytest.fixture
def pad(model):
    return scratchcnn.drawing_pad(model)


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


# --- the digit slider ----------------------------------------------------------

def test_default_slider_walks_the_whole_test_set_with_the_shipped_model(default_slider):
    images, labels = scratchcnn.load_mnist("test")
    assert default_slider.slider.min == 0 and default_slider.slider.max == len(images) - 1 == 9999
    np.testing.assert_array_equal(default_slider.labels, labels)
    shipped = scratchcnn.load_model(scratchcnn.DEFAULT_MODEL_PATH)
    np.testing.assert_allclose(default_slider.probabilities[:50], shipped.predict_proba(images[:50]), rtol=1e-5, atol=1e-7)
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
    maps = scratchcnn.conv_feature_maps(slider.model, slider.images[index])
    assert [m.shape for m in maps] == [(8, 28, 28), (16, 14, 14)]
    np.testing.assert_allclose(maps[0], outputs[1][0], rtol=1e-6)
    np.testing.assert_allclose(maps[1], outputs[4][0], rtol=1e-6)
    tile = scratchcnn.tile_feature_maps(maps[0])
    assert tile.shape == (2 * 28 + 1, 4 * 28 + 3) and np.nanmax(tile) == pytest.approx(1.0)
    assert read_png(slider.feature_map_images[0].value).shape == (2 * tile.shape[0], 2 * tile.shape[1])


def test_misclassified_toggle_restricts_the_slider_to_mistakes(slider):
    mistakes = np.flatnonzero(slider.probabilities.argmax(axis=1) != slider.labels)
    assert 0 < len(mistakes) < 200
    k = next(k for k in range(1, len(mistakes)) if mistakes[k] - 1 != mistakes[k - 1])
    slider.slider.value = int(mistakes[k]) - 1             # a correctly classified image
    slider.misclassified_toggle.value = True
    assert slider.index == mistakes[k]                     # jumped to the next mistake
    assert (slider.slider.min, slider.slider.max) == (0, len(mistakes) - 1)
    visited = []
    for position in range(slider.slider.max, -1, -1):      # walk the whole slider, backwards
        slider.slider.value = position
        visited.append(slider.index)
        assert "color:red" in slider.prediction_label.value
    assert sorted(visited) == list(mistakes)
    assert set(visited) <= set(mistakes.tolist())

    slider.slider.value = 5
    slider.misclassified_toggle.value = False
    assert slider.slider.max == len(slider.images) - 1
    assert slider.index == mistakes[5] and slider.slider.value == mistakes[5]   # stays on the same image


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
    slider = scratchcnn.digit_slider(own, images[:200], labels[:200])
    np.testing.assert_allclose(slider.probabilities, own.predict_proba(images[:200]), rtol=1e-6)
    assert slider.slider.max == 199
    assert [m.shape for m in scratchcnn.conv_feature_maps(own, images[0])] == [(4, 28, 28), (6, 14, 14)]
    assert len(slider.feature_map_images) == 2
    slider.slider.value = 150
    assert f"(true {labels[150]})" in slider.prediction_label.value


def test_slider_displays_as_a_widget_with_a_short_text_form(slider):
    bundle = slider._repr_mimebundle_()
    assert bundle["text/plain"] == "DigitSlider(10000 test images)"
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


def test_a_blank_drawing_predicts_nothing(pad):
    assert pad.predict_drawing(np.zeros((280, 280))) is None
    assert pad.prediction is None and "draw a digit" in pad.prediction_label.value


def test_pad_static_figure_and_text_form(pad, default_slider):
    pad.draw(as_drawing(default_slider.images[0, 0]))
    fig = pad.figure()
    assert len(fig.axes) == 5 and fig.axes[4].get_title() == "prediction: 7"
    plt.close(fig)
    bundle = pad._repr_mimebundle_()
    assert bundle["text/plain"] == "DrawingPad(280 x 280 canvas)"
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert "export default" in pad.canvas._esm and "pointerup" in pad.canvas._esm


def test_importing_scratchcnn_needs_no_widget_libraries():
    code = ("import sys, scratchcnn; "
            "assert 'ipywidgets' not in sys.modules and 'anywidget' not in sys.modules, 'imported eagerly'")
    subprocess.run([sys.executable, "-c", code], check=True)
