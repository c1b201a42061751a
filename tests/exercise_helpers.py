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
