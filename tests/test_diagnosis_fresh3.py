"""A third fresh set of typical wrong answers to the whole-layer exercises: the honest measurement after
diagnosis.py was improved on tests/test_diagnosis_fresh2.py's set.

Protocol: written in one go after those improvements and committed before its first run; each entry is the
notebook's solution (tests/notebook_answers.py) with one slip, different from every slip in the earlier
sets, with the words its author guessed a naming message would hold. Caveat: unlike set 2, its author had
read diagnosis.py by then (while improving it), so the set is fresh to the framework but not to its author;
no slip was chosen to fit (or to dodge) a rule. On the first run each message is read and judged by hand.

First run: (to be filled in after the one run)
"""

import pytest

from course_machinery import checks

from notebook_answers import mutated

# (notebook, exercise, old text, new text, words the message must hold when it names the slip)
FRESH_WRONG_ANSWERS = [
    ("02", "conv2d_forward_loops", "np.sum(patch * W[f]) + b[f]", "np.sum(patch * W[f] + b[f])", ["bias"]),
    ("02", "conv2d_forward_loops", "np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))",
     "np.pad(x, ((p, p), (p, p), (0, 0), (0, 0)))", ["pad"]),
    ("02", "conv2d_forward_loops", "out[n, f, y, x_] =", "out[n, f, x_, y] =", ["transposed"]),
    ("02", "conv2d_single", "stride * y:stride * y + k, stride * x:stride * x + k", "y:y + k, x:x + k",
     ["stride"]),
    ("03", "col2im_loops", "np.zeros((N, C, H + 2 * p, W + 2 * p))", "np.zeros((N, C, H + p, W + p))",
     ["padding"]),
    ("03", "col2im_loops", "row = c * k * k + i * k + j", "row = c * k + i * k + j", ["row"]),
    ("03", "conv2d_backward_loops", "db[f] += dout[n, f, u, v]", "db[f] = dout[n, f, u, v]", ["db", "+="]),
    ("03", "conv2d_backward_loops", "dx_pad[window] += dout[n, f, u, v] * W[f]",
     "dx_pad[window] += dout[n, f, u, v] * W[f] / W.shape[0]", ["dx", "1/"]),
    ("03", "conv2d_backward_loops", "x_pad = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p))).astype(np.float64)",
     "x_pad = x.astype(np.float64)", ["padding"]),
    ("03", "conv2d_backward_by_correlation", "(k - 1, k - 1), (k - 1, k - 1)", "(0, 0), (0, 0)",
     ["dx", "k - 1"]),
    ("03", "conv2d_backward_by_correlation", "dW, dout.sum(axis=(0, 2, 3))", "dW, dout.sum(axis=(2, 3))",
     ["db", "axis"]),
    ("03", "dilate", "np.zeros((N, F,", "np.ones((N, F,", ["zeros"]),
    ("04", "maxpool_forward", "y * stride:y * stride + kernel_size, x_", "y * stride:y * stride + stride, x_",
     ["kernel"]),
    ("04", "maxpool_forward", "window.max()", "np.abs(window).max()", ["abs"]),
    ("04", "maxpool_backward", "i, j = np.unravel_index", "j, i = np.unravel_index", ["swapped"]),
    ("04", "maxpool_backward", "dx[n, c, y * stride + i, x_ * stride + j]", "dx[n, c, y + i, x_ + j]",
     ["stride"]),
    ("05", "softmax_cross_entropy", "dlogits = np.exp(log_probs)", "dlogits = np.exp(log_probs) / N",
     ["dlogits", "1/N"]),
    ("05", "softmax_cross_entropy", "-log_probs[np.arange(N), labels]", "-log_probs[labels, np.arange(N)]",
     ["loss", "labels"]),
    ("05", "softmax_cross_entropy", "np.exp(shifted).sum(axis=1, keepdims=True)",
     "np.exp(shifted).sum(axis=0, keepdims=True)", ["axis"]),
    ("06", "dense_backward", "dx = dout @ W.T", "dx = dout @ W.T / len(dout)", ["dx", "1/N"]),
    ("06", "dense_backward", "dW = x.T @ dout", "dW = x[:1].T @ dout[:1]", ["dW", "first"]),
    ("06", "two_layer_backward", "dh = dscores @ W2.T", "dh = dscores @ W2", ["W2", "transpose"]),
    ("06", "two_layer_backward", "dW2, db2 = h.T @ dscores", "dW2, db2 = z.T @ dscores", ["dW2", "relu"]),
    ("07", "sgd_momentum_step", "return weights - lr * new_velocity", "return weights - lr * velocity",
     ["old velocity"]),
    ("07", "sgd_momentum_step", "momentum * velocity + gradient", "velocity + momentum * gradient",
     ["momentum"]),
    ("07", "adam_step", "s_hat = s / (1 - beta2 ** t)", "s_hat = s / (1 - beta1 ** t)", ["beta1", "beta2"]),
    ("07", "adam_step", "(1 - beta2) * gradient ** 2", "(1 - beta2) * np.abs(gradient)", ["square"]),
    ("07", "adam_step", "lr * m_hat / (np.sqrt(s_hat) + eps)", "lr * m / (np.sqrt(s) + eps)",
     ["bias correction"]),
    ("10", "rmsprop_step", "lr * gradient / (np.sqrt(mean_square) + eps)", "lr * gradient / (mean_square + eps)",
     ["square root"]),
    ("10", "batchnorm_forward", "gamma * x_hat + beta", "gamma * x_hat - beta", ["beta"]),
    ("10", "batchnorm_forward", "(x - x.mean(axis=0))", "(x - x.mean())", ["mean"]),
    ("10", "batchnorm_backward", "dout - dout.mean(axis=0) - x_hat", "dout - x_hat", ["mean"]),
    ("10", "batchnorm_backward", "dgamma = (dout * x_hat).sum(axis=0)", "dgamma = (dout * x_hat).mean(axis=0)",
     ["dgamma", "1/N"]),
    ("10", "batchnorm_backward_staged", "dr = (dx_hat * c).sum(axis=0)", "dr = (dx_hat * c)", ["dx", "sum"]),
    ("10", "batchnorm_backward_staged", "dx = dc + dmu / m", "dx = dc + dmu", ["dx", "m"]),
    ("10", "layernorm_forward", "np.sqrt(x.var(axis=1, keepdims=True) + eps)",
     "np.sqrt(x.var(axis=1, keepdims=True)) + eps", ["eps"]),
    ("10", "layernorm_backward", "return dx, (dout * x_hat).sum(axis=0), dout.sum(axis=0)",
     "return dx, dout.sum(axis=0), (dout * x_hat).sum(axis=0)", ["wrong order"]),
    ("10", "layernorm_backward", "h.mean(axis=1, keepdims=True) - x_hat", "h.mean(axis=0, keepdims=True) - x_hat",
     ["dx", "axis"]),
    ("10", "batchnorm2d_forward", "np.sqrt(columns.var(axis=0) + eps)", "np.sqrt(columns.std(axis=0) + eps)",
     ["variance"]),
    ("10", "batchnorm2d_running_statistics", "x.var(axis=(0, 2, 3))", "x.var(axis=(0, 2, 3), ddof=1)",
     ["m / (m - 1)"]),
    ("10", "batchnorm_eval", "inv_std = 1 / np.sqrt(running_var + eps)", "inv_std = 1 / (running_var + eps)",
     ["square root"]),
    ("10", "residual_backward", "x.T @ d_inner", "x.T @ dout", ["dW", "relu"]),
]


def _entry(entry):
    notebook, name, old, new, words, *count = entry
    return notebook, name, old, new, words, (count[0] if count else 1)


def _verdict(notebook, name, old, new, count):
    return getattr(checks, f"check_{name}")(mutated(notebook, name, old, new, count))


@pytest.mark.parametrize("entry", FRESH_WRONG_ANSWERS,
                         ids=[f"{n}-{name}-{i}" for i, (n, name, *_) in enumerate(FRESH_WRONG_ANSWERS)])
def test_a_fresh_wrong_answer_fails_and_its_message_names_the_slip(entry):
    notebook, name, old, new, words, count = _entry(entry)
    result = _verdict(notebook, name, old, new, count)
    assert not result, f"accepted: {new!r}"
    missing = [word for word in words or [] if word.lower() not in result.message.lower()]
    assert not missing, f"{missing} not in:\n{result.message}"

