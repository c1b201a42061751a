"""Typical mistakes shared by several notebooks' exercises, written once.

Each function returns what an answer with that mistake returns, given the same
arguments as the exercise's reference; the checks wrap them in ``Mistake``.
"""

from __future__ import annotations

import numpy as np

from scratchcnn import conv2d_naive, conv_output_size, maxpool2d_naive, softmax


def stride_ignored_conv(x, W, b, stride, padding):
    """A convolution forward whose window (y, x) starts at (y, x) instead of (stride*y, stride*x):
    the stride only shrinks the output, so this is the stride-1 result cut to the strided output size.
    Arguments as conv2d_naive: x (N, C, H, W), W (F, C, k, k), b (F,)."""
    H_out = conv_output_size(x.shape[2], W.shape[2], stride, padding)
    W_out = conv_output_size(x.shape[3], W.shape[3], stride, padding)
    return conv2d_naive(x, W, b, 1, padding)[:, :, :H_out, :W_out]


def stride_ignored_pool(x, kernel_size, stride):
    """Max pooling whose window (y, x) starts at (y, x) instead of (stride*y, stride*x), as
    stride_ignored_conv: the stride-1 result cut to the strided output size. x (N, C, H, W)."""
    H_out = conv_output_size(x.shape[2], kernel_size, stride, 0)
    W_out = conv_output_size(x.shape[3], kernel_size, stride, 0)
    return maxpool2d_naive(x, kernel_size, 1)[:, :, :H_out, :W_out]


def maxpool_backward_slipped(x, dout, k, s, *, assign=False, all_ties=False, last_max=False, whole_window=False):
    """maxpool2d_backward_naive with a typical slip switched on (notebook 04's exercise and notebook 11's fix):
    ``assign`` = instead of +=, ``all_ties`` every tied maximum wins, ``last_max`` the last maximum wins,
    ``whole_window`` every position of the window gets the gradient."""
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


def softmax_shifted(logits, shift, axis=1):
    """exp(logits - shift) divided by its sums over ``axis`` (None: the whole array): a batch softmax
    (N, K) with the wrong maximum subtracted (shift 0, logits.max(), a column's maximum ...) or the
    wrong axis summed. With shift = logits.max(axis=1, keepdims=True) and axis 1 it is right."""
    exps = np.exp(logits - shift)
    return exps / exps.sum(axis=axis, keepdims=axis is not None)


def softmax_gradient_every_label_in_every_row(logits, labels):
    """dL/dlogits of the mean cross-entropy written with p[:, labels] -= 1 instead of
    p[np.arange(N), labels] -= 1: the 1 is subtracted in whole columns, for every example."""
    gradient = softmax(np.asarray(logits, dtype=np.float64))
    gradient[:, labels] -= 1
    return gradient / len(labels)
