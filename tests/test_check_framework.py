"""The exercise-check framework (course_machinery/checks/framework.py): verdicts that name
the mistake, checks that never raise and never hang whatever the answer does, and
Exercise, a check written as data whose cases are built once."""
import time

import numpy as np
import pytest

import scratchcnn
from course_machinery.checks.framework import Case, Exercise, Mistake, check_exercise


def row_softmax(z):
    z = np.asarray(z, dtype=float)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def global_max_softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum(axis=1, keepdims=True)


def column_softmax(z):
    e = np.exp(z - z.max(axis=0, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)


CASES = [
    Case("two rows", (np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 1.0]]),), row_softmax([[1.0, 2.0, 3.0], [0.0, 0.0, 1.0]]),
         "each row is its own distribution"),
    Case("rows of very different scale", (np.array([[1000.0, 999.0], [0.0, 1.0]]),),
         row_softmax([[1000.0, 999.0], [0.0, 1.0]]), "subtract each row's max"),
]
MISTAKES = [
    Mistake("a global max instead of each row's max", global_max_softmax,
            "subtract z.max(axis=1, keepdims=True)"),
    Mistake("normalising over the wrong axis (columns)", column_softmax, "sum over axis=1"),
]


def check(answer, **options):
    return check_exercise("softmax", answer, CASES, MISTAKES, **options)


def test_the_reference_passes_and_the_result_is_truthy(capsys):
    result = check(row_softmax)
    assert result and result.passed and result.mistake is None
    assert "all 2 cases pass" in capsys.readouterr().out


@pytest.mark.parametrize("wrong,name", [(global_max_softmax, "a global max"),
                                        (column_softmax, "the wrong axis")])
def test_each_known_mistake_is_named_with_its_fix(wrong, name, capsys):
    result = check(wrong)
    assert not result
    assert name in result.message and "fix:" in result.message
    assert result.message in capsys.readouterr().out


def test_an_unknown_mistake_falls_back_to_the_failing_case_and_its_hint():
    result = check(lambda z: row_softmax(z) * 2)
    assert not result and result.mistake is None
    assert "case 'two rows' failed" in result.message and "hint: each row" in result.message


@pytest.mark.parametrize("answer,words", [
    (lambda z: None, "got None"),
    (lambda z: "26", "the string '26'"),
    (lambda z: [[1, 2], [3]], "not a rectangular array"),
    (lambda z: np.array([object(), 1], dtype=object), "not an array of numbers"),
    (lambda z: row_softmax(z)[:1], "expected shape (2, 3), got shape (1, 3)"),
    (lambda z: 1 / 0, "raised ZeroDivisionError"),
    (lambda z: exit(), "raised SystemExit"),
    (lambda z: {"a": 1}, "not an array of numbers"),
])
def test_junk_answers_get_a_verdict_never_an_exception(answer, words):
    result = check(answer)
    assert not result and words in result.message, result.message


def test_not_implemented_and_not_callable():
    def unanswered(z):
        raise NotImplementedError()
    assert "not implemented yet" in check(unanswered).message
    assert "expected a function" in check(row_softmax(np.ones((2, 2)))).message


def test_an_endless_loop_is_stopped_after_the_time_limit():
    def endless(z):
        while True:
            pass

    def swallows_exceptions(z):
        while True:
            try:
                time.sleep(0.001)
            except Exception:
                pass

    for answer in (endless, swallows_exceptions):
        start = time.perf_counter()
        result = check(answer, time_limit=0.3)
        assert time.perf_counter() - start < 3
        assert not result and "took longer than 0.3 s on case 'two rows'" in result.message


def test_editing_an_input_in_place_warns_with_the_argument_name():
    def in_place(logits):
        logits -= logits.max(axis=1, keepdims=True)
        np.exp(logits, out=logits)
        logits /= logits.sum(axis=1, keepdims=True)
        return logits
    result = check(in_place)
    assert result, result.message                 # right values ...
    assert "changed its argument `logits` in place" in result.message   # ... and a warning


def test_prints_are_kept_out_of_the_way_but_shown_on_failure(capsys):
    def chatty(z):
        print("debugging", z.shape)
        return z
    result = check(chatty)
    assert not result and "your function printed: debugging (2, 3)" in result.message
    assert capsys.readouterr().out.count("debugging") == 1     # once, in the verdict


def test_numerical_warnings_of_the_answer_do_not_leak(recwarn):
    result = check(lambda z: np.exp(z) / np.exp(z).sum(axis=1, keepdims=True))
    assert not result and "got nan" in result.message
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_the_cases_arguments_are_never_changed_by_an_answer():
    before = CASES[0].args[0].copy()
    check(lambda z: z.fill(0))
    np.testing.assert_array_equal(CASES[0].args[0], before)


def test_numbers_compare_exactly_when_integer_and_strings_are_not_numbers():
    cases = [Case("bytes", (), 47_040_000)]
    assert check_exercise("n", lambda: 47_040_000, cases)
    assert "expected 47,040,000, got 47040016" in check_exercise("n", lambda: 47_040_016, cases).message
    assert "the string '47040000'" in check_exercise("n", lambda: "47040000", cases).message
    assert check_exercise("n", lambda: np.int64(47_040_000), cases)


def test_objects_without_value_equality_are_not_reported_as_edited():
    model = scratchcnn.reference_cnn(seed=0)
    cases = [Case("a model and an image", (model, np.zeros((1, 1, 28, 28), np.float32)), 10)]
    result = check_exercise("outputs", lambda m, x: m.forward(x).shape[1], cases)
    assert result and "in place" not in result.message, result.message


# --- Exercise: a check as data ----------------------------------------------------------------

def test_an_exercise_builds_its_cases_and_mistakes_once_at_the_first_check():
    built = []

    def cases():
        built.append("cases")
        return CASES

    def mistakes():
        built.append("mistakes")
        return MISTAKES

    exercise = Exercise("softmax", cases, mistakes, doc="``softmax(z)``, row by row.")
    assert built == [] and exercise.__doc__ == "``softmax(z)``, row by row."
    assert exercise.__name__ == "check_softmax" and "check_softmax" in repr(exercise)
    assert exercise(row_softmax)
    result = exercise(global_max_softmax)
    assert not result and "a global max" in result.message
    assert built == ["cases", "mistakes"]                    # two checks, one build
    assert exercise.cases() == CASES and exercise.mistakes() == MISTAKES


def test_an_exercise_takes_lists_a_time_limit_and_a_comparison():
    exercise = Exercise("softmax", CASES, MISTAKES, time_limit=0.2,
                        compare=lambda expected, actual, case: None if np.allclose(expected, actual, atol=0.1)
                        else "not within 0.1")
    assert exercise(lambda z: row_softmax(z) + 0.05)          # the comparison is the exercise's own

    def endless(z):
        while True:
            pass

    assert "took longer than 0.2 s" in exercise(endless).message


def test_prepare_wraps_functions_only():
    seen = []

    def recording(answer):
        def wrapped(*args):
            seen.append(len(args))
            return answer(*args)
        return wrapped

    exercise = Exercise("softmax", CASES, MISTAKES, prepare=recording)
    assert exercise(row_softmax) and seen == [1, 1]
    assert "expected a function" in exercise(None).message and seen == [1, 1]


def test_an_exercise_whose_cases_cannot_be_built_says_so_without_raising(tmp_path):
    def cases():
        return [Case("a file", (np.load(tmp_path / "missing.npy"),), 1)]

    result = Exercise("loads", cases)(lambda x: 1)
    assert not result and "could not build its cases (FileNotFoundError" in result.message
    assert "not a verdict on your answer" in result.message


def test_no_check_module_defines_a_name_twice():
    """Two top-level definitions with one name in a module: the later one silently replaces the
    earlier for every check that uses it (it happened when two notebooks' checks met in one module)."""
    import ast
    import collections
    import pathlib

    import course_machinery.checks
    package = pathlib.Path(course_machinery.checks.__file__).parent
    for path in [pathlib.Path(scratchcnn.__file__), *package.glob("*.py")]:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = collections.Counter(node.name for node in tree.body
                                    if isinstance(node, (ast.FunctionDef, ast.ClassDef)))
        names.update(target.id for node in tree.body if isinstance(node, ast.Assign)
                     for target in node.targets if isinstance(target, ast.Name) and target.id.startswith("check_"))
        assert not [name for name, count in names.items() if count > 1], path.name
