"""The exercise-check framework: Case, Mistake, CheckResult, check_exercise, and Exercise (a check as data)."""

from __future__ import annotations

import contextlib
import contextvars
import copy
import ctypes
import hashlib
import io
import threading
import time
import warnings

import numpy as np

# The verdict is decided only with functions captured here, when the framework is imported, and bound
# as default arguments where they are used: a notebook (or an answer) that later patches np.isclose,
# np.allclose or np.asarray, or this module's _compare, cannot turn a failing answer into a pass.
from numpy import array_equal as _array_equal, asarray as _asarray, isclose as _isclose

from . import diagnosis as _diagnosis
from . import mutation as _mutation


# Every exercise in the notebooks is a function the student writes. Its check
# runs it on its cases and returns a CheckResult that prints one verdict.
# When the answer is wrong, the check first asks which known mistake it is:
# each exercise lists the typical mistakes (Mistake) as small wrong functions,
# and an answer whose outputs equal a mistake's on every case is told that
# mistake's name and fix. When none matches, the verdict shows a failing case,
# expected against actual, says in words how the answer's outputs differ from
# the reference (checks/diagnosis.py: which outputs are wrong, scaled by which
# constant, flipped, transposed, shifted, right for the first image only, off
# by a tiny amount, of which shape), and gives the hint of the case where that
# symptom shows.
#
# A check never raises and never hangs, whatever the answer does: it may return
# None, a string, a ragged list, a huge broadcast view or an as_strided view
# outside its memory, raise, print, loop forever, or edit its input arrays (a
# failure that names the argument). In a notebook the graded cell under each
# exercise is
#
#     result = checks.check_<exercise>(<exercise>)
#     assert result, result.message
#
# so nbgrader scores the assert, and the cell's `raises-exception` tag lets a
# student's Run All go on past an exercise not yet answered (TEACHING.md).
#
# How an answer runs (_run_answer): in a thread of its own, so that the frames
# above the answer hold only its function and arguments, never a case's
# expected value. What it prints, writes to stderr or warns is captured (nbgrader
# scores any stderr output of a graded cell as a failure, so a correct answer
# that warns would lose its points) and quoted only in a failing verdict. The
# check's thread waits in short steps; when the time limit passes, or the
# student presses Stop (KeyboardInterrupt in the check's thread),
# it raises _Stopped inside the answer's thread and waits until that thread has
# really ended, so nothing keeps running in the kernel (measured: before, a Stop
# left the answer spinning, half a core busy while the kernel sat idle; now 0).
# One thing no Python code can stop is a single long call into C: it sees the
# exception only when the call returns. A NumPy loop releases the GIL, so the
# verdict comes on time and says that the function could not be stopped and the
# kernel needs a restart; a builtin holding the GIL (sum(range(10**12))) starves
# the check's thread as it starves Jupyter's own Stop, so the verdict waits until
# the call returns. (A forked subprocess with a hard kill would stop even that,
# but it cannot run answers that use the notebook's open figures or widgets,
# costs a fork of the whole kernel per case, must pickle the result and the
# arguments back to see in-place edits, and forking a kernel that runs BLAS and
# ZeroMQ threads is fragile; a thread keeps the answer in the student's kernel.)
#
# Each notebook's checks are written as data in checks/notebook_NN.py: an
# Exercise holds the exercise's name, its cases and its mistakes, and calling
# it runs check_exercise. Mistakes that several notebooks share are in
# checks/common_mistakes.py.

# An answer may run for max(the exercise's time_limit, TIME_MARGIN x the reference's own time on this
# machine): a slow correct answer on a busy machine is not taken for an endless loop.
TIME_MARGIN = 50


# --- secret cases, for grading outside the student's kernel -------------------------------------
#
# Every case builder draws its random inputs from case_rng(seed). Outside grading that is exactly
# np.random.default_rng(seed): the cases a notebook shows and checks are the public ones. Inside
# ``with secret_cases(secret):`` (the teacher's secret, set in the course configuration) the same seed
# gives a generator seeded from (a hash of the secret, seed): other inputs, which the hand-out and the
# public repository do not hold. Inputs written by hand get their secret variation from secret_rng.

_secret_digest = contextvars.ContextVar("scratchcnn_secret_digest", default=None)


@contextlib.contextmanager
def secret_cases(secret):
    """Within this block, case_rng and secret_rng draw from ``secret`` (a non-empty str)."""
    if not isinstance(secret, str) or not secret:
        raise ValueError("secret_cases needs a non-empty string")
    token = _secret_digest.set(hashlib.sha256(secret.encode()).digest())
    try:
        yield
    finally:
        _secret_digest.reset(token)


def secret_active():
    """True inside secret_cases (a builder may then describe its varied inputs in other words)."""
    return _secret_digest.get() is not None


def secret_rng(seed):
    """A generator seeded from (the secret, ``seed``) inside secret_cases, None outside."""
    digest = _secret_digest.get()
    if digest is None:
        return None
    words = [int.from_bytes(digest[i:i + 4], "little") for i in range(0, len(digest), 4)]
    return np.random.default_rng(np.random.SeedSequence(words + [int(seed)]))


def case_rng(seed):
    """The generator every case builder draws its inputs from: np.random.default_rng(seed), or
    inside secret_cases a generator seeded from (the secret, ``seed``)."""
    return secret_rng(seed) or np.random.default_rng(seed)


def varied(public, change, seed):
    """``public`` (an input written by hand) outside secret_cases; inside, ``change(rng)`` with
    rng = secret_rng(seed): a secret input that makes the same point."""
    rng = secret_rng(seed)
    return public if rng is None else change(rng)


HUGE = 100.0      # keep_signs: entries beyond this are moved, not scaled


def keep_signs(seed, integers=True):
    """A function of a hand-written array: the array itself outside secret_cases; inside, each entry
    times a random positive factor (0.5 to 2 for floats, 1 to 3 for signed integers when ``integers``),
    in the array's dtype: the same signs and zeros (a zero gradient stays zero), other values. Float
    entries beyond HUGE are moved by up to 0.5 instead.
    Anything else (labels as unsigned or other objects, numbers) is returned as it is."""
    rng = secret_rng(seed)

    def vary(value):
        if rng is None or not isinstance(value, np.ndarray):
            return value
        if value.dtype.kind == "f":
            # Huge entries (logits of 1000) move by a little, not by a factor: a case about overflow
            # keeps its differences of a few units (times 2 they would be hundreds, and a correct
            # log of a softmax would underflow on a case the hand-out never asked about).
            huge = np.abs(value) > HUGE
            scaled = value * rng.uniform(0.5, 2.0, value.shape)
            return np.where(huge, value + rng.uniform(-0.5, 0.5, value.shape), scaled).astype(value.dtype)
        if value.dtype.kind == "i" and integers:
            return (value * rng.integers(1, 4, value.shape)).astype(value.dtype)
        return value
    return vary


def varied_settings(settings, seed, integers=True, positions=None):
    """``settings`` (tuples of a description and arguments) with keep_signs applied to every array (or
    to the items at ``positions``). Inside secret_cases a description's written numbers (from " [" on)
    are left out: they are no longer the case's."""
    if not secret_active():
        return settings
    vary = keep_signs(seed, integers)
    return [(setting[0].split(" [")[0],) + tuple(
        vary(item) if positions is None or position in positions else item
        for position, item in enumerate(setting[1:], start=1)) for setting in settings]


def _same_value(a, b, depth=0):
    """True when two case arguments hold the same values (arrays compared by value, not identity)."""
    if depth > 6:
        return False
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.shape == b.shape
                and bool(_array_equal(a, b, equal_nan=a.dtype.kind in "fc" and b.dtype.kind in "fc")))
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(_same_value(x, y, depth + 1) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_value(a[k], b[k], depth + 1) for k in a)
    if type(a) is not type(b):
        return isinstance(a, (int, float, np.number)) and isinstance(b, (int, float, np.number)) and a == b
    if hasattr(a, "__dict__") and not callable(a):   # a layer or model: its attributes
        return _same_value(vars(a), vars(b), depth + 1)
    try:
        return bool(a == b)
    except Exception:
        return a is b


def same_arguments(first, second):
    """True when two cases' argument tuples are equal value by value."""
    return _same_value(tuple(first), tuple(second))


class Case:
    """One test case: answer(*args) should return ``expected``.

    ``dtype``: the dtype the answer's array must have (e.g. np.float32), when the exercise promises one.
    ``reference_seconds``: how long the reference took to compute ``expected`` (set by Exercise)."""

    def __init__(self, description, args, expected, hint="", rtol=1e-6, atol=1e-8, dtype=None,
                 reference_seconds=None):
        self.description, self.args, self.expected = description, args, expected
        self.hint, self.rtol, self.atol = hint, rtol, atol
        self.dtype, self.reference_seconds = dtype, reference_seconds


class Mistake:
    """A typical wrong answer: ``produce(*case.args)`` returns what an answer with
    this mistake returns; ``name`` says what the mistake is and ``fix`` how to mend it."""

    def __init__(self, name, produce, fix):
        self.name, self.produce, self.fix = name, produce, fix


class _Sealed(type):
    """A class whose attributes cannot be set or deleted after it is made: ``CheckResult.__bool__ =
    lambda self: True`` in a notebook raises instead of making every check pass."""

    def __setattr__(cls, name, value):
        raise AttributeError(f"{cls.__name__} cannot be changed: a check's verdict is decided by the check")

    def __delattr__(cls, name):
        raise AttributeError(f"{cls.__name__} cannot be changed: a check's verdict is decided by the check")


class CheckResult(metaclass=_Sealed):
    """The verdict of a check: truthy when every case passed; ``message`` says why not
    (the mistake it matches, or the failing case). Shown as its message.

    Read-only: each verdict gets a sealed class of its own whose ``__bool__`` returns the
    verdict held in a closure, so neither patching this class nor setting ``result.passed``
    changes what ``assert result`` sees."""

    __slots__ = ("name", "message", "mistake")

    def __new__(cls, name, passed, message, mistake=None):
        verdict = bool(passed)

        def __bool__(self):
            return verdict

        own_class = _Sealed("CheckResult", (cls,), {
            "__slots__": (), "__bool__": __bool__, "passed": property(__bool__),
            "__module__": __name__, "__doc__": cls.__doc__})
        result = object.__new__(own_class)
        for attribute, value in (("name", name), ("message", message), ("mistake", mistake)):
            object.__setattr__(result, attribute, value)
        return result

    def __init__(self, *args, **options):
        pass                                          # everything is set in __new__

    def __setattr__(self, name, value):
        raise AttributeError("a check's verdict cannot be changed")

    def __delattr__(self, name):
        raise AttributeError("a check's verdict cannot be changed")

    def __bool__(self):
        return False                                  # only a verdict's own class can say True

    passed = property(__bool__)

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


# --- arrays the check must not read ---------------------------------------------------------

def _buffer_of(array):
    """(start address, size in bytes) of the memory block ``array`` views, or None if unknown."""
    owner = array
    for _ in range(100):                               # view of a view ...; as_strided adds a DummyArray
        parent = getattr(owner, "base", None)
        if parent is None:
            break
        owner = parent
    if isinstance(owner, np.ndarray):                  # it owns its data: one block of nbytes
        return owner.__array_interface__["data"][0], owner.nbytes
    try:
        view = memoryview(owner)                       # bytes, bytearray, mmap, ...
        return np.frombuffer(view, np.uint8).__array_interface__["data"][0], view.nbytes
    except Exception:
        return None


def _outside_its_memory(array):
    """True when the strides and shape of ``array`` reach bytes outside the block it views
    (np.lib.stride_tricks.as_strided with too large a shape or strides): reading it may crash."""
    if array.size == 0 or array.base is None:
        return False
    block = _buffer_of(array)
    if block is None:
        return False
    start = array.__array_interface__["data"][0]
    low = start + sum((n - 1) * s for n, s in zip(array.shape, array.strides) if s < 0)
    high = start + sum((n - 1) * s for n, s in zip(array.shape, array.strides) if s > 0) + array.itemsize
    return low < block[0] or high > block[0] + block[1]


def _unreadable(value, depth=0):
    """A sentence if ``value`` holds an array view that reaches outside its memory, else None."""
    if isinstance(value, np.ndarray):
        if _outside_its_memory(value):
            return (f"returned an array view of shape {value.shape} and strides {value.strides} that reaches "
                    f"outside the memory it views (as_strided with too large a shape or strides?): reading "
                    f"it could crash the kernel, so the check does not")
        return None
    if depth < 3 and isinstance(value, (tuple, list)):
        for item in value[:1000]:
            problem = _unreadable(item, depth + 1)
            if problem:
                return problem
    if depth < 3 and isinstance(value, dict):
        for item in list(value.values())[:1000]:
            problem = _unreadable(item, depth + 1)
            if problem:
                return problem
    return None


# --- comparing an answer with the expected value ------------------------------------------------

def _as_number_array(actual, expected_shape, _asarray=_asarray):
    """``actual`` as a float array of ``expected_shape``, or a sentence saying why it is not one.
    The shape is compared before anything is copied: a broadcast view of 10**10 zeros costs nothing."""
    if isinstance(actual, str):
        return None, f"got the string {_short(actual)}, not numbers"
    try:
        array = actual if isinstance(actual, np.ndarray) else _asarray(actual)
    except Exception:                                  # ragged nested lists on NumPy 2
        return None, f"got {_short(actual)}, which is not a rectangular array of numbers"
    if array.dtype == object or array.dtype.kind in "USV":
        return None, f"got {_short(actual)}, which is not an array of numbers"
    if array.dtype.kind == "b":
        return None, f"got booleans {_short(actual)}, not numbers"
    if array.shape != expected_shape:
        return None, f"expected shape {expected_shape}, got shape {array.shape}"
    return array.astype(np.float64), None


def _dtype_slip(expected, actual, wanted, values_right=False):
    """A sentence if the answer's array has the wrong dtype: not ``wanted`` when the case asks for one,
    or (when its values are wrong) integers where the reference gives floating-point numbers."""
    given = getattr(actual, "dtype", None)
    if given is None:
        return None
    if wanted is not None and given != np.dtype(wanted):
        return f"returned {given} where {np.dtype(wanted)} is asked"
    if not values_right and expected.dtype.kind == "f" and given.kind in "iub":
        return (f"returned {given}, expected a floating-point result (an array made with the integer "
                f"input's dtype, or np.zeros_like of it, drops every fraction)")
    return None


def _compare(expected, actual, rtol, atol, dtype=None, dtypes=True, *, _isclose=_isclose, _item_compare=None):
    """None if actual matches expected, else a sentence saying how it differs. Never raises.
    ``dtype``: the dtype an array must have; ``dtypes=False``: values only (to match mistakes)."""
    if actual is None and expected is not None:
        return f"expected {_short(expected)}, got None (does the function `return` its result?)"
    if isinstance(expected, (tuple, list)):
        if isinstance(actual, np.ndarray):             # e.g. np.array(shape) for an expected shape tuple
            if actual.ndim == 0 or len(actual) != len(expected):
                return f"expected {_short(expected)}, got {_short(actual)}"
            actual = actual.tolist() if actual.size <= 10_000 else list(actual)
        if not isinstance(actual, (tuple, list)) or len(actual) != len(expected):
            return f"expected {_short(expected)}, got {_short(actual)}"
        for position, (e, a) in enumerate(zip(expected, actual)):
            problem = _item_compare(e, a, rtol, atol, dtype, dtypes)
            if problem:
                return f"item {position}: {problem}"
        return None
    if isinstance(expected, np.ndarray):
        actual_array, problem = _as_number_array(actual, expected.shape)
        if problem:
            return problem if problem.startswith("expected shape") else \
                f"expected an array of shape {expected.shape}; {problem}"
        close = _isclose(actual_array, expected, rtol=rtol, atol=atol, equal_nan=True)
        if not close.all():
            with np.errstate(invalid="ignore", over="ignore"):     # inf - inf in a wrong answer
                difference = np.where(close, 0.0, np.nan_to_num(np.abs(actual_array - expected), nan=np.inf))
            index = np.unravel_index(np.argmax(difference), expected.shape)
            slip = _dtype_slip(expected, actual, dtype) if dtypes else None
            return (f"wrong values at {(~close).sum()} of {close.size} positions: at index "
                    f"{tuple(int(i) for i in index)} expected {expected[index]:.6g}, "
                    f"got {actual_array[index]:.6g}" + (f" ({slip})" if slip else ""))
        return _dtype_slip(expected, actual, dtype, values_right=True) if dtypes else None
    if isinstance(expected, (int, float, np.number)) and not isinstance(expected, bool):
        if isinstance(actual, str):
            return f"expected the number {expected!r}, got the string {_short(actual)}"
        if isinstance(actual, (bool, np.bool_)):
            return f"expected the number {expected!r}, got {actual!r}"
        if isinstance(actual, np.ndarray) and actual.size != 1:
            return f"expected the number {expected!r}, got {_short(actual)}"
        try:
            number = float(actual)                    # also a 0-d or one-element array
        except Exception:
            return f"expected the number {expected!r}, got {_short(actual)}"
        if isinstance(expected, (int, np.integer)):
            # Exact, and printed in full: .6g would show 47040000 and 47040016 alike.
            return None if number == int(expected) else f"expected {int(expected):,}, got {_short(actual)}"
        ok = _isclose(number, float(expected), rtol=rtol, atol=atol, equal_nan=True)
        return None if ok else f"expected {expected:.6g}, got {number:.6g}"
    if isinstance(actual, np.ndarray) and actual.size > 1000:     # no elementwise == of a huge view
        return f"expected {_short(expected)}, got {_short(actual)}"
    try:
        same = bool(actual == expected)
    except Exception:
        same = False
    return None if same else f"expected {_short(expected)}, got {_short(actual)}"


_compare.__kwdefaults__["_item_compare"] = _compare    # items of a tuple: this very function, not a patched one


# --- running an answer ------------------------------------------------------------------------

class _Stopped(BaseException):
    """Raised inside an answer that ran past its time limit or was interrupted (BaseException, so
    a bare ``except Exception`` in the answer cannot swallow it)."""


def _stop(thread, outcome, lock, finished, seconds=2.0):
    """Raise _Stopped in ``thread`` until its answer has finished (an answer may catch it and go on);
    True if it finished.

    Under ``lock``, and only while the answer has not finished: an exception that arrived after the
    answer returned would land in the threading module's own bookkeeping."""
    deadline = time.monotonic() + seconds
    while not finished.is_set() and time.monotonic() < deadline:
        try:
            with lock:
                if not finished.is_set():
                    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident),
                                                               ctypes.py_object(_Stopped))
            finished.wait(0.02)
        except KeyboardInterrupt:                     # Stop pressed again: keep stopping the answer
            continue
    return finished.is_set()


def _absorb():
    """A call and a loop: points where a _Stopped still on its way is raised (see _run_answer)."""
    for _ in range(2):
        pass


def _run_answer(function, args, seconds):
    """Run ``function(*args)`` for at most ``seconds`` in a thread of its own (see the comment at the top).

    Returns (value, error, status, printed): status is "done", "timed out" or "interrupted" (Stop was
    pressed), followed by " and could not be stopped" when the answer is stuck in one long C call.
    ``printed``: {"printed" | "wrote to stderr" | "warned": text} of what the answer wrote to stdout, to
    stderr and as warnings (each left out when empty). All three are captured, because nbgrader scores
    any stderr output of a graded cell as a failure, and a correct answer that warns must keep its
    points (the verdict quotes them only when the answer fails).

    The check's thread waits on an Event, not on Thread.join: a KeyboardInterrupt inside join marks
    a thread that still runs as stopped (CPython 3.11), and the answer would spin on unseen."""
    outcome, printed, lock, finished = {}, io.StringIO(), threading.Lock(), threading.Event()
    written, warned = io.StringIO(), []

    def run():                                        # the answer's only caller: no expected value here
        try:
            try:
                with np.errstate(all="ignore"):       # overflow and NaN show in the verdict, not as warnings
                    outcome["value"] = function(*args)
            except BaseException as error:            # anything, even SystemExit, is the answer's error
                outcome["error"] = error
            with lock:
                finished.set()                        # from now on _stop sends nothing
            _absorb()
        except _Stopped:                              # sent just as the answer ended
            finished.set()

    status = "done"
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(written), \
            warnings.catch_warnings(record=True) as warned:
        warnings.simplefilter("always")               # a warning seen before in this kernel is recorded too
        thread = threading.Thread(target=run, name="exercise answer", daemon=True)
        thread.start()
        deadline = time.monotonic() + seconds
        try:
            while not finished.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    status = "timed out"
                    break
                finished.wait(min(left, 0.05))        # short waits: Stop is seen at once
        except KeyboardInterrupt:
            status = "interrupted"
        if not finished.is_set() and not _stop(thread, outcome, lock, finished):
            status += " and could not be stopped"
    if finished.is_set():                             # let the thread leave threading's bookkeeping
        for _ in range(100):
            if thread not in threading.enumerate():
                break
            time.sleep(0.001)
    output = _what_it_said(printed.getvalue(), written.getvalue(), warned)
    if status.startswith("interrupted") or (status != "done" and (
            not finished.is_set() or isinstance(outcome.get("error"), _Stopped))):
        return None, None, status, output                   # Stop is honoured even if the answer just ended
    return outcome.get("value"), outcome.get("error"), "done", output


def _what_it_said(printed, written, warned):
    """{"printed": ..., "wrote to stderr": ..., "warned": ...} of an answer, the empty ones left out."""
    warnings_text = []
    for warning in warned[:3]:
        try:
            warnings_text.append(f"{warning.category.__name__}: {warning.message}")
        except Exception:                             # a warning whose str raises is still a warning
            warnings_text.append("a warning")
    said = {"printed": printed, "wrote to stderr": written, "warned": "\n".join(warnings_text)}
    return {how: text for how, text in said.items() if text.strip()}


def _argument_names(answer, count):
    """The answer's parameter names, for messages ("argument `x`")."""
    import inspect
    try:
        names = [p.name for p in inspect.signature(answer).parameters.values()]
    except (TypeError, ValueError):
        names = []
    return [f"`{names[i]}`" if i < len(names) else f"number {i + 1}" for i in range(count)]


def _edited_arguments(originals, after, _array_equal=_array_equal):
    """Positions of the arguments the answer changed in place."""
    edited = []
    for position, (before, now) in enumerate(zip(originals, after)):
        try:
            if isinstance(before, np.ndarray):
                changed = not _array_equal(before, now, equal_nan=before.dtype.kind in "fc")
            elif isinstance(before, (list, tuple, dict, int, float, str)):
                changed = bool(before != now)
            else:
                changed = False           # a model or other object: deep copies never compare equal
        except Exception:
            changed = False
        if changed:
            edited.append(position)
    return edited


def _time_limit(case, time_limit):
    """max(time_limit, TIME_MARGIN x the reference's time for this case), and a note of that time."""
    if not case.reference_seconds:
        return time_limit, ""
    note = f" (the reference solution takes {case.reference_seconds:.2g} s on this machine)"
    return max(time_limit, TIME_MARGIN * case.reference_seconds), note


def check_exercise(name, answer, cases, mistakes=(), time_limit=5.0, compare=None, *, doc="", reference=None,
                   slips=False, _default_compare=_compare, _result=CheckResult):
    """Run ``answer`` on every case; return a CheckResult and print its verdict.

    ``mistakes``: Mistake objects; a wrong answer that behaves like one is told its
    name and fix. ``compare(expected, actual, case)``: a custom comparison returning
    None or a sentence (default: ``_compare`` with the case's tolerances and dtype).
    ``time_limit``: seconds per case at least (see TIME_MARGIN). The default comparison and
    the verdict's class are bound when this function is defined, out of a notebook's reach.
    ``doc``: the exercise's description; its ``-> (dx, dW, db)`` names a tuple's outputs in a diagnosis.
    ``reference(*case.args)``: the right function, when the cases come from one: the diagnosis then runs
    the answer and it again on changed inputs to see which input a wrong output ignores or misuses.
    ``slips``: look for the one slip that turns the solved notebook's solution into the answer
    (checks/mutation.py)."""
    # ``resemble``: does the answer give what a mistake gives? Values only: a dtype slip is named by the verdict.
    resemble = compare or (lambda expected, actual, case: _default_compare(
        expected, actual, case.rtol, case.atol, dtypes=False))
    compare = compare or (lambda expected, actual, case: _default_compare(
        expected, actual, case.rtol, case.atol, case.dtype))
    values_only = lambda expected, actual, case: _default_compare(  # noqa: E731 (one output of a tuple)
        expected, actual, case.rtol, case.atol, dtypes=False)

    def verdict(passed, message, mistake=None):
        print(message)
        return _result(name, passed, message, mistake)

    if not callable(answer):
        return verdict(False, f"{name}: expected a function, got {_short(answer)}. Pass the function "
                              f"itself, without calling it: check_{name}({name}), not check_{name}({name}()).")
    results, edits, printed_once = [], [], {}
    for case in cases:
        originals, args = _copy_arguments(case.args), _copy_arguments(case.args)
        seconds, reference_note = _time_limit(case, time_limit)
        value, error, status, printed = _run_answer(answer, args, seconds)
        printed_once = printed_once or printed
        if isinstance(error, NotImplementedError):
            return verdict(False, f"{name}: not implemented yet")
        if status.startswith("interrupted"):
            return verdict(False, f"{name}: interrupted (Stop or Ctrl-C) while your function ran on case "
                                  f"'{case.description}'; " + (
                                      "your function was stopped: nothing of it keeps running."
                                      if status == "interrupted" else _STUCK))
        if status.startswith("timed out"):
            return verdict(False, f"{name}: your function took longer than {seconds:g} s on case "
                                  f"'{case.description}'{reference_note} and was stopped: look for a loop that "
                                  f"never ends (a while loop whose variable never changes, say)."
                           if status == "timed out" else
                           f"{name}: your function took longer than {seconds:g} s on case "
                           f"'{case.description}'{reference_note}; {_STUCK}")
        problem = _unreadable(value) if error is None else f"raised {type(error).__name__}: {error}"
        if problem is None:
            problem = compare(case.expected, value, case)
        edited = _edited_arguments(originals, args)
        if edited:
            names = _argument_names(answer, len(args))
            edit = (f"your function changed its argument {' and '.join(names[p] for p in edited)} in place: "
                    f"the caller's array changes too, so this is wrong even when the result is right. Work on "
                    f"a copy (x = x.copy(), or x = x + 0.0; np.asarray(x, float) is no copy when x is already "
                    f"float) or build a new array.")
            if edit not in edits:
                edits.append(edit)
            problem = problem or edit
        results.append((case, value, error, problem))

    if all(problem is None for _, _, _, problem in results):
        count = len(cases)
        return verdict(True, f"{name}: all {count} cases pass" if count > 1 else f"{name}: the case passes")

    mistake = _matching_mistake(results, mistakes, resemble)
    failing = [r for r in results if r[3] is not None]
    # A wrong value says more than an in-place edit (which is listed below anyway): show it first.
    case, _, _, problem = next((r for r in failing if r[3] not in edits), failing[0])
    if mistake is not None:
        lines = [f"{name}: wrong. Your answer behaves like a known mistake: {mistake.name}.",
                 f"  fix: {mistake.fix}",
                 f"  (first failing case '{case.description}': {problem})"]
    else:
        # No listed mistake: say in words how the outputs differ from the reference (checks/diagnosis.py),
        # and show the hint of the case where that symptom shows.
        try:
            expected = case.expected
            count = len(expected) if isinstance(expected, (tuple, list)) else 0
            def rerun(args, limit=_time_limit(case, time_limit)[0]):
                """The answer's value on ``args`` (copies), time-limited; raises when it fails."""
                value, error, status, _ = _run_answer(answer, _copy_arguments(args), limit)
                if status != "done" or error is not None:
                    raise RuntimeError(f"the answer {status}" if error is None else repr(error))
                return value
            words, diagnosed = _diagnosis.diagnose(results, values_only, _diagnosis.output_names(doc, count),
                                                   _argument_names(answer, max(len(c.args) for c in cases)), edits,
                                                   mistakes, rerun if reference is not None else None, reference)
        except Exception:                             # a diagnosis never costs the verdict
            words, diagnosed = None, None
        if diagnosed is not None and diagnosed is not case and diagnosed.expected is not None:
            case = diagnosed
            problem = next(r[3] for r in results if r[0] is case)
        lines = [f"{name}: case '{case.description}' failed: {problem}"]
        if words:
            lines.append(f"  what differs: {words}")
        found = []
        if slips:                            # in a stoppable thread, like an answer: a check never hangs
            found, error, status, _ = _run_answer(_mutation.matching_slips, [name, results, values_only],
                                                  _mutation.TIME_BUDGET + 1.0)
            found = found if status == "done" and error is None and isinstance(found, list) else []
        if found:
            lines.append("  the slip: your outputs are exactly what the solution gives with "
                         + "; or with ".join(found))
        if case.hint and problem not in edits:
            lines.append(f"  hint: {case.hint}")
    for how, text in printed_once.items():           # stdout, stderr, warnings: never in the cell's stderr
        first_lines = text.strip().splitlines()[:3]
        lines.append(f"  your function {how}: " + " | ".join(line[:60] for line in first_lines))
    lines += [f"  also: {edit}" for edit in edits if edit != problem]
    return verdict(False, "\n".join(lines), mistake)


_STUCK = ("your function could not be stopped: it is inside one long NumPy or C call, which Python cannot "
          "interrupt, and it keeps running in the background, slowing this kernel down. Restart the kernel "
          "(Kernel > Restart), then look for a call that works on far too much data.")


class Exercise:
    """One exercise's check, written as data: its name, its cases and its known mistakes.

    ``cases`` is a list of Case, or a function of no arguments that builds it (for cases
    that load data or run a reference: built once, at the first check, then cached; the
    build's time, shared among the cases that do not know their own, sets the time limit).
    ``mistakes`` likewise: a list of Mistake, or a function that builds it. Calling the
    Exercise with the student's function runs check_exercise::

        check_maxpool_forward = Exercise("maxpool_forward", maxpool_forward_cases, MAXPOOL_FORWARD_MISTAKES)
        result = checks.check_maxpool_forward(maxpool_forward)      # in notebook 04
    """

    def __init__(self, name, cases, mistakes=(), *, doc="", time_limit=5.0, compare=None, prepare=None,
                 reference=None):
        self.name, self._cases, self._mistakes, self.reference = name, cases, mistakes, reference
        self._build = cases if callable(cases) else None          # kept for graded_cases
        self.time_limit, self.compare, self.prepare = time_limit, compare, prepare
        self.__doc__ = doc or f"Check notebook exercise ``{name}``: returns a CheckResult."
        self.__name__ = f"check_{name}"

    def cases(self):
        if callable(self._cases):
            self._cases = _timed(self._cases)
        return self._cases

    def graded_cases(self, secret):
        """The cases a grader uses: built afresh inside secret_cases(secret) (the public cases stay
        cached as they are), less every case whose arguments equal a public case's. An exercise whose
        cases take no arguments (a question such as pooled_shape) has nothing to vary and keeps them."""
        public = self.cases()
        if self._build is None:                       # a fixed list: nothing a secret could change
            return [] if any(case.args for case in public) else list(public)
        with secret_cases(secret):
            fresh = _timed(self._build)
        if not any(case.args for case in public):
            return fresh
        return [case for case in fresh if not any(same_arguments(case.args, known.args) for known in public)]

    def mistakes(self):
        if callable(self._mistakes):
            self._mistakes = list(self._mistakes())
        return self._mistakes

    def as_called(self, answer):
        """The answer as the check calls it: ``prepare`` wraps a function (e.g. to record what it calls);
        anything else stays as it is, for the verdict to say what it is."""
        return self.prepare(answer) if self.prepare is not None and callable(answer) else answer

    def check_on(self, called, cases, *, intervene=True, _check=check_exercise):
        """check_exercise of ``called`` (already as_called) over ``cases``, with this exercise's mistakes,
        time limit and comparison. ``intervene=False``: no reruns of the answer with changed inputs (a
        grader that only replays what the answer returned in its sandbox cannot rerun it)."""
        return _check(self.name, called, cases, self.mistakes(), self.time_limit, self.compare, doc=self.__doc__,
                      reference=self.reference if intervene else None, slips=self.reference is not None)

    def __call__(self, answer, *, _result=CheckResult):
        try:
            cases = self.cases()
            self.mistakes()
        except Exception as error:       # e.g. a data file missing: a check never raises, it says so
            message = (f"{self.name}: the check could not build its cases ({type(error).__name__}: {error}); "
                       f"not a verdict on your answer: see the README's quick start")
            print(message)
            return _result(self.name, False, message)
        return self.check_on(self.as_called(answer), cases)

    def __repr__(self):
        return f"<exercise check {self.__name__}>"


def _timed(build):
    """build() as a list of cases; a case that does not know its reference's time gets an equal share
    of the build's time (an upper bound: the build may also load data)."""
    start = time.perf_counter()
    cases = list(build())
    share = (time.perf_counter() - start) / max(len(cases), 1)
    for case in cases:
        if case.reference_seconds is None:
            case.reference_seconds = share
    return cases


def _matching_mistake(results, mistakes, compare):
    """The first mistake whose outputs equal the answer's on every case where the
    mistake is defined (its produce returns), and which is wrong somewhere."""
    for mistake in mistakes:
        compared = differs_from_expected = 0
        for case, value, error, problem in results:
            try:
                with np.errstate(all="ignore"):
                    wrong_value = mistake.produce(*_copy_arguments(case.args))
            except Exception:
                continue                              # the mistake is not defined on this case
            compared += 1
            if error is not None or (problem or "").startswith("returned an array view") or \
                    compare(wrong_value, value, case) is not None:
                break
            differs_from_expected += compare(case.expected, wrong_value, case) is not None
        else:
            if compared and differs_from_expected:
                return mistake
    return None


def _copy_arguments(args):
    """Deep copies of a case's arguments, so no answer or mistake can edit the case."""
    return copy.deepcopy(list(args))
