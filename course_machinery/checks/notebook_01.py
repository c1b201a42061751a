"""Exercise checks of notebook 01 (MNIST up close), each an Exercise: its cases and its known mistakes.

The real MNIST files are read once per process (``_real``), and only when a check first runs."""

from __future__ import annotations

import functools
import gzip

import numpy as np

from scratchcnn import DEFAULT_DATA_DIR, IMAGES_MAGIC, LABELS_MAGIC, idx_header, read_idx

from .framework import Case, Exercise, Mistake, case_rng, secret_active, secret_rng, varied


@functools.lru_cache(maxsize=None)
def _real(file_name):
    """An MNIST file of the data folder as an array, read once (IMAGES_MAGIC for images, LABELS_MAGIC for labels)."""
    magic = IMAGES_MAGIC if "images" in file_name else LABELS_MAGIC
    array = read_idx(DEFAULT_DATA_DIR / file_name, magic)
    array.flags.writeable = False                        # shared by every check: nobody may edit it
    return array


def _test_digits(count):
    """The first ``count`` real test images (uint8, (count, 28, 28)) and labels (int64); inside
    secret_cases, ``count`` other test digits drawn from the secret."""
    images, labels = _real("t10k-images-idx3-ubyte.gz"), _real("t10k-labels-idx1-ubyte.gz").astype(np.int64)
    chosen = varied(slice(count), lambda secret: np.sort(secret.choice(len(images), count, replace=False)), count)
    return images[chosen], labels[chosen]


# --- parse_idx_header ---------------------------------------------------------

def _parse_idx_header_reference(data):
    """(magic, shape) of an IDX header: big-endian uint32s, byte 3 the number of dimensions."""
    shape = tuple(int.from_bytes(data[4 + 4 * d: 8 + 4 * d], "big") for d in range(data[3]))
    return int.from_bytes(data[0:4], "big"), shape


def _parse_idx_header_cases():
    with gzip.open(DEFAULT_DATA_DIR / "t10k-images-idx3-ubyte.gz", "rb") as file:
        image_header = file.read(16)
    label_count = varied(100, lambda secret: int(secret.integers(1, 1000)), 13)
    with gzip.open(DEFAULT_DATA_DIR / "train-labels-idx1-ubyte.gz", "rb") as file:
        label_bytes = file.read(8 + label_count)            # the header and the first 100 labels
    hint = ("read the magic number from bytes 0-3 and data[3] sizes of 4 bytes each from byte 4, "
            "all big-endian: int.from_bytes(data[4:8], 'big')")
    inputs = [
        ("the real t10k-images header (16 bytes)", image_header),
        (f"the real train-labels header followed by {label_count} labels (1 dimension)", label_bytes),
    ]
    # Made-up files: (shape, magic); inside secret_cases, shapes drawn from the secret.
    shape_3d = varied((2, 3, 4), lambda secret: tuple(int(n) for n in secret.integers(1, 300, 3)), 10)
    shape_4d = varied((5, 3, 32, 32), lambda secret: tuple(int(n) for n in secret.integers(1, 1000, 4)), 11)
    large = varied((70000, 1), lambda secret: (int(secret.integers(65536, 2 ** 31)), int(secret.integers(1, 9))), 12)
    descriptions = ([f"a made-up 3-D file {shape_3d} followed by 24 data bytes", f"a 4-D file {shape_4d}",
                     f"a size above 65535 {large}"] if secret_active() else
                    ["a made-up 3-D file (2, 3, 4) followed by its 24 data bytes",
                     "a 4-D file (5 colour images 3 x 32 x 32)", "a size above 65535 (70000 x 1)"])
    inputs += zip(descriptions, [idx_header(IMAGES_MAGIC, shape_3d) + bytes(range(24)), idx_header(0x0804, shape_4d),
                                 idx_header(0x0802, large)])
    return [Case(description, (data,), _parse_idx_header_reference(data), hint, rtol=0, atol=0)
            for description, data in inputs]


def _header(data, ndim, order="big", width=4, magic=None):
    """A header parsed with the given slips: byte order, number of dimensions, bytes kept per size, magic."""
    sizes = tuple(int.from_bytes(data[8 + 4 * d - width: 8 + 4 * d], order) for d in range(ndim))
    return (int.from_bytes(data[0:4], order) if magic is None else magic), sizes


check_parse_idx_header = Exercise("parse_idx_header", _parse_idx_header_cases, [
    Mistake("little-endian byte order", lambda data: _header(data, data[3], "little"),
            "IDX numbers are big-endian (most significant byte first): int.from_bytes(four_bytes, 'big')"),
    Mistake("the number of dimensions read from byte 2 (the element type, 8) instead of byte 3",
            lambda data: _header(data, data[2]),
            "byte 2 is the element type (0x08 = unsigned byte); byte 3 is the number of dimensions"),
    Mistake("three dimensions hard-coded", lambda data: _header(data, 3),
            "loop over range(data[3]): a label file has 1 dimension, a colour image file 4"),
    Mistake("only the last byte of each size", lambda data: _header(data, data[3], width=1),
            "each size is 4 bytes: 60000 needs the bytes 00 00 ea 60, not just 60"),
    Mistake("only the last two bytes of each size", lambda data: _header(data, data[3], width=2),
            "each size is 4 bytes: 70000 does not fit in 2 bytes"),
    Mistake("the magic number read as the single byte 3 (or 2)", lambda data: _header(data, data[3], magic=data[3]),
            "the magic number is all four bytes 0-3 as one big-endian integer: 0x00000803 = 2051"),
], doc="Notebook 01, ``parse_idx_header(data: bytes) -> (magic, shape)``.")


# --- predicted_image_bytes --------------------------------------------------------

@functools.lru_cache(maxsize=None)
def _training_image_bytes():
    """The bytes after the header of the uncompressed training image file (decompressed once: 47 MB)."""
    raw = gzip.decompress((DEFAULT_DATA_DIR / "train-images-idx3-ubyte.gz").read_bytes())
    return len(raw) - (4 + 4 * raw[3])


check_predicted_image_bytes = Exercise("predicted_image_bytes", lambda: [
    Case("bytes after the 16-byte header of train-images-idx3-ubyte", (), _training_image_bytes(),
         "one unsigned byte per pixel: images x rows x columns", rtol=0, atol=0),
], [
    Mistake("the 16 header bytes counted too", lambda: _training_image_bytes() + 16,
            "the question asks for the bytes AFTER the header"),
    Mistake("4 bytes per pixel (float32 is what load_mnist makes, not what the file holds)",
            lambda: 4 * _training_image_bytes(), "the file stores one unsigned byte (0..255) per pixel"),
    Mistake("the 10,000 test images instead of the 60,000 training images", lambda: _training_image_bytes() // 6,
            "the training file holds 60,000 images"),
    Mistake("28 + 28 instead of 28 x 28 pixels per image", lambda: 60000 * (28 + 28),
            "an image has 28 rows of 28 pixels: 784 bytes"),
], doc="""Notebook 01, ``predicted_image_bytes() -> int``: the bytes after the header of the
    uncompressed training image file, checked against the real file's length.""")


# --- class_counts ---------------------------------------------------------------------

def _class_counts_cases():
    hint = "counts[k] is how many labels equal k; every class gets a count, also one that never occurs (0)"
    inputs = [("labels [0, 1, 1, 3] with 4 classes (class 2 never occurs)", np.array([0, 1, 1, 3]), 4),
              ("labels [0, 0, 2] with 5 classes (classes 3 and 4 never occur)", np.array([0, 0, 2]), 5),
              ("a single label [7] with 10 classes", np.array([7]), 10),
              ("the 60000 real training labels", _real("train-labels-idx1-ubyte.gz").astype(np.int64), 10)]
    secret = secret_rng(14)
    if secret is not None:                            # other labels and class counts, some classes absent
        inputs = [(f"labels {labels.tolist()} with {k} classes (class {k - 1} never occurs)", labels, k)
                  for k in secret.integers(3, 11, 2) for labels in [secret.integers(0, k - 1, secret.integers(2, 9))]]
        inputs += [(f"a single label with {k} classes", secret.integers(0, k, 1), k) for k in [secret.integers(2, 11)]]
        start = int(secret.integers(0, 50000))
        inputs.append((f"10000 real training labels from number {start}",
                       _real("train-labels-idx1-ubyte.gz")[start:start + 10000].astype(np.int64), 10))
    return [Case(description, (labels, k), np.bincount(labels, minlength=k), hint, rtol=0, atol=0)
            for description, labels, k in inputs]


check_class_counts = Exercise("class_counts", _class_counts_cases, [
    Mistake("np.bincount without minlength (classes above the largest label are dropped)",
            lambda labels, k: np.bincount(labels), "np.bincount(labels, minlength=num_classes)"),
    Mistake("np.unique's counts (every class that never occurs is dropped)",
            lambda labels, k: np.unique(labels, return_counts=True)[1],
            "a class that never occurs still needs its count 0: return num_classes numbers"),
    Mistake("counts[label] = 1 instead of counts[label] += 1",
            lambda labels, k: (np.bincount(labels, minlength=k) > 0).astype(np.int64),
            "add one for every label: counts[label] += 1"),
    Mistake("fractions instead of counts", lambda labels, k: np.bincount(labels, minlength=k) / len(labels),
            "return the counts themselves, not divided by the number of labels"),
], doc="Notebook 01, ``class_counts(labels, num_classes) -> (num_classes,) ints``: counts[k] = #{n: labels[n] == k}.")


# --- mean_image_per_class -------------------------------------------------------------

def _per_class(images, labels, num_classes, reduce):
    """reduce(images of class k) for every class k, stacked."""
    return np.stack([reduce(images[labels == k]) for k in range(num_classes)])


def _mean_image_per_class_cases():
    rng = case_rng(1)
    test_images, test_labels = _test_digits(1000)
    inputs = [("3 classes, 2 images each, 2x2 pixels", rng.random((6, 2, 2)), np.array([0, 1, 2, 0, 1, 2]), 3),
              ("3 classes with 1, 3 and 2 images, 3x2 pixels", rng.random((6, 3, 2)), np.array([1, 1, 0, 1, 2, 2]), 3),
              ("integer images, 2 classes", rng.integers(0, 256, (5, 2, 3)), np.array([0, 1, 1, 0, 1]), 2),
              ("the first 1000 real test digits", test_images / 255.0, test_labels, 10)]
    return [Case(description, (x, y, k), _per_class(x, y, k, lambda images: images.mean(axis=0)),
                 "entry k is the pixel-wise mean of the images with label k: shape (num_classes, H, W)")
            for description, x, y, k in inputs]


check_mean_image_per_class = Exercise("mean_image_per_class", _mean_image_per_class_cases, [
    Mistake("each class's sum divided by N / num_classes instead of by the class's own count",
            lambda x, y, k: _per_class(x, y, k, lambda images: images.sum(axis=0)) / (len(x) / k),
            "divide by the number of images OF THAT CLASS: images[labels == k].mean(axis=0)"),
    Mistake("the sum instead of the mean", lambda x, y, k: _per_class(x, y, k, lambda images: images.sum(axis=0)),
            "divide each class's sum by its number of images (or use .mean(axis=0))"),
    Mistake("the mean over the pixels too (one number per class)",
            lambda x, y, k: _per_class(x, y, k, lambda images: images.mean()),
            "average over the images axis only: .mean(axis=0) keeps the (H, W) pixels"),
    Mistake("the mean over the rows instead of over the images (axis=1)",
            lambda x, y, k: _per_class(x, y, k, lambda images: images.mean(axis=1)),
            "axis 0 of images[labels == k] counts the images: .mean(axis=0)"),
], doc="Notebook 01, ``mean_image_per_class(images (N, H, W), labels (N,), num_classes) -> (num_classes, H, W)``.")


# --- to_network_input -----------------------------------------------------------------

def _to_network_input_cases():
    rng = case_rng(11)
    inputs = [("the first 5 real test images (uint8)", _test_digits(5)[0]),
              ("one 2x3 image with 0, 128 and 255", varied(
                  np.array([[[0, 128, 255], [1, 254, 64]]], dtype=np.uint8),
                  lambda secret: np.concatenate([[[[0, 255]]], secret.integers(0, 256, (1, 1, 2))], axis=2
                                                )[:, :, secret.permutation(4)].astype(np.uint8), 15)),
              ("a batch of 4 non-square 5x7 images", rng.integers(0, 256, (4, 5, 7)).astype(np.uint8))]
    return [Case(description, (x,), (x.astype(np.float32) / np.float32(255.0))[:, None, :, :],
                 "divide by 255 in floating point and add the channel axis: shape (N, 1, H, W), float32 "
                 "(x.astype(np.float32) / 255: dividing the uint8 array by 255 gives float64)",
                 rtol=1e-6, atol=1e-7, dtype=np.float32)
            for description, x in inputs]


check_to_network_input = Exercise("to_network_input", _to_network_input_cases, [
    Mistake("integer division // 255 (every pixel becomes 0 or 1)", lambda x: (x // 255).astype(np.float32)[:, None],
            "divide in floating point: x.astype(np.float32) / 255"),
    Mistake("divided by 256 instead of 255", lambda x: (x.astype(np.float32) / 256)[:, None],
            "full ink is 255, and it must become exactly 1.0: divide by 255"),
    Mistake("the channel axis added last (N, H, W, 1) instead of second",
            lambda x: (x.astype(np.float32) / 255)[..., None],
            "the layers expect NCHW: images[:, None, :, :] gives (N, 1, H, W)"),
    Mistake("no channel axis", lambda x: x.astype(np.float32) / 255, "add the channel axis: images[:, None]"),
    Mistake("not scaled (0..255 kept)", lambda x: x.astype(np.float32)[:, None],
            "divide by 255 so the pixels lie in [0, 1] (section 6 says why)"),
], doc="Notebook 01, ``to_network_input(images uint8 (N, H, W)) -> float32 (N, 1, H, W) in [0, 1]``.")


# --- nearest_mean_predict -------------------------------------------------------------

def _squared_distances(images, means):
    """(N, K): the squared Euclidean distance of every image to every mean."""
    return ((images[:, None, :] - means[None, :, :]) ** 2).sum(axis=2)


def _similar(points, means, seed):
    """(points, means) as written; inside secret_cases, both scaled by one random factor and their axes
    permuted: every distance scales alike, so the nearest mean and the case's point stay."""
    def change(secret):
        scale, order = secret.uniform(0.5, 3.0), secret.permutation(points.shape[1])
        return scale * points[:, order], scale * means[:, order]
    return varied((points, means), change, seed)


def _nearest_mean_predict_cases():
    rng = case_rng(12)
    images, labels = _test_digits(200)
    flat = images.reshape(200, -1) / 255.0
    means = np.stack([flat[labels == k].mean(axis=0) for k in range(10)])
    inputs = [("2 points, 3 means in 2-D", *_similar(np.array([[0.0, 0.0], [5.0, 5.0]]),
                                                     np.array([[1.0, 1.0], [4.0, 6.0], [-3.0, 0.5]]), 16)),
              ("one image (a batch of one)", np.array([[2.0, -1.0, 0.5]]), rng.standard_normal((4, 3))),
              ("a mean with a large norm that is not the closest",
               *_similar(np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([[0.9, 0.1], [10.0, 10.0], [0.0, 1.2]]), 17)),
              ("200 real test digits against their class means", flat, means)]
    return [Case(description, (x, m), _squared_distances(x, m).argmin(axis=1),
                 "for every image, the index k of the mean with the smallest sum of squared differences",
                 rtol=0, atol=0) for description, x, m in inputs]


check_nearest_mean_predict = Exercise("nearest_mean_predict", _nearest_mean_predict_cases, [
    Mistake("argmax of the distances (the farthest mean)", lambda x, m: _squared_distances(x, m).argmax(axis=1),
            "the NEAREST mean has the smallest distance: argmin"),
    Mistake("the largest dot product x . m instead of the smallest distance", lambda x, m: (x @ m.T).argmax(axis=1),
            "|x - m|^2 = |x|^2 - 2 x.m + |m|^2: the |m|^2 term matters when the means differ in size"),
    Mistake("argmin over the wrong axis (the nearest image for each mean)",
            lambda x, m: _squared_distances(x, m).argmin(axis=0),
            "the distances are (N, K): take argmin over axis=1, one answer per image"),
], doc="""Notebook 01, ``nearest_mean_predict(images (N, D), means (K, D)) -> (N,) ints``:
    the index of the mean closest to each image in Euclidean distance.""")
