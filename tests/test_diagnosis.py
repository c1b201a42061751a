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
    ("02", "conv2d_forward_loops", "np.sum(patch * W[f]) + b[f]", "np.sum(patch * W[f]) - b[f]", ["-2 times b[f]"]),
    ("02", "conv2d_forward_loops", "np.sum(patch * W[f]) + b[f]", "np.sum(patch * W[f]) + x.shape[1] * b[f]",
     ["b added 3 times instead of once"]),
    # col2im
    ("03", "col2im_loops", "+= cols[row, column]", "+= cols[row, column] / (k * k)", ["1/k**2"]),
    ("03", "col2im_loops", "return dx_padded[:, :, p:p + H, p:p + W]", "return dx_padded[:, :, :H, :W]",
     ["shifted by 1 rows and 1 columns", "padding"]),
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
     "W.transpose(1, 0, 3, 2)", ["dx wrong", "dW right", "db right", "a transpose is not a flip"]),
    ("03", "conv2d_backward_by_correlation", "return dx_pad[", "return -dx_pad[", ["dx wrong", "sign"]),
    ("03", "conv2d_backward_by_correlation", "dout.sum(axis=(0, 2, 3))", "dout.sum(axis=(0, 2, 3)) / N",
     ["db wrong", "1/N"]),
    ("03", "conv2d_backward_by_correlation", "[:, :, :k, :k]", "[:, :, -k:, -k:]",
     ["dW wrong", "dx right", "shifted", "last offsets"]),
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
     ["new_weights right", "new_velocity wrong", "the one returned"]),
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

# A second set, written after the diagnosis and not tuned to it (each message read once and judged): the
# words the message holds when it names the slip; None where it does not (it only says which output is wrong,
# or where). These count against the rate below. On first reading 21 of the 28 were named; the 7 misses
# got listed Mistakes afterwards (their words below are from those Mistakes' names), so this set is no
# longer an untuned measurement: tests/test_diagnosis_fresh.py holds the fresh set and its first-run rate.
UNTUNED_WRONG_ANSWERS = [
    ("02", "conv2d_forward_loops", "s * y:s * y + k", "y:y + k", ["stride left out of the row window"]),
    ("02", "conv2d_forward_loops", "out = np.zeros((N, F, H_out, W_out))",
     "out = np.zeros((N, F, H_out, W_out), dtype=x.dtype)", ["floating-point"]),
    ("02", "conv2d_forward_loops", "patch * W[f]", "patch * W[f].transpose(0, 2, 1)", ["kernel transposed"]),
    ("02", "conv2d_forward_loops", "+ b[f]", "+ b[f] * (n == 0)", ["bias added to the first image's outputs only"]),
    ("03", "col2im_loops", "s * u + i, s * v + j", "u + i, v + j", ["stride ignored"]),
    ("03", "col2im_loops", "row = c * k * k + i * k + j", "row = c * k * k + j * k + i", ["i and j swapped"]),
    ("03", "col2im_loops", "column = n * H_out * W_out + u * W_out + v",
     "column = n * H_out * W_out + v * H_out + u", ["u and v swapped"]),
    ("03", "conv2d_backward_loops", "db[f] += dout[n, f, u, v]", "db[f] = dout[n, f, u, v]", ["db[f] = instead of +="]),
    ("03", "conv2d_backward_loops", "dW[f] += dout[n, f, u, v] * x_pad[window]",
     "dW[f] += dout[n, f, u, v] * x_pad[window] / N", ["dW divided by N"]),
    ("03", "conv2d_backward_loops", "return dx_pad[:, :, p:p + H, p:p + W_in]", "return dx_pad", ["not cropped"]),
    ("03", "conv2d_backward_by_correlation", "G = dilate(dout, stride)", "G = dout", ["not dilated"]),
    ("03", "conv2d_backward_by_correlation", "dout.sum(axis=(0, 2, 3))", "dout.sum(axis=(2, 3))[0]",
     ["db wrong", "only the first image"]),
    ("04", "maxpool_backward", "np.argmax(window)", "np.argmin(window)", ["argmin instead of np.argmax"]),
    ("04", "maxpool_backward", "dx = np.zeros(x.shape, dtype=dout.dtype)", "dx = np.zeros(x.shape, dtype=x.dtype)",
     ["floating-point"]),
    ("05", "softmax_cross_entropy", "dlogits[np.arange(N), labels] -= 1", "dlogits[:, labels] -= 1",
     ["p[:, labels] -= 1"]),
    ("05", "softmax_cross_entropy", "return loss, dlogits / N", "return loss, dlogits / N ** 2",
     ["loss right", "dlogits wrong", "1/N applied twice"]),
    ("06", "two_layer_backward", "    dscores /= N\n", "    \n", ["not divided by N"]),
    ("06", "two_layer_backward", "dz = dh * (z > 0)", "dz = dh", ["no ReLU mask"]),
    ("06", "two_layer_backward", "dW1, db1 = x.T @ dz, dz.sum(axis=0)", "dW1, db1 = x.T @ dz, dz.sum(axis=1)",
     ["db1 wrong", "over the wrong axis"]),
    ("07", "sgd_momentum_step", "weights - lr * new_velocity", "weights - new_velocity", ["lr left out"]),
    ("07", "sgd_momentum_step", "momentum * velocity + gradient", "momentum * velocity - gradient",
     ["new_velocity is -1 times", "sign"]),
    ("07", "adam_step", "m_hat = m / (1 - beta1 ** t)", "m_hat = m", ["m used as it is"]),
    ("07", "adam_step", "weights - lr", "weights + lr", ["new_weights is -1 times", "sign"]),
    ("07", "adam_step", "s_hat = s / (1 - beta2 ** t)", "s_hat = s / (1 - beta1 ** t)",
     ["beta1 used in a bias correction where beta2 belongs"]),
    ("10", "batchnorm_backward", "(dout - dout.mean(axis=0) - x_hat * (dout * x_hat).mean(axis=0))",
     "(dout - dout.mean(axis=0))", ["missing the variance's term"]),
    ("10", "batchnorm_backward", "x.var(axis=0)", "x.var(axis=0, ddof=1)", ["sample variance"]),
    ("10", "batchnorm_backward", "dgamma = (dout * x_hat).sum(axis=0)", "dgamma = (dout * x_hat)[0]",
     ["dgamma from the first example only"]),
    ("10", "batchnorm_backward", "dbeta = dout.sum(axis=0)", "dbeta = dout.sum(axis=0) / len(x)",
     ["dbeta wrong", "1/N"]),
]


def _message(notebook, name, old, new):
    answer = mutated(notebook, name, old, new)
    result = getattr(checks, f"check_{name}")(answer)
    return result


@pytest.mark.parametrize("notebook, name, old, new, words", WRONG_ANSWERS,
                         ids=[f"{n}-{name}-{i}" for i, (n, name, *_) in enumerate(WRONG_ANSWERS)])
def test_a_wrong_answer_fails_and_its_message_names_the_slip(notebook, name, old, new, words, capsys):
    result = _message(notebook, name, old, new)
    assert not result, f"accepted: {new!r}"
    missing = [word for word in words if word.lower() not in result.message.lower()]
    assert not missing, f"{missing} not in:\n{result.message}"


@pytest.mark.parametrize("notebook, name, old, new, words", UNTUNED_WRONG_ANSWERS,
                         ids=[f"{n}-{name}-{i}" for i, (n, name, *_) in enumerate(UNTUNED_WRONG_ANSWERS)])
def test_an_untuned_wrong_answer_fails_and_says_what_it_is_said_to(notebook, name, old, new, words, capsys):
    result = _message(notebook, name, old, new)
    assert not result, f"accepted: {new!r}"
    missing = [word for word in words or [] if word.lower() not in result.message.lower()]
    assert not missing, f"{missing} not in:\n{result.message}"


def test_the_rate_of_named_mistakes(capsys):
    """The number the report gives: of all the wrong answers above, how many get a message that names the slip."""
    named = sum(words is not None for *_, words in WRONG_ANSWERS + UNTUNED_WRONG_ANSWERS)
    total = len(WRONG_ANSWERS) + len(UNTUNED_WRONG_ANSWERS)
    with capsys.disabled():
        print(f"\nnamed: {len(WRONG_ANSWERS)} of {len(WRONG_ANSWERS)} written with the diagnosis, "
              f"{named - len(WRONG_ANSWERS)} of {len(UNTUNED_WRONG_ANSWERS)} in the second set (21 at its first "
              f"reading, before the 7 misses were tuned); {named} of {total} in all")
    assert named >= 0.7 * total


# --- the diagnosis on its own: a made-up exercise whose reference is known -------------------------

def _reference(x, W, lr):
    """A made-up exercise with a tuple of outputs: (x @ W (N, M) as a 4-D array, lr * W.sum(0))."""
    return (x @ W).reshape(x.shape[0], 2, 3, W.shape[1] // 6), lr * W.sum(axis=0)


_RNG = np.random.default_rng(5)
_ARGS = (_RNG.standard_normal((5, 4)), _RNG.standard_normal((4, 24)), 0.1)
_CASES = [Case("a batch of five", _ARGS, _reference(*_ARGS), hint="the hint of the batch of five")]


def _diagnosis_of(wrong_first_output):
    def answer(x, W, lr):
        first, second = _reference(x, W, lr)
        return wrong_first_output(first), second
    result = check_exercise("made_up", answer, _CASES, doc="``made_up(x, W, lr) -> (out, total)``")
    assert not result
    return result.message


@pytest.mark.parametrize("slip, words", [
    (lambda out: out[:, :, ::-1, :], ["out wrong", "total right", "flipped along axis 2"]),
    (lambda out: out[:, ::-1, ::-1, ::-1], ["flipped along axis 1 and 2 and 3"]),
    (lambda out: out.transpose(0, 2, 1, 3), ["axes 1 and 2 swapped (transposed)"]),
    (lambda out: out.transpose(0, 3, 1, 2), ["axes permuted as (0, 3, 1, 2)"]),
    (lambda out: out / 5, ["1/N = 1/5", "batch size"]),
    (lambda out: out * 0.1, ["lr = 0.1"]),
    (lambda out: np.concatenate([out[:1], 2 * out[1:]]), ["first image", "axis 0"]),
    (lambda out: np.concatenate([out[:, :1], out[:, 1:] * 3], axis=1), ["first channel", "axis 1"]),
    (lambda out: out + 3e-7, ["off by at most 3e-07"]),
    (lambda out: out[:, :, :2], ["shape (5, 2, 2, 4) where (5, 2, 3, 4) is expected", "axis 2: 2 instead of 3"]),
    (lambda out: out + np.array([1.0, -1.0]).reshape(1, 2, 1, 1), ["depends only on the index along axis 1"]),
])
def test_the_diagnosis_says_how_an_output_differs(slip, words):
    message = _diagnosis_of(slip)
    missing = [word for word in words if word.lower() not in message.lower()]
    assert not missing, f"{missing} not in:\n{message}"


def test_right_except_at_the_border():
    args = (np.arange(36.0).reshape(1, 1, 6, 6),)
    cases = [Case("one 6x6 image", args, args[0] * 2)]

    def answer(x):
        out = x * 2
        out[..., 0, :] = 0
        return out
    message = check_exercise("border", answer, cases).message
    assert "wrong only at the border" in message


def test_the_hint_shown_is_that_of_the_case_whose_symptom_is_diagnosed():
    small, large = (np.ones((1, 3)),), (np.arange(12.0).reshape(4, 3),)
    cases = [Case("a batch of one", small, small[0].sum(0), hint="hint of the batch of one"),
             Case("a batch of four", large, large[0].sum(0), hint="hint of the batch of four")]
    message = check_exercise("column_sums", lambda x: x[0] * x.shape[0] ** 0 + 0 * x.sum(0) * 0 + x[0] * 0,
                             cases).message
    assert "batch of one (N = 1)" in message and "hint of the batch of four" in message, message


@pytest.mark.parametrize("junk", [
    None, "text", [[1, 2], [3]], np.full((5, 2, 3, 4), np.nan), np.full((5, 2, 3, 4), np.inf),
    np.broadcast_to(np.zeros(1), (10 ** 9,)), np.zeros((5, 2, 3, 4), dtype=object), (1, 2, 3), 7,
    np.zeros((5, 2, 3, 4), dtype=bool), np.zeros((0,)),
])
def test_the_diagnosis_never_raises_on_junk(junk):
    result = check_exercise("made_up", lambda x, W, lr: (junk, junk), _CASES,
                            doc="``made_up(x, W, lr) -> (out, total)``")
    assert not result and result.message.startswith("made_up")


def test_output_names_come_from_the_doc_or_are_numbered():
    assert diagnosis.output_names("``f(x) -> (dx, dW, db)``: ...", 3) == ["dx", "dW", "db"]
    assert diagnosis.output_names("``f(x)`` -> (new_weights, new_velocity)", 2) == ["new_weights", "new_velocity"]
    assert diagnosis.output_names("``f(x) -> (N, C, H, W)``", 2) == ["item 0", "item 1"]


def test_a_listed_mistake_keeps_its_name_and_gets_no_generic_diagnosis():
    answer = mutated("03", "conv2d_backward_loops", "dx_pad[:, :, p:p + H, p:p + W_in], dW, db",
                     "dx_pad, dW, db")
    message = checks.check_conv2d_backward_loops(answer).message
    assert "known mistake: the padding not cropped from dx" in message and "what differs" not in message


def test_an_output_too_large_to_examine_gets_the_verdict_alone():
    x = np.zeros((400, 400))
    cases = [Case("a large array", (x,), x + 1.0)]
    message = check_exercise("large", lambda x: -(x + 1.0), cases).message
    assert "wrong values at 160000 of 160000 positions" in message and "what differs" not in message
