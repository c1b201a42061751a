"""The diagnosis by mutation (course_machinery/checks/mutation.py): a wrong answer to a whole-layer
exercise is told the one slip that turns the solved notebook's solution into it."""
import time

import numpy as np
import pytest

from course_machinery import checks
from course_machinery.checks import mutation
from course_machinery.checks.framework import Exercise
from notebook_answers import mutated, solutions

WHOLE_LAYER_EXERCISES = sorted(name[len("check_"):] for name in dir(checks)
                               if isinstance(getattr(checks, name), Exercise)
                               and getattr(checks, name).reference is not None)


def test_every_whole_layer_exercise_has_its_solution_and_its_slips():
    """A renamed grade id or a moved answer cell would silently turn the diagnosis off."""
    assert len(WHOLE_LAYER_EXERCISES) >= 26
    code = mutation._notebook_code()
    for name in WHOLE_LAYER_EXERCISES:
        assert name in code, f"no solution cell for {name} in the solved notebooks"
        assert mutation._solution(name) is not None, name


def _message(notebook, name, old, new):
    with np.errstate(all="ignore"):
        return getattr(checks, f"check_{name}")(mutated(notebook, name, old, new))


@pytest.mark.parametrize("notebook, name, old, new, words", [
    # the index from the wrong loop variable, which the output's values alone cannot tell
    ("04", "maxpool_backward", "x_ * stride + j] +=", "x_ * stride + i] +=", "`i` in place of `j`"),
    # a size from the other axis
    ("03", "col2im_loops", "(W + 2 * p - k) // s + 1\n", "(H + 2 * p - k) // s + 1\n", "in place of `(W + 2 * p - k)"),
    # N subtracted where 1 belongs
    ("05", "softmax_cross_entropy", "dlogits[np.arange(N), labels] -= 1", "dlogits[np.arange(N), labels] -= N",
     "`N` in place of `1`"),
    # the same name slip at both places of one line
    ("02", "conv2d_forward_loops", "s * x_:s * x_ + k]", "s * y:s * y + k]", "`y` in place of `x_` (each time)"),
    # a bias-correction exponent one too large
    ("07", "adam_step", "m_hat = m / (1 - beta1 ** t)", "m_hat = m / (1 - beta1 ** (t + 1))", "(t + 1)"),
    # a statistic from the raw input where the normalised one belongs
    ("10", "layernorm_backward", "(dout * x_hat).sum(axis=0), dout", "(dout * x).sum(axis=0), dout",
     "`x` in place of `x_hat`"),
])
def test_a_slip_is_named_in_the_solutions_terms(notebook, name, old, new, words):
    result = _message(notebook, name, old, new)
    assert not result
    assert "the slip: your outputs are exactly what the solution gives with" in result.message, result.message
    assert words in result.message, result.message


def test_a_line_in_the_wrong_place_is_named():
    """m_hat computed before m is updated: the output alone says only that new_weights is wrong."""
    update_m = "    m = beta1 * m + (1 - beta1) * gradient\n    s = beta2 * s + (1 - beta2) * gradient ** 2\n"
    m_hat = "    m_hat = m / (1 - beta1 ** t)\n"
    adam = mutated("07", "adam_step", update_m + m_hat, m_hat + update_m)
    result = checks.check_adam_step(adam)
    assert not result
    assert "the line `m_hat = m / (1 - beta1 ** t)` before the line `m = beta1 * m" in result.message, result.message


def test_an_answer_written_another_way_is_matched_by_behaviour():
    """Not the solution's text: a vectorised max-pool backward whose slip equals the solution's i for j."""
    def maxpool_backward(x, dout, kernel_size, stride):
        dx = np.zeros(x.shape)
        N, C, H_out, W_out = dout.shape
        for y in range(H_out):
            for x_ in range(W_out):
                window = x[:, :, y * stride:y * stride + kernel_size, x_ * stride:x_ * stride + kernel_size]
                flat = window.reshape(N, C, -1).argmax(axis=2)
                rows, columns = np.divmod(flat, kernel_size)
                for n in range(N):
                    for c in range(C):
                        # the slip: the column offset taken from the row
                        dx[n, c, y * stride + rows[n, c], x_ * stride + rows[n, c]] += dout[n, c, y, x_]
        return dx
    result = checks.check_maxpool_backward(maxpool_backward)
    assert not result
    assert "`i` in place of `j`" in result.message, result.message


def test_no_solved_notebooks_no_slip_and_no_error(monkeypatch, tmp_path):
    monkeypatch.setattr(mutation, "NOTEBOOKS", tmp_path)
    mutation._notebook_code.cache_clear()
    try:
        result = _message("04", "maxpool_backward", "x_ * stride + j] +=", "x_ * stride + i] +=")
        assert not result and "the slip" not in result.message
    finally:
        mutation._notebook_code.cache_clear()


def test_the_time_budget_bounds_a_search():
    """A search with no time left names nothing and returns at once."""
    answer = mutated("03", "conv2d_backward_loops", "db[f] += dout[n, f, u, v]", "db[f] += 2 * dout[n, f, u, v]")
    cases = checks.check_conv2d_backward_loops.cases()
    results = [(case, answer(*case.args), None, "wrong") for case in cases[:2]]
    start = time.perf_counter()
    assert mutation.matching_slips("conv2d_backward_loops_unknown", results, lambda *a: None) == []
    assert mutation.matching_slips("conv2d_backward_loops", results, lambda *a: None, budget=0.0) == []
    assert time.perf_counter() - start < 1.0


def test_the_right_answer_has_no_matching_slip():
    """No mutant is reported for an answer that passes, and the solution itself passes."""
    for name in ("maxpool_backward", "adam_step", "batchnorm_backward"):
        notebook = {"maxpool_backward": "04", "adam_step": "07", "batchnorm_backward": "10"}[name]
        assert getattr(checks, f"check_{name}")(solutions(notebook)[name])


def test_a_debugging_lab_fix_is_never_told_its_bug():
    """Notebook 11's fixes have no reference: the student must find the bug, so no slip is named."""
    import scratchcnn

    def fixed_conv_forward(x, W, b, stride=1, padding=0):
        return scratchcnn.conv2d_naive(x, W, 2 * b, stride, padding)
    result = checks.check_fixed_conv_forward(fixed_conv_forward)
    assert not result and "the slip" not in result.message


def test_a_solved_notebook_whose_solution_is_wrong_gives_no_slip(monkeypatch):
    """Someone who answered in the solved notebook itself: its answer cell is no reference to mutate."""
    code = dict(mutation._notebook_code())
    cell, definitions = code["maxpool_backward"]
    wrong_cell = cell.replace("x_ * stride + j] +=", "x_ * stride + i] +=")
    code["maxpool_backward"] = (wrong_cell, tuple(wrong_cell if d == cell else d for d in definitions))
    monkeypatch.setattr(mutation, "_notebook_code", lambda: code)
    monkeypatch.setattr(mutation, "_solution", lambda name: mutation._namespace(code[name][1]).get(name))
    result = _message("04", "maxpool_backward", "y * stride + i, x_ * stride + j", "y * stride + j, x_ * stride + j")
    assert not result and "the slip" not in result.message


def test_a_search_that_runs_too_long_is_stopped(monkeypatch):
    """The search runs like an answer, in a thread the check stops: a check never hangs, even in its diagnosis."""
    def endless(*args):
        while True:
            pass
    monkeypatch.setattr(mutation, "matching_slips", endless)
    monkeypatch.setattr(mutation, "TIME_BUDGET", 0.2)
    start = time.perf_counter()
    result = _message("04", "maxpool_backward", "x_ * stride + j] +=", "x_ * stride + i] +=")
    assert not result and "the slip" not in result.message
    assert time.perf_counter() - start < 10


def test_an_accumulator_started_again_inside_the_loop_is_named():
    """dW = np.zeros(...) moved into the loop over the images: only the last image's share is kept."""
    result = _message("03", "conv2d_backward_loops", "    for n in range(N):\n        for f in range(W.shape[0]):",
                      "    for n in range(N):\n        dW = np.zeros(W.shape)\n        for f in range(W.shape[0]):")
    assert not result
    assert "`dW = np.zeros(W.shape)` again at the start of each pass of `for n in range(N):`" in result.message, \
        result.message
