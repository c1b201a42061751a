"""Exercise checks of notebook 02 (convolution, forward), each an Exercise: its cases and its known mistakes."""

from __future__ import annotations

import math

import numpy as np

from scratchcnn import Conv2D, conv2d_naive, conv_output_size, im2col

from .common_mistakes import stride_ignored_conv
from .framework import Case, Exercise, Mistake, case_rng, secret_rng


# --- output_size ----------------------------------------------------------------------

_OUTPUT_SIZE_SETTINGS = [      # (description, (H, k, s, p))
    ("28, k 3, no padding", (28, 3, 1, 0)),
    ("28, k 3, padding 1", (28, 3, 1, 1)),
    ("28, k 2, stride 2", (28, 2, 2, 0)),
    ("28, k 3, stride 2, padding 1 (the stride does not divide)", (28, 3, 2, 1)),
    ("7, k 3, stride 2 (odd size)", (7, 3, 2, 0)),
    ("5, k 5 (kernel as large as the input)", (5, 5, 1, 0)),
    ("32, k 5, stride 3, padding 2", (32, 5, 3, 2)),
    ("10, k 4, stride 3, padding 0 (remainder 0)", (10, 4, 3, 0)),
]

def _secret_sizes(settings, seed):
    """``settings`` (description, (H, k, s, p)) as written; inside secret_cases, each H grown by a random
    multiple of s (the remainder, and so the point, stays; a kernel as large as the input stays so)."""
    secret = secret_rng(seed)
    if secret is None:
        return settings
    varied = []
    for _, (H, k, s, p) in settings:
        grown = int(secret.integers(2, 9)) if H == k else H + s * int(secret.integers(1, 6))
        H, k = grown, (grown if H == k else k)
        varied.append((f"{H}, k {k}, stride {s}, padding {p}", (H, k, s, p)))
    return varied


check_output_size = Exercise("output_size", lambda: [
    Case(description, args, conv_output_size(*args),
         "count the window positions 0, s, 2s, ... with s*y + k <= H + 2p", rtol=0, atol=0)
    for description, args in _secret_sizes(_OUTPUT_SIZE_SETTINGS, 21)
], [
    Mistake("padding added on one side only (H + p)", lambda H, k, s, p: (H + p - k) // s + 1,
            "padding adds p pixels on BOTH sides: H + 2p"),
    Mistake("true division / instead of integer division //", lambda H, k, s, p: (H + 2 * p - k) / s + 1,
            "when s does not divide H + 2p - k the last partial step is dropped: use //, the answer is a whole number"),
    Mistake("rounded up instead of down", lambda H, k, s, p: -(-(H + 2 * p - k) // s) + 1,
            "a window that sticks out of the padded input does not count: round down (//)"),
    Mistake("the + 1 forgotten (off by one)", lambda H, k, s, p: (H + 2 * p - k) // s,
            "the + 1 counts the first window, at position 0"),
    Mistake("the kernel not subtracted ((H + 2p) // s + 1)", lambda H, k, s, p: (H + 2 * p) // s + 1,
            "the window must fit: its start goes up to H + 2p - k"),
], doc="Notebook 02, ``output_size(H, k, s, p) -> int``: H' = (H + 2p - k) // s + 1.")


# --- the convolution forward: one channel, then the whole layer -----------------------

# Typical mistakes of a convolution forward, as (name, wrong conv2d_naive, fix): the one-channel
# exercise and the whole-layer exercise share them.
_CONV_FORWARD_MISTAKES = [
    ("the kernel flipped (true convolution instead of cross-correlation)",
     lambda x, W, b, s, p: conv2d_naive(x, W[:, :, ::-1, ::-1], b, s, p),
     "deep learning's convolution does not flip: out[y, x] = sum_ij in[s*y + i, s*x + j] * w[i, j]"),
    ("the padding ignored", lambda x, W, b, s, p: conv2d_naive(x, W, b, s, 0),
     "pad p zeros on all four sides first (np.pad), then slide the kernel over the padded input"),
    ("the window at (y, x) instead of (s*y, s*x) (stride ignored inside the loop)", stride_ignored_conv,
     "output (y, x) reads the patch starting at (s*y, s*x)"),
    ("the output one row and one column too small (the + 1 of H' forgotten)",
     lambda x, W, b, s, p: conv2d_naive(x, W, b, s, p)[:, :, :-1, :-1],
     "H' = (H + 2p - k) // s + 1: range(H_out) must include the last window"),
]


def _on_one_image(conv):
    """A 4-D convolution (x, W, b, s, p) used on one image (H, W) and one kernel (k, k), without bias."""
    return lambda image, kernel, s, p: conv(image[None, None], kernel[None, None], np.zeros(1), s, p)[0, 0]


def _conv2d_single_cases():
    rng = case_rng(2)
    settings = [   # (description, image, kernel, stride, padding)
        ("3x3 image, 2x2 kernel (the worked example)", np.array([[1.0, 2.0, 0.0], [0.0, 1.0, 3.0], [2.0, 1.0, 0.0]]),
         np.array([[1.0, 2.0], [0.0, -1.0]]), 1, 0),
        ("5x6 image, asymmetric 3x3 kernel", rng.standard_normal((5, 6)), rng.standard_normal((3, 3)), 1, 0),
        ("5x5 image, padding 1", rng.standard_normal((5, 5)), rng.standard_normal((3, 3)), 1, 1),
        ("7x7 image, stride 2", rng.standard_normal((7, 7)), rng.standard_normal((3, 3)), 2, 0),
        ("8x5 image, stride 2 (does not divide), padding 2", rng.standard_normal((8, 5)),
         rng.standard_normal((3, 3)), 2, 2),
        ("integer 4x6 image and kernel", rng.integers(-3, 4, (4, 6)), rng.integers(-2, 3, (2, 2)), 1, 0),
        ("integer 5x4 image, float kernel (the output is float: not the image's dtype)",
         rng.integers(0, 256, (5, 4)), rng.standard_normal((3, 3)), 1, 1),
    ]
    return [Case(description, (image, kernel, s, p), _on_one_image(conv2d_naive)(image, kernel, s, p),
                 "out[y, x] = sum(padded[s*y:s*y+k, s*x:s*x+k] * kernel), H' = (H + 2p - k) // s + 1 per axis")
            for description, image, kernel, s, p in settings]


check_conv2d_single = Exercise(
    "conv2d_single", _conv2d_single_cases,
    [Mistake(name, _on_one_image(wrong), fix) for name, wrong, fix in _CONV_FORWARD_MISTAKES],
    reference=_on_one_image(conv2d_naive), doc="""Notebook 02, ``conv2d_single(image (H, W), kernel (k, k), stride, padding) -> (H', W')``,
    with loops, no bias.""")


def conv_layer_inputs(rng, settings):
    """Random (description, x, W, b, stride, padding) for each (description, N, C, H, W, F, k, stride,
    padding[, "integer" | "integer images"]) of ``settings``: "integer" makes x, W and b integers,
    "integer images" only x (the output is then float, which an output of x's dtype gets wrong).
    The conv exercises of notebooks 02 and 03 share it."""
    inputs = []
    for description, N, C, H, W_in, F, k, s, p, *integer in settings:
        if integer == ["integer images"]:
            x, W, b = rng.integers(0, 256, (N, C, H, W_in)), rng.standard_normal((F, C, k, k)), rng.standard_normal(F)
        elif integer:
            x, W, b = rng.integers(-3, 4, (N, C, H, W_in)), rng.integers(-2, 3, (F, C, k, k)), rng.integers(-2, 3, F)
        else:
            x, W, b = rng.standard_normal((N, C, H, W_in)), rng.standard_normal((F, C, k, k)), rng.standard_normal(F)
        inputs.append((description, x, W, b, s, p))
    return inputs


_CONV_FORWARD_SETTINGS = [    # (description, N, C, H, W, F, k, stride, padding[, "integer"])
    ("1 image, 1 channel, 1 filter, 4x4, k 3", 1, 1, 4, 4, 1, 3, 1, 0),
    ("2 images, 3 channels, 4 filters, 5x5, k 3, padding 1", 2, 3, 5, 5, 4, 3, 1, 1),
    ("non-square 7x6, stride 2, padding 1, 2 channels, 3 filters", 2, 2, 7, 6, 3, 3, 2, 1),
    ("a batch of one, 9x8, k 4, stride 3 (does not divide), padding 2", 1, 3, 9, 8, 2, 4, 3, 2),
    ("integer inputs, 2 images, 2 channels, 2 filters, 6x5, stride 2", 2, 2, 6, 5, 2, 3, 2, 0, "integer"),
    ("integer images (0..255), float weights and bias: a float output", 2, 1, 5, 5, 2, 3, 1, 1, "integer images"),
]

def _conv_with_slip(x, W, b, s, p, *, row_stride=None, bias_first_image_only=False):
    """conv2d_naive with a slip: ``row_stride`` the rows' step (1: the stride left out of the row window),
    ``bias_first_image_only`` b added to image 0's outputs only."""
    out = conv2d_naive(x, W, 0 * b, s, p)
    if row_stride is not None:
        x_pad, k = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p))), W.shape[2]
        for y, x_ in np.ndindex(*out.shape[2:]):
            patch = x_pad[:, :, row_stride * y:row_stride * y + k, s * x_:s * x_ + k]
            out[:, :, y, x_] = np.tensordot(patch, W, axes=([1, 2, 3], [1, 2, 3]))
    out[:1 if bias_first_image_only else None] += b.reshape(-1, 1, 1)
    return out


check_conv2d_forward_loops = Exercise("conv2d_forward_loops", lambda: [
    Case(description, (x, W, b, s, p), conv2d_naive(x, W, b, s, p),
         "out[n, f, y, x] = b[f] + sum over c, i, j of W[f, c, i, j] * x_pad[n, c, s*y + i, s*x + j]")
    for description, x, W, b, s, p in conv_layer_inputs(case_rng(20), _CONV_FORWARD_SETTINGS)
], [Mistake(name, wrong, fix) for name, wrong, fix in _CONV_FORWARD_MISTAKES] + [
    Mistake("the bias forgotten", lambda x, W, b, s, p: conv2d_naive(x, W, 0 * b, s, p),
            "add b[f] to every output of filter f"),
    Mistake("the channels not summed: each channel's result overwrites the previous one (= instead of +=)",
            lambda x, W, b, s, p: conv2d_naive(x[:, -1:], W[:, -1:], b, s, p),
            "a filter adds up its C channels: sum over c (np.sum over the whole (C, k, k) patch, or +=)"),
    Mistake("only the first channel used", lambda x, W, b, s, p: conv2d_naive(x[:, :1], W[:, :1], b, s, p),
            "the patch is x_pad[n, :, ...], all C channels, times W[f], all C channels"),
    Mistake("the stride left out of the row window (rows y:y + k, columns s*x:s*x + k)",
            lambda x, W, b, s, p: _conv_with_slip(x, W, b, s, p, row_stride=1),
            "output (y, x) reads the patch at rows s*y:s*y + k AND columns s*x:s*x + k"),
    Mistake("the kernel transposed (W[f, c, j, i] instead of W[f, c, i, j])",
            lambda x, W, b, s, p: conv2d_naive(x, W.transpose(0, 1, 3, 2), b, s, p),
            "multiply the patch by W[f] as it is: patch row i with kernel row i"),
    Mistake("the bias added to the first image's outputs only",
            lambda x, W, b, s, p: _conv_with_slip(x, W, b, s, p, bias_first_image_only=True),
            "every output of filter f, for every image n, gets + b[f]"),
], reference=conv2d_naive, doc="""Notebook 02, ``conv2d_forward_loops(x (N, C, H, W), W (F, C, k, k), b (F,), stride, padding)
    -> (N, F, H', W')``.""")


# --- shapes ------------------------------------------------------------------------------

def _predicted_output_shape_cases():
    layer = Conv2D(3, 8, kernel_size=5, stride=2, padding=1, rng=np.random.default_rng(0), dtype=np.float64)
    return [Case("Conv2D(3, 8, kernel_size=5, stride=2, padding=1) on (4, 3, 32, 32)", (),
                 tuple(layer.forward(np.zeros((4, 3, 32, 32))).shape),
                 "(N, F, H', W') with H' = (32 + 2*1 - 5) // 2 + 1", rtol=0, atol=0)]


check_predicted_output_shape = Exercise("predicted_output_shape", _predicted_output_shape_cases, [
    Mistake("the input's 3 channels instead of the 8 filters", lambda: (4, 3, 15, 15),
            "the output has one channel per filter: F = 8"),
    Mistake("the stride ignored", lambda: (4, 8, 30, 30), "with stride 2, H' = (32 + 2 - 5) // 2 + 1"),
    Mistake("the padding ignored", lambda: (4, 8, 14, 14), "padding 1 adds a pixel on both sides: 32 + 2"),
    Mistake("rounded up", lambda: (4, 8, 16, 16), "(34 - 5) // 2 = 14 rounds down; then + 1"),
    Mistake("channels last (N, H', W', F)", lambda: (4, 15, 15, 8), "the course's layout is NCHW: (N, F, H', W')"),
], doc="""Notebook 02, ``predicted_output_shape()``: the shape of
    Conv2D(3, 8, kernel_size=5, stride=2, padding=1) applied to x of shape (4, 3, 32, 32).""")


_IM2COL_SHAPE_SETTINGS = [     # (description, (x_shape, k, s, p))
    ("the worked example: (1, 1, 3, 3), k 2", ((1, 1, 3, 3), 2, 1, 0)),
    ("3 channels, 2 images, padding 1", ((2, 3, 5, 5), 3, 1, 1)),
    ("(4, 8, 28, 28), k 3, stride 2, padding 1", ((4, 8, 28, 28), 3, 2, 1)),
    ("odd and non-square: (3, 2, 7, 6), k 3, stride 2", ((3, 2, 7, 6), 3, 2, 0)),
]


def _output_positions(shape, k, s, p):
    """H' * W' of a convolution over inputs of ``shape`` (N, C, H, W)."""
    return conv_output_size(shape[2], k, s, p) * conv_output_size(shape[3], k, s, p)


def _secret_shapes(settings, seed):
    """``settings`` (description, (x_shape, k, s, p)) as written; inside secret_cases, other batch sizes
    and channels, and H and W grown by random multiples of s (the same remainders)."""
    secret = secret_rng(seed)
    if secret is None:
        return settings
    varied = []
    for _, ((N, C, H, W), k, s, p) in settings:
        shape = (int(secret.integers(1, 9)), int(secret.integers(1, 9)),
                 H + s * int(secret.integers(1, 6)), W + s * int(secret.integers(1, 6)))
        varied.append((f"{shape}, k {k}, stride {s}, padding {p}", (shape, k, s, p)))
    return varied


check_im2col_shape = Exercise("im2col_shape", lambda: [
    Case(description, args, tuple(im2col(np.zeros(args[0]), *args[1:]).shape),
         "rows: one per kernel weight of a filter; columns: one per output position of the whole batch",
         rtol=0, atol=0) for description, args in _secret_shapes(_IM2COL_SHAPE_SETTINGS, 22)
], [
    Mistake("the channels left out of the rows (k*k instead of C*k*k)",
            lambda shape, k, s, p: (k * k, shape[0] * _output_positions(shape, k, s, p)),
            "a column holds the whole patch, all C channels: C*k*k rows"),
    Mistake("the batch left out of the columns (H'*W' instead of N*H'*W')",
            lambda shape, k, s, p: (shape[1] * k * k, _output_positions(shape, k, s, p)),
            "every image of the batch adds its own H'*W' columns"),
    Mistake("rows and columns swapped",
            lambda shape, k, s, p: (shape[0] * _output_positions(shape, k, s, p), shape[1] * k * k),
            "im2col puts each patch in a COLUMN: (C*k*k, N*H'*W')"),
    Mistake("the input size H*W instead of the output size H'*W' in the columns",
            lambda shape, k, s, p: (shape[1] * k * k, math.prod(shape[:1] + shape[2:])),
            "one column per OUTPUT position: H' = (H + 2p - k) // s + 1"),
], doc="Notebook 02, ``im2col_shape(x_shape, k, s, p) -> (rows, columns)`` of im2col's matrix.")
