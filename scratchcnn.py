"""ScratchCNN: a convolutional neural network from scratch in NumPy.

This one file is the course's library, in the order the course teaches it:

  1. Data          - reading the MNIST IDX files (``load_mnist``)
  2. Layers        - Conv2D, MaxPool2D, ReLU, LeakyReLU, Flatten, Dropout, Dense
                     plus the naive loop versions they are checked against
  3. Loss          - SoftmaxCrossEntropy
  4. Optimizers    - SGD (momentum, weight decay) and Adam
  5. Model         - Sequential and the course's reference CNN
  6. Training      - train, evaluate, data augmentation
  7. Gradient checking - numerical gradients by centred differences
  8. Plots and widgets - LivePlot, the digit slider, the drawing pad
  9. Pictures      - preprocessing a drawn digit like MNIST
 10. Model files   - save_model / load_model (.npz, no pickle)
 11. Exercise checks - check_exercise, used by the notebooks' exercises
 12. Command line  - ``python scratchcnn.py train|evaluate|predict``

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


def im2col(x: np.ndarray, kernel_size: int, stride: int = 1, padding: int = 0) -> np.ndarray:
    """Unfold every k x k patch of x into a column.

    x: (N, C, H, W) -> cols: (C*k*k, N*H'*W'), rows ordered (c, i, j),
    columns ordered (n, y, x). A convolution is then ``W.reshape(F, -1) @ cols``.

    Stride tricks build a 6-D *view* (C, k, k, N, H', W') of the padded input
    without copying: element (c, i, j, n, y, x) is x_pad[n, c, s*y + i, s*x + j].
    The single copy happens in the final reshape.
    """
    N, C, H, W = x.shape
    k, s, p = kernel_size, stride, padding
    H_out = conv_output_size(H, k, s, p)
    W_out = conv_output_size(W, k, s, p)
    if p:
        # One zero buffer with x copied into its middle (what np.pad does, minus overhead).
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
    return windows.reshape(C * k * k, N * H_out * W_out)


def col2im(cols: np.ndarray, x_shape: tuple, kernel_size: int, stride: int = 1, padding: int = 0) -> np.ndarray:
    """The adjoint of im2col: add every column back onto the patch it came from.

    cols: (C*k*k, N*H'*W') -> dx: (N, C, H, W)

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
    blocks = cols.reshape(C, k, k, N, H_out, W_out)
    # Allocated channel-major (C, N, ...) so each block adds onto contiguous rows.
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
    Forward is one matrix product:  W.reshape(F, C*k*k) @ im2col(x)  -> (F, N*H'*W').
    Backward, with dout reshaped to the same (F, N*H'*W') matrix D:
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
        self.cols = im2col(x, self.kernel_size, self.stride, self.padding)
        out = W.reshape(self.out_channels, -1) @ self.cols            # (F, N*H'*W')
        out += b[:, None]
        # The product comes out channel-major (F, N, H', W'); a transposed *view*
        # gives NCHW without a copy. Later layers work on views of any layout.
        return out.reshape(self.out_channels, N, H_out, W_out).transpose(1, 0, 2, 3)

    def backward(self, dout):
        W = self.params["W"]
        # dout is (N, F, H', W'); channel-major again so it is one matrix D.
        D = dout.transpose(1, 0, 2, 3).reshape(self.out_channels, -1).astype(W.dtype, copy=False)
        self.grads["W"] = (D @ self.cols.T).reshape(W.shape)
        self.grads["b"] = D @ np.ones(D.shape[1], dtype=D.dtype)   # a product: faster than sum
        dcols = W.reshape(self.out_channels, -1).T @ D                 # (C*k*k, N*H'*W')
        return col2im(dcols, self.x_shape, self.kernel_size, self.stride, self.padding)


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
        out = self._offset(x, 0, 0, H_out, W_out).copy()
        # winner[n, c, y, x] = i*k + j of the element that holds the max. A strict
        # ">" keeps the earlier offset on a tie: exactly one winner per window.
        winner = np.zeros(out.shape, dtype=np.uint8)
        for i in range(k):
            for j in range(k):
                if i or j:
                    candidate = self._offset(x, i, j, H_out, W_out)
                    np.putmask(winner, candidate > out, i * k + j)
                    np.maximum(out, candidate, out=out)
        self.x_shape, self.winner = x.shape, winner
        return out

    def backward(self, dout):
        k = self.kernel_size
        H_out, W_out = dout.shape[2:]
        dx = np.zeros(self.x_shape, dtype=dout.dtype)
        zero = dout.dtype.type(0)
        for i in range(k):
            for j in range(k):
                # += (not =): with overlapping windows one input can win several.
                self._offset(dx, i, j, H_out, W_out)[...] += np.where(self.winner == i * k + j, dout, zero)
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
        self.x_shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dout):
        return dout.reshape(self.x_shape)


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


# --- The naive references: explicit loops, slow, obviously right. ------------

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
        # Fold both bias corrections into one scalar step size.
        step_size = self.lr * math.sqrt(1 - self.beta2 ** self.t) / (1 - self.beta1 ** self.t)
        for key, param, grad in self.parameters():
            if self.weight_decay:
                grad = grad + self.weight_decay * param
            m, v = self.state.setdefault(key, (np.zeros_like(param), np.zeros_like(param)))
            m *= self.beta1
            m += (1 - self.beta1) * grad
            v *= self.beta2
            v += (1 - self.beta2) * grad * grad
            param -= param.dtype.type(step_size) * m / (np.sqrt(v) + param.dtype.type(self.eps))


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

    def backward(self, dout):
        for layer in reversed(self.layers):
            dout = layer.backward(dout)
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
                model.backward(loss_fn.backward())
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
    """max_i |a_i - n_i| / max(|a_i| + |n_i|, tiny): scale-free, 0 when they agree."""
    analytic, numeric = np.asarray(analytic, np.float64), np.asarray(numeric, np.float64)
    return float(np.max(np.abs(analytic - numeric) / np.maximum(np.abs(analytic) + np.abs(numeric), 1e-12)))


def grad_check(layer, x: np.ndarray, seed: int = 0, h: float = 1e-5) -> dict:
    """Compare a layer's backward with numerical gradients.

    Uses the scalar loss L = sum(forward(x) * G) for a fixed random G, whose
    gradient with respect to the output is exactly G. Returns the relative
    error for the input ("x") and for each parameter. Use float64 layers and
    inputs: float32 has too few digits for centred differences.
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
# 8. Plots and widgets
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


# --- widgets: digit slider and drawing pad (end of widgets) ---


# =============================================================================
# 9. Pictures: preprocessing a drawn digit like MNIST
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


def preprocess_digit(image: np.ndarray, return_steps: bool = False):
    """Turn a picture of one handwritten digit into an MNIST-style 28 x 28 image.

    The steps MNIST's authors used: grey scale, white digit on black (we invert
    when the background is light), crop to the digit, scale so the longer side
    is 20 pixels, and paste into 28 x 28 so that the centre of mass of the ink
    sits at the centre. Returns float32 (28, 28) in [0, 1]; with
    ``return_steps`` also a dict of the intermediate images.
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
    # Centre of mass of the ink, then place it at (14, 14) of the 28 x 28 field.
    total = scaled.sum()
    com_y = (scaled.sum(axis=1) @ np.arange(new_h)) / total
    com_x = (scaled.sum(axis=0) @ np.arange(new_w)) / total
    top = int(np.clip(round(13.5 - com_y), 0, 28 - new_h))
    left = int(np.clip(round(13.5 - com_x), 0, 28 - new_w))
    result = np.zeros((28, 28), dtype=np.float32)
    result[top:top + new_h, left:left + new_w] = scaled
    if return_steps:
        return result, {"grey": grey, "ink": ink, "cropped": cropped, "scaled": scaled, "centred": result}
    return result


# =============================================================================
# 10. Model files: .npz with the architecture as JSON, never pickle
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
# 11. Exercise checks
# =============================================================================
#
# Every exercise in the notebooks is a function the student writes. Its check
# runs it on hidden cases and prints one specific line: which case failed, what
# was expected and what came back, and a hint. An exercise still raising
# NotImplementedError prints "not implemented yet" and the notebook runs on.


class Case:
    """One hidden test case: answer(*args) should return ``expected``."""

    def __init__(self, description, args, expected, hint="", rtol=1e-6, atol=1e-8):
        self.description, self.args, self.expected = description, args, expected
        self.hint, self.rtol, self.atol = hint, rtol, atol


def _compare(expected, actual, rtol, atol):
    """None if actual matches expected, else a sentence saying how it differs."""
    if isinstance(expected, (tuple, list)) and not isinstance(actual, np.ndarray):
        if not isinstance(actual, (tuple, list)) or len(actual) != len(expected):
            return f"expected {expected!r}, got {actual!r}"
        for position, (e, a) in enumerate(zip(expected, actual)):
            problem = _compare(e, a, rtol, atol)
            if problem:
                return f"item {position}: {problem}"
        return None
    if isinstance(expected, np.ndarray):
        actual_array = np.asarray(actual)
        if actual_array.shape != expected.shape:
            return f"expected shape {expected.shape}, got shape {actual_array.shape}"
        if not np.allclose(actual_array, expected, rtol=rtol, atol=atol):
            index = np.unravel_index(np.argmax(np.abs(actual_array - expected)), expected.shape)
            return (f"wrong values: at index {tuple(int(i) for i in index)} expected "
                    f"{expected[index]:.6g}, got {actual_array[index]:.6g}")
        return None
    if isinstance(expected, (int, float, np.number)) and not isinstance(expected, bool):
        try:
            ok = np.isclose(float(actual), float(expected), rtol=rtol, atol=atol)
        except (TypeError, ValueError):
            return f"expected the number {expected!r}, got {actual!r}"
        return None if ok else f"expected {expected:.6g}, got {float(actual):.6g}"
    return None if actual == expected else f"expected {expected!r}, got {actual!r}"


def check_exercise(name, answer, cases):
    """Run ``answer`` on every case and print the first failure (or a pass).

    Returns True when all cases pass, False otherwise (never raises, so the
    rest of the notebook keeps running)."""
    for case in cases:
        args = [a.copy() if isinstance(a, np.ndarray) else a for a in case.args]
        try:
            actual = answer(*args)
        except NotImplementedError:
            print(f"{name}: not implemented yet")
            return False
        except Exception as error:
            print(f"{name}: case '{case.description}' raised {type(error).__name__}: {error}"
                  + (f"\n  hint: {case.hint}" if case.hint else ""))
            return False
        problem = _compare(case.expected, actual, case.rtol, case.atol)
        if problem:
            print(f"{name}: case '{case.description}' failed: {problem}"
                  + (f"\n  hint: {case.hint}" if case.hint else ""))
            return False
    print(f"{name}: all {len(cases)} cases pass")
    return True


# --- checks for notebooks 01-03 (end) ---

# --- checks for notebooks 04-06 (end) ---

# --- checks for notebooks 07-09 (end) ---


# =============================================================================
# 12. Command line
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
    p.add_argument("--epochs", type=int, default=12)
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


if __name__ == "__main__":
    main()
