"""ScratchCNN: a convolutional neural network from scratch in NumPy.

This one file is the course's library. Part I is the textbook, in the order the
course teaches it; Part II is course machinery a student need not read.

Part I, the library
  1. Data          - reading the MNIST IDX files (``load_mnist``); Fashion-MNIST, CIFAR-10
  2. Layers        - Conv2D, MaxPool2D, ReLU, LeakyReLU, Flatten, Dropout, Dense,
                     BatchNorm1D, BatchNorm2D
                     plus the naive loop versions they are checked against
  3. Loss          - SoftmaxCrossEntropy
  4. Optimizers    - SGD (momentum, weight decay), Adam and RMSprop
  5. Model         - Sequential, Residual, the course's reference CNN and deep_cnn
  6. Training      - train, evaluate, data augmentation
  7. Gradient checking - numerical gradients by centred differences
  8. Pictures      - preprocessing a drawn digit like MNIST
  9. Model files   - save_model / load_model (.npz, no pickle)
 10. Command line  - ``python scratchcnn.py train|evaluate|predict``

Part II, course machinery
 11. Plots and widgets - LivePlot, show_numbers, the digit slider, the drawing pad and
                     its not-a-digit check (DigitLikeness)
 12. Exercise checks - check_exercise, Case, Mistake, CheckResult and one check_<name>
                     per exercise of notebooks 01-11

Conventions: images are NCHW arrays (batch, channels, height, width) and
"convolution" means cross-correlation, as in PyTorch's ``conv2d``.

Left out on purpose: automatic differentiation (every backward pass is written
by hand, as the notebooks derive it), GPUs, data-loading workers, mixed
precision and model parallelism; the widgets' and checks' code in Part II is
not part of what a student needs to read.
"""

from __future__ import annotations

import argparse
import copy
import gzip
import hashlib
import json
import math
import os
import re
import shlex
import sys
import tempfile
import time
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import as_strided

__version__ = "1.0.0"

HERE = Path(__file__).resolve().parent
DEFAULT_DATA_DIR = HERE / "data" / "mnist"
DEFAULT_MODEL_PATH = HERE / "data" / "scratchcnn_mnist.npz"


# =============================================================================
# 1. Data: the MNIST IDX files
# =============================================================================
#
# An IDX file is a tiny header followed by raw bytes:
#   bytes 0-1  zero
#   byte  2    element type (0x08 = unsigned byte)
#   byte  3    number of dimensions (3 for images, 1 for labels)
#   then one big-endian uint32 per dimension, e.g. 60000, 28, 28
#   then the data, row by row.
# So the "magic number" of an image file is 0x00000803 (2051) and of a label
# file 0x00000801 (2049).

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049
MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


class DataFileError(ValueError):
    """A data file is missing, truncated, corrupt or does not match its partner."""


# The largest IDX file read_idx accepts: 1 GiB, 20 times MNIST's training images.
# A header can promise anything; we refuse to allocate more than this on its word.
MAX_IDX_BYTES = 2 ** 30


def _find_idx_file(data_dir: Path, stem: str) -> Path:
    """The file ``stem`` in ``data_dir``, gzipped or plain."""
    for candidate in (data_dir / (stem + ".gz"), data_dir / stem):
        if candidate.is_file():
            return candidate
        if candidate.exists():
            raise DataFileError(f"{candidate} is a folder (or another special file), not a data file. "
                                f"Put the IDX file itself there.")
    raise DataFileError(
        f"missing data file: neither {data_dir / (stem + '.gz')} nor {data_dir / stem} exists. "
        f"Pass data_dir= (or --data-dir) pointing at a folder with the four MNIST IDX files, "
        f"or restore the repository's data/mnist/ folder with `git checkout -- data/mnist`."
    )


def _read_sha256sums(sums_file: Path) -> dict[str, str]:
    """{file name: SHA-256} from a SHA256SUMS file in ``sha256sum``'s format ("<64 hex digits>  name")."""
    expected = {}
    for number, line in enumerate(sums_file.read_text(errors="replace").splitlines(), start=1):
        match = re.fullmatch(r"([0-9a-fA-F]{64})\s+\*?(\S.*)", line.strip())
        if match is None and line.strip():
            raise DataFileError(
                f"{sums_file} line {number} is malformed: {line[:80]!r}. Each line must be a 64-digit "
                f"SHA-256 in hex, two spaces and a file name (what `sha256sum FILE` prints). Fix or "
                f"delete the line (or the file, to skip the check).")
        if match is not None:
            expected[match.group(2)] = match.group(1).lower()
    return expected


def _check_sha256(path: Path) -> None:
    """Compare the SHA-256 of ``path`` with the SHA256SUMS beside it, if any (read in chunks)."""
    sums_file = path.parent / "SHA256SUMS"
    if not sums_file.is_file():
        return
    expected = _read_sha256sums(sums_file)
    if path.name not in expected:
        return  # e.g. an un-gzipped copy: SHA256SUMS lists the .gz files only
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    actual = digest.hexdigest()
    if actual != expected[path.name]:
        raise DataFileError(
            f"checksum mismatch for {path}: SHA-256 is {actual}, but {sums_file} expects "
            f"{expected[path.name]}. The file is corrupt or was replaced; restore it with "
            f"`git checkout -- {path.name}` in {path.parent} (or copy a fresh one)."
        )


def idx_header(magic: int, shape: tuple) -> bytes:
    """The IDX header: the magic number, then one big-endian uint32 per dimension (notebook 01, section 1)."""
    return magic.to_bytes(4, "big") + b"".join(size.to_bytes(4, "big") for size in shape)


def _gzip_declared_size(path: Path) -> int:
    """The uncompressed size (mod 2**32) a gzip file records in its last four bytes."""
    with open(path, "rb") as file:
        file.seek(0, os.SEEK_END)
        if file.tell() < 18:                       # 10-byte gzip header + 8-byte trailer
            return -1
        file.seek(-4, os.SEEK_END)
        return int.from_bytes(file.read(4), "little")


def read_idx(path: str | os.PathLike, expected_magic: int, max_bytes: int = MAX_IDX_BYTES) -> np.ndarray:
    """Read one IDX file (``.gz`` or plain) into a uint8 array of the shape its header gives.

    The header comes first, and the size it declares is checked (against
    ``max_bytes``, the file's size, and a gzip's recorded size) before anything
    is allocated; a ``.gz`` is inflated as a stream and only as far as the
    header promises, so a small gzip that inflates to gigabytes is refused.
    """
    path = Path(path)
    _check_sha256(path)
    compressed = path.suffix == ".gz"
    try:
        with (gzip.open(path, "rb") if compressed else open(path, "rb")) as file:
            header = file.read(4)
            if len(header) < 4:
                raise DataFileError(f"{path} is truncated: {len(header)} bytes, not even an IDX header.")
            magic = int.from_bytes(header, "big")
            if magic != expected_magic:
                kind = "image" if expected_magic == IMAGES_MAGIC else "label"
                raise DataFileError(
                    f"{path} has the wrong magic number {magic:#010x}; an IDX {kind} file starts with "
                    f"{expected_magic:#010x}. Is it the right file (images and labels swapped?) "
                    f"and not some other format?")
            ndim = header[3]
            dims = file.read(4 * ndim)
            if len(dims) < 4 * ndim:
                raise DataFileError(f"{path} is truncated inside its header ({4 + len(dims)} bytes).")
            shape = tuple(int.from_bytes(dims[4 * i:4 * i + 4], "big") for i in range(ndim))
            header_size, size = 4 + 4 * ndim, math.prod(shape)
            if size > max_bytes:
                raise DataFileError(
                    f"{path}: its header declares shape {shape}, {size:,} bytes, more than the "
                    f"{max_bytes:,} read_idx accepts. A corrupt header or a gzip bomb? If the data set "
                    f"really is that large, pass a larger max_bytes to read_idx.")
            recorded = _gzip_declared_size(path) if compressed else path.stat().st_size
            if recorded != (header_size + size) % (2 ** 32 if compressed else 2 ** 64):
                raise DataFileError(
                    f"{path} is truncated or padded: its header promises shape {shape} "
                    f"({header_size + size:,} bytes in all) but the file holds "
                    f"{'an inflated size (mod 2**32) of ' if compressed else ''}{recorded:,} bytes. "
                    f"Replace it with a complete copy.")
            data = np.empty(size, dtype=np.uint8)
            view, filled = memoryview(data), 0
            while filled < size:                   # a gzip stream may hand out fewer bytes per call
                count = file.readinto(view[filled:])
                if not count:
                    break
                filled += count
            padded = bool(file.read(1))            # one byte more than promised: stop there
    except DataFileError:
        raise
    except PermissionError:
        raise DataFileError(f"cannot read {path}: permission denied. Check the file's permissions "
                            f"(`ls -l {path}`).") from None
    except (OSError, EOFError, zlib.error) as error:
        raise DataFileError(
            f"{path} is not a valid {'gzip' if compressed else 'IDX'} file ({type(error).__name__}: {error}); "
            f"it is probably truncated or corrupt. Replace it with a complete copy.") from None
    if filled < size or padded:
        raise DataFileError(
            f"{path} is truncated or padded: its header promises shape {shape} ({header_size + size:,} bytes "
            f"in all) but the data {'ends early' if filled < size else 'goes on beyond them'}. "
            f"Replace it with a complete copy.")
    return data.reshape(shape)


def load_mnist(split: str = "train", data_dir: str | os.PathLike | None = None, num_classes: int = 10):
    """Load one split of MNIST (or any data set in the same IDX format). Notebook 01, section 2.

    Returns ``(images, labels)``:
      images: float32 (N, 1, 28, 28), scaled from bytes 0..255 to [0, 1]
      labels: int64 (N,), each in 0 .. num_classes - 1

    ``data_dir`` defaults to ``data/mnist`` beside this file, so it works from
    any working directory. Fashion-MNIST loads the same way, e.g.
    ``load_mnist("test", "/usr/share/datasets/fashion-mnist")``.
    """
    if split not in MNIST_FILES:
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    data_dir = Path(data_dir) if data_dir is not None else DEFAULT_DATA_DIR
    if not data_dir.is_dir():
        problem = f"{data_dir} is a file, not a folder" if data_dir.exists() else f"missing data folder {data_dir}"
        raise DataFileError(
            f"{problem}. Pass data_dir= (or --data-dir) pointing at a folder with the four MNIST "
            f"IDX files (the repository ships them in data/mnist/)."
        )
    images_stem, labels_stem = MNIST_FILES[split]
    images_path = _find_idx_file(data_dir, images_stem)
    labels_path = _find_idx_file(data_dir, labels_stem)
    images = read_idx(images_path, IMAGES_MAGIC)
    labels = read_idx(labels_path, LABELS_MAGIC)
    if images.ndim != 3:
        raise DataFileError(f"{images_path} holds a {images.ndim}-D array; images must be (N, rows, cols).")
    if labels.ndim != 1:
        raise DataFileError(f"{labels_path} holds a {labels.ndim}-D array; labels must be (N,).")
    if len(images) == 0:
        raise DataFileError(f"{images_path} holds no images (its header says 0); it is not a usable data set.")
    if len(images) != len(labels):
        raise DataFileError(
            f"count mismatch: {images_path} holds {len(images)} images but {labels_path} holds "
            f"{len(labels)} labels. The two files must come from the same split and release."
        )
    if labels.max() >= num_classes:
        bad = int(np.argmax(labels >= num_classes))
        raise DataFileError(
            f"{labels_path}: label {labels[bad]} (at position {bad}) is not a class 0..{num_classes - 1}. "
            f"The file is corrupt or from another data set; for a data set with more classes pass "
            f"num_classes= to load_mnist.")
    # Dividing by 255 puts every pixel in [0, 1], the range the initialisation assumes.
    images = (images.astype(np.float32) / np.float32(255.0))[:, None, :, :]
    return images, labels.astype(np.int64)


# Fashion-MNIST (Zalando Research, MIT licence): 28 x 28 grey pictures of clothes in
# 10 classes, in exactly MNIST's IDX files, so the same reader loads it.
FASHION_MNIST_DIR = HERE / "data" / "fashion-mnist"
MNIST_CLASSES = tuple(str(digit) for digit in range(10))
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


def load_fashion_mnist(split: str = "train", data_dir: str | os.PathLike | None = None):
    """Load one split of Fashion-MNIST: like load_mnist, from ``data/fashion-mnist``
    by default. Label k is the garment FASHION_MNIST_CLASSES[k]."""
    return load_mnist(split, data_dir if data_dir is not None else FASHION_MNIST_DIR)


# CIFAR-10 (Krizhevsky, 2009): 60,000 colour pictures, 3 x 32 x 32, in 10 classes.
# Not shipped (170 MB). Its official binary version is a folder cifar-10-batches-bin/
# of files that are nothing but records of 1 + 3072 bytes: the label (0-9), then
# the red, green and blue planes of 32 x 32 pixels, each row by row.
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")
CIFAR10_FILES = {"train": [f"data_batch_{i}.bin" for i in range(1, 6)], "test": ["test_batch.bin"]}
CIFAR10_RECORD_BYTES = 1 + 3 * 32 * 32
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"


def load_cifar10(split: str = "train", data_dir: str | os.PathLike | None = None):
    """Load one split of CIFAR-10 from its official binary version.

    Returns ``(images, labels)``: images float32 (N, 3, 32, 32) in [0, 1] (RGB),
    labels int64 (N,); label k is CIFAR10_CLASSES[k]. ``data_dir`` is the folder
    ``cifar-10-batches-bin`` or its parent (default: ``data/`` beside this file).
    """
    if split not in CIFAR10_FILES:
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    data_dir = Path(data_dir) if data_dir is not None else HERE / "data"
    folder = data_dir / "cifar-10-batches-bin" if (data_dir / "cifar-10-batches-bin").is_dir() else data_dir
    paths = [folder / name for name in CIFAR10_FILES[split]]
    missing = [str(path) for path in paths if not path.is_file()]
    if missing:
        raise DataFileError(
            f"CIFAR-10 is not there: missing {', '.join(missing)}. Download the binary version "
            f"{CIFAR10_URL} (162 MB) and unpack it with `tar xzf cifar-10-binary.tar.gz -C {data_dir}`, "
            f"which creates {data_dir / 'cifar-10-batches-bin'}; or pass data_dir= (--data-dir) "
            f"pointing at your cifar-10-batches-bin folder."
        )
    records = []
    for path in paths:
        raw = np.fromfile(path, dtype=np.uint8)
        if raw.size == 0 or raw.size % CIFAR10_RECORD_BYTES:
            raise DataFileError(
                f"{path} holds {raw.size:,} bytes, not a whole number of {CIFAR10_RECORD_BYTES}-byte "
                f"CIFAR-10 records (an official batch is 10,000 records, 30,730,000 bytes): it is "
                f"truncated or not the binary version. Download {CIFAR10_URL} again."
            )
        records.append(raw.reshape(-1, CIFAR10_RECORD_BYTES))
    records = np.concatenate(records)
    labels = records[:, 0].astype(np.int64)
    if labels.max() >= len(CIFAR10_CLASSES):
        raise DataFileError(f"{folder} has a label {labels.max()} outside 0-9: not CIFAR-10's binary version "
                            f"(CIFAR-100's has 2 label bytes per record).")
    images = records[:, 1:].reshape(-1, 3, 32, 32).astype(np.float32) / np.float32(255.0)
    return images, labels


DATASET_CLASSES = {"mnist": MNIST_CLASSES, "fashion-mnist": FASHION_MNIST_CLASSES, "cifar10": CIFAR10_CLASSES}


def load_dataset(name: str, split: str = "train", data_dir: str | os.PathLike | None = None):
    """load_mnist, load_fashion_mnist or load_cifar10, by the command line's name for the data set."""
    loaders = {"mnist": load_mnist, "fashion-mnist": load_fashion_mnist, "cifar10": load_cifar10}
    return loaders[name](split, data_dir)


# =============================================================================
# 2. Layers
# =============================================================================
#
# Every layer has forward(x) and backward(dout) -> dx. Layers with weights keep
# them in ``params`` and the gradients of the loss with respect to them in
# ``grads`` (same keys). backward *overwrites* grads; it never accumulates.


class Layer:
    """Base class: no parameters, training mode on."""

    def __init__(self):
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.training = True
        # False when nobody needs dL/dx (the first layer, in training): backward may
        # then skip computing it and return None. Sequential.backward sets it.
        self.needs_input_gradient = True

    def config(self) -> dict:
        """The constructor arguments that rebuild this layer (used by save_model)."""
        return {}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"


def _check_input(layer: Layer, x: np.ndarray, ndim: int, channels: int | None = None) -> None:
    """Fail early, with a message a student can act on, when x has the wrong type or shape."""
    if not isinstance(x, np.ndarray) or x.dtype.kind not in "biuf":
        kind = f"an array of {x.dtype}" if isinstance(x, np.ndarray) else f"a {type(x).__name__}"
        raise TypeError(f"{layer!r} expects a NumPy array of numbers, got {kind}. "
                        f"Convert it with np.asarray(x, dtype=np.float32).")
    if x.ndim != ndim:
        wanted = "(N, C, H, W)" if ndim == 4 else "(N, features)"
        raise ValueError(
            f"{layer!r} expects a {ndim}-D input {wanted}, got shape {x.shape}. "
            + ("Add the channel axis with x[:, None] for grey images." if ndim == 4 and x.ndim == 3 else
               "Put a Flatten() before Dense." if ndim == 2 and x.ndim == 4 else "")
        )
    if channels is not None and x.shape[1] != channels:
        raise ValueError(f"{layer!r} expects {channels} input channels/features, got shape {x.shape}.")


def _as_float(x: np.ndarray) -> np.ndarray:
    """x itself if it holds floats, else x as float64 (integer or boolean inputs)."""
    x = np.asarray(x)
    return x if x.dtype.kind == "f" else x.astype(np.float64)


def conv_output_size(size: int, kernel_size: int, stride: int, padding: int) -> int:
    """H' = (H + 2p - k) / s + 1, the output size of a convolution or pooling (notebook 02, section 3)."""
    out = (size + 2 * padding - kernel_size) // stride + 1
    if out < 1:
        raise ValueError(
            f"kernel {kernel_size} with padding {padding} does not fit an input of size {size}"
        )
    return out


def im2col(x: np.ndarray, kernel_size: int, stride: int = 1, padding: int = 0,
           batch_last: bool = False) -> np.ndarray:
    """Unfold every k x k patch of x into a column. Derived in notebook 02, section 6.

    x: (N, C, H, W) -> cols: (C*k*k, N*H'*W'), rows ordered (c, i, j),
    columns ordered (n, y, x), or (y, x, n) with ``batch_last=True``.
    A convolution is then ``W.reshape(F, -1) @ cols``.

    Stride tricks build a 6-D *view* (C, k, k, N, H', W') of the padded input
    without copying: element (c, i, j, n, y, x) is x_pad[n, c, s*y + i, s*x + j].
    The single copy happens in the final reshape.

    Speed: with the batch last, that copy (and col2im's additions) moves runs
    of W' * N neighbouring numbers instead of image rows of only W' numbers:
    3-4x faster for MNIST-sized images. Conv2D uses that order.
    """
    N, C, H, W = x.shape
    k, s, p = kernel_size, stride, padding
    H_out = conv_output_size(H, k, s, p)
    W_out = conv_output_size(W, k, s, p)
    if p or batch_last:
        # One zero buffer with x copied into its middle (what np.pad does, minus
        # overhead), laid out in memory in the order the columns read it. (Batch-last
        # columns read straight from an NCHW array would jump through memory.)
        if batch_last:
            padded = np.zeros((C, H + 2 * p, W + 2 * p, N), dtype=x.dtype).transpose(3, 0, 1, 2)
        else:
            padded = np.zeros((C, N, H + 2 * p, W + 2 * p), dtype=x.dtype).transpose(1, 0, 2, 3)
        padded[:, :, p:p + H, p:p + W] = x
        x = padded
    sN, sC, sH, sW = x.strides
    windows = as_strided(
        x,
        shape=(C, k, k, N, H_out, W_out),
        strides=(sC, sH, sW, sN, s * sH, s * sW),
        writeable=False,
    )
    if batch_last:
        windows = windows.transpose(0, 1, 2, 4, 5, 3)        # (C, k, k, H', W', N)
    return windows.reshape(C * k * k, N * H_out * W_out)


def col2im(cols: np.ndarray, x_shape: tuple, kernel_size: int, stride: int = 1, padding: int = 0,
           batch_last: bool = False) -> np.ndarray:
    """The adjoint of im2col: add every column back onto the patch it came from (notebook 03, section 5).

    cols: (C*k*k, N*H'*W') -> dx: (N, C, H, W); ``batch_last`` as in im2col.

    Overlapping patches share input pixels, so their contributions must be
    *added*. We loop over the k*k kernel offsets (not over pixels): for offset
    (i, j), the rows of cols for that offset form a (C, N, H', W') block that
    lands, with stride s, on the padded image starting at (i, j). That is k*k
    vectorised ``+=`` operations, and no np.add.at.
    """
    N, C, H, W = x_shape
    k, s, p = kernel_size, stride, padding
    H_out = conv_output_size(H, k, s, p)
    W_out = conv_output_size(W, k, s, p)
    # Views indexed (c, [i, j,] n, y, x) whose memory follows the column order,
    # so each block adds onto runs of contiguous numbers.
    if batch_last:
        blocks = cols.reshape(C, k, k, H_out, W_out, N).transpose(0, 1, 2, 5, 3, 4)
        dx_padded = np.zeros((C, H + 2 * p, W + 2 * p, N), dtype=cols.dtype).transpose(0, 3, 1, 2)
    else:
        blocks = cols.reshape(C, k, k, N, H_out, W_out)
        dx_padded = np.zeros((C, N, H + 2 * p, W + 2 * p), dtype=cols.dtype)
    for i in range(k):
        for j in range(k):
            dx_padded[:, :, i:i + s * H_out:s, j:j + s * W_out:s] += blocks[:, i, j]
    return dx_padded[:, :, p:p + H, p:p + W].transpose(1, 0, 2, 3)


def he_normal(shape: tuple, fan_in: int, rng: np.random.Generator, dtype) -> np.ndarray:
    """He initialisation: N(0, 2 / fan_in) keeps the activation variance constant through ReLUs."""
    return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(dtype)


class Conv2D(Layer):
    """2-D convolution (cross-correlation) with square kernels. Notebooks 02 (forward) and 03 (backward).

    x: (N, C, H, W) -> out: (N, F, H', W'),  H' = (H + 2p - k) / s + 1

        out[n, f, y, x] = b[f] + sum_{c,i,j} W[f, c, i, j] * x_pad[n, c, s*y + i, s*x + j]

    params: W (F, C, k, k), b (F,).   grads: dW, db (derived in notebook 03, sections 1 and 6).
    Forward is one matrix product:  W.reshape(F, C*k*k) @ im2col(x)  -> (F, H'*W'*N),
    with batch-last columns (see im2col). Backward, with dout as the same matrix D:
        dW = D @ cols.T     db = D @ 1     dx = col2im(W.T @ D)
    backward caches: the im2col columns of x and x's shape.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, *, rng=None, dtype=np.float32):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        rng = rng if rng is not None else np.random.default_rng()
        fan_in = in_channels * kernel_size * kernel_size
        self.params["W"] = he_normal((out_channels, in_channels, kernel_size, kernel_size), fan_in, rng, dtype)
        self.params["b"] = np.zeros(out_channels, dtype=dtype)
        self.grads = {key: np.zeros_like(value) for key, value in self.params.items()}

    def config(self):
        return dict(in_channels=self.in_channels, out_channels=self.out_channels,
                    kernel_size=self.kernel_size, stride=self.stride, padding=self.padding)

    def forward(self, x):
        _check_input(self, x, 4, self.in_channels)
        W, b = self.params["W"], self.params["b"]
        x = x.astype(W.dtype, copy=False)
        N, _, H, W_in = x.shape
        H_out = conv_output_size(H, self.kernel_size, self.stride, self.padding)
        W_out = conv_output_size(W_in, self.kernel_size, self.stride, self.padding)
        self.x_shape = x.shape
        self.cols = im2col(x, self.kernel_size, self.stride, self.padding, batch_last=True)
        out = W.reshape(self.out_channels, -1) @ self.cols            # (F, H'*W'*N)
        out += b[:, None]
        # The product comes out as (F, H', W', N) in memory; a transposed *view*
        # gives NCHW without a copy. Later layers keep that layout, so the next
        # im2col and this layer's backward read memory in order.
        return out.reshape(self.out_channels, H_out, W_out, N).transpose(3, 0, 1, 2)

    def backward(self, dout):
        W = self.params["W"]
        # dout is (N, F, H', W'); in forward's (F, H', W', N) order it is one matrix D.
        D = dout.transpose(1, 2, 3, 0).reshape(self.out_channels, -1).astype(W.dtype, copy=False)
        # cols @ D.T is dW transposed: the same sums, but OpenBLAS computes this tall, thin
        # product faster than D @ cols.T (almost 2x for the second conv, on the benchmark machine).
        self.grads["W"] = (self.cols @ D.T).T.reshape(W.shape)
        self.grads["b"] = D @ np.ones(D.shape[1], dtype=D.dtype)   # a product: faster than sum
        if not self.needs_input_gradient:
            return None                  # e.g. the first layer in training: dL/d(images) is unused
        dcols = W.reshape(self.out_channels, -1).T @ D                 # (C*k*k, N*H'*W')
        return col2im(dcols, self.x_shape, self.kernel_size, self.stride, self.padding, batch_last=True)


# The naive references: explicit loops, slow, obviously right. Tests, the
# benchmark and the exercise checks compare the fast layers with them.

def conv2d_naive(x, W, b, stride=1, padding=0):
    """Convolution (cross-correlation) with four loops, for teaching and testing (notebook 02, sections 2-3).

    x: (N, C, H, W), W: (F, C, k, k), b: (F,) -> (N, F, H', W')
    """
    N, C, H, W_in = x.shape
    F, _, k, _ = W.shape
    H_out = conv_output_size(H, k, stride, padding)
    W_out = conv_output_size(W_in, k, stride, padding)
    x_pad = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    out = np.zeros((N, F, H_out, W_out), dtype=np.result_type(x, W))
    for n in range(N):
        for f in range(F):
            for y in range(H_out):
                for x_ in range(W_out):
                    patch = x_pad[n, :, y * stride:y * stride + k, x_ * stride:x_ * stride + k]
                    out[n, f, y, x_] = np.sum(patch * W[f]) + b[f]
    return out


def conv2d_backward_naive(x, W, dout, stride=1, padding=0):
    """Conv2D's backward pass with four loops, for teaching and testing (notebook 03, section 4).

    x: (N, C, H, W), W: (F, C, k, k), dout: (N, F, H', W') -> dx (N, C, H, W), dW, db (F,)
    Each output pixel took a window of x_pad and W[f]; it sends dout back to both.
    """
    k, s, p = W.shape[2], stride, padding
    x_pad = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    dtype = np.result_type(x, W, dout, np.float64)    # integer inputs give float gradients
    dx_pad, dW = np.zeros(x_pad.shape, dtype), np.zeros(W.shape, dtype)
    N, F, H_out, W_out = dout.shape
    for n in range(N):
        for f in range(F):
            for y in range(H_out):
                for x_ in range(W_out):
                    window = (n, slice(None), slice(y * s, y * s + k), slice(x_ * s, x_ * s + k))
                    dW[f] += dout[n, f, y, x_] * x_pad[window]
                    dx_pad[window] += dout[n, f, y, x_] * W[f]     # += : windows overlap
    H, W_in = x.shape[2:]
    return dx_pad[:, :, p:p + H, p:p + W_in], dW, dout.sum(axis=(0, 2, 3))


class MaxPool2D(Layer):
    """Max pooling. Derived in notebook 04, sections 1-5.

    x: (N, C, H, W) -> out: (N, C, H', W'),  H' = (H - k) / s + 1

        out[n, c, y, x] = max_{i,j < k} x[n, c, s*y + i, s*x + j]

    params: none.   backward caches the winner of every window (as offsets).
    Backward routes each dout value to the one input that won its window. When
    several inputs tie for the maximum, the first offset (i, j) in row-major
    order wins, so every window sends its gradient to exactly one position.
    Windows that overlap (k > s) can share a winner, so the routed gradients
    are *added*.

    Speed: instead of gathering every window (an (N, C, H', W', k, k) array),
    we loop over the k*k offsets: offset (i, j) of all windows at once is the
    strided slice x[:, :, i::s, j::s], so forward is k*k vectorised maximums.
    Every array keeps the memory layout of x, and the winners are recorded
    with arithmetic (np.where and np.putmask branch on every element, which
    is several times slower on random data).
    """

    def __init__(self, kernel_size=2, stride=None):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size

    def config(self):
        return dict(kernel_size=self.kernel_size, stride=self.stride)

    def _offset(self, x, i, j, H_out, W_out):
        """Element (i, j) of every window: a strided view of shape (N, C, H', W')."""
        s = self.stride
        return x[:, :, i:i + s * (H_out - 1) + 1:s, j:j + s * (W_out - 1) + 1:s]

    def forward(self, x):
        _check_input(self, x, 4)
        k = self.kernel_size
        H_out = conv_output_size(x.shape[2], k, self.stride, 0)
        W_out = conv_output_size(x.shape[3], k, self.stride, 0)
        # order="K" keeps x's memory layout (a Conv2D's output is an NCHW view of
        # a (C, H, W, N) array), so every pass below walks memory in order.
        out = self._offset(x, 0, 0, H_out, W_out).copy(order="K")
        # winner[n, c, y, x] = i*k + j of the element that holds the max. A strict
        # ">" keeps the earlier offset on a tie: exactly one winner per window.
        winner = np.zeros_like(out, dtype=np.min_scalar_type(k * k - 1))   # uint8 up to 16 x 16 kernels
        for i in range(k):
            for j in range(k):
                if i or j:
                    candidate = self._offset(x, i, j, H_out, W_out)
                    # Offsets come in increasing order, so i*k + j is larger than every
                    # index stored so far: where candidate wins, a maximum records it.
                    np.maximum(winner, (candidate > out) * winner.dtype.type(i * k + j), out=winner)
                    np.maximum(out, candidate, out=out)
        self.x_shape, self.winner = x.shape, winner
        return out

    def backward(self, dout):
        k = self.kernel_size
        H_out, W_out = dout.shape[2:]
        s, (H, W) = self.stride, self.x_shape[2:]
        # When the windows tile x exactly, every dx entry is written below: no zeros needed.
        tiled = s == k and H % k == 0 and W % k == 0
        dx = (np.empty_like if tiled else np.zeros_like)(self.winner, shape=self.x_shape, dtype=dout.dtype)
        for i in range(k):
            for j in range(k):
                won = self.winner == i * k + j                  # where offset (i, j) won its window
                target = self._offset(dx, i, j, H_out, W_out)   # x's memory layout
                if s < k:
                    target += dout * won     # += (not =): with overlapping windows one input can win several
                else:
                    np.multiply(dout, won, out=target)   # no overlap: written straight into dx, no temporary
        return dx


def maxpool2d_naive(x, kernel_size=2, stride=None):
    """Max pooling with loops, for teaching and testing (notebook 04, section 1). x: (N, C, H, W) -> (N, C, H', W')."""
    stride = stride if stride is not None else kernel_size
    N, C, H, W = x.shape
    H_out = conv_output_size(H, kernel_size, stride, 0)
    W_out = conv_output_size(W, kernel_size, stride, 0)
    out = np.zeros((N, C, H_out, W_out), dtype=x.dtype)
    for n in range(N):
        for c in range(C):
            for y in range(H_out):
                for x_ in range(W_out):
                    out[n, c, y, x_] = x[n, c, y * stride:y * stride + kernel_size,
                                         x_ * stride:x_ * stride + kernel_size].max()
    return out


def maxpool2d_backward_naive(x, dout, kernel_size=2, stride=None):
    """MaxPool2D's backward pass with loops, for teaching and testing (notebook 04, sections 3-5).

    x: (N, C, H, W), dout: (N, C, H', W') -> dx (N, C, H, W). Each window sends its
    gradient to its first maximum in row-major order (ties: exactly one winner);
    overlapping windows add (+=) into the same pixel.
    """
    stride = stride if stride is not None else kernel_size
    dx = np.zeros_like(x, dtype=np.result_type(x, dout))
    N, C, H_out, W_out = dout.shape
    for n in range(N):
        for c in range(C):
            for y in range(H_out):
                for x_ in range(W_out):
                    window = x[n, c, y * stride:y * stride + kernel_size, x_ * stride:x_ * stride + kernel_size]
                    i, j = np.unravel_index(np.argmax(window), window.shape)
                    dx[n, c, y * stride + i, x_ * stride + j] += dout[n, c, y, x_]
    return dx


class ReLU(Layer):
    """Rectified linear unit, element-wise. Derived in notebook 06, section 3.

    x: any shape -> out: same shape,   out = max(x, 0)
    params: none.   backward: dx = dout * [x > 0]; caches the mask [x > 0].
    """

    def forward(self, x):
        self.positive = x > 0
        return np.maximum(x, 0)

    def backward(self, dout):
        return dout * self.positive


class LeakyReLU(Layer):
    """Leaky ReLU, element-wise: negative inputs still pass a small gradient a. Notebook 06, section 3.

    x: any shape -> out: same shape,   out = x if x > 0 else a * x   (a = negative_slope)
    params: none.   backward: dx = dout * (1 if x > 0 else a); caches the mask [x > 0].
    """

    def __init__(self, negative_slope=0.01):
        super().__init__()
        self.negative_slope = negative_slope

    def config(self):
        return dict(negative_slope=self.negative_slope)

    def forward(self, x):
        x = _as_float(x)                   # a*x of an integer x must not round a to 0
        self.positive = x > 0
        return np.where(self.positive, x, x * x.dtype.type(self.negative_slope))

    def backward(self, dout):
        dout = _as_float(dout)
        return np.where(self.positive, dout, dout * dout.dtype.type(self.negative_slope))


class Flatten(Layer):
    """Flatten the feature maps into one vector per example, for the dense layers.

    x: (N, C, H, W) -> out: (N, C*H*W)
    params: none.   backward: dx = dout reshaped to x's shape; caches x (for its shape and memory layout).
    """

    def forward(self, x):
        self.x_shape, self.x = x.shape, x
        return x.reshape(x.shape[0], -1)

    def backward(self, dout):
        # In the memory layout of x (empty_like keeps it), so the layers below read
        # the gradient in the order they wrote x.
        dx = np.empty_like(self.x, dtype=dout.dtype)
        dx[...] = dout.reshape(self.x_shape)
        return dx


class Dropout(Layer):
    """Inverted dropout. Derived in notebook 06, section 4.

    x: any shape -> out: same shape,   out = x * mask,  mask = [u >= p] / (1 - p),  u ~ U(0, 1)
    In training each unit is zeroed with probability p and the survivors are
    scaled by 1/(1-p), so the expected activation is unchanged and evaluation
    (eval mode) is the identity.
    params: none.   backward: dx = dout * mask; caches the mask (None in eval mode).
    """

    def __init__(self, p=0.5, *, rng=None):
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"Dropout probability p must be in [0, 1), got {p}")
        self.p = p
        self.rng = rng if rng is not None else np.random.default_rng()

    def config(self):
        return dict(p=self.p)

    def forward(self, x):
        if not self.training or self.p == 0:
            self.mask = None
            return x
        x = _as_float(x)                   # 1 / (1 - p) of an integer x must not round
        keep = self.rng.random(x.shape, dtype=np.float32) >= self.p
        self.mask = keep.astype(x.dtype) / x.dtype.type(1 - self.p)
        return x * self.mask

    def backward(self, dout):
        return dout if self.mask is None else dout * self.mask


class Dense(Layer):
    """Fully connected layer. Derived in notebook 06, sections 1-2.

    x: (N, D) -> out: (N, M),   out = x @ W + b
    params: W (D, M), b (M,).   grads: dW = x.T @ dout,  db = sum_n dout.
    backward: dx = dout @ W.T; caches x.
    """

    def __init__(self, in_features, out_features, *, rng=None, dtype=np.float32):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        rng = rng if rng is not None else np.random.default_rng()
        self.params["W"] = he_normal((in_features, out_features), in_features, rng, dtype)
        self.params["b"] = np.zeros(out_features, dtype=dtype)
        self.grads = {key: np.zeros_like(value) for key, value in self.params.items()}

    def config(self):
        return dict(in_features=self.in_features, out_features=self.out_features)

    def forward(self, x):
        _check_input(self, x, 2, self.in_features)
        self.x = x.astype(self.params["W"].dtype, copy=False)
        return self.x @ self.params["W"] + self.params["b"]

    def backward(self, dout):
        self.grads["W"] = self.x.T @ dout
        self.grads["b"] = dout.sum(axis=0)
        return dout @ self.params["W"].T


class BatchNorm1D(Layer):
    """Batch normalisation for features: x: (N, D) -> (N, D), per feature over the batch.

        x_hat = (x - mu) / sqrt(var + eps),   out = gamma * x_hat + beta
    Training: mu, var are the batch's (mean and population variance over N), and
    the running statistics move towards them as in PyTorch:
        running = (1 - momentum) * running + momentum * batch   (running_var gets the
        unbiased variance, var * m / (m - 1), m = values per feature).
    Eval: mu, var are running_mean, running_var, so each example's output is its own.
    params: gamma (D,), beta (D,); attributes running_mean, running_var (D,).
    backward caches x_hat and 1/sqrt(var + eps). With the means over the batch:
        dbeta = sum dout    dgamma = sum dout * x_hat
        dx = gamma / sqrt(var + eps) * (dout - mean(dout) - x_hat * mean(dout * x_hat))
    (the two mean terms are mu's and var's dependence on every x; derived in
    notebook 10, section 3). In eval mode mu, var are constants: dx = gamma * dout / sqrt(var + eps).
    """

    axes = (0,)                     # the axes statistics are taken over: all but the features
    state_names = ("running_mean", "running_var")   # saved with the model beside params

    def __init__(self, num_features, momentum=0.1, eps=1e-5, *, dtype=np.float32):
        super().__init__()
        self.num_features, self.momentum, self.eps = num_features, momentum, eps
        self.params["gamma"] = np.ones(num_features, dtype=dtype)
        self.params["beta"] = np.zeros(num_features, dtype=dtype)
        self.grads = {key: np.zeros_like(value) for key, value in self.params.items()}
        self.running_mean = np.zeros(num_features, dtype=dtype)
        self.running_var = np.ones(num_features, dtype=dtype)

    def config(self):
        return dict(num_features=self.num_features, momentum=self.momentum, eps=self.eps)

    def _per_feature(self, v):
        """A (C,) vector shaped to broadcast against x: (1, C) or (1, C, 1, 1)."""
        return v.reshape((1, -1) + (1,) * (len(self.axes) - 1))

    def forward(self, x):
        _check_input(self, x, len(self.axes) + 1, self.num_features)
        x = x.astype(self.params["gamma"].dtype, copy=False)
        if self.training:
            mean = x.mean(axis=self.axes)
            centred = x - self._per_feature(mean)
            var = np.mean(centred * centred, axis=self.axes)          # population variance (divide by m)
            m = x.size // self.num_features
            if m < 2:
                raise ValueError(f"{self!r} in training mode needs more than one value per feature "
                                 f"to estimate a variance, got input shape {x.shape}; use a bigger batch.")
            self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * mean
            self.running_var = (1 - self.momentum) * self.running_var + self.momentum * var * (m / (m - 1))
        else:
            centred, var = x - self._per_feature(self.running_mean), self.running_var
        self.inv_std = 1 / np.sqrt(var + x.dtype.type(self.eps))
        self.x_hat = centred * self._per_feature(self.inv_std)
        return self.x_hat * self._per_feature(self.params["gamma"]) + self._per_feature(self.params["beta"])

    def backward(self, dout):
        self.grads["beta"] = dout.sum(axis=self.axes)
        self.grads["gamma"] = (dout * self.x_hat).sum(axis=self.axes)
        scale = self._per_feature(self.params["gamma"] * self.inv_std)
        if not self.training:
            return dout * scale
        m = dout.size // self.num_features
        mean_dout = self._per_feature(self.grads["beta"] / m)
        mean_dout_x_hat = self._per_feature(self.grads["gamma"] / m)
        return scale * (dout - mean_dout - self.x_hat * mean_dout_x_hat)


class BatchNorm2D(BatchNorm1D):
    """Batch normalisation for images: x: (N, C, H, W) -> (N, C, H, W), per channel.

    The same layer as BatchNorm1D, with every pixel of a channel counted as one
    more example of that channel: the statistics (and the means in backward) are
    over the m = N*H*W values of each channel, axes (0, 2, 3).
    params: gamma (C,), beta (C,); attributes running_mean, running_var (C,).
    backward caches x_hat and 1/sqrt(var + eps);
        dx = gamma / sqrt(var + eps) * (dout - mean(dout) - x_hat * mean(dout * x_hat))
    with the means over (N, H, W) (derived in notebook 10, section 3).
    """

    axes = (0, 2, 3)

    def __init__(self, num_channels, momentum=0.1, eps=1e-5, *, dtype=np.float32):
        super().__init__(num_channels, momentum, eps, dtype=dtype)

    def config(self):
        return dict(num_channels=self.num_features, momentum=self.momentum, eps=self.eps)


# =============================================================================
# 3. Loss: softmax and cross-entropy
# =============================================================================

def log_softmax(logits: np.ndarray) -> np.ndarray:
    """log softmax(z)_k = z_k - log sum_j exp(z_j), computed stably (notebook 05, section 3).

    Subtracting max(z) first changes nothing mathematically but keeps every
    exp() argument <= 0, so exp never overflows (log-sum-exp trick).
    """
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def softmax(logits: np.ndarray) -> np.ndarray:
    """softmax(z)_k = exp(z_k) / sum_j exp(z_j), row-wise, stable for any logits (notebook 05, sections 1-3)."""
    return np.exp(log_softmax(logits))


def _check_labels(labels: np.ndarray, num_classes: int) -> None:
    """Labels must be integer class numbers 0..K-1 (-1 would silently index class K-1)."""
    if labels.dtype.kind not in "iu":
        raise TypeError(f"labels must be integers (class numbers), got {labels.dtype}. "
                        f"Convert them with labels.astype(np.int64) if they are whole numbers.")
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        bad = int(np.argmax((labels < 0) | (labels >= num_classes)))
        raise ValueError(f"label {labels[bad]} (at position {bad}) is not a class 0..{num_classes - 1}: "
                         f"the model has {num_classes} outputs. Check the labels (-1 or 255 often mean "
                         f"'unknown'; drop those images) or build the model with one output per class.")


class SoftmaxCrossEntropy:
    """Softmax followed by the cross-entropy loss, averaged over the batch (notebook 05, sections 4-5).

    logits: (N, K), labels: (N,) ints in [0, K)  -> loss: float
        L = -(1/N) sum_n log softmax(z_n)[y_n]
    backward() -> dlogits: (N, K) = (softmax(z) - onehot(y)) / N
    """

    def forward(self, logits, labels):
        if logits.ndim != 2 or labels.shape != (logits.shape[0],):
            raise ValueError(f"expected logits (N, K) and labels (N,), got {logits.shape} and {labels.shape}")
        _check_labels(labels, logits.shape[1])
        log_probs = log_softmax(logits)
        self.probs, self.labels = np.exp(log_probs), labels
        return float(-log_probs[np.arange(len(labels)), labels].mean())

    def backward(self):
        dlogits = self.probs.copy()
        dlogits[np.arange(len(self.labels)), self.labels] -= 1
        return dlogits / len(self.labels)


# =============================================================================
# 4. Optimizers
# =============================================================================
#
# Pattern:  loss = loss_fn.forward(model.forward(x), y)
#           model.backward(loss_fn.backward())    # fills every layer's grads
#           optimizer.step()                      # updates params in place
# Our backward overwrites grads, so zero_grad() is not needed between steps; it
# is there for readers who know PyTorch's loop.


class Optimizer:
    def __init__(self, model, lr):
        self.layers = model.layers if hasattr(model, "layers") else list(model)
        self.lr = lr
        self.state: dict = {}

    def parameters(self):
        """Yield (key, param, grad) for every parameter; key is stable across steps."""
        for index, layer in enumerate(self.layers):
            for name, param in layer.params.items():
                yield (index, name), param, layer.grads[name]

    def zero_grad(self):
        for layer in self.layers:
            for grad in layer.grads.values():
                grad[...] = 0


class SGD(Optimizer):
    """Stochastic gradient descent with momentum and L2 weight decay.

        g <- grad + weight_decay * w
        v <- momentum * v + g
        w <- w - lr * v
    """

    def __init__(self, model, lr=0.01, momentum=0.9, weight_decay=0.0):
        super().__init__(model, lr)
        self.momentum, self.weight_decay = momentum, weight_decay

    def step(self):
        for key, param, grad in self.parameters():
            if self.weight_decay:
                grad = grad + self.weight_decay * param
            if self.momentum:
                velocity = self.state.setdefault(key, np.zeros_like(param))
                velocity *= self.momentum
                velocity += grad
                grad = velocity
            param -= param.dtype.type(self.lr) * grad


class Adam(Optimizer):
    """Adam: momentum on the gradient (m) and a per-weight step size from its
    running mean square (v), both bias-corrected for their zero start.

        m <- b1 m + (1 - b1) g          v <- b2 v + (1 - b2) g^2
        w <- w - lr * m_hat / (sqrt(v_hat) + eps),  m_hat = m / (1 - b1^t), v_hat = v / (1 - b2^t)
    """

    def __init__(self, model, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(model, lr)
        self.beta1, self.beta2 = betas
        self.eps, self.weight_decay = eps, weight_decay
        self.t = 0

    def step(self):
        self.t += 1
        # The bias corrections are scalars: apply them to the scalars, not to whole arrays.
        # lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps) is exactly lr * m_hat / (sqrt(v_hat) + eps).
        step_size = self.lr / (1 - self.beta1 ** self.t)
        root_correction = math.sqrt(1 - self.beta2 ** self.t)
        for key, param, grad in self.parameters():
            if self.weight_decay:
                grad = grad + self.weight_decay * param
            m, v = self.state.setdefault(key, (np.zeros_like(param), np.zeros_like(param)))
            m *= self.beta1
            m += (1 - self.beta1) * grad
            v *= self.beta2
            v += (1 - self.beta2) * grad * grad
            denominator = np.sqrt(v)
            denominator /= param.dtype.type(root_correction)
            denominator += param.dtype.type(self.eps)
            param -= param.dtype.type(step_size) * m / denominator


class RMSprop(Optimizer):
    """RMSprop: divide each weight's step by the root of its running mean square
    gradient, so weights with large gradients take smaller steps (Adam without
    the momentum and the bias correction; the form PyTorch uses):

        v <- alpha v + (1 - alpha) g^2        w <- w - lr * g / (sqrt(v) + eps)
    """

    def __init__(self, model, lr=1e-3, alpha=0.99, eps=1e-8, weight_decay=0.0):
        super().__init__(model, lr)
        self.alpha, self.eps, self.weight_decay = alpha, eps, weight_decay

    def step(self):
        for key, param, grad in self.parameters():
            if self.weight_decay:
                grad = grad + self.weight_decay * param
            v = self.state.setdefault(key, np.zeros_like(param))
            v *= self.alpha
            v += (1 - self.alpha) * grad * grad
            param -= param.dtype.type(self.lr) * grad / (np.sqrt(v) + param.dtype.type(self.eps))


# =============================================================================
# 5. Model
# =============================================================================

class Sequential:
    """Layers applied in order. forward returns the logits; backward takes dL/dlogits.

    One shortcut, invisible in the results: a ReLU directly followed by a MaxPool2D
    (conv -> ReLU -> pool, as every textbook draws it) *runs* as pool -> ReLU. That is
    exact, outputs and gradients alike: ReLU never changes which of two numbers is
    larger, so max(relu(a), relu(b)) = relu(max(a, b)), and the gradient reaches the
    same winner or is zero both ways. The ReLU then works on the pooled quarter of the
    values: the ReLUs' share of a training step drops from about 10% to 2-3%.
    """

    def __init__(self, layers):
        self.layers = list(layers)

    def execution_order(self):
        """self.layers, with each ReLU that precedes a MaxPool2D moved after it (see above)."""
        order = list(self.layers)
        for i in range(len(order) - 1):
            if type(order[i]) is ReLU and type(order[i + 1]) is MaxPool2D:
                order[i], order[i + 1] = order[i + 1], order[i]
        return order

    def forward(self, x):
        for layer in self.execution_order():
            x = layer.forward(x)
        return x

    def backward(self, dout, input_gradient=True):
        """dL/dlogits -> dL/dx for the model's input x. With ``input_gradient=False``
        (what train() passes) the first layer may skip dL/dx, which training never
        uses (for a Conv2D: a matrix product and a col2im), and None comes back."""
        order = self.execution_order()
        first = order[0]
        first.needs_input_gradient = input_gradient
        try:
            for layer in reversed(order):
                dout = layer.backward(dout)
        finally:
            first.needs_input_gradient = True      # for this call only
        return dout

    def train(self):
        """Training mode (dropout active). Returns self."""
        for layer in self.layers:
            layer.training = True
        return self

    def eval(self):
        """Evaluation mode (dropout off). Returns self."""
        for layer in self.layers:
            layer.training = False
        return self

    def predict_proba(self, x, batch_size=1000):
        """Class probabilities (N, K), in eval mode and in batches to bound memory."""
        was_training = [layer.training for layer in self.layers]
        self.eval()
        try:
            return np.concatenate([softmax(self.forward(x[i:i + batch_size]))
                                   for i in range(0, len(x), batch_size)])
        finally:
            for layer, mode in zip(self.layers, was_training):
                layer.training = mode

    def predict(self, x, batch_size=1000):
        """Predicted class for every image: (N,) int64."""
        return self.predict_proba(x, batch_size).argmax(axis=1)

    def num_parameters(self):
        return sum(p.size for layer in self.layers for p in layer.params.values())

    def __repr__(self):
        lines = [f"  ({i}) {layer!r}" for i, layer in enumerate(self.layers)]
        return "Sequential(\n" + "\n".join(lines) + f"\n)  # {self.num_parameters():,} parameters"


class Residual(Layer):
    """A residual block: y = x + f(x), f = the inner layers applied in order.

    x: any shape -> y: the same shape (f must keep it). The skip path copies x
    unchanged, so backward sends dy down both paths and adds them:
        dx = dy + f'(x)^T dy        (derived in notebook 10, section 5)
    Even when f's gradient is tiny, dy itself reaches the layers below.
    params/grads: the inner layers', keyed "j.name" (j = position in the block),
    so optimizers and model files treat the block like any layer. backward
    caches nothing itself: the inner layers cache what they need.
    """

    def __init__(self, *layers):
        # No super().__init__(): params, grads and training are views of the inner layers.
        self.layers = list(layers)
        self.needs_input_gradient = True

    @property
    def params(self):
        return {f"{j}.{name}": p for j, layer in enumerate(self.layers) for name, p in layer.params.items()}

    @property
    def grads(self):
        return {f"{j}.{name}": g for j, layer in enumerate(self.layers) for name, g in layer.grads.items()}

    @property
    def training(self):
        return all(layer.training for layer in self.layers)

    @training.setter
    def training(self, mode):
        for layer in self.layers:
            layer.training = mode

    def forward(self, x):
        out = x
        for layer in self.layers:
            out = layer.forward(out)
        if out.shape != x.shape:
            raise ValueError(f"Residual: the inner layers turn shape {x.shape} into {out.shape}; "
                             f"y = x + f(x) needs f to keep the shape (same channels, padding 'same').")
        return x + out

    def backward(self, dout):
        d_inner = dout
        for layer in reversed(self.layers):
            d_inner = layer.backward(d_inner)
        return dout + d_inner            # skip path + inner path

    def __repr__(self):
        return "Residual(" + ", ".join(repr(layer) for layer in self.layers) + ")"


def reference_cnn(seed=0, channels=(8, 16), hidden=128, dropout=0.0, dtype=np.float32,
                  in_channels=1, image_size=28):
    """The course's reference CNN for 1 x 28 x 28 digits (other sizes: in_channels,
    image_size, e.g. 3 and 32 for CIFAR-10; S = image_size, S/4 below is 7 for MNIST):

        conv 3x3 (pad 1) -> ReLU -> maxpool 2     1x28x28 -> C1x28x28 -> C1x14x14
        conv 3x3 (pad 1) -> ReLU -> maxpool 2            -> C2x14x14 -> C2x7x7
        flatten -> dense -> ReLU -> [dropout] -> dense   -> hidden -> 10 logits

    The layers are listed in this textbook order; Sequential runs each ReLU after the
    max-pool that follows it, which gives exactly the same outputs and gradients
    (ReLU is monotonic: see Sequential) for a quarter of the ReLU's work.
    """
    rng = np.random.default_rng(seed)
    c1, c2 = channels
    layers = [
        Conv2D(in_channels, c1, 3, padding=1, rng=rng, dtype=dtype), ReLU(), MaxPool2D(2),
        Conv2D(c1, c2, 3, padding=1, rng=rng, dtype=dtype), ReLU(), MaxPool2D(2),
        Flatten(), Dense(c2 * (image_size // 4) ** 2, hidden, rng=rng, dtype=dtype), ReLU(),
    ]
    if dropout:
        layers.append(Dropout(dropout, rng=rng))
    output = Dense(hidden, 10, rng=rng, dtype=dtype)
    # Small output weights make the untrained network's logits nearly equal, so
    # it starts by predicting 1/10 for every class: loss ln 10 = 2.303.
    output.params["W"] *= dtype(0.1)
    layers.append(output)
    return Sequential(layers)


def deep_cnn(in_channels=1, image_size=28, num_classes=10, channels=(32, 64), blocks=1, hidden=128,
             seed=0, dtype=np.float32):
    """A deeper CNN with batch normalisation and residual blocks (notebook 10):

        conv 3x3 -> BN -> ReLU -> maxpool 2 -> blocks x [residual block]     C1 x S/2 x S/2
        conv 3x3 -> BN -> ReLU -> maxpool 2 -> blocks x [residual block]     C2 x S/4 x S/4
        flatten -> dense -> BN -> ReLU -> dense                              hidden -> logits

    residual block: x -> ReLU(x + BN(conv(ReLU(BN(conv(x))))))   (He et al., 2016)
    A convolution's bias is redundant before BN (BN subtracts any constant, so
    its gradient is 0; beta plays its role) but harmless. in_channels and image_size fit the
    data (1 x 28 x 28 MNIST, 3 x 32 x 32 CIFAR-10); image_size must divide by 4.
    """
    if image_size % 4:
        raise ValueError(f"deep_cnn needs an image size divisible by 4 (two 2x2 poolings), got {image_size}")
    rng = np.random.default_rng(seed)

    def conv_bn(c_in, c_out):
        conv = Conv2D(c_in, c_out, 3, padding=1, rng=rng, dtype=dtype)
        return [conv, BatchNorm2D(c_out, dtype=dtype)]

    layers, c_in = [], in_channels
    for c in channels:
        layers += conv_bn(c_in, c) + [ReLU(), MaxPool2D(2)]
        for _ in range(blocks):     # after the pooling: a quarter of the cost at full resolution
            inner = conv_bn(c, c) + [ReLU()] + conv_bn(c, c)
            inner[-1].params["gamma"][:] = 0   # each block starts as the identity (Goyal et al., 2017)
            layers += [Residual(*inner), ReLU()]
        c_in = c
    size = image_size // 2 ** len(channels)
    layers += [Flatten(), Dense(c_in * size * size, hidden, rng=rng, dtype=dtype),
               BatchNorm1D(hidden, dtype=dtype), ReLU()]
    output = Dense(hidden, num_classes, rng=rng, dtype=dtype)
    output.params["W"] *= dtype(0.1)       # start near uniform predictions, as reference_cnn
    layers.append(output)
    return Sequential(layers)


# =============================================================================
# 6. Training
# =============================================================================

class TrainingDiverged(RuntimeError):
    """The loss became NaN, infinite or explosively large: the learning rate is almost always too high."""


class TrainingStalled(UserWarning):
    """The loss stayed at ln K, what guessing scores: usually a learning rate far too small."""


# A batch loss above DIVERGED_LOSS_FACTOR x ln K (guessing scores ln K: 2.3 for 10
# classes) counts as diverged: the network is then confidently wrong about almost
# every image, and such weights rarely recover. Waiting for NaN is not enough:
# Adam with a huge rate runs on at a loss of 1e28 without ever overflowing.
DIVERGED_LOSS_FACTOR = 20


def random_shift(images: np.ndarray, max_shift: int, rng: np.random.Generator) -> np.ndarray:
    """Data augmentation: move each image by up to ``max_shift`` pixels in x and y.

    images: (N, C, H, W) -> (N, C, H, W). Vectorised: pad once, take a
    sliding-window view of every possible shift, then pick one per image.
    """
    if max_shift == 0:
        return images
    N, C, H, W = images.shape
    m = max_shift
    padded = np.zeros((N, C, H + 2 * m, W + 2 * m), dtype=images.dtype)
    padded[:, :, m:m + H, m:m + W] = images
    windows = np.lib.stride_tricks.sliding_window_view(padded, (H, W), axis=(2, 3))  # (N, C, 2m+1, 2m+1, H, W)
    dy, dx = rng.integers(0, 2 * m + 1, size=(2, N))
    return windows[np.arange(N), :, dy, dx]


def cosine_learning_rate(base_lr: float, progress: float, final_fraction: float = 0.01) -> float:
    """Cosine schedule: base_lr at progress 0, base_lr * final_fraction at progress 1."""
    return base_lr * (final_fraction + (1 - final_fraction) * 0.5 * (1 + math.cos(math.pi * progress)))


def one_cycle_learning_rate(max_lr: float, progress: float, warmup: float = 0.25,
                            start_fraction: float = 0.04, final_fraction: float = 0.001) -> float:
    """One-cycle schedule (Smith 2018): a cosine rise from max_lr * start_fraction to
    max_lr over the first ``warmup`` of training, then a cosine fall to
    max_lr * final_fraction. The short warm-up lets training use a higher peak rate
    (big steps while far from a minimum) and the long fall settles it precisely."""
    if progress < warmup:
        low, high, t = max_lr * start_fraction, max_lr, progress / warmup
        return high + (low - high) * 0.5 * (1 + math.cos(math.pi * t))
    t = (progress - warmup) / (1 - warmup)
    low = max_lr * final_fraction
    return low + (max_lr - low) * 0.5 * (1 + math.cos(math.pi * t))


# Learning-rate schedules by name: f(base_lr, progress) with progress from 0 (first step) to 1.
SCHEDULES = {
    "constant": lambda base_lr, progress: base_lr,
    "cosine": cosine_learning_rate,
    "one-cycle": one_cycle_learning_rate,
}


def scheduled_lr(schedule: str | None, base_lr: float, progress: float) -> float:
    """The learning rate of ``schedule`` (a name in SCHEDULES; None means constant) at ``progress``."""
    return SCHEDULES["constant" if schedule is None else schedule](base_lr, progress)


def _check_data(model, images, labels, what: str) -> int:
    """Refuse data that would train or score nonsense; warn about unscaled pixels.
    Returns K, the number of classes (the model's outputs)."""
    if not isinstance(images, np.ndarray) or not isinstance(labels, np.ndarray):
        raise TypeError(f"{what} images and labels must be NumPy arrays, got {type(images).__name__} "
                        f"and {type(labels).__name__}")
    if len(images) == 0:
        raise ValueError(f"no {what} images: the {what} set is empty")
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} {what} images but {len(labels)} labels: they must pair up")
    num_classes = model.predict_proba(images[:1]).shape[1]        # also checks the image shape
    _check_labels(labels, num_classes)
    if images.dtype.kind == "f" and not np.isfinite(images).all():
        bad = ~np.isfinite(images)
        raise ValueError(f"the {what} images contain {int(bad.sum())} NaN or infinite pixel values (the first "
                         f"in image {int(np.argmax(bad.reshape(len(images), -1).any(axis=1)))}). Clean or drop "
                         f"those images first; no learning rate can fix them.")
    _warn_if_unscaled(images, what, stacklevel=4)          # the warning points at train's caller
    return num_classes


def _warn_if_unscaled(images, what: str, stacklevel: int = 3) -> None:
    """Pixels of 0..255 where the network expects [0, 1] give nonsense without an error."""
    if images.max() > 1.5:
        warnings.warn(f"the {what} images have pixel values up to {images.max():g}: divide them by 255 to "
                      f"scale 0..255 to [0, 1], the range the initialisation and learning rates assume.",
                      stacklevel=stacklevel)


def _check_training_arguments(model, images, optimizer, lr, epochs, batch_size, schedule, augment_shift) -> None:
    """Refuse arguments that would train nothing or nonsense, saying which and why."""
    for name, value, least in (("epochs", epochs, 1), ("batch_size", batch_size, 1),
                               ("augment_shift", augment_shift, 0)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < least:
            raise ValueError(f"{name} must be a whole number >= {least}, got {value!r}")
    if augment_shift and (images.ndim != 4 or augment_shift >= min(images.shape[2:])):
        raise ValueError(f"augment_shift {augment_shift} does not fit images of shape {images.shape[1:]}: it shifts "
                         f"(C, H, W) images by a few pixels (MNIST: 2), less than their height and width")
    if not (hasattr(optimizer, "step") and hasattr(optimizer, "parameters")):
        raise TypeError(f"optimizer must be an optimizer such as Adam(model, lr=0.001), got {optimizer!r} "
                        f"(for a learning rate alone, pass lr=)")
    for name, value in (("lr", lr), ("the optimizer's lr", optimizer.lr)):
        if value is not None and not (isinstance(value, (int, float, np.floating, np.integer))
                                      and math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a positive finite number (such as 0.001), got {value!r}")
    if schedule is not None and schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}: use one of {sorted(SCHEDULES)} or None (constant)")
    model_params = {id(p) for layer in model.layers for p in layer.params.values()}
    if {id(p) for _, p, _ in optimizer.parameters()} != model_params:
        raise ValueError("the optimizer was built for another model: it would update weights this model does "
                         "not use, and training would change nothing. Build it for this model, "
                         "e.g. optimizer=Adam(model, lr=0.001).")
    for layer in model.layers:
        for name, param in layer.params.items():
            if not np.isfinite(param).all():
                raise ValueError(f"{layer!r} has NaN or infinite weights {name!r}: the model is broken "
                                 f"(an earlier run diverged?). Start again from a fresh model.")


def _check_divergence(loss: float, num_classes: int, epoch: int, step: int, lr: float) -> None:
    """Raise TrainingDiverged when a batch loss is NaN, inf or above DIVERGED_LOSS_FACTOR x ln K."""
    limit = DIVERGED_LOSS_FACTOR * math.log(num_classes)
    if math.isfinite(loss) and loss <= limit:
        return
    how = "" if not math.isfinite(loss) else (f" (above {DIVERGED_LOSS_FACTOR} x ln {num_classes} = {limit:.0f}; "
                                              f"guessing scores {math.log(num_classes):.2f})")
    raise TrainingDiverged(f"the loss became {loss:.4g} at epoch {epoch}, batch {step}{how}: training diverged. "
                           f"Lower the learning rate (it was {lr:.3g}; try {lr / 10:.3g}).")


def _end_epoch(history, model, epoch, train_loss, train_accuracy, lr, validation, start) -> float:
    """Append one epoch to ``history`` (scoring ``validation`` if given); return the score
    the best weights are kept by: validation accuracy, else minus the training loss."""
    val_loss, val_accuracy = evaluate(model, *validation) if validation is not None else (None, None)
    model.train()                                      # evaluate switched to eval mode
    for key, value in (("epoch", epoch), ("train_loss", train_loss), ("train_accuracy", train_accuracy),
                       ("val_loss", val_loss), ("val_accuracy", val_accuracy),
                       ("seconds", time.perf_counter() - start), ("lr", lr)):
        history[key].append(value)
    return val_accuracy if validation is not None else -train_loss


def _warn_if_stalled(history, steps_per_epoch: int, num_classes: int, base_lr: float) -> None:
    """Warn at the first epoch end after 100 steps if the loss still sits at ln K (guessing)."""
    steps_done = history["epoch"][-1] * steps_per_epoch
    if steps_done - steps_per_epoch < 100 <= steps_done and history["train_loss"][-1] > 0.97 * math.log(num_classes):
        warnings.warn(f"after {steps_done} steps the training loss is still {history['train_loss'][-1]:.3f}, "
                      f"about ln {num_classes} = {math.log(num_classes):.3f}, what guessing scores: the network "
                      f"is not learning. The learning rate {base_lr:.3g} is probably far too small (try 0.001 "
                      f"for Adam, 0.05 for SGD); otherwise check that labels match their images.",
                      TrainingStalled, stacklevel=3)


def evaluate(model, images, labels, batch_size=1000):
    """Mean loss and accuracy of ``model`` on a data set: returns (loss, accuracy)."""
    _warn_if_unscaled(images, "evaluation")
    probs = model.predict_proba(images, batch_size)
    _check_labels(np.asarray(labels), probs.shape[1])
    loss = float(-np.log(np.maximum(probs[np.arange(len(labels)), labels], 1e-12)).mean())
    return loss, float((probs.argmax(axis=1) == labels).mean())


def _snapshot(model):
    """Copies of every weight and saved state (a BatchNorm's running statistics), as saved in model files."""
    return {key: value.copy() for i, layer in enumerate(model.layers)
            for key, value in _layer_arrays(layer, str(i)).items()}


def _restore(model, snapshot):
    """Put a _snapshot back, in place (the optimizer keeps referring to the same arrays)."""
    for i, layer in enumerate(model.layers):
        for key, value in _layer_arrays(layer, str(i)).items():
            value[...] = snapshot[key]


def train(model, images, labels, *, epochs=1, batch_size=64, optimizer=None, lr=None,
          schedule="cosine", augment_shift=0, validation=None, seed=0, callback=None,
          progress=None):
    """Train ``model`` with mini-batch gradient descent; returns the history.

    The loop of notebook 07: shuffle, then for each batch forward, loss,
    backward, update; with a learning-rate schedule, a divergence check after
    every batch and the epoch's numbers recorded at its end.

    images (N, C, H, W), labels (N,) in 0..K-1. ``optimizer`` defaults to
    Adam(lr=1e-3). ``lr`` overrides the optimizer's learning rate; ``schedule``
    (a name in SCHEDULES: "cosine" decays it over all steps, "one-cycle" warms
    it up first (one_cycle_learning_rate), "constant" or None keeps it). ``augment_shift`` moves each training image by up to that many
    pixels. ``validation`` is an optional (images, labels) pair evaluated after
    each epoch.

    ``callback(history)`` runs after every epoch (notebooks draw live curves
    with it); ``progress(epoch, done, total, loss, accuracy, seconds)`` after
    every batch (the CLI's progress bar).

    history: dict of lists, one entry per epoch: epoch, train_loss,
    train_accuracy, val_loss, val_accuracy (None without validation), seconds,
    lr; plus "interrupted": True if Ctrl-C stopped training. After Ctrl-C the
    model holds the best weights seen so far (by validation accuracy, else by
    training loss) and the history so far is returned.

    Raises TrainingDiverged when a batch loss is NaN, inf or above
    DIVERGED_LOSS_FACTOR x ln K; warns (TrainingStalled) when the loss stays at
    ln K; refuses bad arguments and data (NaN pixels, labels outside 0..K-1,
    an optimizer built for another model) with a ValueError saying which.
    """
    optimizer = optimizer if optimizer is not None else Adam(model, lr=1e-3)
    num_classes = _check_data(model, images, labels, "training")
    validation = validation if validation is not None and len(validation[0]) else None
    if validation is not None:
        _check_data(model, *validation, "validation")
    _check_training_arguments(model, images, optimizer, lr, epochs, batch_size, schedule, augment_shift)
    base_lr = lr if lr is not None else optimizer.lr
    rng = np.random.default_rng(seed)
    loss_fn = SoftmaxCrossEntropy()
    history = {key: [] for key in ("epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy",
                                   "seconds", "lr")}
    history["interrupted"] = False
    n, steps_per_epoch = len(images), math.ceil(len(images) / batch_size)
    best_score, best_weights = -math.inf, None
    model.train()
    try:
        for epoch in range(1, epochs + 1):
            start = time.perf_counter()
            order = rng.permutation(n)                                   # shuffle
            loss_sum, correct, seen = 0.0, 0, 0
            for step in range(steps_per_epoch):
                done = ((epoch - 1) * steps_per_epoch + step) / (epochs * steps_per_epoch)
                optimizer.lr = scheduled_lr(schedule, base_lr, done)
                batch = order[step * batch_size:(step + 1) * batch_size]   # the last batch may be smaller
                x, y = images[batch], labels[batch]
                if augment_shift:
                    x = random_shift(x, augment_shift, rng)
                logits = model.forward(x)                                # 1. forward
                loss = loss_fn.forward(logits, y)                        # 2. loss
                _check_divergence(loss, num_classes, epoch, step + 1, base_lr)
                model.backward(loss_fn.backward(), input_gradient=False)  # 3. backward
                optimizer.step()                                         # 4. update
                loss_sum += loss * len(batch)
                correct += int((logits.argmax(axis=1) == y).sum())
                seen += len(batch)
                if progress is not None:
                    progress(epoch, seen, n, loss_sum / seen, correct / seen, time.perf_counter() - start)
            score = _end_epoch(history, model, epoch, loss_sum / n, correct / n, optimizer.lr, validation, start)
            if score >= best_score:
                best_score, best_weights = score, _snapshot(model)
            _warn_if_stalled(history, steps_per_epoch, num_classes, base_lr)
            if callback is not None:
                callback(history)
    except KeyboardInterrupt:
        history["interrupted"] = True
        if best_weights is not None:
            _restore(model, best_weights)
    model.eval()
    return history


# =============================================================================
# 7. Gradient checking
# =============================================================================

def numerical_gradient(f, x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """dF/dx by centred differences, (f(x + h) - f(x - h)) / 2h, one entry at a time (notebook 03, section 2).

    f takes no arguments and reads x, which we nudge in place (and restore).
    The error of a centred difference is O(h^2), against O(h) one-sided.
    """
    grad = np.zeros_like(x, dtype=np.float64)
    flat_x, flat_grad = x.reshape(-1), grad.reshape(-1)
    if not np.shares_memory(flat_x, x):
        raise ValueError("numerical_gradient needs a contiguous array it can nudge in place")
    for i in range(flat_x.size):
        original = flat_x[i]
        flat_x[i] = original + h
        plus = f()
        flat_x[i] = original - h
        minus = f()
        flat_x[i] = original
        flat_grad[i] = (plus - minus) / (2 * h)
    return grad


def relative_error(analytic: np.ndarray, numeric: np.ndarray) -> float:
    """max_i |a_i - n_i| / max(|a_i| + |n_i|, tiny): scale-free, 0 when they agree (notebook 03, section 3).

    Below about 1e-7 it means "equal up to float64 rounding". Its limit: the
    centred difference carries a rounding error of about 1e-16 * |L| / h, so an
    entry whose true gradient is tiny next to that (a softmax probability of
    1e-7, say) cannot score well; keep gradient-check inputs moderate."""
    analytic, numeric = np.asarray(analytic, np.float64), np.asarray(numeric, np.float64)
    return float(np.max(np.abs(analytic - numeric) / np.maximum(np.abs(analytic) + np.abs(numeric), 1e-12)))


def grad_check(layer, x: np.ndarray, seed: int = 0, h: float = 1e-4) -> dict:
    """Compare a layer's backward with numerical gradients (notebook 03, section 7).

    Uses the scalar loss L = sum(forward(x) * G) for a fixed random G, whose
    gradient with respect to the output is exactly G. Returns the relative
    error for the input ("x") and for each parameter. Use float64 layers and
    inputs: float32 has too few digits for centred differences.

    Why h = 1e-4 here (numerical_gradient's default is 1e-5): every layer in
    this course is piecewise linear in each input, so a centred difference has
    no truncation error as long as x +- h does not cross a kink (ReLU's 0, a
    change of pooling winner); the only error left is rounding, which shrinks
    as h grows. For smooth functions such as softmax, use a smaller h.
    """
    for name, param in layer.params.items():
        if param.dtype != np.float64:
            raise TypeError(f"grad_check needs a float64 layer, but {layer!r} keeps {name!r} in {param.dtype}: "
                            f"its ~7 digits drown centred differences in rounding (errors near 1e-2). Build the "
                            f"layer with dtype=np.float64.")
    x = np.array(x, dtype=np.float64)
    G = np.random.default_rng(seed).standard_normal(layer.forward(x).shape)
    loss = lambda: float(np.sum(layer.forward(x) * G))
    layer.forward(x)
    errors = {"x": relative_error(layer.backward(G), numerical_gradient(loss, x, h))}
    analytic = {name: grad.copy() for name, grad in layer.grads.items()}
    for name, param in layer.params.items():
        errors[name] = relative_error(analytic[name], numerical_gradient(loss, param, h))
    return errors


# =============================================================================
# 8. Pictures: preprocessing a drawn digit like MNIST
# =============================================================================

def resize_image(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize a 2-D image by area averaging: each output pixel is the mean of the
    input area it covers. Written as two matrix products, R_rows @ image @ R_cols.T."""

    def weights(n_in, n_out):
        edges_in = np.arange(n_in + 1) / n_in
        edges_out = np.arange(n_out + 1) / n_out
        overlap = (np.minimum(edges_out[1:, None], edges_in[None, 1:])
                   - np.maximum(edges_out[:-1, None], edges_in[None, :-1]))
        overlap = np.maximum(overlap, 0)
        return overlap / overlap.sum(axis=1, keepdims=True)

    return weights(image.shape[0], height) @ image @ weights(image.shape[1], width).T


# The largest picture read_picture decodes: 50 megapixels, more than any photo of a digit.
MAX_PICTURE_PIXELS = 50_000_000


def _check_png_size(header: bytes, name: str) -> None:
    """Refuse a PNG whose header (signature, then the IHDR chunk: width and height as
    big-endian uint32 at bytes 16-24) declares more than MAX_PICTURE_PIXELS, before decoding
    it: a 12 kB file can claim 60,000 x 60,000 pixels, 17 GB once decoded."""
    if header[:8] == b"\x89PNG\r\n\x1a\n" and header[12:16] == b"IHDR":
        width, height = int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")
        if width * height > MAX_PICTURE_PIXELS:
            raise ValueError(f"{name} says it is {width:,} x {height:,} pixels, more than the "
                             f"{MAX_PICTURE_PIXELS:,} read_picture decodes. Scale the picture down.")


def read_picture(path: str | os.PathLike) -> np.ndarray:
    """A picture file (PNG, JPEG, ...) as matplotlib.image.imread returns it, with a
    clear ValueError for a missing, unreadable or enormous file."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path} is a folder, not a picture. Name the picture file itself.")
    if not path.is_file():
        raise ValueError(f"picture {path} does not exist.")
    with open(path, "rb") as file:
        _check_png_size(file.read(24), str(path))
    import matplotlib.image
    try:
        return matplotlib.image.imread(path)
    except Exception as error:            # each image decoder has its own exceptions
        raise ValueError(f"cannot read picture {path} ({type(error).__name__}: {error}). "
                         f"Save it as a PNG or JPEG.") from None


def to_grey(image: np.ndarray) -> np.ndarray:
    """Any image from matplotlib.image.imread -> 2-D float in [0, 1] (alpha over white)."""
    image = np.asarray(image, dtype=np.float64)
    if image.size == 0:
        raise ValueError(f"the image is empty (shape {image.shape}): there is nothing to read")
    if not np.isfinite(image).all():
        raise ValueError(f"the image has {int((~np.isfinite(image)).sum())} NaN or infinite pixel values; "
                         f"replace them (e.g. np.nan_to_num(image)) before preprocessing")
    if image.size and image.max() > 1.0:
        image = image / 255.0                           # 8-bit JPEGs come as 0..255
    if image.ndim == 3:
        if image.shape[2] == 4:                         # composite transparency onto white paper
            alpha = image[..., 3:4]
            image = image[..., :3] * alpha + (1 - alpha)
        image = image[..., :3] @ np.array([0.299, 0.587, 0.114]) if image.shape[2] >= 3 else image[..., 0]
    if image.ndim != 2:
        raise ValueError(f"expected a 2-D grey or 3-D colour image, got shape {image.shape}")
    return image


def centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    """(row, column) of the ink-weighted mean position of a 2-D image:
    row = sum_y y * (ink in row y) / total ink, and the same for columns."""
    total = image.sum()
    return (float(image.sum(axis=1) @ np.arange(image.shape[0]) / total),
            float(image.sum(axis=0) @ np.arange(image.shape[1]) / total))


# Where MNIST's digits have their centre of mass, in pixel indices 0..27: measured
# in notebook 09 (mean over the training set 14.00, 14.01, std 0.3), not the
# geometric middle 13.5. MNIST's authors placed it at 14 in their coordinates.
MNIST_CENTRE_OF_MASS = (14.0, 14.0)


def preprocess_digit(image: np.ndarray, return_steps: bool = False):
    """Turn a picture of one handwritten digit into an MNIST-style 28 x 28 image.

    The steps MNIST's authors used: grey scale, white digit on black (we invert
    when the background is light), crop to the digit, scale so the longer side
    is 20 pixels, and paste into 28 x 28 so that the centre of mass of the ink
    sits where MNIST's does (``MNIST_CENTRE_OF_MASS``). The ink threshold of the
    crop (10% of the brightest pixel) is ours: the NIST originals were black and
    white. Returns float32 (28, 28) in [0, 1]; with ``return_steps`` also a dict
    of the intermediate images.
    """
    grey = to_grey(image)
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    ink = 1 - grey if border.mean() > 0.5 else grey     # dark digit on light paper -> invert
    ink = np.clip(ink - np.median(border if border.mean() <= 0.5 else 1 - border), 0, 1)
    rows, cols = np.nonzero(ink > 0.1 * ink.max()) if ink.max() > 0 else ((), ())
    if len(rows) == 0:
        raise ValueError("the image is blank: no digit found (draw or write a digit first)")
    cropped = ink[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    h, w = cropped.shape
    scale = 20 / max(h, w)
    new_h, new_w = max(1, round(h * scale)), max(1, round(w * scale))
    scaled = resize_image(cropped, new_h, new_w)
    scaled = scaled / scaled.max()
    # Place the centre of mass of the ink where MNIST's digits have theirs (notebook 09, section 3).
    com_y, com_x = centre_of_mass(scaled)
    top = int(np.clip(round(MNIST_CENTRE_OF_MASS[0] - com_y), 0, 28 - new_h))
    left = int(np.clip(round(MNIST_CENTRE_OF_MASS[1] - com_x), 0, 28 - new_w))
    result = np.zeros((28, 28), dtype=np.float32)
    result[top:top + new_h, left:left + new_w] = scaled
    if return_steps:
        return result, {"grey": grey, "ink": ink, "cropped": cropped, "scaled": scaled, "centred": result}
    return result


# =============================================================================
# 9. Model files: .npz with the architecture as JSON, never pickle
# =============================================================================

MODEL_FORMAT = "scratchcnn-model-1"
LAYER_TYPES = {cls.__name__: cls for cls in (Conv2D, MaxPool2D, ReLU, LeakyReLU, Flatten, Dropout, Dense,
                                             BatchNorm1D, BatchNorm2D, Residual)}


class ModelFileError(ValueError):
    """A model file is missing, corrupt, truncated or not a ScratchCNN model."""


# Limits checked from the zip directory before any member is read: the reference CNN's
# weights take 0.1 MB, its architecture entry a few kB.
MAX_MODEL_BYTES = 2 ** 30
MAX_ARCHITECTURE_BYTES = 2 ** 20

# The parameter shapes of each layer type with weights, from its config, so a file's
# arrays can be checked before a layer is built (a 30,000 x 30,000 Dense would
# allocate and initialise 7 GB first). A layer type missing here is built to find out.
PARAM_SHAPES = {
    "Conv2D": lambda c: {"W": (c["out_channels"], c["in_channels"], c["kernel_size"], c["kernel_size"]),
                         "b": (c["out_channels"],)},
    "Dense": lambda c: {"W": (c["in_features"], c["out_features"]), "b": (c["out_features"],)},
    # batch norm: its parameters and its running statistics (saved beside them)
    "BatchNorm1D": lambda c: dict.fromkeys(("gamma", "beta", "running_mean", "running_var"), (c["num_features"],)),
    "BatchNorm2D": lambda c: dict.fromkeys(("gamma", "beta", "running_mean", "running_var"), (c["num_channels"],)),
}


def _temporary_name(path: Path) -> str:
    """The prefix of atomic_write's temporary files for ``path``: hidden, beside it, with our process id."""
    return f".{path.name}.{os.getpid()}."


def _remove_stale_temporaries(path: Path) -> None:
    """Delete temporary files that earlier saves to ``path`` left behind when they were
    killed (kill -9, power cut): those whose process is gone, or untouched for an hour."""
    prefix = f".{path.name}."
    for candidate in path.parent.glob(".*.tmp"):
        owner = candidate.name[len(prefix):].split(".")[0]
        if not candidate.name.startswith(prefix) or not owner.isdigit() or int(owner) == os.getpid():
            continue
        try:
            stale = time.time() - candidate.stat().st_mtime > 3600
            if not stale and os.name == "posix":
                try:
                    os.kill(int(owner), 0)           # signal 0: only asks whether the process exists
                except ProcessLookupError:
                    stale = True
                except PermissionError:
                    pass                             # alive, another user's
            if stale:
                candidate.unlink()
        except OSError:
            pass                                     # another save removed it first


def atomic_write(path: str | os.PathLike, write) -> None:
    """Call write(file) on a temporary file beside ``path``, then rename it into place,
    so a crash or Ctrl-C never leaves a half-written file at ``path``.

    The temporary file is named ``.NAME.PID.XXXX.tmp``; an error removes it at once,
    and a save killed outright (kill -9) leaves one that the next save to ``path``
    removes, since its process no longer exists."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(path)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=_temporary_name(path), suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        # mkstemp makes the file private (0600); give it the usual mode (0666 less the umask).
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _layer_spec(layer) -> dict:
    """A layer's entry in the architecture JSON; a Residual lists its inner layers."""
    spec = {"type": type(layer).__name__, "config": layer.config()}
    if isinstance(layer, Residual):
        spec["layers"] = [_layer_spec(inner) for inner in layer.layers]
    return spec


def _layer_arrays(layer, prefix: str) -> dict:
    """{"<prefix>.<name>": array} for a layer's parameters and saved state (a BatchNorm's
    running statistics); a Residual's inner layer j gets the prefix "<prefix>.<j>"."""
    if isinstance(layer, Residual):
        return {key: value for j, inner in enumerate(layer.layers)
                for key, value in _layer_arrays(inner, f"{prefix}.{j}").items()}
    arrays = {f"{prefix}.{name}": value for name, value in layer.params.items()}
    arrays.update({f"{prefix}.{name}": getattr(layer, name) for name in getattr(layer, "state_names", ())})
    return arrays


def check_writable(path: str | os.PathLike) -> None:
    """Raise ModelFileError unless a file can be saved at ``path``: check it before
    training, not after (the trained model would be lost)."""
    path = Path(path)
    if path.is_dir():
        raise ModelFileError(f"cannot save to {path}: it is a folder. Give a file name, e.g. {path / 'model.npz'}.")
    parent = path.parent
    if not parent.exists():
        raise ModelFileError(f"cannot save to {path}: the folder {parent} does not exist. "
                             f"Create it first (`mkdir -p {parent}`) or save elsewhere.")
    if not parent.is_dir():
        raise ModelFileError(f"cannot save to {path}: {parent} is a file, not a folder.")
    try:                                             # the only sure test: write a file there
        fd, probe = tempfile.mkstemp(dir=parent, prefix=_temporary_name(path), suffix=".tmp")
        os.close(fd)
        os.unlink(probe)
    except OSError as error:
        raise ModelFileError(f"cannot save to {path}: the folder {parent} is not writable "
                             f"({error.strerror}). Save somewhere you can write, e.g. your home folder.") from None


def save_model(model: Sequential, path: str | os.PathLike, metadata: dict | None = None) -> None:
    """Save weights and architecture to one .npz file (written atomically).

    Keys: "architecture" (a JSON string) and "layer{i}.{name}" for each parameter
    and running statistic; inside a Residual "layer{i}.{j}.{name}".
    """
    architecture = {
        "format": MODEL_FORMAT,
        "layers": [_layer_spec(layer) for layer in model.layers],
        "metadata": metadata or {},
    }
    arrays = {"architecture": np.array(json.dumps(architecture))}
    for i, layer in enumerate(model.layers):
        arrays.update(_layer_arrays(layer, f"layer{i}"))
    atomic_write(path, lambda file: np.savez(file, **arrays))


def _what_file_is_this(path: Path) -> str:
    """A few words on what a file that is not a zip archive looks like it is."""
    with open(path, "rb") as file:
        head = file.read(64)
    if not head:
        return "an empty file"
    if head.startswith(b"PK"):
        return "a zip archive"
    if head.startswith(b"\x93NUMPY"):
        return "a single NumPy array (.npy, from np.save)"
    if head[:1] == b"\x80":
        return "a Python pickle (which can run code: never load one you do not trust)"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return "binary data of an unknown kind"
    return f"a text file (it starts {text[:30]!r})" if text.isprintable() or "\n" in text else "binary data"


def _npy_header(path: Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo):
    """(shape, dtype) of one .npy member, reading only its header; refuses pickles
    and a member whose size does not match the shape its header declares."""
    with archive.open(info) as file:
        version = np.lib.format.read_magic(file)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = read_header(file)
        header_bytes = file.tell()
    if dtype.hasobject:
        raise ModelFileError(f"{path}: {info.filename} holds pickled Python objects; ScratchCNN model files "
                             f"never do, and loading pickles can run arbitrary code. Refusing it.")
    if info.file_size != header_bytes + math.prod(shape) * dtype.itemsize:
        raise ModelFileError(f"{path}: {info.filename} is truncated or padded: its size does not match its shape.")
    return shape, dtype


def _read_architecture(path: Path, archive: zipfile.ZipFile) -> dict:
    """The architecture entry as a dict, checked for the structure load_model relies on."""
    not_ours = (f"{path} is an .npz file but not a ScratchCNN model (no valid 'architecture' entry of "
                f"format {MODEL_FORMAT!r}).")
    info = archive.getinfo("architecture.npy")
    if info.file_size > MAX_ARCHITECTURE_BYTES:
        raise ModelFileError(f"{not_ours[:-1]}: its architecture entry takes {info.file_size:,} bytes.")
    _npy_header(path, archive, info)
    with archive.open(info) as file:
        entry = np.lib.format.read_array(file, allow_pickle=False)
    try:
        architecture = json.loads(str(entry[()])) if entry.dtype.kind == "U" and entry.ndim == 0 else None
    except json.JSONDecodeError:
        architecture = None
    if not (isinstance(architecture, dict) and architecture.get("format") == MODEL_FORMAT
            and isinstance(architecture.get("layers"), list) and isinstance(architecture.get("metadata", {}), dict)
            and all(isinstance(spec, dict) and isinstance(spec.get("config", {}), dict)
                    for spec in architecture["layers"])):
        raise ModelFileError(not_ours)
    return architecture


def _expected_param_shapes(path: Path, i: int, spec: dict) -> dict:
    """{name: shape} of layer i's parameters, from its type and config; builds the layer
    only for a type without a PARAM_SHAPES entry."""
    kind, config = spec.get("type"), spec.get("config", {})
    if kind not in LAYER_TYPES:
        raise ModelFileError(f"{path}: layer {i} has unknown type {kind!r}; known: {sorted(LAYER_TYPES)}.")
    invalid = ModelFileError(f"{path}: layer {i} ({kind}) has an invalid config {json.dumps(config)[:200]}.")
    for value in config.values():                  # JSON allows true, NaN and Infinity where sizes belong
        if isinstance(value, bool) or (isinstance(value, float) and not math.isfinite(value)):
            raise invalid
    if kind not in PARAM_SHAPES:
        return {name: param.shape for name, param in _build_layer(path, i, spec).params.items()}
    try:
        shapes = PARAM_SHAPES[kind](config)
    except KeyError:
        raise invalid from None
    if not all(isinstance(size, int) and size >= 1 for shape in shapes.values() for size in shape):
        raise invalid
    return shapes


def _expected_arrays(path: Path, i: str, spec: dict) -> dict:
    """{"layer<i>.<name>": shape} of every array stored for layer i (parameters and running
    statistics); a Residual's inner layer j is layer "<i>.<j>"."""
    if spec.get("type") != "Residual":
        return {f"layer{i}.{name}": shape for name, shape in _expected_param_shapes(path, i, spec).items()}
    inner = spec.get("layers")
    if not (isinstance(inner, list) and all(isinstance(s, dict) and isinstance(s.get("config", {}), dict) for s in inner)):
        raise ModelFileError(f"{path}: layer {i} (Residual) has no valid list of inner layers.")
    return {key: shape for j, s in enumerate(inner) for key, shape in _expected_arrays(path, f"{i}.{j}", s).items()}


def _load_layer(path: Path, archive: zipfile.ZipFile, members: dict, i: str, spec: dict, dtype):
    """Build layer i and read its arrays (already checked against the architecture)."""
    if spec.get("type") == "Residual":
        return Residual(*[_load_layer(path, archive, members, f"{i}.{j}", s, dtype)
                          for j, s in enumerate(spec["layers"])])
    layer = _build_layer(path, i, spec)
    for name in list(layer.params) + list(getattr(layer, "state_names", ())):
        key = f"layer{i}.{name}"
        with archive.open(members[key + ".npy"]) as file:
            value = np.lib.format.read_array(file, allow_pickle=False)
        if not np.isfinite(value).all():
            raise ModelFileError(f"{path}: {key} contains {int((~np.isfinite(value)).sum())} NaN or infinite "
                                 f"weights, so every prediction would be nonsense. The training that made "
                                 f"it diverged (lower the learning rate) or the file is damaged: retrain.")
        if name in layer.params:
            layer.params[name] = value.astype(dtype or value.dtype)
            layer.grads[name] = np.zeros_like(layer.params[name])
        else:                                      # a running statistic
            setattr(layer, name, value.astype(dtype or value.dtype))
    return layer


def _build_layer(path: Path, i: int, spec: dict):
    config = spec.get("config", {})
    try:
        return LAYER_TYPES[spec["type"]](**config)
    except (TypeError, ValueError) as error:
        raise ModelFileError(f"{path}: layer {i} ({spec['type']}) has an invalid config "
                             f"{json.dumps(config)[:200]}: {error}") from None


def load_model(path: str | os.PathLike, dtype=None) -> Sequential:
    """Load a model written by save_model (``allow_pickle=False``: a model file can
    never run code). ``model.metadata`` holds what was saved with it.

    Everything is checked before memory is spent on it: member names and sizes
    from the zip directory, then the architecture, then every array's shape and
    dtype from its header against the architecture; only then are layers built
    and the weights read (and refused if integer, NaN or infinite).
    """
    path = Path(path)
    if path.is_dir():
        raise ModelFileError(f"{path} is a folder, not a model file. Pass the .npz file itself "
                             f"(e.g. {path / 'scratchcnn_model.npz'}).")
    if not path.is_file():
        raise ModelFileError(f"model file {path} does not exist. Train one with "
                             f"`python scratchcnn.py train --model-out {path}`.")
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        if _what_file_is_this(path) == "a zip archive":
            raise ModelFileError(f"{path} is corrupt or truncated: it starts like an .npz (zip) archive but "
                                 f"its directory is missing or damaged. Re-create it with "
                                 f"`python scratchcnn.py train`.") from None
        raise ModelFileError(f"{path} is not a ScratchCNN model file: it is {_what_file_is_this(path)}, "
                             f"not an .npz archive (or it is truncated). Train a model with "
                             f"`python scratchcnn.py train`.") from None
    with archive:
        try:
            return _load_from_archive(path, archive, dtype)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as error:
            if isinstance(error, ModelFileError):
                raise
            raise ModelFileError(f"{path} is corrupt or truncated ({type(error).__name__}: {error}). "
                                 f"Re-create it with `python scratchcnn.py train`.") from None


def _load_from_archive(path: Path, archive: zipfile.ZipFile, dtype) -> Sequential:
    members = {info.filename: info for info in archive.infolist()}
    strangers = sorted(name for name in members
                       if name != "architecture.npy" and not re.fullmatch(r"layer\d+(\.\d+)*\.\w+\.npy", name))
    if "architecture.npy" not in members:
        raise ModelFileError(f"{path} is an .npz file but not a ScratchCNN model (no 'architecture' entry).")
    if strangers:
        raise ModelFileError(f"{path}: unexpected entries {strangers[:5]}; not a file save_model wrote.")
    total = sum(info.file_size for info in members.values())
    if total > MAX_MODEL_BYTES:
        raise ModelFileError(f"{path} would inflate to {total:,} bytes, more than the {MAX_MODEL_BYTES:,} "
                             f"a ScratchCNN model may take. Refusing it.")
    architecture = _read_architecture(path, archive)
    specs = architecture["layers"]
    expected = {key: shape for i, spec in enumerate(specs) for key, shape in _expected_arrays(path, str(i), spec).items()}
    stored = {name[:-4] for name in members} - {"architecture"}
    if expected.keys() - stored:
        raise ModelFileError(f"{path}: missing weights {sorted(expected.keys() - stored)[0]!r}; "
                             f"the file is incomplete.")
    if stored - expected.keys():
        raise ModelFileError(f"{path}: unexpected entries {sorted(stored - expected.keys())[:5]}; "
                             f"not a file save_model wrote.")
    for key, shape in expected.items():
        stored_shape, stored_dtype = _npy_header(path, archive, members[key + ".npy"])
        if stored_dtype.kind != "f":
            raise ModelFileError(f"{path}: {key} holds {stored_dtype} numbers; weights must be floats "
                                 f"(float32 or float64). Save the model with save_model.")
        if stored_shape != shape:
            raise ModelFileError(f"{path}: {key} has shape {stored_shape}, the architecture needs {shape}.")
    layers = [_load_layer(path, archive, members, str(i), spec, dtype) for i, spec in enumerate(specs)]
    model = Sequential(layers).eval()
    model.metadata = architecture.get("metadata", {})
    return model


# =============================================================================
# 10. Command line
# =============================================================================

def _progress_bar(epochs, stream=None):
    """A one-line progress bar on stderr, redrawn at most 10 times a second. When
    stderr is not a terminal (a log file, a pipe) a redrawn line would flood it,
    so then it prints one plain line per epoch instead."""
    stream = stream if stream is not None else sys.stderr
    live = getattr(stream, "isatty", lambda: False)()
    last = [0.0]

    def show(epoch, done, total, loss, accuracy, seconds):
        now = time.perf_counter()
        speed = done / max(seconds, 1e-9)
        if not live:
            if done == total:
                stream.write(f"epoch {epoch}/{epochs}: {total} images, loss {loss:.4f} acc {100 * accuracy:5.2f}% "
                             f"{speed:6.0f} img/s\n")
                stream.flush()
            return
        if done < total and now - last[0] < 0.1:
            return
        last[0] = now
        width = 30
        filled = int(width * done / total)
        left = (total - done) / max(speed, 1e-9)
        stream.write(f"\repoch {epoch}/{epochs} [{'#' * filled}{'.' * (width - filled)}] "
                     f"loss {loss:.4f} acc {100 * accuracy:5.2f}% {speed:6.0f} img/s {left:4.0f}s left ")
        if done == total:
            stream.write("\r" + " " * 100 + "\r")
        stream.flush()

    return show


def confusion_matrix(labels, predictions, num_classes=10):
    """counts[i, j] = number of images of class i predicted as class j."""
    counts = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(counts, (labels, predictions), 1)
    return counts


def split_training_data(images, labels, train_limit=None, validation_size=0, seed=0):
    """Hold out ``validation_size`` random images, then keep at most ``train_limit``
    of the rest for training. Returns (train_images, train_labels, val_images, val_labels)."""
    n = len(images)
    if n == 0:
        raise ValueError("there are no training images at all: the data set is empty")
    if validation_size < 0 or (train_limit is not None and train_limit < 1):
        raise ValueError("--validation-size must be >= 0 and --train-limit >= 1")
    if validation_size >= n:
        raise ValueError(f"--validation-size {validation_size} leaves no training data: "
                         f"there are only {n} training images. Use a smaller validation set.")
    order = np.random.default_rng(seed).permutation(n)
    val, rest = order[:validation_size], order[validation_size:]
    rest = np.sort(rest[:train_limit] if train_limit is not None else rest)
    return images[rest], labels[rest], images[np.sort(val)], labels[np.sort(val)]


# What `python scratchcnn.py train` does when given no options (benchmarks/bench.py
# --time-to-accuracy times exactly this). The shipped data/scratchcnn_mnist.npz was made
# with the earlier defaults: --epochs 20 --lr 0.002 --schedule cosine (README, Results).
TRAIN_DEFAULTS = dict(epochs=10, batch_size=128, lr=0.003, schedule="one-cycle", augment_shift=2, seed=0)


def _check_model_fits_mnist(model, path, image_shape=(1, 28, 28), num_classes=10):
    """A model for MNIST takes 1 x 28 x 28 images and has 10 outputs; say so if not."""
    try:
        outputs = model.predict_proba(np.zeros((1, *image_shape), np.float32)).shape[1]
    except (ValueError, TypeError) as error:
        size = " x ".join(map(str, image_shape))
        raise ModelFileError(f"{path} does not take {size} MNIST images: {error}") from None
    if outputs != num_classes:
        raise ModelFileError(f"{path} has {outputs} outputs, but MNIST has {num_classes} classes: "
                             f"it was trained for another data set. Use a model trained on MNIST.")


def command_train(args):
    check_writable(args.model_out)           # before training, not after: the model would be lost
    images, labels = load_dataset(args.dataset, "train", args.data_dir)
    x_train, y_train, x_val, y_val = split_training_data(images, labels, args.train_limit,
                                                         args.validation_size, args.seed)
    image_shape = dict(in_channels=images.shape[1], image_size=images.shape[2])
    if args.architecture == "deep":
        model = deep_cnn(**image_shape, channels=args.channels or (32, 64), blocks=args.blocks, seed=args.seed)
    else:
        model = reference_cnn(seed=args.seed, **image_shape, **({"channels": args.channels} if args.channels else {}))
    optimizer = (Adam(model, lr=args.lr) if args.optimizer == "adam"
                 else RMSprop(model, lr=args.lr) if args.optimizer == "rmsprop"
                 else SGD(model, lr=args.lr, momentum=0.9, weight_decay=5e-4))
    print(f"training on {len(x_train):,} images, validating on {len(x_val):,}; "
          f"{model.num_parameters():,} parameters, {args.optimizer} lr {args.lr} ({args.schedule} schedule), "
          f"batch {args.batch_size}, seed {args.seed}")

    def report(history):
        e = history["epoch"][-1]
        val = history["val_accuracy"][-1]
        val_text = f"  val acc {100 * val:6.2f}%" if val is not None else ""
        print(f"epoch {e:2d}/{args.epochs}  train loss {history['train_loss'][-1]:.4f}  "
              f"train acc {100 * history['train_accuracy'][-1]:6.2f}%{val_text}  "
              f"{history['seconds'][-1]:5.1f}s", flush=True)

    with np.errstate(over="ignore", invalid="ignore"):      # a diverging run raises TrainingDiverged
        history = train(model, x_train, y_train, epochs=args.epochs, batch_size=args.batch_size,
                        optimizer=optimizer, augment_shift=args.augment_shift,
                        schedule=args.schedule,
                        validation=(x_val, y_val) if len(x_val) else None, seed=args.seed,
                        callback=report, progress=None if args.quiet else _progress_bar(args.epochs))
    if history["interrupted"]:
        print("interrupted: keeping the best model so far", flush=True)
    try:
        x_test, y_test = load_dataset(args.dataset, "test", args.data_dir)
        _, test_accuracy = evaluate(model, x_test, y_test)
        print(f"test accuracy {100 * test_accuracy:.2f}%  ({sum(history['seconds']):.0f}s of training)")
    except KeyboardInterrupt:                 # a second Ctrl-C: save what was trained anyway
        test_accuracy = None
        print("interrupted again: saving the model without testing it", flush=True)
    save_model(model, args.model_out, metadata={
        "command": "python scratchcnn.py " + shlex.join(args.argv), "test_accuracy": test_accuracy,
        "epochs_completed": len(history["epoch"]), "seed": args.seed, "dataset": args.dataset})
    print(f"saved {args.model_out}")


def command_evaluate(args):
    model = load_model(args.model)
    dataset = args.dataset or model.metadata.get("dataset")          # the data it was trained on
    dataset = dataset if dataset in DATASET_CLASSES else "mnist"
    class_names = DATASET_CLASSES[dataset]
    images, labels = load_dataset(dataset, "test", args.data_dir)
    _check_model_fits_mnist(model, args.model, images.shape[1:])
    predictions = model.predict(images)
    counts = confusion_matrix(labels, predictions)
    print(f"test accuracy {100 * np.mean(predictions == labels):.2f}% on {len(labels):,} images\n")
    print("per-class accuracy:")
    for digit in range(10):
        total = counts[digit].sum()
        accuracy = f"{100 * counts[digit, digit] / total:6.2f}%" if total else "    n/a"
        name = f" {class_names[digit]:<12}" if class_names[digit] != str(digit) else ""
        print(f"  {digit}:{name} {accuracy}  ({total} images)")
    print("\nconfusion matrix (rows: true class, columns: predicted):")
    print("     " + "".join(f"{d:6d}" for d in range(10)))
    for digit in range(10):
        print(f"  {digit}: " + "".join(f"{c:6d}" for c in counts[digit]))


def command_predict(args):
    model = load_model(args.model)
    _check_model_fits_mnist(model, args.model)
    for path in args.images:
        digit_image = preprocess_digit(read_picture(path))
        probs = model.predict_proba(digit_image[None, None])[0]
        print(f"{path}: {int(probs.argmax())}")
        for digit in range(len(probs)):
            print(f"  {digit}: {probs[digit]:6.1%} {'#' * int(round(40 * probs[digit]))}")


def _whole_number(least):
    """An argparse type: an integer >= least."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < least:
            raise argparse.ArgumentTypeError(f"must be at least {least}, got {value}")
        return value
    return parse


def _positive_number(text):
    """An argparse type: a finite float > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive finite number (such as 0.001), got {text}")
    return value


def _channel_list(text):
    """An argparse type: channels per stage, e.g. "32,64" -> (32, 64)."""
    try:
        channels = tuple(_whole_number(1)(part) for part in text.split(","))
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of channel counts such as 32,64") from None
    return channels


class _ArgumentParser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line on stderr (the usage is in --help)."""

    def error(self, message):
        self.exit(2, f"error: {message} (see `{self.prog} --help`)\n")


def _show_warning(message, category, *rest, **kwargs):
    """Warnings in the CLI: one line, without the source line Python adds."""
    sys.stderr.write(f"warning: {message}\n")


def main(argv=None):
    argv = list(argv) if argv is not None else sys.argv[1:]
    parser = _ArgumentParser(prog="python scratchcnn.py", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("train", help="train the reference CNN on MNIST")
    p.add_argument("--epochs", type=_whole_number(1), default=TRAIN_DEFAULTS["epochs"])
    p.add_argument("--batch-size", type=_whole_number(1), default=TRAIN_DEFAULTS["batch_size"])
    p.add_argument("--lr", type=_positive_number, default=None,
                   help=f"the peak learning rate; default: {TRAIN_DEFAULTS['lr']} for adam, 0.05 for sgd")
    p.add_argument("--optimizer", choices=("sgd", "adam", "rmsprop"), default="adam")
    p.add_argument("--schedule", choices=sorted(SCHEDULES), default=TRAIN_DEFAULTS["schedule"],
                   help="learning-rate schedule (default: %(default)s)")
    p.add_argument("--augment-shift", type=_whole_number(0), default=TRAIN_DEFAULTS["augment_shift"],
                   help="random shifts of up to this many pixels")
    p.add_argument("--seed", type=_whole_number(0), default=TRAIN_DEFAULTS["seed"])
    p.add_argument("--train-limit", type=_whole_number(1), default=None, help="train on at most this many images")
    p.add_argument("--validation-size", type=_whole_number(0), default=0, help="hold out this many training images")
    p.add_argument("--data-dir", default=None, help="folder with the IDX files (default: data/mnist)")
    p.add_argument("--dataset", choices=tuple(DATASET_CLASSES), default="mnist",
                   help="mnist (data/mnist), fashion-mnist (data/fashion-mnist) or cifar10 (not shipped)")
    p.add_argument("--architecture", choices=("reference", "deep"), default="reference",
                   help="reference: reference_cnn; deep: deep_cnn with batch norm and residual blocks")
    p.add_argument("--channels", type=_channel_list, default=None,
                   help="channels of the convolution stages, e.g. 32,64")
    p.add_argument("--blocks", type=_whole_number(0), default=1, help="residual blocks per stage (deep only)")
    p.add_argument("--model-out", default="scratchcnn_model.npz")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=command_train)

    p = commands.add_parser("evaluate", help="test accuracy, per class, and the confusion matrix")
    p.add_argument("--model", default=str(DEFAULT_MODEL_PATH))
    p.add_argument("--data-dir", default=None)
    p.add_argument("--dataset", choices=tuple(DATASET_CLASSES), default=None,
                   help="default: the data set the model was trained on (from its file)")
    p.set_defaults(run=command_evaluate)

    p = commands.add_parser("predict", help="classify pictures of handwritten digits")
    p.add_argument("--model", default=str(DEFAULT_MODEL_PATH))
    p.add_argument("images", nargs="+", metavar="IMAGE.png")
    p.set_defaults(run=command_predict)

    args = parser.parse_args(argv)
    args.argv = argv                     # recorded in a trained model's metadata
    if getattr(args, "lr", 0) is None:
        args.lr = {"adam": TRAIN_DEFAULTS["lr"], "rmsprop": 0.001}.get(args.optimizer, 0.05)
    # Every mistake a user can make ends in one line on stderr and a non-zero exit.
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            args.run(args)
    except (DataFileError, ModelFileError, TrainingDiverged, ValueError, TypeError) as error:
        sys.exit(f"error: {error}")
    except OSError as error:             # permission denied, disk full, ...
        sys.exit(f"error: {error.strerror or error}" + (f": {error.filename}" if error.filename else ""))
    except MemoryError:
        sys.exit("error: out of memory. Use fewer images (--train-limit) or smaller batches (--batch-size).")
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)


# #############################################################################
#
#   PART II: COURSE MACHINERY
#
#   Everything below serves the notebooks: live plots, the two widgets and the
#   exercise checks. None of it is needed to understand or train the network,
#   and a student reading the library can stop here.
#
# #############################################################################


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

    image: (1, H, W) or (H, W) -> a list with one (C, H', W') array per Conv2D layer:
    its output after the activation that follows it (ReLU / LeakyReLU), if any,
    since that is what the next layer receives.
    """
    x = np.asarray(image, dtype=np.float32).reshape(1, 1, *np.shape(image)[-2:])
    conv_positions = [i for i, layer in enumerate(model.layers) if isinstance(layer, Conv2D)]
    if not conv_positions:
        return []
    outputs = []                          # outputs[i] = what layer i returns
    for layer in model.layers[:conv_positions[-1] + 2]:
        # A shallow copy in eval mode shares the weights but keeps its own forward
        # cache, so a backward pending on the model's layers is not clobbered.
        twin = copy.copy(layer)
        twin.training = False
        x = twin.forward(x)
        outputs.append(x)
    maps = []
    for i in conv_positions:
        activation_follows = i + 1 < len(outputs) and isinstance(model.layers[i + 1], (ReLU, LeakyReLU))
        maps.append(np.array(outputs[i + 1 if activation_follows else i][0], dtype=np.float64))
    return maps


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


# Accessibility. ipywidgets has no way to set ARIA attributes: the slider's handle
# has no accessible name, a picture has no alt text and a ToggleButton does not say
# whether it is pressed. So each widget keeps the attributes it wants in Python
# (``aria``: CSS selector -> {attribute: value}, updated as the widget changes) and a
# hidden helper view, a few lines of JavaScript, copies them onto the matching
# elements inside the widget, also onto elements the browser creates later.
_ARIA_JAVASCRIPT = """
function render({ model, el }) {
  el.style.display = "none";
  let root = null, timer = null;
  function apply() {
    if (!root) return;
    for (const [selector, attributes] of Object.entries(model.get("attributes"))) {
      for (const element of root.querySelectorAll(selector)) {
        for (const [name, value] of Object.entries(attributes)) {
          if (element.getAttribute(name) !== value) element.setAttribute(name, value);
        }
      }
    }
  }
  const observer = new MutationObserver(apply);
  function attach() {                    // our element joins the page after render()
    root = el.closest(model.get("root"));
    if (!root) { timer = setTimeout(attach, 50); return; }
    observer.observe(root, { childList: true, subtree: true });
    apply();
  }
  attach();
  model.on("change:attributes", apply);
  return () => { clearTimeout(timer); observer.disconnect(); model.off("change:attributes", apply); };
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


class _WidgetView:
    """Shows as its ipywidgets container ``self.widget`` in a notebook. Its text form
    (text/plain, what a static copy shows where no widget can run: nbconvert's
    Markdown or PDF, GitHub) says what the widget is and points to the figure below it."""

    def _repr_mimebundle_(self, **kwargs):
        bundle = self.widget._repr_mimebundle_(**kwargs)
        bundle["text/plain"] = self.static_text()
        return bundle

    def static_text(self) -> str:
        return (f"[{self.NAME}: an interactive widget. It needs Jupyter with a running kernel; "
                f"in a static copy of the notebook, the figure below shows the same view.]")

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
    ``feature_map_images``, ``aria`` (the accessibility attributes), ``index``
    (the test image shown), ``widget`` (the whole ipywidgets.VBox).

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
        self.previous_button = widgets.Button(description="previous mistake", icon="arrow-left",
                                              tooltip="jump to the previous misclassified test image",
                                              disabled=no_mistakes, layout=widgets.Layout(width="150px"))
        self.next_button = widgets.Button(description="next mistake", icon="arrow-right",
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
        self.aria = _anywidget_class("AriaAttributes")(root=".scratchcnn-digit-slider")
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
    _check_png_size(data[:24], "the drawing")
    return to_grey(matplotlib.image.imread(io.BytesIO(data), format="png"))


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
            hidden.append(np.asarray(h, dtype=np.float64).reshape(len(h), -1))
            logits.append(np.asarray(model.layers[-1].forward(h), dtype=np.float64))
        return np.concatenate(hidden), np.concatenate(logits)
    finally:
        for layer, mode in zip(model.layers, was_training):
            layer.training = mode


class DigitLikeness:
    """Does a 28 x 28 picture look like an MNIST digit at all?

    A network trained on digits has no "none of these" answer: softmax makes its
    ten probabilities add up to 1 whatever it is shown, so a dot can come out as
    "0, 99.96% sure". The probability says "more like a 0 than like the other
    nine", not "this is surely a digit". Two measures, each compared with what
    the real MNIST test digits do (so nothing here is guessed):

    * **ink**: the sum of the 28 x 28 pixel values. After preprocessing scaled the
      drawing to 20 pixels, a dot is a filled disc with more ink than almost any digit.
      Outside the range of the middle 99.8 % of the test digits (0.1st to 99.9th
      percentile) the picture has too little or too much ink for a digit.
    * **typical for its answer**: the distance of the picture's hidden features
      (what the last layer receives, see ``_features_and_logits``) from the mean
      features of the test digits that the network gives the same answer. Beyond
      the 99.9th percentile of those digits' own distances, the picture is unlike
      the digits the network calls by that name (an X read as a 4, a dash read as a 2).

    The test digits go through ``preprocess_digit`` first, like a drawing, so that
    both are measured after the same steps. ``reasons(picture)`` -> a list of
    sentences, one per measure that is out of range (empty: it looks like a digit).
    Measuring the test set takes seconds: ``digit_likeness(model)`` does it once per model.
    """

    PERCENTILE = 99.9

    def __init__(self, model: Sequential, images=None):
        if images is None:
            images, _ = load_mnist("test")
        self.model = model
        images = np.stack([preprocess_digit(image.reshape(image.shape[-2:])) for image in images])[:, None]
        ink = images.reshape(len(images), -1).sum(axis=1, dtype=np.float64)
        self.ink_range = tuple(float(v) for v in np.percentile(ink, [100 - self.PERCENTILE, self.PERCENTILE]))
        hidden, logits = _features_and_logits(model, images)
        answers = logits.argmax(axis=1)
        self.centres = np.zeros((logits.shape[1], hidden.shape[1]))
        self.distance_limits = np.full(logits.shape[1], np.inf)   # inf: too few digits to say
        for k in range(logits.shape[1]):
            mine = hidden[answers == k]
            if len(mine) >= 100:
                self.centres[k] = mine.mean(axis=0)
                self.distance_limits[k] = np.percentile(np.linalg.norm(mine - self.centres[k], axis=1),
                                                        self.PERCENTILE)

    def measure(self, picture: np.ndarray) -> dict:
        """The picture's ink, its answer, and its features' distance from that answer's centre."""
        picture = np.asarray(picture, dtype=np.float32).reshape(1, 1, 28, 28)
        hidden, logits = _features_and_logits(self.model, picture)
        answer = int(logits.argmax())
        return {"ink": float(picture.sum(dtype=np.float64)), "answer": answer,
                "distance": float(np.linalg.norm(hidden[0] - self.centres[answer])),
                "distance_limit": float(self.distance_limits[answer])}

    def reasons(self, picture: np.ndarray) -> list[str]:
        """Why the picture does not look like an MNIST digit: [] when it does."""
        m, (low, high) = self.measure(picture), self.ink_range
        reasons = []
        if not low <= m["ink"] <= high:
            reasons.append(f"it has {'too little' if m['ink'] < low else 'too much'} ink: {m['ink']:.0f} "
                           f"(the sum of its 28 x 28 pixels), where 99.8% of MNIST's test digits have "
                           f"{low:.0f} to {high:.0f}")
        if m["distance"] > m["distance_limit"]:
            reasons.append(f"inside the network it looks like no {m['answer']} it knows: its hidden features "
                           f"are further from those of a typical {m['answer']} ({m['distance']:.0f}) than "
                           f"for 99.9% of the test digits it reads as {m['answer']} (at most "
                           f"{m['distance_limit']:.0f})")
        return reasons


_likeness_cache = {}


def digit_likeness(model: Sequential) -> DigitLikeness:
    """The DigitLikeness of ``model`` on the MNIST test set, measured once per model
    and weights (a model trained further is measured again)."""
    weights = hashlib.sha256()
    for layer in model.layers:
        for name in sorted(layer.params):
            weights.update(np.ascontiguousarray(layer.params[name]).tobytes())
    key = (id(model), weights.hexdigest())
    if key not in _likeness_cache:
        _likeness_cache[key] = DigitLikeness(model)
    return _likeness_cache[key]


class DrawingPad(_WidgetView):
    """Draw a digit with the mouse and watch the network read it.

    On mouse release the drawing goes through ``preprocess_digit`` (crop to the
    ink, scale to 20 pixels, centre of mass to the middle of 28 x 28), each step
    is shown with its size, and the prediction and its ten probabilities appear.
    When the drawing does not look like an MNIST digit (``DigitLikeness``) a note
    says so, and that the network's probability does not know it.

    Parts: ``canvas`` (the anywidget; its ``png`` trait carries the drawing),
    ``clear_button``, ``step_labels`` (four HTML titles with sizes), ``step_images``
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
        self.likeness = likeness if likeness is not None else digit_likeness(self.model)
        self.canvas = _anywidget_class("DrawingCanvas")(size=size)
        self.clear_button = widgets.Button(description="clear", icon="eraser", tooltip="wipe the drawing",
                                           layout=widgets.Layout(width="100px"))
        self.prediction_label = widgets.HTML()
        self.note_label = widgets.HTML(layout=widgets.Layout(max_width="480px"))
        self.step_labels = [widgets.HTML(layout=widgets.Layout(width="116px")) for _ in self.STEP_TITLES]
        self.step_images = [widgets.Image(format="png", layout=widgets.Layout(width="112px", height="112px"))
                            for _ in self.STEP_TITLES]
        bars_box, self.bars, self._percents = _probability_bars(widgets)
        steps_box = widgets.HBox([widgets.VBox([label, picture])
                                  for label, picture in zip(self.step_labels, self.step_images)])
        self.aria = _anywidget_class("AriaAttributes")(root=".scratchcnn-drawing-pad")
        self.widget = widgets.HBox([
            widgets.VBox([self.canvas, self.clear_button]),
            widgets.VBox([steps_box, self.prediction_label, self.note_label, bars_box]),
            self.aria,
        ], layout=widgets.Layout(flex_flow="row wrap", grid_gap="16px"))
        self.widget.add_class("scratchcnn-drawing-pad")
        self.prediction_label.add_class("scratchcnn-prediction")
        self.note_label.add_class("scratchcnn-not-a-digit")
        for number, picture in enumerate(self.step_images, start=1):
            picture.add_class(f"scratchcnn-step-{number}")
        self.canvas.observe(self._drawing_changed, names="png")
        self.clear_button.on_click(lambda button: self.clear())
        self.clear()

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
    ``likeness``: a DigitLikeness of the same model (default ``digit_likeness(model)``)."""
    return DrawingPad(model, likeness=likeness)



# =============================================================================
# 12. Exercise checks
# =============================================================================
#
# Every exercise in the notebooks is a function the student writes. Its check
# runs it on hidden cases and returns a CheckResult that prints one verdict.
# When the answer is wrong, the check first asks which known mistake it is:
# each exercise lists the typical mistakes (Mistake) as small wrong functions,
# and an answer whose outputs equal a mistake's on every case is told that
# mistake's name and fix. Only when none matches does the verdict fall back to
# the first failing case, expected against actual, and that case's hint.
#
# A check never raises and never hangs, whatever the answer does: it may return
# None, a string, a ragged list, raise, print, loop forever (each case has a
# time limit) or edit its input arrays (that earns a warning naming the
# argument). In a notebook the graded cell under each exercise is
#
#     result = scratchcnn.check_<exercise>(<exercise>)
#     assert result, result.message
#
# so nbgrader scores the assert, and the cell's `raises-exception` tag lets a
# student's Run All go on past an exercise not yet answered (TEACHING.md).


class Case:
    """One hidden test case: answer(*args) should return ``expected``."""

    def __init__(self, description, args, expected, hint="", rtol=1e-6, atol=1e-8):
        self.description, self.args, self.expected = description, args, expected
        self.hint, self.rtol, self.atol = hint, rtol, atol


class Mistake:
    """A typical wrong answer: ``produce(*case.args)`` returns what an answer with
    this mistake returns; ``name`` says what the mistake is and ``fix`` how to mend it."""

    def __init__(self, name, produce, fix):
        self.name, self.produce, self.fix = name, produce, fix


class CheckResult:
    """The verdict of a check: truthy when every case passed; ``message`` says why not
    (the mistake it matches, or the failing case). Shown as its message."""

    def __init__(self, name, passed, message, mistake=None):
        self.name, self.passed, self.message, self.mistake = name, passed, message, mistake

    def __bool__(self):
        return self.passed

    def __repr__(self):
        return self.message

    __str__ = __repr__


def _short(value, limit=80):
    """A one-line repr of a value for a verdict, cut to ``limit`` characters."""
    try:
        text = repr(value) if not isinstance(value, np.ndarray) else \
            f"array of shape {value.shape} and dtype {value.dtype}"
    except Exception:                                  # a repr that raises is itself junk
        text = f"<{type(value).__name__}>"
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _as_number_array(actual):
    """``actual`` as a float array, or a sentence saying why it is not one."""
    if isinstance(actual, str):
        return None, f"got the string {_short(actual)}, not numbers"
    try:
        array = np.asarray(actual)
    except Exception:                                  # ragged nested lists on NumPy 2
        return None, f"got {_short(actual)}, which is not a rectangular array of numbers"
    if array.dtype == object or array.dtype.kind in "USV":
        return None, f"got {_short(actual)}, which is not an array of numbers"
    if array.dtype.kind == "b":
        return None, f"got booleans {_short(actual)}, not numbers"
    return array.astype(np.float64), None


def _compare(expected, actual, rtol, atol):
    """None if actual matches expected, else a sentence saying how it differs. Never raises."""
    if actual is None and expected is not None:
        return f"expected {_short(expected)}, got None (does the function `return` its result?)"
    if isinstance(expected, (tuple, list)):
        if isinstance(actual, np.ndarray):
            actual = actual.tolist()          # e.g. np.array(shape) for an expected shape tuple
        if not isinstance(actual, (tuple, list)) or len(actual) != len(expected):
            return f"expected {_short(expected)}, got {_short(actual)}"
        for position, (e, a) in enumerate(zip(expected, actual)):
            problem = _compare(e, a, rtol, atol)
            if problem:
                return f"item {position}: {problem}"
        return None
    if isinstance(expected, np.ndarray):
        actual_array, problem = _as_number_array(actual)
        if problem:
            return f"expected an array of shape {expected.shape}; {problem}"
        if actual_array.shape != expected.shape:
            return f"expected shape {expected.shape}, got shape {actual_array.shape}"
        close = np.isclose(actual_array, expected, rtol=rtol, atol=atol, equal_nan=True)
        if not close.all():
            with np.errstate(invalid="ignore", over="ignore"):     # inf - inf in a wrong answer
                difference = np.where(close, 0.0, np.nan_to_num(np.abs(actual_array - expected), nan=np.inf))
            index = np.unravel_index(np.argmax(difference), expected.shape)
            return (f"wrong values at {(~close).sum()} of {close.size} positions: at index "
                    f"{tuple(int(i) for i in index)} expected {expected[index]:.6g}, "
                    f"got {actual_array[index]:.6g}")
        return None
    if isinstance(expected, (int, float, np.number)) and not isinstance(expected, bool):
        if isinstance(actual, str):
            return f"expected the number {expected!r}, got the string {_short(actual)}"
        if isinstance(actual, (bool, np.bool_)):
            return f"expected the number {expected!r}, got {actual!r}"
        try:
            number = float(actual)                    # also a 0-d or one-element array
        except Exception:
            return f"expected the number {expected!r}, got {_short(actual)}"
        if isinstance(expected, (int, np.integer)):
            # Exact, and printed in full: .6g would show 47040000 and 47040016 alike.
            return None if number == int(expected) else f"expected {int(expected):,}, got {_short(actual)}"
        ok = np.isclose(number, float(expected), rtol=rtol, atol=atol, equal_nan=True)
        return None if ok else f"expected {expected:.6g}, got {number:.6g}"
    try:
        same = bool(actual == expected)
    except Exception:
        same = False
    return None if same else f"expected {_short(expected)}, got {_short(actual)}"


class _TimeLimit(BaseException):
    """Raised inside an answer that ran past its time limit (BaseException, so a
    bare ``except Exception`` in the answer cannot swallow it)."""


def _call_with_time_limit(function, args, seconds):
    """Run ``function(*args)`` in a thread for at most ``seconds``.

    Returns (value, error, timed_out, printed). A thread, not a process: the
    answer runs in the notebook's own kernel, with its globals. A runaway loop
    is stopped by raising _TimeLimit inside the thread."""
    import contextlib
    import ctypes
    import io
    import threading

    outcome, printed = {}, io.StringIO()

    def run():
        try:
            with np.errstate(all="ignore"):   # overflow and NaN show in the verdict, not as warnings
                outcome["value"] = function(*args)
        except BaseException as error:        # anything, even SystemExit, is the answer's error
            outcome["error"] = error

    with contextlib.redirect_stdout(printed):
        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        thread.join(seconds)
        for _ in range(20):                   # stop a runaway answer; retry if it catches it
            if not thread.is_alive():
                break
            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident),
                                                       ctypes.py_object(_TimeLimit))
            thread.join(0.05)
    if "value" not in outcome and ("error" not in outcome or isinstance(outcome["error"], _TimeLimit)):
        return None, None, True, printed.getvalue()
    return outcome.get("value"), outcome.get("error"), False, printed.getvalue()


def _argument_names(answer, count):
    """The answer's parameter names, for messages ("argument `x`")."""
    import inspect
    try:
        names = [p.name for p in inspect.signature(answer).parameters.values()]
    except (TypeError, ValueError):
        names = []
    return [f"`{names[i]}`" if i < len(names) else f"number {i + 1}" for i in range(count)]


def _edited_arguments(originals, after):
    """Positions of the arguments the answer changed in place."""
    edited = []
    for position, (before, now) in enumerate(zip(originals, after)):
        try:
            if isinstance(before, np.ndarray):
                changed = not np.array_equal(before, now, equal_nan=before.dtype.kind in "fc")
            elif isinstance(before, (list, tuple, dict, int, float, str)):
                changed = bool(before != now)
            else:
                changed = False           # a model or other object: deep copies never compare equal
        except Exception:
            changed = False
        if changed:
            edited.append(position)
    return edited


def check_exercise(name, answer, cases, mistakes=(), time_limit=5.0, compare=None):
    """Run ``answer`` on every case; return a CheckResult and print its verdict.

    ``mistakes``: Mistake objects; a wrong answer that behaves like one is told its
    name and fix. ``compare(expected, actual, case)``: a custom comparison returning
    None or a sentence (default: ``_compare`` with the case's tolerances)."""
    compare = compare or (lambda expected, actual, case: _compare(expected, actual, case.rtol, case.atol))

    def verdict(passed, message, mistake=None):
        print(message)
        return CheckResult(name, passed, message, mistake)

    if not callable(answer):
        return verdict(False, f"{name}: expected a function, got {_short(answer)}. Pass the function "
                              f"itself, without calling it: check_{name}({name}), not check_{name}({name}()).")
    results, warnings, printed_once = [], [], ""
    for case in cases:
        originals, args = _copy_arguments(case.args), _copy_arguments(case.args)
        value, error, timed_out, printed = _call_with_time_limit(answer, args, time_limit)
        printed_once = printed_once or printed
        if isinstance(error, NotImplementedError):
            return verdict(False, f"{name}: not implemented yet")
        if timed_out:
            return verdict(False, f"{name}: your function took longer than {time_limit:g} s on case "
                                  f"'{case.description}' and was stopped: look for a loop that never ends "
                                  f"(a while loop whose variable never changes, say).")
        for position in _edited_arguments(originals, args):
            argument = _argument_names(answer, len(args))[position]
            warning = (f"  warning: your function changed its argument {argument} in place (case "
                       f"'{case.description}'); the caller's array changes too. Work on a copy "
                       f"(e.g. x = x.copy()) or build a new array.")
            if warning.split(" (case")[0] not in "".join(warnings):
                warnings.append(warning)
        if error is not None:
            problem = f"raised {type(error).__name__}: {error}"
        else:
            problem = compare(case.expected, value, case)
        results.append((case, value, error, problem))

    if all(problem is None for _, _, _, problem in results):
        count = len(cases)
        message = f"{name}: all {count} cases pass" if count > 1 else f"{name}: the case passes"
        return verdict(True, "\n".join([message] + warnings))

    mistake = _matching_mistake(results, mistakes, compare)
    case, _, _, problem = next(r for r in results if r[3] is not None)
    if mistake is not None:
        lines = [f"{name}: wrong. Your answer behaves like a known mistake: {mistake.name}.",
                 f"  fix: {mistake.fix}",
                 f"  (first failing case '{case.description}': {problem})"]
    else:
        lines = [f"{name}: case '{case.description}' failed: {problem}"]
        if case.hint:
            lines.append(f"  hint: {case.hint}")
    if printed_once:
        first_lines = printed_once.strip().splitlines()[:3]
        lines.append("  your function printed: " + " | ".join(line[:60] for line in first_lines))
    return verdict(False, "\n".join(lines + warnings), mistake)


def _matching_mistake(results, mistakes, compare):
    """The first mistake whose outputs equal the answer's on every case where the
    mistake is defined (its produce returns), and which is wrong somewhere."""
    for mistake in mistakes:
        compared = differs_from_expected = 0
        for case, value, error, _ in results:
            try:
                with np.errstate(all="ignore"):
                    wrong_value = mistake.produce(*_copy_arguments(case.args))
            except Exception:
                continue                              # the mistake is not defined on this case
            compared += 1
            if error is not None or compare(wrong_value, value, case) is not None:
                break
            differs_from_expected += compare(case.expected, wrong_value, case) is not None
        else:
            if compared and differs_from_expected:
                return mistake
    return None


def _copy_arguments(args):
    """Deep copies of a case's arguments, so no answer or mistake can edit the case."""
    import copy
    return copy.deepcopy(list(args))


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


# --- Notebook 02: convolution, forward ---------------------------------------

def check_output_size(answer):
    """Notebook 02, ``output_size(H, k, s, p) -> int``: H' = (H + 2p - k) // s + 1."""
    configurations = [
        ("28, k 3, no padding", (28, 3, 1, 0)),
        ("28, k 3, padding 1", (28, 3, 1, 1)),
        ("28, k 2, stride 2", (28, 2, 2, 0)),
        ("28, k 3, stride 2, padding 1 (the stride does not divide)", (28, 3, 2, 1)),
        ("7, k 3, stride 2 (odd size)", (7, 3, 2, 0)),
        ("5, k 5 (kernel as large as the input)", (5, 5, 1, 0)),
        ("32, k 5, stride 3, padding 2", (32, 5, 3, 2)),
        ("10, k 4, stride 3, padding 0 (remainder 0)", (10, 4, 3, 0)),
    ]
    cases = [Case(description, args, conv_output_size(*args),
                  "count the window positions 0, s, 2s, ... with s*y + k <= H + 2p", rtol=0, atol=0)
             for description, args in configurations]
    mistakes = [
        Mistake("padding added on one side only (H + p)", lambda H, k, s, p: (H + p - k) // s + 1,
                "padding adds p pixels on BOTH sides: H + 2p"),
        Mistake("true division / instead of integer division //", lambda H, k, s, p: (H + 2 * p - k) / s + 1,
                "when s does not divide H + 2p - k the last partial step is dropped: use //, "
                "the answer is a whole number"),
        Mistake("rounded up instead of down", lambda H, k, s, p: -(-(H + 2 * p - k) // s) + 1,
                "a window that sticks out of the padded input does not count: round down (//)"),
        Mistake("the + 1 forgotten (off by one)", lambda H, k, s, p: (H + 2 * p - k) // s,
                "the + 1 counts the first window, at position 0"),
        Mistake("the kernel not subtracted ((H + 2p) // s + 1)", lambda H, k, s, p: (H + 2 * p) // s + 1,
                "the window must fit: its start goes up to H + 2p - k"),
    ]
    return check_exercise("output_size", answer, cases, mistakes=mistakes)


def _conv_variants(reference):
    """Typical mistakes of a convolution forward, each built from ``reference(x, W, b, stride, padding)``
    (4-D conv2d_naive arguments); used by the one-channel and the whole-layer exercise."""
    def stride_ignored(x, W, b, s, p):          # windows at (y, x) instead of (s*y, s*x)
        H_out, W_out = conv_output_size(x.shape[2], W.shape[2], s, p), conv_output_size(x.shape[3], W.shape[3], s, p)
        return reference(x, W, b, 1, p)[:, :, :H_out, :W_out]

    return [
        ("the kernel flipped (true convolution instead of cross-correlation)",
         lambda x, W, b, s, p: reference(x, W[:, :, ::-1, ::-1], b, s, p),
         "deep learning's convolution does not flip: out[y, x] = sum_ij in[s*y + i, s*x + j] * w[i, j]"),
        ("the padding ignored", lambda x, W, b, s, p: reference(x, W, b, s, 0),
         "pad p zeros on all four sides first (np.pad), then slide the kernel over the padded input"),
        ("the window at (y, x) instead of (s*y, s*x) (stride ignored inside the loop)", stride_ignored,
         "output (y, x) reads the patch starting at (s*y, s*x)"),
        ("the output one row and one column too small (the + 1 of H' forgotten)",
         lambda x, W, b, s, p: reference(x, W, b, s, p)[:, :, :-1, :-1],
         "H' = (H + 2p - k) // s + 1: range(H_out) must include the last window"),
    ]


def check_conv2d_single(answer):
    """Notebook 02, ``conv2d_single(image (H, W), kernel (k, k), stride, padding) -> (H', W')``, with loops, no bias."""
    rng = np.random.default_rng(2)
    configurations = [
        ("3x3 image, 2x2 kernel (the worked example)", np.array([[1.0, 2.0, 0.0], [0.0, 1.0, 3.0], [2.0, 1.0, 0.0]]),
         np.array([[1.0, 2.0], [0.0, -1.0]]), 1, 0),
        ("5x6 image, asymmetric 3x3 kernel", rng.standard_normal((5, 6)), rng.standard_normal((3, 3)), 1, 0),
        ("5x5 image, padding 1", rng.standard_normal((5, 5)), rng.standard_normal((3, 3)), 1, 1),
        ("7x7 image, stride 2", rng.standard_normal((7, 7)), rng.standard_normal((3, 3)), 2, 0),
        ("8x5 image, stride 2 (does not divide), padding 2", rng.standard_normal((8, 5)),
         rng.standard_normal((3, 3)), 2, 2),
        ("integer 4x6 image and kernel", rng.integers(-3, 4, (4, 6)), rng.integers(-2, 3, (2, 2)), 1, 0),
    ]

    def single(conv):                           # a 4-D convolution used on one image and one kernel
        return lambda image, kernel, s, p: conv(image[None, None], kernel[None, None], np.zeros(1), s, p)[0, 0]

    cases = [Case(description, (image, kernel, s, p), single(conv2d_naive)(image, kernel, s, p),
                  "out[y, x] = sum(padded[s*y:s*y+k, s*x:s*x+k] * kernel), H' = (H + 2p - k) // s + 1 per axis")
             for description, image, kernel, s, p in configurations]
    mistakes = [Mistake(name, single(wrong), fix) for name, wrong, fix in _conv_variants(conv2d_naive)]
    return check_exercise("conv2d_single", answer, cases, mistakes=mistakes)


def check_predicted_output_shape(answer):
    """Notebook 02, ``predicted_output_shape()``: the shape of
    Conv2D(3, 8, kernel_size=5, stride=2, padding=1) applied to x of shape (4, 3, 32, 32)."""
    layer = Conv2D(3, 8, kernel_size=5, stride=2, padding=1, rng=np.random.default_rng(0), dtype=np.float64)
    expected = tuple(layer.forward(np.zeros((4, 3, 32, 32))).shape)
    cases = [Case("Conv2D(3, 8, kernel_size=5, stride=2, padding=1) on (4, 3, 32, 32)", (), expected,
                  "(N, F, H', W') with H' = (32 + 2*1 - 5) // 2 + 1", rtol=0, atol=0)]
    mistakes = [
        Mistake("the input's 3 channels instead of the 8 filters", lambda: (4, 3, 15, 15),
                "the output has one channel per filter: F = 8"),
        Mistake("the stride ignored", lambda: (4, 8, 30, 30), "with stride 2, H' = (32 + 2 - 5) // 2 + 1"),
        Mistake("the padding ignored", lambda: (4, 8, 14, 14), "padding 1 adds a pixel on both sides: 32 + 2"),
        Mistake("rounded up", lambda: (4, 8, 16, 16), "(34 - 5) // 2 = 14 rounds down; then + 1"),
        Mistake("channels last (N, H', W', F)", lambda: (4, 15, 15, 8), "the course's layout is NCHW: (N, F, H', W')"),
    ]
    return check_exercise("predicted_output_shape", answer, cases, mistakes=mistakes)


def check_im2col_shape(answer):
    """Notebook 02, ``im2col_shape(x_shape, k, s, p) -> (rows, columns)`` of im2col's matrix."""
    configurations = [
        ("the worked example: (1, 1, 3, 3), k 2", ((1, 1, 3, 3), 2, 1, 0)),
        ("3 channels, 2 images, padding 1", ((2, 3, 5, 5), 3, 1, 1)),
        ("(4, 8, 28, 28), k 3, stride 2, padding 1", ((4, 8, 28, 28), 3, 2, 1)),
        ("odd and non-square: (3, 2, 7, 6), k 3, stride 2", ((3, 2, 7, 6), 3, 2, 0)),
    ]
    cases = [Case(description, args, tuple(im2col(np.zeros(args[0]), *args[1:]).shape),
                  "rows: one per kernel weight of a filter; columns: one per output position of the whole batch",
                  rtol=0, atol=0) for description, args in configurations]
    out = lambda shape, k, s, p: (conv_output_size(shape[2], k, s, p), conv_output_size(shape[3], k, s, p))
    mistakes = [
        Mistake("the channels left out of the rows (k*k instead of C*k*k)",
                lambda shape, k, s, p: (k * k, shape[0] * math.prod(out(shape, k, s, p))),
                "a column holds the whole patch, all C channels: C*k*k rows"),
        Mistake("the batch left out of the columns (H'*W' instead of N*H'*W')",
                lambda shape, k, s, p: (shape[1] * k * k, math.prod(out(shape, k, s, p))),
                "every image of the batch adds its own H'*W' columns"),
        Mistake("rows and columns swapped",
                lambda shape, k, s, p: (shape[0] * math.prod(out(shape, k, s, p)), shape[1] * k * k),
                "im2col puts each patch in a COLUMN: (C*k*k, N*H'*W')"),
        Mistake("the input size H*W instead of the output size H'*W' in the columns",
                lambda shape, k, s, p: (shape[1] * k * k, shape[0] * shape[2] * shape[3]),
                "one column per OUTPUT position: H' = (H + 2p - k) // s + 1"),
    ]
    return check_exercise("im2col_shape", answer, cases, mistakes=mistakes)


def _conv_layer_cases(rng, settings):
    """Random (x, W, b) for each (description, N, C, H, W, F, k, stride, padding[, integer])."""
    cases = []
    for description, N, C, H, W_in, F, k, s, p, *integer in settings:
        if integer:
            x, W, b = rng.integers(-3, 4, (N, C, H, W_in)), rng.integers(-2, 3, (F, C, k, k)), rng.integers(-2, 3, F)
        else:
            x, W, b = rng.standard_normal((N, C, H, W_in)), rng.standard_normal((F, C, k, k)), rng.standard_normal(F)
        cases.append((description, x, W, b, s, p))
    return cases


def check_conv2d_forward_loops(answer):
    """Notebook 02, ``conv2d_forward_loops(x (N, C, H, W), W (F, C, k, k), b (F,), stride, padding)
    -> (N, F, H', W')``."""
    settings = [
        ("1 image, 1 channel, 1 filter, 4x4, k 3", 1, 1, 4, 4, 1, 3, 1, 0),
        ("2 images, 3 channels, 4 filters, 5x5, k 3, padding 1", 2, 3, 5, 5, 4, 3, 1, 1),
        ("non-square 7x6, stride 2, padding 1, 2 channels, 3 filters", 2, 2, 7, 6, 3, 3, 2, 1),
        ("a batch of one, 9x8, k 4, stride 3 (does not divide), padding 2", 1, 3, 9, 8, 2, 4, 3, 2),
        ("integer inputs, 2 images, 2 channels, 2 filters, 6x5, stride 2", 2, 2, 6, 5, 2, 3, 2, 0, "integer"),
    ]
    hint = "out[n, f, y, x] = b[f] + sum over c, i, j of W[f, c, i, j] * x_pad[n, c, s*y + i, s*x + j]"
    cases = [Case(description, (x, W, b, s, p), conv2d_naive(x, W, b, s, p), hint)
             for description, x, W, b, s, p in _conv_layer_cases(np.random.default_rng(20), settings)]
    mistakes = [Mistake(name, wrong, fix) for name, wrong, fix in _conv_variants(conv2d_naive)] + [
        Mistake("the bias forgotten", lambda x, W, b, s, p: conv2d_naive(x, W, 0 * b, s, p),
                "add b[f] to every output of filter f"),
        Mistake("the channels not summed: each channel's result overwrites the previous one (= instead of +=)",
                lambda x, W, b, s, p: conv2d_naive(x[:, -1:], W[:, -1:], b, s, p),
                "a filter adds up its C channels: sum over c (np.sum over the whole (C, k, k) patch, or +=)"),
        Mistake("only the first channel used",
                lambda x, W, b, s, p: conv2d_naive(x[:, :1], W[:, :1], b, s, p),
                "the patch is x_pad[n, :, ...], all C channels, times W[f], all C channels"),
    ]
    return check_exercise("conv2d_forward_loops", answer, cases, mistakes=mistakes)


# --- Notebook 03: convolution, backward --------------------------------------

def _col2im_loops_variant(cols, x_shape, k, s=1, p=0, *, assign=False, swap_ij=False, column_uses_H=False,
                          stride_ignored=False, padding_kept=False):
    """col2im with six loops; the flags reproduce the typical mistakes of notebook 03's exercise."""
    N, C, H, W = x_shape
    H_out, W_out = conv_output_size(H, k, s, p), conv_output_size(W, k, s, p)
    dx_padded = np.zeros((N, C, H + 2 * p, W + 2 * p))
    step = 1 if stride_ignored else s
    for c, i, j, n, u, v in np.ndindex(C, k, k, N, H_out, W_out):
        row = c * k * k + (j * k + i if swap_ij else i * k + j)
        column = n * H_out * W_out + u * (H_out if column_uses_H else W_out) + v
        value = cols[row, column] if column < cols.shape[1] else 0.0
        if assign:
            dx_padded[n, c, step * u + i, step * v + j] = value
        else:
            dx_padded[n, c, step * u + i, step * v + j] += value
    return dx_padded if padding_kept else dx_padded[:, :, p:p + H, p:p + W]


def check_col2im_loops(answer):
    """Notebook 03, ``col2im_loops(cols (C*k*k, N*H'*W'), x_shape, k, s, p) -> (N, C, H, W)``, with loops."""
    rng = np.random.default_rng(3)
    configurations = [
        ("all-ones columns, (1, 1, 3, 3), k 2 (overlapping patches)", (1, 1, 3, 3), 2, 1, 0, "ones"),
        ("random columns, (1, 1, 4, 4), k 3", (1, 1, 4, 4), 3, 1, 0, "random"),
        ("2 images, 2 channels, 4x5, k 3, padding 1", (2, 2, 4, 5), 3, 1, 1, "random"),
        ("7x7, k 3, stride 2", (1, 1, 7, 7), 3, 2, 0, "random"),
        ("3 images, 2 channels, 5x6 (H' = 3, W' = 4), k 2, stride 2, padding 1", (3, 2, 5, 6), 2, 2, 1, "random"),
    ]
    cases = []
    for description, x_shape, k, s, p, kind in configurations:
        N, C, H, W = x_shape
        shape = (C * k * k, N * conv_output_size(H, k, s, p) * conv_output_size(W, k, s, p))
        cols = np.ones(shape) if kind == "ones" else rng.standard_normal(shape)
        cases.append(Case(description, (cols, x_shape, k, s, p), col2im(cols, x_shape, k, s, p),
                          "dx_padded[n, c, s*u + i, s*v + j] += cols[c*k*k + i*k + j, n*H'*W' + u*W' + v], "
                          "then crop the padding"))
    variant = lambda **flags: lambda cols, x_shape, k, s, p: _col2im_loops_variant(cols, x_shape, k, s, p, **flags)
    mistakes = [
        Mistake("= instead of += (overlapping patches keep only the last value)", variant(assign=True),
                "a pixel in several patches collects ALL their values: dx_padded[...] += cols[row, column]"),
        Mistake("the column index with H' where W' belongs (n*H'*W' + u*H' + v)", variant(column_uses_H=True),
                "columns are ordered (n, u, v): column = n*H'*W' + u*W' + v (a row of outputs is W' long)"),
        Mistake("i and j swapped in the row index (c*k*k + j*k + i)", variant(swap_ij=True),
                "rows are ordered (c, i, j), i the kernel row: row = c*k*k + i*k + j"),
        Mistake("the stride ignored (patch (u, v) placed at (u + i, v + j))", variant(stride_ignored=True),
                "column (n, u, v) came from the patch starting at (s*u, s*v): add at (s*u + i, s*v + j)"),
        Mistake("the padding not cropped", variant(padding_kept=True),
                "return dx_padded[:, :, p:p + H, p:p + W]: the padding zeros are not inputs"),
    ]
    return check_exercise("col2im_loops", answer, cases, mistakes=mistakes)


def check_bias_gradient(answer):
    """Notebook 03, ``bias_gradient(dout (N, F, H', W')) -> dL/db (F,)``."""
    rng = np.random.default_rng(4)
    douts = [("a batch of 4 images, 2 filters, 3x5", rng.standard_normal((4, 2, 3, 5))),
             ("1 image, 3 filters, 2x2 (a batch of one)", rng.standard_normal((1, 3, 2, 2))),
             ("2 images, 5 filters, 1x1 output", rng.standard_normal((2, 5, 1, 1))),
             ("3 images, 3 filters, 4x4 (N = F)", rng.standard_normal((3, 3, 4, 4)))]
    cases = [Case(description, (dout,), _conv_backward_reference(np.zeros((dout.shape[0], 1) + dout.shape[2:]),
                                                                np.zeros((dout.shape[1], 1, 1, 1)), dout)[2],
                  "db[f] = sum over n, y, x of dout[n, f, y, x]") for description, dout in douts]
    mistakes = [
        Mistake("the mean instead of the sum", lambda dout: dout.mean(axis=(0, 2, 3)),
                "b[f] is added to every output of filter f, and every use collects its gradient: a sum"),
        Mistake("summed over the wrong axis (the filters instead of the batch)", lambda dout: dout.sum(axis=(1, 2, 3)),
                "keep axis 1 (the filters): dout.sum(axis=(0, 2, 3))"),
        Mistake("only the first image of the batch", lambda dout: dout[0].sum(axis=(1, 2)),
                "sum over the whole batch too: axis 0"),
        Mistake("not summed over the batch (one row per image)", lambda dout: dout.sum(axis=(2, 3)),
                "the bias is shared by all images: sum over axis 0 as well"),
    ]
    return check_exercise("bias_gradient", answer, cases, mistakes=mistakes)


def check_predicted_gradients_1d(answer):
    """Notebook 03, ``predicted_gradients_1d() -> (dL/dw, dL/dx)`` for y = correlate(x, w, 'valid'),
    L = sum(g * y), x = [2, -1, 0, 3, 1], w = [1, -2, 3], g = [1, 0, -1]; checked against numerical gradients."""
    x, w, g = np.array([2.0, -1.0, 0.0, 3.0, 1.0]), np.array([1.0, -2.0, 3.0]), np.array([1.0, 0.0, -1.0])
    loss = lambda: float(np.sum(g * np.correlate(x, w, "valid")))
    dw, dx = numerical_gradient(loss, w), numerical_gradient(loss, x)
    cases = [Case("(dL/dw, dL/dx) for x = (2, -1, 0, 3, 1), w = (1, -2, 3), g = (1, 0, -1)", (), (dw, dx),
                  "dL/dw[j] = sum_t g[t] x[t + j];  dL/dx[i] = sum_t g[t] w[i - t] over the outputs t that used x[i]",
                  atol=1e-6)]
    mistakes = [
        Mistake("dL/dx with the kernel not flipped", lambda: (dw, np.correlate(np.pad(g, 2), w, "valid")),
                "x[i] was used by output t with weight w[i - t]: the kernel index runs backwards (a flipped kernel)"),
        Mistake("dL/dw reversed (g convolved with x instead of correlated)", lambda: (np.convolve(x, g, "valid"), dx),
                "dL/dw[j] = sum_t g[t] * x[t + j]: slide g along x starting at x[j]"),
        Mistake("dL/dx without the edges (a valid correlation instead of a full one)",
                lambda: (dw, np.correlate(g, w[::-1], "same")),
                "x[0] and x[4] are used by one output each: pad g with k - 1 = 2 zeros on both sides"),
        Mistake("dL/dw and dL/dx swapped", lambda: (dx, dw), "return (dL/dw, dL/dx) in that order"),
    ]
    return check_exercise("predicted_gradients_1d", answer, cases, mistakes=mistakes)


def _conv_backward_reference(x, W, dout, stride=1, padding=0):
    """conv2d_backward_naive in float64, so that integer inputs give float gradients."""
    return conv2d_backward_naive(np.asarray(x, np.float64), np.asarray(W, np.float64), dout, stride, padding)


def _conv_backward_loops_variant(x, W, dout, s, p, *, assign_dx=False, assign_dW=False, flip=False):
    """conv2d_backward_naive with the typical slips of notebook 03's exercises."""
    k = W.shape[2]
    x_pad = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p))).astype(np.float64)
    dx_pad, dW = np.zeros_like(x_pad), np.zeros(W.shape)
    kernel = W[:, :, ::-1, ::-1] if flip else W
    for n, f, u, v in np.ndindex(*dout.shape):
        window = (n, slice(None), slice(s * u, s * u + k), slice(s * v, s * v + k))
        if assign_dW:
            dW[f] = dout[n, f, u, v] * x_pad[window]
        else:
            dW[f] += dout[n, f, u, v] * x_pad[window]
        if assign_dx:
            dx_pad[window] = dout[n, f, u, v] * kernel[f]
        else:
            dx_pad[window] += dout[n, f, u, v] * kernel[f]
    return dx_pad[:, :, p:p + x.shape[2], p:p + x.shape[3]], dW, dout.sum(axis=(0, 2, 3))


def check_conv_backward_single(answer):
    """Notebook 03, ``conv_backward_single(image (H, W), kernel (k, k), dout (H', W'), stride, padding)
    -> (dimage, dkernel)``, with loops."""
    rng = np.random.default_rng(5)
    configurations = [("4x4 image, 2x2 kernel", (4, 4), 2, 1, 0), ("5x6 image, asymmetric 3x3 kernel", (5, 6), 3, 1, 0),
                      ("5x5 image, padding 1", (5, 5), 3, 1, 1), ("7x7 image, stride 2", (7, 7), 3, 2, 0),
                      ("6x5 image, stride 2 (does not divide), padding 1", (6, 5), 3, 2, 1)]
    four_d = lambda backward: lambda image, kernel, dout, s, p: tuple(
        g[0, 0] for g in backward(image[None, None], kernel[None, None], dout[None, None], s, p)[:2])
    cases = []
    for description, image_shape, k, s, p in configurations:
        image, kernel = rng.standard_normal(image_shape), rng.standard_normal((k, k))
        dout = rng.standard_normal([conv_output_size(size, k, s, p) for size in image_shape])
        expected = four_d(_conv_backward_reference)(image, kernel, dout, s, p)
        cases.append(Case(description, (image, kernel, dout, s, p), expected,
                          "for every output (u, v): dkernel += dout[u, v] * patch, and the patch's pixels "
                          "+= dout[u, v] * kernel"))
    variant = lambda **flags: four_d(lambda x, W, dout, s, p: _conv_backward_loops_variant(x, W, dout, s, p, **flags))

    def padding_kept(image, kernel, dout, s, p):
        dimage, dkernel = four_d(_conv_backward_reference)(np.pad(image, p), kernel, dout, s, 0)
        return dimage, dkernel

    mistakes = [
        Mistake("= instead of += when adding into dimage (overlapping windows)", variant(assign_dx=True),
                "neighbouring windows share pixels; each pixel collects the gradient of every window: +="),
        Mistake("= instead of += when adding into dkernel", variant(assign_dW=True),
                "every output position uses the kernel: dkernel += dout[u, v] * patch"),
        Mistake("the kernel flipped in dimage", variant(flip=True),
                "in the loop form the pixel at offset (i, j) of a window gets dout[u, v] * kernel[i, j], not flipped"),
        Mistake("the padding not cropped from dimage", padding_kept,
                "accumulate into the padded image, then return dpadded[p:p + H, p:p + W]"),
        Mistake("the stride ignored (window (u, v) at (u, v) instead of (s*u, s*v))",
                lambda image, kernel, dout, s, p: four_d(_conv_backward_reference)(image, kernel, dout, 1, p),
                "output (u, v) read the patch starting at (s*u, s*v); send its gradient back there"),
    ]
    return check_exercise("conv_backward_single", answer, cases, mistakes=mistakes)


def check_conv2d_backward_loops(answer):
    """Notebook 03, ``conv2d_backward_loops(x (N, C, H, W), W (F, C, k, k), dout (N, F, H', W'), stride, padding)
    -> (dx, dW, db)``: the whole layer's backward pass."""
    settings = [
        ("1 image, 1 channel, 1 filter, 4x4, k 2", 1, 1, 4, 4, 1, 2, 1, 0),
        ("2 images, 3 channels, 2 filters, 5x5, k 3, padding 1", 2, 3, 5, 5, 2, 3, 1, 1),
        ("stride 2 and padding 1, non-square 7x6, 2 channels, 3 filters", 2, 2, 7, 6, 3, 3, 2, 1),
        ("a batch of one, 8x9, k 3, stride 2 (does not divide), padding 2", 1, 2, 8, 9, 2, 3, 2, 2),
        ("integer inputs, 3 images, stride 2, no padding", 3, 2, 6, 5, 2, 3, 2, 0, "integer"),
    ]
    rng = np.random.default_rng(30)
    cases = []
    for description, x, W, _, s, p in _conv_layer_cases(rng, settings):
        dout = rng.standard_normal(conv2d_naive(x, W, np.zeros(W.shape[0]), s, p).shape)
        cases.append(Case(description, (x, W, dout, s, p), _conv_backward_reference(x, W, dout, s, p),
                          "for every (n, f, u, v) and its window of x_pad: dW[f] += dout * window, "
                          "dx_pad[window] += dout * W[f], db[f] += dout; then crop dx_pad. Start dx_pad and dW "
                          "as float arrays: np.zeros_like of an integer array is an integer array"))
    variant = lambda **flags: lambda x, W, dout, s, p: _conv_backward_loops_variant(x, W, dout, s, p, **flags)

    def padding_kept(x, W, dout, s, p):
        padded = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
        return _conv_backward_reference(padded, W, dout, s, 0)

    def replace(position, new):
        def wrong(x, W, dout, s, p):
            grads = list(_conv_backward_reference(x, W, dout, s, p))
            grads[position] = new(x, W, dout, s, p, grads)
            return tuple(grads)
        return wrong

    mistakes = [
        Mistake("dL/dx as a full correlation with the kernel NOT flipped", variant(flip=True),
                "x_pad[s*u + i] was used with weight W[i]: as a correlation over dout the kernel comes out flipped "
                "(in the loop form, add dout * W[f] without flipping)"),
        Mistake("= instead of += in dx (overlapping windows and several filters)", variant(assign_dx=True),
                "a pixel collects the gradient of every window and every filter that used it: +="),
        Mistake("= instead of += in dW (only the last position's contribution kept)", variant(assign_dW=True),
                "dW[f] sums over every image and every output position"),
        Mistake("the stride ignored (dW from the undilated gradient, windows at (u, v))",
                lambda x, W, dout, s, p: _conv_backward_reference(x, W, dout, 1, p),
                "output (u, v) read the window at (s*u, s*v): the entries of dout sit s pixels apart "
                "(the dilated gradient)"),
        Mistake("the padding not cropped from dx", padding_kept, "return dx_pad[:, :, p:p + H, p:p + W]"),
        Mistake("db as the mean instead of the sum", replace(2, lambda x, W, dout, s, p, g: dout.mean(axis=(0, 2, 3))),
                "db[f] = dout[:, f].sum(): every output of filter f used b[f] once"),
        Mistake("db summed over the wrong axes", replace(2, lambda x, W, dout, s, p, g: dout.sum(axis=(1, 2, 3))),
                "keep the filter axis: dout.sum(axis=(0, 2, 3))"),
        Mistake("dW divided by N (a mean over the batch)", replace(1, lambda x, W, dout, s, p, g: g[1] / len(x)),
                "the loss already holds its 1/N; a layer's backward only sums"),
    ]
    return check_exercise("conv2d_backward_loops", answer, cases, mistakes=mistakes)


def _conv_backward_by_correlation_variant(x, W, dout, s, p, *, flip=True, dilate=True, cut=True):
    """Notebook 03's correlation form of the conv backward, with switches for its typical mistakes:
    dx as a full correlation of the (dilated) gradient with the kernel flipped or not, dW as the padded
    input correlated with the (dilated or not) gradient, cut to the first k offsets or not."""
    x = np.pad(np.asarray(x, np.float64), ((0, 0), (0, 0), (p, p), (p, p)))
    k = W.shape[2]
    G = _dilate_reference(dout, s) if dilate else np.asarray(dout, np.float64)

    def correlate(inputs, kernels):          # (N, C, H, W) with (F, C, kh, kw) -> (N, F, H-kh+1, W-kw+1)
        H_out, W_out = inputs.shape[2] - kernels.shape[2] + 1, inputs.shape[3] - kernels.shape[3] + 1
        return sum(np.einsum("nchw,fc->nfhw", inputs[:, :, i:i + H_out, j:j + W_out], kernels[:, :, i, j])
                   for i in range(kernels.shape[2]) for j in range(kernels.shape[3]))

    dW = correlate(x.transpose(1, 0, 2, 3), G.transpose(1, 0, 2, 3)).transpose(1, 0, 2, 3)
    dW = dW[:, :, :k, :k] if cut else dW
    kernel = W[:, :, ::-1, ::-1] if flip else W
    dx = correlate(np.pad(G, ((0, 0), (0, 0), (k - 1, k - 1), (k - 1, k - 1))), kernel.transpose(1, 0, 2, 3))
    dx = np.pad(dx, ((0, 0), (0, 0), (0, max(x.shape[2] - dx.shape[2], 0)), (0, max(x.shape[3] - dx.shape[3], 0))))
    return dx[:, :, p:x.shape[2] - p, p:x.shape[3] - p], dW, dout.sum(axis=(0, 2, 3))


def check_conv2d_backward_by_correlation(answer):
    """Notebook 03, ``conv2d_backward_by_correlation(x, W, dout, stride, padding) -> (dx, dW, db)``:
    the same gradients as correlations (dilated gradient, flipped kernel), checked like the loop version."""
    settings = [
        ("1 image, 1 channel, 1 filter, 5x5, k 3, stride 1", 1, 1, 5, 5, 1, 3, 1, 0),
        ("2 images, 3 channels, 2 filters, 5x6, k 3, padding 1", 2, 3, 5, 6, 2, 3, 1, 1),
        ("stride 2 and padding 1, non-square 7x6, 2 channels, 3 filters", 2, 2, 7, 6, 3, 3, 2, 1),
        ("a batch of one, 8x9, k 3, stride 2 (does not divide), padding 2", 1, 2, 8, 9, 2, 3, 2, 2),
        ("stride 3, k 2, 9x8, 3 images", 3, 2, 9, 8, 2, 2, 3, 0),
    ]
    rng = np.random.default_rng(32)
    cases = []
    for description, x, W, _, s, p in _conv_layer_cases(rng, settings):
        dout = rng.standard_normal(conv2d_naive(x, W, np.zeros(W.shape[0]), s, p).shape)
        cases.append(Case(description, (x, W, dout, s, p), _conv_backward_reference(x, W, dout, s, p),
                          "dW: the padded input correlated with the dilated gradient, first k offsets; dx: the "
                          "dilated gradient padded by k - 1 and correlated with the flipped kernel, filters and "
                          "channels swapped; rows no window reached get 0; crop the padding"))
    variant = lambda **flags: lambda x, W, dout, s, p: _conv_backward_by_correlation_variant(x, W, dout, s, p, **flags)
    mistakes = [
        Mistake("dL/dx correlated with the kernel NOT flipped", variant(flip=False),
                "the kernel index runs backwards in dL/dx: use W[:, :, ::-1, ::-1]"),
        Mistake("the gradient not dilated (stride s > 1 needs s - 1 zeros between its entries)", variant(dilate=False),
                "neighbouring outputs read windows s pixels apart: spread dout with s - 1 zeros first"),
        Mistake("dW not cut to the first k offsets", variant(cut=False),
                "only offsets 0 .. k - 1 of the correlation are weights: [:, :, :k, :k]"),
        Mistake("the padding not cropped from dx", lambda x, W, dout, s, p: _conv_backward_reference(
            np.pad(x, ((0, 0), (0, 0), (p, p), (p, p))), W, dout, s, 0),
                "the padding zeros are not inputs: return dx_pad[:, :, p:p + H, p:p + W]"),
        Mistake("db as the mean instead of the sum", lambda x, W, dout, s, p: (
            *_conv_backward_reference(x, W, dout, s, p)[:2], dout.mean(axis=(0, 2, 3))),
                "db[f] = dout[:, f].sum()"),
    ]
    return check_exercise("conv2d_backward_by_correlation", answer, cases, mistakes=mistakes)


def _dilate_reference(G, s):
    N, F, H_out, W_out = G.shape
    spread = np.zeros((N, F, s * (H_out - 1) + 1, s * (W_out - 1) + 1), dtype=np.result_type(G, np.float64))
    spread[:, :, ::s, ::s] = G
    return spread


def check_dilate(answer):
    """Notebook 03, ``dilate(G (N, F, H', W'), s) -> (N, F, s(H'-1)+1, s(W'-1)+1)``: s - 1 zeros between neighbours."""
    rng = np.random.default_rng(31)
    inputs = [("a 2x2 map, s = 2", np.array([[[[1.0, 2.0], [3.0, 4.0]]]]), 2),
              ("s = 1 changes nothing", rng.standard_normal((1, 2, 3, 3)), 1),
              ("non-square 2x3 maps, 2 images, 2 filters, s = 3", rng.standard_normal((2, 2, 2, 3)), 3),
              ("a 1x1 map, s = 2", rng.standard_normal((1, 1, 1, 1)), 2)]
    cases = [Case(description, (G, s), _dilate_reference(G, s), "put G[..., u, v] at (s*u, s*v) of a zero array")
             for description, G, s in inputs]

    def sized(G, s, extra):
        N, F, H_out, W_out = G.shape
        out = np.zeros((N, F, s * (H_out - 1) + 1 + extra, s * (W_out - 1) + 1 + extra))
        out[:, :, ::s, ::s][:, :, :H_out, :W_out] = G
        return out

    def s_zeros(G, s):
        N, F, H_out, W_out = G.shape
        out = np.zeros((N, F, (s + 1) * (H_out - 1) + 1, (s + 1) * (W_out - 1) + 1))
        out[:, :, ::s + 1, ::s + 1] = G
        return out

    mistakes = [
        Mistake("s - 1 zeros after the last entry too (size s*H' instead of s*(H' - 1) + 1)",
                lambda G, s: sized(G, s, s - 1), "no zeros after the last entry: the size is s*(H' - 1) + 1"),
        Mistake("s zeros between neighbours instead of s - 1", s_zeros,
                "neighbours end up s pixels apart, so there are s - 1 zeros between them"),
        Mistake("each entry repeated (np.repeat) instead of spread with zeros",
                lambda G, s: np.repeat(np.repeat(G, s, axis=2), s, axis=3),
                "the new positions are zeros: spread[:, :, ::s, ::s] = G on np.zeros"),
        Mistake("only the rows dilated", lambda G, s: _dilate_reference(G, s)[:, :, :, ::s],
                "dilate both spatial axes, rows and columns"),
    ]
    return check_exercise("dilate", answer, cases, mistakes=mistakes)


def check_my_relative_error(answer):
    """Notebook 03, ``my_relative_error(analytic, numeric) -> max_i |a_i - n_i| / max(|a_i| + |n_i|, 1e-12)``."""
    configurations = [
        ("identical arrays", [1.0, -2.0, 3.0], [1.0, -2.0, 3.0]),
        ("[1, 2] against [1.1, 2]", [1.0, 2.0], [1.1, 2.0]),
        ("tiny gradients [1e-9, 2e-9] against [1.1e-9, 2e-9]", [1e-9, 2e-9], [1.1e-9, 2e-9]),
        ("opposite signs [1, 5] against [-1, 5]", [1.0, 5.0], [-1.0, 5.0]),
        ("both zero in some entries", [0.0, 1.0], [0.0, 1.0001]),
        ("2-D arrays, one entry 0 against 1e-3", [[0.5, -1.0], [2.0, 0.0]], [[0.5, -1.01], [2.0, 1e-3]]),
        ("large gradients [1000, 10] against [1001, 12]", [1000.0, 10.0], [1001.0, 12.0]),
    ]
    cases = [Case(description, (np.array(a), np.array(n)), relative_error(np.array(a), np.array(n)),
                  "element-wise |a - n| / max(|a| + |n|, 1e-12), then the maximum over all elements")
             for description, a, n in configurations]
    mistakes = [
        Mistake("no floor on the denominator (0 / 0 = nan where both are 0)",
                lambda a, n: np.max(np.abs(a - n) / (np.abs(a) + np.abs(n))),
                "floor the denominator: np.maximum(np.abs(a) + np.abs(n), 1e-12)"),
        Mistake("|a + n| instead of |a| + |n| in the denominator",
                lambda a, n: np.max(np.abs(a - n) / np.maximum(np.abs(a + n), 1e-12)),
                "with opposite signs a + n is near 0: use the absolute values separately"),
        Mistake("the mean instead of the maximum over the elements",
                lambda a, n: np.mean(np.abs(a - n) / np.maximum(np.abs(a) + np.abs(n), 1e-12)),
                "one wrong entry must show: take the maximum"),
        Mistake("a ratio of sums (sum |a - n| / sum (|a| + |n|))",
                lambda a, n: np.sum(np.abs(a - n)) / max(np.sum(np.abs(a) + np.abs(n)), 1e-12),
                "compare each entry with its own size, then take the maximum"),
        Mistake("the absolute difference, not divided", lambda a, n: np.max(np.abs(a - n)),
                "divide by |a| + |n|: 1e-10 is a large error for a gradient of size 1e-9"),
    ]
    return check_exercise("my_relative_error", answer, cases, mistakes=mistakes)


# --- Notebook 04: max pooling ------------------------------------------------

def _pool_backward_mistake(x, dout, k, s, *, assign=False, all_ties=False, last_max=False, whole_window=False):
    """maxpool2d_backward_naive with the typical slips of notebook 04's exercise."""
    dx = np.zeros(x.shape)
    for n, c, y, x_ in np.ndindex(*dout.shape):
        rows, cols = slice(y * s, y * s + k), slice(x_ * s, x_ * s + k)
        window = x[n, c, rows, cols]
        if all_ties or whole_window:
            dx[n, c, rows, cols] += (window == window.max() if all_ties else 1) * dout[n, c, y, x_]
            continue
        flat = window.reshape(-1)
        winner = flat.size - 1 - np.argmax(flat[::-1]) if last_max else np.argmax(flat)
        i, j = divmod(int(winner), window.shape[1])
        if assign:
            dx[n, c, y * s + i, x_ * s + j] = dout[n, c, y, x_]
        else:
            dx[n, c, y * s + i, x_ * s + j] += dout[n, c, y, x_]
    return dx


def _tie_windows():
    """A 4 x 4 image whose four 2 x 2 windows tie in different ways:
    all zero (as after a ReLU), two 3s, four 5s, and two 2s on a diagonal."""
    return np.array([[0., 0., 1., 3.],
                     [0., 0., 3., 0.],
                     [5., 5., 2., 0.],
                     [5., 5., 0., 2.]])[None, None]


def check_maxpool_forward(answer):
    """Notebook 04, ``maxpool_forward(x (N, C, H, W), kernel_size, stride) -> (N, C, H', W')``, with loops."""
    rng = np.random.default_rng(40)
    settings = [
        ("4x4 input, kernel 2, stride 2", rng.permutation(16).reshape(1, 1, 4, 4).astype(np.float64), 2, 2),
        ("all-negative input", -0.5 - rng.random((1, 1, 4, 4)), 2, 2),
        ("kernel 3, stride 2 on 7x7 (overlapping windows)", rng.standard_normal((1, 1, 7, 7)), 3, 2),
        ("non-square 5x8, kernel 2, stride 2 (the last row is dropped)", rng.standard_normal((1, 2, 5, 8)), 2, 2),
        ("non-square 9x6, kernel 3, stride 2, 2 images, 3 channels", rng.standard_normal((2, 3, 9, 6)), 3, 2),
        ("integer input, kernel 2, stride 1", rng.integers(-5, 5, (1, 1, 4, 5)), 2, 1),
    ]
    cases = [Case(description, (x, k, s), maxpool2d_naive(x, k, s),
                  "out[n, c, y, x] = max of x[n, c, s*y:s*y + k, s*x:s*x + k];  H' = (H - k) // s + 1")
             for description, x, k, s in settings]

    def stride_ignored(x, k, s):
        H_out, W_out = conv_output_size(x.shape[2], k, s, 0), conv_output_size(x.shape[3], k, s, 0)
        return maxpool2d_naive(x, k, 1)[:, :, :H_out, :W_out]

    def partial_windows(x, k, s):          # H' rounded up: windows that stick out are pooled too
        pad = [(0, 0), (0, 0)] + [(0, (-(size - k) % s)) for size in x.shape[2:]]
        return maxpool2d_naive(np.pad(x.astype(np.float64), pad, constant_values=-np.inf), k, s)

    mistakes = [
        Mistake("the running maximum started at 0", lambda x, k, s: np.maximum(maxpool2d_naive(x, k, s), 0),
                "start at -inf or at the window's first value: here every value is negative"),
        Mistake("the window at (y, x) instead of (s*y, s*x) (stride ignored inside the loop)", stride_ignored,
                "window (y, x) starts at row s*y and column s*x"),
        Mistake("H' rounded up (windows that stick out are pooled too)", partial_windows,
                "a window must fit: H' = (H - k) // s + 1, leftover rows and columns are dropped"),
        Mistake("the output one row and one column too small (the + 1 of H' forgotten)",
                lambda x, k, s: maxpool2d_naive(x, k, s)[:, :, :-1, :-1], "H' = (H - k) // s + 1"),
        Mistake("the mean of each window instead of its maximum", _avgpool, "max pooling keeps the LARGEST value"),
    ]
    return check_exercise("maxpool_forward", answer, cases, mistakes=mistakes)


def _avgpool(x, k, s):
    H_out, W_out = conv_output_size(x.shape[2], k, s, 0), conv_output_size(x.shape[3], k, s, 0)
    means = np.array([[x[:, :, y * s:y * s + k, v * s:v * s + k].mean(axis=(2, 3)) for v in range(W_out)]
                      for y in range(H_out)]).transpose(2, 3, 0, 1)
    return means.astype(x.dtype)      # an output array made like x (dtype=x.dtype) truncates integer means


def check_maxpool_backward(answer):
    """Notebook 04, ``maxpool_backward(x (N, C, H, W), dout (N, C, H', W'), kernel_size, stride) -> dx``:
    each window sends its dout to ONE position, its first maximum, and overlapping windows add up."""
    rng = np.random.default_rng(41)
    overlapping = rng.standard_normal((1, 1, 7, 7))
    overlapping[0, 0, 2, 2] = overlapping[0, 0, 4, 4] = 10.0   # each wins several windows
    settings = [
        ("4x4 input, kernel 2, stride 2, no ties", rng.permutation(16).reshape(1, 1, 4, 4).astype(np.float64), 2, 2),
        ("ties: all-zero windows (as after a ReLU) and equal maxima", _tie_windows(), 2, 2),
        ("overlapping windows: kernel 3, stride 2 on 7x7", overlapping, 3, 2),
        ("non-square 5x8, kernel 2, stride 2 (last row in no window)", rng.standard_normal((1, 2, 5, 8)), 2, 2),
        ("a batch of 2 with 3 channels, non-square 7x9, kernel 3, stride 2, many ties",
         rng.integers(0, 3, (2, 3, 7, 9)).astype(np.float64), 3, 2),
        ("a batch of one, kernel 2, stride 1 (every pixel in up to 4 windows), integer input",
         rng.integers(0, 4, (1, 1, 5, 4)), 2, 1),
    ]
    cases = []
    for description, x, k, s in settings:
        dout = np.round(rng.standard_normal(maxpool2d_naive(x, k, s).shape), 2) + 3.0   # nonzero: every route shows
        cases.append(Case(description, (x, dout, k, s), maxpool2d_backward_naive(x, dout, k, s),
                          "one winner per window (the first maximum, np.argmax), and dx[...] += dout"))
    variant = lambda **flags: lambda x, dout, k, s: _pool_backward_mistake(x, dout, k, s, **flags)
    mistakes = [
        Mistake("= instead of += (a pixel that wins several overlapping windows keeps only the last gradient)",
                variant(assign=True), "windows overlap when k > s: dx[...] += dout[...]"),
        Mistake("every tied position gets the gradient", variant(all_ties=True),
                "exactly one winner per window, the first maximum (np.argmax): otherwise a tie multiplies "
                "the gradient"),
        Mistake("the LAST maximum wins ties instead of the first", variant(last_max=True),
                "np.argmax returns the first maximum in row-major order; the module uses that one"),
        Mistake("the whole window gets the gradient", variant(whole_window=True),
                "only the window's maximum influenced the output: only it gets dout"),
        Mistake("the window at (y, x) instead of (s*y, s*x) (stride ignored)",
                lambda x, dout, k, s: maxpool2d_backward_naive(x, dout, k, 1),
                "window (y, x) starts at (s*y, s*x): the winner is at (s*y + i, s*x + j)"),
    ]
    return check_exercise("maxpool_backward", answer, cases, mistakes=mistakes)


def check_pooled_shape(answer):
    """Notebook 04, ``pooled_shape()``: the output shape of MaxPool2D(kernel_size=3, stride=2) on (1, 1, 7, 7)."""
    expected = tuple(MaxPool2D(3, 2).forward(np.zeros((1, 1, 7, 7))).shape)
    case = Case("kernel 3, stride 2 on a (1, 1, 7, 7) input", (), expected,
                "H' = (H - k) // s + 1: windows start at 0, 2, 4; one starting at 6 would stick out", rtol=0, atol=0)
    mistakes = [
        Mistake("H / s rounded up (7 / 2 -> 4)", lambda: (1, 1, 4, 4), "the window must fit: (7 - 3) // 2 + 1"),
        Mistake("the stride ignored (7 - 3 + 1)", lambda: (1, 1, 5, 5), "windows move 2 pixels: divide by s"),
        Mistake("only the two spatial sizes", lambda: (3, 3), "give all four axes (N, C, H', W')"),
        Mistake("the + 1 forgotten", lambda: (1, 1, 2, 2), "the + 1 counts the window at position 0"),
    ]
    return check_exercise("pooled_shape", answer, [case], mistakes=mistakes)


def centre_gradient_example():
    """The setting of notebook 04's "predict the gradient" exercise: a 5 x 5
    image whose centre holds its largest value, pooled by MaxPool2D(3, stride=2)
    into 2 x 2, and the upstream gradient dout = [[1, 2], [3, 4]].
    Returns (x, dout)."""
    x = np.arange(25, dtype=np.float64).reshape(1, 1, 5, 5)
    x[0, 0, 2, 2] = 100.0
    dout = np.array([[1.0, 2.0], [3.0, 4.0]])[None, None]
    return x, dout


def check_centre_gradient(answer):
    """Notebook 04, ``centre_gradient()``: dx[0, 0, 2, 2] in ``centre_gradient_example()``."""
    x, dout = centre_gradient_example()
    expected = float(maxpool2d_backward_naive(x, dout, 3, 2)[0, 0, 2, 2])
    case = Case("centre pixel of a 5x5 image, kernel 3, stride 2, dout [[1, 2], [3, 4]]", (), expected,
                "which of the four windows contain the centre, and which of them does it win?")
    mistakes = [
        Mistake("only the last window's gradient (= instead of +=)", lambda: 4.0,
                "the centre wins all four windows and collects the SUM of their dout values"),
        Mistake("only the first window's gradient", lambda: 1.0, "the centre lies in all four windows and wins each"),
        Mistake("the mean of the four gradients", lambda: 2.5, "gradients of several uses add up; nothing is averaged"),
    ]
    return check_exercise("centre_gradient", answer, [case], mistakes=mistakes)


# --- Notebook 05: softmax and cross-entropy ---------------------------------

_SCALES_HINT = "rows of very different scale: subtract each row's OWN maximum (axis=1, keepdims=True)"


def _softmax_variants():
    """Typical mistakes of a batch softmax (N, K) -> (N, K), shared by the softmax and loss checks."""
    def normalised(z, shift, axis=1):
        exps = np.exp(z - shift)
        return exps / exps.sum(axis=axis, keepdims=axis is not None)

    return {
        "naive": ("no maximum subtracted (exp overflows to inf, inf / inf = nan)", lambda z: normalised(z, 0),
                  "subtract each row's maximum before np.exp: every exponent is then <= 0"),
        "global": ("the maximum of the whole array instead of each row's maximum",
                   lambda z: normalised(z, z.max()), _SCALES_HINT),
        "axis0": ("normalised over the wrong axis (columns, axis=0)",
                  lambda z: normalised(z, z.max(axis=0, keepdims=True), axis=0),
                  "each ROW is one example: sum over axis=1 with keepdims=True"),
        "total": ("divided by the sum of the whole array instead of each row's sum",
                  lambda z: normalised(z, z.max(axis=1, keepdims=True), axis=None),
                  "each row must sum to 1: exps.sum(axis=1, keepdims=True)"),
        "no_keepdims": ("the row maximum subtracted without keepdims (broadcast along the wrong axis)",
                        lambda z: normalised(z, z.max(axis=1)),
                        "z.max(axis=1, keepdims=True) has shape (N, 1) and lines up with the rows"),
    }


def _softmax_cases(rng):
    return [
        ("small logits [[1, 2, 3]] (a batch of one)", np.array([[1.0, 2.0, 3.0]])),
        ("batch of 3 rows, 4 classes", rng.standard_normal((3, 4))),
        ("huge logits [[1000, -1000, 0]]", np.array([[1000.0, -1000.0, 0.0]])),
        ("very negative logits [[-1000, -1001, -1002]]", np.array([[-1000.0, -1001.0, -1002.0]])),
        ("rows of very different scale [[1000, 999], [0, 1]]", np.array([[1000.0, 999.0], [0.0, 1.0]])),
        ("integer logits, 3 rows, 3 classes", rng.integers(-3, 4, (3, 3))),
    ]


def check_stable_softmax(answer):
    """Notebook 05, ``stable_softmax(logits (N, K)) -> probabilities (N, K)``, each row sums to 1."""
    cases = [Case(description, (z,), softmax(z), "exp(z - row max) / its row sum")
             for description, z in _softmax_cases(np.random.default_rng(50))]
    mistakes = [Mistake(name, wrong, fix)
                for name, wrong, fix in _softmax_variants().values()]
    return check_exercise("stable_softmax", answer, cases, mistakes=mistakes)


def _loss_and_gradient(logits, labels):
    loss_fn = SoftmaxCrossEntropy()
    loss = loss_fn.forward(np.asarray(logits, dtype=np.float64), labels)
    return loss, loss_fn.backward()


def _loss_cases(rng):
    return [
        ("one example, logits [[2, 1, 0.1]], label 0", np.array([[2.0, 1.0, 0.1]]), np.array([0])),
        ("batch of 4 examples, 5 classes", rng.standard_normal((4, 5)), np.array([0, 3, 3, 1])),
        ("huge logits [[1000, 0, -1000]], label 2 (confident and wrong)", np.array([[1000.0, 0.0, -1000.0]]),
         np.array([2])),
        ("rows of very different scale [[1000, 999], [0, 1]], labels [1, 0]",
         np.array([[1000.0, 999.0], [0.0, 1.0]]), np.array([1, 0])),
        ("integer logits, 3 examples, 4 classes", rng.integers(-4, 5, (3, 4)), np.array([2, 2, 0])),
    ]


def _loss_variants():
    """Typical mistakes of the mean cross-entropy (N, K), (N,) -> float."""
    log_probs = lambda z: log_softmax(np.asarray(z, dtype=np.float64))
    pick = lambda z, y: log_probs(z)[np.arange(len(y)), y]

    def global_max(z, y):
        shifted = np.asarray(z, np.float64) - np.max(z)
        return -(shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True)))[np.arange(len(y)), y].mean()

    return [
        ("the sum over the batch instead of the mean (the 1/N missing)", lambda z, y: -pick(z, y).sum(),
         "the loss is the MEAN over the N examples"),
        ("np.log(softmax(z)) (log(0) = -inf for a confident mistake)",
         lambda z, y: -np.log(softmax(np.asarray(z, np.float64))[np.arange(len(y)), y]).mean(),
         "compute log-softmax directly: z - max - log(sum(exp(z - max)))"),
        ("log_probs[:, labels] (every example scored against every label)",
         lambda z, y: -log_probs(z)[:, y].mean(), "pick one entry per row: log_probs[np.arange(N), labels]"),
        ("the maximum of the whole array instead of each row's maximum", global_max, _SCALES_HINT),
        ("log10 instead of the natural log", lambda z, y: -pick(z, y).mean() / np.log(10),
         "cross-entropy uses the natural log (np.log)"),
        ("the sign (+log p instead of -log p)", lambda z, y: pick(z, y).mean(),
         "the loss is -log p of the true class: positive, 0 when certain and right"),
    ]


def check_cross_entropy_loss(answer):
    """Notebook 05, ``cross_entropy_loss(logits (N, K), labels (N,)) -> float``: the mean of
    -log softmax(logits)[n, labels[n]]."""
    cases = [Case(description, (z, y), _loss_and_gradient(z, y)[0], "mean over n of -log_softmax(z)[n, labels[n]]")
             for description, z, y in _loss_cases(np.random.default_rng(51))]
    mistakes = [Mistake(name, wrong, fix)
                for name, wrong, fix in _loss_variants()]
    return check_exercise("cross_entropy_loss", answer, cases, mistakes=mistakes)


def _gradient_variants():
    """Typical mistakes of dL/dlogits = (softmax(z) - onehot(y)) / N."""
    p = lambda z: softmax(np.asarray(z, dtype=np.float64))
    onehot = lambda z, y: np.eye(np.shape(z)[1])[y]

    def columns(z, y):
        grad = p(z)
        grad[:, y] -= 1
        return grad / len(y)

    def global_max(z, y):
        exps = np.exp(np.asarray(z, np.float64) - np.max(z))
        return (exps / exps.sum(axis=1, keepdims=True) - onehot(z, y)) / len(y)

    return [
        ("the 1/N missing (the gradient of the sum, not the mean)", lambda z, y: p(z) - onehot(z, y),
         "the loss is the mean over N examples: divide p - y by N"),
        ("p[:, labels] -= 1 instead of p[np.arange(N), labels] -= 1", columns,
         "p[:, labels] subtracts 1 in whole columns, for every example: use p[np.arange(N), labels] -= 1"),
        ("the sign (y - p instead of p - y)", lambda z, y: (onehot(z, y) - p(z)) / len(y),
         "dL/dz = p - y: the true class's logit has a negative gradient (raising it lowers the loss)"),
        ("the one-hot labels not subtracted (softmax / N only)", lambda z, y: p(z) / len(y),
         "subtract 1 at each example's true class"),
        ("the maximum of the whole array instead of each row's maximum", global_max, _SCALES_HINT),
        ("divided by the number of classes K instead of N", lambda z, y: (p(z) - onehot(z, y)) / np.shape(z)[1],
         "the mean is over the N examples (rows), not over the classes"),
    ]


def check_softmax_cross_entropy_gradient(answer):
    """Notebook 05, ``softmax_cross_entropy_gradient(logits (N, K), labels (N,)) -> dL/dlogits (N, K)``
    for the MEAN cross-entropy: (softmax(logits) - onehot(labels)) / N."""
    cases = [Case(description, (z, y), _loss_and_gradient(z, y)[1], "(softmax(z) - onehot(labels)) / N")
             for description, z, y in _loss_cases(np.random.default_rng(52))]
    mistakes = [Mistake(name, wrong, fix)
                for name, wrong, fix in _gradient_variants()]
    return check_exercise("softmax_cross_entropy_gradient", answer, cases, mistakes=mistakes)


def check_softmax_cross_entropy(answer):
    """Notebook 05, ``softmax_cross_entropy(logits (N, K), labels (N,)) -> (loss, dlogits)``: the loss layer's
    forward and backward on a batch in one function."""
    rng = np.random.default_rng(53)
    inputs = _loss_cases(rng) + [("a batch of 6 with 10 classes, logits of size 50", 50 * rng.standard_normal((6, 10)),
                                  rng.integers(0, 10, 6))]
    cases = [Case(description, (z, y), _loss_and_gradient(z, y), "loss = mean of -log_softmax at the labels; "
                  "dlogits = (softmax - onehot) / N") for description, z, y in inputs]
    loss = lambda z, y: _loss_and_gradient(z, y)[0]
    gradient = lambda z, y: _loss_and_gradient(z, y)[1]
    mistakes = ([Mistake(f"in the loss: {name}", lambda z, y, wrong=wrong: (wrong(z, y), gradient(z, y)), fix)
                 for name, wrong, fix in _loss_variants()]
                + [Mistake(f"in the gradient: {name}",
                           lambda z, y, wrong=wrong: (loss(z, y), wrong(z, y)), fix)
                   for name, wrong, fix in _gradient_variants()])
    return check_exercise("softmax_cross_entropy", answer, cases, mistakes=mistakes)


def check_uniform_loss(answer):
    """Notebook 05, ``uniform_loss(K)``: the cross-entropy of a prediction giving each of K classes probability 1/K."""
    cases = [Case(f"K = {K} classes", (K,), SoftmaxCrossEntropy().forward(np.zeros((1, K)), np.array([0])),
                  "the true class gets p = 1/K; the loss is -log of that") for K in (10, 2, 1000, 1)]
    mistakes = [
        Mistake("log10 instead of the natural log", lambda K: math.log10(K), "cross-entropy uses np.log"),
        Mistake("log2 instead of the natural log", lambda K: math.log2(K), "cross-entropy uses np.log"),
        Mistake("the probability 1/K instead of the loss", lambda K: 1 / K, "the loss is -log(1/K) = ln K"),
        Mistake("the sign (log(1/K) = -ln K)", lambda K: -math.log(K), "the loss is MINUS the log-probability: ln K"),
    ]
    return check_exercise("uniform_loss", answer, cases, mistakes=mistakes)


# --- Notebook 06: dense layers and activations -------------------------------

def _dense_backward_reference(x, W, dout):
    """(dx, dW, db) from Dense.backward, with the layer's weights set to W."""
    layer = Dense(*np.shape(W), dtype=np.float64)
    layer.params["W"] = np.asarray(W, dtype=np.float64)
    layer.forward(np.asarray(x, dtype=np.float64))
    dx = layer.backward(np.asarray(dout, dtype=np.float64))
    return dx, layer.grads["W"], layer.grads["b"]


def check_dense_backward(answer):
    """Notebook 06, ``dense_backward(x, W, dout)`` -> (dx, dW, db) for out = x @ W + b,
    x (N, D), W (D, M), dout (N, M)."""
    rng = np.random.default_rng(60)
    settings = [
        ("a batch of one: N=1, D=3, M=2", 1, 3, 2,
         "dx = dout @ W.T has the shape of x (N, D), dW = x.T @ dout the shape of W (D, M), "
         "db = dout summed over the batch (M,)"),
        ("batch: N=4, D=3, M=2", 4, 3, 2,
         "db sums dout over the batch axis (axis=0), and x.T @ dout already sums over the batch: "
         "no mean, no division by N, every example counts"),
        ("square weights: N=2, D=M=3", 2, 3, 3,
         "with a square W a wrong transpose still has the right shape: dx = dout @ W.T (not dout @ W), "
         "dW = x.T @ dout (not dout.T @ x)"),
    ]
    cases = []
    for description, N, D, M, hint in settings:
        x, W, dout = rng.standard_normal((N, D)), rng.standard_normal((D, M)), rng.standard_normal((N, M))
        cases.append(Case(description, (x, W, dout), _dense_backward_reference(x, W, dout), hint))
    x, W, dout = rng.integers(-3, 4, (5, 2)), rng.integers(-3, 4, (2, 4)), rng.integers(-3, 4, (5, 4))
    cases.append(Case("integer inputs: N=5, D=2, M=4", (x, W, dout), _dense_backward_reference(x, W, dout),
                      "integer arrays work with @ and sum like floats; don't update them in place"))
    mistakes = [
        Mistake("dx = dout @ W, without the transpose",
                lambda x, W, dout: (dout @ W, x.T @ dout, dout.sum(axis=0)),
                "dx[n, d] = sum_m dout[n, m] W[d, m], i.e. dout @ W.T"),
        Mistake("dW = dout.T @ x, the transpose of dW",
                lambda x, W, dout: (dout @ W.T, dout.T @ x, dout.sum(axis=0)),
                "dW must have the shape of W (D, M): dW = x.T @ dout"),
        Mistake("db averaged over the batch (a mean instead of a sum)",
                lambda x, W, dout: (dout @ W.T, x.T @ dout, dout.mean(axis=0)),
                "db = dout.sum(axis=0): the 1/N of the mean loss is already inside dout"),
        Mistake("dW and db divided by the batch size N",
                lambda x, W, dout: (dout @ W.T, x.T @ dout / len(x), dout.sum(axis=0) / len(x)),
                "no division by N here: dout already carries the 1/N of the mean loss"),
        Mistake("db summed over the wrong axis (over the outputs, not over the batch)",
                lambda x, W, dout: (dout @ W.T, x.T @ dout, dout.sum(axis=1)),
                "sum over the batch axis 0: db has one entry per output unit, shape (M,)"),
    ]
    return check_exercise("dense_backward", answer, cases, mistakes)


def check_relu_backward(answer):
    """Notebook 06, ``relu_backward(x, dout)`` -> dx = dout * [x > 0] (same shape as x)."""
    settings = [
        ("mixed signs", np.array([[-2.0, -0.5, 0.5, 2.0]]), np.array([[3.0, 3.0, 3.0, 3.0]]),
         "dx = dout * (x > 0): the gradient passes only where the layer's INPUT x was positive"),
        ("negative upstream gradient", np.array([[1.0, -1.0], [2.0, -2.0]]), np.array([[-1.5, 2.5], [-0.5, 4.0]]),
         "a negative dout passes unchanged where x > 0: only the input x decides what passes"),
        ("x exactly 0", np.array([[0.0, 1.0, 0.0, -1.0]]), np.array([[1.0, 1.0, 1.0, 1.0]]),
         "at x = 0 use gradient 0 (the mask is x > 0, strictly), as scratchcnn's ReLU does"),
        ("a 4-D (N, C, H, W) input", np.linspace(-1, 1, 16).reshape(1, 1, 4, 4),
         np.arange(16.0).reshape(1, 1, 4, 4), "work element-wise on any shape: no reshape, no matrix product"),
        ("integer inputs", np.array([[3, -2, 0, 5]]), np.array([[2, 2, -1, -4]]),
         "integers work like floats; return a new array rather than editing dout in place"),
    ]
    cases = []
    for description, x, dout, hint in settings:
        layer = ReLU()
        layer.forward(x)
        cases.append(Case(description, (x, dout), layer.backward(dout), hint))
    mistakes = [
        Mistake("the mask built from dout instead of from the input x",
                lambda x, dout: dout * (dout > 0), "multiply dout by (x > 0), x being the ReLU's input"),
        Mistake("dout clipped at 0 as well as masked",
                lambda x, dout: np.maximum(dout, 0) * (x > 0),
                "only x decides what passes; dout passes unchanged, negative or not: dout * (x > 0)"),
        Mistake("slope 1 at x = 0 (x >= 0 instead of x > 0)", lambda x, dout: dout * (x >= 0),
                "use the strict mask x > 0: scratchcnn's ReLU takes slope 0 at the kink"),
        Mistake("the mask (x > 0) returned without multiplying by dout", lambda x, dout: (x > 0) * 1.0,
                "the chain rule multiplies the upstream gradient by the local slope: dout * (x > 0)"),
        Mistake("dout multiplied by the ReLU's output max(x, 0) instead of its slope",
                lambda x, dout: dout * np.maximum(x, 0),
                "the slope of max(x, 0) is 1 for x > 0 and 0 otherwise: dout * (x > 0)"),
    ]
    return check_exercise("relu_backward", answer, cases, mistakes)


def check_inverted_dropout(answer):
    """Notebook 06, ``inverted_dropout(x, keep, p)`` -> the training-mode output of
    inverted dropout, given the boolean mask ``keep`` of surviving units."""
    rng = np.random.default_rng(61)
    settings = [
        ("p = 0.5", 0.5, rng.standard_normal((4, 6)),
         "zero the dropped units (keep == False) and scale the survivors up by 1 / (1 - p)"),
        ("p = 0.2", 0.2, rng.standard_normal((4, 6)),
         "divide by the KEEP probability 1 - p, not by p (at p = 0.5 both are 2; here they differ)"),
        ("p = 0 (keep everything)", 0.0, rng.standard_normal((4, 6)),
         "with p = 0 nothing is dropped and the scale is 1: out must equal x"),
        ("integer inputs, a batch of one, p = 0.75", 0.75, rng.integers(-5, 6, (1, 8)),
         "integers work too: x * keep / (1 - p) is a new float array"),
    ]
    cases = []
    for seed, (description, p, x, hint) in enumerate(settings):
        layer = Dropout(p, rng=np.random.default_rng(seed))
        out = layer.forward(x.astype(np.float64))
        keep = layer.mask != 0 if layer.mask is not None else np.ones(x.shape, dtype=bool)
        cases.append(Case(description, (x, keep, p), out, hint))
    mistakes = [
        Mistake("the survivors scaled by 1 / p instead of 1 / (1 - p)", lambda x, keep, p: x * keep / p,
                "p is the DROP probability; a unit survives with probability 1 - p, so divide by 1 - p"),
        Mistake("the survivors not scaled up at all", lambda x, keep, p: x * keep,
                "scale the survivors by 1 / (1 - p) so the expected output equals x"),
        Mistake("multiplied by 1 - p (the old evaluation-time rule) instead of dividing",
                lambda x, keep, p: x * keep * (1 - p),
                "inverted dropout DIVIDES by 1 - p in training, so evaluation needs nothing"),
        Mistake("every unit scaled, the keep mask forgotten", lambda x, keep, p: x / (1 - p),
                "zero the dropped units first: x * keep / (1 - p)"),
        Mistake("the mask inverted: the units with keep == True dropped",
                lambda x, keep, p: x * ~np.asarray(keep, dtype=bool) / (1 - p),
                "keep is True where the unit SURVIVES: x * keep / (1 - p)"),
    ]
    return check_exercise("inverted_dropout", answer, cases, mistakes)


def _measured_dense_std(fan_in, weight_std, seed):
    """The std of x @ W measured on a Dense layer: x ~ N(0, 1) (2000 x fan_in), W ~ N(0, weight_std^2)."""
    rng = np.random.default_rng(seed)
    layer = Dense(fan_in, 256, dtype=np.float64)
    layer.params["W"] = rng.standard_normal((fan_in, 256)) * weight_std
    return float(layer.forward(rng.standard_normal((2000, fan_in))).std())


def check_predicted_std(answer):
    """Notebook 06, ``predicted_std(fan_in, weight_std)`` -> the std of the outputs
    x @ W of one Dense layer (no bias, no ReLU) when the inputs x are independent
    with mean 0 and std 1 and the weights have mean 0 and std ``weight_std``.
    The expected values are measured, so answers within 5% pass."""
    hint = ("variances add over the fan_in inputs: Var(out) = fan_in * weight_std**2 * Var(x); "
            "the standard deviation is its square root")
    settings = [("fan_in 100, weight std 0.1", 100, 0.1),
                ("fan_in 256, weight std 0.01 (too small)", 256, 0.01),
                ("fan_in 784, He weights std sqrt(2/784)", 784, math.sqrt(2 / 784)),
                ("fan_in 9, weight std 1", 9, 1.0),
                ("fan_in 1, weight std 0.5", 1, 0.5)]
    cases = [Case(description, (fan_in, weight_std), _measured_dense_std(fan_in, weight_std, seed), hint,
                  rtol=0.05, atol=0.0)
             for seed, (description, fan_in, weight_std) in enumerate(settings)]
    mistakes = [
        Mistake("the variance fan_in * weight_std**2 instead of the standard deviation",
                lambda fan_in, weight_std: fan_in * weight_std ** 2,
                "the standard deviation is the square root of the variance: sqrt(fan_in) * weight_std"),
        Mistake("the standard deviations added (fan_in * weight_std) instead of the variances",
                lambda fan_in, weight_std: fan_in * weight_std,
                "variances add, not standard deviations: std = sqrt(fan_in * weight_std**2)"),
        Mistake("weight_std alone: the fan_in terms of the sum forgotten",
                lambda fan_in, weight_std: weight_std,
                "each output sums fan_in terms, and their variances add: sqrt(fan_in) * weight_std"),
        Mistake("sqrt(fan_in * weight_std): the weights' std used as a variance",
                lambda fan_in, weight_std: math.sqrt(fan_in * weight_std),
                "Var(W_d x_d) = weight_std**2 * 1: square the std first, sqrt(fan_in * weight_std**2)"),
    ]
    return check_exercise("predicted_std", answer, cases, mistakes)


def _two_layer_backward_reference(x, W1, b1, W2, b2, labels):
    """(dW1, db1, dW2, db2) of Dense -> ReLU -> Dense -> SoftmaxCrossEntropy, by the module's layers."""
    first, relu, second, loss_fn = Dense(*np.shape(W1), dtype=np.float64), ReLU(), \
        Dense(*np.shape(W2), dtype=np.float64), SoftmaxCrossEntropy()
    first.params.update(W=np.asarray(W1, dtype=np.float64), b=np.asarray(b1, dtype=np.float64))
    second.params.update(W=np.asarray(W2, dtype=np.float64), b=np.asarray(b2, dtype=np.float64))
    loss_fn.forward(second.forward(relu.forward(first.forward(np.asarray(x, dtype=np.float64)))), labels)
    first.backward(relu.backward(second.backward(loss_fn.backward())))
    return first.grads["W"], first.grads["b"], second.grads["W"], second.grads["b"]


def _two_layer_backward_with(mistake):
    """A two-layer backward pass by hand with one typical ``mistake`` (for the check's Mistakes)."""
    def produce(x, W1, b1, W2, b2, labels):
        x, N = np.asarray(x, dtype=np.float64), len(labels)
        z = x @ W1 + b1
        h = np.maximum(z, 0)
        scores = h @ W2 + b2
        if mistake == "no max subtracted":
            exps = np.exp(scores)
        else:
            exps = np.exp(scores - scores.max(axis=1, keepdims=True))
        dscores = exps / exps.sum(axis=1, keepdims=True)
        if mistake != "no one-hot":
            dscores[np.arange(N), labels] -= 1
        if mistake != "no 1/N":
            dscores = dscores / N
        dW2 = (z if mistake == "z for dW2" else h).T @ dscores
        dh = dscores @ W2.T
        mask = {"no mask": 1.0, "mask from dh": dh > 0}.get(mistake, z > 0)
        dz = dh * mask
        return x.T @ dz, dz.sum(axis=0), dW2, dscores.sum(axis=0)
    return produce


def check_two_layer_backward(answer):
    """Notebook 06, ``two_layer_backward(x, W1, b1, W2, b2, labels)`` -> (dW1, db1, dW2, db2),
    the gradients of the mean cross-entropy of Dense(W1, b1) -> ReLU -> Dense(W2, b2)."""
    rng = np.random.default_rng(62)

    def case(description, N, D, H, K, hint, scale=1.0, integer_x=False):
        x = rng.integers(0, 4, (N, D)) if integer_x else rng.standard_normal((N, D))
        W1, b1 = rng.standard_normal((D, H)), 0.1 * rng.standard_normal(H)
        W2, b2 = scale * rng.standard_normal((H, K)), 0.1 * rng.standard_normal(K)
        labels = rng.integers(0, K, N)
        args = (x, W1, b1, W2, b2, labels)
        return Case(description, args, _two_layer_backward_reference(*args), hint, rtol=1e-5, atol=1e-9)

    cases = [
        case("a batch of one: N=1, D=4, H=5, K=3", 1, 4, 5, 3,
             "start from dL/ds = (softmax(s) - onehot(y)) / N, then dW2 = h.T @ ds, db2 = ds.sum(axis=0), "
             "dh = ds @ W2.T, dz = dh * (z > 0), dW1 = x.T @ dz, db1 = dz.sum(axis=0)"),
        case("a batch: N=6, D=4, H=5, K=3", 6, 4, 5, 3,
             "the loss is the MEAN over the batch: divide dL/ds by N once, and sum (not average) the "
             "bias gradients over the batch"),
        case("integer inputs x: N=5, D=3, H=4, K=4", 5, 3, 4, 4,
             "integer inputs work like floats: compute in floats (x @ W1 is float already)", integer_x=True),
        case("large scores: softmax must subtract each row's maximum, N=4, D=3, H=6, K=5", 4, 3, 6, 5,
             "exp of scores in the hundreds overflows: subtract each row's maximum before np.exp", scale=300.0),
    ]
    mistakes = [
        Mistake("dL/ds not divided by N (the loss summed over the batch instead of averaged)",
                _two_layer_backward_with("no 1/N"),
                "the loss is the mean over the N examples, so dL/ds = (softmax(s) - onehot(y)) / N"),
        Mistake("no ReLU mask in the backward pass", _two_layer_backward_with("no mask"),
                "the gradient passes the ReLU only where its input was positive: dz = dh * (z > 0)"),
        Mistake("the ReLU mask taken from the gradient (dh > 0) instead of the input z",
                _two_layer_backward_with("mask from dh"),
                "the mask comes from the forward pass: dz = dh * (z > 0)"),
        Mistake("dW2 from the pre-activation z instead of the ReLU's output h",
                _two_layer_backward_with("z for dW2"),
                "the second layer's input is h = max(z, 0): dW2 = h.T @ dscores"),
        Mistake("softmax(s) used as dL/ds without subtracting the one-hot labels",
                _two_layer_backward_with("no one-hot"),
                "dL/ds = (softmax(s) - onehot(y)) / N: subtract 1 at each example's label"),
        Mistake("softmax without subtracting each row's maximum (it overflows on large scores)",
                _two_layer_backward_with("no max subtracted"),
                "compute exp(s - s.max(axis=1, keepdims=True)); the result is the same, without overflow"),
    ]
    return check_exercise("two_layer_backward", answer, cases, mistakes)

# --- Notebook 07: training ---------------------------------------------------

def _momentum_step_reference(weights, gradient, velocity, lr, momentum):
    """One step of the module's SGD on a single weight array: (new weights, new velocity)."""
    layer = Layer()
    layer.params["W"] = np.array(weights, dtype=np.float64)
    layer.grads["W"] = np.array(gradient, dtype=np.float64)
    optimizer = SGD([layer], lr=lr, momentum=momentum)
    optimizer.state[(0, "W")] = np.array(velocity, dtype=np.float64)
    optimizer.step()
    return layer.params["W"], optimizer.state[(0, "W")]


def check_sgd_momentum_step(answer):
    """Notebook 07, ``sgd_momentum_step(weights, gradient, velocity, lr, momentum)``
    -> (new_weights, new_velocity), the course's SGD with momentum:
    v <- momentum * v + gradient,  w <- w - lr * v."""
    rng = np.random.default_rng(70)
    settings = [
        ("first step: velocity starts at zero", np.array([1.0, -2.0, 0.5]), np.array([0.5, 0.5, -1.0]),
         np.zeros(3), 0.1, 0.9,
         "with zero velocity the first step is plain SGD: v = gradient and w - lr * gradient"),
        ("velocity from earlier steps", np.array([1.0, -2.0, 0.5]), np.array([0.5, 0.5, -1.0]),
         np.array([2.0, -1.0, 0.0]), 0.1, 0.9,
         "first v <- momentum * v + gradient, then w <- w - lr * v with that NEW velocity"),
        ("zero gradient: momentum keeps moving", np.array([[0.5, 0.5], [0.5, 0.5]]), np.zeros((2, 2)),
         np.array([[1.0, -1.0], [0.5, 0.0]]), 0.1, 0.5,
         "even with a zero gradient the weights move by lr * momentum * v: that is what momentum means"),
        ("2-D weights, lr 0.5, momentum 0.99", rng.standard_normal((3, 4)), rng.standard_normal((3, 4)),
         rng.standard_normal((3, 4)), 0.5, 0.99,
         "use the lr and momentum you are given (no hard-coded 0.9 or 0.01), element-wise on any shape"),
        ("integer weights, gradient and velocity", np.array([3, -1, 2]), np.array([1, 2, -2]),
         np.array([1, 0, 1]), 0.25, 0.5,
         "integer arrays can't be updated in place with float results: build new arrays (w - lr * v)"),
    ]
    cases = [Case(description, (w, g, v, lr, mu), _momentum_step_reference(w, g, v, lr, mu), hint)
             for description, w, g, v, lr, mu, hint in settings]
    mistakes = [
        Mistake("the weights moved with the OLD velocity (before adding the gradient)",
                lambda w, g, v, lr, mu: (w - lr * v, mu * v + g),
                "update the velocity first, then move the weights with the new one: "
                "v = momentum * v + gradient; w = w - lr * v"),
        Mistake("the moving-average form v <- momentum * v + (1 - momentum) * gradient",
                lambda w, g, v, lr, mu: (w - lr * (mu * v + (1 - mu) * g), mu * v + (1 - mu) * g),
                "the course's velocity SUMS the gradients, v = momentum * v + gradient (no 1 - momentum); "
                "that is what makes its steps up to 1 / (1 - momentum) times larger"),
        Mistake("the weights moved with the gradient instead of the velocity",
                lambda w, g, v, lr, mu: (w - lr * g, mu * v + g),
                "move the weights along the new velocity: w - lr * v"),
        Mistake("lr inside the velocity (v <- momentum * v - lr * gradient, w <- w + v)",
                lambda w, g, v, lr, mu: (w + (mu * v - lr * g), mu * v - lr * g),
                "the course's velocity collects gradients, v = momentum * v + gradient; lr multiplies only "
                "in the weight update w - lr * v"),
        Mistake("the old velocity not decayed (v <- v + gradient)",
                lambda w, g, v, lr, mu: (w - lr * (v + g), v + g),
                "multiply the old velocity by momentum before adding the gradient"),
        Mistake("the pair returned in the wrong order (velocity, weights)",
                lambda w, g, v, lr, mu: (mu * v + g, w - lr * (mu * v + g)),
                "return (new_weights, new_velocity)"),
    ]
    return check_exercise("sgd_momentum_step", answer, cases, mistakes)


def _adam_step_reference(weights, gradient, m, s, t, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    """One step of the module's Adam at step number t on one weight array: (new weights, new m, new s)."""
    layer = Layer()
    layer.params["W"] = np.array(weights, dtype=np.float64)
    layer.grads["W"] = np.array(gradient, dtype=np.float64)
    optimizer = Adam([layer], lr=lr, betas=(beta1, beta2), eps=eps)
    optimizer.t = t - 1                                   # step() counts this step as t
    optimizer.state[(0, "W")] = (np.array(m, dtype=np.float64), np.array(s, dtype=np.float64))
    optimizer.step()
    return (layer.params["W"],) + optimizer.state[(0, "W")]


def _adam_step_with(mistake):
    """One Adam step by hand with one typical ``mistake`` (for the check's Mistakes)."""
    def produce(w, g, m, s, t, lr, beta1=0.9, beta2=0.999, eps=1e-8):
        g = np.asarray(g, dtype=np.float64)
        m = beta1 * m + (1 - beta1) * g
        s = beta2 * s + (1 - beta2) * (g if mistake == "s from g" else g * g)
        step = t + 1 if mistake == "t + 1" else t
        m_hat, s_hat = (m, s) if mistake == "no correction" else (m / (1 - beta1 ** step), s / (1 - beta2 ** step))
        if mistake == "m not corrected":
            m_hat = m
        denominator = np.sqrt(s_hat + eps) if mistake == "eps inside" else np.sqrt(s_hat) + eps
        new_w = w - lr * m_hat / denominator
        return (new_w, m_hat, s_hat) if mistake == "corrected state" else (new_w, m, s)
    return produce


def check_adam_step(answer):
    """Notebook 07, ``adam_step(weights, gradient, m, s, t, lr, beta1, beta2, eps)`` ->
    (new_weights, new_m, new_s): one Adam step at step number t (from 1), m and s returned
    without bias correction."""
    rng = np.random.default_rng(72)
    g_sizes = np.array([0.001, -5.0, 100.0])
    settings = [
        ("first step (t = 1) from zero state, gradients of very different sizes", np.zeros(3), g_sizes,
         np.zeros(3), np.zeros(3), 1, 0.01, 0.9, 0.999, 1e-8,
         "at t = 1 the bias correction makes m_hat = g and s_hat = g**2, so every weight moves by about "
         "lr * sign(g), whatever the size of g"),
        ("step t = 3 with state from earlier steps", rng.standard_normal(4), rng.standard_normal(4),
         0.1 * rng.standard_normal(4), 0.1 * rng.random(4), 3, 0.001, 0.9, 0.999, 1e-8,
         "m = beta1 * m + (1 - beta1) * g and s = beta2 * s + (1 - beta2) * g**2 come first; divide by "
         "1 - beta**t with THIS step's t only for the update, and return m and s uncorrected"),
        ("2-D weights, t = 100, beta1 0.5, beta2 0.9, eps 0.001", rng.standard_normal((2, 3)),
         rng.standard_normal((2, 3)), rng.standard_normal((2, 3)), rng.random((2, 3)), 100, 0.1, 0.5, 0.9, 1e-3,
         "use the betas and eps you are given; eps is added to sqrt(s_hat), outside the square root"),
        ("integer weights and gradient, t = 2", np.array([1, -2, 3]), np.array([2, 0, -1]),
         np.array([0.5, 0.0, -0.2]), np.array([0.3, 0.0, 0.1]), 2, 0.1, 0.9, 0.999, 1e-8,
         "integer arrays can't be updated in place with float results: build new arrays"),
    ]
    cases = [Case(description, args, _adam_step_reference(*args), hint, rtol=1e-6, atol=1e-10)
             for description, *args, hint in settings]
    mistakes = [
        Mistake("no bias correction (m and s used as they are)", _adam_step_with("no correction"),
                "divide m by 1 - beta1**t and s by 1 - beta2**t before the update: they start at 0 and are "
                "too small in the first steps"),
        Mistake("the bias correction with t + 1 instead of t", _adam_step_with("t + 1"),
                "t is already this step's number (1 for the first step): use 1 - beta**t"),
        Mistake("only s bias-corrected, m used as it is", _adam_step_with("m not corrected"),
                "correct both: m_hat = m / (1 - beta1**t), s_hat = s / (1 - beta2**t)"),
        Mistake("eps inside the square root, sqrt(s_hat + eps)", _adam_step_with("eps inside"),
                "the denominator is sqrt(s_hat) + eps"),
        Mistake("s averages the gradient, not its square", _adam_step_with("s from g"),
                "s <- beta2 * s + (1 - beta2) * gradient**2"),
        Mistake("the bias-corrected m_hat and s_hat returned as the new state",
                _adam_step_with("corrected state"),
                "return m and s WITHOUT the correction: the next step updates them and corrects again"),
    ]
    return check_exercise("adam_step", answer, cases, mistakes)


def check_steps_per_epoch(answer):
    """Notebook 07, ``steps_per_epoch(num_images, batch_size)`` -> how many optimizer
    steps (mini-batches) one epoch of ``train`` takes, the last batch possibly smaller."""
    settings = [
        (60000, 128, "60,000 / 128 = 468.75: the last 96 images form a 469th, smaller batch"),
        (100, 100, "exactly one full batch: one step"),
        (101, 100, "one image left over still makes a batch of its own: 2 steps"),
        (5, 64, "fewer images than one batch: a single, small batch, so 1 step"),
        (1, 1, "a batch of one image: one step"),
    ]
    # Expected: count the batches exactly as train() slices them.
    cases = [Case(f"{n:,} images, batch size {b}", (n, b), len(range(0, n, b)), hint)
             for n, b, hint in settings]
    mistakes = [
        Mistake("integer division n // b, which drops the last, smaller batch", lambda n, b: n // b,
                "round UP: math.ceil(n / b), or -(-n // b)"),
        Mistake("n // b + 1, one step too many when b divides n", lambda n, b: n // b + 1,
                "round up only when there is a remainder: math.ceil(n / b)"),
        Mistake("round(n / b), which rounds down below a half", lambda n, b: round(n / b),
                "any leftover images make one more batch: math.ceil(n / b)"),
        Mistake("n / b as a fraction, not a whole number of steps", lambda n, b: n / b,
                "a step is a whole batch: math.ceil(n / b)"),
    ]
    return check_exercise("steps_per_epoch", answer, cases, mistakes)


def _prior_loss_reference(labels, num_classes):
    """Cross-entropy of predicting the class frequencies for every example: logits = log(frequencies)."""
    frequencies = np.bincount(labels, minlength=num_classes) / len(labels)
    with np.errstate(divide="ignore"):
        logits = np.tile(np.log(frequencies), (len(labels), 1))   # -inf for absent classes: p = 0
    return SoftmaxCrossEntropy().forward(logits, labels)


def _entropy_with(mistake):
    """-sum_k f_k log f_k with one typical ``mistake`` (for the check's Mistakes)."""
    def produce(labels, num_classes):
        counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
        f = counts if mistake == "counts" else counts / len(labels)
        log = {"log10": np.log10, "log2": np.log2}.get(mistake, np.log)
        present = f > 0
        if mistake == "zeros kept":
            return float(-np.sum(f * log(f)))
        if mistake == "class mean":
            return float(-np.mean(log(f)))
        if mistake == "uniform":
            return math.log(num_classes)
        total = float(np.sum(f[present] * log(f[present])))
        return total if mistake == "no minus" else -total
    return produce


def check_prior_loss(answer):
    """Notebook 07, ``prior_loss(labels, num_classes)`` -> the mean cross-entropy of a
    network that ignores the image and always predicts the class frequencies
    f_k of ``labels``: -sum_k f_k ln f_k."""
    rng = np.random.default_rng(71)
    settings = [
        ("balanced: every one of 10 classes equally often", np.repeat(np.arange(10), 6), 10,
         "with equal frequencies f_k = 1/10 the loss is -sum_k f_k ln f_k = ln 10, the initial loss"),
        ("unbalanced: labels [0, 0, 0, 1]", np.array([0, 0, 0, 1]), 2,
         "f = (3/4, 1/4): average -ln f[label] over the examples, i.e. -sum_k f_k ln f_k"),
        ("classes 3 and 7 never occur", rng.choice([0, 1, 2, 4, 5, 6, 8, 9], size=40), 10,
         "a class with frequency 0 contributes 0 (0 * ln 0 = 0): skip zero frequencies"),
        ("one class only", np.zeros(7, dtype=np.int64), 3,
         "if every label is the same the frequencies are (1, 0, 0) and the loss is -1 * ln 1 = 0"),
        ("a single label", np.array([4]), 10, "one label: frequency 1 for its class, loss 0"),
    ]
    cases = [Case(description, (labels, K), _prior_loss_reference(labels, K), hint)
             for description, labels, K, hint in settings]
    mistakes = [
        Mistake("the minus sign missing (sum f ln f is negative)", _entropy_with("no minus"),
                "the loss is MINUS sum_k f_k ln f_k, a positive number"),
        Mistake("counts instead of frequencies (np.bincount not divided by the number of labels)",
                _entropy_with("counts"), "frequencies are counts / len(labels); they add up to 1"),
        Mistake("log base 10 instead of the natural log", _entropy_with("log10"),
                "cross-entropy uses the natural log, np.log (ln 10 = 2.303 is the initial loss)"),
        Mistake("log base 2 (bits) instead of the natural log", _entropy_with("log2"),
                "use np.log: the training loss is measured in nats"),
        Mistake("the plain mean of -ln f_k over the classes, not weighted by the frequencies",
                _entropy_with("class mean"),
                "average -ln f[label] over the EXAMPLES: that weights each class by its frequency f_k"),
        Mistake("classes that never occur kept: 0 * ln 0 gives nan", _entropy_with("zeros kept"),
                "leave out the zero frequencies (0 * ln 0 counts as 0)"),
        Mistake("ln K, the loss of the uniform prediction, whatever the labels", _entropy_with("uniform"),
                "use the frequencies of the labels you are given, not 1 / num_classes"),
    ]

    return check_exercise("prior_loss", answer, cases, mistakes)


def _divergence_experiment(candidates, images, labels, momentum=0.9, fresh_model=True, stop_at_first=True):
    """Notebook 07's experiment, done with the module: (the first diverging lr or None,
    the settings (optimizer, momentum, epochs, batch_size, schedule) of every train call)."""
    calls, found = [], None
    model = reference_cnn(seed=0)
    for lr in candidates:
        model = reference_cnn(seed=0) if fresh_model else model
        calls.append(("SGD", momentum, 1, 50, None))
        try:
            train(model, images, labels, epochs=1, batch_size=50,
                  optimizer=SGD(model, lr=lr, momentum=momentum), schedule=None)
        except TrainingDiverged:
            found = lr if found is None or not stop_at_first else found
            if stop_at_first:
                break
    return found, calls


def _recording_train_calls(answer):
    """``answer`` wrapped to return (its result, the settings of every ``train`` call it made),
    so the check sees the optimizer and momentum it trained with, not only the lr it returned."""
    def run(candidates, images, labels):
        calls, real_train = [], globals()["train"]

        def recording_train(model, images, labels, **settings):
            optimizer = settings.get("optimizer")
            calls.append((type(optimizer).__name__, getattr(optimizer, "momentum", None),
                          settings.get("epochs", 1), settings.get("batch_size", 64),
                          settings.get("schedule", "cosine")))
            return real_train(model, images, labels, **settings)

        globals()["train"] = recording_train
        try:
            return answer(candidates, images, labels), calls
        finally:
            globals()["train"] = real_train
    run.__wrapped__ = answer                  # messages name the answer's own arguments
    return run if callable(answer) else answer


def check_first_diverging_lr(answer):
    """Notebook 07, ``first_diverging_lr(candidates, images, labels)`` -> the first
    learning rate in ``candidates`` for which one epoch of ``train`` on a fresh
    ``reference_cnn(seed=0)`` (SGD momentum 0.9, batch_size=50, schedule=None)
    raises TrainingDiverged, or None if none does. The check also records how the
    answer called ``train`` (optimizer, momentum, epochs, batch size, schedule)."""
    images, labels = load_mnist("test")
    images, labels = images[:150], labels[:150]            # three batches of 50
    settings = [
        ("learning rates [0.01, 1.0, 100.0, 1e10]", [0.01, 1.0, 100.0, 1e10],
         "catch scratchcnn.TrainingDiverged around scratchcnn.train and return that lr at once. A loss above "
         "20 x ln 10 (about 46) counts as diverged too, not only NaN or inf"),
        ("learning rates [0.01, 0.1]: none diverges", [0.01, 0.1],
         "return None when no learning rate raises TrainingDiverged"),
        ("learning rates [2.0, 10.0]", [2.0, 10.0],
         "build a fresh scratchcnn.reference_cnn(seed=0) and SGD(model, lr=lr, momentum=0.9) for EVERY lr, and "
         "train exactly 1 epoch with batch_size=50 and schedule=None, as the exercise says"),
    ]
    runs = {}

    def experiment(candidates, **variant):
        # Each variant of the experiment is run once, and only when needed (training is slow).
        key = (tuple(candidates), tuple(sorted(variant.items())))
        if key not in runs:
            with np.errstate(all="ignore"):   # exploding weights overflow float32 on purpose here
                runs[key] = _divergence_experiment(candidates, images, labels, **variant)
        return runs[key]

    def last_instead_of_none(candidates, images, labels):
        found, calls = experiment(candidates)
        return (candidates[-1] if found is None else found), calls

    cases = [Case(description, (list(candidates), images, labels), experiment(candidates), hint)
             for description, candidates, hint in settings]
    mistakes = [
        Mistake("trained with momentum 0 (plain SGD) instead of momentum 0.9",
                lambda candidates, images, labels: experiment(candidates, momentum=0.0),
                "use scratchcnn.SGD(model, lr=lr, momentum=0.9), as the exercise says: momentum makes "
                "every step up to ten times larger"),
        Mistake("one model shared by all learning rates instead of a fresh one for each",
                lambda candidates, images, labels: experiment(candidates, fresh_model=False),
                "build a fresh scratchcnn.reference_cnn(seed=0) inside the loop: a model an earlier lr "
                "already broke (dead ReLUs) may never diverge"),
        Mistake("the last candidate returned when none diverges, instead of None", last_instead_of_none,
                "return None after the loop when no learning rate raised TrainingDiverged"),
        Mistake("every learning rate trained, and the LAST diverging one returned",
                lambda candidates, images, labels: experiment(candidates, stop_at_first=False),
                "return the first lr that diverges, at once, from inside the loop"),
    ]
    with np.errstate(all="ignore"):
        return check_exercise("first_diverging_lr", _recording_train_calls(answer), cases, mistakes,
                              time_limit=60.0)


def _overfit_tiny_batch_reference(images, labels, steps, lr):
    """Sanity check 2 of notebook 07: full-batch Adam steps on a fresh reference_cnn(seed=0);
    the loss before each step."""
    model, loss_fn = reference_cnn(seed=0), SoftmaxCrossEntropy()
    optimizer = Adam(model, lr=lr)
    losses = []
    for _ in range(steps):
        losses.append(loss_fn.forward(model.forward(images), labels))
        model.backward(loss_fn.backward())
        optimizer.step()
    return np.array(losses)


def _overfit_with(mistake):
    """The tiny-batch loop with one typical ``mistake`` (for the check's Mistakes)."""
    def produce(images, labels, steps, lr):
        model, loss_fn = reference_cnn(seed=0), SoftmaxCrossEntropy()
        optimizer = SGD(model, lr=lr) if mistake == "SGD" else Adam(model, lr=lr)
        losses = []
        for _ in range(steps + 1):
            losses.append(loss_fn.forward(model.forward(images), labels))
            if mistake != "no backward":
                model.backward(loss_fn.backward())
            if mistake == "new Adam":
                optimizer = Adam(model, lr=lr)
            optimizer.step()
        return np.array(losses[1:] if mistake == "after the step" else losses[:-1])
    return produce


def check_overfit_tiny_batch(answer):
    """Notebook 07, ``overfit_tiny_batch(images, labels, steps, lr)`` -> the losses (steps,) of
    full-batch Adam(lr) steps on a fresh reference_cnn(seed=0), each before its update."""
    images, labels = load_mnist("test")
    settings = [
        ("a batch of one digit, 15 steps, lr 0.002", images[:1], labels[:1], 15, 0.002),
        ("8 digits, 25 steps, lr 0.003", images[10:18], labels[10:18], 25, 0.003),
    ]
    cases = []
    for description, x, y, steps, lr in settings:
        expected = _overfit_tiny_batch_reference(x, y, steps, lr)
        assert expected[-1] < 0.05, "the sanity check itself must reach a near-zero loss"
        cases.append(Case(description, (x, y, steps, lr), expected,
                          f"a correct loop takes the loss from about ln 10 = 2.30 to {expected[-1]:.0e} here. Per "
                          "step: loss_fn.forward(model.forward(images), labels), model.backward(loss_fn.backward()), "
                          "optimizer.step(); one Adam for the whole run; record the loss before the step",
                          rtol=1e-4, atol=1e-5))
    mistakes = [
        Mistake("no backward pass before the step, so the gradients stay zero and nothing is learned",
                _overfit_with("no backward"),
                "call model.backward(loss_fn.backward()) after the loss and before optimizer.step()"),
        Mistake("a new Adam every step, so its step count and averages restart each time",
                _overfit_with("new Adam"), "create the optimizer once, before the loop"),
        Mistake("the loss recorded after the step instead of before it", _overfit_with("after the step"),
                "append the loss of the forward pass that the step's gradient comes from"),
        Mistake("scratchcnn.SGD instead of scratchcnn.Adam", _overfit_with("SGD"),
                "use scratchcnn.Adam(model, lr=lr)"),
    ]
    return check_exercise("overfit_tiny_batch", answer, cases, mistakes, time_limit=20.0)

# --- Notebook 08: looking inside the trained network -------------------------

def _score_gradient(model, image, target_class):
    """d(score of target_class)/d(image) for one (H, W) image: forward, then backward a one-hot."""
    model.eval()
    logits = model.forward(image[None, None])
    onehot = np.zeros_like(logits)
    onehot[0, target_class] = 1
    return model.backward(onehot)[0, 0]


def _loss_gradient(model, image, label):
    """dL/d(image) for one (H, W) image, L the cross-entropy of ``label``."""
    model.eval()
    loss_fn = SoftmaxCrossEntropy()
    loss_fn.forward(model.forward(image[None, None]), np.array([label]))
    return model.backward(loss_fn.backward())[0, 0]


def _probability_gradient(model, image, target_class):
    """d softmax(z)_c / d(image): backward of p_c (onehot_c - p), the Jacobian row of softmax."""
    model.eval()
    p = softmax(model.forward(image[None, None]))
    return model.backward(p[:, [target_class]] * (np.eye(p.shape[1])[[target_class]] - p))[0, 0]


def _digits_for_checks(count=3):
    """The first few test digits (float64, (H, W) each) and their labels."""
    images, labels = load_mnist("test")
    return [image[0].astype(np.float64) for image in images[:count]], [int(label) for label in labels[:count]]


def _model_by_name(function, models):
    """``function(model, ...)`` called as ``f(model_name, ...)``: the cases name their model, so the
    framework compares and copies a short name instead of a whole network (whose forward caches
    change on every call without any weight changing)."""
    if not callable(function):
        return function
    run = lambda name, *args: function(models[name], *args)
    run.__wrapped__ = function                # messages name the answer's own arguments
    return run


def _checked_with_models(name, answer, cases, mistakes, models):
    """check_exercise for answers that take a model first; see _model_by_name."""
    mistakes = [Mistake(m.name, _model_by_name(m.produce, models), m.fix) for m in mistakes]
    return check_exercise(name, _model_by_name(answer, models), cases, mistakes)


def check_saliency_map(answer):
    """Notebook 08, ``saliency_map(model, image, target_class)`` -> (H, W) array
    |d score_c / d image|, the absolute gradient of the class score (the logit,
    before softmax) with respect to every input pixel of one (H, W) image."""
    model = load_model(DEFAULT_MODEL_PATH, dtype=np.float64)
    untrained = reference_cnn(seed=1, dtype=np.float64).eval()
    (digit, other_digit, _), (label, other_label, _) = _digits_for_checks()
    noise = np.random.default_rng(80).random((28, 28))
    wrong_class = (other_label + 3) % 10
    settings = [
        (f"trained model, test digit 0 (a {label}), its own class", "trained", digit, label,
         "forward the image as a batch of one, image[None, None], then model.backward(onehot) with a 1 at "
         "target_class; return the ABSOLUTE value as a (28, 28) array"),
        (f"trained model, test digit 1 (a {other_label}), class {wrong_class}", "trained", other_digit, wrong_class,
         "use the target_class you are given, not the predicted class or the true label"),
        ("untrained model, a noise image, class 4", "untrained", noise, 4,
         "use the model you are given, and call model.forward on this image right before model.backward"),
    ]
    models = {"trained": model, "untrained": untrained}
    cases = [Case(description, (m, image, c), np.abs(_score_gradient(models[m], image, c)), hint,
                  rtol=1e-4, atol=1e-9)
             for description, m, image, c, hint in settings]
    mistakes = [
        Mistake("the gradient without the absolute value", lambda m, image, c: _score_gradient(m, image, c),
                "saliency is |d score / d pixel|: wrap the gradient in np.abs"),
        Mistake("the batch and channel axes kept: shape (1, 1, 28, 28)",
                lambda m, image, c: np.abs(_score_gradient(m, image, c))[None, None],
                "return the (28, 28) image of the gradient: take [0, 0] of what backward returns"),
        Mistake("the gradient of the loss (softmax - onehot) instead of the class score",
                lambda m, image, c: np.abs(_loss_gradient(m, image, c)),
                "pass a one-hot row to model.backward: the 'loss' is then the score z_c itself"),
        Mistake("the gradient of the probability softmax(z)_c instead of the score z_c",
                lambda m, image, c: np.abs(_probability_gradient(m, image, c)),
                "differentiate the logit (before softmax): model.backward(onehot)"),
        Mistake("the predicted class used instead of target_class",
                lambda m, image, c: np.abs(_score_gradient(m, image, int(m.predict(image[None, None])[0]))),
                "put the 1 of the one-hot row at target_class"),
        Mistake("the shipped model loaded inside the function instead of the model you are given",
                lambda m, image, c: np.abs(_score_gradient(model, image, c)),
                "use the model argument: the check passes untrained models too"),
    ]
    return _checked_with_models("saliency_map", answer, cases, mistakes, models)


def _occlusion_reference(model, image, label, patch_size, stride, *, sign=1, scores="probabilities",
                         extra_position=1, cumulative=False):
    """Drop of p(label) when a patch_size square at each stride step is set to 0. The keywords
    make the typical mistakes the check names (flipped sign, logits, a missing + 1, no copy)."""
    size = (image.shape[0] - patch_size) // stride + extra_position
    occluded = np.repeat(image[None], size * size, axis=0)
    for i in range(size):
        for j in range(size):
            target = occluded[i * size + j:] if cumulative else occluded[i * size + j]
            target[..., i * stride:i * stride + patch_size, j * stride:j * stride + patch_size] = 0
    score = model.predict_proba if scores == "probabilities" else model.forward
    original = score(image[None, None])[0, label]
    return sign * (original - score(occluded[:, None])[:, label]).reshape(size, size)


def check_occlusion_map(answer):
    """Notebook 08, ``occlusion_map(model, image, label, patch_size, stride)`` -> (H', W')
    array: entry (i, j) = p(label | image) - p(label | image with the square
    rows i*stride : i*stride + patch_size (same columns) set to 0),
    H' = (H - patch_size) // stride + 1."""
    model = load_model(DEFAULT_MODEL_PATH, dtype=np.float64)
    (digit, other_digit, third_digit), (label, other_label, third_label) = _digits_for_checks()
    settings = [
        (f"test digit 0 (a {label}), patch 7, stride 7", digit, label, 7, 7,
         "the patch at map position (i, j) covers rows i*stride : i*stride + patch_size and the same "
         "columns; set it to 0 on a COPY of the image"),
        (f"test digit 1 (a {other_label}), patch 4, stride 2 (overlapping patches)", other_digit, other_label, 4, 2,
         "the map is (28 - patch_size) // stride + 1 = 13 wide, like a convolution without padding"),
        (f"test digit 2 (a {third_label}), patch 5, stride 3 (odd sizes)", third_digit, third_label, 5, 3,
         "(28 - 5) // 3 + 1 = 8 positions per axis; each entry is p(original) - p(occluded)"),
        (f"test digit 0 (a {label}), patch 28: the whole image", digit, label, 28, 1,
         "one position only: a (1, 1) map holding p(label | digit) - p(label | black image)"),
    ]
    cases = [Case(description, ("trained", image, c, k, s), _occlusion_reference(model, image, c, k, s), hint,
                  rtol=1e-4, atol=1e-7)
             for description, image, c, k, s, hint in settings]
    mistakes = [
        Mistake("the sign flipped: p(occluded) - p(original)",
                lambda *args: _occlusion_reference(*args, sign=-1),
                "a DROP is p(label | image) - p(label | occluded image): positive where hiding hurts"),
        Mistake("logits (scores before softmax) instead of probabilities",
                lambda *args: _occlusion_reference(*args, scores="logits"),
                "use model.predict_proba(...)[:, label], the softmax probabilities"),
        Mistake("one position too few per axis: (H - patch_size) // stride without the + 1",
                lambda *args: _occlusion_reference(*args, extra_position=0),
                "count positions like a convolution's output size: (H - patch_size) // stride + 1"),
        Mistake("the patches drawn on the same image, so earlier patches stay black",
                lambda *args: _occlusion_reference(*args, cumulative=True),
                "start every position from a fresh copy: occluded = image.copy()"),
    ]
    return _checked_with_models("occlusion_map", answer, cases, mistakes, {"trained": model})


def check_conv2_output_shape(answer):
    """Notebook 08, ``conv2_output_shape(batch_size)`` -> the shape of the output of
    the reference CNN's second convolution (layer 3, before its ReLU) for a batch
    of ``batch_size`` digits."""
    model = reference_cnn(seed=0)
    hint = ("(N, filters, height, width): conv2 has 16 filters, one output channel each, and its padding 1 "
            "keeps the size; only the pooling BEFORE it halved 28 to 14")
    cases = []
    for batch_size in (1, 5, 64):
        x = np.zeros((batch_size, 1, 28, 28), dtype=np.float32)
        for layer in model.layers[:4]:
            x = layer.forward(x)
        cases.append(Case(f"a batch of {batch_size}", (batch_size,), tuple(x.shape), hint))
    mistakes = [
        Mistake("the shape after the second max-pool (7 x 7) instead of before it", lambda n: (n, 16, 7, 7),
                "layer 3 is the convolution itself; its pooling comes two layers later"),
        Mistake("the batch axis left out", lambda n: (16, 14, 14),
                "a layer's output keeps the batch axis first: (batch_size, 16, 14, 14)"),
        Mistake("a batch of 1 whatever batch_size is", lambda n: (1, 16, 14, 14),
                "the first axis is the batch_size you are given"),
        Mistake("the first convolution's 8 channels", lambda n: (n, 8, 14, 14),
                "conv2 has 16 filters, so 16 output channels (its input has 8)"),
        Mistake("the first max-pool forgotten (28 x 28)", lambda n: (n, 16, 28, 28),
                "the max-pool after conv1 halves 28 to 14 before conv2 sees it"),
    ]
    return check_exercise("conv2_output_shape", answer, cases, mistakes)


def _fgsm_reference(model, image, label, epsilon):
    """One fast-gradient-sign step: clip(image + epsilon * sign(dL/dimage), 0, 1)."""
    return np.clip(image + epsilon * np.sign(_loss_gradient(model, image, label)), 0, 1)


def check_fgsm_step(answer):
    """Notebook 08, ``fgsm_step(model, image, label, epsilon)`` -> the (H, W) image
    clip(image + epsilon * sign(dL/dimage), 0, 1), L the cross-entropy of ``label``."""
    model = load_model(DEFAULT_MODEL_PATH, dtype=np.float64)
    (digit, other_digit, _), (label, other_label, _) = _digits_for_checks()
    settings = [
        (f"test digit 0 (a {label}) dimmed to greys 0.25..0.75, epsilon 0.1 (no clipping needed)",
         0.25 + 0.5 * digit, label, 0.1,
         "move UP the gradient of the LOSS, image + epsilon * sign(dL/dx); dL/dx = model.backward(dL/dlogits) "
         "with dL/dlogits from SoftmaxCrossEntropy's backward, after a forward of image[None, None]"),
        (f"test digit 1 (a {other_label}), epsilon 0.3: clipping", other_digit, other_label, 0.3,
         "clip the result to [0, 1] at both ends (np.clip(..., 0, 1))"),
        (f"test digit 1 (a {other_label}), epsilon 0", other_digit, other_label, 0.0,
         "epsilon 0 must give back the image unchanged, shape (28, 28)"),
    ]
    cases = [Case(description, ("trained", image, c, eps), _fgsm_reference(model, image, c, eps), hint,
                  rtol=1e-6, atol=1e-9)
             for description, image, c, eps, hint in settings]
    mistakes = [
        Mistake("a step DOWN the loss gradient (minus instead of plus)",
                lambda m, image, c, eps: _fgsm_reference(m, image, c, -eps),
                "add epsilon * sign(dL/dx): going up the loss makes the true label LESS likely"),
        Mistake("no clipping to [0, 1]",
                lambda m, image, c, eps: image + eps * np.sign(_loss_gradient(m, image, c)),
                "np.clip(..., 0, 1): pixels can't be darker than black or brighter than white"),
        Mistake("the gradient itself instead of its sign",
                lambda m, image, c, eps: np.clip(image + eps * _loss_gradient(m, image, c), 0, 1),
                "FGSM moves every pixel by exactly epsilon: use np.sign(gradient)"),
        Mistake("the gradient of the class score instead of the loss",
                lambda m, image, c, eps: np.clip(image + eps * np.sign(_score_gradient(m, image, c)), 0, 1),
                "differentiate the cross-entropy loss: SoftmaxCrossEntropy's forward and backward, then "
                "model.backward of that"),
        Mistake("the batch and channel axes kept: shape (1, 1, 28, 28)",
                lambda m, image, c, eps: _fgsm_reference(m, image, c, eps)[None, None],
                "return an image of the shape you were given, (28, 28)"),
    ]
    return _checked_with_models("fgsm_step", answer, cases, mistakes, {"trained": model})

# --- Notebook 09: play with it -----------------------------------------------

def _crop_reference(image):
    """The "cropped" step of preprocess_digit: the bounding box of the pixels above 10% of the brightest."""
    return preprocess_digit(image, return_steps=True)[1]["cropped"]


def check_crop_to_ink(answer):
    """Notebook 09, ``crop_to_ink(image (H, W), white ink on black)`` -> the smallest rectangle holding
    every ink pixel, ink meaning brighter than 10% of the brightest pixel. The reference is
    the "cropped" step of preprocess_digit."""
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
    digit_bytes = read_idx(DEFAULT_DATA_DIR / "t10k-images-idx3-ubyte.gz", IMAGES_MAGIC)[0]
    digit = digit_bytes / 255.0
    end_hint = ("slice ends are exclusive: image[rows.min():rows.max() + 1, cols.min():cols.max() + 1] "
                "keeps the last ink row and column")
    cases = [
        Case("a 3 x 4 block of ink in a 10 x 10 image", (block,), _crop_reference(block), end_hint),
        Case("ink touching the top and right edges", (edges,), _crop_reference(edges), end_hint),
        Case("a faint smudge (5% of the brightest pixel) far from the digit", (smudge,), _crop_reference(smudge),
             "ink means brighter than 10% of the brightest pixel (image > 0.1 * image.max())"),
        Case("a dim drawing (brightest pixel 0.5) with a stroke of 0.08", (dim,), _crop_reference(dim),
             "the threshold is relative: 10% of the brightest pixel (0.05 here), not an absolute 0.1"),
        Case("a single ink pixel", (single,), _crop_reference(single), end_hint),
        Case("the first MNIST test digit", (digit,), _crop_reference(digit), end_hint),
        Case("the first MNIST test digit as integers 0..255 (uint8)", (digit_bytes,),
             np.rint(255 * _crop_reference(digit)).astype(np.uint8), end_hint),
    ]

    def crop(image, rows, cols, end=1):
        return image[rows.min():rows.max() + end, cols.min():cols.max() + end]

    mistakes = [
        Mistake("the slice ends without + 1 (they are exclusive)",
                lambda image: crop(image, *np.nonzero(image > 0.1 * image.max()), end=0),
                "image[rows.min():rows.max() + 1, cols.min():cols.max() + 1]"),
        Mistake("an absolute threshold (image > 0.1) instead of 10% of the brightest pixel",
                lambda image: crop(image, *np.nonzero(image > 0.1)),
                "compare with 0.1 * image.max(): the threshold follows the image's brightness"),
        Mistake("every nonzero pixel counted as ink (no threshold)",
                lambda image: crop(image, *np.nonzero(image)),
                "leave out faint smudges: ink is image > 0.1 * image.max()"),
        Mistake("rows and columns swapped in the slice",
                lambda image: crop(image, *np.nonzero(image > 0.1 * image.max())[::-1]),
                "np.nonzero returns the row indices first: image[rows..., cols...]"),
    ]
    return check_exercise("crop_to_ink", answer, cases, mistakes)


def check_centre_of_mass(answer):
    """Notebook 09, ``centre_of_mass(image (H, W))`` -> (row, column), the ink-weighted mean position
        row = sum_{y,x} y * image[y, x] / sum image,   column = sum_{y,x} x * image[y, x] / sum image.
    Any pair (tuple, list or array) is accepted."""
    reference = lambda image: np.array(centre_of_mass(np.asarray(image, dtype=np.float64)))
    one = np.zeros((6, 8))
    one[2, 5] = 1.0
    weighted = np.zeros((1, 4))
    weighted[0, 0], weighted[0, 3] = 1.0, 0.5
    wide = np.zeros((3, 7))
    wide[1, 6], wide[2, 5] = 1.0, 1.0
    digit_bytes = read_idx(DEFAULT_DATA_DIR / "t10k-images-idx3-ubyte.gz", IMAGES_MAGIC)[1]
    weight_hint = "weight each position by its brightness: sum(y * image) / sum(image)"
    order_hint = "return (row, column): the row (y, axis 0) first, in pixel indices (the top left pixel is (0, 0))"
    cases = [Case(description, (image,), reference(image), hint, rtol=1e-6, atol=1e-9)
             for description, image, hint in [
        ("one pixel at row 2, column 5", one, order_hint),
        ("a bright pixel (1.0) and a dim one (0.5) in one row", weighted, weight_hint),
        ("a wide 3 x 7 image with ink on the right", wide, order_hint),
        ("the second MNIST test digit", digit_bytes / 255.0, weight_hint),
        ("the second MNIST test digit as integers 0..255 (uint8)", digit_bytes,
         "integers work like floats; the sums must not overflow (np.sum of uint8 gives a wide integer)"),
    ]]

    def over_the_pixel_count(image):
        image = np.asarray(image, dtype=np.float64)
        rows, cols = np.indices(image.shape)
        return (rows * image).sum() / image.size, (cols * image).sum() / image.size

    mistakes = [
        Mistake("(column, row): the two axes swapped",
                lambda image: reference(image)[::-1],
                "return the row (axis 0) first, then the column"),
        Mistake("the +0.5 pixel-centre convention (pixel centres at 0.5, 1.5, ...)",
                lambda image: reference(image) + 0.5,
                "use the pixel indices themselves, 0 .. H-1, as in section 3 (no + 0.5)"),
        Mistake("the plain mean position of the ink pixels, not weighted by their brightness",
                lambda image: tuple(np.mean(axis) for axis in np.nonzero(image)),
                "weight each position by its brightness: sum(y * image) / sum(image)"),
        Mistake("divided by the number of pixels instead of by the total ink",
                over_the_pixel_count,
                "divide by image.sum(), the total ink"),
        Mistake("the middle of the image instead of the centre of the ink",
                lambda image: ((np.shape(image)[0] - 1) / 2, (np.shape(image)[1] - 1) / 2),
                "weight the positions by the ink: sum(y * image) / sum(image)"),
    ]
    return check_exercise("centre_of_mass", answer, cases, mistakes)


def check_feature_map_shapes(answer):
    """Notebook 09 (predict before running), ``feature_map_shapes()`` -> the shapes (C, H, W) of the
    feature maps of the reference CNN's two conv layers, as the digit slider shows them."""
    expected = tuple(maps.shape for maps in conv_feature_maps(reference_cnn(), np.zeros((28, 28))))
    cases = [Case("the reference CNN on one 28 x 28 digit", (), expected,
                  "one map per filter (8, then 16); a 3x3 convolution with padding 1 keeps the size "
                  "(28 x 28), and the second conv sees the 14 x 14 maps the first max-pool left. "
                  "Give (C, H, W) without the batch axis", rtol=0, atol=0)]
    mistakes = [
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
    ]
    return check_exercise("feature_map_shapes", answer, cases, mistakes)


def _most_confident_mistake(probabilities, labels, confidence="predicted", pick=np.argmax, position=False):
    """The index of the misclassified image whose predicted class has the highest probability.
    The keywords make the typical mistakes the check names."""
    predictions = probabilities.argmax(axis=1)
    mistakes = np.flatnonzero(predictions != labels)
    score = probabilities[mistakes, predictions[mistakes] if confidence == "predicted" else labels[mistakes]]
    chosen = int(pick(score))
    return chosen if position else int(mistakes[chosen])


def check_most_confident_mistake(answer):
    """Notebook 09, ``most_confident_mistake(probabilities (N, K), labels (N,))`` -> the index n of the
    misclassified image the network was surest about: the largest probabilities[n].max()
    among the n with argmax != label (the first one on a tie)."""
    rng = np.random.default_rng(9)
    random_probabilities = rng.dirichlet(np.full(10, 0.3), size=300)
    random_labels = np.where(rng.random(300) < 0.8, random_probabilities.argmax(axis=1), rng.integers(0, 10, 300))
    settings = [
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
    ]
    cases = [Case(description, (p, y), _most_confident_mistake(p, y), hint, rtol=0, atol=0)
             for description, p, y, hint in settings]
    mistakes = [
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
    ]
    return check_exercise("most_confident_mistake", answer, cases, mistakes)


# --- Notebook 10: going deeper -----------------------------------------------

def _batchnorm_reference(x, gamma, beta, eps):
    """scratchcnn's BatchNorm1D for x (N, D) in float64 with these gamma, beta and eps."""
    layer = BatchNorm1D(x.shape[1], eps=eps, dtype=np.float64)
    layer.params["gamma"], layer.params["beta"] = np.array(gamma, np.float64), np.array(beta, np.float64)
    return layer


def _batchnorm_cases(seed):
    """(description, x, gamma, beta, eps, dout, hint) for the batch-norm exercises."""
    rng = np.random.default_rng(seed)
    x_hand = np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0], [6.0, 60.0]])
    return [
        ("4 examples, 2 features, gamma 1 and beta 0", x_hand, np.ones(2), np.zeros(2), 1e-5,
         np.array([[1.0, 0.0], [0.0, 2.0], [-1.0, 1.0], [0.5, -1.0]]),
         "statistics per feature, over the batch: mean and variance along axis 0"),
        ("gamma and beta not 1 and 0", rng.standard_normal((5, 3)) * 2 + 1, np.array([2.0, -0.5, 1.5]),
         np.array([0.3, -1.0, 2.0]), 1e-5, rng.standard_normal((5, 3)),
         "out = gamma * x_hat + beta, gamma scaling and beta shifting each feature"),
        ("features on very different scales, eps 0.1", rng.standard_normal((6, 4)) * np.array([0.01, 1, 100, 3]),
         rng.uniform(0.5, 2, 4), rng.standard_normal(4), 0.1, rng.standard_normal((6, 4)),
         "eps goes under the square root, next to the variance: (x - mean) / sqrt(var + eps)"),
        ("a batch of 3", rng.standard_normal((3, 2)), np.array([1.0, 3.0]), np.array([0.0, 0.5]), 1e-5,
         rng.standard_normal((3, 2)),
         "the batch variance divides by N (np.var's default), not by N - 1"),
    ]


def check_batchnorm_forward(answer):
    """Notebook 10, ``batchnorm_forward(x, gamma, beta, eps)`` -> out, batch normalisation of
    x (N, D) in training mode: per feature, x_hat = (x - mean) / sqrt(var + eps) with the
    batch's mean and (population) variance, out = gamma * x_hat + beta."""
    mistakes = [
        Mistake("the sample variance (dividing by N - 1) instead of the population variance",
                lambda x, g, b, eps: g * (x - x.mean(0)) / np.sqrt(x.var(0, ddof=1) + eps) + b,
                "use x.var(axis=0) (ddof=0): batch norm divides by N, the number of values it averages"),
        Mistake("statistics over the features of each example (axis 1) instead of over the batch",
                lambda x, g, b, eps: g * (x - x.mean(1, keepdims=True)) / np.sqrt(x.var(1, keepdims=True) + eps) + b,
                "take the mean and variance along axis 0, one pair per feature (that is layer norm)"),
        Mistake("eps added to the standard deviation instead of the variance",
                lambda x, g, b, eps: g * (x - x.mean(0)) / (x.std(0) + eps) + b,
                "divide by np.sqrt(var + eps), with eps inside the square root"),
        Mistake("dividing by the variance instead of the standard deviation",
                lambda x, g, b, eps: g * (x - x.mean(0)) / (x.var(0) + eps) + b,
                "x_hat = (x - mean) / sqrt(var + eps): the square root makes x_hat's variance 1"),
        Mistake("gamma and beta swapped", lambda x, g, b, eps: b * (x - x.mean(0)) / np.sqrt(x.var(0) + eps) + g,
                "out = gamma * x_hat + beta: gamma multiplies, beta is added"),
        Mistake("gamma and beta left out (returning x_hat)",
                lambda x, g, b, eps: (x - x.mean(0)) / np.sqrt(x.var(0) + eps),
                "finish with out = gamma * x_hat + beta"),
    ]
    cases = [Case(description, (x, g, b, eps), _batchnorm_reference(x, g, b, eps).forward(x), hint)
             for description, x, g, b, eps, _, hint in _batchnorm_cases(100)]
    return check_exercise("batchnorm_forward", answer, cases, mistakes)


def _batchnorm_backward_reference(dout, x, gamma, eps):
    layer = _batchnorm_reference(x, gamma, np.zeros_like(gamma), eps)
    layer.forward(x)
    return layer.backward(dout), layer.grads["gamma"], layer.grads["beta"]


def check_batchnorm_backward(answer):
    """Notebook 10, ``batchnorm_backward(dout, x, gamma, eps)`` -> (dx, dgamma, dbeta) for
    out = gamma * x_hat + beta in training mode, x (N, D), in the compact form
    dx = gamma / sqrt(var + eps) * (dout - mean(dout) - x_hat * mean(dout * x_hat))."""
    def parts(dout, x, gamma, eps, ddof=0):
        inv_std = 1 / np.sqrt(x.var(0, ddof=ddof) + eps)
        x_hat = (x - x.mean(0)) * inv_std
        return x_hat, inv_std, (dout * x_hat).sum(0), dout.sum(0)

    def wrong(kind):
        def produce(dout, x, gamma, eps):
            x_hat, inv_std, dgamma, dbeta = parts(dout, x, gamma, eps, ddof=1 if kind == "sample" else 0)
            mean_dout, mean_dout_x_hat = dout.mean(0), (dout * x_hat).mean(0)
            if kind == "no means":
                return gamma * inv_std * dout, dgamma, dbeta
            if kind == "no x_hat term":
                return gamma * inv_std * (dout - mean_dout), dgamma, dbeta
            if kind == "no mean term":
                return gamma * inv_std * (dout - x_hat * mean_dout_x_hat), dgamma, dbeta
            if kind == "sums":
                return gamma * inv_std * (dout - dbeta - x_hat * dgamma), dgamma, dbeta
            if kind == "no gamma":
                return inv_std * (dout - mean_dout - x_hat * mean_dout_x_hat), dgamma, dbeta
            if kind == "swapped":
                return gamma * inv_std * (dout - mean_dout - x_hat * mean_dout_x_hat), dbeta, dgamma
            return gamma * inv_std * (dout - mean_dout - x_hat * mean_dout_x_hat), dgamma, dbeta   # "sample"
        return produce

    mistakes = [
        Mistake("missing the mean-of-gradient terms: treating the batch mean and variance as constants",
                wrong("no means"), "in training the mean and variance depend on every x: subtract "
                                   "mean(dout) and x_hat * mean(dout * x_hat) before scaling"),
        Mistake("missing the variance's term x_hat * mean(dout * x_hat)", wrong("no x_hat term"),
                "the variance depends on x too: dx = gamma * inv_std * (dout - mean(dout) - x_hat * mean(dout * x_hat))"),
        Mistake("missing the mean's term mean(dout)", wrong("no mean term"),
                "the batch mean depends on x: subtract mean(dout) (over the batch, axis 0)"),
        Mistake("sums where the formula has means", wrong("sums"),
                "mean(dout) = dout.sum(axis=0) / N: the compact formula averages over the batch"),
        Mistake("gamma left out of dx", wrong("no gamma"), "out = gamma * x_hat + beta, so dx_hat = gamma * dout"),
        Mistake("dgamma and dbeta swapped", wrong("swapped"),
                "dgamma = sum(dout * x_hat) and dbeta = sum(dout), over the batch; return (dx, dgamma, dbeta)"),
        Mistake("the sample variance (N - 1) instead of the population variance", wrong("sample"),
                "the forward pass used x.var(axis=0) (divide by N): backward must use the same"),
    ]
    cases = [Case(description, (dout, x, g, eps), _batchnorm_backward_reference(dout, x, g, eps), hint)
             for description, x, g, _, eps, dout, hint in _batchnorm_cases(101)]
    return check_exercise("batchnorm_backward", answer, cases, mistakes)


def _residual_dense_reference(x, W, dout):
    """(dx, dW) of y = x + ReLU(x @ W), by scratchcnn's Residual(Dense, ReLU) (bias 0)."""
    dense = Dense(*W.shape, dtype=np.float64)
    dense.params["W"] = np.array(W, np.float64)
    block = Residual(dense, ReLU())
    block.forward(x)
    return block.backward(dout), dense.grads["W"]


def check_residual_backward(answer):
    """Notebook 10, ``residual_backward(x, W, dout)`` -> (dx, dW) for the residual block
    y = x + ReLU(x @ W), x (N, D), W (D, D): the skip path and the inner path add."""
    mistakes = [
        Mistake("forgetting the skip path: only the inner path's gradient",
                lambda x, W, dout: ((dout * (x @ W > 0)) @ W.T, x.T @ (dout * (x @ W > 0))),
                "y = x + f(x): the skip path passes dout unchanged, so add dout to the inner path's gradient"),
        Mistake("forgetting the inner path: dx = dout",
                lambda x, W, dout: (dout, x.T @ (dout * (x @ W > 0))),
                "dx = dout + (dout * relu_mask) @ W.T: the gradient also flows back through W"),
        Mistake("the ReLU left out of the backward pass",
                lambda x, W, dout: (dout + dout @ W.T, x.T @ dout),
                "multiply dout by the ReLU's mask (x @ W > 0) before going back through W"),
        Mistake("W not transposed in dx", lambda x, W, dout: (dout + (dout * (x @ W > 0)) @ W,
                                                              x.T @ (dout * (x @ W > 0))),
                "forward multiplies by W, backward by W.T: (dout * mask) @ W.T"),
    ]
    rng = np.random.default_rng(102)
    settings = [("2 examples, 2 features, by hand", np.array([[1.0, -1.0], [0.5, 2.0]]),
                 np.array([[1.0, -2.0], [0.5, 1.0]]), np.array([[1.0, 1.0], [-1.0, 2.0]]),
                 "dx = dout (the skip) + (dout * (x @ W > 0)) @ W.T (the inner path)"),
              ("a non-symmetric W", rng.standard_normal((4, 3)), rng.standard_normal((3, 3)),
               rng.standard_normal((4, 3)), "go back through W with W.T, and dW = x.T @ (dout * mask)"),
              ("a batch of 6", rng.standard_normal((6, 5)), rng.standard_normal((5, 5)),
               rng.standard_normal((6, 5)), "dW sums over the batch: x.T @ (dout * mask), no mean")]
    cases = [Case(description, (x, W, dout), _residual_dense_reference(x, W, dout), hint)
             for description, x, W, dout, hint in settings]
    return check_exercise("residual_backward", answer, cases, mistakes)


def _rmsprop_step_reference(weights, gradient, mean_square, lr, alpha, eps):
    """One step of the module's RMSprop on a single weight array: (new weights, new mean square)."""
    layer = Layer()
    layer.params["W"] = np.array(weights, dtype=np.float64)
    layer.grads["W"] = np.array(gradient, dtype=np.float64)
    optimizer = RMSprop([layer], lr=lr, alpha=alpha, eps=eps)
    optimizer.state[(0, "W")] = np.array(mean_square, dtype=np.float64)
    optimizer.step()
    return layer.params["W"], optimizer.state[(0, "W")]


def check_rmsprop_step(answer):
    """Notebook 10, ``rmsprop_step(weights, gradient, mean_square, lr, alpha, eps)`` ->
    (new_weights, new_mean_square):  v <- alpha v + (1 - alpha) g^2,  w <- w - lr g / (sqrt(v) + eps)."""
    def step(update, v_new):
        return lambda w, g, v, lr, a, eps: (w - update(g, v_new(g, v, a), v, lr, eps), v_new(g, v, a))
    new_v = lambda g, v, a: a * v + (1 - a) * g * g
    mistakes = [
        Mistake("no square root: dividing by the mean square itself",
                step(lambda g, v, v_old, lr, eps: lr * g / (v + eps), new_v),
                "divide by np.sqrt(v) + eps: the root of the mean square has the units of the gradient"),
        Mistake("eps inside the square root", step(lambda g, v, v_old, lr, eps: lr * g / np.sqrt(v + eps), new_v),
                "w - lr * g / (np.sqrt(v) + eps), with eps outside the root (as PyTorch and scratchcnn)"),
        Mistake("alpha and 1 - alpha swapped",
                step(lambda g, v, v_old, lr, eps: lr * g / (np.sqrt(v) + eps), lambda g, v, a: (1 - a) * v + a * g * g),
                "v <- alpha * v + (1 - alpha) * g**2: alpha (0.99) keeps the OLD average"),
        Mistake("the gradient instead of its square in the average",
                step(lambda g, v, v_old, lr, eps: lr * g / (np.sqrt(np.abs(v)) + eps), lambda g, v, a: a * v + (1 - a) * g),
                "average the SQUARED gradient: v <- alpha * v + (1 - alpha) * g * g"),
        Mistake("the old mean square used in the weight update",
                step(lambda g, v, v_old, lr, eps: lr * g / (np.sqrt(v_old) + eps), new_v),
                "update v first, then use the NEW v in w <- w - lr * g / (sqrt(v) + eps)"),
    ]
    rng = np.random.default_rng(103)
    settings = [
        ("first step: mean square starts at zero", np.array([1.0, -2.0, 0.5]), np.array([0.5, -0.1, 2.0]),
         np.zeros(3), 0.01, 0.9, 1e-8,
         "from v = 0 the first step is lr * g / sqrt((1 - alpha) g^2): the same size for every weight"),
        ("a mean square from earlier steps", np.array([1.0, -2.0, 0.5]), np.array([0.5, -0.1, 2.0]),
         np.array([0.2, 0.01, 1.0]), 0.01, 0.99, 1e-8,
         "v <- alpha * v + (1 - alpha) * g**2, then w <- w - lr * g / (np.sqrt(v) + eps)"),
        ("a zero gradient and eps 0.1", np.array([[0.5, -0.5], [1.0, 2.0]]), np.array([[0.0, 1.0], [0.0, -3.0]]),
         np.array([[0.0, 0.04], [1e-4, 0.5]]), 0.1, 0.9, 0.1,
         "eps is added to sqrt(v), after the root; a zero gradient moves nothing"),
        ("2-D weights, lr 0.5, alpha 0.5", rng.standard_normal((3, 4)), rng.standard_normal((3, 4)),
         rng.uniform(0, 1, (3, 4)), 0.5, 0.5, 1e-6,
         "use the lr, alpha and eps you are given; return (new_weights, new_mean_square)"),
    ]
    cases = [Case(description, (w, g, v, lr, a, eps), _rmsprop_step_reference(w, g, v, lr, a, eps), hint)
             for description, w, g, v, lr, a, eps, hint in settings]
    return check_exercise("rmsprop_step", answer, cases, mistakes)



# --- Notebook 11: find the bug -----------------------------------------------
#
# Each of the notebook's eight bugs has two exercises: a diagnosis (a function
# returning the key of one suspect) and a fix. A wrong diagnosis is told what
# the suspect it named would mean and which evidence rules it out; a fix is run
# on hidden cases, and its Mistakes include the original bug.

def _check_diagnosis(name, answer, culprit, suspects):
    """A diagnosis exercise: ``answer()`` returns the key of the suspect that is the bug.

    suspects: {key: (what that bug would be, the evidence that rules it out)}; every
    wrong key is a Mistake, so the verdict says what the student's choice would mean.
    The verdict never shows the right key."""
    keys = ", ".join(repr(key) for key in suspects)

    def diagnosis():
        given = answer() if callable(answer) else answer     # a bare string is accepted too
        if isinstance(given, str):
            given = given.strip().strip("'\"").strip().lower().replace(" ", "_").replace("-", "_")
        return given

    def compare(expected, actual, case):
        if isinstance(actual, str) and actual == expected:
            return None
        if isinstance(actual, str) and actual in suspects:
            return f"{actual!r} is not the bug"
        return f"got {_short(actual)}, which is not one of the keys {keys}"

    case = Case("your diagnosis", (), culprit,
                f"return one of the keys {keys}: the suspect whose symptoms match what the tool showed")
    mistakes = [Mistake(f"{key!r} ({meaning})", (lambda key=key: lambda: key)(), f"look again: {evidence}")
                for key, (meaning, evidence) in suspects.items() if key != culprit]
    return check_exercise(name, diagnosis, [case], mistakes, compare=compare)


def check_bug_in_conv_forward(answer):
    """Notebook 11, bug 1: ``bug_in_conv_forward()`` -> the key of the bug in buggy_conv_forward."""
    return _check_diagnosis("bug_in_conv_forward", answer, "flipped_kernel", {
        "flipped_kernel": ("the kernel is rotated by 180 degrees: a true convolution, not the course's "
                           "cross-correlation", ""),
        "stride": ("the windows start at the wrong places",
                   "with stride 1 and no padding the output is still wrong, so the stride is not to blame"),
        "padding": ("the zeros are added on the wrong axes or in the wrong number",
                    "without any padding the output is still wrong"),
        "bias": ("the bias goes to the wrong filter or is missing",
                 "with b = 0 the difference from conv2d_naive stays exactly the same"),
        "channels": ("the sum runs over the wrong axes",
                     "a 1x1 kernel, or any kernel equal to itself turned by 180 degrees, gives exactly "
                     "conv2d_naive's output over all channels: only the orientation of the kernel matters"),
    })


def check_fixed_conv_forward(answer):
    """Notebook 11, bug 1: ``fixed_conv_forward(x, W, b, stride, padding)`` -> (N, F, H', W'),
    the course's convolution (cross-correlation) of conv2d_naive."""
    rng = np.random.default_rng(110)
    settings = [("one image, one channel, one filter, stride 1", (1, 1, 5, 5), (1, 1, 3, 3), 1, 0),
                ("3 channels, 4 filters, stride 2, padding 1, non-square 7x6", (2, 3, 7, 6), (4, 3, 3, 3), 2, 1),
                ("kernel 2, stride 3 that does not divide (8x9)", (1, 2, 8, 9), (2, 2, 2, 2), 3, 0),
                ("integer image and kernel", (1, 2, 4, 4), (2, 2, 3, 3), 1, 1)]
    cases = []
    for index, (description, x_shape, W_shape, stride, padding) in enumerate(settings):
        x, W, b = rng.standard_normal(x_shape), rng.standard_normal(W_shape), rng.standard_normal(W_shape[0])
        if index == 3:
            x, W, b = rng.integers(-3, 4, x_shape), rng.integers(-2, 3, W_shape), np.array([1, -1])
        cases.append(Case(description, (x, W, b, stride, padding), conv2d_naive(x, W, b, stride, padding),
                          "out[n, f, y, x] = b[f] + sum over c, i, j of W[f, c, i, j] * "
                          "x_pad[n, c, y*stride + i, x*stride + j]: compare with scratchcnn.conv2d_naive"))

    def unstrided_windows(x, W, b, stride, padding):
        H_out = conv_output_size(x.shape[2], W.shape[2], stride, padding)
        W_out = conv_output_size(x.shape[3], W.shape[3], stride, padding)
        return conv2d_naive(x, W, b, 1, padding)[:, :, :H_out, :W_out]

    mistakes = [
        Mistake("the kernel is still flipped (the original bug)",
                lambda x, W, b, s, p: conv2d_naive(x, W[:, :, ::-1, ::-1], b, s, p),
                "use W[f] as it is: the course's convolution is a cross-correlation, no kernel[::-1, ::-1]"),
        Mistake("the kernel is flipped upside down only",
                lambda x, W, b, s, p: conv2d_naive(x, W[:, :, ::-1, :], b, s, p),
                "don't flip the kernel along any axis: remove the [::-1] altogether"),
        Mistake("the windows start at y and x instead of y*stride and x*stride", unstrided_windows,
                "window (y, x) starts at row y*stride and column x*stride of the padded input"),
        Mistake("the bias is missing", lambda x, W, b, s, p: conv2d_naive(x, W, np.zeros_like(b), s, p),
                "add b[f] to every output pixel of filter f"),
    ]
    return check_exercise("fixed_conv_forward", answer, cases, mistakes)


def check_bug_in_maxpool_backward(answer):
    """Notebook 11, bug 2: ``bug_in_maxpool_backward()`` -> the key of the bug in buggy_maxpool_backward."""
    return _check_diagnosis("bug_in_maxpool_backward", answer, "assign_not_add", {
        "assign_not_add": ("= instead of +=: a pixel that wins several overlapping windows keeps only the "
                           "gradient of the last one", ""),
        "wrong_winner": ("the gradient goes to a position of the window that is not its maximum",
                         "with kernel 2 and stride 2 the result equals maxpool2d_backward_naive's exactly, "
                         "so every window finds its winner"),
        "stride": ("the windows' offsets ignore the stride",
                   "with kernel 2 and stride 2 it is right, and a stride slip would show there"),
        "ties": ("tied maxima share or mis-route the gradient",
                 "random floats never tie, and it is still wrong with kernel 3, stride 2"),
    })


def check_fixed_maxpool_backward(answer):
    """Notebook 11, bug 2: ``fixed_maxpool_backward(x, dout, kernel_size, stride)`` -> dx (shape of x)."""
    rng = np.random.default_rng(111)
    overlapping = rng.standard_normal((1, 2, 7, 9))
    overlapping[0, 0, 2, 2] = overlapping[0, 1, 4, 4] = 10.0      # each wins four windows
    settings = [("no overlap: kernel 2, stride 2", rng.standard_normal((2, 2, 4, 6)), 2, 2),
                ("overlapping windows: kernel 3, stride 2, non-square 7x9", overlapping, 3, 2),
                ("overlap and ties: kernel 3, stride 1, small integers", rng.integers(0, 3, (1, 2, 5, 5)), 3, 1),
                ("batch of one, kernel 2, stride 1", rng.standard_normal((1, 1, 4, 5)), 2, 1)]
    cases = []
    for description, x, k, s in settings:
        x = x.astype(np.float64)
        dout = np.round(rng.standard_normal(maxpool2d_naive(x, k, s).shape), 2) + 3.0   # nonzero
        cases.append(Case(description, (x, dout, k, s), maxpool2d_backward_naive(x, dout, k, s),
                          "each window sends its dout to its FIRST maximum (np.argmax), and a pixel that wins "
                          "several overlapping windows collects the sum: compare with "
                          "scratchcnn.maxpool2d_backward_naive"))
    mistakes = [
        Mistake("dx[...] = dout[...] overwrites (the original bug)",
                lambda x, d, k, s: _pool_backward_mistake(x, d, k, s, assign=True),
                "use += so that a pixel that wins several overlapping windows keeps all their gradients"),
        Mistake("every tied maximum receives the gradient",
                lambda x, d, k, s: _pool_backward_mistake(x, d, k, s, all_ties=True),
                "send each window's gradient to ONE position, the first maximum that np.argmax finds"),
        Mistake("on a tie the last maximum wins",
                lambda x, d, k, s: _pool_backward_mistake(x, d, k, s, last_max=True),
                "take the first maximum in row-major order, as np.argmax(window) does"),
    ]
    return check_exercise("fixed_maxpool_backward", answer, cases, mistakes)


def check_bug_in_softmax_cross_entropy(answer):
    """Notebook 11, bug 3: ``bug_in_softmax_cross_entropy()`` -> the key of the bug in
    buggy_softmax_cross_entropy."""
    return _check_diagnosis("bug_in_softmax_cross_entropy", answer, "missing_mean", {
        "missing_mean": ("the gradient is that of the SUMMED loss: 1/N is missing", ""),
        "wrong_labels": ("dlogits[:, labels] -= 1 subtracts 1 at every label of the batch in every row",
                         "that error would not be a constant factor: here analytic / numerical is exactly N "
                         "at every entry"),
        "unstable": ("exp overflows for large logits",
                     "these logits are small, nothing is nan or inf, and the loss value itself is right"),
        "sign": ("the gradient has the wrong sign, onehot - p",
                 "then the ratio analytic / numerical would be negative, and wrong for a batch of one too"),
    })


def check_fixed_softmax_cross_entropy(answer):
    """Notebook 11, bug 3: ``fixed_softmax_cross_entropy(logits, labels)`` -> (mean loss, dlogits (N, K))."""
    rng = np.random.default_rng(112)
    settings = [("batch of one", rng.standard_normal((1, 4)), np.array([2])),
                ("batch of 5, 3 classes, a repeated label", rng.standard_normal((5, 3)), np.array([0, 2, 2, 1, 0])),
                ("huge logits [[1000, 999, 995], [0, 1, 2]]", np.array([[1000.0, 999.0, 995.0], [0.0, 1.0, 2.0]]),
                 np.array([1, 2])),
                ("batch of 8, 10 classes", 3 * rng.standard_normal((8, 10)), rng.integers(0, 10, 8))]

    def reference(logits, labels):
        loss_fn = SoftmaxCrossEntropy()
        return loss_fn.forward(logits, labels), loss_fn.backward()

    cases = [Case(description, (logits, labels), reference(logits, labels),
                  "the loss is the MEAN over the batch, so its gradient is (softmax - onehot) / N")
             for description, logits, labels in settings]

    def wrong_labels(logits, labels):
        loss, _ = reference(logits, labels)
        dlogits = softmax(logits)
        dlogits[:, labels] -= 1
        return loss, dlogits / len(labels)

    def unstable(logits, labels):
        probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        N = len(labels)
        dlogits = probs.copy()
        dlogits[np.arange(N), labels] -= 1
        return -np.log(probs[np.arange(N), labels]).mean(), dlogits / N

    mistakes = [
        Mistake("the gradient still lacks 1/N (the original bug)",
                lambda z, y: (reference(z, y)[0], reference(z, y)[1] * len(y)),
                "divide dlogits by N = len(labels): the loss is a mean over the batch"),
        Mistake("the gradient is divided by the number of classes K, not the batch size N",
                lambda z, y: (reference(z, y)[0], reference(z, y)[1] * len(y) / z.shape[1]),
                "N is the number of rows, len(labels) or logits.shape[0], not logits.shape[1]"),
        Mistake("dlogits[:, labels] -= 1 hits every label in every row", wrong_labels,
                "subtract 1 only at each row's own label: dlogits[np.arange(N), labels] -= 1"),
        Mistake("the softmax no longer subtracts the row maximum", unstable,
                "keep logits - logits.max(axis=1, keepdims=True) before exp: exp(1000) is inf"),
    ]
    return check_exercise("fixed_softmax_cross_entropy", answer, cases, mistakes)


def check_bug_in_relu(answer):
    """Notebook 11, bug 4: ``bug_in_relu()`` -> the key of the bug in buggy_relu_forward/relu_backward."""
    return _check_diagnosis("bug_in_relu", answer, "mask_after_inplace", {
        "mask_after_inplace": ("forward clips x in place, so the cache (x itself) has no negative entry left "
                               "and backward lets every gradient through", ""),
        "mask_from_dout": ("backward builds its mask from dout instead of the input",
                           "then dx would be zero where dout is negative; here dx equals dout everywhere"),
        "forward_wrong": ("the forward output is wrong",
                          "the output equals scratchcnn.ReLU().forward(x) exactly"),
        "zero_at_zero": ("the gradient at exactly x = 0 is 1 instead of 0",
                         "random normal inputs are never exactly 0, yet the gradient check fails"),
    })


def _given_relu_backward(dout, cache):
    """relu_backward as notebook 11 gives it (unchanged by the fix)."""
    dx = dout.copy()
    dx[cache < 0] = 0
    return dx


def check_fixed_relu_forward(answer):
    """Notebook 11, bug 4: ``fixed_relu_forward(x)`` -> (out, cache), which the notebook's
    unchanged relu_backward(dout, cache) turns into the right dx. Checked: out, dx, and
    that x itself is left as it was."""
    def run(x, dout):
        original = x.copy()
        out, cache = answer(x)
        return out, _given_relu_backward(dout, cache), bool(np.array_equal(x, original))

    rng = np.random.default_rng(113)
    settings = [("a row of mixed signs", np.array([[-2.0, -0.5, 0.5, 2.0]])),
                ("a batch of 3 x 5", rng.standard_normal((3, 5))),
                ("4-D activations (2, 3, 4, 4)", rng.standard_normal((2, 3, 4, 4)))]
    cases = []
    for description, x in settings:
        dout = rng.standard_normal(x.shape)
        layer = ReLU()
        cases.append(Case(description, (x, dout), (layer.forward(x), layer.backward(dout), True),
                          "the result is (out, dx, x left unchanged): build the output as a NEW array, "
                          "np.maximum(x, 0), and cache the original x"))
    relu = lambda x: np.maximum(x, 0)
    mistakes = [
        Mistake("x is still clipped in place before it is cached (the original bug)",
                lambda x, dout: (relu(x), dout, False),
                "don't write into x: out = np.maximum(x, 0) makes a new array, and cache = x keeps the negatives"),
        Mistake("the cache holds clipped values (the output), so relu_backward finds no negative entry",
                lambda x, dout: (relu(x), dout, True),
                "cache the INPUT x, whose negative entries tell relu_backward where to stop the gradient"),
        Mistake("the output is not clipped any more", lambda x, dout: (x, dout * (x > 0), True),
                "the output is np.maximum(x, 0), a new array"),
    ]
    return check_exercise("fixed_relu_forward", run, cases, mistakes)


def check_bug_in_dropout(answer):
    """Notebook 11, bug 5: ``bug_in_dropout()`` -> the key of the bug in buggy_dropout_forward."""
    return _check_diagnosis("bug_in_dropout", answer, "no_rescale", {
        "no_rescale": ("the kept units are not scaled by 1 / (1 - p): in training the next layer sees "
                       "activations (1 - p) times smaller on average than in evaluation", ""),
        "wrong_p": ("units are kept with probability p instead of 1 - p",
                    "at p = 0.2 the measured kept fraction is 0.8 = 1 - p, as it should be"),
        "backward_mask": ("backward uses a different mask from forward",
                          "backward multiplies by the very mask forward returned"),
        "eval_mode": ("dropout is also applied in evaluation",
                      "the bug shows in training mode: its mean activation is (1 - p) times the evaluation one"),
    })


def check_fixed_dropout_forward(answer):
    """Notebook 11, bug 5: ``fixed_dropout_forward(x, p, rng)`` -> (out, mask), inverted dropout,
    with the notebook's draw ``keep = rng.random(x.shape) >= p`` and dropout_backward(dout, mask) = dout * mask.
    Checked: out and dx from a generator seeded as each case says."""
    def run(x, dout, p, seed):
        out, mask = answer(x, p, np.random.default_rng(seed))
        return out, dout * mask

    rng = np.random.default_rng(114)
    settings = [("p = 0.5, a batch of 4 x 6", (4, 6), 0.5), ("p = 0.2", (5, 8), 0.2),
                ("p = 0: nothing dropped", (3, 4), 0.0), ("4-D activations, p = 0.3", (2, 3, 4, 4), 0.3)]
    cases = []
    for seed, (description, shape, p) in enumerate(settings):
        x, dout = rng.standard_normal(shape), rng.standard_normal(shape)
        scale = (np.random.default_rng(seed).random(shape) >= p) / (1 - p)
        cases.append(Case(description, (x, dout, p, seed), (x * scale, dout * scale),
                          "keep the draw keep = rng.random(x.shape) >= p, and scale the kept units by "
                          "1 / (1 - p) in the output AND in the mask that backward uses"))

    def variant(keep_rule, out_scale, mask_scale):
        def produce(x, dout, p, seed):
            u = np.random.default_rng(seed).random(x.shape)
            keep = (u >= p) if keep_rule == "given" else (u < 1 - p)
            return x * keep * out_scale(p), dout * keep * mask_scale(p)
        return produce

    mistakes = [
        Mistake("the kept units are still not rescaled (the original bug)",
                variant("given", lambda p: 1, lambda p: 1),
                "divide by the keep probability 1 - p, so the expected activation equals x"),
        Mistake("the kept units are multiplied by 1 - p instead of divided by it",
                variant("given", lambda p: 1 - p, lambda p: 1 - p),
                "scale UP: divide by 1 - p (the survivors stand in for the dropped units)"),
        Mistake("the kept units are divided by p instead of 1 - p",
                variant("given", lambda p: 1 / p, lambda p: 1 / p),
                "divide by the KEEP probability 1 - p (at p = 0.5 both are 2; at p = 0.2 they differ)"),
        Mistake("the output is rescaled but the returned mask is not, so backward's gradient is too small",
                variant("given", lambda p: 1 / (1 - p), lambda p: 1),
                "scale the mask itself: mask = keep / (1 - p) and out = x * mask"),
        Mistake("the mask is drawn differently (rng.random(x.shape) < 1 - p)",
                variant("other", lambda p: 1 / (1 - p), lambda p: 1 / (1 - p)),
                "keep the notebook's draw keep = rng.random(x.shape) >= p: it was not the bug"),
    ]
    return check_exercise("fixed_dropout_forward", run, cases, mistakes)


def check_bug_in_adam(answer):
    """Notebook 11, bug 6: ``bug_in_adam()`` -> the key of the bug in buggy_adam_step."""
    return _check_diagnosis("bug_in_adam", answer, "no_bias_correction", {
        "no_bias_correction": ("m and v are not divided by 1 - beta1^t and 1 - beta2^t, so early steps are "
                               "off by the factor sqrt(1 - beta2^t) / (1 - beta1^t), which fades as t grows", ""),
        "no_sqrt": ("the step divides by v instead of sqrt(v)",
                    "then the step would depend on the gradient's size; gradients 1, -100 and 0.01 all "
                    "move their weight by the same amount"),
        "eps_placement": ("eps sits inside the square root",
                          "that changes a step by about eps / |g|, not by a factor of 3"),
        "momentum_only": ("the update ignores v: plain momentum",
                          "then the step would be proportional to the gradient, 100 times larger for -100"),
    })


def _adam_variant(w, grad, m, v, t, lr, beta1, beta2, eps, correct_m=True, correct_v=True,
                  root_of_correction=True, return_corrected_state=False):
    """One Adam step with a choice of (possibly wrong) bias corrections, for the Mistakes."""
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad * grad
    m_hat = m / (1 - beta1 ** t) if correct_m else m
    v_correction = (1 - beta2 ** t) if root_of_correction else (1 - beta2 ** t) ** 2
    v_hat = v / v_correction if correct_v else v
    w = w - lr * m_hat / (np.sqrt(v_hat) + eps)
    return (w, m_hat, v_hat) if return_corrected_state else (w, m, v)


def check_fixed_adam_step(answer):
    """Notebook 11, bug 6: ``fixed_adam_step(w, grad, m, v, t, lr, beta1, beta2, eps)`` -> (w, m, v),
    one step of scratchcnn.Adam; t counts steps from 1, m and v are the stored (uncorrected) averages."""
    def reference(w, grad, m, v, t, lr, beta1, beta2, eps):
        layer = Layer()
        layer.params["W"], layer.grads["W"] = np.array(w, dtype=np.float64), np.array(grad, dtype=np.float64)
        optimizer = Adam([layer], lr=lr, betas=(beta1, beta2), eps=eps)
        optimizer.state[(0, "W")] = (np.array(m, dtype=np.float64), np.array(v, dtype=np.float64))
        optimizer.t = t - 1
        optimizer.step()
        return (layer.params["W"], *optimizer.state[(0, "W")])

    rng = np.random.default_rng(115)
    zeros = np.zeros(3)
    settings = [("the first step, t = 1, from m = v = 0", np.array([0.5, -1.0, 2.0]), np.array([1.0, -100.0, 0.01]),
                 zeros, zeros, 1, 1e-3, 0.9, 0.999, 1e-8),
                ("step t = 5 with averages from earlier steps", rng.standard_normal((2, 3)),
                 rng.standard_normal((2, 3)), 0.1 * rng.standard_normal((2, 3)), 0.01 * rng.random((2, 3)),
                 5, 1e-2, 0.9, 0.999, 1e-8),
                ("step t = 2000, betas (0.8, 0.99)", rng.standard_normal(4), rng.standard_normal(4),
                 0.1 * rng.standard_normal(4), 0.5 * rng.random(4), 2000, 3e-3, 0.8, 0.99, 1e-8)]
    cases = [Case(description, args, reference(*args),
                  "m_hat = m / (1 - beta1**t) and v_hat = v / (1 - beta2**t) are used for the step only; "
                  "return the uncorrected m and v: compare with scratchcnn.Adam")
             for description, *args in settings]
    mistakes = [
        Mistake("m and v are still not bias-corrected (the original bug)",
                lambda *args: _adam_variant(*args, correct_m=False, correct_v=False),
                "step with m_hat = m / (1 - beta1**t) and v_hat = v / (1 - beta2**t)"),
        Mistake("the returned state is the corrected m_hat and v_hat",
                lambda *args: _adam_variant(*args, return_corrected_state=True),
                "store and return the UNcorrected running averages m and v; the corrections are redone "
                "(with the new t) at every step"),
        Mistake("only m is bias-corrected", lambda *args: _adam_variant(*args, correct_v=False),
                "correct v too: v_hat = v / (1 - beta2**t)"),
        Mistake("sqrt(v) is divided by 1 - beta2^t (the correction of v, not of its square root)",
                lambda *args: _adam_variant(*args, root_of_correction=False),
                "divide v (before the square root) by 1 - beta2**t, i.e. sqrt(v) by sqrt(1 - beta2**t)"),
    ]
    return check_exercise("fixed_adam_step", answer, cases, mistakes)


def check_bug_in_im2col(answer):
    """Notebook 11, bug 7: ``bug_in_im2col()`` -> the key of the bug in buggy_im2col."""
    return _check_diagnosis("bug_in_im2col", answer, "row_stride", {
        "row_stride": ("a window's first row ignores the stride: it starts at row y, not y*stride", ""),
        "column_stride": ("a window's first column ignores the stride",
                          "then the first output COLUMN would be right and the others wrong; here the first "
                          "output ROW is right and the rows below it are wrong"),
        "column_order": ("the columns come in another order than the reshape after the product expects",
                         "a wrong order would break stride 1 as well, which agrees with conv2d_naive"),
        "padding": ("the padding is applied wrongly",
                    "stride 1 with padding agrees with conv2d_naive, and stride 2 without padding fails"),
    })


def _im2col_variant(x, kernel_size, stride, padding, row_stride=True, column_stride=True, dilated=False):
    """im2col with loops and a choice of (possibly wrong) window starts, for the Mistakes."""
    N, C, H, W = x.shape
    k = kernel_size
    H_out, W_out = conv_output_size(H, k, stride, padding), conv_output_size(W, k, stride, padding)
    x_pad = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    cols = np.zeros((C * k * k, N * H_out * W_out))
    for column, (n, y, x_) in enumerate(np.ndindex(N, H_out, W_out)):
        top, left = (y * stride if row_stride else y), (x_ * stride if column_stride else x_)
        step = stride if dilated else 1
        cols[:, column] = x_pad[n, :, top:top + k * step:step, left:left + k * step:step].ravel()
    return cols


def check_fixed_im2col(answer):
    """Notebook 11, bug 7: ``fixed_im2col(x, kernel_size, stride, padding)`` -> (C*k*k, N*H'*W'),
    rows ordered (c, i, j), columns (n, y, x): scratchcnn.im2col."""
    rng = np.random.default_rng(116)
    settings = [("stride 1, padding 1", (1, 2, 5, 5), 3, 1, 1),
                ("stride 2, padding 1, 2 images, 3 channels, non-square 7x6", (2, 3, 7, 6), 3, 2, 1),
                ("stride 3 that does not divide, kernel 2 (8x9)", (1, 1, 8, 9), 2, 3, 0),
                ("stride 2, no padding, integer image", (1, 2, 6, 6), 2, 2, 0)]
    cases = []
    for index, (description, shape, k, s, p) in enumerate(settings):
        x = rng.integers(0, 10, shape) if index == 3 else rng.standard_normal(shape)
        cases.append(Case(description, (x, k, s, p), im2col(x, k, s, p),
                          "column (n, y, x) holds the patch x_pad[n, :, y*stride:y*stride + k, "
                          "x*stride:x*stride + k].ravel(): compare with scratchcnn.im2col"))
    mistakes = [
        Mistake("the window's first row still ignores the stride (the original bug)",
                lambda x, k, s, p: _im2col_variant(x, k, s, p, row_stride=False),
                "start the window at row y * stride, as its column starts at x * stride"),
        Mistake("the window's first column ignores the stride",
                lambda x, k, s, p: _im2col_variant(x, k, s, p, column_stride=False),
                "start the window at column x * stride"),
        Mistake("neither the rows nor the columns use the stride",
                lambda x, k, s, p: _im2col_variant(x, k, s, p, row_stride=False, column_stride=False),
                "window (y, x) starts at (y * stride, x * stride)"),
        Mistake("the window itself is strided (a dilated window, every stride-th pixel)",
                lambda x, k, s, p: _im2col_variant(x, k, s, p, dilated=True),
                "the stride moves the window's START; the window is k neighbouring pixels: "
                "y*stride : y*stride + k, with no step"),
    ]
    return check_exercise("fixed_im2col", answer, cases, mistakes)


def check_bug_in_softmax(answer):
    """Notebook 11, bug 8: ``bug_in_softmax()`` -> the key of the bug in buggy_softmax."""
    return _check_diagnosis("bug_in_softmax", answer, "no_max_subtracted", {
        "no_max_subtracted": ("exp overflows to inf for large logits (above about 88 in float32, 709 in "
                              "float64) and inf / inf is nan", ""),
        "wrong_axis": ("the sum runs over the wrong axis",
                       "at temperature 1 every row sums to 1 and equals scratchcnn.softmax"),
        "float32": ("float32 is too imprecise",
                    "the answers agree to 1e-7 until the logits pass 88; a wider float only moves the limit "
                    "to 709, and logits of 1000 overflow float64 too"),
        "temperature": ("dividing by the temperature is wrong",
                        "scratchcnn.softmax of the same divided logits is finite and right"),
    })


def check_fixed_softmax(answer):
    """Notebook 11, bug 8: ``fixed_softmax(logits)`` -> probabilities (N, K), stable for any logits."""
    rng = np.random.default_rng(117)
    settings = [("small logits", rng.standard_normal((3, 4))),
                ("huge logits [[1000, -1000, 0]]", np.array([[1000.0, -1000.0, 0.0]])),
                ("rows of very different scale [[1000, 999], [0, 1]]", np.array([[1000.0, 999.0], [0.0, 1.0]])),
                ("very negative logits [[-1000, -1001, -1002]]", np.array([[-1000.0, -1001.0, -1002.0]])),
                ("float32 logits of a sharpened network", (rng.standard_normal((4, 10)) * 40).astype(np.float32))]
    cases = [Case(description, (logits,), softmax(logits),
                  "subtract each row's own maximum before exp: logits - logits.max(axis=1, keepdims=True)",
                  rtol=1e-5, atol=1e-7)
             for description, logits in settings]

    def shifted(shift):
        def produce(logits):
            exps = np.exp(logits - shift(logits))
            return exps / exps.sum(axis=1, keepdims=True)
        return produce

    mistakes = [
        Mistake("exp of the raw logits, no maximum subtracted (the original bug)", shifted(lambda z: 0),
                "subtract each row's maximum first: exp(1000) is inf, and inf / inf is nan"),
        Mistake("the maximum of the whole array is subtracted, not each row's own",
                shifted(lambda z: z.max()),
                "use logits.max(axis=1, keepdims=True): a row far below the global maximum underflows to 0 / 0"),
        Mistake("each column's maximum is subtracted (axis=0)",
                shifted(lambda z: z.max(axis=0, keepdims=True)),
                "the maximum of each ROW: axis=1, keepdims=True"),
    ]
    return check_exercise("fixed_softmax", answer, cases, mistakes)


if __name__ == "__main__":
    main()
