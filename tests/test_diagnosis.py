"""The framework's own diagnosis (checks/diagnosis.py) on typical wrong answers to the whole-layer exercises.

Each wrong answer is the notebook's solution with one slip (tests/notebook_answers.py ``mutated``), written
for this file, independently of the exercises' Mistake lists: a student's slip the listed mistakes do not
name. Each must fail, and its message must name what is wrong, in words (the key words asserted below).
"""

import numpy as np
import pytest

from course_machinery import checks
from course_machinery.checks import diagnosis
from course_machinery.checks.framework import Case, check_exercise

from notebook_answers import mutated

# (notebook, exercise, old text, new text, words the message must hold (each an alternative list or a string))
WRONG_ANSWERS = [
    # convolution forward, loops
    ("02", "conv2d_forward_loops", "for n in range(N):", "for n in range(1):", ["first image"]),
    ("02", "conv2d_forward_loops", "(H + 2 * p - k) // s + 1, (W_in + 2 * p - k) // s + 1",
     "(H + p - k) // s + 1, (W_in + p - k) // s + 1", ["shape", "axis 2", "axis 3"]),
    ("02", "conv2d_forward_loops", "np.sum(patch * W[f]) + b[f]", "np.sum(patch * W[f]) - b[f]", ["b"]),
    # col2im
    ("03", "col2im_loops", "+= cols[row, column]", "+= cols[row, column] / (k * k)", ["1/k**2"]),
    ("03", "col2im_loops", "for c in range(C):", "for c in range(1):", ["first channel"]),
    # convolution backward, loops
    ("03", "conv2d_backward_loops", "dx_pad[:, :, p:p + H, p:p + W_in], dW, db",
     "dx_pad[:, :, p:p + H, p:p + W_in], dW / N, db / N", ["dx right", "dW wrong", "db wrong", "1/N"]),
    ("03", "conv2d_backward_loops", "dx_pad[window] += dout", "dx_pad[window] -= dout",
     ["dx wrong", "dW right", "sign"]),
    ("03", "conv2d_backward_loops", "dx_pad[:, :, p:p + H, p:p + W_in], dW, db",
     "dx_pad[:, :, p:p + H, p:p + W_in], dW, dout[0].sum(axis=(1, 2))", ["db wrong", "batch of one"]),
    ("03", "conv2d_backward_loops", "dW[f] += dout[n, f, u, v] * x_pad[window]",
     "dW[f] += (n == 0) * dout[n, f, u, v] * x_pad[window]", ["dW wrong", "dx right", "batch of one"]),
    ("03", "conv2d_backward_loops", "    for n in range(N):", "    dout = -dout\n    for n in range(N):",
     ["dx wrong", "dW wrong", "db wrong", "sign"]),
    ("03", "conv2d_backward_loops", "db[f] += dout[n, f, u, v]", "db[f] += 2 * dout[n, f, u, v]",
     ["db wrong", "2 times"]),
    # convolution backward by correlation
    ("03", "conv2d_backward_by_correlation", "W[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)",
     "W.transpose(1, 0, 3, 2)", ["dx wrong", "dW right", "transposed"]),
    ("03", "conv2d_backward_by_correlation", "return dx_pad[", "return -dx_pad[", ["dx wrong", "sign"]),
    ("03", "conv2d_backward_by_correlation", "dout.sum(axis=(0, 2, 3))", "dout.sum(axis=(0, 2, 3)) / N",
     ["db wrong", "1/N"]),
    ("03", "conv2d_backward_by_correlation", "[:, :, :k, :k]", "[:, :, -k:, -k:]", ["dW wrong", "dx right"]),
    # max pool backward
    ("04", "maxpool_backward", "+= dout[n, c, y, x_]", "+= dout[n, c, y, x_] / kernel_size ** 2",
     ["kernel_size**2"]),
    ("04", "maxpool_backward", "for c in range(C):", "for c in range(1):", ["first channel"]),
    ("04", "maxpool_backward", "for n in range(N):", "for n in range(1):", ["first image"]),
    # softmax cross-entropy
    ("05", "softmax_cross_entropy", "loss = -log_probs", "loss = log_probs", ["sign"]),
    ("05", "softmax_cross_entropy", "np.log(np.exp(shifted).sum(axis=1, keepdims=True))",
     "np.log(np.exp(shifted).sum(axis=1, keepdims=True) + 1e-5)", ["off by at most"]),
    ("05", "softmax_cross_entropy", "return loss, dlogits / N", "return loss * N, dlogits / N",
     ["sum over the batch", "1/N"]),
    # two-layer network backward
    ("06", "two_layer_backward", "dW1, db1 = x.T @ dz, dz.sum(axis=0)", "dW1, db1 = x.T @ dz / N, dz.sum(axis=0) / N",
     ["dW1 wrong", "db1 wrong", "dW2 right", "db2 right", "1/N"]),
    ("06", "two_layer_backward", "dW2, db2 = h.T @ dscores", "dW2, db2 = dscores.T @ h", ["dW2 wrong", "transposed"]),
    ("06", "two_layer_backward", "dh = dscores @ W2.T", "dh = -dscores @ W2.T",
     ["dW1 wrong", "db1 wrong", "dW2 right", "sign"]),
    # SGD with momentum
    ("07", "sgd_momentum_step", "weights - lr * new_velocity", "weights - lr * lr * new_velocity",
     ["new_weights wrong", "new_velocity right", "lr applied twice"]),
    ("07", "sgd_momentum_step", "weights - lr * new_velocity", "weights + lr * new_velocity",
     ["new_weights wrong", "sign"]),
    ("07", "sgd_momentum_step", "weights - lr * new_velocity, new_velocity", "weights - lr * new_velocity, velocity",
     ["new_weights right", "new_velocity wrong"]),
    # Adam
    ("07", "adam_step", "m = beta1 * m + (1 - beta1) * gradient\n    s = beta2 * s + (1 - beta2) * gradient ** 2",
     "m = beta2 * m + (1 - beta2) * gradient\n    s = beta1 * s + (1 - beta1) * gradient ** 2", ["swapped"]),
    ("07", "adam_step", "(np.sqrt(s_hat) + eps)", "np.sqrt(s_hat)", ["off by at most", "eps"]),
    ("07", "adam_step", "weights - lr * m_hat", "weights - lr * lr * m_hat", ["lr applied twice"]),
    # batch-norm backward
    ("10", "batchnorm_backward", "dbeta = dout.sum(axis=0)", "dbeta = dout.mean(axis=0)",
     ["dx right", "dgamma right", "dbeta wrong", "1/N"]),
    ("10", "batchnorm_backward", "dgamma = (dout * x_hat).sum(axis=0)", "dgamma = -(dout * x_hat).sum(axis=0)",
     ["dgamma wrong", "sign"]),
    ("10", "batchnorm_backward", "np.sqrt(x.var(axis=0) + eps)", "np.sqrt(x.var(axis=0))", ["off by at most"]),
]


def _message(notebook, name, old, new):
    answer = mutated(notebook, name, old, new)
    result = getattr(checks, f"check_{name}")(answer)
    return result


@pytest.mark.slow
@pytest.mark.parametrize("notebook, name, old, new, words", WRONG_ANSWERS,
                         ids=[f"{n}-{name}-{i}" for i, (n, name, *_) in enumerate(WRONG_ANSWERS)])
def test_a_wrong_answer_fails_and_its_message_names_the_slip(notebook, name, old, new, words, capsys):
    result = _message(notebook, name, old, new)
    assert not result, f"accepted: {new!r}"
    missing = [word for word in words if word.lower() not in result.message.lower()]
    assert not missing, f"{missing} not in:\n{result.message}"
