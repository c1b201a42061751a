"""Exercise checks of notebook 03 (convolution, backward), each an Exercise: its cases and its known mistakes."""

from __future__ import annotations

import functools
from functools import partial

import numpy as np

from scratchcnn import col2im, conv2d_backward_naive, conv2d_naive, conv_output_size, numerical_gradient, relative_error

from .framework import Case, Exercise, Mistake, case_rng, secret_rng
from .notebook_02 import conv_layer_inputs


def _pad(x, p):
    """x (N, C, H, W) with p zeros around its two spatial axes."""
    return np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))


def _conv_backward_reference(x, W, dout, stride=1, padding=0):
    """conv2d_backward_naive in float64, so that integer inputs give float gradients: (dx, dW, db)."""
    return conv2d_backward_naive(np.asarray(x, np.float64), np.asarray(W, np.float64), dout, stride, padding)


# --- col2im_loops -------------------------------------------------------------------------

def _col2im_slipped(cols, x_shape, k, s=1, p=0, *, assign=False, swap_ij=False, column_uses_H=False,
                          stride_ignored=False, padding_kept=False, swap_uv=False):
    """col2im with six loops; the flags reproduce the typical mistakes of notebook 03's exercise."""
    N, C, H, W = x_shape
    H_out, W_out = conv_output_size(H, k, s, p), conv_output_size(W, k, s, p)
    dx_padded = np.zeros((N, C, H + 2 * p, W + 2 * p))
    step = 1 if stride_ignored else s
    for c, i, j, n, u, v in np.ndindex(C, k, k, N, H_out, W_out):
        row = c * k * k + (j * k + i if swap_ij else i * k + j)
        column = n * H_out * W_out + (v * H_out + u if swap_uv else u * (H_out if column_uses_H else W_out) + v)
        value = cols[row, column] if column < cols.shape[1] else 0.0
        if assign:
            dx_padded[n, c, step * u + i, step * v + j] = value
        else:
            dx_padded[n, c, step * u + i, step * v + j] += value
    return dx_padded if padding_kept else dx_padded[:, :, p:p + H, p:p + W]


def _col2im_loops_cases():
    rng = case_rng(3)
    settings = [   # (description, x_shape, k, s, p, columns)
        ("all-ones columns, (1, 1, 3, 3), k 2 (overlapping patches)", (1, 1, 3, 3), 2, 1, 0, "ones"),
        ("random columns, (1, 1, 4, 4), k 3", (1, 1, 4, 4), 3, 1, 0, "random"),
        ("2 images, 2 channels, 4x5, k 3, padding 1", (2, 2, 4, 5), 3, 1, 1, "random"),
        ("7x7, k 3, stride 2", (1, 1, 7, 7), 3, 2, 0, "random"),
        ("3 images, 2 channels, 5x6 (H' = 3, W' = 4), k 2, stride 2, padding 1", (3, 2, 5, 6), 2, 2, 1, "random"),
    ]
    cases = []
    for description, x_shape, k, s, p, kind in settings:
        N, C, H, W = x_shape
        shape = (C * k * k, N * conv_output_size(H, k, s, p) * conv_output_size(W, k, s, p))
        cols = np.ones(shape) if kind == "ones" else rng.standard_normal(shape)
        cases.append(Case(description, (cols, x_shape, k, s, p), col2im(cols, x_shape, k, s, p),
                          "dx_padded[n, c, s*u + i, s*v + j] += cols[c*k*k + i*k + j, n*H'*W' + u*W' + v], "
                          "then crop the padding"))
    return cases


check_col2im_loops = Exercise("col2im_loops", _col2im_loops_cases, [
    Mistake("= instead of += (overlapping patches keep only the last value)", partial(_col2im_slipped, assign=True),
            "a pixel in several patches collects ALL their values: dx_padded[...] += cols[row, column]"),
    Mistake("the column index with H' where W' belongs (n*H'*W' + u*H' + v)",
            partial(_col2im_slipped, column_uses_H=True),
            "columns are ordered (n, u, v): column = n*H'*W' + u*W' + v (a row of outputs is W' long)"),
    Mistake("u and v swapped in the column index (n*H'*W' + v*H' + u)", partial(_col2im_slipped, swap_uv=True),
            "columns are ordered (n, u, v), u the output row: column = n*H'*W' + u*W' + v"),
    Mistake("i and j swapped in the row index (c*k*k + j*k + i)", partial(_col2im_slipped, swap_ij=True),
            "rows are ordered (c, i, j), i the kernel row: row = c*k*k + i*k + j"),
    Mistake("the stride ignored (patch (u, v) placed at (u + i, v + j))", partial(_col2im_slipped, stride_ignored=True),
            "column (n, u, v) came from the patch starting at (s*u, s*v): add at (s*u + i, s*v + j)"),
    Mistake("the padding not cropped", partial(_col2im_slipped, padding_kept=True),
            "return dx_padded[:, :, p:p + H, p:p + W]: the padding zeros are not inputs"),
], reference=col2im, doc="Notebook 03, ``col2im_loops(cols (C*k*k, N*H'*W'), x_shape, k, s, p) -> (N, C, H, W)``, with loops.")


# --- bias_gradient --------------------------------------------------------------------------

def _bias_gradient_cases():
    rng = case_rng(4)
    douts = [("a batch of 4 images, 2 filters, 3x5", rng.standard_normal((4, 2, 3, 5))),
             ("1 image, 3 filters, 2x2 (a batch of one)", rng.standard_normal((1, 3, 2, 2))),
             ("2 images, 5 filters, 1x1 output", rng.standard_normal((2, 5, 1, 1))),
             ("3 images, 3 filters, 4x4 (N = F)", rng.standard_normal((3, 3, 4, 4)))]
    return [Case(description, (dout,), _conv_backward_reference(np.zeros((dout.shape[0], 1) + dout.shape[2:]),
                                                               np.zeros((dout.shape[1], 1, 1, 1)), dout)[2],
                 "db[f] = sum over n, y, x of dout[n, f, y, x]") for description, dout in douts]


check_bias_gradient = Exercise("bias_gradient", _bias_gradient_cases, [
    Mistake("the mean instead of the sum", lambda dout: dout.mean(axis=(0, 2, 3)),
            "b[f] is added to every output of filter f, and every use collects its gradient: a sum"),
    Mistake("summed over the wrong axis (the filters instead of the batch)", lambda dout: dout.sum(axis=(1, 2, 3)),
            "keep axis 1 (the filters): dout.sum(axis=(0, 2, 3))"),
    Mistake("only the first image of the batch", lambda dout: dout[0].sum(axis=(1, 2)),
            "sum over the whole batch too: axis 0"),
    Mistake("not summed over the batch (one row per image)", lambda dout: dout.sum(axis=(2, 3)),
            "the bias is shared by all images: sum over axis 0 as well"),
], doc="Notebook 03, ``bias_gradient(dout (N, F, H', W')) -> dL/db (F,)``.")


# --- predicted_gradients_1d -----------------------------------------------------------------

_X_1D, _W_1D, _G_1D = np.array([2.0, -1.0, 0.0, 3.0, 1.0]), np.array([1.0, -2.0, 3.0]), np.array([1.0, 0.0, -1.0])


@functools.lru_cache(maxsize=None)
def _gradients_1d():
    """(dL/dw, dL/dx) of L = sum(g * correlate(x, w, 'valid')), measured numerically."""
    x, w = _X_1D.copy(), _W_1D.copy()           # numerical_gradient nudges them in place
    loss = lambda: float(np.sum(_G_1D * np.correlate(x, w, "valid")))
    return numerical_gradient(loss, w), numerical_gradient(loss, x)


check_predicted_gradients_1d = Exercise("predicted_gradients_1d", lambda: [
    Case("(dL/dw, dL/dx) for x = (2, -1, 0, 3, 1), w = (1, -2, 3), g = (1, 0, -1)", (), _gradients_1d(),
         "dL/dw[j] = sum_t g[t] x[t + j];  dL/dx[i] = sum_t g[t] w[i - t] over the outputs t that used x[i]",
         atol=1e-6),
], [
    Mistake("dL/dx with the kernel not flipped",
            lambda: (_gradients_1d()[0], np.correlate(np.pad(_G_1D, 2), _W_1D, "valid")),
            "x[i] was used by output t with weight w[i - t]: the kernel index runs backwards (a flipped kernel)"),
    Mistake("dL/dw reversed (g convolved with x instead of correlated)",
            lambda: (np.convolve(_X_1D, _G_1D, "valid"), _gradients_1d()[1]),
            "dL/dw[j] = sum_t g[t] * x[t + j]: slide g along x starting at x[j]"),
    Mistake("dL/dx without the edges (a valid correlation instead of a full one)",
            lambda: (_gradients_1d()[0], np.correlate(_G_1D, _W_1D[::-1], "same")),
            "x[0] and x[4] are used by one output each: pad g with k - 1 = 2 zeros on both sides"),
    Mistake("dL/dw and dL/dx swapped", lambda: _gradients_1d()[::-1], "return (dL/dw, dL/dx) in that order"),
], doc="""Notebook 03, ``predicted_gradients_1d() -> (dL/dw, dL/dx)`` for y = correlate(x, w, 'valid'),
    L = sum(g * y), x = [2, -1, 0, 3, 1], w = [1, -2, 3], g = [1, 0, -1]; checked against numerical gradients.""")


# --- conv_backward_single and conv2d_backward_loops -------------------------------------------

def _backward_slipped(x, W, dout, s, p, *, assign_dx=False, assign_dW=False, flip=False):
    """conv2d_backward_naive with the typical slips of notebook 03's exercises."""
    k = W.shape[2]
    x_pad = _pad(x, p).astype(np.float64)
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


def _padding_kept(x, W, dout, s, p):
    """The conv backward on the padded input, its dx not cropped."""
    return _conv_backward_reference(_pad(x, p), W, dout, s, 0)


def _stride_ignored_backward(x, W, dout, s, p):
    """The conv backward with window (u, v) at (u, v): stride 1 throughout."""
    return _conv_backward_reference(x, W, dout, 1, p)


def _on_one_image(backward):
    """A 4-D conv backward (x, W, dout, s, p) -> (dx, dW, ...) used on one image, one kernel: (dimage, dkernel)."""
    return lambda image, kernel, dout, s, p: tuple(
        gradient[0, 0] for gradient in backward(image[None, None], kernel[None, None], dout[None, None], s, p)[:2])


def _conv_backward_single_cases():
    rng = case_rng(5)
    settings = [("4x4 image, 2x2 kernel", (4, 4), 2, 1, 0), ("5x6 image, asymmetric 3x3 kernel", (5, 6), 3, 1, 0),
                ("5x5 image, padding 1", (5, 5), 3, 1, 1), ("7x7 image, stride 2", (7, 7), 3, 2, 0),
                ("6x5 image, stride 2 (does not divide), padding 1", (6, 5), 3, 2, 1)]
    cases = []
    for description, image_shape, k, s, p in settings:
        image, kernel = rng.standard_normal(image_shape), rng.standard_normal((k, k))
        dout = rng.standard_normal([conv_output_size(size, k, s, p) for size in image_shape])
        cases.append(Case(description, (image, kernel, dout, s, p),
                          _on_one_image(_conv_backward_reference)(image, kernel, dout, s, p),
                          "for every output (u, v): dkernel += dout[u, v] * patch, and the patch's pixels "
                          "+= dout[u, v] * kernel"))
    return cases


check_conv_backward_single = Exercise("conv_backward_single", _conv_backward_single_cases, [
    Mistake("= instead of += when adding into dimage (overlapping windows)",
            _on_one_image(partial(_backward_slipped, assign_dx=True)),
            "neighbouring windows share pixels; each pixel collects the gradient of every window: +="),
    Mistake("= instead of += when adding into dkernel", _on_one_image(partial(_backward_slipped, assign_dW=True)),
            "every output position uses the kernel: dkernel += dout[u, v] * patch"),
    Mistake("the kernel flipped in dimage", _on_one_image(partial(_backward_slipped, flip=True)),
            "in the loop form the pixel at offset (i, j) of a window gets dout[u, v] * kernel[i, j], not flipped"),
    Mistake("the padding not cropped from dimage", _on_one_image(_padding_kept),
            "accumulate into the padded image, then return dpadded[p:p + H, p:p + W]"),
    Mistake("the stride ignored (window (u, v) at (u, v) instead of (s*u, s*v))",
            _on_one_image(_stride_ignored_backward),
            "output (u, v) read the patch starting at (s*u, s*v); send its gradient back there"),
], reference=_on_one_image(_conv_backward_reference), doc="""Notebook 03, ``conv_backward_single(image (H, W), kernel (k, k), dout (H', W'), stride, padding)
    -> (dimage, dkernel)``, with loops.""")


def _conv_backward_cases(seed, settings, hint):
    """Cases (x, W, dout, stride, padding) -> (dx, dW, db) for each conv_layer_inputs setting, dout random."""
    rng = case_rng(seed)
    cases = []
    for description, x, W, _, s, p in conv_layer_inputs(rng, settings):
        dout = rng.standard_normal(conv2d_naive(x, W, np.zeros(W.shape[0]), s, p).shape)
        cases.append(Case(description, (x, W, dout, s, p), _conv_backward_reference(x, W, dout, s, p), hint))
    return cases


def _one_gradient_replaced(position, new):
    """The right (dx, dW, db), with gradient number ``position`` replaced by new(x, W, dout, gradients)."""
    def wrong(x, W, dout, s, p):
        gradients = list(_conv_backward_reference(x, W, dout, s, p))
        gradients[position] = new(x, W, dout, gradients)
        return tuple(gradients)
    return wrong


_DB_AS_MEAN = Mistake("db as the mean instead of the sum",
                      _one_gradient_replaced(2, lambda x, W, dout, gradients: dout.mean(axis=(0, 2, 3))),
                      "db[f] = dout[:, f].sum(): every output of filter f used b[f] once")
_DX_NOT_CROPPED = Mistake("the padding not cropped from dx", _padding_kept,
                          "the padding zeros are not inputs: return dx_pad[:, :, p:p + H, p:p + W]")

check_conv2d_backward_loops = Exercise("conv2d_backward_loops", lambda: _conv_backward_cases(30, [
    ("1 image, 1 channel, 1 filter, 4x4, k 2", 1, 1, 4, 4, 1, 2, 1, 0),
    ("2 images, 3 channels, 2 filters, 5x5, k 3, padding 1", 2, 3, 5, 5, 2, 3, 1, 1),
    ("stride 2 and padding 1, non-square 7x6, 2 channels, 3 filters", 2, 2, 7, 6, 3, 3, 2, 1),
    ("a batch of one, 8x9, k 3, stride 2 (does not divide), padding 2", 1, 2, 8, 9, 2, 3, 2, 2),
    ("integer inputs, 3 images, stride 2, no padding", 3, 2, 6, 5, 2, 3, 2, 0, "integer"),
    ("integer images (0..255), float weights: float gradients", 2, 1, 5, 5, 2, 3, 1, 1, "integer images"),
], "for every (n, f, u, v) and its window of x_pad: dW[f] += dout * window, dx_pad[window] += dout * W[f], "
   "db[f] += dout; then crop dx_pad. Start dx_pad and dW as float arrays: np.zeros_like of an integer array "
   "is an integer array"), [
    Mistake("dL/dx as a full correlation with the kernel NOT flipped", partial(_backward_slipped, flip=True),
            "x_pad[s*u + i] was used with weight W[i]: as a correlation over dout the kernel comes out flipped "
            "(in the loop form, add dout * W[f] without flipping)"),
    Mistake("= instead of += in dx (overlapping windows and several filters)",
            partial(_backward_slipped, assign_dx=True),
            "a pixel collects the gradient of every window and every filter that used it: +="),
    Mistake("= instead of += in dW (only the last position's contribution kept)",
            partial(_backward_slipped, assign_dW=True),
            "dW[f] sums over every image and every output position"),
    Mistake("the stride ignored (dW from the undilated gradient, windows at (u, v))", _stride_ignored_backward,
            "output (u, v) read the window at (s*u, s*v): the entries of dout sit s pixels apart "
            "(the dilated gradient)"),
    _DX_NOT_CROPPED,
    _DB_AS_MEAN,
    Mistake("db summed over the wrong axes",
            _one_gradient_replaced(2, lambda x, W, dout, gradients: dout.sum(axis=(1, 2, 3))),
            "keep the filter axis: dout.sum(axis=(0, 2, 3))"),
    Mistake("dW divided by N (a mean over the batch)",
            _one_gradient_replaced(1, lambda x, W, dout, gradients: gradients[1] / len(x)),
            "the loss already holds its 1/N; a layer's backward only sums"),
    Mistake("db[f] = instead of += (only the last image's last dout kept)",
            _one_gradient_replaced(2, lambda x, W, dout, gradients: dout[-1, :, -1, -1].astype(np.float64)),
            "db[f] sums dout over every image and every output position: db[f] += dout[n, f, u, v]"),
], reference=_conv_backward_reference, doc="""Notebook 03, ``conv2d_backward_loops(x (N, C, H, W), W (F, C, k, k), dout (N, F, H', W'), stride, padding)
    -> (dx, dW, db)``: the whole layer's backward pass.""")


# --- dilate and conv2d_backward_by_correlation ---------------------------------------------

def _dilate_reference(G, s):
    N, F, H_out, W_out = G.shape
    spread = np.zeros((N, F, s * (H_out - 1) + 1, s * (W_out - 1) + 1), dtype=np.result_type(G, np.float64))
    spread[:, :, ::s, ::s] = G
    return spread


def _dilate_cases():
    rng = case_rng(31)
    inputs = [("a 2x2 map, s = 2", np.array([[[[1.0, 2.0], [3.0, 4.0]]]]), 2),
              ("s = 1 changes nothing", rng.standard_normal((1, 2, 3, 3)), 1),
              ("non-square 2x3 maps, 2 images, 2 filters, s = 3", rng.standard_normal((2, 2, 2, 3)), 3),
              ("a 1x1 map, s = 2", rng.standard_normal((1, 1, 1, 1)), 2)]
    return [Case(description, (G, s), _dilate_reference(G, s), "put G[..., u, v] at (s*u, s*v) of a zero array")
            for description, G, s in inputs]


def _spread(G, step, extra=0):
    """G's entries ``step`` apart on zeros, with ``extra`` more zeros after the last row and column."""
    N, F, H_out, W_out = G.shape
    out = np.zeros((N, F, step * (H_out - 1) + 1 + extra, step * (W_out - 1) + 1 + extra))
    out[:, :, :step * (H_out - 1) + 1:step, :step * (W_out - 1) + 1:step] = G
    return out


check_dilate = Exercise("dilate", _dilate_cases, [
    Mistake("s - 1 zeros after the last entry too (size s*H' instead of s*(H' - 1) + 1)",
            lambda G, s: _spread(G, s, extra=s - 1), "no zeros after the last entry: the size is s*(H' - 1) + 1"),
    Mistake("s zeros between neighbours instead of s - 1", lambda G, s: _spread(G, s + 1),
            "neighbours end up s pixels apart, so there are s - 1 zeros between them"),
    Mistake("each entry repeated (np.repeat) instead of spread with zeros",
            lambda G, s: np.repeat(np.repeat(G, s, axis=2), s, axis=3),
            "the new positions are zeros: spread[:, :, ::s, ::s] = G on np.zeros"),
    Mistake("only the rows dilated", lambda G, s: _dilate_reference(G, s)[:, :, :, ::s],
            "dilate both spatial axes, rows and columns"),
], reference=_dilate_reference, doc="Notebook 03, ``dilate(G (N, F, H', W'), s) -> (N, F, s(H'-1)+1, s(W'-1)+1)``: s - 1 zeros between neighbours.")


def _correlation_slipped(x, W, dout, s, p, *, flip=True, dilate=True, cut=True):
    """Notebook 03's correlation form of the conv backward, with switches for its typical mistakes:
    dx as a full correlation of the (dilated) gradient with the kernel flipped or not, dW as the padded
    input correlated with the (dilated or not) gradient, cut to the first k offsets or not."""
    x = _pad(np.asarray(x, np.float64), p)
    k = W.shape[2]
    G = _dilate_reference(dout, s) if dilate else np.asarray(dout, np.float64)

    def correlate(inputs, kernels):          # (N, C, H, W) with (F, C, kh, kw) -> (N, F, H-kh+1, W-kw+1)
        H_out, W_out = inputs.shape[2] - kernels.shape[2] + 1, inputs.shape[3] - kernels.shape[3] + 1
        return sum(np.einsum("nchw,fc->nfhw", inputs[:, :, i:i + H_out, j:j + W_out], kernels[:, :, i, j])
                   for i in range(kernels.shape[2]) for j in range(kernels.shape[3]))

    dW = correlate(x.transpose(1, 0, 2, 3), G.transpose(1, 0, 2, 3)).transpose(1, 0, 2, 3)
    dW = dW[:, :, :k, :k] if cut else dW
    kernel = np.flip(W, flip) if isinstance(flip, tuple) else W[:, :, ::-1, ::-1] if flip else W
    dx = correlate(_pad(G, k - 1), kernel.transpose(1, 0, 2, 3))
    dx = np.pad(dx, ((0, 0), (0, 0), (0, max(x.shape[2] - dx.shape[2], 0)), (0, max(x.shape[3] - dx.shape[3], 0))))
    return dx[:, :, p:x.shape[2] - p, p:x.shape[3] - p], dW, dout.sum(axis=(0, 2, 3))


check_conv2d_backward_by_correlation = Exercise("conv2d_backward_by_correlation", lambda: _conv_backward_cases(32, [
    ("1 image, 1 channel, 1 filter, 5x5, k 3, stride 1", 1, 1, 5, 5, 1, 3, 1, 0),
    ("2 images, 3 channels, 2 filters, 5x6, k 3, padding 1", 2, 3, 5, 6, 2, 3, 1, 1),
    ("stride 2 and padding 1, non-square 7x6, 2 channels, 3 filters", 2, 2, 7, 6, 3, 3, 2, 1),
    ("a batch of one, 8x9, k 3, stride 2 (does not divide), padding 2", 1, 2, 8, 9, 2, 3, 2, 2),
    ("stride 3, k 2, 9x8, 3 images", 3, 2, 9, 8, 2, 2, 3, 0),
    ("integer images (0..255), float weights: float gradients", 2, 1, 5, 5, 2, 3, 1, 1, "integer images"),
], "dW: the padded input correlated with the dilated gradient, first k offsets; dx: the dilated gradient padded "
   "by k - 1 and correlated with the flipped kernel (W[:, :, ::-1, ::-1]: a transpose is not a flip), filters and "
   "channels swapped; rows no window reached get 0; crop the padding"), [
    Mistake("dL/dx correlated with the kernel NOT flipped", partial(_correlation_slipped, flip=False),
            "the kernel index runs backwards in dL/dx: use W[:, :, ::-1, ::-1]"),
    Mistake("dL/dx with the kernel flipped along its rows only (W[:, :, ::-1])",
            partial(_correlation_slipped, flip=(2,)),
            "flip both kernel axes, rows and columns: W[:, :, ::-1, ::-1]"),
    Mistake("dL/dx with the kernel flipped along its columns only (W[:, :, :, ::-1])",
            partial(_correlation_slipped, flip=(3,)), "flip both kernel axes, rows and columns: W[:, :, ::-1, ::-1]"),
    Mistake("the gradient not dilated (stride s > 1 needs s - 1 zeros between its entries)",
            partial(_correlation_slipped, dilate=False),
            "neighbouring outputs read windows s pixels apart: spread dout with s - 1 zeros first"),
    Mistake("dW not cut to the first k offsets", partial(_correlation_slipped, cut=False),
            "only offsets 0 .. k - 1 of the correlation are weights: [:, :, :k, :k]"),
    _DX_NOT_CROPPED,
    _DB_AS_MEAN,
], reference=_conv_backward_reference, doc="""Notebook 03, ``conv2d_backward_by_correlation(x, W, dout, stride, padding) -> (dx, dW, db)``:
    the same gradients as correlations (dilated gradient, flipped kernel), checked like the loop version.""")


# --- my_relative_error ---------------------------------------------------------------------

_RELATIVE_ERROR_SETTINGS = [     # (description, analytic, numeric)
    ("identical arrays", [1.0, -2.0, 3.0], [1.0, -2.0, 3.0]),
    ("[1, 2] against [1.1, 2]", [1.0, 2.0], [1.1, 2.0]),
    ("tiny gradients [1e-9, 2e-9] against [1.1e-9, 2e-9]", [1e-9, 2e-9], [1.1e-9, 2e-9]),
    ("opposite signs [1, 5] against [-1, 5]", [1.0, 5.0], [-1.0, 5.0]),
    ("both zero in some entries", [0.0, 1.0], [0.0, 1.0001]),
    ("2-D arrays, one entry 0 against 1e-3", [[0.5, -1.0], [2.0, 0.0]], [[0.5, -1.01], [2.0, 1e-3]]),
    ("large gradients [1000, 10] against [1001, 12]", [1000.0, 10.0], [1001.0, 12.0]),
]

def _relative_error_cases():
    """The settings as written; inside secret_cases, each pair of entries times one random positive
    factor: the same relative errors at the same places (equal entries stay equal, zeros zero), other
    values. The descriptions then say the point without the public numbers."""
    secret, cases = secret_rng(30), []
    for description, a, n in _RELATIVE_ERROR_SETTINGS:
        a, n = np.array(a), np.array(n)
        if secret is not None:
            factor = secret.uniform(0.5, 2.0, a.shape)
            a, n, description = a * factor, n * factor, description.split(" [")[0].split(",")[0]
        cases.append(Case(description, (a, n), relative_error(a, n),
                          "element-wise |a - n| / max(|a| + |n|, 1e-12), then the maximum over all elements"))
    return cases


check_my_relative_error = Exercise("my_relative_error", _relative_error_cases, [
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
], doc="Notebook 03, ``my_relative_error(analytic, numeric) -> max_i |a_i - n_i| / max(|a_i| + |n_i|, 1e-12)``.")
