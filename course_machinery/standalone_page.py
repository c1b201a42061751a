"""A page that needs nothing installed: one self-contained HTML file from a trained model.

    python -m course_machinery.standalone_page --model data/scratchcnn_mnist.npz \\
        --out docs/scratchcnn_demo.html [--digits 200]

The page holds the model's weights (base64 float32), a random sample of MNIST's
test digits, and the network's forward pass and ``preprocess_digit`` in plain
JavaScript (``standalone_page.js``, laid out by ``standalone_page.html``). It loads
no file from anywhere (its Content-Security-Policy forbids it), so it works from
disk, on GitHub Pages or on a tablet, offline. tests/test_standalone_page.py checks
in Chromium that its probabilities equal NumPy's.
"""
from __future__ import annotations

import argparse
import base64
import json
import sys
from pathlib import Path

import numpy as np

from scratchcnn import (DEFAULT_MODEL_PATH, DataFileError, ModelFileError, Residual, Sequential,
                        load_mnist, load_model)

try:
    from course_machinery.file_safety import atomic_write
except ImportError:
    from scratchcnn import atomic_write

HERE = Path(__file__).resolve().parent
TEMPLATE = HERE / "standalone_page.html"
SCRIPT = HERE / "standalone_page.js"
DEFAULT_OUTPUT = HERE.parent / "docs" / "scratchcnn_demo.html"
DEFAULT_DIGITS = 200
SAMPLE_SEED = 0

# The layer types the page's JavaScript runs (buildLayer in standalone_page.js).
SUPPORTED_LAYERS = {"Conv2D", "MaxPool2D", "ReLU", "LeakyReLU", "Flatten", "Dropout", "Dense",
                    "BatchNorm1D", "BatchNorm2D", "LayerNorm", "Residual"}


class PageError(ValueError):
    """The page cannot be made: a model it cannot show, a bad option, an unwritable place."""


def _base64_float32(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array, dtype="<f4").tobytes()).decode("ascii")


def layer_spec(layer) -> dict:
    """One layer for the page: its type, its config, its arrays as base64 float32
    (a BatchNorm's running statistics too); a Residual lists its inner layers. A fast
    layer (FastConv2D) is the textbook layer it speeds up, under that name, as in model files."""
    kind = getattr(layer, "saved_as", type(layer).__name__)
    if kind not in SUPPORTED_LAYERS:
        raise PageError(f"the page cannot run a {kind} layer: its JavaScript knows "
                        f"{', '.join(sorted(SUPPORTED_LAYERS))}.")
    spec = {"type": kind, "config": layer.config()}
    if isinstance(layer, Residual):
        spec["layers"] = [layer_spec(inner) for inner in layer.layers]
        return spec
    arrays = dict(layer.params)
    arrays.update({name: getattr(layer, name) for name in getattr(layer, "state_names", ())})
    if arrays:
        spec["arrays"] = {name: _base64_float32(value) for name, value in arrays.items()}
    return spec


def check_model_fits(model: Sequential, name: str) -> None:
    """Refuse, with the reason, a model the page cannot show: it draws digits, so the
    model must read one 1 x 28 x 28 grey picture and answer with ten digits."""
    dataset = getattr(model, "metadata", {}).get("dataset", "mnist")
    if dataset != "mnist":
        raise PageError(f"{name} was trained on {dataset}, not on MNIST's digits; the page draws and shows "
                        f"digits. Use a model trained on MNIST (python scratchcnn.py train --dataset mnist).")
    try:
        probabilities = model.predict_proba(np.zeros((1, 1, 28, 28), dtype=np.float32))   # eval mode, as the page
    except ValueError as error:
        raise PageError(f"{name} does not read 1 x 28 x 28 grey pictures, which the page draws "
                        f"({error})") from None
    if probabilities.shape != (1, 10):
        raise PageError(f"{name} answers with {probabilities.shape[1]} numbers per picture; the page needs "
                        f"ten, one per digit.")


def sample_test_digits(count: int, seed: int = SAMPLE_SEED):
    """``count`` MNIST test digits picked at random (fixed seed), in test-set order:
    (indices into the test set, images (count, 1, 28, 28) float32, labels)."""
    images, labels = load_mnist("test")
    if not 1 <= count <= len(images):
        raise PageError(f"--digits must be between 1 and {len(images):,} (the MNIST test set), got {count}.")
    indices = np.sort(np.random.default_rng(seed).choice(len(images), size=count, replace=False))
    return indices, images[indices], labels[indices]


def _digit_bytes(images: np.ndarray) -> str:
    """The test digits as base64 bytes 0..255 (load_mnist divided the file's bytes by
    255 in float32; the page does the same, so its pixels are exactly NumPy's)."""
    scaled = np.round(images.reshape(len(images), -1) * 255)
    as_bytes = scaled.astype(np.uint8)
    if not np.array_equal(as_bytes.astype(np.float32) / np.float32(255), images.reshape(len(images), -1)):
        raise PageError("the test digits are not bytes / 255, so the page could not embed them exactly.")
    return base64.b64encode(as_bytes.tobytes()).decode("ascii")


def _safe_json(value) -> str:
    """JSON that can sit inside a <script> element: no "<" at all (no "</script>")."""
    return json.dumps(value, separators=(",", ":")).replace("<", "\\u003c")


def build_page(model: Sequential, name: str, indices, images, labels) -> str:
    """The HTML text of the page for ``model`` (called ``name`` on it) and the given test digits."""
    check_model_fits(model, name)
    data = {
        "model": {
            "name": name,
            "parameters": int(model.num_parameters()),
            "metadata": getattr(model, "metadata", {}),
            "layers": [layer_spec(layer) for layer in model.layers],
        },
        "digits": {
            "indices": [int(i) for i in indices],
            "labels": [int(label) for label in labels],
            "pixels": _digit_bytes(images),
        },
    }
    script = SCRIPT.read_text(encoding="utf-8")
    if "</script" in script.lower():
        raise PageError(f"{SCRIPT} contains '</script', which would end the page's script early.")
    template = TEMPLATE.read_text(encoding="utf-8")
    return template.replace("/*SCRATCHCNN_DATA*/", _safe_json(data)).replace("/*SCRATCHCNN_SCRIPT*/", script)


def write_page(model, out_path, digits: int = DEFAULT_DIGITS, name: str | None = None) -> int:
    """Write the page for ``model`` (a Sequential, or the path of a model file) to
    ``out_path`` (atomically), with ``digits`` random MNIST test digits; ``name`` is
    what the page calls the model (default: the file's name). Returns the size in bytes."""
    out_path = Path(out_path)
    if out_path.is_dir():
        raise PageError(f"{out_path} is a folder; name the page itself, e.g. {out_path / 'scratchcnn_demo.html'}.")
    if out_path.suffix.lower() not in (".html", ".htm"):
        raise PageError(f"{out_path} does not end in .html; a browser opens the page by that ending.")
    existing = next(folder for folder in out_path.absolute().parents if folder.exists())
    if not existing.is_dir():
        raise PageError(f"cannot write {out_path}: {existing} is a file, not a folder.")
    if not isinstance(model, Sequential):
        name = name or Path(model).name
        model = load_model(model)
    indices, images, labels = sample_test_digits(digits)
    page = build_page(model, name or "a model trained with ScratchCNN", indices, images, labels).encode("utf-8")
    try:
        atomic_write(out_path, lambda file: file.write(page))
    except OSError as error:
        raise PageError(f"cannot write {out_path}: {error.strerror or error}. "
                        f"Choose a folder you can write to.") from None
    return len(page)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m course_machinery.standalone_page",
        description="Write one self-contained HTML page (no internet needed) that runs a trained "
                    "ScratchCNN model: a drawing pad, real MNIST test digits, feature maps.")
    parser.add_argument("--model", default=str(DEFAULT_MODEL_PATH), help="the model file (.npz) to show")
    parser.add_argument("--out", default=str(DEFAULT_OUTPUT), help="the HTML file to write")
    parser.add_argument("--digits", type=int, default=DEFAULT_DIGITS,
                        help=f"how many random MNIST test digits the page carries (default {DEFAULT_DIGITS})")
    args = parser.parse_args(argv)
    try:
        size = write_page(args.model, args.out, args.digits)
    except (PageError, ModelFileError, DataFileError) as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(1) from None
    print(f"wrote {args.out} ({size / 1e6:.2f} MB, {args.digits} test digits): open it in any browser, "
          f"no installation or internet needed")


if __name__ == "__main__":
    main()
