"""Every exercise check of every notebook (01-11), in one parametrised suite.

The exercises are enumerated from the solved notebooks' nbgrader answer cells
(tests/notebook_answers.py), so a new exercise is covered as soon as its notebook
has it. For each: the notebook's own solution passes, an unanswered exercise says
"not implemented yet", and junk (not a function, a function that raises, one that
never returns) fails with a verdict, never an exception or a hang. Typical wrong
answers, written independently of the checks' Mistake lists, are in
tests/test_check_mistakes_01_06.py and tests/test_check_mistakes_07_11.py.
"""

import gzip
import inspect
import sys
import time

import numpy as np
import pytest

from course_machinery import checks
from course_machinery.checks import Exercise, framework, notebook_01
from exercise_helpers import not_implemented
from notebook_answers import solutions

NOTEBOOKS = [f"{number:02d}" for number in range(1, 12)]
EXERCISES = [(notebook, name) for notebook in NOTEBOOKS for name in solutions(notebook)]
IDS = [f"{notebook}-{name}" for notebook, name in EXERCISES]


def check(name):
    return getattr(checks, f"check_{name}")


def raises(*args):
    raise ValueError("a bug in the answer")


def endless(*args):
    while True:
        pass


def test_every_check_belongs_to_one_notebook_exercise():
    """The package's check_* are exactly the notebooks' exercises (check_exercise is the framework's)."""
    exported = {name.removeprefix("check_") for name in dir(checks) if name.startswith("check_")} - {"exercise"}
    answered = [name for _, name in EXERCISES]
    assert len(answered) == len(set(answered)), "two notebooks have an exercise of the same name"
    assert exported == set(answered)


@pytest.mark.parametrize("notebook, name", EXERCISES, ids=IDS)
def test_the_notebook_solution_passes(notebook, name):
    result = check(name)(solutions(notebook)[name])
    assert result, result.message
    assert "pass" in result.message and "warning" not in result.message, result.message


@pytest.mark.parametrize("notebook, name", EXERCISES, ids=IDS)
def test_an_unanswered_exercise_says_not_implemented(notebook, name):
    result = check(name)(not_implemented)
    assert not result and result.message.endswith("not implemented yet"), result.message


@pytest.mark.parametrize("junk, words", [(None, "None"), ("junk", "'junk'"),
                                         (raises, "raised ValueError: a bug in the answer")],
                         ids=["None", "a string", "raises"])
@pytest.mark.parametrize("notebook, name", EXERCISES, ids=IDS)
def test_junk_fails_with_a_verdict(notebook, name, junk, words):
    """Not a function (the verdict says what it got; notebook 11's diagnoses also take a bare string, and
    say it is not one of the keys) or a function that raises (the verdict quotes the error)."""
    result = check(name)(junk)
    assert not result, result.message
    if isinstance(check(name), Exercise) or callable(junk):
        assert words in result.message, result.message


def with_short_time_limit(monkeypatch, check, seconds):
    """``check`` with a time limit of ``seconds`` per case (the checks' own limits go up to a minute,
    and 50 times the reference's time when that is longer: here not)."""
    monkeypatch.setattr(framework, "TIME_MARGIN", 0)
    if isinstance(check, Exercise):
        monkeypatch.setattr(check, "time_limit", seconds)
    else:                                # a check still written as a function calling check_exercise
        module = sys.modules[check.__module__]
        monkeypatch.setattr(module, "check_exercise", lambda *args, **options: framework.check_exercise(
            *args, **{**options, "time_limit": seconds}))
    return check


@pytest.mark.parametrize("notebook, name", EXERCISES, ids=IDS)
def test_an_answer_that_never_returns_is_stopped(notebook, name, monkeypatch):
    start = time.perf_counter()
    result = with_short_time_limit(monkeypatch, check(name), 0.1)(endless)
    assert not result and "took longer than 0.1 s" in result.message, result.message
    assert time.perf_counter() - start < 4


# --- checks as data -----------------------------------------------------------------------

@pytest.mark.parametrize("notebook, name", EXERCISES, ids=IDS)
def test_a_check_says_how_its_exercise_is_called(notebook, name):
    """Notebooks and TEACHING.md show the call form from the check's docstring."""
    doc = check(name).__doc__
    assert doc.startswith(f"Notebook {notebook}") and f"``{name}(" in doc, doc


@pytest.mark.parametrize("notebook, name", EXERCISES, ids=IDS)
def test_an_exercise_builds_its_cases_once(notebook, name):
    """Every check is an Exercise (data: cases and mistakes); its cases and mistakes are built at the
    first check, then reused."""
    exercise = check(name)
    assert isinstance(exercise, Exercise)
    if isinstance(exercise, Exercise):
        assert exercise.name == name and exercise.__name__ == f"check_{name}"
        cases, mistakes = exercise.cases(), exercise.mistakes()
        assert exercise.cases() is cases and exercise.mistakes() is mistakes
        assert len(cases) >= 1 and len(mistakes) >= 2


def test_the_training_image_file_is_decompressed_once_per_process(monkeypatch):
    """check_predicted_image_bytes needs the length of a 47 MB file: it decompresses it once, not per call."""
    calls = []
    decompress = gzip.decompress
    monkeypatch.setattr(gzip, "decompress", lambda data: calls.append(len(data)) or decompress(data))
    notebook_01._training_image_bytes.cache_clear()
    for answer in (lambda: 16 + 47_040_000, lambda: 47_040_000, lambda: 1):  # a mistake, right, unknown
        checks.check_predicted_image_bytes(answer)
    assert len(calls) == 1


# --- an answer that edits what it was given fails, float inputs included (issue 17, section 2) ------

# Argument positions whose arrays are integers by nature (labels, indices, masks): np.asarray(x, float)
# copies them, so an answer aliasing them edits nothing of the caller's.
INTEGER_BY_NATURE = {("class_counts", 0), ("mean_image_per_class", 1), ("to_network_input", 0),
                     ("cross_entropy_loss", 1), ("softmax_cross_entropy_gradient", 1), ("softmax_cross_entropy", 1),
                     ("inverted_dropout", 1), ("two_layer_backward", 5), ("prior_loss", 0),
                     ("first_diverging_lr", 2), ("overfit_tiny_batch", 1), ("most_confident_mistake", 1),
                     ("fixed_softmax_cross_entropy", 1)}


def array_positions(name):
    """{position: dtypes} of the array arguments of an exercise's cases."""
    positions = {}
    for case in check(name).cases():
        for position, argument in enumerate(case.args):
            if isinstance(argument, np.ndarray):
                positions.setdefault(position, set()).add(argument.dtype.name)
    return positions


@pytest.mark.parametrize("notebook, name", EXERCISES, ids=IDS)
def test_every_array_argument_is_also_given_as_float64(notebook, name):
    """An answer that aliases its input (x = np.asarray(x, float); x -= ...) edits only float64 inputs:
    every array argument that is not integer by nature has a float64 case, where that edit shows."""
    for position, dtypes in array_positions(name).items():
        if (name, position) not in INTEGER_BY_NATURE and not dtypes & {"float32"}:
            assert "float64" in dtypes, (position, dtypes)


# Notebook 11's fixed_relu_forward fails an edited x without saying so in words: bug 4 is an edit of x
# in place, and naming it would answer the diagnosis (its check's third result item says whether x was kept).
SILENT_ABOUT_EDITS = {"fixed_relu_forward"}


@pytest.mark.parametrize("notebook, name", EXERCISES, ids=IDS)
def test_an_answer_that_edits_a_float_input_through_an_alias_fails_naming_it(notebook, name):
    solution = solutions(notebook)[name]
    parameters = list(inspect.signature(solution).parameters)
    positions = array_positions(name)
    if len(parameters) != len(check(name).cases()[0].args):    # prepared: the answer gets other arguments
        positions = {0: {"float64"}} if positions else {}          # (notebook 11's relu and dropout: x first)
    for position, dtypes in positions.items():
        if "float64" not in dtypes:
            continue

        def aliasing(*args, position=position):
            result = solution(*args)
            alias = np.asarray(args[position], float)       # the caller's own array when it is float64
            alias += 1.0
            return result

        aliasing.__signature__ = inspect.signature(solution)
        result = check(name)(aliasing)
        assert not result, result.message
        if name not in SILENT_ABOUT_EDITS:
            assert f"changed its argument `{parameters[position]}` in place" in result.message, result.message
