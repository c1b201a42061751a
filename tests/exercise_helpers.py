"""Helpers for the tests of typical wrong answers (tests/test_check_mistakes_01_06.py and the
notebooks' own test files): a wrong answer must be told the mistake it makes. (The solutions
come from the notebooks: tests/notebook_answers.py.)"""
import numpy as np


def assert_named(check, wrong_answer, mistake_words):
    """The check fails the answer and names the mistake (its name contains ``mistake_words``)."""
    with np.errstate(all="ignore"):
        result = check(wrong_answer)
    assert not result, result.message
    assert result.mistake is not None, f"no mistake named; message: {result.message}"
    assert mistake_words in result.mistake.name, result.message
    assert mistake_words in result.message and "fix:" in result.message, result.message


def not_implemented(*args):
    raise NotImplementedError()


# ---- fresh sets of wrong answers for the diagnosis (tests/test_diagnosis_fresh2.py, _fresh3.py) ----
# An entry: (notebook, exercise, old text, new text, words its message must hold or None, [count]).

def fresh_entry_ids(entries):
    return [f"{notebook}-{name}-{index}" for index, (notebook, name, *_) in enumerate(entries)]


def assert_fails_naming_the_slip(entry):
    """The solution with one slip (tests/notebook_answers.py's mutated) fails, and its message holds
    the entry's words (None: the slip is not named yet; the answer must still fail)."""
    from course_machinery import checks
    from notebook_answers import mutated
    notebook, name, old, new, words, *count = entry
    result = getattr(checks, f"check_{name}")(mutated(notebook, name, old, new, count[0] if count else 1))
    assert not result, f"accepted: {new!r}"
    missing = [word for word in words or [] if word.lower() not in result.message.lower()]
    assert not missing, f"{missing} not in:\n{result.message}"


def named_count(entries) -> int:
    """How many entries' messages name their slip now (words not None)."""
    return sum(entry[4] is not None for entry in entries)
