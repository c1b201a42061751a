"""Exercise checks of notebook 09: play with it."""

from __future__ import annotations

import numpy as np

from scratchcnn import centre_of_mass, preprocess_digit, reference_cnn

from .shared import mnist_test_bytes
from .framework import Case, Exercise, Mistake, case_rng, secret_rng, varied
from ..plots import conv_feature_maps


def _turned(seed, scale=True):
    """A function of a hand-made image (and its description): the image as it is outside secret_cases;
    inside, turned by a random multiple of 90 degrees, maybe mirrored and (floats, when ``scale``)
    brightened by a random factor: the same drawing, whose answer the reference recomputes."""
    secret = secret_rng(seed)

    def turn(description, image):
        if secret is None:
            return description, image
        image = np.rot90(image, int(secret.integers(4)))
        image = np.ascontiguousarray(image[:, ::-1] if secret.random() < 0.5 else image)
        if scale and image.dtype.kind == "f":
            image = image * secret.uniform(0.3, 3.0)
        drawing = description.split(" (")[0].split(" at ")[0]
        return f"{drawing}, turned or mirrored ({image.shape[0]} x {image.shape[1]})", image
    return turn


def _test_digit_bytes(public_number, seed):
    """MNIST test digit ``public_number`` as uint8 (H, W), or inside secret_cases another one; and its number."""
    number = varied(public_number, lambda secret: int(secret.integers(2, 10000)), seed)
    return mnist_test_bytes()[number].copy(), number


def _crop_reference(image):
    """The "cropped" step of preprocess_digit: the bounding box of the pixels above 10% of the brightest."""
    return preprocess_digit(image, return_steps=True)[1]["cropped"]


def _crop_cases():
    block = np.zeros((10, 10))
    block[3:6, 4:8] = 1.0
    edges = np.zeros((8, 9))
    edges[0, 2], edges[5, 8], edges[3, 4] = 1.0, 0.7, 0.9
    smudge = np.zeros((12, 12))
    smudge[4:8, 3:7] = 1.0
    smudge[0, 11] = 0.05
    dim = np.zeros((12, 12))
    dim[5:9, 2:5] = 0.5
    dim[1, 10] = 0.08
    single = np.zeros((5, 5))
    single[2, 3] = 0.6
    digit_bytes, number = _test_digit_bytes(0, 90)
    digit = digit_bytes / 255.0
    end_hint = ("slice ends are exclusive: image[rows.min():rows.max() + 1, cols.min():cols.max() + 1] "
                "keeps the last ink row and column")
    turn = _turned(91, scale=False)               # the reference rescales brighter images: no new brightness
    (block_text, block), (edges_text, edges), (smudge_text, smudge), (dim_text, dim), (single_text, single) = [
        turn(description, image) for description, image in [
            ("a 3 x 4 block of ink in a 10 x 10 image", block), ("ink touching the top and right edges", edges),
            ("a faint smudge (5% of the brightest pixel) far from the digit", smudge),
            ("a dim drawing (brightest pixel 0.5) with a stroke of 0.08", dim), ("a single ink pixel", single)]]
    digit_text = "the first MNIST test digit" if number == 0 else f"MNIST test digit {number}"
    return [
        Case(block_text, (block,), _crop_reference(block), end_hint),
        Case(edges_text, (edges,), _crop_reference(edges), end_hint),
        Case(smudge_text, (smudge,), _crop_reference(smudge),
             "ink means brighter than 10% of the brightest pixel (image > 0.1 * image.max())"),
        Case(dim_text, (dim,), _crop_reference(dim),
             "the threshold is relative: 10% of the brightest pixel (0.05 here), not an absolute 0.1"),
        Case(single_text, (single,), _crop_reference(single), end_hint),
        Case(digit_text, (digit,), _crop_reference(digit), end_hint),
        Case(digit_text + " as integers 0..255 (uint8)", (digit_bytes,),
             np.rint(255 * _crop_reference(digit)).astype(np.uint8), end_hint),
    ]


def _crop(image, rows, cols, end=1):
    return image[rows.min():rows.max() + end, cols.min():cols.max() + end]


check_crop_to_ink = Exercise("crop_to_ink", _crop_cases, [
    Mistake("the slice ends without + 1 (they are exclusive)",
            lambda image: _crop(image, *np.nonzero(image > 0.1 * image.max()), end=0),
            "image[rows.min():rows.max() + 1, cols.min():cols.max() + 1]"),
    Mistake("an absolute threshold (image > 0.1) instead of 10% of the brightest pixel",
            lambda image: _crop(image, *np.nonzero(image > 0.1)),
            "compare with 0.1 * image.max(): the threshold follows the image's brightness"),
    Mistake("every nonzero pixel counted as ink (no threshold)",
            lambda image: _crop(image, *np.nonzero(image)),
            "leave out faint smudges: ink is image > 0.1 * image.max()"),
    Mistake("rows and columns swapped in the slice",
            lambda image: _crop(image, *np.nonzero(image > 0.1 * image.max())[::-1]),
            "np.nonzero returns the row indices first: image[rows..., cols...]"),
], doc="""Notebook 09, ``crop_to_ink(image (H, W), white ink on black)`` -> the smallest rectangle holding
    every ink pixel, ink meaning brighter than 10% of the brightest pixel. The reference is
    the "cropped" step of preprocess_digit.""")


def _centre_reference(image):
    return np.array(centre_of_mass(np.asarray(image, dtype=np.float64)))


def _centre_cases():
    one = np.zeros((6, 8))
    one[2, 5] = 1.0
    weighted = np.zeros((1, 4))
    weighted[0, 0], weighted[0, 3] = 1.0, 0.5
    wide = np.zeros((3, 7))
    wide[1, 6], wide[2, 5] = 1.0, 1.0
    digit_bytes, number = _test_digit_bytes(1, 92)
    digit_text = "the second MNIST test digit" if number == 1 else f"MNIST test digit {number}"
    turn = _turned(93)
    weight_hint = "weight each position by its brightness: sum(y * image) / sum(image)"
    order_hint = "return (row, column): the row (y, axis 0) first, in pixel indices (the top left pixel is (0, 0))"
    return [Case(description, (image,), _centre_reference(image), hint, rtol=1e-6, atol=1e-9)
            for description, image, hint in [
        (*turn("one pixel at row 2, column 5", one), order_hint),
        (*turn("a bright pixel (1.0) and a dim one (0.5) in one row", weighted), weight_hint),
        (*turn("a wide 3 x 7 image with ink on the right", wide), order_hint),
        (digit_text, digit_bytes / 255.0, weight_hint),
        (digit_text + " as integers 0..255 (uint8)", digit_bytes,
         "integers work like floats; the sums must not overflow (np.sum of uint8 gives a wide integer)"),
    ]]


def _over_the_pixel_count(image):
    image = np.asarray(image, dtype=np.float64)
    rows, cols = np.indices(image.shape)
    return (rows * image).sum() / image.size, (cols * image).sum() / image.size


check_centre_of_mass = Exercise("centre_of_mass", _centre_cases, [
    Mistake("(column, row): the two axes swapped",
            lambda image: _centre_reference(image)[::-1],
            "return the row (axis 0) first, then the column"),
    Mistake("the +0.5 pixel-centre convention (pixel centres at 0.5, 1.5, ...)",
            lambda image: _centre_reference(image) + 0.5,
            "use the pixel indices themselves, 0 .. H-1, as in section 3 (no + 0.5)"),
    Mistake("the plain mean position of the ink pixels, not weighted by their brightness",
            lambda image: tuple(np.mean(axis) for axis in np.nonzero(image)),
            "weight each position by its brightness: sum(y * image) / sum(image)"),
    Mistake("divided by the number of pixels instead of by the total ink", _over_the_pixel_count,
            "divide by image.sum(), the total ink"),
    Mistake("the middle of the image instead of the centre of the ink",
            lambda image: ((np.shape(image)[0] - 1) / 2, (np.shape(image)[1] - 1) / 2),
            "weight the positions by the ink: sum(y * image) / sum(image)"),
], doc="""Notebook 09, ``centre_of_mass(image (H, W))`` -> (row, column), the ink-weighted mean position
        row = sum_{y,x} y * image[y, x] / sum image,   column = sum_{y,x} x * image[y, x] / sum image.
    Any pair (tuple, list or array) is accepted.""")


def _feature_map_cases():
    expected = tuple(maps.shape for maps in conv_feature_maps(reference_cnn(), np.zeros((28, 28))))
    return [Case("the reference CNN on one 28 x 28 digit", (), expected,
                 "one map per filter (8, then 16); a 3x3 convolution with padding 1 keeps the size "
                 "(28 x 28), and the second conv sees the 14 x 14 maps the first max-pool left. "
                 "Give (C, H, W) without the batch axis", rtol=0, atol=0)]


check_feature_map_shapes = Exercise("feature_map_shapes", _feature_map_cases, [
    Mistake("no padding: 3 x 3 convolutions shrinking each map by 2", lambda: ((8, 26, 26), (16, 11, 11)),
            "padding 1 keeps the size: (28 + 2 - 3) / 1 + 1 = 28"),
    Mistake("the batch axis included", lambda: ((1, 8, 28, 28), (1, 16, 14, 14)),
            "give (C, H, W) of one digit's maps, without the batch axis"),
    Mistake("the shapes after max-pooling", lambda: ((8, 14, 14), (16, 7, 7)),
            "the slider shows the maps after each ReLU, before the pooling"),
    Mistake("channels last (H, W, C)", lambda: ((28, 28, 8), (14, 14, 16)),
            "scratchcnn is channels first: (C, H, W)"),
    Mistake("conv 2 at full size (the first max-pool forgotten)", lambda: ((8, 28, 28), (16, 28, 28)),
            "conv 2 sees the 14 x 14 maps the first max-pool left"),
], doc="""Notebook 09 (predict before running), ``feature_map_shapes()`` -> the shapes (C, H, W) of the
    feature maps of the reference CNN's two conv layers, as the digit slider shows them.""")


def _most_confident_mistake(probabilities, labels, confidence="predicted", pick=np.argmax, position=False):
    """The index of the misclassified image whose predicted class has the highest probability.
    The keywords make the typical mistakes the check names."""
    predictions = probabilities.argmax(axis=1)
    mistakes = np.flatnonzero(predictions != labels)
    score = probabilities[mistakes, predictions[mistakes] if confidence == "predicted" else labels[mistakes]]
    chosen = int(pick(score))
    return chosen if position else int(mistakes[chosen])


def _shuffled(seed, settings):
    """(description, probabilities, labels, hint) as written; inside secret_cases, the images (rows) and
    the classes (columns, and the labels with them) of each hand-written setting in a random order: the
    same mistakes and ties, at other places. The descriptions then leave out the public positions."""
    secret = secret_rng(seed)
    if secret is None:
        return settings
    shuffled = []
    for description, probabilities, labels, hint in settings:
        rows, columns = secret.permutation(len(labels)), secret.permutation(probabilities.shape[1])
        shuffled.append((description.split(" (")[0] + ", images and classes shuffled",
                         probabilities[rows][:, columns], np.argsort(columns)[labels[rows]], hint))
    return shuffled


def _most_confident_cases():
    rng = case_rng(9)
    random_probabilities = rng.dirichlet(np.full(10, 0.3), size=300)
    random_labels = np.where(rng.random(300) < 0.8, random_probabilities.argmax(axis=1), rng.integers(0, 10, 300))
    return [Case(description, (p, y), _most_confident_mistake(p, y), hint, rtol=0, atol=0)
            for description, p, y, hint in _shuffled(94, [
        ("four images, one mistake (image 2)",
         np.array([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.6, 0.3, 0.1], [0.1, 0.1, 0.8]]), np.array([0, 1, 1, 2]),
         "a mistake is an image whose argmax differs from its label; return its index n in the whole array"),
        ("the surest image of all is classified right",
         np.array([[0.99, 0.01, 0.0], [0.3, 0.6, 0.1], [0.1, 0.2, 0.7]]), np.array([0, 0, 1]),
         "look among the MISCLASSIFIED images only"),
        ("confidence is the probability of the predicted class, not of the true one",
         np.array([[0.05, 0.5, 0.45], [0.3, 0.7, 0.0], [0.1, 0.1, 0.8], [0.4, 0.6, 0.0]]), np.array([0, 0, 2, 0]),
         "confidence = probabilities[n].max() (the predicted class), not probabilities[n, labels[n]]"),
        ("a tie between two mistakes",
         np.array([[0.2, 0.8], [0.8, 0.2], [0.2, 0.8], [0.9, 0.1]]), np.array([0, 1, 0, 0]),
         "on a tie return the first index, as np.argmax does"),
        ("a batch of one misclassified image", np.array([[0.3, 0.7]]), np.array([0]),
         "one image, misclassified: its index is 0"),
        ("300 random images, 10 classes", random_probabilities, random_labels,
         "return the index in the whole array, not the position within the list of mistakes"),
    ])]


check_most_confident_mistake = Exercise("most_confident_mistake", _most_confident_cases, [
    Mistake("the surest image overall, right or wrong",
            lambda p, y: int(np.argmax(p.max(axis=1))),
            "keep only the misclassified images (argmax != label) before taking the maximum"),
    Mistake("the mistake with the highest probability of its TRUE class",
            lambda p, y: _most_confident_mistake(p, y, confidence="true"),
            "confidence is the probability of the PREDICTED class, probabilities[n].max()"),
    Mistake("the mistake with the lowest probability of its true class",
            lambda p, y: _most_confident_mistake(p, y, confidence="true", pick=np.argmin),
            "confidence is the probability of the predicted class, probabilities[n].max(); take its maximum"),
    Mistake("the position among the mistakes instead of the index in the whole array",
            lambda p, y: _most_confident_mistake(p, y, position=True),
            "map the position back: mistakes[np.argmax(...)]"),
    Mistake("the last one on a tie instead of the first",
            lambda p, y: _most_confident_mistake(p, y, pick=lambda s: len(s) - 1 - np.argmax(s[::-1])),
            "np.argmax returns the first maximum: use it"),
    Mistake("the least confident mistake (argmin instead of argmax)",
            lambda p, y: _most_confident_mistake(p, y, pick=np.argmin),
            "the surest mistake has the LARGEST probability: np.argmax"),
], doc="""Notebook 09, ``most_confident_mistake(probabilities (N, K), labels (N,))`` -> the index n of the
    misclassified image the network was surest about: the largest probabilities[n].max()
    among the n with argmax != label (the first one on a tie).""")
