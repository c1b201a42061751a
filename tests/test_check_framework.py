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


def test_editing_an_input_in_place_fails_with_the_argument_name():
    def in_place(logits):
        logits -= logits.max(axis=1, keepdims=True)
        np.exp(logits, out=logits)
        logits /= logits.sum(axis=1, keepdims=True)
        return logits
    result = check(in_place)
    assert not result, result.message                  # right values, but the caller's array changed
    assert "changed its argument `logits` in place" in result.message


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


# --- an answer that never ends is really ended (issue 18, section 4) ----------------------------

def endless_loop(z):
    while True:
        pass


def cpu_seconds_while_idle(seconds=0.5):
    """Process CPU time used while this thread sleeps: about 0 unless some thread still spins."""
    start = time.process_time()
    time.sleep(seconds)
    return time.process_time() - start


def test_an_endless_answer_stopped_by_the_time_limit_leaves_nothing_running():
    import threading
    threads = threading.active_count()
    for answer in (endless_loop, swallows_everything):
        result = check(answer, time_limit=0.3)
        assert not result and "took longer than 0.3 s" in result.message, result.message
        assert "and was stopped" in result.message
        assert threading.active_count() == threads
        assert cpu_seconds_while_idle() < 0.1


def swallows_everything(z):
    """An endless loop that catches even BaseException, once: the check keeps stopping it."""
    for _ in range(2):
        try:
            while True:
                pass
        except BaseException:
            pass
    while True:
        pass


def test_stop_pressed_during_a_check_ends_the_answer():
    """Jupyter's Stop button sends SIGINT to the kernel: KeyboardInterrupt in the main thread."""
    import os
    import signal
    import threading
    threads = threading.active_count()
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    start = time.perf_counter()
    timer.start()
    result = check(endless_loop, time_limit=30)
    timer.join()
    assert time.perf_counter() - start < 3
    assert not result and "interrupted (Stop or Ctrl-C)" in result.message, result.message
    assert "your function was stopped: nothing of it keeps running" in result.message
    assert threading.active_count() == threads, threading.enumerate()
    assert cpu_seconds_while_idle() < 0.1


def test_an_answer_stuck_in_one_c_call_is_reported_as_not_stopped():
    """No Python code can interrupt one long C call (here a sleep in the answer's thread): the verdict
    says so and asks for a kernel restart instead of claiming the answer was stopped."""
    result = check(lambda z: time.sleep(3), time_limit=0.2)
    assert not result and "could not be stopped" in result.message and "Restart the kernel" in result.message


def test_the_time_limit_grows_with_the_reference_time_on_this_machine():
    def slow_cases():                      # a reference that takes 0.05 s per case on this machine
        cases = []
        for description, z in [("two rows", CASES[0].args[0]), ("scales", CASES[1].args[0])]:
            time.sleep(0.05)
            cases.append(Case(description, (z,), row_softmax(z)))
        return cases

    exercise = Exercise("softmax", slow_cases, MISTAKES, time_limit=0.2)

    def slow_but_right(z):                 # 0.5 s: slower than time_limit, far within 50 x the reference
        time.sleep(0.5)
        return row_softmax(z)

    assert exercise(slow_but_right)
    assert all(0.04 < case.reference_seconds < 1 for case in exercise.cases())
    exercise.cases()[0].reference_seconds = 0.01
    result = exercise(endless_loop)
    assert not result and "took longer than 0.5 s" in result.message
    assert "(the reference solution takes 0.01 s on this machine)" in result.message


def test_reference_cases_time_the_reference_of_each_case():
    from course_machinery.checks.shared import reference_cases

    def reference(seconds):
        time.sleep(seconds)
        return seconds
    fast, slow = reference_cases(reference, [("fast", 0.0), ("slow", 0.1)], hint="")
    assert fast.reference_seconds < 0.05 < 0.09 < slow.reference_seconds


# --- what an answer returns cannot make the check allocate or crash ------------------------------

def peak_bytes_of(function):
    import tracemalloc
    tracemalloc.start()
    try:
        result = function()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("expected", [np.zeros((2, 3)), (np.zeros((2, 3)), np.zeros(2)), 1.5, (10, 3)],
                         ids=["an array", "a tuple of arrays", "a number", "a shape"])
def test_a_huge_broadcast_view_is_refused_without_copying(expected):
    huge = np.broadcast_to(np.float64(1.0), (10**5, 10**5))        # 80 GB if it were copied
    cases = [Case("a case", (), expected)]
    result, peak = peak_bytes_of(lambda: check_exercise("huge", lambda: huge, cases,
                                                        [Mistake("zeros", lambda: np.zeros((2, 3)), "")]))
    assert not result and peak < 5_000_000, (peak, result.message)
    assert "(100000, 100000)" in result.message, result.message


def test_a_view_of_the_right_shape_with_zero_strides_is_compared_as_it_is():
    cases = [Case("ones", (), np.ones((4, 5)))]
    assert check_exercise("ones", lambda: np.broadcast_to(1.0, (4, 5)), cases)


def test_an_as_strided_view_outside_its_memory_is_refused_not_read():
    from numpy.lib.stride_tricks import as_strided
    small = np.zeros(4)
    outside = as_strided(small, shape=(3, 3), strides=(8 * 10**9, 8))        # reading it would crash
    backwards = as_strided(small[1:], shape=(3,), strides=(-8,))             # one element before the start
    cases = [Case("a 3x3 array", (), np.zeros((3, 3)))]
    for answer in (lambda: outside, lambda: (1, [outside]), lambda: backwards):
        result = check_exercise("strided", answer, cases, MISTAKES)
        assert not result and "reaches outside the memory it views" in result.message, result.message


def test_views_inside_their_memory_are_not_refused():
    from numpy.lib.stride_tricks import as_strided, sliding_window_view

    from course_machinery.checks.framework import _outside_its_memory
    x = np.arange(24.0).reshape(4, 6)
    inside = [x, x.T, x[::-1, ::-2], x[1:, 2:], np.broadcast_to(x[0], (100, 6)), sliding_window_view(x, (2, 3)),
              as_strided(x, shape=(3, 3), strides=(x.strides[0], 8)), np.frombuffer(bytes(16), np.float64),
              x[:, 1:].reshape(-1)]
    assert not [view.shape for view in inside if _outside_its_memory(view)]
    assert _outside_its_memory(as_strided(x[1:], shape=(5, 6), strides=x.strides))
    assert _outside_its_memory(as_strided(x[1:], shape=(2,), strides=(-8 * 7,)))


# --- the verdict is not trivially forged (issue 18, section 4) ------------------------------------

def test_the_verdict_class_cannot_be_patched_from_a_notebook():
    from course_machinery.checks import CheckResult
    with pytest.raises(AttributeError):
        CheckResult.__bool__ = lambda self: True
    wrong = check(global_max_softmax)
    with pytest.raises(AttributeError):
        wrong.passed = True
    original = CheckResult.__dict__["__bool__"]
    type.__setattr__(CheckResult, "__bool__", lambda self: True)            # forced past the seal ...
    try:
        assert not check(global_max_softmax)                               # ... new verdicts ignore it
    finally:
        type.__setattr__(CheckResult, "__bool__", original)
    assert not wrong and not wrong.passed and isinstance(wrong, CheckResult)


@pytest.mark.parametrize("target, name", [(np, "isclose"), (np, "allclose"), (np, "asarray"),
                                          (np, "array_equal"), ("framework", "_compare"),
                                          ("framework", "_isclose"), ("framework", "_asarray")])
def test_patching_the_comparison_does_not_turn_a_wrong_answer_into_a_pass(monkeypatch, target, name):
    from course_machinery.checks import framework
    monkeypatch.setattr(framework if target == "framework" else target, name,
                        lambda *args, **options: None if name == "_compare" else True)
    cases = [Case("a tuple", CASES[0].args, (CASES[0].expected, 1.0))]
    assert not check_exercise("softmax", lambda z: (2 * global_max_softmax(z), 1.0), cases)
    wrong = lambda z: 2 * global_max_softmax(z)          # noqa: E731 (uses none of the patched functions)
    result = check(wrong)
    assert not result and "wrong values" in result.message
    assert not check_exercise("softmax", wrong, CASES)


def every_local_reachable_from_the_callers():
    """What an answer can read from the frames above it: their locals, and the closures and
    attributes of the objects held there (one level deep)."""
    import sys
    found, frame = [], sys._getframe(2)
    while frame is not None:
        for value in list(frame.f_locals.values()):
            found.append(value)
            for cell in getattr(value, "__closure__", None) or ():
                found.append(cell.cell_contents)
            found.extend(getattr(value, "__dict__", {}).values())
        frame = frame.f_back
    return found


def test_the_expected_values_are_not_in_the_answers_frames():
    def snooping(z):
        for value in every_local_reachable_from_the_callers():
            items = value if isinstance(value, (list, tuple)) else [value]
            for item in items:
                if isinstance(item, (Case, Exercise)) or getattr(item, "expected", None) is not None:
                    return "found an expected value"
        return row_softmax(z) * 2                                          # nothing found: a wrong guess

    for run in (check, Exercise("softmax", CASES, MISTAKES), Exercise("softmax", lambda: CASES, MISTAKES)):
        result = run(snooping)
        assert not result and "wrong values" in result.message, result.message


def test_a_wrong_answer_that_also_edits_its_input_is_told_both():
    def global_max_in_place(z):
        z -= z.max()                                          # the known mistake, on the caller's array
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)
    result = check(global_max_in_place)
    assert not result and result.mistake is MISTAKES[0], result.message
    assert "first failing case 'rows of very different scale': wrong values" in result.message
    assert "also: your function changed its argument `z` in place" in result.message
