"""The exercise checks of notebook 11 (find the bug).

Every bug has two checks. The diagnosis check passes the right key and names,
for each wrong key, what that bug would be. The fix check passes the reference
fix, and fails the original buggy code and at least two other typical wrong
fixes, each with its own diagnosis in the message. No check raises on junk.
"""
import numpy as np
import pytest

import scratchcnn
from course_machinery import checks


def assert_named(result, name):
    assert not result
    assert "known mistake" in result.message and name in result.message, result.message


# --- diagnoses -----------------------------------------------------------------------

DIAGNOSES = {
    "check_bug_in_conv_forward": ("flipped_kernel", {"stride": "start at the wrong places",
                                                     "bias": "b = 0", "channels": "wrong axes"}),
    "check_bug_in_maxpool_backward": ("assign_not_add", {"wrong_winner": "not its maximum",
                                                         "ties": "never tie"}),
    "check_bug_in_softmax_cross_entropy": ("missing_mean", {"wrong_labels": "constant factor",
                                                            "sign": "wrong sign"}),
    "check_bug_in_relu": ("mask_after_inplace", {"mask_from_dout": "dout is negative",
                                                 "forward_wrong": "scratchcnn.ReLU"}),
    "check_bug_in_dropout": ("no_rescale", {"wrong_p": "kept fraction", "eval_mode": "evaluation"}),
    "check_bug_in_adam": ("no_bias_correction", {"no_sqrt": "gradient's size",
                                                 "momentum_only": "proportional"}),
    "check_bug_in_im2col": ("row_stride", {"column_stride": "first output COLUMN",
                                           "column_order": "stride 1 as well"}),
    "check_bug_in_softmax": ("no_max_subtracted", {"wrong_axis": "sums to 1", "float32": "709"}),
}


@pytest.mark.parametrize("check_name", DIAGNOSES)
def test_diagnosis(check_name, capsys):
    check = getattr(checks, check_name)
    culprit, wrong_keys = DIAGNOSES[check_name]
    assert check(lambda: culprit)
    assert check(lambda: f"  {culprit.upper().replace('_', ' ')} ")      # case and spaces don't matter
    for key, evidence in wrong_keys.items():
        result = check(lambda key=key: key)
        assert_named(result, repr(key))
        assert evidence in result.message, result.message
        assert culprit not in result.message                            # the verdict keeps the answer secret
    unknown = check(lambda: "no idea")
    assert not unknown and "not one of the keys" in unknown.message and repr(culprit) in unknown.message
    for junk in (None, 42, lambda: None, lambda: ["flipped_kernel"], lambda: 1 / 0):
        assert not check(junk)
    assert "not implemented yet" in check(lambda: (_ for _ in ()).throw(NotImplementedError())).message
    capsys.readouterr()


# --- reference fixes (as in the notebook) ------------------------------------------------

def fixed_conv_forward(x, W, b, stride=1, padding=0):
    N, C, H, W_in = x.shape
    F, _, k, _ = W.shape
    H_out = (H + 2 * padding - k) // stride + 1
    W_out = (W_in + 2 * padding - k) // stride + 1
    x_pad = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    out = np.zeros((N, F, H_out, W_out))
    for f in range(F):
        kernel = W[f]
        for y in range(H_out):
            for x_ in range(W_out):
                patch = x_pad[:, :, y * stride:y * stride + k, x_ * stride:x_ * stride + k]
                out[:, f, y, x_] = np.sum(patch * kernel, axis=(1, 2, 3)) + b[f]
    return out


def fixed_maxpool_backward(x, dout, kernel_size, stride, accumulate=True):
    dx = np.zeros_like(x, dtype=np.float64)
    N, C, H_out, W_out = dout.shape
    for n in range(N):
        for c in range(C):
            for y in range(H_out):
                for x_ in range(W_out):
                    window = x[n, c, y * stride:y * stride + kernel_size, x_ * stride:x_ * stride + kernel_size]
                    i, j = np.unravel_index(np.argmax(window), window.shape)
                    if accumulate:
                        dx[n, c, y * stride + i, x_ * stride + j] += dout[n, c, y, x_]
                    else:
                        dx[n, c, y * stride + i, x_ * stride + j] = dout[n, c, y, x_]
    return dx


def fixed_softmax_cross_entropy(logits, labels, divide_by=lambda logits, labels: len(labels)):
    shifted = logits - logits.max(axis=1, keepdims=True)
    probs = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    N = len(labels)
    loss = -np.log(probs[np.arange(N), labels]).mean()
    dlogits = probs.copy()
    dlogits[np.arange(N), labels] -= 1
    return loss, dlogits / divide_by(logits, labels)


def fixed_relu_forward(x):
    return np.maximum(x, 0), x


def fixed_dropout_forward(x, p, rng, scale=lambda p: 1 / (1 - p)):
    keep = rng.random(x.shape) >= p
    mask = keep * scale(p)
    return x * mask, mask


def fixed_adam_step(w, grad, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, correct=True):
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad ** 2
    m_hat = m / (1 - beta1 ** t) if correct else m
    v_hat = v / (1 - beta2 ** t) if correct else v
    return w - lr * m_hat / (np.sqrt(v_hat) + eps), m, v


def fixed_im2col(x, kernel_size, stride=1, padding=0, row_step=None, column_step=None):
    N, C, H, W = x.shape
    k = kernel_size
    row_step = stride if row_step is None else row_step
    column_step = stride if column_step is None else column_step
    H_out = (H + 2 * padding - k) // stride + 1
    W_out = (W + 2 * padding - k) // stride + 1
    x_pad = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    cols = np.zeros((C * k * k, N * H_out * W_out))
    column = 0
    for n in range(N):
        for y in range(H_out):
            for x_ in range(W_out):
                top, left = y * row_step, x_ * column_step
                cols[:, column] = x_pad[n, :, top:top + k, left:left + k].ravel()
                column += 1
    return cols


def fixed_softmax(logits, shift=lambda z: z.max(axis=1, keepdims=True)):
    exps = np.exp(logits - shift(logits))
    return exps / exps.sum(axis=1, keepdims=True)


# --- the buggy originals and other typical wrong fixes ----------------------------------------

def flipped_conv(x, W, b, stride=1, padding=0):
    return fixed_conv_forward(x, W[:, :, ::-1, ::-1], b, stride, padding)


def conv_flipped_upside_down(x, W, b, stride=1, padding=0):
    return fixed_conv_forward(x, W[:, :, ::-1, :], b, stride, padding)


def conv_without_bias(x, W, b, stride=1, padding=0):
    return fixed_conv_forward(x, W, np.zeros_like(b), stride, padding)


def maxpool_backward_every_tie(x, dout, kernel_size, stride):
    dx = np.zeros_like(x, dtype=np.float64)
    N, C, H_out, W_out = dout.shape
    for n, c, y, x_ in np.ndindex(N, C, H_out, W_out):
        rows = slice(y * stride, y * stride + kernel_size)
        cols = slice(x_ * stride, x_ * stride + kernel_size)
        window = x[n, c, rows, cols]
        dx[n, c, rows, cols] += dout[n, c, y, x_] * (window == window.max())
    return dx


def softmax_cross_entropy_every_label(logits, labels):
    loss, _ = fixed_softmax_cross_entropy(logits, labels)
    dlogits = scratchcnn.softmax(logits)
    dlogits[:, labels] -= 1
    return loss, dlogits / len(labels)


def maxpool_backward_last_tie(x, dout, kernel_size, stride):
    dx = np.zeros_like(x, dtype=np.float64)
    N, C, H_out, W_out = dout.shape
    for n, c, y, x_ in np.ndindex(N, C, H_out, W_out):
        window = x[n, c, y * stride:y * stride + kernel_size, x_ * stride:x_ * stride + kernel_size]
        i, j = np.argwhere(window == window.max())[-1]          # the last maximum, not the first
        dx[n, c, y * stride + i, x_ * stride + j] += dout[n, c, y, x_]
    return dx


def relu_in_place(x):                 # the original bug
    out = x
    out[out < 0] = 0
    return out, x


def relu_caching_output(x):
    out = np.maximum(x, 0)
    return out, out


def relu_not_clipped(x):
    return x.copy(), x


def dropout_scaled_output_only(x, p, rng):
    keep = rng.random(x.shape) >= p
    return x * keep / (1 - p), keep.astype(float)


def adam_storing_corrected_state(w, grad, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad ** 2
    m, v = m / (1 - beta1 ** t), v / (1 - beta2 ** t)
    return w - lr * m / (np.sqrt(v) + eps), m, v


def adam_correcting_m_only(w, grad, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad ** 2
    return w - lr * (m / (1 - beta1 ** t)) / (np.sqrt(v) + eps), m, v


FIXES = {
    "check_fixed_conv_forward": (fixed_conv_forward, [
        (flipped_conv, "still flipped"),
        (conv_flipped_upside_down, "upside down only"),
        (lambda x, W, b, stride=1, padding=0: fixed_conv_forward(x, W, b, 1, padding)[
            :, :, :(x.shape[2] + 2 * padding - W.shape[2]) // stride + 1,
            :(x.shape[3] + 2 * padding - W.shape[3]) // stride + 1], "instead of y*stride"),
        (conv_without_bias, "bias is missing"),
    ]),
    "check_fixed_maxpool_backward": (fixed_maxpool_backward, [
        (lambda x, d, k, s: fixed_maxpool_backward(x, d, k, s, accumulate=False), "overwrites"),
        (maxpool_backward_every_tie, "every tied maximum"),
        (maxpool_backward_last_tie, "last maximum wins"),
    ]),
    "check_fixed_softmax_cross_entropy": (fixed_softmax_cross_entropy, [
        (lambda z, y: fixed_softmax_cross_entropy(z, y, divide_by=lambda z, y: 1), "still lacks 1/N"),
        (lambda z, y: fixed_softmax_cross_entropy(z, y, divide_by=lambda z, y: z.shape[1]),
         "number of classes K"),
        (softmax_cross_entropy_every_label, "hits every label"),
    ]),
    "check_fixed_relu_forward": (fixed_relu_forward, [
        (relu_in_place, "clipped in place"),
        (relu_caching_output, "cache holds clipped values"),
        (relu_not_clipped, "not clipped any more"),
    ]),
    "check_fixed_dropout_forward": (fixed_dropout_forward, [
        (lambda x, p, rng: fixed_dropout_forward(x, p, rng, scale=lambda p: 1), "still not rescaled"),
        (lambda x, p, rng: fixed_dropout_forward(x, p, rng, scale=lambda p: 1 - p), "multiplied by 1 - p"),
        (lambda x, p, rng: fixed_dropout_forward(x, p, rng, scale=lambda p: 1 / p if p else 1.0),
         "divided by p"),
        (dropout_scaled_output_only, "returned mask is not"),
    ]),
    "check_fixed_adam_step": (fixed_adam_step, [
        (lambda *args: fixed_adam_step(*args, correct=False), "still not bias-corrected"),
        (adam_storing_corrected_state, "corrected m_hat and v_hat"),
        (adam_correcting_m_only, "only m is bias-corrected"),
    ]),
    "check_fixed_im2col": (fixed_im2col, [
        (lambda x, k, s=1, p=0: fixed_im2col(x, k, s, p, row_step=1), "first row still ignores"),
        (lambda x, k, s=1, p=0: fixed_im2col(x, k, s, p, column_step=1), "first column ignores"),
        (lambda x, k, s=1, p=0: fixed_im2col(x, k, s, p, row_step=1, column_step=1), "neither the rows"),
    ]),
    "check_fixed_softmax": (fixed_softmax, [
        (lambda z: fixed_softmax(z, shift=lambda z: 0), "no maximum subtracted"),
        (lambda z: fixed_softmax(z, shift=lambda z: z.max()), "whole array"),
        (lambda z: fixed_softmax(z, shift=lambda z: z.max(axis=0, keepdims=True)), "each column"),
    ]),
}


@pytest.mark.parametrize("check_name", FIXES)
def test_fix(check_name, capsys):
    check = getattr(checks, check_name)
    reference, wrong_answers = FIXES[check_name]
    assert len(wrong_answers) >= 3              # the original bug and at least two other slips
    result = check(reference)
    assert result, result.message
    for wrong, name in wrong_answers:
        assert_named(check(wrong), name)
    for junk in (None, "fixed", lambda *args: None, lambda *args: "26", lambda *args: 1 / 0):
        assert not check(junk)
    capsys.readouterr()


def test_relu_fix_that_still_edits_its_input_fails_with_a_warning(capsys):
    def clips_a_copy_and_x(x):
        out = np.maximum(x, 0)
        x[x < 0] = 0
        return out, x

    result = checks.check_fixed_relu_forward(clips_a_copy_and_x)
    assert_named(result, "clipped in place")
    assert "changed its argument `x` in place" in result.message
    capsys.readouterr()
