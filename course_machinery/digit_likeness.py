"""Does a drawing look like a handwritten digit at all? The drawing pad's not-a-digit note.

A network trained on digits has no "none of these" answer: softmax shares exactly 1
among the ten digits whatever it is shown, so a dash can come out as "2, 96% sure".
``DigitLikeness`` asks three questions instead, each with a limit measured on MNIST
training digits (never guessed), and ``non_digit_drawings`` draws the lines, letters,
shapes and scribbles the rule is measured on (notebook 09 states both rates).
"""

from __future__ import annotations

import hashlib

import numpy as np

from scratchcnn import Sequential, load_mnist, preprocess_digit


def _features_and_logits(model: Sequential, x: np.ndarray, batch_size: int = 1000):
    """(hidden, logits) for a batch, in evaluation mode: hidden is what the model's
    last layer receives (for the reference CNN the 128 ReLU outputs), the numbers
    its ten scores are computed from."""
    was_training = [layer.training for layer in model.layers]
    model.eval()
    try:
        hidden, logits = [], []
        for start in range(0, len(x), batch_size):
            h = x[start:start + batch_size]
            for layer in model.layers[:-1]:
                h = layer.forward(h)
            hidden.append(np.asarray(h, dtype=np.float32).reshape(len(h), -1))
            logits.append(np.asarray(model.layers[-1].forward(h), dtype=np.float64))
        return np.concatenate(hidden), np.concatenate(logits)
    finally:
        for layer, mode in zip(model.layers, was_training):
            layer.training = mode


def width_to_height(pictures: np.ndarray) -> np.ndarray:
    """Width / height of the ink's bounding box (ink: above 0.1) of each 28 x 28 picture."""
    ink = np.asarray(pictures).reshape(-1, 28, 28) > 0.1
    def extent(has_ink):                  # last index with ink - first index with ink + 1
        return 28 - has_ink[:, ::-1].argmax(axis=1) - has_ink.argmax(axis=1)
    return extent(ink.any(axis=1)) / np.maximum(extent(ink.any(axis=2)), 1)


def nearest_distance(queries: np.ndarray, references: np.ndarray, batch_size: int = 2000) -> np.ndarray:
    """For each row of ``queries``, the Euclidean distance to its nearest row of ``references``."""
    squared = (references.astype(np.float64) ** 2).sum(axis=1)
    nearest = []
    for start in range(0, len(queries), batch_size):
        q = queries[start:start + batch_size].astype(np.float64)
        distances = (q ** 2).sum(axis=1)[:, None] + squared[None] - 2 * q @ references.T.astype(np.float64)
        nearest.append(np.sqrt(np.maximum(distances.min(axis=1), 0)))
    return np.concatenate(nearest)


class DigitLikeness:
    """Does a 28 x 28 picture (after ``preprocess_digit``) look like an MNIST digit?

    Three measures, each with the limit that most MNIST training digits stay within
    (``PERCENTILE``: 99.9% for ink and width, 99.8% for the distance). The limits come
    from 5,000 training digits (the *calibration* digits), the neighbours from 15,000 others
    (the *reference* digits); the test digits play no part, so the rate at which real test
    digits are flagged is an honest measurement.

    * **ink**: the sum of the 28 x 28 pixel values. A dot scaled to 20 pixels is a
      filled disc, with more ink than almost any digit.
    * **width**: width / height of the ink's bounding box. Digits are taller than wide
      (the scaling makes the longer side 20 pixels), so a dash, a flat line or a line
      tilted by less than about 25 degrees is wider than nearly any digit.
    * **nearest digit inside the network**: the distance of the picture's hidden
      features (what the last layer receives, see ``_features_and_logits``) to the
      nearest reference digit's. A plus sign or an X lands far from every digit the
      network has seen, even when its answer is 99% sure.

    ``reasons(picture)`` -> a sentence per measure out of range ([] : it looks like a digit);
    ``flags(pictures)`` -> the same for a batch, as booleans. Measuring takes a few seconds:
    ``digit_likeness(model)`` does it once per model.
    """

    PERCENTILE = {"ink": 99.9, "width": 99.9, "distance": 99.8}
    REFERENCE_DIGITS, CALIBRATION_DIGITS = 15_000, 5_000

    def __init__(self, model: Sequential, images=None):
        if images is None:
            images, _ = load_mnist("train")
        images = images[:self.REFERENCE_DIGITS + self.CALIBRATION_DIGITS]
        if len(images) < 200:
            raise ValueError(f"DigitLikeness needs at least 200 digits to measure its limits, got {len(images)}")
        self.model = model
        pictures = np.stack([preprocess_digit(image.reshape(image.shape[-2:])) for image in images])[:, None]
        split = len(pictures) * self.REFERENCE_DIGITS // (self.REFERENCE_DIGITS + self.CALIBRATION_DIGITS)
        self.reference_features, _ = _features_and_logits(model, pictures[:split])
        calibration = pictures[split:]
        ink = calibration.reshape(len(calibration), -1).sum(axis=1, dtype=np.float64)
        share = self.PERCENTILE["ink"]
        self.ink_range = tuple(float(v) for v in np.percentile(ink, [(100 - share) / 2, (100 + share) / 2]))
        self.width_limit = float(np.percentile(width_to_height(calibration), self.PERCENTILE["width"]))
        hidden, _ = _features_and_logits(model, calibration)
        self.distance_limit = float(np.percentile(nearest_distance(hidden, self.reference_features),
                                                  self.PERCENTILE["distance"]))

    def measure(self, pictures: np.ndarray) -> dict:
        """For a batch of 28 x 28 pictures: ink, width / height, answer, distance to the nearest digit."""
        pictures = np.asarray(pictures, dtype=np.float32).reshape(-1, 1, 28, 28)
        hidden, logits = _features_and_logits(self.model, pictures)
        return {"ink": pictures.reshape(len(pictures), -1).sum(axis=1, dtype=np.float64),
                "width": width_to_height(pictures), "answer": logits.argmax(axis=1),
                "distance": nearest_distance(hidden, self.reference_features)}

    def flags(self, pictures: np.ndarray) -> dict:
        """For a batch: which measure is out of range, per picture (booleans), and ``any``."""
        m, (low, high) = self.measure(pictures), self.ink_range
        flags = {"ink": (m["ink"] < low) | (m["ink"] > high), "width": m["width"] > self.width_limit,
                 "distance": m["distance"] > self.distance_limit}
        flags["any"] = flags["ink"] | flags["width"] | flags["distance"]
        return flags

    def reasons(self, picture: np.ndarray) -> list[str]:
        """Why the picture does not look like an MNIST digit: [] when it does."""
        m = {name: values[0] for name, values in self.measure(picture).items()}
        (low, high), share = self.ink_range, {name: f"{value:g}%" for name, value in self.PERCENTILE.items()}
        reasons = []
        if not low <= m["ink"] <= high:
            reasons.append(f"it has {'too little' if m['ink'] < low else 'too much'} ink: {m['ink']:.0f} "
                           f"(the sum of its 28 x 28 pixels), where {share['ink']} of MNIST's digits have "
                           f"{low:.0f} to {high:.0f}")
        if m["width"] > self.width_limit:
            reasons.append(f"it is {m['width']:.1f} times as wide as tall; {share['width']} of MNIST's digits "
                           f"are at most {self.width_limit:.1f} times")
        if m["distance"] > self.distance_limit:
            reasons.append(f"inside the network it is far from every digit it knows: the distance of its hidden "
                           f"features to the nearest of {len(self.reference_features):,} MNIST digits is "
                           f"{m['distance']:.1f}, where {share['distance']} of MNIST's digits are within "
                           f"{self.distance_limit:.1f}")
        return reasons


_likeness_cache = {}


def digit_likeness(model: Sequential) -> DigitLikeness:
    """The DigitLikeness of ``model``, measured once per model and weights (a model
    trained further is measured again)."""
    weights = hashlib.sha256()
    for layer in model.layers:
        for name in sorted(layer.params):
            weights.update(np.ascontiguousarray(layer.params[name]).tobytes())
    key = (id(model), weights.hexdigest())
    if key not in _likeness_cache:
        _likeness_cache[key] = DigitLikeness(model)
    return _likeness_cache[key]


# --- drawings that are not digits, to measure the rule on --------------------------------

def draw_strokes(strokes, size: int = 280, width: float = 18.0) -> np.ndarray:
    """SYNTHETIC drawings drawn like the pad's pen: each stroke a polyline [(y, x), ...]
    (one point: a dot) with round ends and joins, ``width`` pixels wide, white on black,
    with a one-pixel soft edge. Returns (size, size) floats in [0, 1]."""
    rows, cols = np.mgrid[0:size, 0:size] + 0.5
    picture = np.zeros((size, size))
    for stroke in strokes:
        points = np.asarray(stroke, dtype=np.float64).reshape(-1, 2)
        if len(points) == 1:
            points = np.vstack([points, points])
        for (y0, x0), (y1, x1) in zip(points[:-1], points[1:]):
            dy, dx = y1 - y0, x1 - x0
            t = np.clip(((rows - y0) * dy + (cols - x0) * dx) / max(dy * dy + dx * dx, 1e-12), 0, 1)
            distance = np.hypot(rows - (y0 + t * dy), cols - (x0 + t * dx))
            picture = np.maximum(picture, np.clip(width / 2 + 0.5 - distance, 0, 1))
    return picture


def _line(length: float, degrees: float, size: int = 280):
    """A straight stroke through the middle, ``length`` of the canvas long, tilted ``degrees``
    from horizontal (counter-clockwise)."""
    half, angle = length * size / 2, np.radians(degrees)
    dy, dx = -np.sin(angle) * half, np.cos(angle) * half
    return [[(size / 2 - dy, size / 2 - dx), (size / 2 + dy, size / 2 + dx)]]


NON_DIGIT_SHAPES = {   # strokes in fractions of the canvas, (y, x) from the top left
    "letter A": [[(0.8, 0.25), (0.2, 0.5), (0.8, 0.75)], [(0.55, 0.36), (0.55, 0.64)]],
    "letter E": [[(0.2, 0.7), (0.2, 0.3), (0.8, 0.3), (0.8, 0.7)], [(0.5, 0.3), (0.5, 0.6)]],
    "letter H": [[(0.2, 0.3), (0.8, 0.3)], [(0.2, 0.7), (0.8, 0.7)], [(0.5, 0.3), (0.5, 0.7)]],
    "letter K": [[(0.2, 0.35), (0.8, 0.35)], [(0.2, 0.7), (0.5, 0.36), (0.8, 0.7)]],
    "letter M": [[(0.8, 0.2), (0.2, 0.25), (0.6, 0.5), (0.2, 0.75), (0.8, 0.8)]],
    "letter W": [[(0.2, 0.2), (0.8, 0.35), (0.4, 0.5), (0.8, 0.65), (0.2, 0.8)]],
    "letter X": [[(0.2, 0.25), (0.8, 0.75)], [(0.2, 0.75), (0.8, 0.25)]],
    "plus sign": [[(0.2, 0.5), (0.8, 0.5)], [(0.5, 0.2), (0.5, 0.8)]],
    "hash sign": [[(0.2, 0.4), (0.8, 0.35)], [(0.2, 0.65), (0.8, 0.6)], [(0.4, 0.2), (0.4, 0.8)],
                  [(0.6, 0.2), (0.6, 0.8)]],
    "triangle": [[(0.75, 0.2), (0.25, 0.5), (0.75, 0.8), (0.75, 0.2)]],
    "star": [[(0.5 - 0.32 * np.cos(np.radians(144 * k)), 0.5 + 0.32 * np.sin(np.radians(144 * k)))
              for k in range(6)]],
    "arrow": [[(0.5, 0.15), (0.5, 0.85)], [(0.3, 0.65), (0.5, 0.85), (0.7, 0.65)]],
    "dot": [[(0.5, 0.5)]],
}


def non_digit_drawings(size: int = 280, scribbles: int = 12, seed: int = 0) -> dict:
    """SYNTHETIC non-digits drawn like the pad draws (``draw_strokes``): straight lines of
    40, 60 and 80% of the canvas tilted -30 to 30 degrees from horizontal, letters, signs,
    shapes, a dot and ``scribbles`` random zigzags of 6 to 11 strokes. {name: (size, size) picture}."""
    rng = np.random.default_rng(seed)
    strokes = {f"line {length:.0%} at {degrees} degrees": _line(length, degrees, size)
               for length in (0.4, 0.6, 0.8) for degrees in (-30, -20, -10, 0, 10, 20, 30)}
    for name, shape in NON_DIGIT_SHAPES.items():
        strokes[name] = [[(y * size, x * size) for y, x in stroke] for stroke in shape]
    for number in range(1, scribbles + 1):
        points = rng.uniform(0.15, 0.85, size=(rng.integers(7, 13), 2)) * size
        strokes[f"scribble {number}"] = [points]
    return {name: draw_strokes(shape, size) for name, shape in strokes.items()}
