"""Typical mistakes shared by several notebooks' exercises, written once.

Each function returns what an answer with that mistake returns, given the same
arguments as the exercise's reference; the checks wrap them in ``Mistake``.
"""

from __future__ import annotations

from scratchcnn import conv2d_naive, conv_output_size


def stride_ignored_conv(x, W, b, stride, padding):
    """A convolution forward whose window (y, x) starts at (y, x) instead of (stride*y, stride*x):
    the stride only shrinks the output, so this is the stride-1 result cut to the strided output size.
    Arguments as conv2d_naive: x (N, C, H, W), W (F, C, k, k), b (F,)."""
    H_out = conv_output_size(x.shape[2], W.shape[2], stride, padding)
    W_out = conv_output_size(x.shape[3], W.shape[3], stride, padding)
    return conv2d_naive(x, W, b, 1, padding)[:, :, :H_out, :W_out]
