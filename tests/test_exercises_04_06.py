"""Tests of the exercise checks of notebooks 04 and 05 (max pooling, softmax and
cross-entropy): the notebooks' own solutions pass, and typical mistakes are each
named. (Notebook 06's checks are tested in tests/test_exercises_06.py.)
"""

import numpy as np
import pytest

import scratchcnn
from course_machinery import checks


def not_implemented(*args):
    raise NotImplementedError()


# --- notebooks 04 and 05 -----------------------------------------------------------------------
# The solutions come from the notebooks' answer cells (tests/notebook_answers.py); the wrong answers
# are those solutions with one slip each, and each must be told its own mistake by name.

from notebook_answers import mutated, solutions   # noqa: E402

SOLVED_04_05 = [(notebook, name) for notebook in ("04", "05") for name in solutions(notebook)]


@pytest.mark.parametrize("notebook, name", SOLVED_04_05, ids=[name for _, name in SOLVED_04_05])
def test_notebook_04_05_solution_passes(notebook, name):
    result = getattr(checks, f"check_{name}")(solutions(notebook)[name])
    assert result, result.message
    assert "pass" in result.message and "warning" not in result.message


@pytest.mark.parametrize("notebook, name", SOLVED_04_05, ids=[name for _, name in SOLVED_04_05])
def test_notebook_04_05_unanswered_says_not_implemented(notebook, name):
    result = getattr(checks, f"check_{name}")(not_implemented)
    assert not result and "not implemented yet" in result.message


def _all_ties_backward(x, dout, kernel_size, stride):
    dx = np.zeros(x.shape)
    for n, c, y, x_ in np.ndindex(*dout.shape):
        rows, cols = slice(y * stride, y * stride + kernel_size), slice(x_ * stride, x_ * stride + kernel_size)
        dx[n, c, rows, cols] += (x[n, c, rows, cols] == x[n, c, rows, cols].max()) * dout[n, c, y, x_]
    return dx


def _last_maximum_backward(x, dout, kernel_size, stride):
    dx = np.zeros(x.shape)
    for n, c, y, x_ in np.ndindex(*dout.shape):
        window = x[n, c, y * stride:y * stride + kernel_size, x_ * stride:x_ * stride + kernel_size]
        i, j = np.argwhere(window == window.max())[-1]
        dx[n, c, y * stride + i, x_ * stride + j] += dout[n, c, y, x_]
    return dx


def _log_of_softmax_loss(logits, labels):
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    return -np.log(probs[np.arange(len(labels)), labels]).mean()


MISTAKES_04_05 = [   # (exercise, wrong answer, words of the mistake's name)
    ("maxpool_forward", mutated("04", "maxpool_forward", "window.max()", "max(window.max(), 0)"), "started at 0"),
    ("maxpool_forward", mutated("04", "maxpool_forward", "window.max()", "window.mean()"), "mean of each window"),
    ("maxpool_forward", mutated("04", "maxpool_forward",
                                "x[n, c, y * stride:y * stride + kernel_size, x_ * stride:x_ * stride + kernel_size]",
                                "x[n, c, y:y + kernel_size, x_:x_ + kernel_size]"), "stride ignored"),
    ("maxpool_backward", mutated("04", "maxpool_backward", "] += dout[n, c, y, x_]", "] = dout[n, c, y, x_]"),
     "= instead of +="),
    ("maxpool_backward", _all_ties_backward, "every tied position"),
    ("maxpool_backward", _last_maximum_backward, "LAST maximum"),
    ("pooled_shape", lambda: (1, 1, 4, 4), "rounded up"),
    ("pooled_shape", lambda: (3, 3), "only the two spatial sizes"),
    ("centre_gradient", lambda: 4.0, "only the last window"),
    ("centre_gradient", lambda: 2.5, "the mean of the four"),
    ("stable_softmax", mutated("05", "stable_softmax", "logits - logits.max(axis=1, keepdims=True)", "logits"),
     "no maximum subtracted"),
    ("stable_softmax", mutated("05", "stable_softmax", "logits.max(axis=1, keepdims=True)", "logits.max()"),
     "whole array instead of each row"),
    ("stable_softmax", mutated("05", "stable_softmax", "axis=1", "axis=0", 2), "wrong axis"),
    ("cross_entropy_loss", mutated("05", "cross_entropy_loss", "labels].mean()", "labels].sum()"), "sum over the batch"),
    ("cross_entropy_loss", mutated("05", "cross_entropy_loss", "[np.arange(len(labels)), labels]", "[:, labels]"),
     "log_probs[:, labels]"),
    ("cross_entropy_loss", _log_of_softmax_loss, "np.log(softmax(z))"),
    ("cross_entropy_loss", mutated("05", "cross_entropy_loss", "logits.max(axis=1, keepdims=True)", "logits.max()"),
     "whole array instead of each row"),
    ("softmax_cross_entropy_gradient", mutated("05", "softmax_cross_entropy_gradient", "probs / len(labels)", "probs"),
     "1/N missing"),
    ("softmax_cross_entropy_gradient", mutated("05", "softmax_cross_entropy_gradient",
                                               "probs[np.arange(len(labels)), labels] -= 1", "probs[:, labels] -= 1"),
     "p[:, labels] -= 1 instead of p[np.arange(N), labels] -= 1"),
    ("softmax_cross_entropy_gradient", mutated("05", "softmax_cross_entropy_gradient",
                                               "logits.max(axis=1, keepdims=True)", "logits.max()"),
     "whole array instead of each row"),
    ("uniform_loss", mutated("05", "uniform_loss", "np.log(K)", "np.log10(K)"), "log10"),
    ("uniform_loss", mutated("05", "uniform_loss", "np.log(K)", "1 / K"), "the probability 1/K"),
    ("softmax_cross_entropy", mutated("05", "softmax_cross_entropy", "dlogits / N", "dlogits"),
     "in the gradient: the 1/N missing"),
    ("softmax_cross_entropy", mutated("05", "softmax_cross_entropy", "dlogits[np.arange(N), labels] -= 1",
                                      "dlogits[:, labels] -= 1"), "in the gradient: p[:, labels]"),
    ("softmax_cross_entropy", mutated("05", "softmax_cross_entropy", "labels].mean()", "labels].sum()"),
     "in the loss: the sum over the batch"),
]


@pytest.mark.parametrize("name, wrong, words", MISTAKES_04_05, ids=[f"{n}-{w}" for n, _, w in MISTAKES_04_05])
def test_notebook_04_05_mistake_is_named(name, wrong, words):
    result = getattr(checks, f"check_{name}")(wrong)
    assert not result
    assert "known mistake" in result.message and words in result.message, result.message


def test_notebook_04_05_every_exercise_has_two_named_mistakes():
    named = {}
    for name, _, words in MISTAKES_04_05:
        named.setdefault(name, set()).add(words)
    assert {name for _, name in SOLVED_04_05} == set(named) and min(map(len, named.values())) >= 2


def test_a_naive_softmax_is_named_without_warnings(recwarn):
    result = checks.check_stable_softmax(mutated("05", "stable_softmax", "logits - logits.max(axis=1, keepdims=True)",
                                                     "logits"))
    assert not result and "no maximum subtracted" in result.message
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_a_softmax_that_edits_its_logits_is_warned_by_name():
    def stable_softmax(logits):
        logits -= logits.max(axis=1, keepdims=True)          # right numbers, but the caller's array changes
        exps = np.exp(logits)
        return exps / exps.sum(axis=1, keepdims=True)

    result = checks.check_stable_softmax(stable_softmax)
    assert result and "warning" in result.message and "`logits`" in result.message


@pytest.mark.parametrize("name, answer, words", [
    ("cross_entropy_loss", lambda logits, labels: "2.3", "string"),
    ("maxpool_backward", lambda x, dout, k, s: [[1, 2], [3]], "not a rectangular array"),
    ("softmax_cross_entropy", lambda logits, labels: None, "got None"),
    ("centre_gradient", lambda: [10.0, 0.0], "expected the number"),
])
def test_notebook_04_05_junk_answers_fail_with_a_message(name, answer, words):
    result = getattr(checks, f"check_{name}")(answer)
    assert not result and words in result.message, result.message


def test_centre_gradient_example_matches_the_module():
    x, dout = checks.centre_gradient_example()
    layer = scratchcnn.MaxPool2D(3, 2)
    layer.forward(x)
    assert layer.backward(dout)[0, 0, 2, 2] == dout.sum() == 10.0
