"""Exercise checks of notebook 04 (max pooling), each an Exercise: its cases and its known mistakes."""

from __future__ import annotations

from functools import partial

import numpy as np

from scratchcnn import MaxPool2D, conv_output_size, maxpool2d_backward_naive, maxpool2d_naive

from .common_mistakes import maxpool_backward_slipped, stride_ignored_pool
from .framework import Case, Exercise, Mistake, case_rng


# --- maxpool_forward --------------------------------------------------------------------

def _maxpool_forward_cases():
    rng = case_rng(40)
    settings = [   # (description, x, kernel_size, stride)
        ("4x4 input, kernel 2, stride 2", rng.permutation(16).reshape(1, 1, 4, 4).astype(np.float64), 2, 2),
        ("all-negative input", -0.5 - rng.random((1, 1, 4, 4)), 2, 2),
        ("kernel 3, stride 2 on 7x7 (overlapping windows)", rng.standard_normal((1, 1, 7, 7)), 3, 2),
        ("non-square 5x8, kernel 2, stride 2 (the last row is dropped)", rng.standard_normal((1, 2, 5, 8)), 2, 2),
        ("non-square 9x6, kernel 3, stride 2, 2 images, 3 channels", rng.standard_normal((2, 3, 9, 6)), 3, 2),
        ("integer input, kernel 2, stride 1", rng.integers(-5, 5, (1, 1, 4, 5)), 2, 1),
    ]
    return [Case(description, (x, k, s), maxpool2d_naive(x, k, s),
                 "out[n, c, y, x] = max of x[n, c, s*y:s*y + k, s*x:s*x + k];  H' = (H - k) // s + 1")
            for description, x, k, s in settings]


def _partial_windows(x, k, s):
    """Max pooling with H' rounded up: windows that stick out are pooled too."""
    pad = [(0, 0), (0, 0)] + [(0, (-(size - k) % s)) for size in x.shape[2:]]
    return maxpool2d_naive(np.pad(x.astype(np.float64), pad, constant_values=-np.inf), k, s)


def _average_pool(x, k, s):
    """The mean of each window, in an output array made like x (dtype=x.dtype truncates integer means)."""
    H_out, W_out = conv_output_size(x.shape[2], k, s, 0), conv_output_size(x.shape[3], k, s, 0)
    means = np.array([[x[:, :, y * s:y * s + k, v * s:v * s + k].mean(axis=(2, 3)) for v in range(W_out)]
                      for y in range(H_out)]).transpose(2, 3, 0, 1)
    return means.astype(x.dtype)


check_maxpool_forward = Exercise("maxpool_forward", _maxpool_forward_cases, [
    Mistake("the running maximum started at 0", lambda x, k, s: np.maximum(maxpool2d_naive(x, k, s), 0),
            "start at -inf or at the window's first value: here every value is negative"),
    Mistake("the window at (y, x) instead of (s*y, s*x) (stride ignored inside the loop)", stride_ignored_pool,
            "window (y, x) starts at row s*y and column s*x"),
    Mistake("H' rounded up (windows that stick out are pooled too)", _partial_windows,
            "a window must fit: H' = (H - k) // s + 1, leftover rows and columns are dropped"),
    Mistake("the output one row and one column too small (the + 1 of H' forgotten)",
            lambda x, k, s: maxpool2d_naive(x, k, s)[:, :, :-1, :-1], "H' = (H - k) // s + 1"),
    Mistake("the mean of each window instead of its maximum", _average_pool, "max pooling keeps the LARGEST value"),
], reference=maxpool2d_naive, doc="Notebook 04, ``maxpool_forward(x (N, C, H, W), kernel_size, stride) -> (N, C, H', W')``, with loops.")


# --- maxpool_backward -------------------------------------------------------------------

def _tie_windows():
    """A 4 x 4 image whose four 2 x 2 windows tie in different ways:
    all zero (as after a ReLU), two 3s, four 5s, and two 2s on a diagonal."""
    return np.array([[0., 0., 1., 3.],
                     [0., 0., 3., 0.],
                     [5., 5., 2., 0.],
                     [5., 5., 0., 2.]])[None, None]


def _winner_slipped(x, dout, k, s, *, argmin=False, swapped=False, stride_left_out=False):
    """maxpool backward with a slip in sending dout to the winner: ``argmin`` the window's first minimum,
    ``swapped`` (i, j) read as (j, i), ``stride_left_out`` the winner at (y + i, x + j)."""
    dx = np.zeros(x.shape)
    for n, c, y, x_ in np.ndindex(*dout.shape):
        window = x[n, c, y * s:y * s + k, x_ * s:x_ * s + k]
        i, j = np.unravel_index(np.argmin(window) if argmin else np.argmax(window), window.shape)
        i, j = (j, i) if swapped else (i, j)
        dx[n, c, (1 if stride_left_out else s) * y + i, (1 if stride_left_out else s) * x_ + j] += dout[n, c, y, x_]
    return dx


def _maxpool_backward_cases():
    rng = case_rng(41)
    overlapping = rng.standard_normal((1, 1, 7, 7))
    overlapping[0, 0, 2, 2] = overlapping[0, 0, 4, 4] = 10.0   # each wins several windows
    settings = [   # (description, x, kernel_size, stride)
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
    return cases


check_maxpool_backward = Exercise("maxpool_backward", _maxpool_backward_cases, [
    Mistake("= instead of += (a pixel that wins several overlapping windows keeps only the last gradient)",
            partial(maxpool_backward_slipped, assign=True), "windows overlap when k > s: dx[...] += dout[...]"),
    Mistake("every tied position gets the gradient", partial(maxpool_backward_slipped, all_ties=True),
            "exactly one winner per window, the first maximum (np.argmax): otherwise a tie multiplies the gradient"),
    Mistake("the LAST maximum wins ties instead of the first", partial(maxpool_backward_slipped, last_max=True),
            "np.argmax returns the first maximum in row-major order; the module uses that one"),
    Mistake("the whole window gets the gradient", partial(maxpool_backward_slipped, whole_window=True),
            "only the window's maximum influenced the output: only it gets dout"),
    Mistake("the gradient shared evenly over the window, dout / k**2 to each position (average pooling's backward)",
            lambda x, dout, k, s: maxpool_backward_slipped(x, dout, k, s, whole_window=True) / (k * k),
            "max pooling passed on only the window's maximum: all of dout goes to that one position"),
    Mistake("the window at (y, x) instead of (s*y, s*x) (stride ignored)",
            lambda x, dout, k, s: maxpool2d_backward_naive(x, dout, k, 1),
            "window (y, x) starts at (s*y, s*x): the winner is at (s*y + i, s*x + j)"),
    Mistake("the winner's gradient sent to (y + i, x + j) (the stride left out of dx's index)",
            partial(_winner_slipped, stride_left_out=True),
            "window (y, x) starts at (s*y, s*x): its winner (i, j) is at dx[n, c, s*y + i, s*x + j]"),
    Mistake("the window's minimum gets the gradient (np.argmin instead of np.argmax)",
            partial(_winner_slipped, argmin=True),
            "max pooling passed on the LARGEST value: np.argmax finds it"),
    Mistake("the winner's row and column swapped (j, i instead of i, j)", partial(_winner_slipped, swapped=True),
            "np.unravel_index(np.argmax(window), window.shape) returns (row i, column j) in that order"),
], reference=maxpool2d_backward_naive, doc="""Notebook 04, ``maxpool_backward(x (N, C, H, W), dout (N, C, H', W'), kernel_size, stride) -> dx``:
    each window sends its dout to ONE position, its first maximum, and overlapping windows add up.""")


# --- pooled_shape and centre_gradient ---------------------------------------------------------

check_pooled_shape = Exercise("pooled_shape", lambda: [
    Case("kernel 3, stride 2 on a (1, 1, 7, 7) input", (), tuple(MaxPool2D(3, 2).forward(np.zeros((1, 1, 7, 7))).shape),
         "H' = (H - k) // s + 1: windows start at 0, 2, 4; one starting at 6 would stick out", rtol=0, atol=0),
], [
    Mistake("H / s rounded up (7 / 2 -> 4)", lambda: (1, 1, 4, 4), "the window must fit: (7 - 3) // 2 + 1"),
    Mistake("the stride ignored (7 - 3 + 1)", lambda: (1, 1, 5, 5), "windows move 2 pixels: divide by s"),
    Mistake("only the two spatial sizes", lambda: (3, 3), "give all four axes (N, C, H', W')"),
    Mistake("the + 1 forgotten", lambda: (1, 1, 2, 2), "the + 1 counts the window at position 0"),
], doc="Notebook 04, ``pooled_shape()``: the output shape of MaxPool2D(kernel_size=3, stride=2) on (1, 1, 7, 7).")


def centre_gradient_example():
    """The setting of notebook 04's "predict the gradient" exercise: a 5 x 5
    image whose centre holds its largest value, pooled by MaxPool2D(3, stride=2)
    into 2 x 2, and the upstream gradient dout = [[1, 2], [3, 4]].
    Returns (x, dout)."""
    x = np.arange(25, dtype=np.float64).reshape(1, 1, 5, 5)
    x[0, 0, 2, 2] = 100.0
    dout = np.array([[1.0, 2.0], [3.0, 4.0]])[None, None]
    return x, dout


check_centre_gradient = Exercise("centre_gradient", lambda: [
    Case("centre pixel of a 5x5 image, kernel 3, stride 2, dout [[1, 2], [3, 4]]", (),
         float(maxpool2d_backward_naive(*centre_gradient_example(), 3, 2)[0, 0, 2, 2]),
         "which of the four windows contain the centre, and which of them does it win?"),
], [
    Mistake("only the last window's gradient (= instead of +=)", lambda: 4.0,
            "the centre wins all four windows and collects the SUM of their dout values"),
    Mistake("only the first window's gradient", lambda: 1.0, "the centre lies in all four windows and wins each"),
    Mistake("the mean of the four gradients", lambda: 2.5, "gradients of several uses add up; nothing is averaged"),
], doc="Notebook 04, ``centre_gradient()``: dx[0, 0, 2, 2] in ``centre_gradient_example()``.")
