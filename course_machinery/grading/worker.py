"""The grading worker: one student's notebook, run inside the sandbox (see grader.py).

It is started by the grader with the sandbox's private folder as its working directory, where
job.json holds the notebook's code cells to run (the graded check cells left out: the verdict is the
grader's) and the exercises to grade. Everything the student's code prints goes nowhere; the
worker talks to the grader on the standard output it was started with, one line per step:

    cell <index>      before each cell (if the worker dies or hangs there, the grader restarts it
                      without that cell)
    ready             when the cells have run
    graded <name>     when result-<name>.npz is written

Requests come on standard input, one JSON line each, after "ready":
{"name": ..., "cases": "cases-<name>.npz", "dependencies": {other exercise: its reference source}}.
For each case the worker calls the student's function and writes back what it returned and what its
arguments hold afterwards (an in-place edit is a mistake). It never sees an expected value: the
grader compares in its own process. While the function runs, a profiler watches for calls into the
library's own implementation of the exercise (library_answers.py), however the student reached it.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

from course_machinery.grading.values import decode, encode


REFERENCE_FILE_PREFIX = "<reference "        # the teacher's solutions, compiled under this file name


class GradingTimeout(BaseException):
    """Raised in a cell or an answer that runs past its time (BaseException: `except Exception` in the
    student's code does not swallow it)."""


def _alarm(signum, frame):
    raise GradingTimeout("ran past the grader's time limit")


def _time_limit(seconds: float) -> None:
    signal.setitimer(signal.ITIMER_REAL, max(float(seconds), 0.001))


def _no_time_limit() -> None:
    signal.setitimer(signal.ITIMER_REAL, 0)


def _library_answers(names):
    """{(file, first line, bytecode): dotted name} of the library's own answers to each exercise, taken
    before any student code runs (so a notebook that rebinds scratchcnn.softmax changes nothing here)."""
    from course_machinery.grading.library_answers import LIBRARY_ANSWERS, resolve
    watched = {}
    for name in names:
        codes = {}
        for dotted in LIBRARY_ANSWERS.get(name, ()):
            code = getattr(resolve(dotted), "__code__", None)
            if code is not None:
                codes[(code.co_filename, code.co_firstlineno, code.co_code)] = dotted
        watched[name] = codes
    return watched


class _Watch:
    """A profiler that notes every call into one of the watched functions (by its file, first line and
    bytecode: an alias, a reloaded module or a compiled copy of the library file are all seen)."""

    def __init__(self, codes: dict):
        self.codes, self.files = codes, {key[0] for key in codes}
        self.seen: list = []

    def __call__(self, frame, event, arg):
        if event == "call":
            code = frame.f_code
            if code.co_filename in self.files:
                dotted = self.codes.get((code.co_filename, code.co_firstlineno, code.co_code))
                if dotted and dotted not in self.seen and not _inside_a_reference(frame):
                    self.seen.append(dotted)


def _inside_a_reference(frame) -> bool:
    """True if a reference the grader substituted (the cascade) made this call, not the student's code."""
    frame = frame.f_back
    while frame is not None:
        if frame.f_code.co_filename.startswith(REFERENCE_FILE_PREFIX):
            return True
        frame = frame.f_back
    return False


def _call(function, args, seconds, watch):
    """One case: (value, error, status); status "done" or "timed out"."""
    value = error = None
    status = "done"
    sys.setprofile(watch)
    threading.setprofile(watch)
    try:
        _time_limit(seconds)
        value = function(*args)
    except GradingTimeout:
        status = "timed out"
    except BaseException as raised:                     # SystemExit, KeyboardInterrupt: the answer's error
        error = [type(raised).__name__, str(raised)[:2000]]
    finally:
        _no_time_limit()
        # A time-out raised while the profiler itself runs unsets it (CPython does that to a profile
        # function that raises): only a finished call can be blamed for a missing watch.
        watch_kept = sys.getprofile() is watch or status == "timed out"
        sys.setprofile(None)
        threading.setprofile(None)
    return value, error, status, watch_kept


def _answer(namespace, name, exercise):
    """The student's function, ready to call as the check calls it, or (None, what was there instead)."""
    if name not in namespace:
        return None, "missing"
    answer = exercise.as_called(namespace[name])       # notebook 11's diagnoses also take a bare key
    if not callable(answer):
        try:
            shown = repr(answer)[:200]
        except Exception:
            shown = f"<{type(answer).__name__}>"
        return None, f"not a function: {shown}"
    return answer, "function"


def _grade(namespace, request, watched) -> dict:
    from course_machinery import checks
    name = request["name"]
    exercise = getattr(checks, f"check_{name}")
    # The cascade: the exercises this answer builds on are the references, not the student's own.
    kept = {}
    for other, source in request.get("dependencies", {}).items():
        kept[other] = namespace.get(other, _MISSING)
        try:
            exec(compile(source, f"{REFERENCE_FILE_PREFIX}{other}>", "exec"), namespace)
        except BaseException:
            pass
    function, answer = _answer(namespace, name, exercise)
    outcome = {"answer": answer, "cases": [], "tripped": [], "watch_kept": True,
               "parameters": _parameters(namespace.get(name))}
    if function is not None:
        cases = decode(Path(request["cases"]).read_bytes())
        for case in cases:
            watch = _Watch(watched.get(name, {}))
            value, error, status, watch_kept = _call(function, case["args"], case["seconds"], watch)
            outcome["cases"].append({"value": value, "args": case["args"], "error": error, "status": status})
            outcome["tripped"] += [dotted for dotted in watch.seen if dotted not in outcome["tripped"]]
            outcome["watch_kept"] = outcome["watch_kept"] and watch_kept
            if status != "done" or (error and error[0] == "NotImplementedError"):
                break
    for other, value in kept.items():
        if value is _MISSING:
            namespace.pop(other, None)
        else:
            namespace[other] = value
    return outcome


_MISSING = object()


def _parameters(function) -> list:
    """The answer's parameter names, for the verdict's messages ("your function changed its argument `x`")."""
    try:
        import inspect
        return [parameter.name for parameter in inspect.signature(function).parameters.values()]
    except Exception:
        return []


def _shell():
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config
    class GradingShell(InteractiveShell):
        def enable_gui(self, gui=None):                 # `%matplotlib inline`: no window to show here
            pass

    config = Config()
    config.HistoryManager.enabled = False
    return GradingShell.instance(config=config)


def _stop_threads(seconds: float = 2.0) -> tuple[int, int]:
    """Stop the threads the notebook left running, so that none computes while its answers are graded:
    SystemExit raised in each, again and again, for up to ``seconds``. A thread inside one long C call (a
    time.sleep) would see it only when the call returns: those are left running, the exception withdrawn,
    and reported for the teacher. (stopped, still running)."""
    others = [thread for thread in threading.enumerate() if thread is not threading.current_thread()]
    deadline = time.monotonic() + seconds
    while any(thread.is_alive() for thread in others) and time.monotonic() < deadline:
        for thread in others:
            if thread.is_alive() and thread.ident is not None:
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident), ctypes.py_object(SystemExit))
        time.sleep(0.02)
    running = [thread for thread in others if thread.is_alive()]
    for thread in running:                             # withdrawn: see _withdraw_pending
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident), None)
    if running:
        _withdraw_pending()
    return len(others) - len(running), len(running)


class _Withdrawn(Exception):
    pass


def _withdraw_pending():
    """CPython 3.11 keeps an interpreter-wide "an asynchronous exception is pending" flag set until a thread
    handles one, even once the exception is withdrawn; until then every thread takes the slow path at every
    step, and one that runs under a profiler (as the answers do) barely moves (measured: a loop that takes
    0.2 s did not end in a minute). Handing one to this thread and catching it clears the flag."""
    try:
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(threading.get_ident()),
                                                   ctypes.py_object(_Withdrawn))
        for _ in range(1000):                           # a few steps, where it is raised
            pass
    except _Withdrawn:
        pass


def main() -> None:
    channel = os.fdopen(os.dup(1), "w", buffering=1)
    quiet = os.open(os.devnull, os.O_WRONLY)
    os.dup2(quiet, 1)                                   # the student's prints, tracebacks and warnings
    os.dup2(quiet, 2)
    signal.signal(signal.SIGALRM, _alarm)
    job = json.loads(Path("job.json").read_text())
    watched = _library_answers(job["exercises"])

    def say(line):
        try:
            channel.write(line + "\n")
        except (OSError, ValueError):
            os._exit(3)

    shell = _shell()
    for index, source in job["cells"]:
        say(f"cell {index}")
        try:
            _time_limit(job["cell_seconds"])
            shell.run_cell(source, store_history=False, silent=True)
        except BaseException:                           # a timeout between IPython's own try blocks
            pass
        finally:
            _no_time_limit()
    stopped, running = _stop_threads()
    say(f"ready {running} {stopped}")                   # threads the notebook left running: not stopped, stopped
    for line in sys.stdin:
        try:
            request = json.loads(line)
            if not isinstance(request, dict) or "name" not in request:
                continue
            outcome = _grade(shell.user_ns, request, watched)
            result = Path(f"result-{request['name']}.npz")
            temporary = result.with_suffix(".part")
            temporary.write_bytes(encode(outcome))
            temporary.replace(result)
        except BaseException as error:                  # never take the worker down with one exercise
            say(f"error {type(error).__name__}: {str(error)[:200]}")
            continue
        say(f"graded {request['name']}")


if __name__ == "__main__":
    main()
