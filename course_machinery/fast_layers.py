"""Fast versions of the textbook's Conv2D and MaxPool2D: what training runs.

The textbook (``scratchcnn.py``) holds the plain layers the notebooks derive. The
two classes here are the same layers, with the same constructor, config, params
and results, made faster by tricks that take more than a few lines (CS231n's
``layers.py`` / ``fast_layers.py`` split). tests/test_fast_layers.py checks them
against the plain layers and the naive loops on awkward shapes; benchmarks/bench.py
measures what they are worth.

  FastConv2D     im2col with the batch as the *last* column index, (y, x, n), and
                 an output that keeps that layout (an NCHW view of a (F, H', W', N)
                 array); it can also skip dL/dx when nobody needs it.
  FastMaxPool2D  a loop over the k*k window offsets instead of gathering every
                 window, the winners recorded with arithmetic, every array in
                 x's memory layout.

reference_cnn, deep_cnn and load_model build these (``fast=True``); model files
store them under the plain names "Conv2D" and "MaxPool2D" (``saved_as``).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from scratchcnn import Conv2D, MaxPool2D, conv_output_size

from .guards import check_backward, check_layer_input


def im2col_batch_last(x: np.ndarray, kernel_size: int, stride: int = 1, padding: int = 0) -> np.ndarray:
    """scratchcnn.im2col with the columns ordered (y, x, n), batch last:
    x: (N, C, H, W) -> cols: (C*k*k, H'*W'*N).

    The same columns, permuted. Why: the copy into the columns (and col2im's
    additions) then moves runs of W' * N neighbouring numbers instead of image
    rows of only W' numbers: 3-4x faster for MNIST-sized images.
    """
    N, C, H, W = x.shape
    k, s, p = kernel_size, stride, padding
    H_out = conv_output_size(H, k, s, p)
    W_out = conv_output_size(W, k, s, p)
    # One zero buffer with x copied into its middle (what np.pad does, minus its overhead),
    # laid out in memory as (C, H, W, N), the order the columns read it. (A Conv2D output
    # already has that layout, so the copy reads memory in order too.)
    padded = np.zeros((C, H + 2 * p, W + 2 * p, N), dtype=x.dtype).transpose(3, 0, 1, 2)
    padded[:, :, p:p + H, p:p + W] = x
    sN, sC, sH, sW = padded.strides
    windows = as_strided(padded, shape=(C, k, k, H_out, W_out, N),
                         strides=(sC, sH, sW, s * sH, s * sW, sN), writeable=False)
    return windows.reshape(C * k * k, H_out * W_out * N)


def col2im_batch_last(cols: np.ndarray, x_shape: tuple, kernel_size: int, stride: int = 1,
                      padding: int = 0) -> np.ndarray:
    """The adjoint of im2col_batch_last: cols (C*k*k, H'*W'*N) -> dx (N, C, H, W),
    returned as an NCHW view of a (C, H, W, N) array (the layout FastConv2D's input had)."""
    N, C, H, W = x_shape
    k, s, p = kernel_size, stride, padding
    H_out = conv_output_size(H, k, s, p)
    W_out = conv_output_size(W, k, s, p)
    # Views indexed (c, i, j, n, y, x) and (c, n, y, x) whose memory follows the column
    # order, so each of the k*k blocks adds onto runs of contiguous numbers.
    blocks = cols.reshape(C, k, k, H_out, W_out, N).transpose(0, 1, 2, 5, 3, 4)
    dx_padded = np.zeros((C, H + 2 * p, W + 2 * p, N), dtype=cols.dtype).transpose(0, 3, 1, 2)
    for i in range(k):
        for j in range(k):
            dx_padded[:, :, i:i + s * H_out:s, j:j + s * W_out:s] += blocks[:, i, j]
    return dx_padded[:, :, p:p + H, p:p + W].transpose(1, 0, 2, 3)


class FastConv2D(Conv2D):
    """scratchcnn.Conv2D with batch-last columns (see im2col_batch_last).

    x: (N, C, H, W) -> out: (N, F, H', W'), an NCHW view of a (F, H', W', N) array:
    the product W @ cols comes out in that order, and the next layers keep the
    layout, so the next im2col and this layer's backward read memory in order.
    backward_weights_only(dout) fills grads without dL/dx (Sequential.backward
    calls it for the first layer in training).
    """

    saved_as = "Conv2D"          # model files name the layer, not its implementation

    def forward(self, x):
        check_layer_input(self, x, 4, self.in_channels)
        W, b = self.params["W"], self.params["b"]
        N, _, H, W_in = x.shape
        H_out = conv_output_size(H, self.kernel_size, self.stride, self.padding)
        W_out = conv_output_size(W_in, self.kernel_size, self.stride, self.padding)
        self.x_shape = x.shape
        self.cols = im2col_batch_last(x.astype(W.dtype, copy=False), self.kernel_size, self.stride, self.padding)
        out = W.reshape(self.out_channels, -1) @ self.cols            # (F, H'*W'*N)
        out += b[:, None]
        return out.reshape(self.out_channels, H_out, W_out, N).transpose(3, 0, 1, 2)

    def backward_weights_only(self, dout):
        """Fill grads["W"] and grads["b"] from dout; return None (no dL/dx)."""
        self._weight_gradients(dout)

    def _weight_gradients(self, dout):
        check_backward(self, dout)
        W = self.params["W"]
        # dout is (N, F, H', W'); in forward's (F, H', W', N) order it is one matrix D.
        D = dout.transpose(1, 2, 3, 0).reshape(self.out_channels, -1).astype(W.dtype, copy=False)
        # cols @ D.T is dW transposed: the same sums, but OpenBLAS computes this tall, thin
        # product faster than D @ cols.T (almost 2x for the second conv, on the benchmark machine).
        self.grads["W"] = (self.cols @ D.T).T.reshape(W.shape)
        self.grads["b"] = D @ np.ones(D.shape[1], dtype=D.dtype)   # a product: faster than sum
        return D

    def backward(self, dout):
        D = self._weight_gradients(dout)
        dcols = self.params["W"].reshape(self.out_channels, -1).T @ D       # (C*k*k, H'*W'*N)
        return col2im_batch_last(dcols, self.x_shape, self.kernel_size, self.stride, self.padding)


class FastMaxPool2D(MaxPool2D):
    """scratchcnn.MaxPool2D without gathering the windows.

    Instead of an (N, C, H', W', k*k) array of windows, a loop over the k*k
    offsets: offset (i, j) of all windows at once is the strided slice
    x[:, :, i::s, j::s], so forward is k*k vectorised maximums. Every array keeps
    the memory layout of x, and the winners are recorded with arithmetic
    (np.where and np.putmask branch on every element, which is several times
    slower on random data). Ties: the first offset in row-major order wins, as
    in MaxPool2D.
    """

    saved_as = "MaxPool2D"

    def _offset(self, x, i, j, H_out, W_out):
        """Element (i, j) of every window: a strided view of shape (N, C, H', W')."""
        s = self.stride
        return x[:, :, i:i + s * (H_out - 1) + 1:s, j:j + s * (W_out - 1) + 1:s]

    def forward(self, x):
        check_layer_input(self, x, 4)
        k = self.kernel_size
        H_out = conv_output_size(x.shape[2], k, self.stride, 0)
        W_out = conv_output_size(x.shape[3], k, self.stride, 0)
        # order="K" keeps x's memory layout (a FastConv2D's output is an NCHW view of
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
        check_backward(self, dout)
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


FAST_LAYERS = {"Conv2D": FastConv2D, "MaxPool2D": FastMaxPool2D}   # what load_model builds for each type
