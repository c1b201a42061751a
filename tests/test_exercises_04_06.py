"""Tests of the exercise checks of notebooks 04-06 (max pooling, softmax and
cross-entropy, dense layers and activations).

For every check: the reference solution passes; a typical wrong answer fails
with a message naming the case, saying what was expected and giving the hint
for that mistake; an unanswered exercise prints "not implemented yet".
"""

import math

import numpy as np
import pytest

import scratchcnn


# --- reference solutions (the notebooks' solution cells) ----------------------

def maxpool_forward(x, kernel_size, stride):
    return scratchcnn.maxpool2d_naive(x, kernel_size, stride)   # the notebook's loop solution, as in the module


def maxpool_backward(x, dout, kernel_size, stride, *, assign=False, all_ties=False):
    """The reference, plus the two classic bugs: '=' instead of '+=' and
    sending the gradient to every tied position."""
    N, C, H_out, W_out = dout.shape
    dx = np.zeros(x.shape, dtype=dout.dtype)
    for n in range(N):
        for c in range(C):
            for y in range(H_out):
                for x_ in range(W_out):
                    rows = slice(y * stride, y * stride + kernel_size)
                    cols = slice(x_ * stride, x_ * stride + kernel_size)
                    window = x[n, c, rows, cols]
                    if all_ties:
                        dx[n, c, rows, cols] += (window == window.max()) * dout[n, c, y, x_]
                        continue
                    i, j = np.unravel_index(np.argmax(window), window.shape)
                    if assign:
                        dx[n, c, y * stride + i, x_ * stride + j] = dout[n, c, y, x_]
                    else:
                        dx[n, c, y * stride + i, x_ * stride + j] += dout[n, c, y, x_]
    return dx


def stable_softmax(logits):
    shifted = logits - logits.max(axis=1, keepdims=True)
    exps = np.exp(shifted)
    return exps / exps.sum(axis=1, keepdims=True)


def naive_softmax(logits):
    exps = np.exp(logits)
    return exps / exps.sum(axis=1, keepdims=True)


def cross_entropy_loss(logits, labels):
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return -log_probs[np.arange(len(labels)), labels].mean()


def softmax_cross_entropy_gradient(logits, labels):
    gradient = stable_softmax(logits)
    gradient[np.arange(len(labels)), labels] -= 1
    return gradient / len(labels)


def not_implemented(*args):
    raise NotImplementedError()


# --- the table of checks: (check, reference, typical wrong answer, words the message must contain)

CHECKS = {
    "maxpool_forward": (
        scratchcnn.check_maxpool_forward, maxpool_forward,
        # Running maximum started at 0: wrong as soon as a window is all negative.
        lambda x, k, s: np.maximum(maxpool_forward(x, k, s), 0),
        ["all-negative input", "-inf"]),
    "maxpool_backward_assign": (
        scratchcnn.check_maxpool_backward, maxpool_backward,
        lambda x, dout, k, s: maxpool_backward(x, dout, k, s, assign=True),
        ["overlapping windows", "use += not ="]),
    "maxpool_backward_all_ties": (
        scratchcnn.check_maxpool_backward, maxpool_backward,
        lambda x, dout, k, s: maxpool_backward(x, dout, k, s, all_ties=True),
        ["ties", "one winner per window"]),
    "pooled_shape": (
        scratchcnn.check_pooled_shape, lambda: (1, 1, 3, 3),
        lambda: (1, 1, 4, 4),            # 7 / 2 rounded up
        ["kernel 3, stride 2", "(H - k) // s + 1"]),
    "centre_gradient": (
        scratchcnn.check_centre_gradient, lambda: 10.0,
        lambda: 4.0,                     # what '=' leaves behind: the last window's dout
        ["centre pixel", "SUM of all four dout values"]),
    "stable_softmax": (
        scratchcnn.check_stable_softmax, stable_softmax, naive_softmax,
        ["huge logits", "subtract the row's maximum"]),
    "stable_softmax_global_max": (
        scratchcnn.check_stable_softmax, stable_softmax,
        lambda z: naive_softmax(z - z.max()),
        ["rows of different scale", "OWN maximum"]),
    "cross_entropy_loss": (
        scratchcnn.check_cross_entropy_loss, cross_entropy_loss,
        lambda z, y: -np.log(stable_softmax(z)[np.arange(len(y)), y]).sum(),
        ["batch of 4 examples", "the mean, not the sum"]),
    "cross_entropy_loss_log_of_softmax": (
        scratchcnn.check_cross_entropy_loss, cross_entropy_loss,
        lambda z, y: -np.log(stable_softmax(z)[np.arange(len(y)), y]).mean(),
        ["huge logits", "log(0) = -inf"]),
    "softmax_cross_entropy_gradient": (
        scratchcnn.check_softmax_cross_entropy_gradient, softmax_cross_entropy_gradient,
        lambda z, y: softmax_cross_entropy_gradient(z, y) * len(y),     # forgot / N
        ["batch of 4 examples", "divide p - y by N"]),
    "uniform_loss": (
        scratchcnn.check_uniform_loss, lambda K: math.log(K),
        lambda K: math.log10(K),
        ["K = 10 classes", "NATURAL log"]),
    "dense_backward": (
        scratchcnn.check_dense_backward,
        lambda x, W, dout: (dout @ W.T, x.T @ dout, dout.sum(axis=0)),
        lambda x, W, dout: (dout @ W.T, x.T @ dout, dout.mean(axis=0)),
        ["batch: N=4", "no mean"]),
    "dense_backward_transpose": (
        scratchcnn.check_dense_backward,
        lambda x, W, dout: (dout @ W.T, x.T @ dout, dout.sum(axis=0)),
        lambda x, W, dout: (dout @ W if W.shape[0] == W.shape[1] else dout @ W.T, x.T @ dout, dout.sum(axis=0)),
        ["square weights", "dout @ W.T (not dout @ W)"]),
    "relu_backward": (
        scratchcnn.check_relu_backward, lambda x, dout: dout * (x > 0),
        lambda x, dout: dout * (dout > 0),                             # mask built from dout
        ["mixed signs", "INPUT x"]),
    "relu_backward_clipped_dout": (
        scratchcnn.check_relu_backward, lambda x, dout: dout * (x > 0),
        lambda x, dout: np.maximum(dout, 0) * (x > 0),
        ["negative upstream gradient", "never clipped"]),
    "relu_backward_at_zero": (
        scratchcnn.check_relu_backward, lambda x, dout: dout * (x > 0),
        lambda x, dout: dout * (x >= 0),
        ["x exactly 0", "x > 0, strictly"]),
    "inverted_dropout": (
        scratchcnn.check_inverted_dropout, lambda x, keep, p: x * keep / (1 - p),
        lambda x, keep, p: x * keep / p if p else x,                     # scaled by 1/p
        ["p = 0.2", "KEEP probability 1 - p"]),
    "predicted_std": (
        scratchcnn.check_predicted_std, lambda fan_in, weight_std: math.sqrt(fan_in) * weight_std,
        lambda fan_in, weight_std: fan_in * weight_std,
        ["fan_in 100, weight std 0.1", "sqrt(fan_in) * weight_std"]),
}


@pytest.mark.parametrize("name", CHECKS)
def test_reference_passes(name, capsys):
    check, reference, _, _ = CHECKS[name]
    assert check(reference)
    assert "pass" in capsys.readouterr().out


@pytest.mark.parametrize("name", CHECKS)
def test_typical_mistake_fails_with_case_expected_and_hint(name, capsys):
    check, _, wrong, words = CHECKS[name]
    with np.errstate(all="ignore"):
        assert not check(wrong)
    message = capsys.readouterr().out
    assert "expected" in message
    assert "hint:" in message
    for word in words:
        assert word in message, f"{word!r} missing from: {message}"


@pytest.mark.parametrize("name", CHECKS)
def test_not_implemented(name, capsys):
    check = CHECKS[name][0]
    assert not check(not_implemented)
    assert "not implemented yet" in capsys.readouterr().out


def test_naive_softmax_warnings_are_silenced(recwarn, capsys):
    """A naive softmax overflows; the check reports it in its message, not as RuntimeWarnings."""
    assert not scratchcnn.check_stable_softmax(naive_softmax)
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]
    assert "got nan" in capsys.readouterr().out


def test_centre_gradient_example_matches_the_module():
    x, dout = scratchcnn.centre_gradient_example()
    layer = scratchcnn.MaxPool2D(3, 2)
    layer.forward(x)
    assert layer.backward(dout)[0, 0, 2, 2] == dout.sum() == 10.0
