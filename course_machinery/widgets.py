"""The widgets of notebook 09: the digit slider and the drawing pad with its not-a-digit check."""

from __future__ import annotations

import numpy as np

from course_machinery.file_safety import check_png_size
from scratchcnn import DEFAULT_MODEL_PATH, centre_of_mass, load_mnist, load_model, preprocess_digit, resize_image, to_grey
from .digit_likeness import DigitLikeness, digit_likeness, non_digit_drawings  # noqa: F401 (part of the API)
from .plots import _fit_in_square, _png, conv_feature_maps, tile_feature_maps


def _probability_bars(widgets):
    """Ten horizontal bars, one per digit: (box, bars, percent labels).

    Each row is as tall as what it holds (no fixed height): a row shorter than its
    content would scroll, and a browser makes every scrolling box a Tab stop."""
    bars, percents, rows = [], [], []
    for digit in range(10):
        bar = widgets.FloatProgress(value=0.0, min=0.0, max=1.0, description=str(digit),
                                    layout=widgets.Layout(width="230px", height="20px"))
        bar.style.description_width = "14px"
        percent = widgets.Label("0.0%", layout=widgets.Layout(width="70px"))
        bars.append(bar)
        percents.append(percent)
        rows.append(widgets.HBox([bar, percent], layout=widgets.Layout(align_items="center", overflow="visible")))
    box = widgets.VBox(rows, layout=widgets.Layout(overflow="visible"))
    box.add_class("scratchcnn-probabilities")
    return box, bars, percents


_BAR_COLOURS = {"success": "#43a047", "danger": "#e53935", "info": "#1e88e5", "": "#9e9e9e"}


def format_percent(probability: float) -> str:
    """A probability as an honest percentage: one decimal, but never "100.0%" for a
    probability below 1 (0.99996 is "> 99.99%"), and never "0.0%" for one above 0."""
    percent = 100 * float(probability)
    if percent >= 99.95:
        return f"{percent:.2f}%" if percent < 99.995 else "> 99.99%"
    if 0 < percent < 0.05:
        return "< 0.1%"
    return f"{percent:.1f}%"


def _set_bars(bars, percents, probabilities, predicted, true_label=None):
    """Bar heights = probabilities. Green: the prediction (red if it is wrong); blue: the
    true class; grey: the rest (set explicitly: an unstyled progress bar would be blue)."""
    for digit, (bar, percent) in enumerate(zip(bars, percents)):
        bar.value = float(probabilities[digit])
        percent.value = format_percent(probabilities[digit])
        if digit == predicted:
            bar.bar_style = "success" if true_label in (None, predicted) else "danger"
        elif digit == true_label:
            bar.bar_style = "info"
        else:
            bar.bar_style = ""
        bar.style.bar_color = _BAR_COLOURS[bar.bar_style]


def _draw_probability_bars(ax, probabilities, predicted, true_label=None):
    """The widget's ten bars as a matplotlib bar chart (for the static figures)."""
    colours = ["tab:grey"] * 10
    if true_label is not None and true_label != predicted:
        colours[true_label] = "tab:blue"
    colours[predicted] = "tab:green" if true_label in (None, predicted) else "tab:red"
    ax.barh(range(10), probabilities, color=colours)
    ax.set(xlim=(0, 1), yticks=range(10), xlabel="probability", title="probabilities")
    ax.invert_yaxis()


# Accessibility and keys. ipywidgets has no way to set ARIA attributes: the slider's
# handle has no accessible name, a picture has no alt text and a ToggleButton does not
# say whether it is pressed. So each widget keeps the attributes it wants in Python
# (``attributes``: CSS selector -> {attribute: value or None to remove it}, updated as
# the widget changes) and a hidden helper view, a few lines of JavaScript, copies them
# onto the matching elements inside the widget, also onto elements created later.
# The same helper takes the keys: Notebook 7 reads arrow keys as notebook shortcuts
# before the slider sees them, and space on the slider scrolls the page. A listener on
# the window in the capture phase runs before any notebook shortcut: keys on the
# slider's handle go to Python (``on_key``), which moves the slider the same way in
# JupyterLab and Notebook 7; keys on our buttons and menus only stop there, so the
# browser's own action (press, choose) happens and no shortcut fires.
_ARIA_JAVASCRIPT = """
const SLIDER_KEYS = ["ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown", "PageUp", "PageDown", "Home", "End", " "];
function render({ model, el }) {
  el.style.display = "none";
  let root = null, timer = null;
  function apply() {
    if (!root) return;
    for (const [selector, attributes] of Object.entries(model.get("attributes"))) {
      for (const element of root.querySelectorAll(selector)) {
        for (const [name, value] of Object.entries(attributes)) {
          if (value === null) { if (element.hasAttribute(name)) element.removeAttribute(name); }
          else if (element.getAttribute(name) !== value) element.setAttribute(name, value);
        }
      }
    }
  }
  function key(event) {
    if (!root || !root.contains(event.target) || event.ctrlKey || event.altKey || event.metaKey) return;
    const target = event.target;
    if (target.closest(".noUi-handle") && SLIDER_KEYS.includes(event.key) && !event.shiftKey) {
      event.preventDefault();                    // no page scroll on space, no shortcut
      event.stopPropagation();
      model.send({ key: event.key });
    } else if (target.matches("button, select") && ["Enter", " ", "ArrowUp", "ArrowDown",
               "ArrowLeft", "ArrowRight", "Home", "End"].includes(event.key) && !event.shiftKey) {
      event.stopPropagation();                   // the browser presses or chooses; no shortcut
    }
  }
  window.addEventListener("keydown", key, true);
  const observer = new MutationObserver(apply);
  function attach() {                    // our element joins the page after render()
    root = el.closest(model.get("root"));
    if (!root) { timer = setTimeout(attach, 50); return; }
    observer.observe(root, { childList: true, subtree: true, attributes: true, attributeFilter: ["title"] });
    apply();
  }
  attach();
  model.on("change:attributes", apply);
  return () => {
    clearTimeout(timer); observer.disconnect(); model.off("change:attributes", apply);
    window.removeEventListener("keydown", key, true);
  };
}
export default { render };
"""

# The drawing canvas runs in the browser: a few lines of JavaScript (an ES
# module for anywidget). It draws white strokes on black, like MNIST, and on
# mouse release sends the picture to Python as a PNG data URL in ``png``.
# When Python sets ``png`` (clear, or a drawing from code) it paints it.
_CANVAS_JAVASCRIPT = """
function render({ model, el }) {
  const size = model.get("size");
  const canvas = document.createElement("canvas");
  canvas.width = size;
  canvas.height = size;
  canvas.className = "scratchcnn-pad-canvas";
  canvas.setAttribute("role", "img");
  canvas.setAttribute("aria-label", model.get("label"));
  canvas.style.cssText = "background: black; border: 2px solid #888; border-radius: 4px;"
    + " cursor: crosshair; touch-action: none;";
  el.appendChild(canvas);
  const context = canvas.getContext("2d");
  let drawing = false, last = null, sent = null;

  function blank() {
    context.fillStyle = "black";
    context.fillRect(0, 0, size, size);
  }
  function paint(url) {
    blank();
    if (!url) return;
    const picture = new Image();
    picture.onload = () => { blank(); context.drawImage(picture, 0, 0, size, size); };
    picture.src = url;
  }
  function point(event) {
    const box = canvas.getBoundingClientRect();
    return [(event.clientX - box.left) * size / box.width, (event.clientY - box.top) * size / box.height];
  }
  function line(from, to) {
    context.beginPath();
    if (from[0] === to[0] && from[1] === to[1]) {   // a click: the canvas strokes no zero-length line
      context.fillStyle = "white";
      context.arc(from[0], from[1], model.get("line_width") / 2, 0, 2 * Math.PI);
      context.fill();
      return;
    }
    context.strokeStyle = "white";
    context.lineWidth = model.get("line_width");
    context.lineCap = "round";
    context.lineJoin = "round";
    context.moveTo(from[0], from[1]);
    context.lineTo(to[0], to[1]);
    context.stroke();
  }
  canvas.addEventListener("pointerdown", (event) => {
    drawing = true;
    last = point(event);
    canvas.setPointerCapture(event.pointerId);
    line(last, last);
  });
  canvas.addEventListener("pointermove", (event) => {
    if (!drawing) return;
    const next = point(event);
    line(last, next);
    last = next;
  });
  function release() {
    if (!drawing) return;
    drawing = false;
    sent = canvas.toDataURL("image/png");
    model.set("png", sent);
    model.save_changes();
  }
  canvas.addEventListener("pointerup", release);
  canvas.addEventListener("pointercancel", release);

  const changed = () => { if (model.get("png") !== sent) paint(model.get("png")); };
  model.on("change:png", changed);
  paint(model.get("png"));
  return () => model.off("change:png", changed);
}
export default { render };
"""

_anywidget_classes = {}


def _anywidget_class(name):
    """The anywidget classes ("DrawingCanvas", "AriaAttributes"), defined on first use
    (so that importing scratchcnn does not need anywidget)."""
    if not _anywidget_classes:
        import anywidget
        import traitlets

        class DrawingCanvas(anywidget.AnyWidget):
            _esm = _CANVAS_JAVASCRIPT
            size = traitlets.Int(280).tag(sync=True)          # pixels, width = height
            line_width = traitlets.Float(18.0).tag(sync=True)
            png = traitlets.Unicode("").tag(sync=True)        # "data:image/png;base64,..." or "" (blank)
            label = traitlets.Unicode("drawing area: draw one digit with the mouse, then let go").tag(sync=True)

            def __repr__(self):
                return f"DrawingCanvas({self.size} x {self.size})"

        class AriaAttributes(anywidget.AnyWidget):
            _esm = _ARIA_JAVASCRIPT
            root = traitlets.Unicode().tag(sync=True)         # CSS selector of the widget it serves
            attributes = traitlets.Dict().tag(sync=True)      # CSS selector -> {attribute: value}

        _anywidget_classes.update(DrawingCanvas=DrawingCanvas, AriaAttributes=AriaAttributes)
    return _anywidget_classes[name]


# For both widgets: no 'title="null"' tooltips (ipywidgets writes them for labels without
# a tooltip), and the prediction is a polite live region: a screen reader announces it.
_COMMON_ARIA = {'[title="null"]': {"title": None},
                ".scratchcnn-prediction": {"role": "status", "aria-live": "polite"}}


class _WidgetView:
    """Shows as its ipywidgets container ``self.widget`` in a notebook, after a line
    saying that it needs a running kernel.

    A saved notebook keeps both outputs but no widget state (the notebooks are committed
    without ``metadata.widgets``), so every rendering shows something true: with a kernel,
    the line and the live widget; without one (nbconvert's HTML, GitHub, the notebook
    reopened later) the line, the widget's text form or JupyterLab's "model not found",
    and the static figure of the next cell, never a frozen copy that looks alive."""

    def _ipython_display_(self):
        from IPython.display import display
        display({"text/plain": self.static_text(), "text/markdown": self.static_text()}, raw=True)
        display(self._repr_mimebundle_(), raw=True)

    def _repr_mimebundle_(self, **kwargs):
        bundle = self.widget._repr_mimebundle_(**kwargs)
        bundle["text/plain"] = f"[{self.NAME}: a live widget; it needs a running kernel]"
        return bundle

    def static_text(self) -> str:
        return (f"The {self.NAME} is a live widget: it needs Jupyter with a running kernel (run the "
                f"notebook from the top). Where none runs, the figure under this cell shows the same view.")

    def _set_aria(self, attributes: dict) -> None:
        """Set {CSS selector: {attribute: value}} (e.g. {".x": {"alt": "..."}}) in one message."""
        self.aria.attributes = {**self.aria.attributes, **attributes}


class DigitSlider(_WidgetView):
    """Walk through the test set and watch the network: the digit, its prediction,
    the ten probabilities as bars and the feature maps of every conv layer.

    Make one with ``digit_slider()``; it displays as a widget in a notebook.
    Parts (for code and tests): ``slider`` (IntSlider: the test image, or in
    mistakes-only mode the mistake counted from 1), ``misclassified_toggle``
    (ToggleButton: walk through the mistakes only), ``previous_button`` and
    ``next_button`` (jump to the previous / next mistake), ``image`` (the digit,
    an ipywidgets.Image), ``prediction_label`` (HTML, "prediction: 7 (true 7)"),
    ``info_label``, ``bars`` (ten FloatProgress, value = probability),
    ``feature_map_images``, ``aria`` (the accessibility attributes and the keys,
    see ``press_key``), ``index`` (the test image shown), ``widget`` (the whole ipywidgets.VBox).

    All predictions are computed once, up front (``probabilities``), so moving
    the slider costs one small forward pass for the feature maps and a few PNGs.
    """

    NAME = "digit slider"

    def __init__(self, model=None, images=None, labels=None, probabilities=None):
        import ipywidgets as widgets
        self.model = model if model is not None else load_model(DEFAULT_MODEL_PATH)
        if images is None or labels is None:
            images, labels = load_mnist("test")
        self.images, self.labels = images, np.asarray(labels)
        self.probabilities = (np.asarray(probabilities) if probabilities is not None
                              else self.model.predict_proba(images))
        self.predictions = self.probabilities.argmax(axis=1)
        self.misclassified = np.flatnonzero(self.predictions != self.labels)
        self.positions = np.arange(len(images))   # the test images the slider walks through
        self.index = 0
        self._ignore_slider = False

        no_mistakes = len(self.misclassified) == 0
        self.slider = widgets.IntSlider(value=0, min=0, max=len(images) - 1, description="test image",
                                        continuous_update=True, layout=widgets.Layout(width="330px"))
        self.misclassified_toggle = widgets.ToggleButton(
            value=False, description=f"only the {len(self.misclassified)} mistakes",
            tooltip="walk through the misclassified test images only",
            disabled=no_mistakes, layout=widgets.Layout(width="180px"))
        self.previous_button = widgets.Button(description="previous mistake",
                                              tooltip="jump to the previous misclassified test image",
                                              disabled=no_mistakes, layout=widgets.Layout(width="150px"))
        self.next_button = widgets.Button(description="next mistake",
                                          tooltip="jump to the next misclassified test image",
                                          disabled=no_mistakes, layout=widgets.Layout(width="130px"))
        self.image = widgets.Image(format="png", layout=widgets.Layout(width="140px", height="140px"))
        self.prediction_label = widgets.HTML()
        self.info_label = widgets.HTML()
        bars_box, self.bars, self._percents = _probability_bars(widgets)
        self.feature_map_images, self._feature_map_shapes = [], []
        feature_boxes = []
        for number, maps in enumerate(conv_feature_maps(self.model, images[0]), start=1):
            picture = widgets.Image(format="png")
            picture.add_class(f"scratchcnn-conv-{number}")
            self.feature_map_images.append(picture)
            self._feature_map_shapes.append(maps.shape)
            feature_boxes.append(widgets.VBox([
                widgets.HTML(f"<b>conv {number}</b>: {maps.shape[0]} maps of {maps.shape[1]}x{maps.shape[2]}"),
                picture]))
        digit_box = widgets.VBox([self.image, self.prediction_label, self.info_label],
                                 layout=widgets.Layout(width="190px"))
        self.aria = _anywidget_class("AriaAttributes")(root=".scratchcnn-digit-slider", attributes=_COMMON_ARIA)
        self.widget = widgets.VBox([
            widgets.HBox([self.slider, self.misclassified_toggle, self.previous_button, self.next_button],
                         layout=widgets.Layout(flex_flow="row wrap")),
            widgets.HBox([digit_box, bars_box, *feature_boxes],
                         layout=widgets.Layout(flex_flow="row wrap", grid_gap="16px")),
            self.aria,
        ])
        for part, name in ((self.widget, "digit-slider"), (self.slider, "slider"), (self.image, "digit-image"),
                           (self.misclassified_toggle, "mistakes-toggle"), (self.prediction_label, "prediction"),
                           (self.info_label, "info"), (self.previous_button, "previous-mistake"),
                           (self.next_button, "next-mistake")):
            part.add_class(f"scratchcnn-{name}")
        self.slider.observe(self._slider_moved, names="value")
        self.misclassified_toggle.observe(self._toggle_changed, names="value")
        self.previous_button.on_click(lambda button: self.previous_mistake())
        self.next_button.on_click(lambda button: self.next_mistake())
        self.aria.on_msg(lambda helper, content, buffers: self.press_key(content.get("key", "")))
        self._label_controls(mistakes_only=False)
        self._show(0)

    # --- reacting to the controls ---------------------------------------------

    def _slider_moved(self, change):
        if not self._ignore_slider:
            self._show(int(self.positions[change["new"] - self.slider.min]))

    def _toggle_changed(self, change):
        """Switch between all test images (numbered from 0, as in ``images[i]``) and
        the mistakes (counted from 1: "mistake 13 of 73" at slider value 13), staying
        near the current image."""
        mistakes_only = change["new"]
        self.positions = self.misclassified if mistakes_only else np.arange(len(self.images))
        position = min(int(np.searchsorted(self.positions, self.index)), len(self.positions) - 1)
        first = 1 if mistakes_only else 0
        self._ignore_slider = True          # min, max and value change together; draw once
        try:
            self.slider.min = 0             # lower min first, so that min <= max at every step
            self.slider.max = first + len(self.positions) - 1
            self.slider.min = first
            self.slider.value = first + position
            self.slider.description = "mistake" if mistakes_only else "test image"
        finally:
            self._ignore_slider = False
        self._label_controls(mistakes_only)
        self._show(int(self.positions[position]))

    def show(self, index: int) -> None:
        """Move the slider to test image ``index`` (leaving the mistakes-only mode if
        ``index`` is not a mistake)."""
        if self.misclassified_toggle.value and index not in self.misclassified:
            self.misclassified_toggle.value = False
        self.slider.value = self.slider.min + int(np.searchsorted(self.positions, index))

    KEY_STEPS = {"ArrowRight": 1, "ArrowUp": 1, "ArrowLeft": -1, "ArrowDown": -1, "PageUp": 10, "PageDown": -10}

    def press_key(self, key: str) -> None:
        """A key pressed on the slider's handle (sent by the browser helper, see
        ``_ARIA_JAVASCRIPT``): arrows step by 1, Page Up / Down by 10, Home / End to the ends."""
        if key in self.KEY_STEPS:
            self.slider.value = int(np.clip(self.slider.value + self.KEY_STEPS[key], self.slider.min, self.slider.max))
        elif key in ("Home", "End"):
            self.slider.value = self.slider.min if key == "Home" else self.slider.max

    def next_mistake(self) -> None:
        """Jump to the first misclassified test image after the one shown (if any)."""
        later = self.misclassified[self.misclassified > self.index]
        if len(later):
            self.show(int(later[0]))

    def previous_mistake(self) -> None:
        """Jump to the last misclassified test image before the one shown (if any)."""
        earlier = self.misclassified[self.misclassified < self.index]
        if len(earlier):
            self.show(int(earlier[-1]))

    # --- drawing ------------------------------------------------------------------

    def _label_controls(self, mistakes_only):
        """Accessible names: the slider's handle says what it counts; the toggle says whether it is pressed."""
        what = (f"mistake number, 1 to {len(self.misclassified)}" if mistakes_only
                else f"test image number, 0 to {len(self.images) - 1}")
        self._set_aria({".scratchcnn-slider .noUi-handle": {"aria-label": what},
                        ".scratchcnn-slider .widget-readout": {"role": "textbox", "aria-label": f"type the {what}"},
                        ".scratchcnn-mistakes-toggle": {"aria-pressed": "true" if mistakes_only else "false"}})

    def _show(self, index: int) -> None:
        self.index = index
        probabilities = self.probabilities[index]
        predicted, true_label = int(self.predictions[index]), int(self.labels[index])
        self.image.value = _png(self.images[index].reshape(self.images.shape[-2:]), scale=5)
        colour = "green" if predicted == true_label else "red"
        self.prediction_label.value = (f"<span style='color:{colour}; font-size:1.2em'>"
                                       f"<b>prediction: {predicted} (true {true_label})</b></span>")
        mistake = (f"<br>mistake {int(np.searchsorted(self.misclassified, index)) + 1} of "
                   f"{len(self.misclassified)}" if predicted != true_label else "")
        self.info_label.value = (f"test image {index}<br>{format_percent(probabilities[predicted])} sure"
                                 + mistake)
        _set_bars(self.bars, self._percents, probabilities, predicted, true_label)
        self.previous_button.disabled = not np.any(self.misclassified < index)
        self.next_button.disabled = not np.any(self.misclassified > index)
        for picture, maps in zip(self.feature_map_images, conv_feature_maps(self.model, self.images[index])):
            picture.value = _png(tile_feature_maps(maps), scale=max(1, 56 // maps.shape[1]), cmap="magma")
        alt_texts = {".scratchcnn-digit-image": {"alt": f"test image {index}: a handwritten {true_label}, "
                                                        f"28 x 28 pixels; the network reads it as {predicted}"}}
        for number, (c, h, w) in enumerate(self._feature_map_shapes, start=1):
            alt_texts[f".scratchcnn-conv-{number}"] = {
                "alt": f"the {c} feature maps ({h} x {w}) of conv {number} for test image {index}: "
                       f"bright where a filter responds"}
        self._set_aria(alt_texts)

    def figure(self):
        """The widget's current view as a static matplotlib figure (for places where
        widgets do not render, such as GitHub)."""
        import matplotlib.pyplot as plt
        index = self.index
        predicted, true_label = int(self.predictions[index]), int(self.labels[index])
        maps = conv_feature_maps(self.model, self.images[index])
        tiles = [tile_feature_maps(layer_maps) for layer_maps in maps]
        widths = [1, 1.2] + [tile.shape[1] / tile.shape[0] for tile in tiles]   # no squeezed panels
        fig, axes = plt.subplots(1, len(widths), figsize=(3.4 * sum(widths), 3.6),
                                 gridspec_kw={"width_ratios": widths})
        axes[0].imshow(self.images[index].reshape(self.images.shape[-2:]), cmap="gray", vmin=0, vmax=1)
        axes[0].set_title(f"test image {index}\nprediction {predicted} (true {true_label})",
                          color="green" if predicted == true_label else "red")
        _draw_probability_bars(axes[1], self.probabilities[index], predicted, true_label)
        for number, (ax, layer_maps, tile) in enumerate(zip(axes[2:], maps, tiles), start=1):
            ax.imshow(tile, cmap="magma", vmin=0, vmax=1)
            ax.set_title(f"conv {number}: {layer_maps.shape[0]} feature maps")
        for ax in (axes[0], *axes[2:]):
            ax.set_xticks([])
            ax.set_yticks([])
        fig.tight_layout()
        return fig

    def __repr__(self):
        return f"DigitSlider({len(self.images)} test images)"


def digit_slider(model=None, images=None, labels=None, probabilities=None) -> DigitSlider:
    """The digit slider widget: ``model`` defaults to the shipped pretrained CNN,
    ``images``/``labels`` to the MNIST test set; pass ``probabilities``
    (``model.predict_proba(images)``) if you have them already."""
    return DigitSlider(model, images, labels, probabilities)


def _png_data_url(picture: np.ndarray) -> str:
    import base64
    return "data:image/png;base64," + base64.b64encode(_png(np.clip(picture, 0, 1))).decode("ascii")


def _read_png_data_url(url: str) -> np.ndarray:
    """A PNG data URL -> 2-D grey float array in [0, 1]."""
    import base64
    import io
    import matplotlib.image
    data = base64.b64decode(url.split(",", 1)[1])
    check_png_size(data[:24], "the drawing")
    return to_grey(matplotlib.image.imread(io.BytesIO(data), format="png"))


class DrawingPad(_WidgetView):
    """Draw a digit with the mouse and watch the network read it.

    On mouse release the drawing goes through ``preprocess_digit`` (crop to the
    ink, scale to 20 pixels, centre of mass to the middle of 28 x 28), each step
    is shown with its size, and the prediction and its ten probabilities appear.
    When the drawing does not look like an MNIST digit (``DigitLikeness``) a note
    says so, and that the network's probability does not know it.

    Parts: ``canvas`` (the anywidget; its ``png`` trait carries the drawing),
    ``clear_button``, ``digit_picker`` (a Dropdown: start from a test digit, the
    keyboard's way in; it draws the digit as if by hand), ``step_labels`` (four HTML titles with sizes), ``step_images``
    (four ipywidgets.Image), ``prediction_label``, ``note_label`` (the not-a-digit
    note, empty for a digit), ``bars``, ``aria``, ``widget`` (the whole HBox).
    After a prediction: ``prediction``, ``probabilities``, ``steps``
    (preprocess_digit's intermediate images), ``not_a_digit`` (the reasons, [] for a digit).
    """

    NAME = "drawing pad"
    STEP_TITLES = ("your drawing", "cropped to the ink", "scaled to 20 pixels", "centred in 28 x 28")

    def __init__(self, model=None, size=280, likeness=None):
        import ipywidgets as widgets
        self.model = model if model is not None else load_model(DEFAULT_MODEL_PATH)
        self._likeness = likeness
        self.canvas = _anywidget_class("DrawingCanvas")(size=size)
        self.clear_button = widgets.Button(description="clear", tooltip="wipe the drawing",
                                           layout=widgets.Layout(width="100px"))
        self.prediction_label = widgets.HTML()
        self.note_label = widgets.HTML(layout=widgets.Layout(max_width="480px"))
        self.step_labels = [widgets.HTML(layout=widgets.Layout(width="116px")) for _ in self.STEP_TITLES]
        self.step_images = [widgets.Image(format="png", layout=widgets.Layout(width="112px", height="112px"))
                            for _ in self.STEP_TITLES]
        bars_box, self.bars, self._percents = _probability_bars(widgets)
        # The keyboard's way in: start from a test digit (the first of each class), then draw on it.
        test_images, test_labels = load_mnist("test")
        firsts = [int(np.flatnonzero(test_labels == digit)[0]) for digit in range(10)]
        self._test_digits = {index: test_images[index].reshape(test_images.shape[-2:]) for index in firsts}
        self.digit_picker = widgets.Dropdown(
            options=[("(none)", -1)] + [(f"a {test_labels[index]} (test image {index})", index) for index in firsts],
            value=-1, description="or start from a test digit", style={"description_width": "initial"},
            layout=widgets.Layout(width="330px"))
        # Steps in columns that keep their size and wrap to the next line in a narrow window; nothing
        # scrolls (a scrolling box is an unnamed Tab stop).
        keep = dict(flex="0 0 auto", overflow="visible")
        steps_box = widgets.HBox([widgets.VBox([label, picture], layout=widgets.Layout(**keep))
                                  for label, picture in zip(self.step_labels, self.step_images)],
                                 layout=widgets.Layout(flex_flow="row wrap", overflow="visible", grid_gap="4px"))
        self.aria = _anywidget_class("AriaAttributes")(root=".scratchcnn-drawing-pad", attributes=_COMMON_ARIA)
        self.widget = widgets.HBox([
            widgets.VBox([self.canvas, self.clear_button, self.digit_picker], layout=widgets.Layout(**keep)),
            widgets.VBox([steps_box, self.prediction_label, self.note_label, bars_box],
                         layout=widgets.Layout(flex="1 1 300px", min_width="0", overflow="visible")),
            self.aria,
        ], layout=widgets.Layout(flex_flow="row wrap", grid_gap="16px", overflow="visible"))
        self.widget.add_class("scratchcnn-drawing-pad")
        self.prediction_label.add_class("scratchcnn-prediction")
        self.note_label.add_class("scratchcnn-not-a-digit")
        for number, picture in enumerate(self.step_images, start=1):
            picture.add_class(f"scratchcnn-step-{number}")
        self.canvas.observe(self._drawing_changed, names="png")
        self.clear_button.on_click(lambda button: self.clear())
        self.digit_picker.observe(self._digit_picked, names="value")
        self.digit_picker.add_class("scratchcnn-digit-picker")
        self._set_aria({".scratchcnn-digit-picker select": {"aria-label": self.digit_picker.description}})
        self.clear()

    @property
    def likeness(self) -> DigitLikeness:
        """The not-a-digit rule (``digit_likeness(model)``), built on the first drawing the pad reads:
        building it takes seconds, which a notebook run where nobody draws should not pay."""
        if self._likeness is None:
            self._likeness = digit_likeness(self.model)
        return self._likeness

    def _digit_picked(self, change):
        if change["new"] >= 0:
            self.draw(self._test_digits[change["new"]])

    def _drawing_changed(self, change):
        if change["new"]:
            self.predict_drawing(_read_png_data_url(change["new"]))
        else:
            self._show_blank()

    def _label_steps(self, sizes):
        """Each step's title, its size under it ("170 x 170 pixels"), and the same as alt text."""
        for label, title, size in zip(self.step_labels, self.STEP_TITLES, sizes):
            label.value = f"<div style='line-height: 1.3; font-size: 0.85em'>{title}<br>{size}</div>"
        self._set_aria({f".scratchcnn-step-{number}": {"alt": f"step {number}, {title}: {size}"}
                        for number, (title, size) in enumerate(zip(self.STEP_TITLES, sizes), start=1)})

    def predict_drawing(self, drawing: np.ndarray) -> np.ndarray | None:
        """Preprocess a drawing (2-D, white ink on black or dark ink on white, any
        size), show the steps and the prediction; returns the ten probabilities
        (None when the drawing is blank)."""
        try:
            centred, steps = preprocess_digit(drawing, return_steps=True)
        except ValueError:                  # blank: nothing drawn
            self._show_blank()
            return None
        self.steps = steps
        self.probabilities = self.model.predict_proba(centred[None, None])[0]
        self.prediction = int(self.probabilities.argmax())
        self.not_a_digit = self.likeness.reasons(centred)
        names = ("ink", "cropped", "scaled", "centred")
        for picture, step in zip(self.step_images, names):
            picture.value = _png(_fit_in_square(steps[step], 112))
        self._label_steps([f"{steps[step].shape[0]} x {steps[step].shape[1]} pixels" for step in names])
        sure = format_percent(self.probabilities[self.prediction])
        self.prediction_label.value = (f"<span style='font-size:1.2em'><b>prediction: {self.prediction}</b>"
                                       f" ({sure} sure)</span>")
        self.note_label.value = "" if not self.not_a_digit else (
            "<div style='border-left: 4px solid #e65100; padding-left: 8px; line-height: 1.3'>"
            "<b>This does not look like a digit:</b> " + "; ".join(self.not_a_digit) + ".<br>"
            f"Yet the network answers {self.prediction}, {sure} sure: it has no \"none of these\" answer, and its ten "
            f"probabilities always add up to 1. A high probability only means \"more like a "
            f"{self.prediction} than like the other nine digits\", not \"surely a digit\".</div>")
        self.note_label.layout.display = None if self.not_a_digit else "none"     # no empty gap
        _set_bars(self.bars, self._percents, self.probabilities, self.prediction)
        return self.probabilities

    def draw(self, drawing: np.ndarray) -> None:
        """Put a picture on the canvas from code (as if drawn; values in [0, 1], white
        ink on black) and predict it."""
        drawing = np.asarray(drawing, dtype=np.float64)
        if drawing.shape != (self.canvas.size, self.canvas.size):
            drawing = resize_image(drawing, self.canvas.size, self.canvas.size)
        self.canvas.png = _png_data_url(drawing)

    def clear(self) -> None:
        """Blank the canvas, the steps and the bars."""
        self.digit_picker.value = -1
        self.canvas.png = ""
        self._show_blank()

    def _show_blank(self):
        self.prediction, self.probabilities, self.steps, self.not_a_digit = None, np.zeros(10), {}, []
        blank = _png(np.full((112, 112), 0.2))
        for picture in self.step_images:
            picture.value = blank
        self._label_steps(["nothing drawn yet"] * len(self.STEP_TITLES))
        self.prediction_label.value = "<i>draw a digit on the black square</i>"
        self.note_label.value, self.note_label.layout.display = "", "none"
        _set_bars(self.bars, self._percents, np.zeros(10), predicted=-1)

    def figure(self):
        """The preprocessing steps and the probabilities as a static matplotlib figure."""
        import matplotlib.pyplot as plt
        if self.prediction is None:
            raise ValueError("nothing drawn yet: draw a digit (or call draw()) first")
        fig, axes = plt.subplots(1, 5, figsize=(17, 3.6), gridspec_kw={"width_ratios": [1, 1, 1, 1, 1.3]})
        for ax, title, step in zip(axes, self.STEP_TITLES, ("ink", "cropped", "scaled", "centred")):
            picture = self.steps[step]
            ax.imshow(picture, cmap="gray", vmin=0, vmax=max(1.0, float(picture.max())))
            ax.set_title(f"{title}\n{picture.shape[0]} x {picture.shape[1]}")
            ax.set_xticks([])
            ax.set_yticks([])
        row, column = centre_of_mass(self.steps["centred"])
        axes[3].plot(column, row, "r+", markersize=14, label="centre of mass")
        axes[3].legend(loc="lower center", fontsize="small")
        _draw_probability_bars(axes[4], self.probabilities, self.prediction)
        axes[4].set_title(f"prediction: {self.prediction}"
                          + ("\n(but this does not look like a digit)" if self.not_a_digit else ""))
        fig.tight_layout()
        return fig

    def __repr__(self):
        return f"DrawingPad({self.canvas.size} x {self.canvas.size} canvas)"


def drawing_pad(model=None, likeness=None) -> DrawingPad:
    """The drawing pad widget; ``model`` defaults to the shipped pretrained CNN.
    ``likeness``: a DigitLikeness of the same model (default ``digit_likeness(model)``, built on the
    first drawing)."""
    return DrawingPad(model, likeness=likeness)



