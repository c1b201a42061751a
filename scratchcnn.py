"""ScratchCNN: a convolutional neural network from scratch in NumPy.

This file is the textbook: the library the notebooks build, in the order the
course teaches it. Read it top to bottom.

  1. Data              - reading the MNIST IDX files (read_idx, load_mnist); Fashion-MNIST, CIFAR-10
  2. Layers            - Conv2D, MaxPool2D, ReLU, LeakyReLU, Flatten, Dropout, Dense,
                         BatchNorm1D, BatchNorm2D, LayerNorm, and the naive loop versions they are checked against
  3. Loss              - softmax and SoftmaxCrossEntropy
  4. Optimizers        - SGD (momentum, weight decay), Adam and RMSprop
  5. Model             - Sequential, Residual, the course's reference_cnn and deep_cnn
  6. Training          - train, evaluate, learning-rate schedules, data augmentation
  7. Gradient checking - numerical gradients by centred differences, grad_check
  8. Pictures          - preprocessing a drawn digit like MNIST
  9. Model files       - save_model / load_model (.npz with the architecture as JSON, never pickle)

Conventions: images are NCHW arrays (batch, channels, height, width) and
"convolution" means cross-correlation, as in PyTorch's ``conv2d``.

Left out on purpose: automatic differentiation (every backward pass is written
by hand, as the notebooks derive it), GPUs, data-loading workers, mixed
precision and model parallelism.

The course machinery lives beside this file, in the package ``course_machinery``,
and a student need not read it: ``cli`` (``python scratchcnn.py train|evaluate|predict``
hands over to it), ``plots``, ``widgets``, ``checks`` (the exercise checks, one module
per notebook), ``fast_layers`` (the speed tricks, tested against the layers here),
``file_safety`` (guards against damaged and hostile files: gzip bombs, oversized
model files, atomic writes) and ``guards`` (training arguments and data that would
train nonsense). The textbook calls a guard in one line where it needs one.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import as_strided

from course_machinery import file_safety, guards
from course_machinery.file_safety import DataFileError, ModelFileError

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
# file 0x00000801 (2049). MNIST ships each file gzipped (.gz); we read either.

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049
MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def idx_header(magic: int, shape: tuple) -> bytes:
    """The IDX header: the magic number, then one big-endian uint32 per dimension (notebook 01, section 1)."""
    return magic.to_bytes(4, "big") + b"".join(size.to_bytes(4, "big") for size in shape)


def read_idx(path: str | os.PathLike, expected_magic: int,
             max_bytes: int = file_safety.MAX_IDX_BYTES, count: int | None = None) -> np.ndarray:
    """Read one IDX file (``.gz`` or plain) into a uint8 array of the shape its header gives.

    Notebook 01, section 1. The result is (N, rows, cols) for images, (N,) for labels.
    DataFileError for a wrong magic number, or a file truncated, padded, corrupt, or declaring more
    than ``max_bytes`` or other than ``count`` items (checked from the header, before allocating).
    """
    path = Path(path)
    with file_safety.open_idx(path) as file:             # gzip or plain; damage becomes a DataFileError
        header = file.read(4)
        magic = int.from_bytes(header, "big")
        if magic != expected_magic:
            kind = "image" if expected_magic == IMAGES_MAGIC else "label"
            raise DataFileError(
                f"{path} has the wrong magic number {magic:#010x}; an IDX {kind} file starts with "
                f"{expected_magic:#010x}. Is it the right file (images and labels swapped?) "
                f"and not some other format?")
        ndim = header[3]                                  # the magic's last byte
        shape = tuple(int.from_bytes(file.read(4), "big") for _ in range(ndim))
        file_safety.check_idx_size(path, shape, max_bytes, count)   # the header may lie: check before reading
        data = file_safety.read_in_chunks(file, math.prod(shape))   # one byte per pixel (or label), row by row
        file_safety.check_idx_complete(path, file, shape, len(data))
    return np.frombuffer(data, dtype=np.uint8).reshape(shape)


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
    images_path, labels_path = (file_safety.find_idx_file(data_dir, stem) for stem in MNIST_FILES[split])
    labels = read_idx(labels_path, LABELS_MAGIC)
    images = read_idx(images_path, IMAGES_MAGIC, count=len(labels))     # one image per label
    # The magic numbers fixed the shapes: images (N, rows, cols), labels (N,). What is left
    # to check is what learning needs: some images, each labelled with a class 0..K-1.
    if len(images) == 0:
        raise DataFileError(f"{images_path} holds no images (its header says 0); it is not a usable data set.")
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
# Not shipped (170 MB; file_safety.CIFAR10_URL). Its binary version is a folder cifar-10-batches-bin/
# of files that are nothing but records of 1 + 3072 bytes: the label (0-9), then
# the red, green and blue planes of 32 x 32 pixels, each row by row.
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")
CIFAR10_FILES = {"train": [f"data_batch_{i}.bin" for i in range(1, 6)], "test": ["test_batch.bin"]}
CIFAR10_RECORD_BYTES = 1 + 3 * 32 * 32


def load_cifar10(split: str = "train", data_dir: str | os.PathLike | None = None):
    """Load one split of CIFAR-10 from its official binary version.

    Returns ``(images, labels)``: images float32 (N, 3, 32, 32) in [0, 1] (RGB),
    labels int64 (N,); label k is CIFAR10_CLASSES[k]. ``data_dir`` is the folder
    ``cifar-10-batches-bin`` or its parent (default: ``data/`` beside this file).
    """
    if split not in CIFAR10_FILES:
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    data_dir = Path(data_dir) if data_dir is not None else HERE / "data"
    paths = file_safety.find_cifar10_files(data_dir, CIFAR10_FILES[split])    # says how to download them
    counts = file_safety.check_cifar10_sizes(paths, CIFAR10_RECORD_BYTES)    # whole records, not too many
    records = np.concatenate([np.fromfile(path, dtype=np.uint8, count=count * CIFAR10_RECORD_BYTES)
                              .reshape(-1, CIFAR10_RECORD_BYTES) for path, count in zip(paths, counts)])
    labels = records[:, 0].astype(np.int64)
    if labels.max() >= len(CIFAR10_CLASSES):
        raise DataFileError(f"{paths[0].parent} has a label {labels.max()} outside 0-9: not CIFAR-10's binary version "
                            f"(CIFAR-100's has 2 label bytes per record).")
    images = records[:, 1:].reshape(-1, 3, 32, 32).astype(np.float32) / np.float32(255.0)
    return images, labels


# =============================================================================
# 2. Layers
# =============================================================================
#
# Every layer has forward(x) and backward(dout) -> dx. Layers with weights keep
# them in ``params`` and the gradients of the loss with respect to them in
# ``grads`` (same keys). backward *overwrites* grads; it never accumulates.
# Conv2D and MaxPool2D are the plain versions the notebooks derive; training
# runs FastConv2D and FastMaxPool2D (course_machinery/fast_layers.py), the same
# layers with a faster memory layout, tested against these.


class Layer:
    """Base class: no parameters, training mode on."""

    def __init__(self):
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.training = True

    def config(self) -> dict:
        """The constructor arguments that rebuild this layer (used by save_model)."""
        return {}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"


def _as_float(x: np.ndarray) -> np.ndarray:
    """x itself if it holds floats, else x as float64 (integer or boolean inputs)."""
    x = np.asarray(x)
    return x if x.dtype.kind == "f" else x.astype(np.float64)


def conv_output_size(size: int, kernel_size: int, stride: int, padding: int) -> int:
    """H' = (H + 2p - k) / s + 1, the output size of a convolution or pooling (notebook 02, section 3)."""
    out = (size + 2 * padding - kernel_size) // stride + 1
    return guards.check_output_size(out, size, kernel_size, padding)      # out >= 1, or a clear error


def im2col(x: np.ndarray, kernel_size: int, stride: int = 1, padding: int = 0) -> np.ndarray:
    """Unfold every k x k patch of x into a column. Derived in notebook 02, section 6.

    x: (N, C, H, W) -> cols: (C*k*k, N*H'*W'), rows ordered (c, i, j), columns ordered (n, y, x).
    A convolution is then ``W.reshape(F, -1) @ cols``.

    Stride tricks build a 6-D *view* (C, k, k, N, H', W') of the padded input
    without copying: element (c, i, j, n, y, x) is x_pad[n, c, s*y + i, s*x + j].
    The single copy happens in the final reshape.
    """
    N, C, H, W = x.shape
    k, s, p = kernel_size, stride, padding
    H_out = conv_output_size(H, k, s, p)
    W_out = conv_output_size(W, k, s, p)
    x = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p))) if p else x
    sN, sC, sH, sW = x.strides
    windows = as_strided(x, shape=(C, k, k, N, H_out, W_out),
                         strides=(sC, sH, sW, sN, s * sH, s * sW), writeable=False)
    return windows.reshape(C * k * k, N * H_out * W_out)


def col2im(cols: np.ndarray, x_shape: tuple, kernel_size: int, stride: int = 1, padding: int = 0) -> np.ndarray:
    """The adjoint of im2col: add every column back onto the patch it came from (notebook 03, section 5).

    cols: (C*k*k, N*H'*W') -> dx: (N, C, H, W), rows and columns ordered as im2col's.

    Overlapping patches share input pixels, so their contributions must be
    *added*. We loop over the k*k kernel offsets (not over pixels): for offset
    (i, j), the rows of cols for that offset form a (C, N, H', W') block that
    lands, with stride s, on the padded image starting at (i, j).
    """
    N, C, H, W = x_shape
    k, s, p = kernel_size, stride, padding
    H_out = conv_output_size(H, k, s, p)
    W_out = conv_output_size(W, k, s, p)
    blocks = cols.reshape(C, k, k, N, H_out, W_out)
    dx_padded = np.zeros((N, C, H + 2 * p, W + 2 * p), dtype=cols.dtype)
    for i in range(k):
        for j in range(k):
            dx_padded[:, :, i:i + s * H_out:s, j:j + s * W_out:s] += blocks[:, i, j].transpose(1, 0, 2, 3)
    return dx_padded[:, :, p:p + H, p:p + W]


def he_normal(shape: tuple, fan_in: int, rng: np.random.Generator, dtype) -> np.ndarray:
    """He initialisation: N(0, 2 / fan_in) keeps the activation variance constant through ReLUs."""
    return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(dtype)


class Conv2D(Layer):
    """2-D convolution (cross-correlation) with square kernels. Notebooks 02 (forward) and 03 (backward).

    x: (N, C, H, W) -> out: (N, F, H', W'),  H' = (H + 2p - k) / s + 1

        out[n, f, y, x] = b[f] + sum_{c,i,j} W[f, c, i, j] * x_pad[n, c, s*y + i, s*x + j]

    params: W (F, C, k, k), b (F,).   grads: dW, db (derived in notebook 03, sections 4 and 6).
    Forward is one matrix product:  W.reshape(F, C*k*k) @ im2col(x)  -> (F, N*H'*W'),
    returned as an (N, F, H', W') transposed view of it (no copy). Backward, with
    dout reshaped to the same (F, N*H'*W') matrix D:
        dW = D @ cols.T     db = D @ 1     dx = col2im(W.T @ D)
    backward caches: the im2col columns of x and x's shape.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, *, rng=None, dtype=np.float32):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        guards.check_layer_arguments(self)
        rng = rng if rng is not None else np.random.default_rng()
        fan_in = in_channels * kernel_size * kernel_size
        self.params["W"] = he_normal((out_channels, in_channels, kernel_size, kernel_size), fan_in, rng, dtype)
        self.params["b"] = np.zeros(out_channels, dtype=dtype)
        self.grads = {key: np.zeros_like(value) for key, value in self.params.items()}

    def config(self):
        return dict(in_channels=self.in_channels, out_channels=self.out_channels,
                    kernel_size=self.kernel_size, stride=self.stride, padding=self.padding)

    def forward(self, x):
        guards.check_layer_input(self, x, 4, self.in_channels)
        W, b = self.params["W"], self.params["b"]
        N, _, H, W_in = x.shape
        H_out = conv_output_size(H, self.kernel_size, self.stride, self.padding)
        W_out = conv_output_size(W_in, self.kernel_size, self.stride, self.padding)
        self.x_shape = x.shape
        self.cols = im2col(x.astype(W.dtype, copy=False), self.kernel_size, self.stride, self.padding)
        out = W.reshape(self.out_channels, -1) @ self.cols + b[:, None]      # (F, N*H'*W')
        return out.reshape(self.out_channels, N, H_out, W_out).transpose(1, 0, 2, 3)

    def backward(self, dout):
        guards.check_backward(self, dout)
        W = self.params["W"]
        D = dout.transpose(1, 0, 2, 3).reshape(self.out_channels, -1).astype(W.dtype, copy=False)
        self.grads["W"] = (D @ self.cols.T).reshape(W.shape)
        self.grads["b"] = D.sum(axis=1)
        dcols = W.reshape(self.out_channels, -1).T @ D                      # (C*k*k, N*H'*W')
        return col2im(dcols, self.x_shape, self.kernel_size, self.stride, self.padding)


# The naive references: explicit loops, slow, obviously right. Tests, the
# benchmark and the exercise checks compare the layers with them.

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

    params: none.   backward caches the winner of every window: the flat index
    i*k + j of its maximum, (N, C, H', W'). Backward routes each dout value to
    the one input that won its window. When several inputs tie for the maximum,
    the first in row-major order wins (np.argmax's choice), so every window
    sends its gradient to exactly one position. Windows that overlap (k > s)
    can share a winner, so the routed gradients are *added*.
    """

    def __init__(self, kernel_size=2, stride=None):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        guards.check_layer_arguments(self)

    def config(self):
        return dict(kernel_size=self.kernel_size, stride=self.stride)

    def forward(self, x):
        guards.check_layer_input(self, x, 4)
        k, s = self.kernel_size, self.stride
        N, C, H, W = x.shape
        H_out, W_out = conv_output_size(H, k, s, 0), conv_output_size(W, k, s, 0)
        # Every window, as a view (N, C, H', W', k, k), then one row of k*k values per window.
        windows = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(2, 3))[:, :, ::s, ::s]
        windows = windows.reshape(N, C, H_out, W_out, k * k)
        self.x_shape, self.winner = x.shape, windows.argmax(axis=-1)
        return windows.max(axis=-1)

    def backward(self, dout):
        guards.check_backward(self, dout)
        k, s = self.kernel_size, self.stride
        H_out, W_out = dout.shape[2:]
        dx = np.zeros(self.x_shape, dtype=dout.dtype)
        for i in range(k):
            for j in range(k):
                # Element (i, j) of every window is the strided slice below; += because,
                # when windows overlap, one input can win several of them.
                dx[:, :, i:i + s * (H_out - 1) + 1:s, j:j + s * (W_out - 1) + 1:s] += \
                    np.where(self.winner == i * k + j, dout, 0)
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
        guards.check_backward(self, dout)
        return dout * self.positive


class LeakyReLU(Layer):
    """Leaky ReLU, element-wise: negative inputs still pass a small gradient a. Notebook 06, section 3.

    x: any shape -> out: same shape,   out = x if x > 0 else a * x   (a = negative_slope)
    params: none.   backward: dx = dout * (1 if x > 0 else a); caches the mask [x > 0].
    """

    def __init__(self, negative_slope=0.01):
        super().__init__()
        self.negative_slope = negative_slope
        guards.check_layer_arguments(self)        # a finite slope in [0, 1): below 0 or from 1 up it is no leaky ReLU

    def config(self):
        return dict(negative_slope=self.negative_slope)

    def forward(self, x):
        x = _as_float(x)                   # a*x of an integer x must not round a to 0
        self.positive = x > 0
        return np.where(self.positive, x, x * x.dtype.type(self.negative_slope))

    def backward(self, dout):
        guards.check_backward(self, dout)
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
        guards.check_backward(self, dout)
        # In the memory layout of x (empty_like keeps it), so the layers below read the gradient
        # in the order they wrote x (bench.py: "Flatten.backward ignores the layout" is slower).
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
        self.p = p
        guards.check_layer_arguments(self)
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
        guards.check_backward(self, dout)
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
        guards.check_layer_arguments(self)
        rng = rng if rng is not None else np.random.default_rng()
        self.params["W"] = he_normal((in_features, out_features), in_features, rng, dtype)
        self.params["b"] = np.zeros(out_features, dtype=dtype)
        self.grads = {key: np.zeros_like(value) for key, value in self.params.items()}

    def config(self):
        return dict(in_features=self.in_features, out_features=self.out_features)

    def forward(self, x):
        guards.check_layer_input(self, x, 2, self.in_features)
        self.x = x.astype(self.params["W"].dtype, copy=False)
        return self.x @ self.params["W"] + self.params["b"]

    def backward(self, dout):
        guards.check_backward(self, dout)
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
        guards.check_layer_arguments(self)
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
        guards.check_layer_input(self, x, len(self.axes) + 1, self.num_features)
        x = x.astype(self.params["gamma"].dtype, copy=False)
        if self.training:
            mean = x.mean(axis=self.axes)
            centred = x - self._per_feature(mean)
            var = np.mean(centred * centred, axis=self.axes)          # population variance (divide by m)
            guards.check_batch_statistics(self, x, mean, var)     # m >= 2 values per feature, all finite
            m = x.size // self.num_features
            self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * mean
            self.running_var = (1 - self.momentum) * self.running_var + self.momentum * var * (m / (m - 1))
        else:
            centred, var = x - self._per_feature(self.running_mean), self.running_var
        self.inv_std = 1 / np.sqrt(var + x.dtype.type(self.eps))
        self.x_hat = centred * self._per_feature(self.inv_std)
        return self.x_hat * self._per_feature(self.params["gamma"]) + self._per_feature(self.params["beta"])

    def backward(self, dout):
        guards.check_backward(self, dout)                        # also: still in forward's mode
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
    backward: BatchNorm1D's formulas, with the means over (N, H, W) (notebook 10, section 3).
    """

    axes = (0, 2, 3)

    def __init__(self, num_channels, momentum=0.1, eps=1e-5, *, dtype=np.float32):
        super().__init__(num_channels, momentum, eps, dtype=dtype)

    def config(self):
        return dict(num_channels=self.num_features, momentum=self.momentum, eps=self.eps)


class LayerNorm(Layer):
    """Layer normalisation: x: (N, D) -> (N, D), each example over its own D features (notebook 10, section 8).
        x_hat = (x - mu) / sqrt(var + eps),   out = gamma * x_hat + beta,   mu, var: (N, 1)
    BatchNorm1D with the axes swapped: each example's mean and population variance over axis 1, so a batch
    of one works and training and eval agree (no running statistics). params: gamma (D,), beta (D,).
    grads: dbeta = sum_n dout, dgamma = sum_n dout * x_hat; with g = gamma * dout = dL/dx_hat, means over D:
        dx = 1 / sqrt(var + eps) * (g - mean(g) - x_hat * mean(g * x_hat))   (gamma varies along D: inside)
    """

    def __init__(self, num_features, eps=1e-5, *, dtype=np.float32):
        super().__init__()
        self.num_features, self.eps = num_features, eps
        guards.check_layer_arguments(self)
        self.params = {"gamma": np.ones(num_features, dtype=dtype), "beta": np.zeros(num_features, dtype=dtype)}
        self.grads = {key: np.zeros_like(value) for key, value in self.params.items()}

    def config(self):
        return dict(num_features=self.num_features, eps=self.eps)

    def forward(self, x):
        guards.check_layer_input(self, x, 2, self.num_features)
        x = x.astype(self.params["gamma"].dtype, copy=False)
        self.inv_std = 1 / np.sqrt(x.var(axis=1, keepdims=True) + x.dtype.type(self.eps))       # (N, 1)
        self.x_hat = (x - x.mean(axis=1, keepdims=True)) * self.inv_std
        return self.x_hat * self.params["gamma"] + self.params["beta"]

    def backward(self, dout):
        guards.check_backward(self, dout)
        self.grads["beta"], self.grads["gamma"] = dout.sum(axis=0), (dout * self.x_hat).sum(axis=0)
        g = dout * self.params["gamma"]
        mean_g, mean_g_x_hat = g.mean(axis=1, keepdims=True), (g * self.x_hat).mean(axis=1, keepdims=True)
        return self.inv_std * (g - mean_g - self.x_hat * mean_g_x_hat)


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


class SoftmaxCrossEntropy:
    """Softmax followed by the cross-entropy loss, averaged over the batch (notebook 05, sections 4-5).

    logits: (N, K), labels: (N,) ints in [0, K)  -> loss: float
        L = -(1/N) sum_n log softmax(z_n)[y_n]
    backward() -> dlogits: (N, K) = (softmax(z) - onehot(y)) / N
    """

    def forward(self, logits, labels):
        guards.check_loss_input(logits, labels)       # (N, K) and (N,) class numbers 0..K-1
        log_probs = log_softmax(logits)
        self.probs, self.labels = np.exp(log_probs), labels
        return float(-log_probs[np.arange(len(labels)), labels].mean())

    def backward(self):
        guards.check_loss_backward(self)
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
        self.lr, self.state = lr, {}

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
        guards.check_optimizer_arguments(self)          # each in its sensible range

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
        self.betas, self.eps, self.weight_decay = betas, eps, weight_decay
        guards.check_optimizer_arguments(self)          # each in its sensible range
        (self.beta1, self.beta2), self.t = betas, 0

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
        guards.check_optimizer_arguments(self)          # each in its sensible range

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

class Sequential(Layer):
    """Layers applied in order: a layer itself, so models nest (Residual is one).

    x: the first layer's input -> the last layer's output (the logits, for a classifier).
    forward calls every layer's forward in order; backward takes dL/d(output) and
    calls every layer's backward in reverse order, so it is the loop
        for layer in reversed(model.layers): dout = layer.backward(dout)
    params/grads: the layers' own arrays (not copies), keyed "i.name" (i = position,
    "i.j.name" inside a nested model). training: setting it sets every layer's.
    """

    def __init__(self, layers):
        # No Layer.__init__: params, grads and training are the layers' (properties below).
        self.layers = list(layers)
        guards.check_distinct_layers(self)          # a layer object used twice would get wrong gradients

    @property
    def params(self):
        return {f"{i}.{name}": p for i, layer in enumerate(self.layers) for name, p in layer.params.items()}

    @property
    def grads(self):
        return {f"{i}.{name}": g for i, layer in enumerate(self.layers) for name, g in layer.grads.items()}

    @property
    def training(self):
        return all(layer.training for layer in self.layers)

    @training.setter
    def training(self, mode):
        for layer in self.layers:
            layer.training = mode

    def forward(self, x, keep_caches=True):
        """``keep_caches=False`` is inference (predict_proba): each layer's backward caches are
        dropped once the next layer has its input, so memory holds one layer's at a time."""
        for layer in self.layers:
            x = layer.forward(x, keep_caches) if isinstance(layer, Sequential) else layer.forward(x)
            if not keep_caches:
                guards.drop_caches(layer)
        return x

    def backward(self, dout, input_gradient=True):
        """dL/d(output) -> dL/dx. With ``input_gradient=False`` (what train() passes:
        training never uses dL/d(images)) a first layer with a ``backward_weights_only``
        method (FastConv2D) fills its grads but skips dL/dx, a matrix product and a
        col2im, about 5% of a training step; None comes back then."""
        for i in reversed(range(len(self.layers))):
            layer = self.layers[i]
            if i == 0 and not input_gradient and hasattr(layer, "backward_weights_only"):
                return layer.backward_weights_only(dout)
            dout = layer.backward(dout)
        return dout

    def train(self):
        """Training mode (dropout active, batch norm on batch statistics). Returns self."""
        self.training = True
        return self

    def eval(self):
        """Evaluation mode (dropout off, batch norm on running statistics). Returns self."""
        self.training = False
        return self

    def predict_proba(self, x, batch_size=1000):
        """Class probabilities (N, K), in eval mode, keeping no backward caches, in batches of
        at most batch_size that bound memory (guards.inference_batch_size)."""
        was_training = [layer.training for layer in self.layers]
        self.eval()
        try:
            batch_size = guards.inference_batch_size(self, x, batch_size)
            return np.concatenate([softmax(self.forward(x[i:i + batch_size], keep_caches=False))
                                   for i in range(0, len(x), batch_size)])
        finally:
            for layer, mode in zip(self.layers, was_training):
                layer.training = mode

    def predict(self, x, batch_size=1000):
        """Predicted class for every image: (N,) int64."""
        return self.predict_proba(x, batch_size).argmax(axis=1)

    def num_parameters(self):
        return sum(p.size for p in self.params.values())

    def __repr__(self):
        lines = [f"  ({i}) " + repr(layer).replace("\n", "\n  ") for i, layer in enumerate(self.layers)]
        return f"{type(self).__name__}(\n" + "\n".join(lines) + f"\n)  # {self.num_parameters():,} parameters"


class Residual(Sequential):
    """A residual block: y = x + f(x), f = the inner layers applied in order (a Sequential).

    x: any shape -> y: the same shape (f must keep it). The skip path copies x
    unchanged, so backward sends dy down both paths and adds them:
        dx = dy + f'(x)^T dy        (derived in notebook 10, section 5)
    Even when f's gradient is tiny, dy itself reaches the layers below.
    params/grads: the inner layers', keyed "j.name", as Sequential's. backward caches nothing itself.
    """

    def __init__(self, *layers):
        super().__init__(layers)

    def forward(self, x, keep_caches=True):
        out = super().forward(x, keep_caches)
        guards.check_residual_shape(x, out)             # y = x + f(x): f must keep the shape
        return x + out

    def backward(self, dout):
        return dout + super().backward(dout)            # skip path + inner path

    def __repr__(self):
        return "Residual(" + ", ".join(repr(layer) for layer in self.layers) + ")"


def reference_cnn(seed=0, channels=(8, 16), hidden=128, dropout=0.0, dtype=np.float32,
                  in_channels=1, image_size=28, fast=True):
    """The course's reference CNN for 1 x 28 x 28 digits (other sizes: in_channels,
    image_size, e.g. 3 and 32 for CIFAR-10; S = image_size, S/4 below is 7 for MNIST):

        conv 3x3 (pad 1) -> maxpool 2 -> ReLU     1x28x28 -> C1x28x28 -> C1x14x14
        conv 3x3 (pad 1) -> maxpool 2 -> ReLU            -> C2x14x14 -> C2x7x7
        flatten -> dense -> ReLU -> [dropout] -> dense   -> hidden -> 10 logits

    ``fast=False`` builds this file's Conv2D and MaxPool2D instead of FastConv2D and
    FastMaxPool2D (course_machinery/fast_layers.py): same weights and results, slower.
    """
    from course_machinery.fast_layers import FastConv2D, FastMaxPool2D   # here: that module imports this one
    Conv, MaxPool = (FastConv2D, FastMaxPool2D) if fast else (Conv2D, MaxPool2D)
    rng = np.random.default_rng(seed)
    c1, c2 = channels
    # Textbooks draw conv -> ReLU -> pool. Pooling first is the same function with the same
    # gradients (ReLU never changes which of two numbers is larger: max(relu(a), relu(b)) =
    # relu(max(a, b)); notebook 07 checks it), and the ReLU then works on a quarter of the values.
    layers = [
        Conv(in_channels, c1, 3, padding=1, rng=rng, dtype=dtype), MaxPool(2), ReLU(),
        Conv(c1, c2, 3, padding=1, rng=rng, dtype=dtype), MaxPool(2), ReLU(),
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
             seed=0, dtype=np.float32, fast=True):
    """A deeper CNN with batch normalisation and residual blocks (notebook 10):

        conv 3x3 -> BN -> maxpool 2 -> ReLU -> blocks x [residual block]     C1 x S/2 x S/2
        conv 3x3 -> BN -> maxpool 2 -> ReLU -> blocks x [residual block]     C2 x S/4 x S/4
        flatten -> dense -> BN -> ReLU -> dense                              hidden -> logits

    residual block: x -> ReLU(x + BN(conv(ReLU(BN(conv(x))))))   (He et al., 2016)
    A convolution's bias is redundant before BN (BN subtracts any constant, so its gradient is 0; beta
    plays its role) but harmless. in_channels and image_size fit the data (1 x 28 x 28 MNIST, 3 x 32 x 32
    CIFAR-10; a multiple of 4 that halves once per stage). Pooling before the ReLU and ``fast``: as in reference_cnn.
    """
    guards.check_deep_cnn_arguments(in_channels, image_size, num_classes, channels, blocks, hidden, dtype)
    from course_machinery.fast_layers import FastConv2D, FastMaxPool2D
    Conv, MaxPool = (FastConv2D, FastMaxPool2D) if fast else (Conv2D, MaxPool2D)
    rng = np.random.default_rng(seed)

    def conv_bn(c_in, c_out):
        return [Conv(c_in, c_out, 3, padding=1, rng=rng, dtype=dtype), BatchNorm2D(c_out, dtype=dtype)]

    layers, c_in = [], in_channels
    for c in channels:
        layers += conv_bn(c_in, c) + [MaxPool(2), ReLU()]
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
    """One-cycle schedule (Smith 2018): a cosine rise from max_lr * start_fraction to max_lr over the
    first ``warmup`` of training, then a cosine fall to max_lr * final_fraction. The short warm-up lets
    training use a higher peak rate (big steps while far from a minimum); the long fall settles it."""
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


def batch_bounds(n: int, batch_size: int) -> list[tuple[int, int]]:
    """(first, end) of each mini-batch of an epoch of n images: batch_size each, the last one smaller.
    A last batch of a single image joins the one before it (which then holds batch_size + 1): batch
    normalisation cannot normalise one number by the spread of a batch (its variance is 0)."""
    bounds = [(first, min(first + batch_size, n)) for first in range(0, n, batch_size)]
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] == 1 < batch_size:
        bounds[-2:] = [(bounds[-2][0], n)]
    return bounds


def _end_epoch(history, model, epoch, train_loss, train_accuracy, lr, validation, start) -> float:
    """Append one epoch to ``history`` (scoring ``validation`` if given); return the score the best
    weights are kept by: validation accuracy, else minus the training loss."""
    val_loss, val_accuracy = evaluate(model, *validation) if validation is not None else (None, None)
    model.train()                                      # evaluate switched to eval mode
    for key, value in (("epoch", epoch), ("train_loss", train_loss), ("train_accuracy", train_accuracy),
                       ("val_loss", val_loss), ("val_accuracy", val_accuracy),
                       ("seconds", time.perf_counter() - start), ("lr", lr)):
        history[key].append(value)
    return val_accuracy if validation is not None else -train_loss


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

    The loop of notebook 07: shuffle, then for each batch forward, loss, backward, update.
    images (N, C, H, W), labels (N,) in 0..K-1. ``optimizer`` defaults to Adam(lr=1e-3); ``lr``
    replaces its rate for this call; ``schedule`` (in SCHEDULES; None is constant) sets optimizer.lr
    at every step (it gets its own back at the end). ``augment_shift``: random_shift's pixels;
    ``validation``: an (images, labels) pair scored after each epoch; ``callback(history)`` after
    every epoch, ``progress(epoch, done, total, loss, accuracy, seconds)`` after every batch.

    history: per epoch, epoch, train_loss, train_accuracy, val_loss, val_accuracy (None without
    validation), seconds, lr; "last_batch_merged" (batch_bounds); "interrupted" after Ctrl-C, when
    the model holds the best weights seen (by validation accuracy, else training loss). Raises
    TrainingDiverged when a batch loss is NaN, inf or above DIVERGED_LOSS_FACTOR x ln K.
    """
    optimizer = optimizer if optimizer is not None else Adam(model, lr=1e-3)
    num_classes, validation = guards.check_training_arguments(model, images, labels, validation, optimizer, lr,
                                                              epochs, batch_size, schedule, augment_shift)
    own_lr = optimizer.lr                   # the schedule changes optimizer.lr; it gets this back at the end
    base_lr = lr if lr is not None else own_lr
    rng = np.random.default_rng(seed)
    loss_fn = SoftmaxCrossEntropy()
    history = {key: [] for key in "epoch train_loss train_accuracy val_loss val_accuracy seconds lr".split()}
    n, bounds = len(images), batch_bounds(len(images), batch_size)
    steps_per_epoch = len(bounds)
    history["interrupted"], history["last_batch_merged"] = False, steps_per_epoch < math.ceil(n / batch_size)
    best_score, best_weights = -math.inf, None
    model.train()
    try:
        for epoch in range(1, epochs + 1):
            start = time.perf_counter()
            order = rng.permutation(n)                                   # shuffle
            loss_sum, correct, seen = 0.0, 0, 0
            for step, (first, end) in enumerate(bounds):
                done = ((epoch - 1) * steps_per_epoch + step) / (epochs * steps_per_epoch)
                optimizer.lr = scheduled_lr(schedule, base_lr, done)
                batch = order[first:end]
                x, y = images[batch], labels[batch]
                if augment_shift:
                    x = random_shift(x, augment_shift, rng)
                logits = model.forward(x)                                # 1. forward
                loss = loss_fn.forward(logits, y)                        # 2. loss
                guards.check_divergence(loss, num_classes, epoch, step + 1, base_lr)
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
            guards.warn_if_stalled(history, steps_per_epoch, num_classes, base_lr)   # lr far too small?
            if callback is not None:
                callback(history)
    except KeyboardInterrupt:
        history["interrupted"] = True
        if best_weights is not None:
            _restore(model, best_weights)
    finally:
        optimizer.lr = own_lr
    model.eval()
    return history


def evaluate(model, images, labels, batch_size=1000):
    """(mean loss, accuracy) of ``model`` on a data set, by predict_proba (no caches, bounded batches)."""
    guards.check_evaluation_data(model, images, labels, batch_size)
    probs = model.predict_proba(images, batch_size)
    loss = float(-np.log(np.maximum(probs[np.arange(len(labels)), labels], 1e-12)).mean())
    return loss, float((probs.argmax(axis=1) == labels).mean())


def confusion_matrix(labels, predictions, num_classes=10):
    """counts[i, j] = number of images of class i predicted as class j (notebook 07)."""
    counts = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(counts, (labels, predictions), 1)
    return counts


def split_training_data(images, labels, train_limit=None, validation_size=0, seed=0):
    """Hold out ``validation_size`` random images, then keep at most ``train_limit``
    of the rest for training. Returns (train_images, train_labels, val_images, val_labels)."""
    guards.check_split(len(images), train_limit, validation_size)
    order = np.random.default_rng(seed).permutation(len(images))
    val, rest = order[:validation_size], order[validation_size:]
    rest = np.sort(rest[:train_limit] if train_limit is not None else rest)
    return images[rest], labels[rest], images[np.sort(val)], labels[np.sort(val)]


# =============================================================================
# 7. Gradient checking
# =============================================================================

def numerical_gradient(f, x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """dF/dx by centred differences, (f(x + h) - f(x - h)) / 2h, one entry at a time (notebook 03, section 2).

    f takes no arguments and reads x, which we nudge in place (and restore).
    The error of a centred difference is O(h^2), against O(h) one-sided.

    x should be float64: float32's 7 digits drown the difference of two nearly equal losses
    (errors near 1e-2). f reads x itself, so we cannot convert it: other dtypes get a warning.
    """
    guards.check_nudgeable(x)                 # warns unless float64; refuses an array reshape would copy
    grad = np.zeros_like(x, dtype=np.float64)
    flat_x, flat_grad = x.reshape(-1), grad.reshape(-1)
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

    Below about 1e-7 it means "equal up to float64 rounding". A centred difference carries a rounding
    error of about 1e-16 * |L| / h, so tiny true gradients cannot score well: keep inputs moderate."""
    analytic, numeric = np.asarray(analytic, np.float64), np.asarray(numeric, np.float64)
    return float(np.max(np.abs(analytic - numeric) / np.maximum(np.abs(analytic) + np.abs(numeric), 1e-12)))


def grad_check(layer, x: np.ndarray, seed: int = 0, h: float = 1e-4) -> dict:
    """Compare a layer's backward with numerical gradients (notebook 03, section 7).

    Uses the scalar loss L = sum(forward(x) * G) for a fixed random G, whose gradient with respect
    to the output is exactly G. Returns the relative error for the input ("x") and each parameter.
    Needs a float64 layer, not a random one (Dropout in training); puts running statistics back.

    Why h = 1e-4 (numerical_gradient's default is 1e-5): every layer here is piecewise linear, so a
    centred difference has no truncation error unless x +- h crosses a kink (ReLU's 0, a new pooling
    winner); only rounding is left, and it shrinks as h grows. For smooth functions, use a smaller h.
    """
    layers = guards.check_grad_check_layer(layer)      # it and the layers inside it: float64, none random
    saved = [(inner, name, getattr(inner, name).copy()) for inner in layers
             for name in getattr(inner, "state_names", ())]
    x = np.array(x, dtype=np.float64)
    try:
        G = np.random.default_rng(seed).standard_normal(layer.forward(x).shape)
        loss = lambda: float(np.sum(layer.forward(x) * G))
        layer.forward(x)
        errors = {"x": relative_error(layer.backward(G), numerical_gradient(loss, x, h))}
        analytic = {name: grad.copy() for name, grad in layer.grads.items()}
        for name, param in layer.params.items():
            errors[name] = relative_error(analytic[name], numerical_gradient(loss, param, h))
    finally:
        for inner, name, value in saved:               # the running statistics as they were
            setattr(inner, name, value)
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

    image = file_safety.reduce_by_blocks(image, height, width)   # a huge image: average blocks first
    return weights(image.shape[0], height) @ image @ weights(image.shape[1], width).T


def read_picture(path: str | os.PathLike) -> np.ndarray:
    """A picture file (PNG, JPEG, ...) as float32 in [0, 1]: (H, W) grey, (H, W, 3) RGB or (H, W, 4)
    RGBA, turned as its EXIF tag says, at most 2048 pixels a side (file_safety.read_picture_file)."""
    return file_safety.read_picture_file(Path(path))


def to_grey(image: np.ndarray) -> np.ndarray:
    """Any picture -> 2-D float in [0, 1]. Integers are divided by their type's maximum (255 for
    8 bits); floats outside [0, 1] (0..255, or negative once normalised) are stretched to [0, 1].
    Transparency is laid on paper that contrasts with what is opaque (white ink on a transparent
    background goes on black, dark ink on white), so the ink stays ink whatever its colour."""
    image = np.asarray(image)
    if image.size == 0:
        raise ValueError(f"the image is empty (shape {image.shape}): there is nothing to read")
    image = image / np.iinfo(image.dtype).max if np.issubdtype(image.dtype, np.integer) else image.astype(float)
    if not np.isfinite(image).all():
        raise ValueError(f"the image has {int((~np.isfinite(image)).sum())} NaN or infinite pixel values; "
                         f"replace them (e.g. np.nan_to_num(image)) before preprocessing")
    if image.min() < 0 or image.max() > 1:
        image = (image - image.min()) / ((image.max() - image.min()) or 1)
    if image.ndim == 3:
        if image.shape[2] == 4:
            colour, alpha = image[..., :3], image[..., 3:4]
            paper = 0.0 if (colour * alpha).sum() > 0.5 * 3 * alpha.sum() else 1.0   # light ink: dark paper
            image = colour * alpha + paper * (1 - alpha)
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
#
# A model file is an .npz archive (np.savez: a zip of .npy arrays) holding
#   "architecture"      a JSON string: {"format": MODEL_FORMAT, "layers": [{"type", "config"}...], "metadata"}
#   "layer<i>.<name>"   each parameter and running statistic of layer i ("layer<i>.<j>.<name>" in a Residual)
# It is read with allow_pickle=False: a model file can never run code.

MODEL_FORMAT = file_safety.MODEL_FORMAT
LAYER_TYPES = {cls.__name__: cls for cls in (Conv2D, MaxPool2D, ReLU, LeakyReLU, Flatten, Dropout, Dense,
                                             BatchNorm1D, BatchNorm2D, LayerNorm, Residual, Sequential)}


def _layer_spec(layer) -> dict:
    """A layer's entry in the architecture JSON; a Sequential or Residual lists its inner layers.
    A fast layer is saved under its textbook name (``saved_as``), so either kind loads it."""
    spec = {"type": getattr(layer, "saved_as", type(layer).__name__), "config": layer.config()}
    if isinstance(layer, Sequential):
        spec["layers"] = [_layer_spec(inner) for inner in layer.layers]
    return spec


def _layer_arrays(layer, prefix: str) -> dict:
    """{"<prefix>.<name>": array} for a layer's parameters and saved state (a BatchNorm's
    running statistics); a nested model's (Residual's) inner layer j gets the prefix "<prefix>.<j>"."""
    if isinstance(layer, Sequential):
        return {key: value for j, inner in enumerate(layer.layers)
                for key, value in _layer_arrays(inner, f"{prefix}.{j}").items()}
    arrays = {f"{prefix}.{name}": value for name, value in layer.params.items()}
    arrays.update({f"{prefix}.{name}": getattr(layer, name) for name in getattr(layer, "state_names", ())})
    return arrays


def save_model(model: Sequential, path: str | os.PathLike, metadata: dict | None = None) -> None:
    """Save weights and architecture to one .npz file, laid out as above, written
    atomically (file_safety.atomic_write: a crash never leaves half a file)."""
    architecture = {"format": MODEL_FORMAT, "layers": [_layer_spec(layer) for layer in model.layers],
                    "metadata": metadata or {}}
    arrays = {"architecture": np.array(json.dumps(architecture))}
    for i, layer in enumerate(model.layers):
        arrays.update(_layer_arrays(layer, f"layer{i}"))
    file_safety.atomic_write(path, lambda file: np.savez(file, **arrays))


def _build_layer(path: Path, i: int, spec: dict):
    """Layer i of a file; a Conv2D or MaxPool2D is built as its fast version, as reference_cnn does."""
    from course_machinery.fast_layers import FAST_LAYERS   # here: that module imports this one
    config = spec.get("config", {})
    try:
        return FAST_LAYERS.get(spec["type"], LAYER_TYPES[spec["type"]])(**config)
    except (TypeError, ValueError) as error:
        raise ModelFileError(f"{path}: layer {i} ({spec['type']}) has an invalid config "
                             f"{json.dumps(config)[:200]}: {error}") from None


def _load_layer(path: Path, arrays, i: str, spec: dict, dtype):
    """Build layer i from its spec and fill in its arrays "layer<i>.<name>"; a
    nested model's (Sequential's, Residual's) inner layer j is layer "<i>.<j>"."""
    if spec["type"] in ("Residual", "Sequential"):
        inner = [_load_layer(path, arrays, f"{i}.{j}", s, dtype) for j, s in enumerate(spec["layers"])]
        return Residual(*inner) if spec["type"] == "Residual" else Sequential(inner)
    layer = _build_layer(path, i, spec)
    for name in list(layer.params) + list(getattr(layer, "state_names", ())):
        value = arrays[f"layer{i}.{name}"]
        file_safety.check_finite_weights(path, f"layer{i}.{name}", value)   # a diverged training saves NaN
        value = value.astype(dtype or value.dtype)
        if name in layer.params:
            layer.params[name], layer.grads[name] = value, np.zeros_like(value)
        else:                                           # a running statistic
            setattr(layer, name, value)
    return layer


def load_model(path: str | os.PathLike, dtype=None) -> Sequential:
    """Load a model written by save_model; ``model.metadata`` holds what was saved with it.
    ``dtype`` (e.g. np.float64) converts the weights; by default they keep the saved one.

    First file_safety checks the file without reading a weight (names and sizes from
    the zip directory, the architecture, each array's shape and dtype from its header),
    so a damaged or hostile file is a ModelFileError, not a crash or gigabytes of memory.
    Then np.load with ``allow_pickle=False`` reads the weights: a model file never runs code.
    """
    path = Path(path)
    architecture = file_safety.check_model_file(path, LAYER_TYPES, _build_layer)
    guards.check_model_to_load(path, architecture, dtype)     # float dtype; nesting at most 16 deep
    with file_safety.model_file_errors(path), np.load(path, allow_pickle=False) as arrays:
        layers = [_load_layer(path, arrays, str(i), spec, dtype) for i, spec in enumerate(architecture["layers"])]
    model = Sequential(layers).eval()
    guards.check_loaded_model(path, model)                    # running variances >= 0
    model.metadata = architecture.get("metadata", {})
    return model


if __name__ == "__main__":
    from course_machinery.cli import main
    main()
