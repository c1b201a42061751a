"""The exercise-check framework: Case, Mistake, CheckResult, check_exercise, and Exercise (a check as data)."""

from __future__ import annotations


import numpy as np


# Every exercise in the notebooks is a function the student writes. Its check
# runs it on hidden cases and returns a CheckResult that prints one verdict.
# When the answer is wrong, the check first asks which known mistake it is:
# each exercise lists the typical mistakes (Mistake) as small wrong functions,
# and an answer whose outputs equal a mistake's on every case is told that
# mistake's name and fix. Only when none matches does the verdict fall back to
# the first failing case, expected against actual, and that case's hint.
#
# A check never raises and never hangs, whatever the answer does: it may return
# None, a string, a ragged list, raise, print, loop forever (each case has a
# time limit) or edit its input arrays (that earns a warning naming the
# argument). In a notebook the graded cell under each exercise is
#
#     result = checks.check_<exercise>(<exercise>)
#     assert result, result.message
#
# so nbgrader scores the assert, and the cell's `raises-exception` tag lets a
# student's Run All go on past an exercise not yet answered (TEACHING.md).
#
# Each notebook's checks are written as data in checks/notebook_NN.py: an
# Exercise holds the exercise's name, its cases and its mistakes, and calling
# it runs check_exercise. Mistakes that several notebooks share are in
# checks/common_mistakes.py.


class Case:
    """One hidden test case: answer(*args) should return ``expected``."""

    def __init__(self, description, args, expected, hint="", rtol=1e-6, atol=1e-8):
        self.description, self.args, self.expected = description, args, expected
        self.hint, self.rtol, self.atol = hint, rtol, atol


class Mistake:
    """A typical wrong answer: ``produce(*case.args)`` returns what an answer with
    this mistake returns; ``name`` says what the mistake is and ``fix`` how to mend it."""

    def __init__(self, name, produce, fix):
        self.name, self.produce, self.fix = name, produce, fix


class CheckResult:
    """The verdict of a check: truthy when every case passed; ``message`` says why not
    (the mistake it matches, or the failing case). Shown as its message."""

    def __init__(self, name, passed, message, mistake=None):
        self.name, self.passed, self.message, self.mistake = name, passed, message, mistake

    def __bool__(self):
        return self.passed

    def __repr__(self):
        return self.message

    __str__ = __repr__


def _short(value, limit=80):
    """A one-line repr of a value for a verdict, cut to ``limit`` characters."""
    try:
        text = repr(value) if not isinstance(value, np.ndarray) else \
            f"array of shape {value.shape} and dtype {value.dtype}"
    except Exception:                                  # a repr that raises is itself junk
        text = f"<{type(value).__name__}>"
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _as_number_array(actual):
    """``actual`` as a float array, or a sentence saying why it is not one."""
    if isinstance(actual, str):
        return None, f"got the string {_short(actual)}, not numbers"
    try:
        array = np.asarray(actual)
    except Exception:                                  # ragged nested lists on NumPy 2
        return None, f"got {_short(actual)}, which is not a rectangular array of numbers"
    if array.dtype == object or array.dtype.kind in "USV":
        return None, f"got {_short(actual)}, which is not an array of numbers"
    if array.dtype.kind == "b":
        return None, f"got booleans {_short(actual)}, not numbers"
    return array.astype(np.float64), None


def _compare(expected, actual, rtol, atol):
    """None if actual matches expected, else a sentence saying how it differs. Never raises."""
    if actual is None and expected is not None:
        return f"expected {_short(expected)}, got None (does the function `return` its result?)"
    if isinstance(expected, (tuple, list)):
        if isinstance(actual, np.ndarray):
            actual = actual.tolist()          # e.g. np.array(shape) for an expected shape tuple
        if not isinstance(actual, (tuple, list)) or len(actual) != len(expected):
            return f"expected {_short(expected)}, got {_short(actual)}"
        for position, (e, a) in enumerate(zip(expected, actual)):
            problem = _compare(e, a, rtol, atol)
            if problem:
                return f"item {position}: {problem}"
        return None
    if isinstance(expected, np.ndarray):
        actual_array, problem = _as_number_array(actual)
        if problem:
            return f"expected an array of shape {expected.shape}; {problem}"
        if actual_array.shape != expected.shape:
            return f"expected shape {expected.shape}, got shape {actual_array.shape}"
        close = np.isclose(actual_array, expected, rtol=rtol, atol=atol, equal_nan=True)
        if not close.all():
            with np.errstate(invalid="ignore", over="ignore"):     # inf - inf in a wrong answer
                difference = np.where(close, 0.0, np.nan_to_num(np.abs(actual_array - expected), nan=np.inf))
            index = np.unravel_index(np.argmax(difference), expected.shape)
            return (f"wrong values at {(~close).sum()} of {close.size} positions: at index "
                    f"{tuple(int(i) for i in index)} expected {expected[index]:.6g}, "
                    f"got {actual_array[index]:.6g}")
        return None
    if isinstance(expected, (int, float, np.number)) and not isinstance(expected, bool):
        if isinstance(actual, str):
            return f"expected the number {expected!r}, got the string {_short(actual)}"
        if isinstance(actual, (bool, np.bool_)):
            return f"expected the number {expected!r}, got {actual!r}"
        try:
            number = float(actual)                    # also a 0-d or one-element array
        except Exception:
            return f"expected the number {expected!r}, got {_short(actual)}"
        if isinstance(expected, (int, np.integer)):
            # Exact, and printed in full: .6g would show 47040000 and 47040016 alike.
            return None if number == int(expected) else f"expected {int(expected):,}, got {_short(actual)}"
        ok = np.isclose(number, float(expected), rtol=rtol, atol=atol, equal_nan=True)
        return None if ok else f"expected {expected:.6g}, got {number:.6g}"
    try:
        same = bool(actual == expected)
    except Exception:
        same = False
    return None if same else f"expected {_short(expected)}, got {_short(actual)}"


class _TimeLimit(BaseException):
    """Raised inside an answer that ran past its time limit (BaseException, so a
    bare ``except Exception`` in the answer cannot swallow it)."""


def _call_with_time_limit(function, args, seconds):
    """Run ``function(*args)`` in a thread for at most ``seconds``.

    Returns (value, error, timed_out, printed). A thread, not a process: the
    answer runs in the notebook's own kernel, with its globals. A runaway loop
    is stopped by raising _TimeLimit inside the thread."""
    import contextlib
    import ctypes
    import io
    import threading

    outcome, printed = {}, io.StringIO()

    def run():
        try:
            with np.errstate(all="ignore"):   # overflow and NaN show in the verdict, not as warnings
                outcome["value"] = function(*args)
        except BaseException as error:        # anything, even SystemExit, is the answer's error
            outcome["error"] = error

    with contextlib.redirect_stdout(printed):
        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        thread.join(seconds)
        for _ in range(20):                   # stop a runaway answer; retry if it catches it
            if not thread.is_alive():
                break
            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident),
                                                       ctypes.py_object(_TimeLimit))
            thread.join(0.05)
    if "value" not in outcome and ("error" not in outcome or isinstance(outcome["error"], _TimeLimit)):
        return None, None, True, printed.getvalue()
    return outcome.get("value"), outcome.get("error"), False, printed.getvalue()


def _argument_names(answer, count):
    """The answer's parameter names, for messages ("argument `x`")."""
    import inspect
    try:
        names = [p.name for p in inspect.signature(answer).parameters.values()]
    except (TypeError, ValueError):
        names = []
    return [f"`{names[i]}`" if i < len(names) else f"number {i + 1}" for i in range(count)]


def _edited_arguments(originals, after):
    """Positions of the arguments the answer changed in place."""
    edited = []
    for position, (before, now) in enumerate(zip(originals, after)):
        try:
            if isinstance(before, np.ndarray):
                changed = not np.array_equal(before, now, equal_nan=before.dtype.kind in "fc")
            elif isinstance(before, (list, tuple, dict, int, float, str)):
                changed = bool(before != now)
            else:
                changed = False           # a model or other object: deep copies never compare equal
        except Exception:
            changed = False
        if changed:
            edited.append(position)
    return edited


def check_exercise(name, answer, cases, mistakes=(), time_limit=5.0, compare=None):
    """Run ``answer`` on every case; return a CheckResult and print its verdict.

    ``mistakes``: Mistake objects; a wrong answer that behaves like one is told its
    name and fix. ``compare(expected, actual, case)``: a custom comparison returning
    None or a sentence (default: ``_compare`` with the case's tolerances)."""
    compare = compare or (lambda expected, actual, case: _compare(expected, actual, case.rtol, case.atol))

    def verdict(passed, message, mistake=None):
        print(message)
        return CheckResult(name, passed, message, mistake)

    if not callable(answer):
        return verdict(False, f"{name}: expected a function, got {_short(answer)}. Pass the function "
                              f"itself, without calling it: check_{name}({name}), not check_{name}({name}()).")
    results, warnings, printed_once = [], [], ""
    for case in cases:
        originals, args = _copy_arguments(case.args), _copy_arguments(case.args)
        value, error, timed_out, printed = _call_with_time_limit(answer, args, time_limit)
        printed_once = printed_once or printed
        if isinstance(error, NotImplementedError):
            return verdict(False, f"{name}: not implemented yet")
        if timed_out:
            return verdict(False, f"{name}: your function took longer than {time_limit:g} s on case "
                                  f"'{case.description}' and was stopped: look for a loop that never ends "
                                  f"(a while loop whose variable never changes, say).")
        for position in _edited_arguments(originals, args):
            argument = _argument_names(answer, len(args))[position]
            warning = (f"  warning: your function changed its argument {argument} in place (case "
                       f"'{case.description}'); the caller's array changes too. Work on a copy "
                       f"(e.g. x = x.copy()) or build a new array.")
            if warning.split(" (case")[0] not in "".join(warnings):
                warnings.append(warning)
        if error is not None:
            problem = f"raised {type(error).__name__}: {error}"
        else:
            problem = compare(case.expected, value, case)
        results.append((case, value, error, problem))

    if all(problem is None for _, _, _, problem in results):
        count = len(cases)
        message = f"{name}: all {count} cases pass" if count > 1 else f"{name}: the case passes"
        return verdict(True, "\n".join([message] + warnings))

    mistake = _matching_mistake(results, mistakes, compare)
    case, _, _, problem = next(r for r in results if r[3] is not None)
    if mistake is not None:
        lines = [f"{name}: wrong. Your answer behaves like a known mistake: {mistake.name}.",
                 f"  fix: {mistake.fix}",
                 f"  (first failing case '{case.description}': {problem})"]
    else:
        lines = [f"{name}: case '{case.description}' failed: {problem}"]
        if case.hint:
            lines.append(f"  hint: {case.hint}")
    if printed_once:
        first_lines = printed_once.strip().splitlines()[:3]
        lines.append("  your function printed: " + " | ".join(line[:60] for line in first_lines))
    return verdict(False, "\n".join(lines + warnings), mistake)


class Exercise:
    """One exercise's check, written as data: its name, its cases and its known mistakes.

    ``cases`` is a list of Case, or a function of no arguments that builds it (for cases
    that load data or run a reference: built once, at the first check, then cached).
    ``mistakes`` likewise: a list of Mistake, or a function that builds it. Calling the
    Exercise with the student's function runs check_exercise::

        check_maxpool_forward = Exercise("maxpool_forward", maxpool_forward_cases, MAXPOOL_FORWARD_MISTAKES)
        result = checks.check_maxpool_forward(maxpool_forward)      # in notebook 04
    """

    def __init__(self, name, cases, mistakes=(), *, doc="", time_limit=5.0, compare=None, prepare=None):
        self.name, self._cases, self._mistakes = name, cases, mistakes
        self.time_limit, self.compare, self.prepare = time_limit, compare, prepare
        self.__doc__ = doc or f"Check notebook exercise ``{name}``: returns a CheckResult."
        self.__name__ = f"check_{name}"

    def cases(self):
        if callable(self._cases):
            self._cases = list(self._cases())
        return self._cases

    def mistakes(self):
        if callable(self._mistakes):
            self._mistakes = list(self._mistakes())
        return self._mistakes

    def __call__(self, answer):
        try:
            cases, mistakes = self.cases(), self.mistakes()
        except Exception as error:       # e.g. a data file missing: a check never raises, it says so
            message = (f"{self.name}: the check could not build its cases ({type(error).__name__}: {error}); "
                       f"not a verdict on your answer: see the README's quick start")
            print(message)
            return CheckResult(self.name, False, message)
        # ``prepare`` wraps the answer (e.g. to record what it calls); non-functions stay as they are.
        answer = self.prepare(answer) if self.prepare is not None and callable(answer) else answer
        return check_exercise(self.name, answer, cases, mistakes, self.time_limit, self.compare)

    def __repr__(self):
        return f"<exercise check {self.__name__}>"


def _matching_mistake(results, mistakes, compare):
    """The first mistake whose outputs equal the answer's on every case where the
    mistake is defined (its produce returns), and which is wrong somewhere."""
    for mistake in mistakes:
        compared = differs_from_expected = 0
        for case, value, error, _ in results:
            try:
                with np.errstate(all="ignore"):
                    wrong_value = mistake.produce(*_copy_arguments(case.args))
            except Exception:
                continue                              # the mistake is not defined on this case
            compared += 1
            if error is not None or compare(wrong_value, value, case) is not None:
                break
            differs_from_expected += compare(case.expected, wrong_value, case) is not None
        else:
            if compared and differs_from_expected:
                return mistake
    return None


def _copy_arguments(args):
    """Deep copies of a case's arguments, so no answer or mistake can edit the case."""
    import copy
    return copy.deepcopy(list(args))


