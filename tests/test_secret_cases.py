"""Secret grading cases (issue 19): what a grader outside the student's kernel checks answers with.

Exercise.graded_cases(secret) builds each exercise's cases afresh inside framework.secret_cases(secret):
other inputs than the hand-out's public cases, none with a public case's arguments, and the public cases
untouched. The notebooks' own solutions must pass them, called exactly as the grader calls them. And an
answer that warns or writes to stderr is still judged by its values, without anything reaching the cell's
stderr (nbgrader scores any stderr output as a failure)."""

import sys
import warnings

import numpy as np
import pytest

from course_machinery import checks
from course_machinery.checks import Case, Exercise, framework
from notebook_answers import solutions
from test_checks import EXERCISES, IDS

SECRET, OTHER_SECRET = "secret one", "secret two"


def exercise(name):
    return getattr(checks, f"check_{name}")


def takes_arguments(name):
    return any(case.args for case in exercise(name).cases())


def graded_verdict(name, answer, cases):
    """The verdict on ``answer`` over ``cases``, called as the grader calls it."""
    check = exercise(name)
    return check.check_on(check.as_called(answer), cases, intervene=False)


@pytest.mark.parametrize("notebook, name", EXERCISES, ids=IDS)
def test_the_notebook_solution_passes_the_graded_cases(notebook, name):
    cases = exercise(name).graded_cases(SECRET)
    result = graded_verdict(name, solutions(notebook)[name], cases)
    assert result, result.message
    assert result.message.endswith(f"all {len(cases)} cases pass" if len(cases) > 1 else "the case passes")


@pytest.mark.parametrize("notebook, name", EXERCISES, ids=IDS)
def test_graded_cases_are_not_public_and_depend_on_the_secret(notebook, name):
    check = exercise(name)
    public, graded = check.cases(), check.graded_cases(SECRET)
    if not takes_arguments(name):      # a question (pooled_shape, ...): nothing to vary, its case is kept
        assert len(graded) == len(public) == 1
        return
    assert len(graded) >= 2, [case.description for case in graded]
    for case in graded:
        assert not any(framework.same_arguments(case.args, known.args) for known in public), case.description
    other = check.graded_cases(OTHER_SECRET)
    assert not all(any(framework.same_arguments(a.args, b.args) for b in other) for a in graded)


@pytest.mark.parametrize("notebook, name", EXERCISES, ids=IDS)
def test_secret_cases_leave_the_public_cases_as_they_are(notebook, name):
    """Public cases built before and after a secret build are equal (values, descriptions, expected)."""
    check = exercise(name)
    before = check.cases()
    check.graded_cases(SECRET)
    assert check.cases() is before
    if check._build is None:                # a list written at import (notebook 11's diagnoses): nothing to rebuild
        return
    after = Exercise(name, check._build, check.mistakes()).cases()      # a fresh build, not the cached list
    assert [case.description for case in after] == [case.description for case in before]
    assert all(framework.same_arguments(a.args, b.args) and framework._same_value(a.expected, b.expected)
               for a, b in zip(after, before))


def test_case_rng_is_the_public_generator_outside_a_secret():
    assert np.array_equal(framework.case_rng(7).random(5), np.random.default_rng(7).random(5))
    with framework.secret_cases(SECRET):
        secret_draw = framework.case_rng(7).random(5)
        assert np.array_equal(secret_draw, framework.case_rng(7).random(5))      # reproducible per secret
    with framework.secret_cases(OTHER_SECRET):
        assert not np.array_equal(secret_draw, framework.case_rng(7).random(5))
    assert not np.array_equal(secret_draw, np.random.default_rng(7).random(5))
    assert framework.secret_rng(7) is None and not framework.secret_active()


def test_graded_cases_get_their_reference_time():
    cases = checks.check_conv2d_single.graded_cases(SECRET)
    assert all(case.reference_seconds is not None for case in cases)


def test_a_fixed_list_of_cases_gives_no_graded_case():
    """A list written at import cannot vary with a secret: nothing of it is graded (every exercise of
    the course builds its cases, see above)."""
    fixed = Exercise("double", [Case("2", (2,), 4)], ())
    assert fixed.graded_cases(SECRET) == []


# --- warnings and stderr of an answer ---------------------------------------------------------

def warning_softmax(logits):
    """A correct softmax that warns, prints to stderr and lets NumPy overflow outside np.errstate."""
    warnings.warn("this softmax is slow", UserWarning)
    print("debug: computing softmax", file=sys.stderr)
    with np.errstate(over="warn"):
        np.exp(np.array([1000.0]))
    return solutions("05")["stable_softmax"](logits)


def test_a_correct_answer_that_warns_passes_and_writes_nothing_to_stderr(capsys):
    stderr = sys.stderr
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # a warning that escaped the check would raise here
        result = checks.check_stable_softmax(warning_softmax)
    assert result and result.message.endswith("cases pass"), result.message
    assert sys.stderr is stderr
    captured = capsys.readouterr()
    assert captured.err == "" and "slow" not in captured.out, captured


def test_a_wrong_answer_that_warns_is_told_what_it_wrote(capsys):
    def wrong(logits):
        warnings.warn("this softmax is slow", UserWarning)
        print("debug: computing softmax", file=sys.stderr)
        return warning_softmax(logits) * 2
    result = checks.check_stable_softmax(wrong)
    assert not result
    assert "your function wrote to stderr: debug: computing softmax" in result.message, result.message
    assert "your function warned: UserWarning: this softmax is slow" in result.message, result.message
    assert capsys.readouterr().err == ""
