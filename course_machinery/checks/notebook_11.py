"""Exercise checks of notebook 11: find the bug."""

from __future__ import annotations

from functools import partial

import numpy as np

from scratchcnn import (ReLU, SoftmaxCrossEntropy, conv2d_naive, conv_output_size, im2col,
                        maxpool2d_backward_naive, maxpool2d_naive, softmax)

from .common_mistakes import (maxpool_backward_slipped, softmax_gradient_every_label_in_every_row,
                              softmax_shifted, stride_ignored_conv)
from .framework import Case, Exercise, Mistake, _short, case_rng, varied_settings
from .notebook_07 import adam_update
from .shared import reference_cases


# Each of the notebook's eight bugs has two exercises: a diagnosis (a function
# returning the key of one suspect) and a fix. A wrong diagnosis is told what
# the suspect it named would mean and which evidence rules it out; a fix is run
# on its cases. A fix that behaves exactly like the function the notebook
# gave is told only that it is still wrong: naming the bug would answer the
# diagnosis, so the student must still find it.

class _Diagnosis(Exercise):
    """An Exercise whose answer may also be the key itself, a bare string."""

    def as_called(self, answer):
        return super().as_called((lambda: answer) if isinstance(answer, str) else answer)


def _read_diagnosis(answer):
    """``answer`` as a function returning its key tidied: quotes, case, spaces and hyphens don't matter."""
    def diagnosis():
        given = answer()
        if isinstance(given, str):
            given = given.strip().strip("'\"").strip().lower().replace(" ", "_").replace("-", "_")
        return given
    return diagnosis


def still_the_given_function(given_name, produce):
    """The Mistake of a fix that behaves exactly like the buggy function the notebook gave, named
    without naming its bug (that is the diagnosis exercise's answer)."""
    return Mistake(f"this is still wrong: it behaves exactly like {given_name}, the function you were given",
                   produce, "find what is wrong: run the notebook's alarm on your function, then vary one thing "
                   "at a time and read the pattern of the error")


def diagnosis(name, culprit, suspects, doc):
    """A diagnosis exercise: ``answer()`` returns the key of the suspect that is the bug.

    suspects: {key: (what that bug would be, the evidence that rules it out)}; every
    wrong key is a Mistake, so the verdict says what the student's choice would mean.
    The verdict never shows the right key."""
    keys = ", ".join(repr(key) for key in suspects)

    def compare(expected, actual, case):
        if isinstance(actual, str) and actual == expected:
            return None
        if isinstance(actual, str) and actual in suspects:
            return f"{actual!r} is not the bug"
        return f"got {_short(actual)}, which is not one of the keys {keys}"

    case = Case("your diagnosis", (), culprit,
                f"return one of the keys {keys}: the suspect whose symptoms match what the tool showed")
    mistakes = [Mistake(f"{key!r} ({meaning})", (lambda key=key: lambda: key)(), f"look again: {evidence}")
                for key, (meaning, evidence) in suspects.items() if key != culprit]
    return _Diagnosis(name, [case], mistakes, doc=doc, compare=compare, prepare=_read_diagnosis)


check_bug_in_conv_forward = diagnosis("bug_in_conv_forward", "flipped_kernel", {
    "flipped_kernel": ("the kernel is rotated by 180 degrees: a true convolution, not the course's "
                       "cross-correlation", ""),
    "stride": ("the windows start at the wrong places",
               "with stride 1 and no padding the output is still wrong, so the stride is not to blame"),
    "padding": ("the zeros are added on the wrong axes or in the wrong number",
                "without any padding the output is still wrong"),
    "bias": ("the bias goes to the wrong filter or is missing",
             "with b = 0 the difference from conv2d_naive stays exactly the same"),
    "channels": ("the sum runs over the wrong axes",
                 "a 1x1 kernel, or any kernel equal to itself turned by 180 degrees, gives exactly "
                 "conv2d_naive's output over all channels: only the orientation of the kernel matters"),
}, doc="""Notebook 11, bug 1: ``bug_in_conv_forward()`` -> the key of the bug in buggy_conv_forward.""")


def _conv_cases():
    rng = case_rng(110)
    settings = []
    for index, (description, x_shape, W_shape, stride, padding) in enumerate([
            ("one image, one channel, one filter, stride 1", (1, 1, 5, 5), (1, 1, 3, 3), 1, 0),
            ("3 channels, 4 filters, stride 2, padding 1, non-square 7x6", (2, 3, 7, 6), (4, 3, 3, 3), 2, 1),
            ("kernel 2, stride 3 that does not divide (8x9)", (1, 2, 8, 9), (2, 2, 2, 2), 3, 0),
            ("integer image and kernel", (1, 2, 4, 4), (2, 2, 3, 3), 1, 1),
            ("integer image (0..255), float kernel: a float output", (2, 1, 5, 5), (2, 1, 3, 3), 1, 1)]):
        x, W, b = rng.standard_normal(x_shape), rng.standard_normal(W_shape), rng.standard_normal(W_shape[0])
        if index == 3:
            x, W, b = rng.integers(-3, 4, x_shape), rng.integers(-2, 3, W_shape), np.array([1, -1])
        if index == 4:
            x = rng.integers(0, 256, x_shape)
        settings.append((description, x, W, b, stride, padding))
    return reference_cases(conv2d_naive, settings, "out[n, f, y, x] = b[f] + sum over c, i, j of W[f, c, i, j] * "
                           "x_pad[n, c, y*stride + i, x*stride + j]: compare with scratchcnn.conv2d_naive")


check_fixed_conv_forward = Exercise("fixed_conv_forward", _conv_cases, [
    still_the_given_function("buggy_conv_forward",
                             lambda x, W, b, s, p: conv2d_naive(x, W[:, :, ::-1, ::-1], b, s, p)),
    Mistake("the kernel is flipped upside down only",
            lambda x, W, b, s, p: conv2d_naive(x, W[:, :, ::-1, :], b, s, p),
            "don't flip the kernel along any axis: remove the [::-1] altogether"),
    Mistake("the windows start at y and x instead of y*stride and x*stride", stride_ignored_conv,
            "window (y, x) starts at row y*stride and column x*stride of the padded input"),
    Mistake("the bias is missing", lambda x, W, b, s, p: conv2d_naive(x, W, np.zeros_like(b), s, p),
            "add b[f] to every output pixel of filter f"),
], doc="""Notebook 11, bug 1: ``fixed_conv_forward(x, W, b, stride, padding)`` -> (N, F, H', W'),
    the course's convolution (cross-correlation) of conv2d_naive.""")


check_bug_in_maxpool_backward = diagnosis("bug_in_maxpool_backward", "assign_not_add", {
    "assign_not_add": ("= instead of +=: a pixel that wins several overlapping windows keeps only the "
                       "gradient of the last one", ""),
    "wrong_winner": ("the gradient goes to a position of the window that is not its maximum",
                     "with kernel 2 and stride 2 the result equals maxpool2d_backward_naive's exactly, "
                     "so every window finds its winner"),
    "stride": ("the windows' offsets ignore the stride",
               "with kernel 2 and stride 2 it is right, and a stride slip would show there"),
    "ties": ("tied maxima share or mis-route the gradient",
             "random floats never tie, and it is still wrong with kernel 3, stride 2"),
}, doc="""Notebook 11, bug 2: ``bug_in_maxpool_backward()`` -> the key of the bug in buggy_maxpool_backward.""")


def _maxpool_backward_cases():
    rng = case_rng(111)
    overlapping = rng.standard_normal((1, 2, 7, 9))
    overlapping[0, 0, 2, 2] = overlapping[0, 1, 4, 4] = 10.0      # each wins four windows
    settings = []
    for description, x, k, s in [
            ("no overlap: kernel 2, stride 2", rng.standard_normal((2, 2, 4, 6)), 2, 2),
            ("overlapping windows: kernel 3, stride 2, non-square 7x9", overlapping, 3, 2),
            ("overlap and ties: kernel 3, stride 1, small integers", rng.integers(0, 3, (1, 2, 5, 5)), 3, 1),
            ("batch of one, kernel 2, stride 1", rng.standard_normal((1, 1, 4, 5)), 2, 1)]:
        x = x.astype(np.float64)
        dout = np.round(rng.standard_normal(maxpool2d_naive(x, k, s).shape), 2) + 3.0   # nonzero
        settings.append((description, x, dout, k, s))
    return reference_cases(maxpool2d_backward_naive, settings,
                           "each window sends its dout to its FIRST maximum (np.argmax), and a pixel that wins several "
                           "overlapping windows collects the sum: compare with scratchcnn.maxpool2d_backward_naive")


check_fixed_maxpool_backward = Exercise("fixed_maxpool_backward", _maxpool_backward_cases, [
    still_the_given_function("buggy_maxpool_backward", partial(maxpool_backward_slipped, assign=True)),
    Mistake("every tied maximum receives the gradient",
            partial(maxpool_backward_slipped, all_ties=True),
            "send each window's gradient to ONE position, the first maximum that np.argmax finds"),
    Mistake("on a tie the last maximum wins",
            partial(maxpool_backward_slipped, last_max=True),
            "take the first maximum in row-major order, as np.argmax(window) does"),
], doc="""Notebook 11, bug 2: ``fixed_maxpool_backward(x, dout, kernel_size, stride)`` -> dx (shape of x).""")


check_bug_in_softmax_cross_entropy = diagnosis("bug_in_softmax_cross_entropy", "missing_mean", {
    "missing_mean": ("the gradient is that of the SUMMED loss: 1/N is missing", ""),
    "wrong_labels": ("dlogits[:, labels] -= 1 subtracts 1 at every label of the batch in every row",
                     "that error would not be a constant factor: here analytic / numerical is exactly N "
                     "at every entry"),
    "unstable": ("exp overflows for large logits",
                 "these logits are small, nothing is nan or inf, and the loss value itself is right"),
    "sign": ("the gradient has the wrong sign, onehot - p",
             "then the ratio analytic / numerical would be negative, and wrong for a batch of one too"),
}, doc="""Notebook 11, bug 3: ``bug_in_softmax_cross_entropy()`` -> the key of the bug in
    buggy_softmax_cross_entropy.""")


def _softmax_cross_entropy(logits, labels):
    loss_fn = SoftmaxCrossEntropy()
    return loss_fn.forward(logits, labels), loss_fn.backward()


def _softmax_cross_entropy_cases():
    rng = case_rng(112)
    return reference_cases(_softmax_cross_entropy, varied_settings([
        ("batch of one", rng.standard_normal((1, 4)), np.array([2])),
        ("batch of 5, 3 classes, a repeated label", rng.standard_normal((5, 3)), np.array([0, 2, 2, 1, 0])),
        ("huge logits [[1000, 999, 995], [0, 1, 2]]", np.array([[1000.0, 999.0, 995.0], [0.0, 1.0, 2.0]]),
         np.array([1, 2])),
        ("batch of 8, 10 classes", 3 * rng.standard_normal((8, 10)), rng.integers(0, 10, 8)),
    ], 1120, integers=False), "the loss is the MEAN over the batch, so its gradient is (softmax - onehot) / N")


def _gradient_times(factor):
    """The right loss with its gradient multiplied by ``factor(logits, labels)``."""
    def produce(logits, labels):
        loss, dlogits = _softmax_cross_entropy(logits, labels)
        return loss, dlogits * factor(logits, labels)
    return produce


def _unstable_softmax_cross_entropy(logits, labels):
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    N = len(labels)
    dlogits = probs.copy()
    dlogits[np.arange(N), labels] -= 1
    return -np.log(probs[np.arange(N), labels]).mean(), dlogits / N


check_fixed_softmax_cross_entropy = Exercise("fixed_softmax_cross_entropy", _softmax_cross_entropy_cases, [
    still_the_given_function("buggy_softmax_cross_entropy", _gradient_times(lambda z, y: len(y))),
    Mistake("the gradient is divided by the number of classes K, not the batch size N",
            _gradient_times(lambda z, y: len(y) / z.shape[1]),
            "N is the number of rows, len(labels) or logits.shape[0], not logits.shape[1]"),
    Mistake("dlogits[:, labels] -= 1 hits every label in every row",
            lambda z, y: (_softmax_cross_entropy(z, y)[0], softmax_gradient_every_label_in_every_row(z, y)),
            "subtract 1 only at each row's own label: dlogits[np.arange(N), labels] -= 1"),
    Mistake("the softmax no longer subtracts the row maximum", _unstable_softmax_cross_entropy,
            "keep logits - logits.max(axis=1, keepdims=True) before exp: exp(1000) is inf"),
], doc="""Notebook 11, bug 3: ``fixed_softmax_cross_entropy(logits, labels)`` -> (mean loss, dlogits (N, K)).""")


check_bug_in_relu = diagnosis("bug_in_relu", "shared_array", {
    "shared_array": ("forward's output, its cache and the caller's x are one and the same array", ""),
    "forward_output": ("the forward output is wrong",
                       "the output equals scratchcnn.ReLU().forward(x) exactly"),
    "backward_mask": ("backward lets the gradient through at the wrong entries",
                      "on the same x and dout, dx equals scratchcnn.ReLU's backward exactly"),
    "kink": ("the gradient at exactly x = 0 is wrong",
             "relu_backward gives no gradient at x = 0, as scratchcnn.ReLU does, and scratchcnn.ReLU passes "
             "the same gradient check on the same x"),
}, doc="""Notebook 11, bug 4: ``bug_in_relu()`` -> the key of the bug in buggy_relu_forward/relu_backward.""")


def _given_relu_backward(dout, cache):
    """relu_backward as notebook 11 gives it (unchanged by the fix): scratchcnn.ReLU's mask x > 0."""
    return dout * (cache > 0)


def _relu_with_given_backward(answer):
    """``answer`` run as (out, dx from the notebook's relu_backward, whether x was left as it was).

    The answer gets a copy of x, so that this check, not the framework's in-place warning, reports an
    edited x: the warning would name the bug of buggy_relu_forward, which the diagnosis asks for."""
    def run(x, dout):
        given = x.copy()
        out, cache = answer(given)
        return out, _given_relu_backward(dout, cache), bool(np.array_equal(given, x))
    return run


def _relu_cases():
    rng = case_rng(113)
    cases = []
    for description, x in [("a row of mixed signs and exact zeros", np.array([[-2.0, -0.5, 0.0, 0.5, 2.0, -0.0]])),
                           ("a batch of 3 x 5", rng.standard_normal((3, 5))),
                           ("4-D activations (2, 3, 4, 4)", rng.standard_normal((2, 3, 4, 4)))]:
        dout = rng.standard_normal(x.shape)
        layer = ReLU()
        cases.append(Case(description, (x, dout), (layer.forward(x), layer.backward(dout), True),
                          "the result is (out, dx from relu_backward(dout, cache), whether the caller's x was left "
                          "as it was): compare with scratchcnn.ReLU, and change nothing you were given"))
    return cases


check_fixed_relu_forward = Exercise("fixed_relu_forward", _relu_cases, [
    still_the_given_function("buggy_relu_forward", lambda x, dout: (np.maximum(x, 0), dout * (x > 0), False)),
    Mistake("the output is not clipped any more", lambda x, dout: (x, dout * (x > 0), True),
            "the output is max(x, 0): np.maximum(x, 0) makes it as a new array"),
    Mistake("the cache lets the gradient through at x = 0 (a mask x >= 0, say)",
            lambda x, dout: (np.maximum(x, 0), dout * (x >= 0), True),
            "scratchcnn.ReLU gives no gradient at x = 0: cache something whose entries are > 0 exactly where "
            "x > 0 (x itself, for instance)"),
], prepare=_relu_with_given_backward, doc="""Notebook 11, bug 4: ``fixed_relu_forward(x)`` -> (out, cache),
    which the notebook's unchanged relu_backward(dout, cache) (mask cache > 0, as scratchcnn.ReLU)
    turns into the right dx. Checked: out, dx, and that x itself is left as it was.""")


check_bug_in_dropout = diagnosis("bug_in_dropout", "no_rescale", {
    "no_rescale": ("the kept units are not scaled by 1 / (1 - p): in training the next layer sees "
                   "activations (1 - p) times smaller on average than in evaluation", ""),
    "wrong_p": ("units are kept with probability p instead of 1 - p",
                "at p = 0.2 the measured kept fraction is 0.8 = 1 - p, as it should be"),
    "backward_mask": ("backward uses a different mask from forward",
                      "backward multiplies by the very mask forward returned"),
    "eval_mode": ("dropout is also applied in evaluation",
                  "the bug shows in training mode: its mean activation is (1 - p) times the evaluation one"),
}, doc="""Notebook 11, bug 5: ``bug_in_dropout()`` -> the key of the bug in buggy_dropout_forward.""")


def _dropout_with_given_backward(answer):
    """``answer`` run as (out, dx = dout * mask) with a generator seeded as the case says."""
    def run(x, dout, p, seed):
        out, mask = answer(x, p, np.random.default_rng(seed))
        return out, dout * mask
    return run


def _dropout(keep_rule="given", out_scale=lambda p: 1 / (1 - p), mask_scale=lambda p: 1 / (1 - p)):
    """Inverted dropout as a case sees it, (out, dx); the arguments make the typical mistakes."""
    def produce(x, dout, p, seed):
        u = np.random.default_rng(seed).random(x.shape)
        keep = (u >= p) if keep_rule == "given" else (u < 1 - p)
        return x * keep * out_scale(p), dout * keep * mask_scale(p)
    return produce


def _dropout_cases():
    rng = case_rng(114)
    settings = []
    for seed, (description, shape, p) in enumerate([
            ("p = 0.5, a batch of 4 x 6", (4, 6), 0.5), ("p = 0.2", (5, 8), 0.2),
            ("p = 0: nothing dropped", (3, 4), 0.0), ("4-D activations, p = 0.3", (2, 3, 4, 4), 0.3)]):
        settings.append((description, rng.standard_normal(shape), rng.standard_normal(shape), p, seed))
    return reference_cases(_dropout(), settings, "keep the draw keep = rng.random(x.shape) >= p, and scale the "
                           "kept units by 1 / (1 - p) in the output AND in the mask that backward uses")


check_fixed_dropout_forward = Exercise("fixed_dropout_forward", _dropout_cases, [
    still_the_given_function("buggy_dropout_forward", _dropout(out_scale=lambda p: 1, mask_scale=lambda p: 1)),
    Mistake("the kept units are multiplied by 1 - p instead of divided by it",
            _dropout(out_scale=lambda p: 1 - p, mask_scale=lambda p: 1 - p),
            "scale UP: divide by 1 - p (the survivors stand in for the dropped units)"),
    Mistake("the kept units are divided by p instead of 1 - p",
            _dropout(out_scale=lambda p: 1 / p, mask_scale=lambda p: 1 / p),
            "divide by the KEEP probability 1 - p (at p = 0.5 both are 2; at p = 0.2 they differ)"),
    Mistake("the output is rescaled but the returned mask is not, so backward's gradient is too small",
            _dropout(mask_scale=lambda p: 1),
            "scale the mask itself: mask = keep / (1 - p) and out = x * mask"),
    Mistake("the mask is drawn differently (rng.random(x.shape) < 1 - p)", _dropout(keep_rule="other"),
            "keep the notebook's draw keep = rng.random(x.shape) >= p: it was not the bug"),
], prepare=_dropout_with_given_backward, doc="""Notebook 11, bug 5: ``fixed_dropout_forward(x, p, rng)`` ->
    (out, mask), inverted dropout, with the notebook's draw ``keep = rng.random(x.shape) >= p`` and
    dropout_backward(dout, mask) = dout * mask. Checked: out and dx from a generator seeded as each
    case says.""")


check_bug_in_adam = diagnosis("bug_in_adam", "no_bias_correction", {
    "no_bias_correction": ("m and v are not divided by 1 - beta1^t and 1 - beta2^t, so early steps are "
                           "off by the factor sqrt(1 - beta2^t) / (1 - beta1^t), which fades as t grows", ""),
    "no_sqrt": ("the step divides by v instead of sqrt(v)",
                "then the step would depend on the gradient's size; gradients 1, -100 and 0.01 all "
                "move their weight by the same amount"),
    "eps_placement": ("eps sits inside the square root",
                      "that changes a step by about eps / |g|, not by a factor of 3"),
    "momentum_only": ("the update ignores v: plain momentum",
                      "then the step would be proportional to the gradient, 100 times larger for -100"),
}, doc="""Notebook 11, bug 6: ``bug_in_adam()`` -> the key of the bug in buggy_adam_step.""")


def _adam_with(**mistake):
    return lambda *args: adam_update(*args, **mistake)


def _fixed_adam_cases():
    rng = case_rng(115)
    return reference_cases(adam_update, varied_settings([
    ("the first step, t = 1, from m = v = 0", np.array([0.5, -1.0, 2.0]), np.array([1.0, -100.0, 0.01]),
     np.zeros(3), np.zeros(3), 1, 1e-3, 0.9, 0.999, 1e-8),
    ("step t = 5 with averages from earlier steps", rng.standard_normal((2, 3)),
     rng.standard_normal((2, 3)), 0.1 * rng.standard_normal((2, 3)), 0.01 * rng.random((2, 3)),
     5, 1e-2, 0.9, 0.999, 1e-8),
    ("step t = 2000, betas (0.8, 0.99)", rng.standard_normal(4), rng.standard_normal(4),
     0.1 * rng.standard_normal(4), 0.5 * rng.random(4), 2000, 3e-3, 0.8, 0.99, 1e-8),
    ("step t = 50 with a large eps (0.001) and small averages v", rng.standard_normal(5),
     rng.standard_normal(5), 0.1 * rng.standard_normal(5), 1e-4 * rng.random(5), 50, 1e-2, 0.9, 0.999, 1e-3),
], 1150), hint="m_hat = m / (1 - beta1**t) and v_hat = v / (1 - beta2**t) are used for the step only; "
     "return the uncorrected m and v: compare with scratchcnn.Adam")


check_fixed_adam_step = Exercise("fixed_adam_step", _fixed_adam_cases, [
    still_the_given_function("buggy_adam_step", _adam_with(correct_m=False, correct_s=False)),
    Mistake("the returned state is the corrected m_hat and v_hat", _adam_with(return_corrected=True),
            "store and return the UNcorrected running averages m and v; the corrections are redone "
            "(with the new t) at every step"),
    Mistake("only m is bias-corrected", _adam_with(correct_s=False),
            "correct v too: v_hat = v / (1 - beta2**t)"),
    Mistake("sqrt(v) is divided by 1 - beta2^t (the correction of v, not of its square root)",
            _adam_with(s_correction_power=2),
            "divide v (before the square root) by 1 - beta2**t, i.e. sqrt(v) by sqrt(1 - beta2**t)"),
    Mistake("eps inside the square root, sqrt(v_hat + eps)", _adam_with(eps_inside=True),
            "the denominator is sqrt(v_hat) + eps, as in scratchcnn.Adam"),
], doc="""Notebook 11, bug 6: ``fixed_adam_step(w, grad, m, v, t, lr, beta1, beta2, eps)`` -> (w, m, v),
    one step of scratchcnn.Adam; t counts steps from 1, m and v are the stored (uncorrected) averages.""")


check_bug_in_im2col = diagnosis("bug_in_im2col", "row_stride", {
    "row_stride": ("a window's first row ignores the stride: it starts at row y, not y*stride", ""),
    "column_stride": ("a window's first column ignores the stride",
                      "then the first output COLUMN would be right and the others wrong; here the first "
                      "output ROW is right and the rows below it are wrong"),
    "column_order": ("the columns come in another order than the reshape after the product expects",
                     "a wrong order would break stride 1 as well, which agrees with conv2d_naive"),
    "padding": ("the padding is applied wrongly",
                "stride 1 with padding agrees with conv2d_naive, and stride 2 without padding fails"),
}, doc="""Notebook 11, bug 7: ``bug_in_im2col()`` -> the key of the bug in buggy_im2col.""")


def _im2col_variant(x, kernel_size, stride, padding, row_stride=True, column_stride=True, dilated=False):
    """im2col with loops and a choice of (possibly wrong) window starts, for the Mistakes."""
    N, C, H, W = x.shape
    k = kernel_size
    H_out, W_out = conv_output_size(H, k, stride, padding), conv_output_size(W, k, stride, padding)
    x_pad = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    cols = np.zeros((C * k * k, N * H_out * W_out))
    for column, (n, y, x_) in enumerate(np.ndindex(N, H_out, W_out)):
        top, left = (y * stride if row_stride else y), (x_ * stride if column_stride else x_)
        step = stride if dilated else 1
        cols[:, column] = x_pad[n, :, top:top + k * step:step, left:left + k * step:step].ravel()
    return cols


def _im2col_cases():
    rng = case_rng(116)
    settings = []
    for index, (description, shape, k, s, p) in enumerate([
            ("stride 1, padding 1", (1, 2, 5, 5), 3, 1, 1),
            ("stride 2, padding 1, 2 images, 3 channels, non-square 7x6", (2, 3, 7, 6), 3, 2, 1),
            ("stride 3 that does not divide, kernel 2 (8x9)", (1, 1, 8, 9), 2, 3, 0),
            ("stride 2, no padding, integer image", (1, 2, 6, 6), 2, 2, 0)]):
        x = rng.integers(0, 10, shape) if index == 3 else rng.standard_normal(shape)
        settings.append((description, x, k, s, p))
    return reference_cases(im2col, settings, "column (n, y, x) holds the patch x_pad[n, :, y*stride:y*stride + k, "
                           "x*stride:x*stride + k].ravel(): compare with scratchcnn.im2col")


def _im2col_with(**mistake):
    return lambda x, k, s, p: _im2col_variant(x, k, s, p, **mistake)


check_fixed_im2col = Exercise("fixed_im2col", _im2col_cases, [
    still_the_given_function("buggy_im2col", _im2col_with(row_stride=False)),
    Mistake("the window's first column ignores the stride", _im2col_with(column_stride=False),
            "start the window at column x * stride"),
    Mistake("neither the rows nor the columns use the stride",
            _im2col_with(row_stride=False, column_stride=False),
            "window (y, x) starts at (y * stride, x * stride)"),
    Mistake("the window itself is strided (a dilated window, every stride-th pixel)", _im2col_with(dilated=True),
            "the stride moves the window's START; the window is k neighbouring pixels: "
            "y*stride : y*stride + k, with no step"),
], doc="""Notebook 11, bug 7: ``fixed_im2col(x, kernel_size, stride, padding)`` -> (C*k*k, N*H'*W'),
    rows ordered (c, i, j), columns (n, y, x): scratchcnn.im2col.""")


check_bug_in_softmax = diagnosis("bug_in_softmax", "no_max_subtracted", {
    "no_max_subtracted": ("exp overflows to inf for large logits (above about 88 in float32, 709 in "
                          "float64) and inf / inf is nan", ""),
    "wrong_axis": ("the sum runs over the wrong axis",
                   "at temperature 1 every row sums to 1 and equals scratchcnn.softmax"),
    "float32": ("float32 is too imprecise",
                "the answers agree to 1e-7 until the logits pass 88; a wider float only moves the limit "
                "to 709, and logits of 1000 overflow float64 too"),
    "temperature": ("dividing by the temperature is wrong",
                    "scratchcnn.softmax of the same divided logits is finite and right"),
}, doc="""Notebook 11, bug 8: ``bug_in_softmax()`` -> the key of the bug in buggy_softmax.""")


def _softmax_cases():
    rng = case_rng(117)
    return reference_cases(softmax, varied_settings([
        ("small logits", rng.standard_normal((3, 4))),
        ("huge logits [[1000, -1000, 0]]", np.array([[1000.0, -1000.0, 0.0]])),
        ("rows of very different scale [[1000, 999], [0, 1]]", np.array([[1000.0, 999.0], [0.0, 1.0]])),
        ("very negative logits [[-1000, -1001, -1002]]", np.array([[-1000.0, -1001.0, -1002.0]])),
        ("float32 logits of a sharpened network", (rng.standard_normal((4, 10)) * 40).astype(np.float32)),
    ], 1170, integers=False), "subtract each row's own maximum before exp: logits - logits.max(axis=1, keepdims=True)",
        rtol=1e-5, atol=1e-7)


check_fixed_softmax = Exercise("fixed_softmax", _softmax_cases, [
    still_the_given_function("buggy_softmax", lambda z: softmax_shifted(z, 0)),
    Mistake("the maximum of the whole array is subtracted, not each row's own",
            lambda z: softmax_shifted(z, z.max()),
            "use logits.max(axis=1, keepdims=True): a row far below the global maximum underflows to 0 / 0"),
    Mistake("each column's maximum is subtracted (axis=0)",
            lambda z: softmax_shifted(z, z.max(axis=0, keepdims=True)),
            "the maximum of each ROW: axis=1, keepdims=True"),
], doc="""Notebook 11, bug 8: ``fixed_softmax(logits)`` -> probabilities (N, K), stable for any logits.""")
