"""ScratchCNN: a convolutional neural network from scratch in NumPy.

This one file is the course's library. Part I is the textbook, in the order the
course teaches it; Part II is course machinery a student need not read.

Part I, the library
  1. Data          - reading the MNIST IDX files (``load_mnist``)
  2. Layers        - Conv2D, MaxPool2D, ReLU, LeakyReLU, Flatten, Dropout, Dense
                     plus the naive loop versions they are checked against
  3. Loss          - SoftmaxCrossEntropy
  4. Optimizers    - SGD (momentum, weight decay) and Adam
  5. Model         - Sequential and the course's reference CNN
  6. Training      - train, evaluate, data augmentation
  7. Gradient checking - numerical gradients by centred differences
  8. Pictures      - preprocessing a drawn digit like MNIST
  9. Model files   - save_model / load_model (.npz, no pickle)
 10. Command line  - ``python scratchcnn.py train|evaluate|predict``

Part II, course machinery
 11. Plots and widgets - LivePlot, the digit slider, the drawing pad
 12. Exercise checks - check_exercise, used by the notebooks' exercises

Conventions: images are NCHW arrays (batch, channels, height, width) and
"convolution" means cross-correlation, as in PyTorch's ``conv2d``.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import math
import os
import sys
import tempfile
import time
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


def _find_idx_file(data_dir: Path, stem: str) -> Path:
    """The file ``stem`` in ``data_dir``, gzipped or plain."""
    for name in (stem + ".gz", stem):
        if (data_dir / name).is_file():
            return data_dir / name
    raise DataFileError(
        f"missing data file: neither {data_dir / (stem + '.gz')} nor {data_dir / stem} exists. "
        f"Pass data_dir= (or --data-dir) pointing at a folder with the four MNIST IDX files, "
        f"or restore the repository's data/mnist/ folder with `git checkout -- data/mnist`."
    )


def _check_sha256(path: Path, raw: bytes) -> None:
    """Compare ``raw`` (the bytes of ``path`` on disk) with the SHA256SUMS beside it, if any."""
    sums_file = path.parent / "SHA256SUMS"
    if not sums_file.is_file():
        return
    expected = {}
    for line in sums_file.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2:
            expected[parts[1].lstrip("*")] = parts[0].lower()
    if path.name not in expected:
        return  # e.g. an un-gzipped copy: SHA256SUMS lists the .gz files only
    actual = hashlib.sha256(raw).hexdigest()
    if actual != expected[path.name]:
        raise DataFileError(
            f"checksum mismatch for {path}: SHA-256 is {actual}, but {sums_file} expects "
            f"{expected[path.name]}. The file is corrupt or was replaced; restore it with "
            f"`git checkout -- {path.name}` in {path.parent} (or copy a fresh one)."
        )


def idx_header(magic: int, shape: tuple) -> bytes:
    """The header of an IDX file: the magic number, then one big-endian uint32 per dimension."""
    return magic.to_bytes(4, "big") + b"".join(size.to_bytes(4, "big") for size in shape)


def read_idx(path: str | os.PathLike, expected_magic: int) -> np.ndarray:
    """Read one IDX file (``.gz`` or plain) into a uint8 array of the shape its header gives."""
    path = Path(path)
    raw = path.read_bytes()
    _check_sha256(path, raw)
    if path.suffix == ".gz":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as error:
            raise DataFileError(
                f"{path} is not a valid gzip file ({error}); it is probably truncated. "
                f"Replace it with a complete copy."
            ) from None
    if len(raw) < 4:
        raise DataFileError(f"{path} is truncated: {len(raw)} bytes, not even an IDX header.")
    magic = int.from_bytes(raw[:4], "big")
    if magic != expected_magic:
        kind = "image" if expected_magic == IMAGES_MAGIC else "label"
        raise DataFileError(
            f"{path} has the wrong magic number {magic:#010x}; an IDX {kind} file starts with "
            f"{expected_magic:#010x}. Is it the right file (images and labels swapped?) "
            f"and not some other format?"
        )
    ndim = raw[3]
    header_size = 4 + 4 * ndim
    if len(raw) < header_size:
        raise DataFileError(f"{path} is truncated inside its header ({len(raw)} bytes).")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected_bytes = header_size + math.prod(shape)
    if len(raw) != expected_bytes:
        raise DataFileError(
            f"{path} is truncated or padded: its header promises shape {shape} "
            f"({expected_bytes} bytes in all) but the file holds {len(raw)} bytes. "
            f"Replace it with a complete copy."
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header_size).reshape(shape)


def load_mnist(split: str = "train", data_dir: str | os.PathLike | None = None):
    """Load one split of MNIST (or any data set in the same IDX format).

    Returns ``(images, labels)``:
      images: float32 (N, 1, 28, 28), scaled from bytes 0..255 to [0, 1]
      labels: int64 (N,)

    ``data_dir`` defaults to ``data/mnist`` beside this file, so it works from
    any working directory. Fashion-MNIST loads the same way, e.g.
    ``load_mnist("test", "/usr/share/datasets/fashion-mnist")``.
    """
    if split not in MNIST_FILES:
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    data_dir = Path(data_dir) if data_dir is not None else DEFAULT_DATA_DIR
    if not data_dir.is_dir():
        raise DataFileError(
            f"missing data folder {data_dir}. Pass data_dir= (or --data-dir) pointing at a "
            f"folder with the four MNIST IDX files (the repository ships them in data/mnist/)."
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
    if len(images) != len(labels):
        raise DataFileError(
            f"count mismatch: {images_path} holds {len(images)} images but {labels_path} holds "
            f"{len(labels)} labels. The two files must come from the same split and release."
        )
    # Dividing by 255 puts every pixel in [0, 1], the range the initialisation assumes.
    images = (images.astype(np.float32) / np.float32(255.0))[:, None, :, :]
    return images, labels.astype(np.int64)


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
    """Fail early, with a message a student can act on, when x has the wrong shape."""
    if x.ndim != ndim:
        wanted = "(N, C, H, W)" if ndim == 4 else "(N, features)"
        raise ValueError(
            f"{layer!r} expects a {ndim}-D input {wanted}, got shape {x.shape}. "
            + ("Add the channel axis with x[:, None] for grey images." if ndim == 4 and x.ndim == 3 else
               "Put a Flatten() before Dense." if ndim == 2 and x.ndim == 4 else "")
        )
    if channels is not None and x.shape[1] != channels:
        raise ValueError(f"{layer!r} expects {channels} input channels/features, got shape {x.shape}.")


def conv_output_size(size: int, kernel_size: int, stride: int, padding: int) -> int:
    """H' = (H + 2p - k) / s + 1, the output size of a convolution or pooling."""
    out = (size + 2 * padding - kernel_size) // stride + 1
    if out < 1:
        raise ValueError(
            f"kernel {kernel_size} with padding {padding} does not fit an input of size {size}"
        )
    return out


def im2col(x: np.ndarray, kernel_size: int, stride: int = 1, padding: int = 0,
           batch_last: bool = False) -> np.ndarray:
    """Unfold every k x k patch of x into a column.

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
    """The adjoint of im2col: add every column back onto the patch it came from.

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
    """2-D convolution (cross-correlation) with square kernels.

    x: (N, C, H, W) -> out: (N, F, H', W'),  H' = (H + 2p - k) / s + 1

        out[n, f, y, x] = b[f] + sum_{c,i,j} W[f, c, i, j] * x_pad[n, c, s*y + i, s*x + j]

    params: W (F, C, k, k), b (F,).
    Forward is one matrix product:  W.reshape(F, C*k*k) @ im2col(x)  -> (F, H'*W'*N),
    with batch-last columns (see im2col). Backward, with dout as the same matrix D:
        dW = D @ cols.T     db = D @ 1     dx = col2im(W.T @ D)
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
        self.grads["W"] = (D @ self.cols.T).reshape(W.shape)
        self.grads["b"] = D @ np.ones(D.shape[1], dtype=D.dtype)   # a product: faster than sum
        if not self.needs_input_gradient:
            return None                  # e.g. the first layer in training: dL/d(images) is unused
        dcols = W.reshape(self.out_channels, -1).T @ D                 # (C*k*k, N*H'*W')
        return col2im(dcols, self.x_shape, self.kernel_size, self.stride, self.padding, batch_last=True)


# The naive references: explicit loops, slow, obviously right. Tests, the
# benchmark and the exercise checks compare the fast layers with them.

def conv2d_naive(x, W, b, stride=1, padding=0):
    """Convolution (cross-correlation) with four loops, for teaching and testing.

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
    """Conv2D's backward pass with four loops, for teaching and testing (notebook 03).

    x: (N, C, H, W), W: (F, C, k, k), dout: (N, F, H', W') -> dx (N, C, H, W), dW, db (F,)
    Each output pixel took a window of x_pad and W[f]; it sends dout back to both.
    """
    k, s, p = W.shape[2], stride, padding
    x_pad = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    dx_pad, dW = np.zeros_like(x_pad, dtype=np.result_type(x, W)), np.zeros_like(W)
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
    """Max pooling.

    x: (N, C, H, W) -> out: (N, C, H', W'),  H' = (H - k) / s + 1

        out[n, c, y, x] = max_{i,j < k} x[n, c, s*y + i, s*x + j]

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
        dx = np.zeros_like(self.winner, shape=self.x_shape, dtype=dout.dtype)   # x's memory layout
        for i in range(k):
            for j in range(k):
                routed = dout * (self.winner == i * k + j)     # dout where (i, j) won, else 0
                target = self._offset(dx, i, j, H_out, W_out)
                if self.stride < k:
                    target += routed       # += (not =): with overlapping windows one input can win several
                else:
                    target[...] = routed   # no overlap: every input lies in one window at most
        return dx


def maxpool2d_naive(x, kernel_size=2, stride=None):
    """Max pooling with loops, for teaching and testing. x: (N, C, H, W) -> (N, C, H', W')."""
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
    """MaxPool2D's backward pass with loops, for teaching and testing (notebook 04).

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
    """ReLU(x) = max(x, 0), element-wise; any shape.  dx = dout * [x > 0]."""

    def forward(self, x):
        self.positive = x > 0
        return np.maximum(x, 0)

    def backward(self, dout):
        return dout * self.positive


class LeakyReLU(Layer):
    """LeakyReLU(x) = x if x > 0 else a*x, so negative inputs still pass a small gradient a."""

    def __init__(self, negative_slope=0.01):
        super().__init__()
        self.negative_slope = negative_slope

    def config(self):
        return dict(negative_slope=self.negative_slope)

    def forward(self, x):
        self.positive = x > 0
        return np.where(self.positive, x, x * x.dtype.type(self.negative_slope))

    def backward(self, dout):
        return np.where(self.positive, dout, dout * dout.dtype.type(self.negative_slope))


class Flatten(Layer):
    """x: (N, C, H, W) -> (N, C*H*W). Backward reshapes dout back."""

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
    """Inverted dropout: in training, zero each unit with probability p and scale
    the survivors by 1/(1-p), so the expected activation is unchanged and
    evaluation is the identity. Any shape."""

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
        keep = self.rng.random(x.shape, dtype=np.float32) >= self.p
        self.mask = keep.astype(x.dtype) / x.dtype.type(1 - self.p)
        return x * self.mask

    def backward(self, dout):
        return dout if self.mask is None else dout * self.mask


class Dense(Layer):
    """Fully connected layer.

    x: (N, D) -> out: (N, M),   out = x @ W + b
    params: W (D, M), b (M,).   dW = x.T @ dout,  db = sum_n dout,  dx = dout @ W.T
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


# =============================================================================
# 3. Loss: softmax and cross-entropy
# =============================================================================

def log_softmax(logits: np.ndarray) -> np.ndarray:
    """log softmax(z)_k = z_k - log sum_j exp(z_j), computed stably.

    Subtracting max(z) first changes nothing mathematically but keeps every
    exp() argument <= 0, so exp never overflows (log-sum-exp trick).
    """
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def softmax(logits: np.ndarray) -> np.ndarray:
    """softmax(z)_k = exp(z_k) / sum_j exp(z_j), row-wise, stable for any logits."""
    return np.exp(log_softmax(logits))


class SoftmaxCrossEntropy:
    """Softmax followed by the cross-entropy loss, averaged over the batch.

    logits: (N, K), labels: (N,) ints in [0, K)  -> loss: float
        L = -(1/N) sum_n log softmax(z_n)[y_n]
    backward() -> dlogits: (N, K) = (softmax(z) - onehot(y)) / N
    """

    def forward(self, logits, labels):
        if logits.ndim != 2 or labels.shape != (logits.shape[0],):
            raise ValueError(f"expected logits (N, K) and labels (N,), got {logits.shape} and {labels.shape}")
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


# =============================================================================
# 5. Model
# =============================================================================

class Sequential:
    """Layers applied in order. forward returns the logits; backward takes dL/dlogits."""

    def __init__(self, layers):
        self.layers = list(layers)

    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, dout, input_gradient=True):
        """dL/dlogits -> dL/dx for the model's input x. With ``input_gradient=False``
        (what train() passes) the first layer may skip dL/dx, which training never
        uses (for a Conv2D: a matrix product and a col2im), and None comes back."""
        first = self.layers[0]
        first.needs_input_gradient = input_gradient
        try:
            for layer in reversed(self.layers):
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


def reference_cnn(seed=0, channels=(8, 16), hidden=128, dropout=0.0, dtype=np.float32):
    """The course's reference CNN for 1 x 28 x 28 digits:

        conv 3x3 (pad 1) -> ReLU -> maxpool 2     1x28x28 -> C1x28x28 -> C1x14x14
        conv 3x3 (pad 1) -> ReLU -> maxpool 2            -> C2x14x14 -> C2x7x7
        flatten -> dense -> ReLU -> [dropout] -> dense   -> hidden -> 10 logits
    """
    rng = np.random.default_rng(seed)
    c1, c2 = channels
    layers = [
        Conv2D(1, c1, 3, padding=1, rng=rng, dtype=dtype), ReLU(), MaxPool2D(2),
        Conv2D(c1, c2, 3, padding=1, rng=rng, dtype=dtype), ReLU(), MaxPool2D(2),
        Flatten(), Dense(c2 * 7 * 7, hidden, rng=rng, dtype=dtype), ReLU(),
    ]
    if dropout:
        layers.append(Dropout(dropout, rng=rng))
    output = Dense(hidden, 10, rng=rng, dtype=dtype)
    # Small output weights make the untrained network's logits nearly equal, so
    # it starts by predicting 1/10 for every class: loss ln 10 = 2.303.
    output.params["W"] *= dtype(0.1)
    layers.append(output)
    return Sequential(layers)


# =============================================================================
# 6. Training
# =============================================================================

class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite: the learning rate is almost always too high."""


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


def evaluate(model, images, labels, batch_size=1000):
    """Mean loss and accuracy of ``model`` on a data set: returns (loss, accuracy)."""
    probs = model.predict_proba(images, batch_size)
    loss = float(-np.log(np.maximum(probs[np.arange(len(labels)), labels], 1e-12)).mean())
    return loss, float((probs.argmax(axis=1) == labels).mean())


def _snapshot(model):
    return [{k: v.copy() for k, v in layer.params.items()} for layer in model.layers]


def _restore(model, snapshot):
    for layer, params in zip(model.layers, snapshot):
        for key, value in params.items():
            layer.params[key][...] = value


def train(model, images, labels, *, epochs=1, batch_size=64, optimizer=None, lr=None,
          schedule="cosine", augment_shift=0, validation=None, seed=0, callback=None,
          progress=None):
    """Train ``model`` with mini-batch gradient descent; returns the history.

    images (N, 1, H, W), labels (N,). ``optimizer`` defaults to Adam(lr=1e-3).
    ``lr`` overrides the optimizer's learning rate; ``schedule="cosine"``
    decays it over all steps, ``None`` keeps it constant. ``augment_shift``
    moves each training image by up to that many pixels. ``validation`` is an
    optional (images, labels) pair evaluated after each epoch.

    ``callback(history)`` runs after every epoch (notebooks draw live curves
    with it); ``progress(epoch, done, total, loss, accuracy, seconds)`` after
    every batch (the CLI's progress bar).

    history: dict of lists, one entry per epoch: epoch, train_loss,
    train_accuracy, val_loss, val_accuracy (None without validation), seconds,
    lr; plus "interrupted": True if Ctrl-C stopped training. After Ctrl-C the
    model holds the best weights seen so far (by validation accuracy, else by
    training loss) and the history so far is returned.
    """
    if len(images) == 0:
        raise ValueError("no training images: the training set is empty")
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    optimizer = optimizer if optimizer is not None else Adam(model, lr=1e-3)
    base_lr = lr if lr is not None else optimizer.lr
    rng = np.random.default_rng(seed)
    loss_fn = SoftmaxCrossEntropy()
    history = {key: [] for key in ("epoch", "train_loss", "train_accuracy", "val_loss",
                                   "val_accuracy", "seconds", "lr")}
    history["interrupted"] = False
    n = len(images)
    steps_per_epoch = math.ceil(n / batch_size)
    best_score, best_weights = -math.inf, None
    model.train()
    try:
        for epoch in range(1, epochs + 1):
            start = time.perf_counter()
            order = rng.permutation(n)
            total_loss, total_correct, seen = 0.0, 0, 0
            for step in range(steps_per_epoch):
                if schedule == "cosine":
                    optimizer.lr = cosine_learning_rate(base_lr, ((epoch - 1) * steps_per_epoch + step) / (epochs * steps_per_epoch))
                else:
                    optimizer.lr = base_lr
                batch = order[step * batch_size:(step + 1) * batch_size]
                x, y = images[batch], labels[batch]
                if augment_shift:
                    x = random_shift(x, augment_shift, rng)
                logits = model.forward(x)
                loss = loss_fn.forward(logits, y)
                if not math.isfinite(loss):
                    raise TrainingDiverged(
                        f"the loss became {loss} at epoch {epoch}, batch {step + 1}: training diverged. "
                        f"Lower the learning rate (it was {optimizer.lr:.3g}; try {optimizer.lr / 10:.3g})."
                    )
                model.backward(loss_fn.backward(), input_gradient=False)
                optimizer.step()
                total_loss += loss * len(batch)
                total_correct += int((logits.argmax(axis=1) == y).sum())
                seen += len(batch)
                if progress is not None:
                    progress(epoch, seen, n, total_loss / seen, total_correct / seen, time.perf_counter() - start)
            history["epoch"].append(epoch)
            history["train_loss"].append(total_loss / n)
            history["train_accuracy"].append(total_correct / n)
            history["lr"].append(optimizer.lr)
            if validation is not None and len(validation[0]):
                val_loss, val_accuracy = evaluate(model, *validation)
                model.train()
                score = val_accuracy
            else:
                val_loss = val_accuracy = None
                score = -total_loss / n
            history["val_loss"].append(val_loss)
            history["val_accuracy"].append(val_accuracy)
            history["seconds"].append(time.perf_counter() - start)
            if score >= best_score:
                best_score, best_weights = score, _snapshot(model)
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
    """dF/dx by centred differences, (f(x + h) - f(x - h)) / 2h, one entry at a time.

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
    """max_i |a_i - n_i| / max(|a_i| + |n_i|, tiny): scale-free, 0 when they agree.

    Below about 1e-7 it means "equal up to float64 rounding". Its limit: the
    centred difference carries a rounding error of about 1e-16 * |L| / h, so an
    entry whose true gradient is tiny next to that (a softmax probability of
    1e-7, say) cannot score well; keep gradient-check inputs moderate."""
    analytic, numeric = np.asarray(analytic, np.float64), np.asarray(numeric, np.float64)
    return float(np.max(np.abs(analytic - numeric) / np.maximum(np.abs(analytic) + np.abs(numeric), 1e-12)))


def grad_check(layer, x: np.ndarray, seed: int = 0, h: float = 1e-4) -> dict:
    """Compare a layer's backward with numerical gradients.

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


def to_grey(image: np.ndarray) -> np.ndarray:
    """Any image from matplotlib.image.imread -> 2-D float in [0, 1] (alpha over white)."""
    image = np.asarray(image, dtype=np.float64)
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
LAYER_TYPES = {cls.__name__: cls for cls in (Conv2D, MaxPool2D, ReLU, LeakyReLU, Flatten, Dropout, Dense)}


class ModelFileError(ValueError):
    """A model file is missing, corrupt, truncated or not a ScratchCNN model."""


def atomic_write(path: str | os.PathLike, write) -> None:
    """Call write(file) on a temporary file beside ``path``, then rename it into place,
    so a crash or Ctrl-C never leaves a half-written file at ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
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


def save_model(model: Sequential, path: str | os.PathLike, metadata: dict | None = None) -> None:
    """Save weights and architecture to one .npz file (written atomically).

    Keys: "architecture" (a JSON string) and "layer{i}.{name}" for each parameter.
    """
    architecture = {
        "format": MODEL_FORMAT,
        "layers": [{"type": type(layer).__name__, "config": layer.config()} for layer in model.layers],
        "metadata": metadata or {},
    }
    arrays = {"architecture": np.array(json.dumps(architecture))}
    for i, layer in enumerate(model.layers):
        for name, value in layer.params.items():
            arrays[f"layer{i}.{name}"] = value
    atomic_write(path, lambda file: np.savez(file, **arrays))


def load_model(path: str | os.PathLike, dtype=None) -> Sequential:
    """Load a model written by save_model (``allow_pickle=False``: a model file can
    never run code). ``model.metadata`` holds what was saved with it."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"model file {path} does not exist. Train one with "
                             f"`python scratchcnn.py train --model-out {path}`.")
    try:
        with np.load(path, allow_pickle=False) as file:
            arrays = {key: file[key] for key in file.files}
    except ValueError as error:
        if "pickle" in str(error):
            raise ModelFileError(f"{path} contains pickled Python objects; ScratchCNN model files "
                                 f"never do, and loading pickles can run arbitrary code. Refusing it.") from None
        raise ModelFileError(f"{path} is not a readable .npz model file ({error}).") from None
    except Exception as error:  # zipfile.BadZipFile, EOFError, OSError, ...
        raise ModelFileError(f"{path} is corrupt or truncated ({type(error).__name__}: {error}). "
                             f"Re-create it with `python scratchcnn.py train`.") from None
    try:
        architecture = json.loads(str(arrays.pop("architecture")))
        assert architecture["format"] == MODEL_FORMAT
        layer_specs = architecture["layers"]
    except Exception:
        raise ModelFileError(f"{path} is an .npz file but not a ScratchCNN model "
                             f"(no valid 'architecture' entry of format {MODEL_FORMAT!r}).") from None
    layers = []
    for i, spec in enumerate(layer_specs):
        cls = LAYER_TYPES.get(spec.get("type"))
        if cls is None:
            raise ModelFileError(f"{path}: layer {i} has unknown type {spec.get('type')!r}.")
        layer = cls(**spec.get("config", {}))
        for name, param in layer.params.items():
            key = f"layer{i}.{name}"
            if key not in arrays:
                raise ModelFileError(f"{path}: missing weights {key!r}; the file is incomplete.")
            value = arrays.pop(key)
            if value.shape != param.shape:
                raise ModelFileError(f"{path}: {key} has shape {value.shape}, the architecture needs {param.shape}.")
            layer.params[name] = value.astype(dtype or value.dtype)
            layer.grads[name] = np.zeros_like(layer.params[name])
        layers.append(layer)
    if arrays:
        raise ModelFileError(f"{path}: unexpected entries {sorted(arrays)}; not a file save_model wrote.")
    model = Sequential(layers).eval()
    model.metadata = architecture.get("metadata", {})
    return model


# =============================================================================
# 10. Command line
# =============================================================================

def _progress_bar(epochs):
    """A one-line progress bar on stderr, redrawn at most 10 times a second."""
    last = [0.0]

    def show(epoch, done, total, loss, accuracy, seconds):
        now = time.perf_counter()
        if done < total and now - last[0] < 0.1:
            return
        last[0] = now
        width = 30
        filled = int(width * done / total)
        speed = done / max(seconds, 1e-9)
        left = (total - done) / max(speed, 1e-9)
        sys.stderr.write(f"\repoch {epoch}/{epochs} [{'#' * filled}{'.' * (width - filled)}] "
                         f"loss {loss:.4f} acc {100 * accuracy:5.2f}% {speed:6.0f} img/s {left:4.0f}s left ")
        if done == total:
            sys.stderr.write("\r" + " " * 100 + "\r")
        sys.stderr.flush()

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
    if validation_size < 0 or (train_limit is not None and train_limit < 1):
        raise ValueError("--validation-size must be >= 0 and --train-limit >= 1")
    if validation_size >= n:
        raise ValueError(f"--validation-size {validation_size} leaves no training data: "
                         f"there are only {n} training images. Use a smaller validation set.")
    order = np.random.default_rng(seed).permutation(n)
    val, rest = order[:validation_size], order[validation_size:]
    rest = np.sort(rest[:train_limit] if train_limit is not None else rest)
    return images[rest], labels[rest], images[np.sort(val)], labels[np.sort(val)]


def command_train(args):
    images, labels = load_mnist("train", args.data_dir)
    x_train, y_train, x_val, y_val = split_training_data(images, labels, args.train_limit,
                                                         args.validation_size, args.seed)
    model = reference_cnn(seed=args.seed)
    optimizer = (Adam(model, lr=args.lr) if args.optimizer == "adam"
                 else SGD(model, lr=args.lr, momentum=0.9, weight_decay=5e-4))
    print(f"training on {len(x_train):,} images, validating on {len(x_val):,}; "
          f"{model.num_parameters():,} parameters, {args.optimizer} lr {args.lr}, "
          f"batch {args.batch_size}, seed {args.seed}")

    def report(history):
        e = history["epoch"][-1]
        val = history["val_accuracy"][-1]
        val_text = f"  val acc {100 * val:6.2f}%" if val is not None else ""
        print(f"epoch {e:2d}/{args.epochs}  train loss {history['train_loss'][-1]:.4f}  "
              f"train acc {100 * history['train_accuracy'][-1]:6.2f}%{val_text}  "
              f"{history['seconds'][-1]:5.1f}s", flush=True)

    try:
        history = train(model, x_train, y_train, epochs=args.epochs, batch_size=args.batch_size,
                        optimizer=optimizer, augment_shift=args.augment_shift,
                        validation=(x_val, y_val) if len(x_val) else None, seed=args.seed,
                        callback=report, progress=None if args.quiet else _progress_bar(args.epochs))
    except TrainingDiverged as error:
        sys.exit(f"error: {error}")
    if history["interrupted"]:
        print("interrupted: keeping the best model so far", flush=True)
    x_test, y_test = load_mnist("test", args.data_dir)
    _, test_accuracy = evaluate(model, x_test, y_test)
    print(f"test accuracy {100 * test_accuracy:.2f}%  ({sum(history['seconds']):.0f}s of training)")
    save_model(model, args.model_out, metadata={
        "command": "python scratchcnn.py " + " ".join(sys.argv[1:]), "test_accuracy": test_accuracy,
        "epochs_completed": len(history["epoch"]), "seed": args.seed})
    print(f"saved {args.model_out}")


def command_evaluate(args):
    model = load_model(args.model)
    images, labels = load_mnist("test", args.data_dir)
    predictions = model.predict(images)
    counts = confusion_matrix(labels, predictions)
    print(f"test accuracy {100 * np.mean(predictions == labels):.2f}% on {len(labels):,} images\n")
    print("per-class accuracy:")
    for digit in range(10):
        print(f"  {digit}: {100 * counts[digit, digit] / counts[digit].sum():6.2f}%  ({counts[digit].sum()} images)")
    print("\nconfusion matrix (rows: true class, columns: predicted):")
    print("     " + "".join(f"{d:6d}" for d in range(10)))
    for digit in range(10):
        print(f"  {digit}: " + "".join(f"{c:6d}" for c in counts[digit]))


def command_predict(args):
    import matplotlib.image
    model = load_model(args.model)
    for path in args.images:
        try:
            picture = matplotlib.image.imread(path)
        except (OSError, ValueError, SyntaxError) as error:
            sys.exit(f"error: cannot read image {path}: {error}")
        digit_image = preprocess_digit(picture)
        probs = model.predict_proba(digit_image[None, None])[0]
        print(f"{path}: {int(probs.argmax())}")
        for digit in range(10):
            print(f"  {digit}: {probs[digit]:6.1%} {'#' * int(round(40 * probs[digit]))}")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python scratchcnn.py", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("train", help="train the reference CNN on MNIST")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=None, help="default: 0.002 for adam, 0.05 for sgd")
    p.add_argument("--optimizer", choices=("sgd", "adam"), default="adam")
    p.add_argument("--augment-shift", type=int, default=2, help="random shifts of up to this many pixels")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--train-limit", type=int, default=None, help="train on at most this many images")
    p.add_argument("--validation-size", type=int, default=0, help="hold out this many training images")
    p.add_argument("--data-dir", default=None, help="folder with the IDX files (default: data/mnist)")
    p.add_argument("--model-out", default="scratchcnn_model.npz")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=command_train)

    p = commands.add_parser("evaluate", help="test accuracy, per class, and the confusion matrix")
    p.add_argument("--model", default=str(DEFAULT_MODEL_PATH))
    p.add_argument("--data-dir", default=None)
    p.set_defaults(run=command_evaluate)

    p = commands.add_parser("predict", help="classify pictures of handwritten digits")
    p.add_argument("--model", default=str(DEFAULT_MODEL_PATH))
    p.add_argument("images", nargs="+", metavar="IMAGE.png")
    p.set_defaults(run=command_predict)

    args = parser.parse_args(argv)
    if getattr(args, "lr", 0) is None:
        args.lr = 0.002 if args.optimizer == "adam" else 0.05
    try:
        args.run(args)
    except (DataFileError, ModelFileError, ValueError) as error:
        sys.exit(f"error: {error}")


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
        x = layer.forward(x)
        outputs.append(x)
    maps = []
    for i in conv_positions:
        activation_follows = i + 1 < len(outputs) and isinstance(model.layers[i + 1], (ReLU, LeakyReLU))
        maps.append(np.array(outputs[i + 1 if activation_follows else i][0], dtype=np.float64))
    return maps


def _probability_bars(widgets):
    """Ten horizontal bars, one per digit: (box, bars, percent labels)."""
    bars, percents, rows = [], [], []
    for digit in range(10):
        bar = widgets.FloatProgress(value=0.0, min=0.0, max=1.0, description=str(digit),
                                    layout=widgets.Layout(width="230px", height="20px"))
        bar.style.description_width = "14px"
        percent = widgets.Label("0.0%", layout=widgets.Layout(width="60px"))
        bars.append(bar)
        percents.append(percent)
        rows.append(widgets.HBox([bar, percent], layout=widgets.Layout(height="22px", align_items="center")))
    return widgets.VBox(rows), bars, percents


_BAR_COLOURS = {"success": "#43a047", "danger": "#e53935", "info": "#1e88e5", "": "#9e9e9e"}


def _set_bars(bars, percents, probabilities, predicted, true_label=None):
    """Bar heights = probabilities. Green: the prediction (red if it is wrong); blue: the
    true class; grey: the rest (set explicitly: an unstyled progress bar would be blue)."""
    for digit, (bar, percent) in enumerate(zip(bars, percents)):
        bar.value = float(probabilities[digit])
        percent.value = f"{100 * probabilities[digit]:.1f}%"
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


class _WidgetView:
    """Shows as its ipywidgets container ``self.widget`` in a notebook, and as its
    short repr as text (which keeps nbval's comparison of outputs stable)."""

    def _repr_mimebundle_(self, **kwargs):
        bundle = self.widget._repr_mimebundle_(**kwargs)
        bundle["text/plain"] = repr(self)
        return bundle


class DigitSlider(_WidgetView):
    """Walk through the test set and watch the network: the digit, its prediction,
    the ten probabilities as bars and the feature maps of every conv layer.

    Make one with ``digit_slider()``; it displays as a widget in a notebook.
    Parts (for code and tests): ``slider`` (IntSlider), ``misclassified_toggle``
    (ToggleButton: walk through the mistakes only), ``image`` (the digit, an
    ipywidgets.Image), ``prediction_label`` (HTML, "prediction: 7 (true 7)"),
    ``bars`` (ten FloatProgress, value = probability), ``feature_map_images``,
    ``index`` (the test image shown), ``widget`` (the whole ipywidgets.VBox).

    All predictions are computed once, up front (``probabilities``), so moving
    the slider costs one small forward pass for the feature maps and a few PNGs.
    """

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

        self.slider = widgets.IntSlider(value=0, min=0, max=len(images) - 1, description="test image",
                                        continuous_update=True, layout=widgets.Layout(width="330px"))
        self.misclassified_toggle = widgets.ToggleButton(
            value=False, description=f"only the {len(self.misclassified)} mistakes",
            tooltip="walk through the misclassified test images only",
            disabled=len(self.misclassified) == 0, layout=widgets.Layout(width="200px"))
        self.image = widgets.Image(format="png", layout=widgets.Layout(width="140px", height="140px"))
        self.prediction_label = widgets.HTML()
        self.info_label = widgets.HTML()
        bars_box, self.bars, self._percents = _probability_bars(widgets)
        self.feature_map_images = []
        feature_boxes = []
        for number, maps in enumerate(conv_feature_maps(self.model, images[0]), start=1):
            picture = widgets.Image(format="png")
            self.feature_map_images.append(picture)
            feature_boxes.append(widgets.VBox([
                widgets.HTML(f"<b>conv {number}</b>: {maps.shape[0]} maps of {maps.shape[1]}x{maps.shape[2]}"),
                picture]))
        digit_box = widgets.VBox([self.image, self.prediction_label, self.info_label],
                                 layout=widgets.Layout(width="190px"))
        self.widget = widgets.VBox([
            widgets.HBox([self.slider, self.misclassified_toggle]),
            widgets.HBox([digit_box, bars_box, *feature_boxes],
                         layout=widgets.Layout(flex_flow="row wrap", grid_gap="16px")),
        ])
        self.widget.add_class("scratchcnn-digit-slider")
        self.prediction_label.add_class("scratchcnn-prediction")
        self.slider.observe(self._slider_moved, names="value")
        self.misclassified_toggle.observe(self._toggle_changed, names="value")
        self._show(0)

    # --- reacting to the controls ---------------------------------------------

    def _slider_moved(self, change):
        if not self._ignore_slider:
            self._show(int(self.positions[change["new"]]))

    def _toggle_changed(self, change):
        """Switch between all test images and the mistakes, staying near the current image."""
        self.positions = self.misclassified if change["new"] else np.arange(len(self.images))
        position = min(int(np.searchsorted(self.positions, self.index)), len(self.positions) - 1)
        self._ignore_slider = True          # max and value change together; draw once
        try:
            self.slider.value = min(self.slider.value, len(self.positions) - 1)
            self.slider.max = len(self.positions) - 1
            self.slider.value = position
            self.slider.description = "mistake" if change["new"] else "test image"
        finally:
            self._ignore_slider = False
        self._show(int(self.positions[position]))

    def show(self, index: int) -> None:
        """Move the slider to test image ``index`` (leaving the mistakes-only mode if
        ``index`` is not a mistake)."""
        if self.misclassified_toggle.value and index not in self.misclassified:
            self.misclassified_toggle.value = False
        self.slider.value = int(np.searchsorted(self.positions, index))

    # --- drawing ------------------------------------------------------------------

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
        self.info_label.value = (f"test image {index}<br>{100 * probabilities[predicted]:.1f}% sure"
                                 + mistake)
        _set_bars(self.bars, self._percents, probabilities, predicted, true_label)
        for picture, maps in zip(self.feature_map_images, conv_feature_maps(self.model, self.images[index])):
            picture.value = _png(tile_feature_maps(maps), scale=max(1, 56 // maps.shape[1]), cmap="magma")

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
    context.strokeStyle = "white";
    context.lineWidth = model.get("line_width");
    context.lineCap = "round";
    context.lineJoin = "round";
    context.beginPath();
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

_canvas_class = None


def _drawing_canvas_class():
    """The anywidget class of the canvas, defined on first use (so that importing
    scratchcnn does not need anywidget)."""
    global _canvas_class
    if _canvas_class is None:
        import anywidget
        import traitlets

        class DrawingCanvas(anywidget.AnyWidget):
            _esm = _CANVAS_JAVASCRIPT
            size = traitlets.Int(280).tag(sync=True)          # pixels, width = height
            line_width = traitlets.Float(18.0).tag(sync=True)
            png = traitlets.Unicode("").tag(sync=True)        # "data:image/png;base64,..." or "" (blank)

            def __repr__(self):
                return f"DrawingCanvas({self.size} x {self.size})"

        _canvas_class = DrawingCanvas
    return _canvas_class


def _png_data_url(picture: np.ndarray) -> str:
    import base64
    return "data:image/png;base64," + base64.b64encode(_png(np.clip(picture, 0, 1))).decode("ascii")


def _read_png_data_url(url: str) -> np.ndarray:
    """A PNG data URL -> 2-D grey float array in [0, 1]."""
    import base64
    import io
    import matplotlib.image
    data = base64.b64decode(url.split(",", 1)[1])
    return to_grey(matplotlib.image.imread(io.BytesIO(data), format="png"))


class DrawingPad(_WidgetView):
    """Draw a digit with the mouse and watch the network read it.

    On mouse release the drawing goes through ``preprocess_digit`` (crop to the
    ink, scale to 20 pixels, centre of mass to the middle of 28 x 28), each step
    is shown, and the prediction and its ten probabilities appear.

    Parts: ``canvas`` (the anywidget; its ``png`` trait carries the drawing),
    ``clear_button``, ``step_images`` (four ipywidgets.Image), ``prediction_label``,
    ``bars``, ``widget`` (the whole HBox). After a prediction: ``prediction``,
    ``probabilities``, ``steps`` (preprocess_digit's intermediate images).
    """

    STEP_TITLES = ("your drawing", "cropped to the ink", "scaled to 20 pixels", "centred in 28 x 28")

    def __init__(self, model=None, size=280):
        import ipywidgets as widgets
        self.model = model if model is not None else load_model(DEFAULT_MODEL_PATH)
        self.canvas = _drawing_canvas_class()(size=size)
        self.clear_button = widgets.Button(description="clear", icon="eraser",
                                           layout=widgets.Layout(width="100px"))
        self.prediction_label = widgets.HTML()
        self.step_images = [widgets.Image(format="png", layout=widgets.Layout(width="112px", height="112px"))
                            for _ in self.STEP_TITLES]
        bars_box, self.bars, self._percents = _probability_bars(widgets)
        steps_box = widgets.HBox([
            widgets.VBox([widgets.HTML(f"<small>{title}</small>"), picture])
            for title, picture in zip(self.STEP_TITLES, self.step_images)])
        self.widget = widgets.HBox([
            widgets.VBox([self.canvas, self.clear_button]),
            widgets.VBox([steps_box, self.prediction_label, bars_box]),
        ], layout=widgets.Layout(flex_flow="row wrap", grid_gap="16px"))
        self.widget.add_class("scratchcnn-drawing-pad")
        self.prediction_label.add_class("scratchcnn-prediction")
        self.canvas.observe(self._drawing_changed, names="png")
        self.clear_button.on_click(lambda button: self.clear())
        self.clear()

    def _drawing_changed(self, change):
        if change["new"]:
            self.predict_drawing(_read_png_data_url(change["new"]))
        else:
            self._show_blank()

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
        for picture, step in zip(self.step_images, ("ink", "cropped", "scaled", "centred")):
            picture.value = _png(_fit_in_square(steps[step], 112))
        self.prediction_label.value = (f"<span style='font-size:1.2em'><b>prediction: {self.prediction}</b>"
                                       f" ({100 * self.probabilities[self.prediction]:.1f}% sure)</span>")
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
        self.prediction, self.probabilities, self.steps = None, np.zeros(10), {}
        blank = _png(np.full((112, 112), 0.2))
        for picture in self.step_images:
            picture.value = blank
        self.prediction_label.value = "<i>draw a digit on the black square</i>"
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
        centred = self.steps["centred"]
        rows, cols = np.indices(centred.shape)
        axes[3].plot((cols * centred).sum() / centred.sum(), (rows * centred).sum() / centred.sum(),
                     "r+", markersize=14, label="centre of mass")
        axes[3].legend(loc="lower center", fontsize="small")
        _draw_probability_bars(axes[4], self.probabilities, self.prediction)
        axes[4].set_title(f"prediction: {self.prediction}")
        fig.tight_layout()
        return fig

    def __repr__(self):
        return f"DrawingPad({self.canvas.size} x {self.canvas.size} canvas)"


def drawing_pad(model=None) -> DrawingPad:
    """The drawing pad widget; ``model`` defaults to the shipped pretrained CNN."""
    return DrawingPad(model)




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
        ok = np.isclose(number, float(expected), rtol=rtol, atol=atol)
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
            else:
                changed = bool(before != now)
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

def check_parse_idx_header(answer):
    """Exercise: parse_idx_header(data: bytes) -> (magic, shape)."""
    with gzip.open(DEFAULT_DATA_DIR / "t10k-images-idx3-ubyte.gz", "rb") as file:
        image_header = file.read(16)
    labels_file = DEFAULT_DATA_DIR / "train-labels-idx1-ubyte.gz"
    label_bytes = gzip.decompress(labels_file.read_bytes())
    labels = read_idx(labels_file, LABELS_MAGIC)
    endian_hint = ("the header numbers are big-endian unsigned 32-bit integers: "
                   "int.from_bytes(data[0:4], 'big'), not 'little'")
    cases = [
        Case("the real t10k-images header (16 bytes)", (image_header,),
             (IMAGES_MAGIC, (10000, 28, 28)), endian_hint, rtol=0, atol=0),
        Case("the whole real train-labels file (header + 60000 label bytes)", (label_bytes,),
             (LABELS_MAGIC, labels.shape),
             "byte 3 is the number of dimensions: a label file has 1, so its header is 8 bytes "
             "and its shape is (60000,). Don't hard-code 3 dimensions; stop after data[3] sizes",
             rtol=0, atol=0),
        Case("a made-up 3-D file (2, 3, 4) followed by its 24 data bytes",
             (idx_header(IMAGES_MAGIC, (2, 3, 4)) + bytes(range(24)),), (IMAGES_MAGIC, (2, 3, 4)),
             "read exactly data[3] sizes of 4 bytes each, starting at byte 4; the data after the "
             "header is not part of the shape", rtol=0, atol=0),
        Case("a 4-D file (5 colour images 3 x 32 x 32)", (idx_header(0x0804, (5, 3, 32, 32)),),
             (0x0804, (5, 3, 32, 32)),
             "the number of dimensions is data[3] (4 here): loop over it instead of hard-coding 3",
             rtol=0, atol=0),
        Case("a size above 65535 (70000 x 1)", (idx_header(0x0802, (70000, 1)),), (0x0802, (70000, 1)),
             "use all 4 bytes of each size (int.from_bytes(data[4:8], 'big')), not just the last one or two",
             rtol=0, atol=0),
    ]
    return check_exercise("parse_idx_header", answer, cases)


def check_predicted_image_bytes(answer):
    """Exercise: predicted_image_bytes() -> the number of bytes after the header of the
    uncompressed training image file. Checked against the real file's length.

    A custom comparison: the generic message rounds numbers to 6 digits, which would
    print 47,040,000 and 47,040,016 both as 4.704e+07; a byte count must show in full."""
    name = "predicted_image_bytes"
    description = "bytes after the 16-byte header of train-images-idx3-ubyte"
    hint = ("one unsigned byte per pixel: images x rows x columns. Not 4 bytes per pixel "
            "(that is float32 after loading), and the 16 header bytes are not included")
    raw = gzip.decompress((DEFAULT_DATA_DIR / "train-images-idx3-ubyte.gz").read_bytes())
    expected = len(raw) - (4 + 4 * raw[3])
    try:
        actual = answer()
    except NotImplementedError:
        print(f"{name}: not implemented yet")
        return False
    except Exception as error:
        print(f"{name}: case '{description}' raised {type(error).__name__}: {error}\n  hint: {hint}")
        return False
    is_whole_number = isinstance(actual, (int, np.integer)) or (isinstance(actual, (float, np.floating))
                                                                 and float(actual).is_integer())
    if not is_whole_number or int(actual) != expected:
        shown = f"{int(actual):,}" if is_whole_number else repr(actual)
        print(f"{name}: case '{description}' failed: expected {expected:,}, got {shown}\n  hint: {hint}")
        return False
    print(f"{name}: the 1 case passes")
    return True


def check_class_counts(answer):
    """Exercise: class_counts(labels, num_classes) -> (num_classes,) ints, counts[k] = #{n: labels[n] == k}."""
    labels = read_idx(DEFAULT_DATA_DIR / "train-labels-idx1-ubyte.gz", LABELS_MAGIC).astype(np.int64)
    reference = lambda labels, k: np.bincount(labels, minlength=k)
    missing_hint = ("every class needs a count, even a class that never occurs: return num_classes "
                    "numbers (np.unique, or np.bincount without minlength=num_classes, drops empty classes)")
    cases = [
        Case("labels [0, 1, 1, 3] with 4 classes", (np.array([0, 1, 1, 3]), 4), reference(np.array([0, 1, 1, 3]), 4),
             "counts[k] is how many labels equal k; class 2 has count 0 here", rtol=0, atol=0),
        Case("labels [0, 0, 2] with 5 classes (classes 3 and 4 never occur)", (np.array([0, 0, 2]), 5),
             reference(np.array([0, 0, 2]), 5), missing_hint, rtol=0, atol=0),
        Case("the 60000 real training labels", (labels, 10), reference(labels, 10),
             "count each of the 10 classes over all 60000 labels; the counts must sum to 60000",
             rtol=0, atol=0),
    ]
    return check_exercise("class_counts", answer, cases)


def check_mean_image_per_class(answer):
    """Exercise: mean_image_per_class(images (N, H, W), labels (N,), num_classes) -> (num_classes, H, W)."""
    rng = np.random.default_rng(1)
    reference = lambda images, labels, k: np.stack([images[labels == c].mean(axis=0) for c in range(k)])
    equal = (rng.random((6, 2, 2)), np.array([0, 1, 2, 0, 1, 2]))
    unequal = (rng.random((6, 3, 2)), np.array([1, 1, 0, 1, 2, 2]))
    test_images = read_idx(DEFAULT_DATA_DIR / "t10k-images-idx3-ubyte.gz", IMAGES_MAGIC)[:1000] / 255.0
    test_labels = read_idx(DEFAULT_DATA_DIR / "t10k-labels-idx1-ubyte.gz", LABELS_MAGIC)[:1000].astype(np.int64)
    count_hint = ("divide each class's sum by the number of images OF THAT CLASS "
                  "(x[labels == k].mean(axis=0)), not by N or N / num_classes")
    cases = [
        Case("3 classes, 2 images each, 2x2 pixels", (*equal, 3), reference(*equal, 3),
             "average over the images axis only (axis=0 of the images of class k), keeping the "
             "pixel axes: the result has shape (num_classes, H, W)"),
        Case("3 classes with 1, 3 and 2 images, 3x2 pixels", (*unequal, 3), reference(*unequal, 3), count_hint),
        Case("the first 1000 real test digits", (test_images, test_labels, 10),
             reference(test_images, test_labels, 10), count_hint),
    ]
    return check_exercise("mean_image_per_class", answer, cases)


# --- Notebook 02: convolution, forward ---------------------------------------

def check_output_size(answer):
    """Exercise: output_size(H, k, s, p) -> H' = (H + 2p - k) // s + 1."""
    configurations = [
        ("28, k 3, no padding", (28, 3, 1, 0), "without padding a k x k window fits H - k + 1 times"),
        ("28, k 3, padding 1", (28, 3, 1, 1), "padding adds p pixels on BOTH sides: H + 2p, not H + p"),
        ("28, k 2, stride 2", (28, 2, 2, 0), "with stride s the window moves s pixels: divide (H + 2p - k) by s, then + 1"),
        ("28, k 3, stride 2, padding 1 (remainder)", (28, 3, 2, 1),
         "when s does not divide (H + 2p - k), the last partial step is dropped: integer division //, "
         "and the answer is a whole number"),
        ("7, k 3, stride 2 (odd size)", (7, 3, 2, 0), "(7 - 3) // 2 + 1: the +1 counts the first window"),
        ("5, k 5 (kernel as large as the input)", (5, 5, 1, 0), "a kernel as large as the input fits exactly once"),
        ("32, k 5, stride 3, padding 2", (32, 5, 3, 2), "(H + 2p - k) // s + 1 with integer division"),
    ]
    cases = [Case(description, args, conv_output_size(*args), hint, rtol=0, atol=0)
             for description, args, hint in configurations]
    return check_exercise("output_size", answer, cases)


def _conv2d_single_reference(image, kernel, stride=1, padding=0):
    """One image, one kernel: conv2d_naive on (1, 1, H, W) and (1, 1, k, k), no bias."""
    return conv2d_naive(image[None, None], kernel[None, None], np.zeros(1), stride, padding)[0, 0]


def check_conv2d_single(answer):
    """Exercise: conv2d_single(image (H, W), kernel (k, k), stride, padding) -> (H', W'), with loops."""
    rng = np.random.default_rng(2)
    flip_hint = ("flipped kernel? This is cross-correlation: out[y, x] = sum_ij image[y + i, x + j] * kernel[i, j], "
                 "no flip (np.convolve and scipy's convolve2d flip the kernel)")
    configurations = [
        ("3x3 image, 2x2 kernel (the worked example)", np.array([[1.0, 2.0, 0.0], [0.0, 1.0, 3.0], [2.0, 1.0, 0.0]]),
         np.array([[1.0, 2.0], [0.0, -1.0]]), 1, 0,
         "out[y, x] = sum(image[y:y+k, x:x+k] * kernel) with the kernel NOT flipped (cross-correlation); "
         "the output is (H - k + 1) x (W - k + 1)"),
        ("5x6 image, asymmetric 3x3 kernel", rng.standard_normal((5, 6)), rng.standard_normal((3, 3)), 1, 0, flip_hint),
        ("5x5 image, padding 1", rng.standard_normal((5, 5)), rng.standard_normal((3, 3)), 1, 1,
         "forgetting padding? Pad p zeros on all four sides first (np.pad(image, padding)), then slide "
         "the kernel over the padded image"),
        ("7x7 image, stride 2 (odd size)", rng.standard_normal((7, 7)), rng.standard_normal((3, 3)), 2, 0,
         "stride: output (y, x) reads the patch starting at (s*y, s*x), and there are "
         "(H + 2p - k) // s + 1 outputs per axis"),
        ("8x5 image, stride 2, padding 2", rng.standard_normal((8, 5)), rng.standard_normal((3, 3)), 2, 2,
         "pad first, then step by s: output size (H + 2p - k) // s + 1 for each axis separately"),
        ("4x6 image, 1x1 kernel", rng.standard_normal((4, 6)), rng.standard_normal((1, 1)), 1, 0,
         "a 1x1 kernel just scales the image"),
    ]
    cases = [Case(description, (image, kernel, stride, padding),
                  _conv2d_single_reference(image, kernel, stride, padding), hint)
             for description, image, kernel, stride, padding, hint in configurations]
    return check_exercise("conv2d_single", answer, cases)


def check_predicted_output_shape(answer):
    """Exercise: predicted_output_shape() -> the shape of
    Conv2D(3, 8, kernel_size=5, stride=2, padding=1) applied to x of shape (4, 3, 32, 32)."""
    layer = Conv2D(3, 8, kernel_size=5, stride=2, padding=1, rng=np.random.default_rng(0), dtype=np.float64)
    expected = tuple(layer.forward(np.zeros((4, 3, 32, 32))).shape)
    cases = [Case("Conv2D(3, 8, kernel_size=5, stride=2, padding=1) on (4, 3, 32, 32)", (), expected,
                  "(N, F, H', W'): the batch N stays 4, the channels become the number of filters "
                  "F = 8 (not C = 3), and H' = (32 + 2*1 - 5) // 2 + 1", rtol=0, atol=0)]
    return check_exercise("predicted_output_shape", answer, cases)


def check_im2col_shape(answer):
    """Exercise: im2col_shape(x_shape, k, s, p) -> (rows, columns) of im2col's matrix."""
    hint = ("rows: one per kernel weight, C*k*k (the channels count too); columns: one per output "
            "position, N*H'*W' (the whole batch) with H' = (H + 2p - k) // s + 1")
    configurations = [
        ("the worked example: (1, 1, 3, 3), k 2", ((1, 1, 3, 3), 2, 1, 0)),
        ("3 channels, 2 images, padding 1", ((2, 3, 5, 5), 3, 1, 1)),
        ("(4, 8, 28, 28), k 3, stride 2, padding 1", ((4, 8, 28, 28), 3, 2, 1)),
        ("odd and non-square: (3, 2, 7, 6), k 3, stride 2", ((3, 2, 7, 6), 3, 2, 0)),
    ]
    cases = [Case(description, args, tuple(im2col(np.zeros(args[0]), *args[1:]).shape), hint, rtol=0, atol=0)
             for description, args in configurations]
    return check_exercise("im2col_shape", answer, cases)


# --- Notebook 03: convolution, backward --------------------------------------

def check_col2im_loops(answer):
    """Exercise: col2im_loops(cols (C*k*k, N*H'*W'), x_shape, k, s, p) -> (N, C, H, W), with loops."""
    rng = np.random.default_rng(3)
    configurations = [
        ("all-ones columns, (1, 1, 3, 3), k 2 (overlapping patches)", (1, 1, 3, 3), 2, 1, 0, "ones",
         "overlapping patches share pixels: accumulate with +=, not = (with = each pixel keeps only "
         "the last patch's value)"),
        ("random columns, (1, 1, 4, 4), k 3", (1, 1, 4, 4), 3, 1, 0, "random",
         "dx_padded[n, c, s*y + i, s*x + j] += cols[c*k*k + i*k + j, n*H'*W' + y*W' + x]"),
        ("2 images, 2 channels, 4x5, k 3, padding 1", (2, 2, 4, 5), 3, 1, 1, "random",
         "padding: add into a padded (H + 2p) x (W + 2p) array, then crop the border "
         "[p:p+H, p:p+W]; the padding pixels are not inputs"),
        ("7x7, k 3, stride 2", (1, 1, 7, 7), 3, 2, 0, "random",
         "stride: column (n, y, x) came from the patch starting at (s*y, s*x)"),
        ("3 images, 2 channels, 5x6, k 2, stride 2, padding 1", (3, 2, 5, 6), 2, 2, 1, "random",
         "rows are ordered (c, i, j) and columns (n, y, x), like im2col: "
         "row = c*k*k + i*k + j, column = n*H'*W' + y*W' + x"),
    ]
    cases = []
    for description, x_shape, k, s, p, kind, hint in configurations:
        N, C, H, W = x_shape
        shape = (C * k * k, N * conv_output_size(H, k, s, p) * conv_output_size(W, k, s, p))
        cols = np.ones(shape) if kind == "ones" else rng.standard_normal(shape)
        cases.append(Case(description, (cols, x_shape, k, s, p), col2im(cols, x_shape, k, s, p), hint))
    return check_exercise("col2im_loops", answer, cases)


def check_bias_gradient(answer):
    """Exercise: bias_gradient(dout (N, F, H', W')) -> dL/db (F,)."""
    rng = np.random.default_rng(4)

    def reference(dout):
        N, F, H_out, W_out = dout.shape
        layer = Conv2D(1, F, 1, dtype=np.float64, rng=np.random.default_rng(0))
        layer.forward(np.zeros((N, 1, H_out, W_out)))
        layer.backward(dout)
        return layer.grads["b"]

    hint = ("the bias f is added at every output position of every image: db[f] = sum over n, y, x of "
            "dout[n, f, y, x], i.e. dout.sum(axis=(0, 2, 3)); a sum (not a mean), and not over f")
    douts = [("1 image, 3 filters, 2x2", rng.standard_normal((1, 3, 2, 2))),
             ("a batch of 4 images, 2 filters, 3x5", rng.standard_normal((4, 2, 3, 5))),
             ("2 images, 5 filters, 1x1 output", rng.standard_normal((2, 5, 1, 1)))]
    cases = [Case(description, (dout,), reference(dout), hint) for description, dout in douts]
    return check_exercise("bias_gradient", answer, cases)


def check_predicted_gradients_1d(answer):
    """Exercise: predicted_gradients_1d() -> (dL/dw, dL/dx) for the 1-D example
    y = correlate(x, w, 'valid'), L = sum(g * y), with x = [2, -1, 0, 3, 1],
    w = [1, -2, 3], g = [1, 0, -1]. Checked against numerical gradients."""
    x, w, g = np.array([2.0, -1.0, 0.0, 3.0, 1.0]), np.array([1.0, -2.0, 3.0]), np.array([1.0, 0.0, -1.0])
    loss = lambda: float(np.sum(g * np.correlate(x, w, "valid")))
    expected_dw, expected_dx = numerical_gradient(loss, w), numerical_gradient(loss, x)

    def part(index):
        return np.asarray(answer()[index], dtype=np.float64)

    cases = [
        Case("dL/dw", (0,), expected_dw,
             "dL/dw[j] = sum_t g[t] * x[t + j]: slide g over x (3 values for a 3-tap kernel)", atol=1e-6),
        Case("dL/dx", (1,), expected_dx,
             "dL/dx[i] = sum_t g[t] * w[i - t] over the outputs t that used x[i]: the kernel comes out "
             "flipped, and the edge inputs x[0] and x[4] are used by one output only", atol=1e-6),
    ]
    return check_exercise("predicted_gradients_1d", part, cases)


def _conv_backward_single_reference(image, kernel, dout, stride, padding):
    """Conv2D.backward for one image and one kernel: returns (dimage, dkernel)."""
    layer = Conv2D(1, 1, kernel.shape[0], stride, padding, dtype=np.float64, rng=np.random.default_rng(0))
    layer.params["W"] = kernel[None, None].astype(np.float64)
    layer.forward(image[None, None])
    dimage = layer.backward(dout[None, None])[0, 0]
    return dimage, layer.grads["W"][0, 0]


def check_conv_backward_single(answer):
    """Exercise: conv_backward_single(image, kernel, dout, stride, padding) -> (dimage, dkernel), with loops."""
    rng = np.random.default_rng(5)
    configurations = [
        ("4x4 image, 2x2 kernel", (4, 4), 2, 1, 0,
         "for every output (y, x) and offset (i, j): dkernel[i, j] += dout[y, x] * image[y + i, x + j] and "
         "dimage[y + i, x + j] += dout[y, x] * kernel[i, j]. No flipped kernel in this loop form (the flip "
         "appears only when you rewrite it as a full correlation), and += because neighbouring outputs share inputs"),
        ("5x6 image, asymmetric 3x3 kernel", (5, 6), 3, 1, 0,
         "non-square image: H' and W' differ, so keep rows (y, i) and columns (x, j) apart; "
         "dimage has the image's shape and dkernel the kernel's"),
        ("5x5 image, padding 1", (5, 5), 3, 1, 1,
         "padding: dkernel reads the PADDED image, and dimage is accumulated in a padded array whose "
         "border [p:-p] you crop off at the end"),
        ("7x7 image, stride 2", (7, 7), 3, 2, 0,
         "stride: output (y, x) came from the patch starting at (s*y, s*x); use the same offsets backwards"),
        ("6x5 image, stride 2, padding 1", (6, 5), 3, 2, 1,
         "pad, then step by s; image rows/columns no window reached get gradient 0"),
    ]
    cases = []
    for description, image_shape, k, s, p, hint in configurations:
        image, kernel = rng.standard_normal(image_shape), rng.standard_normal((k, k))
        out_shape = (conv_output_size(image_shape[0], k, s, p), conv_output_size(image_shape[1], k, s, p))
        dout = rng.standard_normal(out_shape)
        cases.append(Case(description, (image, kernel, dout, s, p),
                          _conv_backward_single_reference(image, kernel, dout, s, p), hint))
    return check_exercise("conv_backward_single", answer, cases)


def check_my_relative_error(answer):
    """Exercise: my_relative_error(analytic, numeric) -> max_i |a_i - n_i| / max(|a_i| + |n_i|, 1e-12)."""
    floor_hint = ("where both gradients are 0 the error is 0, not 0/0 = nan: floor the denominator, "
                  "np.maximum(np.abs(a) + np.abs(n), 1e-12)")
    configurations = [
        ("identical arrays", [1.0, -2.0, 3.0], [1.0, -2.0, 3.0], "equal gradients have relative error 0"),
        ("[1, 2] against [1.1, 2]", [1.0, 2.0], [1.1, 2.0],
         "element-wise |a - n| / (|a| + |n|), then the maximum over the elements (not the mean, not a ratio of sums)"),
        ("tiny gradients [1e-9, 2e-9] against [1.1e-9, 2e-9]", [1e-9, 2e-9], [1.1e-9, 2e-9],
         "scale-free: divide by |a| + |n| of the same element, so tiny gradients don't look right "
         "just because |a - n| is tiny"),
        ("opposite signs [1] against [-1]", [1.0], [-1.0],
         "use absolute values in the denominator, |a| + |n|, not |a + n|"),
        ("both zero in some entries", [0.0, 1.0], [0.0, 1.0001], floor_hint),
        ("2-D arrays", [[0.5, -1.0], [2.0, 0.0]], [[0.5, -1.01], [2.0, 1e-3]],
         "take the maximum over ALL elements; an entry where one gradient is 0 and the other is not has error 1"),
    ]
    cases = [Case(description, (np.array(a), np.array(n)), relative_error(np.array(a), np.array(n)), hint)
             for description, a, n, hint in configurations]
    return check_exercise("my_relative_error", answer, cases)



# --- Notebook 04: max pooling ---

def _maxpool_forward_reference(x, kernel_size, stride):
    """The expected answer of a pooling forward case: MaxPool2D's forward."""
    return MaxPool2D(kernel_size, stride).forward(x)


def _maxpool_backward_reference(x, dout, kernel_size, stride):
    """The expected answer of a pooling backward case: MaxPool2D's backward."""
    layer = MaxPool2D(kernel_size, stride)
    layer.forward(x)
    return layer.backward(dout)


def _tie_windows():
    """A 4 x 4 image whose four 2 x 2 windows tie in different ways:
    all zero (as after a ReLU), two 3s, four 5s, and two 2s on a diagonal."""
    return np.array([[0., 0., 1., 3.],
                     [0., 0., 3., 0.],
                     [5., 5., 2., 0.],
                     [5., 5., 0., 2.]])[None, None]


def check_maxpool_forward(answer):
    """Notebook 04: ``maxpool_forward(x, kernel_size, stride)`` with loops.

    x: (N, C, H, W) -> (N, C, H', W'),  H' = (H - k) // s + 1."""
    rng = np.random.default_rng(40)
    settings = [
        ("4x4 input, kernel 2, stride 2", rng.permutation(16).reshape(1, 1, 4, 4).astype(np.float64), 2, 2,
         "window (y, x) covers rows y*stride .. y*stride + kernel_size - 1 and the same columns; "
         "take the largest value in it"),
        ("all-negative input", -0.5 - rng.random((1, 1, 4, 4)), 2, 2,
         "start the running maximum at -inf (or at the window's first value), not at 0: "
         "every value here is negative, so 0 is never the maximum"),
        ("kernel 3, stride 2 on 7x7 (overlapping windows)", rng.standard_normal((1, 1, 7, 7)), 3, 2,
         "the output is (7 - 3) // 2 + 1 = 3 wide; window y starts at row y*stride and is "
         "kernel_size rows tall, so neighbouring windows share a row"),
        ("odd size 5x5, kernel 2, stride 2", rng.standard_normal((1, 1, 5, 5)), 2, 2,
         "H' = (5 - 2) // 2 + 1 = 2: the last row and column fit in no window and are dropped "
         "(no padding, no partial windows)"),
        ("batch of 2 images with 3 channels", rng.standard_normal((2, 3, 6, 6)), 2, 2,
         "pool every image n and every channel c on its own: the output has shape (N, C, H', W')"),
    ]
    cases = [Case(description, (x, k, s), _maxpool_forward_reference(x, k, s), hint)
             for description, x, k, s, hint in settings]
    return check_exercise("maxpool_forward", answer, cases)


def check_maxpool_backward(answer):
    """Notebook 04: ``maxpool_backward(x, dout, kernel_size, stride)`` -> dx, shape of x.

    Each window sends its dout value to ONE position, the first maximum in
    row-major order, and positions that win several overlapping windows add up
    what they receive."""
    rng = np.random.default_rng(41)
    overlapping = rng.standard_normal((1, 1, 7, 7))
    overlapping[0, 0, 2, 2] = overlapping[0, 0, 4, 4] = 10.0   # each wins several windows
    settings = [
        ("4x4 input, kernel 2, stride 2, no ties", rng.permutation(16).reshape(1, 1, 4, 4).astype(np.float64),
         2, 2, "send each dout value to the position of its window's maximum; every other position of dx is 0"),
        ("ties: windows with equal maxima (all zero, as after a ReLU)", _tie_windows(), 2, 2,
         "exactly one winner per window: the FIRST maximum in row-major order (what np.argmax returns). "
         "Giving every tied position the gradient multiplies it"),
        ("overlapping windows: kernel 3, stride 2 on 7x7", overlapping, 3, 2,
         "use += not = when writing into dx: windows overlap, so one pixel can win several windows "
         "and must collect all their gradients"),
        ("odd size 5x5, kernel 2, stride 2", rng.standard_normal((1, 1, 5, 5)), 2, 2,
         "dx has the shape of x; the last row and column lie in no window and get gradient 0"),
        ("batch of 2 with 3 channels, kernel 3, stride 2, ties", rng.integers(0, 3, (2, 3, 7, 7)).astype(np.float64),
         3, 2, "handle every image n and channel c, and combine both rules: one winner per window "
               "(the first maximum) and += where windows overlap"),
    ]
    cases = []
    for description, x, k, s, hint in settings:
        out_shape = _maxpool_forward_reference(x, k, s).shape
        dout = np.round(rng.standard_normal(out_shape), 2) + 3.0   # nonzero, so every route shows
        cases.append(Case(description, (x, dout, k, s), _maxpool_backward_reference(x, dout, k, s), hint))
    return check_exercise("maxpool_backward", answer, cases)


def check_pooled_shape(answer):
    """Notebook 04: ``pooled_shape()`` returns the output shape of
    MaxPool2D(kernel_size=3, stride=2) on an input of shape (1, 1, 7, 7)."""
    expected = MaxPool2D(3, 2).forward(np.zeros((1, 1, 7, 7))).shape
    case = Case("kernel 3, stride 2 on a (1, 1, 7, 7) input", (), expected,
                "H' = (H - k) // s + 1 = (7 - 3) // 2 + 1: windows start at 0, 2, 4; one starting at 6 "
                "would stick out. Not H / s, and give all four axes (N, C, H', W')")
    return check_exercise("pooled_shape", lambda: tuple(int(size) for size in answer()), [case])


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
    """Notebook 04: ``centre_gradient()`` returns dx[0, 0, 2, 2] in ``centre_gradient_example()``."""
    x, dout = centre_gradient_example()
    expected = float(_maxpool_backward_reference(x, dout, 3, 2)[0, 0, 2, 2])
    case = Case("centre pixel of a 5x5 image, kernel 3, stride 2, dout [[1, 2], [3, 4]]", (), expected,
                "the centre lies in all four windows and wins each of them, so it collects the SUM of "
                "all four dout values (+=), not only one of them (=)")
    return check_exercise("centre_gradient", answer, [case])


# --- Notebook 05: softmax and cross-entropy ---

def check_stable_softmax(answer):
    """Notebook 05: ``stable_softmax(logits)``, logits (N, K) -> probabilities (N, K), rows sum to 1."""
    rng = np.random.default_rng(50)
    settings = [
        ("small logits [[1, 2, 3]]", np.array([[1.0, 2.0, 3.0]]),
         "exponentiate, then divide by the sum of the exponentials"),
        ("batch of 3 rows", rng.standard_normal((3, 4)),
         "normalise each row on its own: sum over axis=1 with keepdims=True, not over the whole array"),
        ("huge logits [[1000, -1000, 0]]", np.array([[1000.0, -1000.0, 0.0]]),
         "exp(1000) overflows to inf and inf / inf is nan: subtract the row's maximum before exp"),
        ("very negative logits [[-1000, -1001, -1002]]", np.array([[-1000.0, -1001.0, -1002.0]]),
         "exp(-1000) underflows to 0 and 0 / 0 is nan: subtract the row's maximum, then the largest "
         "term is exp(0) = 1"),
        ("rows of different scale [[1000, 999], [0, 1]]", np.array([[1000.0, 999.0], [0.0, 1.0]]),
         "subtract each row's OWN maximum (max over axis=1, keepdims=True), not the maximum of the "
         "whole array"),
    ]
    cases = [Case(description, (logits,), softmax(logits), hint) for description, logits, hint in settings]
    # A naive answer overflows; the check reports that in its message, not as warnings.
    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        return check_exercise("stable_softmax", answer, cases)


def check_cross_entropy_loss(answer):
    """Notebook 05: ``cross_entropy_loss(logits, labels)`` -> the mean loss (a float),
    logits (N, K), labels (N,) ints."""
    rng = np.random.default_rng(51)
    settings = [
        ("one example, logits [[2, 1, 0.1]], label 0", np.array([[2.0, 1.0, 0.1]]), np.array([0]),
         "the loss is -log of the softmax probability of the TRUE class (natural log)"),
        ("batch of 4 examples", rng.standard_normal((4, 5)), np.array([0, 3, 3, 1]),
         "average over the batch (the mean, not the sum), and pick each example's own label "
         "with logits[np.arange(N), labels]"),
        ("huge logits [[1000, 0, -1000]], label 2 (confident and wrong)",
         np.array([[1000.0, 0.0, -1000.0]]), np.array([2]),
         "log(softmax(z)) gives log(0) = -inf here: compute log-softmax directly as "
         "z - max(z) - log(sum(exp(z - max(z))))"),
    ]
    cases = [Case(description, (logits, labels), SoftmaxCrossEntropy().forward(logits, labels), hint)
             for description, logits, labels, hint in settings]
    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        return check_exercise("cross_entropy_loss", answer, cases)


def check_softmax_cross_entropy_gradient(answer):
    """Notebook 05: ``softmax_cross_entropy_gradient(logits, labels)`` -> dL/dlogits (N, K)
    for the MEAN cross-entropy: (softmax(logits) - onehot(labels)) / N."""
    rng = np.random.default_rng(52)
    settings = [
        ("one example, logits [[2, 1, 0.1]], label 0", np.array([[2.0, 1.0, 0.1]]), np.array([0]),
         "dL/dz = p - y: the softmax probabilities minus 1 at the true class only"),
        ("batch of 4 examples", rng.standard_normal((4, 5)), np.array([0, 3, 3, 1]),
         "the loss is the MEAN over the N examples, so divide p - y by N"),
        ("huge logits [[1000, 0, -1000]], label 2", np.array([[1000.0, 0.0, -1000.0]]), np.array([2]),
         "compute the probabilities with the stable softmax (subtract the row maximum) or you get nan"),
    ]
    cases = []
    for description, logits, labels, hint in settings:
        loss_fn = SoftmaxCrossEntropy()
        loss_fn.forward(logits, labels)
        cases.append(Case(description, (logits, labels), loss_fn.backward(), hint))
    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        return check_exercise("softmax_cross_entropy_gradient", answer, cases)


def check_uniform_loss(answer):
    """Notebook 05: ``uniform_loss(K)`` -> the cross-entropy of a prediction
    that gives every one of K classes probability 1/K."""
    hint = "the true class gets p = 1/K, so the loss is -log(1/K) = ln K, the NATURAL log (np.log), not log10 or log2"
    cases = [Case(f"K = {K} classes", (K,), SoftmaxCrossEntropy().forward(np.zeros((1, K)), np.array([0])),
                  hint + (" (one class: the prediction is certain)" if K == 1 else ""))
             for K in (10, 2, 1000, 1)]
    return check_exercise("uniform_loss", answer, cases)


# --- Notebook 06: dense layers and activations ---

def _dense_backward_reference(x, W, dout):
    """(dx, dW, db) from Dense.backward, with the layer's weights set to W."""
    layer = Dense(*np.shape(W), dtype=np.float64)
    layer.params["W"] = np.asarray(W, dtype=np.float64)
    layer.forward(np.asarray(x, dtype=np.float64))
    dx = layer.backward(np.asarray(dout, dtype=np.float64))
    return dx, layer.grads["W"], layer.grads["b"]


def check_dense_backward(answer):
    """Notebook 06: ``dense_backward(x, W, dout)`` -> (dx, dW, db) for out = x @ W + b,
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
    """Notebook 06: ``relu_backward(x, dout)`` -> dx = dout * [x > 0] (same shape as x)."""
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
    """Notebook 06: ``inverted_dropout(x, keep, p)`` -> the training-mode output of
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
    """Notebook 06: ``predicted_std(fan_in, weight_std)`` -> the std of the outputs
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
    """Notebook 06: ``two_layer_backward(x, W1, b1, W2, b2, labels)`` -> (dW1, db1, dW2, db2),
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

# --- Notebook 07: training ---

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
    """Notebook 07: ``sgd_momentum_step(weights, gradient, velocity, lr, momentum)``
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
    """Notebook 07: ``adam_step(weights, gradient, m, s, t, lr, beta1, beta2, eps)`` ->
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
    """Notebook 07: ``steps_per_epoch(num_images, batch_size)`` -> how many optimizer
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
    """Notebook 07: ``prior_loss(labels, num_classes)`` -> the mean cross-entropy of a
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

    def compare(expected, actual, case):        # a nan answer equals a mistake's nan
        both_nan = isinstance(expected, float) and math.isnan(expected) and \
            isinstance(actual, (float, np.floating)) and math.isnan(actual)
        return None if both_nan else _compare(expected, actual, case.rtol, case.atol)

    with np.errstate(divide="ignore", invalid="ignore"):
        return check_exercise("prior_loss", answer, cases, mistakes, compare=compare)


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
    """Notebook 07: ``first_diverging_lr(candidates, images, labels)`` -> the first
    learning rate in ``candidates`` for which one epoch of ``train`` on a fresh
    ``reference_cnn(seed=0)`` (SGD momentum 0.9, batch_size=50, schedule=None)
    raises TrainingDiverged, or None if none does. The check also records how the
    answer called ``train`` (optimizer, momentum, epochs, batch size, schedule)."""
    images, labels = load_mnist("test")
    images, labels = images[:150], labels[:150]            # three batches of 50
    settings = [
        ("learning rates [0.01, 1.0, 100.0, 1e10]", [0.01, 1.0, 100.0, 1e10],
         "catch scratchcnn.TrainingDiverged around scratchcnn.train and return that lr at once. Build a "
         "fresh scratchcnn.reference_cnn(seed=0) and SGD(model, lr=lr, momentum=0.9) for EVERY lr. A huge "
         "but finite loss (as with lr 100) is not 'diverged': only NaN or inf raise the error"),
        ("learning rates [0.01, 0.1]: none diverges", [0.01, 0.1],
         "return None when no learning rate raises TrainingDiverged"),
        ("learning rates [0.01, 1e8, 1e9]", [0.01, 1e8, 1e9],
         "return the FIRST lr, in the order given, that diverges: stop there. Train exactly 1 epoch with "
         "batch_size=50, schedule=None and SGD(model, lr=lr, momentum=0.9), as the exercise says"),
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
                "build a fresh scratchcnn.reference_cnn(seed=0) inside the loop: a model an earlier large "
                "lr already broke (dead ReLUs) never diverges"),
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
    """Notebook 07: ``overfit_tiny_batch(images, labels, steps, lr)`` -> the losses (steps,) of
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

# --- Notebook 08: looking inside the trained network ---

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
    """Notebook 08: ``saliency_map(model, image, target_class)`` -> (H, W) array
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
    """Notebook 08: ``occlusion_map(model, image, label, patch_size, stride)`` -> (H', W')
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
    """Notebook 08: ``conv2_output_shape(batch_size)`` -> the shape of the output of
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
    """Notebook 08: ``fgsm_step(model, image, label, epsilon)`` -> the (H, W) image
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

# --- Notebook 09: play with it ------------------------------------------------

def _crop_reference(image):
    """The "cropped" step of preprocess_digit: the bounding box of the pixels above 10% of the brightest."""
    return preprocess_digit(image, return_steps=True)[1]["cropped"]


def check_crop_to_ink(answer):
    """Exercise: crop_to_ink(image (H, W), white ink on black) -> the smallest rectangle holding
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
    """Exercise: centre_of_mass(image (H, W)) -> (row, column), the ink-weighted mean position
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
    """Exercise (predict before running): feature_map_shapes() -> the shapes (C, H, W) of the
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
    """Exercise: most_confident_mistake(probabilities (N, K), labels (N,)) -> the index n of the
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


if __name__ == "__main__":
    main()
