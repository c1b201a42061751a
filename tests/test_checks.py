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
import sys
import time

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
