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


def _assert_rejected_naming(name, answer, words, what):
    """check_<name> fails ``answer`` (``what`` says which, when it is accepted), and its message holds every
    one of ``words`` (None: not named yet; the answer must still fail)."""
    from course_machinery import checks
    with np.errstate(all="ignore"):
        result = getattr(checks, f"check_{name}")(answer)
    assert not result, f"accepted: {what}"
    missing = [word for word in words or [] if word.lower() not in result.message.lower()]
    assert not missing, f"{missing} not in:\n{result.message}"


def assert_fails_naming_the_slip(entry):
    """The solution with one slip (tests/notebook_answers.py's mutated) fails, and its message holds
    the entry's words (None: the slip is not named yet; the answer must still fail)."""
    from notebook_answers import mutated
    notebook, name, old, new, words, *count = entry
    _assert_rejected_naming(name, mutated(notebook, name, old, new, count[0] if count else 1), words, repr(new))


def named_count(entries) -> int:
    """How many entries' messages name their slip now (words not None)."""
    return sum(entry[4] is not None for entry in entries)


# ---- fresh sets 5 to 8 (tests/test_diagnosis_fresh5.py ...): answers as edits or as a student's own source ----
# An entry: (notebook, exercise, how, the mistake in plain words, words its author guessed), how being
# ("edit", old, new[, count]) or ("source", the whole function as a student wrote it).

def build_answer(entry):
    """The wrong answer of an entry: the solution with one text edited (notebook_answers.mutated), or the
    student's own function run in the notebook's namespace (np and the notebook's helper functions)."""
    import textwrap
    from notebook_answers import _namespace, mutated
    notebook, name, how = entry[:3]
    if how[0] == "edit":
        _, old, new, *count = how
        return mutated(notebook, name, old, new, count[0] if count else 1)
    namespace = _namespace(notebook)
    exec(compile(textwrap.dedent(how[1]), f"<fresh {notebook} {name}>", "exec"), namespace)
    return namespace[name]


def answer_ids(entries):
    return [f"{index:02d}-{entry[0]}-{entry[1]}-{entry[2][0]}" for index, entry in enumerate(entries)]


def assert_rejected_with_words(entries, entry, first_run, named_since=None):
    """The entry's answer fails its check, and its message holds the words the first run named it with (or,
    for one named only by a later rule, that rule's words)."""
    index = entries.index(entry)
    words = first_run[index] or (named_since or {}).get(index)
    _assert_rejected_naming(entry[1], build_answer(entry), words, entry[3])


def first_run_named(label, entries, first_run, unnamed, named_since=None) -> int:
    """The number the first run named (checked against FIRST_RUN and FIRST_RUN_UNNAMED), and a line that says
    it (and how many are named now, after later rules)."""
    assert set(first_run) == set(range(len(entries)))
    assert {index for index, words in first_run.items() if words is None} == unnamed
    named = len(entries) - len(unnamed)
    now = f"; named now: {named + len(named_since)}" if named_since else ""
    print(f"\n{label}: first run {named} of {len(entries)} named ({100 * named / len(entries):.0f}%), "
          f"none accepted{now}")
    return named
