"""Exercise checks of notebook 01."""

from __future__ import annotations

import gzip

import numpy as np

from scratchcnn import (DEFAULT_DATA_DIR, IMAGES_MAGIC, LABELS_MAGIC, idx_header, read_idx)

from .framework import Case, Mistake, check_exercise


# --- Notebook 01: MNIST up close ---------------------------------------------

def _parse_idx_header_reference(data):
    """(magic, shape) of an IDX header: big-endian uint32s, byte 3 the number of dimensions."""
    shape = tuple(int.from_bytes(data[4 + 4 * d: 8 + 4 * d], "big") for d in range(data[3]))
    return int.from_bytes(data[0:4], "big"), shape


def check_parse_idx_header(answer):
    """Notebook 01, ``parse_idx_header(data: bytes) -> (magic, shape)``."""
    with gzip.open(DEFAULT_DATA_DIR / "t10k-images-idx3-ubyte.gz", "rb") as file:
        image_header = file.read(16)
    with gzip.open(DEFAULT_DATA_DIR / "train-labels-idx1-ubyte.gz", "rb") as file:
        label_bytes = file.read(8 + 100)                    # the header and the first 100 labels
    hint = ("read the magic number from bytes 0-3 and data[3] sizes of 4 bytes each from byte 4, "
            "all big-endian: int.from_bytes(data[4:8], 'big')")
    inputs = [
        ("the real t10k-images header (16 bytes)", image_header),
        ("the real train-labels header followed by 100 labels (1 dimension)", label_bytes),
        ("a made-up 3-D file (2, 3, 4) followed by its 24 data bytes",
         idx_header(IMAGES_MAGIC, (2, 3, 4)) + bytes(range(24))),
        ("a 4-D file (5 colour images 3 x 32 x 32)", idx_header(0x0804, (5, 3, 32, 32))),
        ("a size above 65535 (70000 x 1)", idx_header(0x0802, (70000, 1))),
    ]
    cases = [Case(description, (data,), _parse_idx_header_reference(data), hint, rtol=0, atol=0)
             for description, data in inputs]

    def sizes(data, ndim, order="big", first=4, width=4):
        return tuple(int.from_bytes(data[first + 4 * d + 4 - width: first + 4 * d + 4], order) for d in range(ndim))

    mistakes = [
        Mistake("little-endian byte order",
                lambda data: (int.from_bytes(data[0:4], "little"), sizes(data, data[3], "little")),
                "IDX numbers are big-endian (most significant byte first): int.from_bytes(four_bytes, 'big')"),
        Mistake("the number of dimensions read from byte 2 (the element type, 8) instead of byte 3",
                lambda data: (int.from_bytes(data[0:4], "big"), sizes(data, data[2])),
                "byte 2 is the element type (0x08 = unsigned byte); byte 3 is the number of dimensions"),
        Mistake("three dimensions hard-coded",
                lambda data: (int.from_bytes(data[0:4], "big"), sizes(data, 3)),
                "loop over range(data[3]): a label file has 1 dimension, a colour image file 4"),
        Mistake("only the last byte of each size",
                lambda data: (int.from_bytes(data[0:4], "big"), sizes(data, data[3], width=1)),
                "each size is 4 bytes: 60000 needs the bytes 00 00 ea 60, not just 60"),
        Mistake("only the last two bytes of each size",
                lambda data: (int.from_bytes(data[0:4], "big"), sizes(data, data[3], width=2)),
                "each size is 4 bytes: 70000 does not fit in 2 bytes"),
        Mistake("the magic number read as the single byte 3 (or 2)",
                lambda data: (data[3], sizes(data, data[3])),
                "the magic number is all four bytes 0-3 as one big-endian integer: 0x00000803 = 2051"),
    ]
    return check_exercise("parse_idx_header", answer, cases, mistakes=mistakes)


def check_predicted_image_bytes(answer):
    """Notebook 01, ``predicted_image_bytes() -> int``: the bytes after the header of the
    uncompressed training image file, checked against the real file's length."""
    raw = gzip.decompress((DEFAULT_DATA_DIR / "train-images-idx3-ubyte.gz").read_bytes())
    expected = len(raw) - (4 + 4 * raw[3])
    cases = [Case("bytes after the 16-byte header of train-images-idx3-ubyte", (), expected,
                  "one unsigned byte per pixel: images x rows x columns", rtol=0, atol=0)]
    mistakes = [
        Mistake("the 16 header bytes counted too", lambda: expected + 16,
                "the question asks for the bytes AFTER the header"),
        Mistake("4 bytes per pixel (float32 is what load_mnist makes, not what the file holds)",
                lambda: 4 * expected, "the file stores one unsigned byte (0..255) per pixel"),
        Mistake("the 10,000 test images instead of the 60,000 training images", lambda: expected // 6,
                "the training file holds 60,000 images"),
        Mistake("28 + 28 instead of 28 x 28 pixels per image", lambda: 60000 * (28 + 28),
                "an image has 28 rows of 28 pixels: 784 bytes"),
    ]
    return check_exercise("predicted_image_bytes", answer, cases, mistakes=mistakes)


def check_class_counts(answer):
    """Notebook 01, ``class_counts(labels, num_classes) -> (num_classes,) ints``: counts[k] = #{n: labels[n] == k}."""
    labels = read_idx(DEFAULT_DATA_DIR / "train-labels-idx1-ubyte.gz", LABELS_MAGIC).astype(np.int64)
    hint = "counts[k] is how many labels equal k; every class gets a count, also one that never occurs (0)"
    inputs = [("labels [0, 1, 1, 3] with 4 classes (class 2 never occurs)", np.array([0, 1, 1, 3]), 4),
              ("labels [0, 0, 2] with 5 classes (classes 3 and 4 never occur)", np.array([0, 0, 2]), 5),
              ("a single label [7] with 10 classes", np.array([7]), 10),
              ("the 60000 real training labels", labels, 10)]
    cases = [Case(description, (y, k), np.bincount(y, minlength=k), hint, rtol=0, atol=0)
             for description, y, k in inputs]
    mistakes = [
        Mistake("np.bincount without minlength (classes above the largest label are dropped)",
                lambda y, k: np.bincount(y), "np.bincount(labels, minlength=num_classes)"),
        Mistake("np.unique's counts (every class that never occurs is dropped)",
                lambda y, k: np.unique(y, return_counts=True)[1],
                "a class that never occurs still needs its count 0: return num_classes numbers"),
        Mistake("counts[label] = 1 instead of counts[label] += 1",
                lambda y, k: (np.bincount(y, minlength=k) > 0).astype(np.int64),
                "add one for every label: counts[label] += 1"),
        Mistake("fractions instead of counts", lambda y, k: np.bincount(y, minlength=k) / len(y),
                "return the counts themselves, not divided by the number of labels"),
    ]
    return check_exercise("class_counts", answer, cases, mistakes=mistakes)


def _mean_image_per_class_reference(images, labels, num_classes):
    return np.stack([images[labels == k].mean(axis=0) for k in range(num_classes)])


def check_mean_image_per_class(answer):
    """Notebook 01, ``mean_image_per_class(images (N, H, W), labels (N,), num_classes) -> (num_classes, H, W)``."""
    rng = np.random.default_rng(1)
    test_images = read_idx(DEFAULT_DATA_DIR / "t10k-images-idx3-ubyte.gz", IMAGES_MAGIC)[:1000] / 255.0
    test_labels = read_idx(DEFAULT_DATA_DIR / "t10k-labels-idx1-ubyte.gz", LABELS_MAGIC)[:1000].astype(np.int64)
    inputs = [("3 classes, 2 images each, 2x2 pixels", rng.random((6, 2, 2)), np.array([0, 1, 2, 0, 1, 2]), 3),
              ("3 classes with 1, 3 and 2 images, 3x2 pixels", rng.random((6, 3, 2)), np.array([1, 1, 0, 1, 2, 2]), 3),
              ("integer images, 2 classes", rng.integers(0, 256, (5, 2, 3)), np.array([0, 1, 1, 0, 1]), 2),
              ("the first 1000 real test digits", test_images, test_labels, 10)]
    cases = [Case(description, (x, y, k), _mean_image_per_class_reference(x, y, k),
                  "entry k is the pixel-wise mean of the images with label k: shape (num_classes, H, W)")
             for description, x, y, k in inputs]
    per_class = lambda x, y, k, reduce: np.stack([reduce(x[y == c]) for c in range(k)])
    mistakes = [
        Mistake("each class's sum divided by N / num_classes instead of by the class's own count",
                lambda x, y, k: per_class(x, y, k, lambda s: s.sum(axis=0)) / (len(x) / k),
                "divide by the number of images OF THAT CLASS: images[labels == k].mean(axis=0)"),
        Mistake("the sum instead of the mean", lambda x, y, k: per_class(x, y, k, lambda s: s.sum(axis=0)),
                "divide each class's sum by its number of images (or use .mean(axis=0))"),
        Mistake("the mean over the pixels too (one number per class)",
                lambda x, y, k: per_class(x, y, k, lambda s: s.mean()),
                "average over the images axis only: .mean(axis=0) keeps the (H, W) pixels"),
        Mistake("the mean over the rows instead of over the images (axis=1)",
                lambda x, y, k: per_class(x, y, k, lambda s: s.mean(axis=1)),
                "axis 0 of images[labels == k] counts the images: .mean(axis=0)"),
    ]
    return check_exercise("mean_image_per_class", answer, cases, mistakes=mistakes)


def _to_network_input_reference(images):
    return (images.astype(np.float32) / np.float32(255.0))[:, None, :, :]


def check_to_network_input(answer):
    """Notebook 01, ``to_network_input(images uint8 (N, H, W)) -> float32 (N, 1, H, W) in [0, 1]``."""
    rng = np.random.default_rng(11)
    real = read_idx(DEFAULT_DATA_DIR / "t10k-images-idx3-ubyte.gz", IMAGES_MAGIC)[:5]
    inputs = [("the first 5 real test images (uint8)", real),
              ("one 2x3 image with 0, 128 and 255", np.array([[[0, 128, 255], [1, 254, 64]]], dtype=np.uint8)),
              ("a batch of 4 non-square 5x7 images", rng.integers(0, 256, (4, 5, 7)).astype(np.uint8))]
    cases = [Case(description, (x,), _to_network_input_reference(x),
                  "divide by 255 in floating point and add the channel axis: shape (N, 1, H, W)", rtol=1e-6, atol=1e-7)
             for description, x in inputs]
    mistakes = [
        Mistake("integer division // 255 (every pixel becomes 0 or 1)",
                lambda x: (x // 255).astype(np.float32)[:, None],
                "divide in floating point: x.astype(np.float32) / 255"),
        Mistake("divided by 256 instead of 255", lambda x: (x.astype(np.float32) / 256)[:, None],
                "full ink is 255, and it must become exactly 1.0: divide by 255"),
        Mistake("the channel axis added last (N, H, W, 1) instead of second",
                lambda x: (x.astype(np.float32) / 255)[..., None],
                "the layers expect NCHW: images[:, None, :, :] gives (N, 1, H, W)"),
        Mistake("no channel axis", lambda x: x.astype(np.float32) / 255, "add the channel axis: images[:, None]"),
        Mistake("not scaled (0..255 kept)", lambda x: x.astype(np.float32)[:, None],
                "divide by 255 so the pixels lie in [0, 1] (section 6 says why)"),
    ]
    return check_exercise("to_network_input", answer, cases, mistakes=mistakes)


def _nearest_mean_predict_reference(images, means):
    distances = ((images[:, None, :] - means[None, :, :]) ** 2).sum(axis=2)
    return distances.argmin(axis=1)


def check_nearest_mean_predict(answer):
    """Notebook 01, ``nearest_mean_predict(images (N, D), means (K, D)) -> (N,) ints``:
    the index of the mean closest to each image in Euclidean distance."""
    rng = np.random.default_rng(12)
    test_images = read_idx(DEFAULT_DATA_DIR / "t10k-images-idx3-ubyte.gz", IMAGES_MAGIC)[:200]
    test_labels = read_idx(DEFAULT_DATA_DIR / "t10k-labels-idx1-ubyte.gz", LABELS_MAGIC)[:200].astype(np.int64)
    flat = test_images.reshape(200, -1) / 255.0
    means = np.stack([flat[test_labels == k].mean(axis=0) for k in range(10)])
    inputs = [("2 points, 3 means in 2-D", np.array([[0.0, 0.0], [5.0, 5.0]]),
               np.array([[1.0, 1.0], [4.0, 6.0], [-3.0, 0.5]])),
              ("one image (a batch of one)", np.array([[2.0, -1.0, 0.5]]), rng.standard_normal((4, 3))),
              ("a mean with a large norm that is not the closest", np.array([[1.0, 0.0], [0.0, 1.0]]),
               np.array([[0.9, 0.1], [10.0, 10.0], [0.0, 1.2]])),
              ("200 real test digits against their class means", flat, means)]
    cases = [Case(description, (x, m), _nearest_mean_predict_reference(x, m),
                  "for every image, the index k of the mean with the smallest sum of squared differences",
                  rtol=0, atol=0) for description, x, m in inputs]
    mistakes = [
        Mistake("argmax of the distances (the farthest mean)",
                lambda x, m: ((x[:, None] - m[None]) ** 2).sum(axis=2).argmax(axis=1),
                "the NEAREST mean has the smallest distance: argmin"),
        Mistake("the largest dot product x . m instead of the smallest distance",
                lambda x, m: (x @ m.T).argmax(axis=1),
                "|x - m|^2 = |x|^2 - 2 x.m + |m|^2: the |m|^2 term matters when the means differ in size"),
        Mistake("argmin over the wrong axis (the nearest image for each mean)",
                lambda x, m: ((x[:, None] - m[None]) ** 2).sum(axis=2).argmin(axis=0),
                "the distances are (N, K): take argmin over axis=1, one answer per image"),
    ]
    return check_exercise("nearest_mean_predict", answer, cases, mistakes=mistakes)


