"""Plots for the notebooks: numbers in boxes, live training curves, feature-map tiles."""

from __future__ import annotations

import math

import numpy as np

from scratchcnn import (Conv2D, LeakyReLU, MaxPool2D, ReLU, Sequential, resize_image)

from .guards import layers_within


# =============================================================================
# 11. Plots and widgets
# =============================================================================

def show_numbers(ax, values, title="", *, cmap=None, fmt="{:g}", fontsize=11, boxes=(), shade=None,
                 highlight=None):
    """Draw a small array as a grid with every value written in its cell (notebooks 02-04).

    cmap=None: white cells (``shade``: 1 marks a cell grey, 2 red) with grid lines, NaN cells left
    empty; a colour map name gives a heat map instead ("RdBu_r" is centred on 0, red positive).
    The text is white on dark cells and black on light ones, chosen by each cell's brightness.
    boxes: (row, col, height, width, colour[, inset]) outlines; highlight: a boolean mask of cells
    to write in bold and ring in crimson. Returns the cells' RGB colours (rows, cols, 3).
    """
    import matplotlib.pyplot as plt

    values = np.asarray(values, dtype=float)
    rows, cols = values.shape
    if cmap is None:
        colours = np.ones((rows, cols, 3))
        if shade is not None:
            colours[np.asarray(shade) == 1] = (0.82, 0.82, 0.82)
            colours[np.asarray(shade) == 2] = (1.0, 0.8, 0.8)
        ax.imshow(colours)
        for position in range(rows + 1):
            ax.axhline(position - 0.5, color="0.6", linewidth=0.8)
        for position in range(cols + 1):
            ax.axvline(position - 0.5, color="0.6", linewidth=0.8)
    else:
        finite = values[np.isfinite(values)]
        limit = max(np.abs(finite).max(initial=0.0), 1e-12)
        low, high = (-limit, limit) if cmap == "RdBu_r" else (min(finite.min(initial=0.0), 0.0), limit)
        colours = plt.get_cmap(cmap)(np.clip((np.nan_to_num(values) - low) / (high - low), 0, 1))[..., :3]
        ax.imshow(colours)
    brightness = colours @ np.array([0.299, 0.587, 0.114])         # perceived lightness, 0 dark .. 1 light
    for (r, c), value in np.ndenumerate(values):
        if np.isnan(value):
            continue
        bold = highlight is not None and highlight[r, c]
        ax.text(c, r, fmt.format(value), ha="center", va="center", fontsize=fontsize,
                color="white" if brightness[r, c] < 0.5 else "black", fontweight="bold" if bold else "normal")
        if bold:
            ax.add_patch(plt.Rectangle((c - 0.4, r - 0.4), 0.8, 0.8, fill=False, lw=2, ec="crimson"))
    for r, c, height, width, colour, *inset in boxes:
        inset = inset[0] if inset else 0.05
        ax.add_patch(plt.Rectangle((c - 0.5 + inset, r - 0.5 + inset), width - 2 * inset, height - 2 * inset,
                                   fill=False, edgecolor=colour, linewidth=3))
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title)
    return colours


class LivePlot:
    """Learning curves that redraw in place while training runs.

    Use as ``train(..., callback=LivePlot())``: after every epoch it redraws one
    figure (loss on the left, accuracy on the right) in the same notebook output,
    instead of printing a new figure each time. ``LivePlot(live=False)`` draws
    nothing during training (for nbval and scripts) and ``show()`` draws the
    final curves once.
    """

    def __init__(self, live=True, title=None):
        self.live, self.title = live, title
        self.history = None
        self._handle = None

    def __call__(self, history):
        self.history = history
        if self.live:
            self._draw(update=True)

    def figure(self):
        """The learning curves of the last history as a matplotlib figure."""
        import matplotlib.pyplot as plt
        from matplotlib.ticker import MaxNLocator
        history = self.history or {"epoch": []}
        fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.5))
        epochs = history["epoch"]
        for key, label in (("train_loss", "train"), ("val_loss", "validation")):
            values = history.get(key, [])
            if values and values[0] is not None:
                ax_loss.plot(epochs, values, "o-", label=label)
        for key, label in (("train_accuracy", "train"), ("val_accuracy", "validation")):
            values = history.get(key, [])
            if values and values[0] is not None:
                ax_acc.plot(epochs, [100 * v for v in values], "o-", label=label)
        ax_loss.set(xlabel="epoch", ylabel="cross-entropy loss", title="loss")
        ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
        for ax in (ax_loss, ax_acc):
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))   # epochs are whole numbers: no 2.5
            ax.grid(alpha=0.3)
            if ax.lines:
                ax.legend()
        if self.title:
            fig.suptitle(self.title)
        fig.tight_layout()
        return fig

    def _draw(self, update):
        import matplotlib.pyplot as plt
        from IPython.display import display
        fig = self.figure()
        if self._handle is None or not update:
            self._handle = display(fig, display_id=True)
        else:
            self._handle.update(fig)
        plt.close(fig)                     # we displayed it ourselves; don't show it twice

    def show(self):
        """Draw the final curves once, as a new output."""
        self._draw(update=False)


#
# Two widgets for notebook 09. Both are built from ipywidgets (and, for the
# canvas, anywidget), imported only when a widget is made, so `import
# scratchcnn` and the command line never need Jupyter.
#
# Smooth updates: every picture is an ipywidgets.Image whose PNG bytes we
# replace, and every bar is a FloatProgress whose value we set. Nothing is
# re-created or cleared when the slider moves, so nothing flickers.

def _png(image: np.ndarray, scale: int = 1, cmap: str = "gray", vmin: float = 0.0, vmax: float = 1.0) -> bytes:
    """A 2-D array as PNG bytes, each pixel blown up to a scale x scale block (no blur)."""
    import io
    import matplotlib.image
    image = np.asarray(image, dtype=np.float64)
    if scale > 1:
        image = np.repeat(np.repeat(image, scale, axis=0), scale, axis=1)
    buffer = io.BytesIO()
    if cmap == "gray":
        # Exact 8-bit grey (a colormap would round to its 256-colour table), so that a
        # drawing sent to the canvas comes back differing by at most half a grey level.
        grey = np.round(255 * np.clip((image - vmin) / (vmax - vmin), 0, 1)).astype(np.uint8)
        matplotlib.image.imsave(buffer, np.repeat(grey[:, :, None], 3, axis=2), format="png")
    else:
        matplotlib.image.imsave(buffer, image, cmap=cmap, vmin=vmin, vmax=vmax, format="png")
    return buffer.getvalue()


def _fit_in_square(image: np.ndarray, box: int, background: float = 0.2) -> np.ndarray:
    """Show any 2-D image in a box x box square without distorting it: small images are
    blown up by a whole number (crisp pixels), big ones shrunk, the rest is background."""
    h, w = image.shape
    if max(h, w) <= box:
        scale = box // max(h, w)
        image = np.repeat(np.repeat(image, scale, axis=0), scale, axis=1)
    else:
        scale = box / max(h, w)
        image = resize_image(image, max(1, round(h * scale)), max(1, round(w * scale)))
    square = np.full((box, box), background)
    top, left = (box - image.shape[0]) // 2, (box - image.shape[1]) // 2
    square[top:top + image.shape[0], left:left + image.shape[1]] = image
    return square


def tile_feature_maps(maps: np.ndarray, columns: int | None = None, gap: int = 1) -> np.ndarray:
    """Lay out C feature maps (C, H, W) as one picture, a grid with ``gap`` pixels between
    maps (the gaps are NaN, drawn as background). Values are divided by the largest one,
    so brightness is comparable across the maps of one layer."""
    C, H, W = maps.shape
    columns = columns or (4 if C <= 16 else 8)
    rows = math.ceil(C / columns)
    largest = float(maps.max())
    scaled = maps / largest if largest > 0 else np.zeros_like(maps, dtype=np.float64)
    grid = np.full((rows * (H + gap) - gap, columns * (W + gap) - gap), np.nan)
    for c in range(C):
        r, q = divmod(c, columns)
        grid[r * (H + gap):r * (H + gap) + H, q * (W + gap):q * (W + gap) + W] = scaled[c]
    return grid


def conv_feature_maps(model: Sequential, image: np.ndarray) -> list[np.ndarray]:
    """What every convolution of ``model`` sees in one image.

    image: (1, H, W) or (H, W) -> a list with one (C, H', W') array per Conv2D in model.layers:
    its output after the activation (ReLU / LeakyReLU) that follows it, directly or after a
    max-pool (conv -> pool -> ReLU is conv -> ReLU -> pool, reordered: notebook 07), since
    that is what the network passes on; here at the convolution's full resolution.

    The layers run in eval mode, in place: every layer's attributes (its mode and its
    forward caches, inside a Residual too) are saved first and put back afterwards, so the
    model, and a backward pending on it, are left exactly as they were.
    """
    x = np.asarray(image, dtype=np.float32).reshape(1, 1, *np.shape(image)[-2:])
    layers = model.layers
    conv_positions = [i for i, layer in enumerate(layers) if isinstance(layer, Conv2D)]
    if not conv_positions:
        return []
    saved = [(layer, dict(vars(layer))) for layer in layers_within(model)]
    try:
        model.training = False
        outputs = []                          # outputs[i] = what layer i returns
        for layer in layers[:conv_positions[-1] + 1]:
            x = layer.forward(x)
            outputs.append(x)
        maps = []
        for i in conv_positions:
            following = layers[i + 1:i + 3]
            if following and isinstance(following[0], MaxPool2D):
                following = following[1:]
            out = outputs[i]
            if following and isinstance(following[0], (ReLU, LeakyReLU)):
                out = following[0].forward(out)
            maps.append(np.array(out[0], dtype=np.float64))
    finally:
        for layer, attributes in saved:
            vars(layer).clear()
            vars(layer).update(attributes)
    return maps


