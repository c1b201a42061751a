"""Does a drawing look like a handwritten digit at all? The drawing pad's not-a-digit note.

A network trained on digits has no "none of these" answer: softmax shares exactly 1
among the ten digits whatever it is shown, so a dash can come out as "2, 96% sure".
``DigitLikeness`` asks four questions instead (ink, width, unusualness, and a small detector
learned from examples of non-digits), each with a limit measured on MNIST training digits
(never guessed), and ``non_digit_drawings`` draws the lines, letters,
shapes and scribbles the rule is measured on (notebook 09 states both rates), and
``drawn_digits`` the digits drawn with the same pen, which it must leave alone.
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


def fit_logistic(features: np.ndarray, is_non_digit: np.ndarray, weights: np.ndarray, penalty: float = 30.0,
                 steps: int = 30) -> tuple:
    """Logistic regression (the network's last layer, with one output and a sigmoid) fitted by
    Newton's method: deterministic, no learning rate. Features are standardised first; ``penalty``
    is an L2 penalty on the standardised weights (not the bias). Returns (mean, scale, coefficients
    with the bias last); the score of a row is its log-odds, ``log_odds(rows, *returned)``."""
    mean, scale = features.mean(axis=0), features.std(axis=0) + 1e-6
    z = np.column_stack([(features - mean) / scale, np.ones(len(features))])
    coefficients, ridge = np.zeros(z.shape[1]), penalty * np.eye(z.shape[1])
    ridge[-1, -1] = 0
    for _ in range(steps):
        p = 1 / (1 + np.exp(-z @ coefficients))
        gradient = z.T @ (weights * (p - is_non_digit)) + ridge @ coefficients
        curvature = (z * (weights * p * (1 - p))[:, None]).T @ z + ridge
        step = np.linalg.solve(curvature, gradient)
        coefficients -= step
        if np.abs(step).max() < 1e-8:
            break
    return mean, scale, coefficients


def log_odds(features: np.ndarray, mean: np.ndarray, scale: np.ndarray, coefficients: np.ndarray) -> np.ndarray:
    """The score of ``fit_logistic``'s regression: log(P(non-digit) / P(digit)) as it learned them."""
    return ((features - mean) / scale) @ coefficients[:-1] + coefficients[-1]


class DigitLikeness:
    """Does a 28 x 28 picture (after ``preprocess_digit``) look like an MNIST digit?

    Every limit is a percentile of MNIST training digits (never guessed): 5,000 training digits
    (the *calibration* digits) set them, 15,000 others (the *reference* digits) are the
    neighbours; the test digits play no part, so the rate at which real test digits are
    flagged is an honest measurement. Two simple sizes come first:

    * **ink**: the sum of the 28 x 28 pixel values (99.9% of digits are in range). A dot scaled
      to 20 pixels is a filled disc, with more ink than almost any digit.
    * **width**: width / height of the ink's bounding box (99.9% of digits are at most this
      wide). Digits are taller than wide, so a flat line is wider than nearly any digit.

    Then **unusualness**, three measures of how far the picture is from the digits:

    * the distance of its hidden features (what the last layer receives, see
      ``_features_and_logits``) to the nearest reference digit's: how the network sees it;
    * the distance of its 784 pixels to the nearest reference digit's: how it looks;
    * the network's top score (the largest logit, before softmax), which is lower when no
      digit's pattern fits well, even when softmax still says 99%.

    For each measure, the *share* of calibration digits at least as far out; the unusualness is
    the sum of -log(share) over the three, so it is high when the picture is rare in all three
    ways at once. It is flagged when it is more unusual than ``PERCENTILE["unusual"]`` of the
    calibration digits.

    Last, a **learned detector**. Unusualness only knows digits, and an A, an H or a plus sign is
    not unusual enough in any of its ways: the network reads them as a fairly ordinary 4. So the
    rule is also *shown* non-digits: lines, letters, signs, shapes and scribbles
    (``non_digit_drawings("learning")``, a random seed of their own) and, as digits, 6,000 training
    digits and digits drawn with the pad's pen (``drawn_digits(seed=5)``). For each answer the
    network can give, a logistic regression on the hidden features learns to tell the non-digits
    it reads as that answer from the digits it reads as that answer (an A read as a 4 from real 4s):
    a straight line through the 128 numbers, fitted by Newton's method (``fit_logistic``), so
    building it gives the same detector every time. Its score is the log-odds of "not a digit"; a
    picture is flagged when it scores higher than ``PERCENTILE["learned"]`` of the calibration
    digits. The rule is measured on other drawings than it learned from: the tuning and held-out
    halves are other seeds, and the pad-drawn digits it must leave alone another seed.

    Why this rule, measured (``tests/test_widgets.py``; the numbers notebook 09 states): the three
    rarities alone flagged 74% of the tuning half and 72% of the held-out half at 1.0% of the
    10,000 MNIST test digits. With the learned detector: 88% and 91% at 1.0% of the test digits,
    0 of 104 pad-drawn digits, and the drawings issue 20 named (a letter A, a plus sign, a triangle,
    a 60% line tilted 10 degrees, flat lines) are flagged. But it recognises the kinds of drawing it
    was shown, not "non-digits" in general: learning from letters and scribbles only, it flagged
    84% / 80% of the signs, shapes and lines it never saw (the rarities alone: 88% / 79%); learning
    from signs, shapes and lines only, 50% / 57% of the letters and scribbles (rarities alone: 56% /
    63%). A drawing unlike anything it was shown is left to the rarities. Before the detector, each
    rarity alone caught 40 to 62% of the tuning half (the nearest-digit distance inside the network
    44 to 51%, the mean distance to the 10 nearest 62%, in pixels 49 to 54%, the top score 40%,
    Mahalanobis distance to the predicted class 43 to 51%, reconstruction from the class's 50
    principal components in pixels 53 to 59%, the answer's stability under 2-pixel shifts 50%),
    and the three summed 74%. One logistic regression for all answers caught only 72% of the very
    drawings it learned from: a single straight line cannot part the letters from every digit.

    ``reasons(picture)`` -> a sentence per measure out of range ([] : it looks like a digit);
    ``flags(pictures)`` -> the same for a batch, as booleans. Building takes about 10 seconds:
    ``digit_likeness(model)`` does it once per model, and the pad only on its first drawing.
    """

    PERCENTILE = {"ink": 99.9, "width": 99.9, "unusual": 99.7, "learned": 99.7}
    REFERENCE_DIGITS, CALIBRATION_DIGITS = 15_000, 5_000
    UNUSUAL_MEASURES = ("network distance", "pixel distance", "low top score")
    LEARNING_DIGITS = 6_000           # of the reference digits, the ones the detectors learn from
    LEARNING_DRAWN_DIGITS_SEED = 5    # pad-drawn digits to learn from (drawn_digits() measures seed 2)
    DRAWN_DIGIT_WEIGHT = 5            # each counts as 5 MNIST digits: the pad's own pen must stay quiet
    NO_DETECTOR = -1e30               # the score of an answer no non-digit was read as

    def __init__(self, model: Sequential, images=None, learning_drawings=None):
        if images is None:
            images, _ = load_mnist("train")
        images = images[:self.REFERENCE_DIGITS + self.CALIBRATION_DIGITS]
        if len(images) < 200:
            raise ValueError(f"DigitLikeness needs at least 200 digits to measure its limits, got {len(images)}")
        self.model = model
        pictures = np.stack([preprocess_digit(image.reshape(image.shape[-2:])) for image in images])[:, None]
        split = len(pictures) * self.REFERENCE_DIGITS // (self.REFERENCE_DIGITS + self.CALIBRATION_DIGITS)
        self.reference_features, reference_logits = _features_and_logits(model, pictures[:split])
        self.reference_pixels = pictures[:split].reshape(split, -1).astype(np.float32)
        self.detectors = self._learn(self.reference_features[:self.LEARNING_DIGITS],
                                     reference_logits[:self.LEARNING_DIGITS].argmax(axis=1), learning_drawings)
        calibration = pictures[split:]
        ink = calibration.reshape(len(calibration), -1).sum(axis=1, dtype=np.float64)
        share = self.PERCENTILE["ink"]
        self.ink_range = tuple(float(v) for v in np.percentile(ink, [(100 - share) / 2, (100 + share) / 2]))
        self.width_limit = float(np.percentile(width_to_height(calibration), self.PERCENTILE["width"]))
        measured = self._distances(calibration)
        # each unusualness measure of the calibration digits, sorted, to count the share beyond a value
        self.calibration_values = {name: np.sort(measured[name]) for name in self.UNUSUAL_MEASURES}
        self.unusual_limit = float(np.percentile(self.unusualness(measured), self.PERCENTILE["unusual"]))
        self.learned_limit = float(np.percentile(measured["learned"], self.PERCENTILE["learned"]))

    def _learn(self, digit_features: np.ndarray, digit_answers: np.ndarray, learning_drawings=None) -> dict:
        """One logistic regression per answer: the hidden features of digits the network answers
        ``a`` against those of non-digits it answers ``a`` (an A read as a 4 against real 4s).
        {answer: fit_logistic(...)}, no entry for an answer no learning non-digit got."""
        if learning_drawings is None:
            learning_drawings = non_digit_drawings("learning", copies=12, lines=60, scribbles=60)
        drawn = drawn_digits(seed=self.LEARNING_DRAWN_DIGITS_SEED)
        def features_of(drawings):
            pictures = np.stack([preprocess_digit(picture) for picture in drawings.values()])[:, None]
            hidden, logits = _features_and_logits(self.model, pictures.astype(np.float32))
            return hidden, logits.argmax(axis=1)
        (drawn_features, drawn_answers), (non_features, non_answers) = features_of(drawn), features_of(learning_drawings)
        features = np.concatenate([digit_features, drawn_features, non_features]).astype(np.float64)
        answers = np.concatenate([digit_answers, drawn_answers, non_answers])
        is_non_digit = np.repeat([0.0, 0.0, 1.0], [len(digit_features), len(drawn_features), len(non_features)])
        weights = np.repeat([1.0, self.DRAWN_DIGIT_WEIGHT, 1.0], [len(digit_features), len(drawn_features), len(non_features)])
        detectors = {}
        for answer in range(10):
            rows = answers == answer
            non_digits = is_non_digit[rows] == 1
            if not non_digits.any() or non_digits.all():
                continue
            w = weights[rows].copy()          # digits and non-digits weigh half each, however many
            w[~non_digits] *= 0.5 / w[~non_digits].sum()
            w[non_digits] *= 0.5 / w[non_digits].sum()
            detectors[answer] = fit_logistic(features[rows], is_non_digit[rows], w * rows.sum())
        return detectors

    def learned_score(self, hidden: np.ndarray, answers: np.ndarray) -> np.ndarray:
        """Each picture's score from the detector of the network's answer (log-odds of "not a digit")."""
        scores = np.full(len(hidden), self.NO_DETECTOR)
        for answer, detector in self.detectors.items():
            rows = answers == answer
            if rows.any():
                scores[rows] = log_odds(hidden[rows].astype(np.float64), *detector)
        return scores

    def _distances(self, pictures: np.ndarray) -> dict:
        hidden, logits = _features_and_logits(self.model, pictures)
        return {"answer": logits.argmax(axis=1), "learned": self.learned_score(hidden, logits.argmax(axis=1)),
                "network distance": nearest_distance(hidden, self.reference_features),
                "pixel distance": nearest_distance(pictures.reshape(len(pictures), -1), self.reference_pixels),
                "low top score": -logits.max(axis=1)}

    def share_as_far_out(self, name: str, values: np.ndarray) -> np.ndarray:
        """The share of calibration digits whose measure ``name`` is at least ``values``
        (counting the picture itself, so never 0)."""
        sorted_values = self.calibration_values[name]
        beyond = len(sorted_values) - np.searchsorted(sorted_values, values, side="left")
        return (beyond + 1) / (len(sorted_values) + 1)

    def unusualness(self, measured: dict) -> np.ndarray:
        """Sum over the three measures of -log(share of calibration digits as far out)."""
        return sum(-np.log(self.share_as_far_out(name, measured[name])) for name in self.UNUSUAL_MEASURES)

    def measure(self, pictures: np.ndarray) -> dict:
        """For a batch of 28 x 28 pictures: ink, width / height, answer, the three distances
        and their unusualness."""
        pictures = np.asarray(pictures, dtype=np.float32).reshape(-1, 1, 28, 28)
        measured = self._distances(pictures)
        return {"ink": pictures.reshape(len(pictures), -1).sum(axis=1, dtype=np.float64),
                "width": width_to_height(pictures), **measured, "unusual": self.unusualness(measured)}

    def flags(self, pictures: np.ndarray) -> dict:
        """For a batch: which measure is out of range, per picture (booleans), and ``any``."""
        m, (low, high) = self.measure(pictures), self.ink_range
        flags = {"ink": (m["ink"] < low) | (m["ink"] > high), "width": m["width"] > self.width_limit,
                 "unusual": m["unusual"] > self.unusual_limit, "learned": m["learned"] > self.learned_limit}
        flags["any"] = flags["ink"] | flags["width"] | flags["unusual"] | flags["learned"]
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
        if m["unusual"] > self.unusual_limit:
            shares = [f"{percent:.1f}%" if percent >= 0.1 else "under 0.1%" for percent in
                      (100 * self.share_as_far_out(name, m[name]) for name in self.UNUSUAL_MEASURES)]
            reasons.append(f"it is unlike the digits the network knows: only {shares[0]} of MNIST's digits are "
                           f"as far from their nearest neighbour inside the network, {shares[1]} in pixels, "
                           f"and {shares[2]} get as low a top score; together that is rarer than for "
                           f"{share['unusual']} of MNIST's digits")
        if m["learned"] > self.learned_limit:
            reasons.append(f"it looks more like the non-digits the pad was shown (lines, letters, signs, shapes, "
                           f"scribbles) than like the digits the network reads as {m['answer']}: its score is "
                           f"{m['learned']:.1f}, where {share['learned']} of MNIST's digits score at most "
                           f"{self.learned_limit:.1f}")
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
    picture = np.zeros((size, size))
    reach = width / 2 + 1                # beyond this distance from a segment a pixel gets no ink
    for stroke in strokes:
        points = np.asarray(stroke, dtype=np.float64).reshape(-1, 2)
        if len(points) == 1:
            points = np.vstack([points, points])
        for (y0, x0), (y1, x1) in zip(points[:-1], points[1:]):
            # only the pixels in the segment's box (widened by the pen) can change: a few times faster
            top, bottom = (int(np.clip(v, 0, size)) for v in (min(y0, y1) - reach, max(y0, y1) + reach + 1))
            left, right = (int(np.clip(v, 0, size)) for v in (min(x0, x1) - reach, max(x0, x1) + reach + 1))
            if top >= bottom or left >= right:
                continue
            rows, cols = np.mgrid[top:bottom, left:right] + 0.5
            dy, dx = y1 - y0, x1 - x0
            t = np.clip(((rows - y0) * dy + (cols - x0) * dx) / max(dy * dy + dx * dx, 1e-12), 0, 1)
            distance = np.hypot(rows - (y0 + t * dy), cols - (x0 + t * dx))
            box = picture[top:bottom, left:right]
            np.maximum(box, np.clip(width / 2 + 0.5 - distance, 0, 1), out=box)
    return picture


def _line(length: float, degrees: float, size: int = 280):
    """A straight stroke through the middle, ``length`` of the canvas long, tilted ``degrees``
    from horizontal (counter-clockwise)."""
    half, angle = length * size / 2, np.radians(degrees)
    dy, dx = -np.sin(angle) * half, np.cos(angle) * half
    return [[(size / 2 - dy, size / 2 - dx), (size / 2 + dy, size / 2 + dx)]]


def _arc(centre_y: float, centre_x: float, radius_y: float, radius_x: float, start: float, end: float,
         points: int = 16):
    """Points along an ellipse from ``start`` to ``end`` degrees (0: right, 90: up), as (y, x)."""
    angles = np.radians(np.linspace(start, end, points))
    return [(centre_y - radius_y * np.sin(a), centre_x + radius_x * np.cos(a)) for a in angles]


# Strokes in fractions of the canvas, (y, x) from the top left. Left out on purpose: whatever a
# person could read as a digit (O, I, l, S, Z, B, G, b, g, q, a circle, a vertical line, a question
# mark): no rule could, or should, call those "not a digit".
NON_DIGIT_SHAPES = {
    "letter A": [[(0.8, 0.25), (0.2, 0.5), (0.8, 0.75)], [(0.55, 0.36), (0.55, 0.64)]],
    "letter E": [[(0.2, 0.7), (0.2, 0.3), (0.8, 0.3), (0.8, 0.7)], [(0.5, 0.3), (0.5, 0.6)]],
    "letter F": [[(0.2, 0.7), (0.2, 0.3), (0.8, 0.3)], [(0.5, 0.3), (0.5, 0.6)]],
    "letter H": [[(0.2, 0.3), (0.8, 0.3)], [(0.2, 0.7), (0.8, 0.7)], [(0.5, 0.3), (0.5, 0.7)]],
    "letter K": [[(0.2, 0.35), (0.8, 0.35)], [(0.2, 0.7), (0.5, 0.36), (0.8, 0.7)]],
    "letter M": [[(0.8, 0.2), (0.2, 0.25), (0.6, 0.5), (0.2, 0.75), (0.8, 0.8)]],
    "letter N": [[(0.8, 0.3), (0.2, 0.3), (0.8, 0.7), (0.2, 0.7)]],
    "letter R": [[(0.8, 0.3), (0.2, 0.3)] + _arc(0.35, 0.3, 0.15, 0.35, 90, -90)[1:-1] + [(0.5, 0.3), (0.8, 0.7)]],
    "letter T": [[(0.2, 0.2), (0.2, 0.8)], [(0.2, 0.5), (0.8, 0.5)]],
    "letter V": [[(0.2, 0.25), (0.8, 0.5), (0.2, 0.75)]],
    "letter W": [[(0.2, 0.2), (0.8, 0.35), (0.4, 0.5), (0.8, 0.65), (0.2, 0.8)]],
    "letter X": [[(0.2, 0.25), (0.8, 0.75)], [(0.2, 0.75), (0.8, 0.25)]],
    "letter Y": [[(0.2, 0.25), (0.5, 0.5), (0.2, 0.75)], [(0.5, 0.5), (0.8, 0.5)]],
    "plus sign": [[(0.2, 0.5), (0.8, 0.5)], [(0.5, 0.2), (0.5, 0.8)]],
    "hash sign": [[(0.2, 0.4), (0.8, 0.35)], [(0.2, 0.65), (0.8, 0.6)], [(0.4, 0.2), (0.4, 0.8)],
                  [(0.6, 0.2), (0.6, 0.8)]],
    "equals sign": [[(0.4, 0.25), (0.4, 0.75)], [(0.6, 0.25), (0.6, 0.75)]],
    "asterisk": [[(0.2, 0.5), (0.8, 0.5)], [(0.3, 0.25), (0.7, 0.75)], [(0.3, 0.75), (0.7, 0.25)]],
    "percent sign": [[(0.8, 0.25), (0.2, 0.75)], _arc(0.3, 0.3, 0.08, 0.08, 0, 360),
                     _arc(0.7, 0.7, 0.08, 0.08, 0, 360)],
    "check mark": [[(0.5, 0.2), (0.75, 0.4), (0.2, 0.8)]],
    "arrow": [[(0.5, 0.15), (0.5, 0.85)], [(0.3, 0.65), (0.5, 0.85), (0.7, 0.65)]],
    "colon": [[(0.3, 0.5)], [(0.7, 0.5)]],
    "dot": [[(0.5, 0.5)]],
    "triangle": [[(0.75, 0.2), (0.25, 0.5), (0.75, 0.8), (0.75, 0.2)]],
    "square": [[(0.25, 0.25), (0.25, 0.75), (0.75, 0.75), (0.75, 0.25), (0.25, 0.25)]],
    "flat rectangle": [[(0.35, 0.15), (0.35, 0.85), (0.65, 0.85), (0.65, 0.15), (0.35, 0.15)]],
    "diamond": [[(0.2, 0.5), (0.5, 0.8), (0.8, 0.5), (0.5, 0.2), (0.2, 0.5)]],
    "star": [[(0.5 - 0.32 * np.cos(np.radians(144 * k)), 0.5 + 0.32 * np.sin(np.radians(144 * k)))
              for k in range(6)]],
    "heart": [_arc(0.35, 0.35, 0.13, 0.15, 200, 0) + _arc(0.35, 0.65, 0.13, 0.15, 180, -20) + [(0.8, 0.5)]
              + _arc(0.35, 0.35, 0.13, 0.15, 200, 200)],
    "house": [[(0.8, 0.25), (0.45, 0.25), (0.45, 0.75), (0.8, 0.75), (0.8, 0.25)],
              [(0.45, 0.2), (0.15, 0.5), (0.45, 0.8)]],
    "smiley": [_arc(0.5, 0.5, 0.32, 0.32, 0, 360, 32), [(0.4, 0.4)], [(0.4, 0.6)],
               _arc(0.52, 0.5, 0.15, 0.17, 200, 340)],
    "spiral": [[(0.5 - r * np.sin(a), 0.5 + r * np.cos(a)) for r, a in
                zip(np.linspace(0.02, 0.33, 40), np.linspace(0, 4 * np.pi, 40))]],
    "wave": [[(0.5 - 0.15 * np.sin(t), 0.15 + 0.7 * t / (3 * np.pi)) for t in np.linspace(0, 3 * np.pi, 30)]],
    "zigzag": [[(0.35 + 0.3 * (k % 2), 0.15 + 0.1 * k) for k in range(8)]],
}


def _jittered(shape, rng, size: int):
    """One person's drawing of ``shape``: turned up to 12 degrees, 75 to 105% as large, a little
    wider or narrower, moved a little, each point off by about 1.5% of the canvas."""
    angle, scale = np.radians(rng.uniform(-12, 12)), rng.uniform(0.75, 1.05)
    stretch, shift = rng.uniform(0.85, 1.15), rng.uniform(-0.08, 0.08, size=2)
    turn = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    drawn = []
    for stroke in shape:
        points = np.asarray(stroke, dtype=np.float64).reshape(-1, 2) - 0.5
        points = (points * [scale, scale * stretch]) @ turn.T + 0.5 + shift
        drawn.append((points + rng.normal(0, 0.015, size=points.shape)) * size)
    return drawn


# "learning": the drawings the learned detector is taught with; the rule is measured on the other two.
NON_DIGIT_SEEDS = {"tuning": 0, "held-out": 1, "learning": 3}

# Digits drawn with the same pen, to check the rule does not flag what the pad draws (its strokes are
# thinner than MNIST's). Two styles for the digits people write two ways.
DRAWN_DIGIT_SHAPES = {
    "0": [_arc(0.5, 0.5, 0.3, 0.2, 90, 450, 24)],
    "1": [[(0.2, 0.5), (0.8, 0.5)]],
    "1 with a flag": [[(0.3, 0.38), (0.2, 0.52), (0.8, 0.52)]],
    "2": [_arc(0.35, 0.5, 0.15, 0.2, 160, -30, 10) + [(0.8, 0.3), (0.8, 0.72)]],
    "3": [_arc(0.35, 0.48, 0.15, 0.18, 150, -90, 12) + _arc(0.65, 0.48, 0.15, 0.2, 90, -150, 12)[1:]],
    "4": [[(0.2, 0.6), (0.62, 0.28), (0.62, 0.75)], [(0.35, 0.6), (0.8, 0.6)]],
    "4 open": [[(0.2, 0.32), (0.55, 0.32), (0.55, 0.72)], [(0.2, 0.62), (0.8, 0.62)]],
    "5": [[(0.2, 0.7), (0.2, 0.35), (0.47, 0.33)] + _arc(0.62, 0.47, 0.17, 0.2, 120, -150, 12)],
    "6": [[(0.2, 0.62), (0.45, 0.38)] + _arc(0.65, 0.5, 0.15, 0.15, 160, -200, 16)],
    "7": [[(0.2, 0.3), (0.2, 0.7), (0.8, 0.45)]],
    "7 with a bar": [[(0.2, 0.3), (0.2, 0.7), (0.8, 0.45)], [(0.5, 0.4), (0.5, 0.68)]],
    "8": [_arc(0.35, 0.5, 0.15, 0.15, -90, 270, 16), _arc(0.65, 0.5, 0.15, 0.18, 90, 450, 16)],
    "9": [_arc(0.35, 0.5, 0.15, 0.17, 0, 360, 16) + [(0.8, 0.6)]],
}


def drawn_digits(size: int = 280, copies: int = 8, seed: int = 2) -> dict:
    """SYNTHETIC digits drawn like the pad draws, ``copies`` hand-jittered drawings of each of
    ``DRAWN_DIGIT_SHAPES``. {name: (size, size) picture}; the name starts with the digit."""
    rng = np.random.default_rng(seed)
    return {f"{name} #{copy}": draw_strokes(_jittered(shape, rng, size), size)
            for name, shape in DRAWN_DIGIT_SHAPES.items() for copy in range(1, copies + 1)}


def non_digit_drawings(split: str = "tuning", size: int = 280, copies: int = 3, lines: int = 15,
                       scribbles: int = 15, shapes=None) -> dict:
    """SYNTHETIC non-digits drawn like the pad draws (``draw_strokes``, its 18-pixel pen):
    ``copies`` hand-jittered drawings of each of ``NON_DIGIT_SHAPES`` (letters, signs, shapes),
    ``lines`` straight lines of 30 to 90% of the canvas tilted -30 to 30 degrees from horizontal,
    and ``scribbles`` random scribbles (zigzags of 6 to 11 strokes, or curly lines).

    ``split`` is "tuning" (the drawings the rule's measures and percentiles were chosen on) or
    "held-out" (the same kinds of drawing from another random seed, used only to report the
    rate); "learning" (another seed) is what ``DigitLikeness`` learns from. ``shapes``: which of
    ``NON_DIGIT_SHAPES`` to draw (default all). {name: (size, size) picture}."""
    rng = np.random.default_rng(NON_DIGIT_SEEDS[split])
    strokes = {}
    for name, shape in NON_DIGIT_SHAPES.items():
        for copy in range(1, copies + 1 if shapes is None or name in shapes else 1):
            strokes[f"{name} #{copy}"] = _jittered(shape, rng, size)
    for number in range(1, lines + 1):
        length, degrees = rng.uniform(0.3, 0.9), rng.uniform(-30, 30)
        strokes[f"line {number} ({length:.0%} long, at {degrees:+.0f} degrees)"] = _line(length, degrees, size)
    for number in range(1, scribbles + 1):
        if number % 2:                   # a zigzag: straight strokes between random points
            points = rng.uniform(0.15, 0.85, size=(rng.integers(7, 13), 2))
        else:                            # a curly scribble: a pen that keeps turning a little each step
            heading = np.cumsum(rng.normal(0, 0.6, size=60)) + rng.uniform(0, 2 * np.pi)
            points = np.cumsum(np.column_stack([np.sin(heading), np.cos(heading)]), axis=0)
            points = 0.15 + 0.7 * (points - points.min(axis=0)) / np.ptp(points, axis=0).max()
        strokes[f"scribble {number}"] = [points * size]
    return {name: draw_strokes(shape, size) for name, shape in strokes.items()}
