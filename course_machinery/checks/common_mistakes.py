"""Typical mistakes shared by several notebooks' exercises, written once.

Each function returns what an answer with that mistake returns, given the same
arguments as the exercise's reference; the checks wrap them in ``Mistake``.
"""

from __future__ import annotations

import numpy as np

from scratchcnn import conv2d_naive, conv_output_size, maxpool2d_naive


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
