"""A fresh set of typical wrong answers to the whole-layer exercises, for the framework's diagnosis.

Written in one go before any of them was run, independently of tests/test_diagnosis.py's 63 and of the
exercises' Mistake lists: each is the notebook's solution (tests/notebook_answers.py) with one slip a
student makes, with the words its message must hold to name that slip. Each must fail.

FIRST-RUN RATE (the honest measurement, before any change made for this set): see the report below.
"""

import pytest

from course_machinery import checks

from notebook_answers import mutated

# (notebook, exercise, old text, new text, words the message must hold when it names the slip)
FRESH_WRONG_ANSWERS = [
    # convolution forward, loops
    ("02", "conv2d_forward_loops", "x_pad = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))",
     "x_pad = np.pad(x, ((0, 0), (0, 0), (0, 2 * p), (0, 2 * p)))", ["shifted"]),
    ("02", "conv2d_forward_loops", "patch * W[f]", "patch * W[f, :, ::-1, ::-1]", ["flipped"]),
    ("02", "conv2d_forward_loops", "np.sum(patch * W[f]) + b[f]", "np.sum(patch * W[f] + b[f])", ["b added"]),
    ("02", "conv2d_forward_loops", "out[n, f, y, x_] =", "out[n, f, x_, y] =", ["transposed"]),
    # max pool forward
    ("04", "maxpool_forward", "window.max()", "window.mean()", ["average"]),
    ("04", "maxpool_forward", "y * stride:y * stride + kernel_size, x_ * stride:x_ * stride + kernel_size",
     "y:y + kernel_size, x_:x_ + kernel_size", ["stride"]),
    ("04", "maxpool_forward", "H_out = (H - kernel_size) // stride + 1", "H_out = H // stride", ["shape"]),
    # col2im
    ("03", "col2im_loops", "+= cols[row, column]", "= cols[row, column]", ["= where += belongs"]),
    ("03", "col2im_loops", "for n in range(N):", "for n in range(N - 1):", ["last image"]),
    ("03", "col2im_loops", "return dx_padded[:, :, p:p + H, p:p + W]", "return dx_padded[:, :, p:H, p:W]",
     ["shape"]),
    # convolution backward, loops
    ("03", "conv2d_backward_loops", "dx_pad[window] += dout[n, f, u, v] * W[f]",
     "dx_pad[window] += dout[n, f, u, v] * W[f, :, ::-1, ::-1]", ["dx wrong", "dW right", "flipped"]),
    ("03", "conv2d_backward_loops", "dW[f] += dout[n, f, u, v] * x_pad[window]",
     "dW[f] += dout[n, f, u, v] * x_pad[window][:, ::-1, ::-1]", ["dW wrong", "flipped"]),
    ("03", "conv2d_backward_loops", "slice(s * u, s * u + k), slice(s * v, s * v + k)",
     "slice(u, u + k), slice(v, v + k)", ["stride"]),
    ("03", "conv2d_backward_loops", "dx_pad[window] += dout[n, f, u, v] * W[f]",
     "dx_pad[window] = dout[n, f, u, v] * W[f]", ["dx wrong", "= where += belongs"]),
    # convolution backward by correlation
    ("03", "conv2d_backward_by_correlation", "(k - 1, k - 1), (k - 1, k - 1)", "(k, k), (k, k)",
     ["dx wrong", "shifted"]),
    ("03", "conv2d_backward_by_correlation", "W[:, :, ::-1, ::-1]", "W[:, :, :, ::-1]", ["dx wrong", "flip"]),
    ("03", "conv2d_backward_by_correlation", "dout.sum(axis=(0, 2, 3))", "dout.sum(axis=(0, 2))",
     ["db wrong", "shape"]),
    # max pool backward
    ("04", "maxpool_backward", "+= dout[n, c, y, x_]", "= dout[n, c, y, x_]", ["= where += belongs"]),
    ("04", "maxpool_backward", "dx[n, c, y * stride + i, x_ * stride + j]", "dx[n, c, y + i, x_ + j]",
     ["stride"]),
    ("04", "maxpool_backward", "i, j = np.unravel_index", "j, i = np.unravel_index", ["swapped"]),
    # softmax cross-entropy
    ("05", "softmax_cross_entropy", "loss = -log_probs[np.arange(N), labels].mean()",
     "loss = -log_probs[np.arange(N), labels].sum()", ["loss wrong", "dlogits right", "N"]),
    ("05", "softmax_cross_entropy", "dlogits[np.arange(N), labels] -= 1", "dlogits[np.arange(N), labels] += 1",
     ["label", "sign"]),
    ("05", "softmax_cross_entropy", "return loss, dlogits / N", "return loss, dlogits", ["dlogits wrong", "N"]),
    # two-layer network backward
    ("06", "two_layer_backward", "dW2, db2 = h.T @ dscores", "dW2, db2 = z.T @ dscores",
     ["dW2 wrong", "before the ReLU"]),
    ("06", "two_layer_backward", "    dscores[np.arange(N), labels] -= 1\n", "", ["one-hot"]),
    ("06", "two_layer_backward", "h.T @ dscores, dscores.sum(axis=0)", "h.T @ dscores, dscores.mean(axis=0)",
     ["db2 wrong", "1/N"]),
    # SGD with momentum
    ("07", "sgd_momentum_step", "momentum * velocity + gradient", "momentum * velocity + (1 - momentum) * gradient",
     ["1 - momentum"]),
    ("07", "sgd_momentum_step", "weights - lr * new_velocity", "weights - lr * velocity",
     ["new_weights wrong", "old velocity"]),
    # Adam
    ("07", "adam_step", "(1 - beta2) * gradient ** 2", "(1 - beta2) * gradient", ["s wrong", "square"]),
    ("07", "adam_step", "(np.sqrt(s_hat) + eps)", "(s_hat + eps)", ["sqrt"]),
    ("07", "adam_step", "(np.sqrt(s_hat) + eps), m, s", "(np.sqrt(s_hat) + eps), m_hat, s_hat",
     ["m wrong", "s wrong", "bias correction"]),
    # RMSprop
    ("10", "rmsprop_step", "alpha * mean_square + (1 - alpha) * gradient ** 2",
     "(1 - alpha) * mean_square + alpha * gradient ** 2", ["swapped"]),
    ("10", "rmsprop_step", "(np.sqrt(mean_square) + eps)", "np.sqrt(mean_square + eps)", ["eps"]),
    ("10", "rmsprop_step", "weights - lr * gradient", "weights + lr * gradient", ["sign"]),
    # batch-norm forward
    ("10", "batchnorm_forward", "np.sqrt(x.var(axis=0) + eps)", "(x.std(axis=0) + eps)", ["eps"]),
    ("10", "batchnorm_forward", "(x - x.mean(axis=0))", "(x - x.mean())", ["axis"]),
    ("10", "batchnorm_forward", "gamma * x_hat + beta", "gamma * (x_hat + beta)", ["beta"]),
    # batch-norm backward
    ("10", "batchnorm_backward", "dx = gamma * inv_std * (", "dx = inv_std * (", ["dx wrong", "gamma"]),
    ("10", "batchnorm_backward", "dout.mean(axis=0) - x_hat", "dout.mean(axis=0) + x_hat",
     ["dx wrong", "dgamma right", "sign"]),
    # layer-norm backward
    ("10", "layernorm_backward", "h = gamma * dout", "h = dout", ["dx wrong", "gamma"]),
    ("10", "layernorm_backward", "(dout * x_hat).sum(axis=0), dout.sum(axis=0)",
     "(dout * x_hat).sum(axis=1), dout.sum(axis=1)", ["dgamma wrong", "dbeta wrong", "axis"]),
    ("10", "layernorm_backward", "h - h.mean(axis=1, keepdims=True)", "h - h.mean(axis=0, keepdims=True)",
     ["dx wrong", "axis"]),
]


def _verdict(notebook, name, old, new):
    return getattr(checks, f"check_{name}")(mutated(notebook, name, old, new))


@pytest.mark.parametrize("notebook, name, old, new, words", FRESH_WRONG_ANSWERS,
                         ids=[f"{n}-{name}-{i}" for i, (n, name, *_) in enumerate(FRESH_WRONG_ANSWERS)])
def test_a_fresh_wrong_answer_fails_and_its_message_names_the_slip(notebook, name, old, new, words, capsys):
    result = _verdict(notebook, name, old, new)
    assert not result, f"accepted: {new!r}"
    missing = [word for word in words or [] if word.lower() not in result.message.lower()]
    assert not missing, f"{missing} not in:\n{result.message}"
