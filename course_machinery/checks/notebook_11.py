"""Exercise checks of notebook 11."""

from __future__ import annotations


import numpy as np

from scratchcnn import (Adam, Layer, ReLU, SoftmaxCrossEntropy, conv2d_naive, conv_output_size, im2col, maxpool2d_backward_naive, maxpool2d_naive, softmax)

from .framework import Case, Mistake, _short, check_exercise
from .notebook_04 import _pool_backward_mistake


# --- Notebook 11: find the bug -----------------------------------------------
#
# Each of the notebook's eight bugs has two exercises: a diagnosis (a function
# returning the key of one suspect) and a fix. A wrong diagnosis is told what
# the suspect it named would mean and which evidence rules it out; a fix is run
# on hidden cases, and its Mistakes include the original bug.

def _check_diagnosis(name, answer, culprit, suspects):
    """A diagnosis exercise: ``answer()`` returns the key of the suspect that is the bug.

    suspects: {key: (what that bug would be, the evidence that rules it out)}; every
    wrong key is a Mistake, so the verdict says what the student's choice would mean.
    The verdict never shows the right key."""
    keys = ", ".join(repr(key) for key in suspects)

    def diagnosis():
        given = answer() if callable(answer) else answer     # a bare string is accepted too
        if isinstance(given, str):
            given = given.strip().strip("'\"").strip().lower().replace(" ", "_").replace("-", "_")
        return given

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
    return check_exercise(name, diagnosis, [case], mistakes, compare=compare)


def check_bug_in_conv_forward(answer):
    """Notebook 11, bug 1: ``bug_in_conv_forward()`` -> the key of the bug in buggy_conv_forward."""
    return _check_diagnosis("bug_in_conv_forward", answer, "flipped_kernel", {
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
    })


def check_fixed_conv_forward(answer):
    """Notebook 11, bug 1: ``fixed_conv_forward(x, W, b, stride, padding)`` -> (N, F, H', W'),
    the course's convolution (cross-correlation) of conv2d_naive."""
    rng = np.random.default_rng(110)
    settings = [("one image, one channel, one filter, stride 1", (1, 1, 5, 5), (1, 1, 3, 3), 1, 0),
                ("3 channels, 4 filters, stride 2, padding 1, non-square 7x6", (2, 3, 7, 6), (4, 3, 3, 3), 2, 1),
                ("kernel 2, stride 3 that does not divide (8x9)", (1, 2, 8, 9), (2, 2, 2, 2), 3, 0),
                ("integer image and kernel", (1, 2, 4, 4), (2, 2, 3, 3), 1, 1)]
    cases = []
    for index, (description, x_shape, W_shape, stride, padding) in enumerate(settings):
        x, W, b = rng.standard_normal(x_shape), rng.standard_normal(W_shape), rng.standard_normal(W_shape[0])
        if index == 3:
            x, W, b = rng.integers(-3, 4, x_shape), rng.integers(-2, 3, W_shape), np.array([1, -1])
        cases.append(Case(description, (x, W, b, stride, padding), conv2d_naive(x, W, b, stride, padding),
                          "out[n, f, y, x] = b[f] + sum over c, i, j of W[f, c, i, j] * "
                          "x_pad[n, c, y*stride + i, x*stride + j]: compare with scratchcnn.conv2d_naive"))

    def unstrided_windows(x, W, b, stride, padding):
        H_out = conv_output_size(x.shape[2], W.shape[2], stride, padding)
        W_out = conv_output_size(x.shape[3], W.shape[3], stride, padding)
        return conv2d_naive(x, W, b, 1, padding)[:, :, :H_out, :W_out]

    mistakes = [
        Mistake("the kernel is still flipped (the original bug)",
                lambda x, W, b, s, p: conv2d_naive(x, W[:, :, ::-1, ::-1], b, s, p),
                "use W[f] as it is: the course's convolution is a cross-correlation, no kernel[::-1, ::-1]"),
        Mistake("the kernel is flipped upside down only",
                lambda x, W, b, s, p: conv2d_naive(x, W[:, :, ::-1, :], b, s, p),
                "don't flip the kernel along any axis: remove the [::-1] altogether"),
        Mistake("the windows start at y and x instead of y*stride and x*stride", unstrided_windows,
                "window (y, x) starts at row y*stride and column x*stride of the padded input"),
        Mistake("the bias is missing", lambda x, W, b, s, p: conv2d_naive(x, W, np.zeros_like(b), s, p),
                "add b[f] to every output pixel of filter f"),
    ]
    return check_exercise("fixed_conv_forward", answer, cases, mistakes)


def check_bug_in_maxpool_backward(answer):
    """Notebook 11, bug 2: ``bug_in_maxpool_backward()`` -> the key of the bug in buggy_maxpool_backward."""
    return _check_diagnosis("bug_in_maxpool_backward", answer, "assign_not_add", {
        "assign_not_add": ("= instead of +=: a pixel that wins several overlapping windows keeps only the "
                           "gradient of the last one", ""),
        "wrong_winner": ("the gradient goes to a position of the window that is not its maximum",
                         "with kernel 2 and stride 2 the result equals maxpool2d_backward_naive's exactly, "
                         "so every window finds its winner"),
        "stride": ("the windows' offsets ignore the stride",
                   "with kernel 2 and stride 2 it is right, and a stride slip would show there"),
        "ties": ("tied maxima share or mis-route the gradient",
                 "random floats never tie, and it is still wrong with kernel 3, stride 2"),
    })


def check_fixed_maxpool_backward(answer):
    """Notebook 11, bug 2: ``fixed_maxpool_backward(x, dout, kernel_size, stride)`` -> dx (shape of x)."""
    rng = np.random.default_rng(111)
    overlapping = rng.standard_normal((1, 2, 7, 9))
    overlapping[0, 0, 2, 2] = overlapping[0, 1, 4, 4] = 10.0      # each wins four windows
    settings = [("no overlap: kernel 2, stride 2", rng.standard_normal((2, 2, 4, 6)), 2, 2),
                ("overlapping windows: kernel 3, stride 2, non-square 7x9", overlapping, 3, 2),
                ("overlap and ties: kernel 3, stride 1, small integers", rng.integers(0, 3, (1, 2, 5, 5)), 3, 1),
                ("batch of one, kernel 2, stride 1", rng.standard_normal((1, 1, 4, 5)), 2, 1)]
    cases = []
    for description, x, k, s in settings:
        x = x.astype(np.float64)
        dout = np.round(rng.standard_normal(maxpool2d_naive(x, k, s).shape), 2) + 3.0   # nonzero
        cases.append(Case(description, (x, dout, k, s), maxpool2d_backward_naive(x, dout, k, s),
                          "each window sends its dout to its FIRST maximum (np.argmax), and a pixel that wins "
                          "several overlapping windows collects the sum: compare with "
                          "scratchcnn.maxpool2d_backward_naive"))
    mistakes = [
        Mistake("dx[...] = dout[...] overwrites (the original bug)",
                lambda x, d, k, s: _pool_backward_mistake(x, d, k, s, assign=True),
                "use += so that a pixel that wins several overlapping windows keeps all their gradients"),
        Mistake("every tied maximum receives the gradient",
                lambda x, d, k, s: _pool_backward_mistake(x, d, k, s, all_ties=True),
                "send each window's gradient to ONE position, the first maximum that np.argmax finds"),
        Mistake("on a tie the last maximum wins",
                lambda x, d, k, s: _pool_backward_mistake(x, d, k, s, last_max=True),
                "take the first maximum in row-major order, as np.argmax(window) does"),
    ]
    return check_exercise("fixed_maxpool_backward", answer, cases, mistakes)


def check_bug_in_softmax_cross_entropy(answer):
    """Notebook 11, bug 3: ``bug_in_softmax_cross_entropy()`` -> the key of the bug in
    buggy_softmax_cross_entropy."""
    return _check_diagnosis("bug_in_softmax_cross_entropy", answer, "missing_mean", {
        "missing_mean": ("the gradient is that of the SUMMED loss: 1/N is missing", ""),
        "wrong_labels": ("dlogits[:, labels] -= 1 subtracts 1 at every label of the batch in every row",
                         "that error would not be a constant factor: here analytic / numerical is exactly N "
                         "at every entry"),
        "unstable": ("exp overflows for large logits",
                     "these logits are small, nothing is nan or inf, and the loss value itself is right"),
        "sign": ("the gradient has the wrong sign, onehot - p",
                 "then the ratio analytic / numerical would be negative, and wrong for a batch of one too"),
    })


def check_fixed_softmax_cross_entropy(answer):
    """Notebook 11, bug 3: ``fixed_softmax_cross_entropy(logits, labels)`` -> (mean loss, dlogits (N, K))."""
    rng = np.random.default_rng(112)
    settings = [("batch of one", rng.standard_normal((1, 4)), np.array([2])),
                ("batch of 5, 3 classes, a repeated label", rng.standard_normal((5, 3)), np.array([0, 2, 2, 1, 0])),
                ("huge logits [[1000, 999, 995], [0, 1, 2]]", np.array([[1000.0, 999.0, 995.0], [0.0, 1.0, 2.0]]),
                 np.array([1, 2])),
                ("batch of 8, 10 classes", 3 * rng.standard_normal((8, 10)), rng.integers(0, 10, 8))]

    def reference(logits, labels):
        loss_fn = SoftmaxCrossEntropy()
        return loss_fn.forward(logits, labels), loss_fn.backward()

    cases = [Case(description, (logits, labels), reference(logits, labels),
                  "the loss is the MEAN over the batch, so its gradient is (softmax - onehot) / N")
             for description, logits, labels in settings]

    def wrong_labels(logits, labels):
        loss, _ = reference(logits, labels)
        dlogits = softmax(logits)
        dlogits[:, labels] -= 1
        return loss, dlogits / len(labels)

    def unstable(logits, labels):
        probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        N = len(labels)
        dlogits = probs.copy()
        dlogits[np.arange(N), labels] -= 1
        return -np.log(probs[np.arange(N), labels]).mean(), dlogits / N

    mistakes = [
        Mistake("the gradient still lacks 1/N (the original bug)",
                lambda z, y: (reference(z, y)[0], reference(z, y)[1] * len(y)),
                "divide dlogits by N = len(labels): the loss is a mean over the batch"),
        Mistake("the gradient is divided by the number of classes K, not the batch size N",
                lambda z, y: (reference(z, y)[0], reference(z, y)[1] * len(y) / z.shape[1]),
                "N is the number of rows, len(labels) or logits.shape[0], not logits.shape[1]"),
        Mistake("dlogits[:, labels] -= 1 hits every label in every row", wrong_labels,
                "subtract 1 only at each row's own label: dlogits[np.arange(N), labels] -= 1"),
        Mistake("the softmax no longer subtracts the row maximum", unstable,
                "keep logits - logits.max(axis=1, keepdims=True) before exp: exp(1000) is inf"),
    ]
    return check_exercise("fixed_softmax_cross_entropy", answer, cases, mistakes)


def check_bug_in_relu(answer):
    """Notebook 11, bug 4: ``bug_in_relu()`` -> the key of the bug in buggy_relu_forward/relu_backward."""
    return _check_diagnosis("bug_in_relu", answer, "mask_after_inplace", {
        "mask_after_inplace": ("forward clips x in place, so the cache (x itself) has no negative entry left "
                               "and backward lets every gradient through", ""),
        "mask_from_dout": ("backward builds its mask from dout instead of the input",
                           "then dx would be zero where dout is negative; here dx equals dout everywhere"),
        "forward_wrong": ("the forward output is wrong",
                          "the output equals scratchcnn.ReLU().forward(x) exactly"),
        "zero_at_zero": ("the gradient at exactly x = 0 is 1 instead of 0",
                         "random normal inputs are never exactly 0, yet the gradient check fails"),
    })


def _given_relu_backward(dout, cache):
    """relu_backward as notebook 11 gives it (unchanged by the fix)."""
    dx = dout.copy()
    dx[cache < 0] = 0
    return dx


def check_fixed_relu_forward(answer):
    """Notebook 11, bug 4: ``fixed_relu_forward(x)`` -> (out, cache), which the notebook's
    unchanged relu_backward(dout, cache) turns into the right dx. Checked: out, dx, and
    that x itself is left as it was."""
    def run(x, dout):
        original = x.copy()
        out, cache = answer(x)
        return out, _given_relu_backward(dout, cache), bool(np.array_equal(x, original))

    rng = np.random.default_rng(113)
    settings = [("a row of mixed signs", np.array([[-2.0, -0.5, 0.5, 2.0]])),
                ("a batch of 3 x 5", rng.standard_normal((3, 5))),
                ("4-D activations (2, 3, 4, 4)", rng.standard_normal((2, 3, 4, 4)))]
    cases = []
    for description, x in settings:
        dout = rng.standard_normal(x.shape)
        layer = ReLU()
        cases.append(Case(description, (x, dout), (layer.forward(x), layer.backward(dout), True),
                          "the result is (out, dx, x left unchanged): build the output as a NEW array, "
                          "np.maximum(x, 0), and cache the original x"))
    relu = lambda x: np.maximum(x, 0)
    mistakes = [
        Mistake("x is still clipped in place before it is cached (the original bug)",
                lambda x, dout: (relu(x), dout, False),
                "don't write into x: out = np.maximum(x, 0) makes a new array, and cache = x keeps the negatives"),
        Mistake("the cache holds clipped values (the output), so relu_backward finds no negative entry",
                lambda x, dout: (relu(x), dout, True),
                "cache the INPUT x, whose negative entries tell relu_backward where to stop the gradient"),
        Mistake("the output is not clipped any more", lambda x, dout: (x, dout * (x > 0), True),
                "the output is np.maximum(x, 0), a new array"),
    ]
    return check_exercise("fixed_relu_forward", run, cases, mistakes)


def check_bug_in_dropout(answer):
    """Notebook 11, bug 5: ``bug_in_dropout()`` -> the key of the bug in buggy_dropout_forward."""
    return _check_diagnosis("bug_in_dropout", answer, "no_rescale", {
        "no_rescale": ("the kept units are not scaled by 1 / (1 - p): in training the next layer sees "
                       "activations (1 - p) times smaller on average than in evaluation", ""),
        "wrong_p": ("units are kept with probability p instead of 1 - p",
                    "at p = 0.2 the measured kept fraction is 0.8 = 1 - p, as it should be"),
        "backward_mask": ("backward uses a different mask from forward",
                          "backward multiplies by the very mask forward returned"),
        "eval_mode": ("dropout is also applied in evaluation",
                      "the bug shows in training mode: its mean activation is (1 - p) times the evaluation one"),
    })


def check_fixed_dropout_forward(answer):
    """Notebook 11, bug 5: ``fixed_dropout_forward(x, p, rng)`` -> (out, mask), inverted dropout,
    with the notebook's draw ``keep = rng.random(x.shape) >= p`` and dropout_backward(dout, mask) = dout * mask.
    Checked: out and dx from a generator seeded as each case says."""
    def run(x, dout, p, seed):
        out, mask = answer(x, p, np.random.default_rng(seed))
        return out, dout * mask

    rng = np.random.default_rng(114)
    settings = [("p = 0.5, a batch of 4 x 6", (4, 6), 0.5), ("p = 0.2", (5, 8), 0.2),
                ("p = 0: nothing dropped", (3, 4), 0.0), ("4-D activations, p = 0.3", (2, 3, 4, 4), 0.3)]
    cases = []
    for seed, (description, shape, p) in enumerate(settings):
        x, dout = rng.standard_normal(shape), rng.standard_normal(shape)
        scale = (np.random.default_rng(seed).random(shape) >= p) / (1 - p)
        cases.append(Case(description, (x, dout, p, seed), (x * scale, dout * scale),
                          "keep the draw keep = rng.random(x.shape) >= p, and scale the kept units by "
                          "1 / (1 - p) in the output AND in the mask that backward uses"))

    def variant(keep_rule, out_scale, mask_scale):
        def produce(x, dout, p, seed):
            u = np.random.default_rng(seed).random(x.shape)
            keep = (u >= p) if keep_rule == "given" else (u < 1 - p)
            return x * keep * out_scale(p), dout * keep * mask_scale(p)
        return produce

    mistakes = [
        Mistake("the kept units are still not rescaled (the original bug)",
                variant("given", lambda p: 1, lambda p: 1),
                "divide by the keep probability 1 - p, so the expected activation equals x"),
        Mistake("the kept units are multiplied by 1 - p instead of divided by it",
                variant("given", lambda p: 1 - p, lambda p: 1 - p),
                "scale UP: divide by 1 - p (the survivors stand in for the dropped units)"),
        Mistake("the kept units are divided by p instead of 1 - p",
                variant("given", lambda p: 1 / p, lambda p: 1 / p),
                "divide by the KEEP probability 1 - p (at p = 0.5 both are 2; at p = 0.2 they differ)"),
        Mistake("the output is rescaled but the returned mask is not, so backward's gradient is too small",
                variant("given", lambda p: 1 / (1 - p), lambda p: 1),
                "scale the mask itself: mask = keep / (1 - p) and out = x * mask"),
        Mistake("the mask is drawn differently (rng.random(x.shape) < 1 - p)",
                variant("other", lambda p: 1 / (1 - p), lambda p: 1 / (1 - p)),
                "keep the notebook's draw keep = rng.random(x.shape) >= p: it was not the bug"),
    ]
    return check_exercise("fixed_dropout_forward", run, cases, mistakes)


def check_bug_in_adam(answer):
    """Notebook 11, bug 6: ``bug_in_adam()`` -> the key of the bug in buggy_adam_step."""
    return _check_diagnosis("bug_in_adam", answer, "no_bias_correction", {
        "no_bias_correction": ("m and v are not divided by 1 - beta1^t and 1 - beta2^t, so early steps are "
                               "off by the factor sqrt(1 - beta2^t) / (1 - beta1^t), which fades as t grows", ""),
        "no_sqrt": ("the step divides by v instead of sqrt(v)",
                    "then the step would depend on the gradient's size; gradients 1, -100 and 0.01 all "
                    "move their weight by the same amount"),
        "eps_placement": ("eps sits inside the square root",
                          "that changes a step by about eps / |g|, not by a factor of 3"),
        "momentum_only": ("the update ignores v: plain momentum",
                          "then the step would be proportional to the gradient, 100 times larger for -100"),
    })


def _adam_variant(w, grad, m, v, t, lr, beta1, beta2, eps, correct_m=True, correct_v=True,
                  root_of_correction=True, return_corrected_state=False):
    """One Adam step with a choice of (possibly wrong) bias corrections, for the Mistakes."""
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad * grad
    m_hat = m / (1 - beta1 ** t) if correct_m else m
    v_correction = (1 - beta2 ** t) if root_of_correction else (1 - beta2 ** t) ** 2
    v_hat = v / v_correction if correct_v else v
    w = w - lr * m_hat / (np.sqrt(v_hat) + eps)
    return (w, m_hat, v_hat) if return_corrected_state else (w, m, v)


def check_fixed_adam_step(answer):
    """Notebook 11, bug 6: ``fixed_adam_step(w, grad, m, v, t, lr, beta1, beta2, eps)`` -> (w, m, v),
    one step of scratchcnn.Adam; t counts steps from 1, m and v are the stored (uncorrected) averages."""
    def reference(w, grad, m, v, t, lr, beta1, beta2, eps):
        layer = Layer()
        layer.params["W"], layer.grads["W"] = np.array(w, dtype=np.float64), np.array(grad, dtype=np.float64)
        optimizer = Adam([layer], lr=lr, betas=(beta1, beta2), eps=eps)
        optimizer.state[(0, "W")] = (np.array(m, dtype=np.float64), np.array(v, dtype=np.float64))
        optimizer.t = t - 1
        optimizer.step()
        return (layer.params["W"], *optimizer.state[(0, "W")])

    rng = np.random.default_rng(115)
    zeros = np.zeros(3)
    settings = [("the first step, t = 1, from m = v = 0", np.array([0.5, -1.0, 2.0]), np.array([1.0, -100.0, 0.01]),
                 zeros, zeros, 1, 1e-3, 0.9, 0.999, 1e-8),
                ("step t = 5 with averages from earlier steps", rng.standard_normal((2, 3)),
                 rng.standard_normal((2, 3)), 0.1 * rng.standard_normal((2, 3)), 0.01 * rng.random((2, 3)),
                 5, 1e-2, 0.9, 0.999, 1e-8),
                ("step t = 2000, betas (0.8, 0.99)", rng.standard_normal(4), rng.standard_normal(4),
                 0.1 * rng.standard_normal(4), 0.5 * rng.random(4), 2000, 3e-3, 0.8, 0.99, 1e-8)]
    cases = [Case(description, args, reference(*args),
                  "m_hat = m / (1 - beta1**t) and v_hat = v / (1 - beta2**t) are used for the step only; "
                  "return the uncorrected m and v: compare with scratchcnn.Adam")
             for description, *args in settings]
    mistakes = [
        Mistake("m and v are still not bias-corrected (the original bug)",
                lambda *args: _adam_variant(*args, correct_m=False, correct_v=False),
                "step with m_hat = m / (1 - beta1**t) and v_hat = v / (1 - beta2**t)"),
        Mistake("the returned state is the corrected m_hat and v_hat",
                lambda *args: _adam_variant(*args, return_corrected_state=True),
                "store and return the UNcorrected running averages m and v; the corrections are redone "
                "(with the new t) at every step"),
        Mistake("only m is bias-corrected", lambda *args: _adam_variant(*args, correct_v=False),
                "correct v too: v_hat = v / (1 - beta2**t)"),
        Mistake("sqrt(v) is divided by 1 - beta2^t (the correction of v, not of its square root)",
                lambda *args: _adam_variant(*args, root_of_correction=False),
                "divide v (before the square root) by 1 - beta2**t, i.e. sqrt(v) by sqrt(1 - beta2**t)"),
    ]
    return check_exercise("fixed_adam_step", answer, cases, mistakes)


def check_bug_in_im2col(answer):
    """Notebook 11, bug 7: ``bug_in_im2col()`` -> the key of the bug in buggy_im2col."""
    return _check_diagnosis("bug_in_im2col", answer, "row_stride", {
        "row_stride": ("a window's first row ignores the stride: it starts at row y, not y*stride", ""),
        "column_stride": ("a window's first column ignores the stride",
                          "then the first output COLUMN would be right and the others wrong; here the first "
                          "output ROW is right and the rows below it are wrong"),
        "column_order": ("the columns come in another order than the reshape after the product expects",
                         "a wrong order would break stride 1 as well, which agrees with conv2d_naive"),
        "padding": ("the padding is applied wrongly",
                    "stride 1 with padding agrees with conv2d_naive, and stride 2 without padding fails"),
    })


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


def check_fixed_im2col(answer):
    """Notebook 11, bug 7: ``fixed_im2col(x, kernel_size, stride, padding)`` -> (C*k*k, N*H'*W'),
    rows ordered (c, i, j), columns (n, y, x): scratchcnn.im2col."""
    rng = np.random.default_rng(116)
    settings = [("stride 1, padding 1", (1, 2, 5, 5), 3, 1, 1),
                ("stride 2, padding 1, 2 images, 3 channels, non-square 7x6", (2, 3, 7, 6), 3, 2, 1),
                ("stride 3 that does not divide, kernel 2 (8x9)", (1, 1, 8, 9), 2, 3, 0),
                ("stride 2, no padding, integer image", (1, 2, 6, 6), 2, 2, 0)]
    cases = []
    for index, (description, shape, k, s, p) in enumerate(settings):
        x = rng.integers(0, 10, shape) if index == 3 else rng.standard_normal(shape)
        cases.append(Case(description, (x, k, s, p), im2col(x, k, s, p),
                          "column (n, y, x) holds the patch x_pad[n, :, y*stride:y*stride + k, "
                          "x*stride:x*stride + k].ravel(): compare with scratchcnn.im2col"))
    mistakes = [
        Mistake("the window's first row still ignores the stride (the original bug)",
                lambda x, k, s, p: _im2col_variant(x, k, s, p, row_stride=False),
                "start the window at row y * stride, as its column starts at x * stride"),
        Mistake("the window's first column ignores the stride",
                lambda x, k, s, p: _im2col_variant(x, k, s, p, column_stride=False),
                "start the window at column x * stride"),
        Mistake("neither the rows nor the columns use the stride",
                lambda x, k, s, p: _im2col_variant(x, k, s, p, row_stride=False, column_stride=False),
                "window (y, x) starts at (y * stride, x * stride)"),
        Mistake("the window itself is strided (a dilated window, every stride-th pixel)",
                lambda x, k, s, p: _im2col_variant(x, k, s, p, dilated=True),
                "the stride moves the window's START; the window is k neighbouring pixels: "
                "y*stride : y*stride + k, with no step"),
    ]
    return check_exercise("fixed_im2col", answer, cases, mistakes)


def check_bug_in_softmax(answer):
    """Notebook 11, bug 8: ``bug_in_softmax()`` -> the key of the bug in buggy_softmax."""
    return _check_diagnosis("bug_in_softmax", answer, "no_max_subtracted", {
        "no_max_subtracted": ("exp overflows to inf for large logits (above about 88 in float32, 709 in "
                              "float64) and inf / inf is nan", ""),
        "wrong_axis": ("the sum runs over the wrong axis",
                       "at temperature 1 every row sums to 1 and equals scratchcnn.softmax"),
        "float32": ("float32 is too imprecise",
                    "the answers agree to 1e-7 until the logits pass 88; a wider float only moves the limit "
                    "to 709, and logits of 1000 overflow float64 too"),
        "temperature": ("dividing by the temperature is wrong",
                        "scratchcnn.softmax of the same divided logits is finite and right"),
    })


def check_fixed_softmax(answer):
    """Notebook 11, bug 8: ``fixed_softmax(logits)`` -> probabilities (N, K), stable for any logits."""
    rng = np.random.default_rng(117)
    settings = [("small logits", rng.standard_normal((3, 4))),
                ("huge logits [[1000, -1000, 0]]", np.array([[1000.0, -1000.0, 0.0]])),
                ("rows of very different scale [[1000, 999], [0, 1]]", np.array([[1000.0, 999.0], [0.0, 1.0]])),
                ("very negative logits [[-1000, -1001, -1002]]", np.array([[-1000.0, -1001.0, -1002.0]])),
                ("float32 logits of a sharpened network", (rng.standard_normal((4, 10)) * 40).astype(np.float32))]
    cases = [Case(description, (logits,), softmax(logits),
                  "subtract each row's own maximum before exp: logits - logits.max(axis=1, keepdims=True)",
                  rtol=1e-5, atol=1e-7)
             for description, logits in settings]

    def shifted(shift):
        def produce(logits):
            exps = np.exp(logits - shift(logits))
            return exps / exps.sum(axis=1, keepdims=True)
        return produce

    mistakes = [
        Mistake("exp of the raw logits, no maximum subtracted (the original bug)", shifted(lambda z: 0),
                "subtract each row's maximum first: exp(1000) is inf, and inf / inf is nan"),
        Mistake("the maximum of the whole array is subtracted, not each row's own",
                shifted(lambda z: z.max()),
                "use logits.max(axis=1, keepdims=True): a row far below the global maximum underflows to 0 / 0"),
        Mistake("each column's maximum is subtracted (axis=0)",
                shifted(lambda z: z.max(axis=0, keepdims=True)),
                "the maximum of each ROW: axis=1, keepdims=True"),
    ]
    return check_exercise("fixed_softmax", answer, cases, mistakes)


