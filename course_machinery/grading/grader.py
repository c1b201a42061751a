"""The grader: a student's answers run in a sandbox, their verdicts decided here, outside it.

In the notebook, each exercise's check runs in the student's own kernel, where anything can be
changed: the check itself, the module it lives in, the asserts, the frames that hold the expected
values. Those checks stay, for the student's own feedback. The grade is decided here instead:

1. The student's notebook runs in a sandboxed worker process (worker.py, sandbox.py), its graded
   check cells left out. A cell that crashes the worker or runs past the cell time limit is left
   out and the worker starts again: it costs that cell, never the notebook.
2. For each exercise the worker calls the student's function on cases drawn from the teacher's
   secret (Exercise.graded_cases): cases that are not in the hand-out. The exercises it builds on
   are replaced by the teacher's solutions first (the cascade), so a wrong earlier answer costs
   only its own points.
3. The worker sends back what the function returned; the comparison with the references, the
   known mistakes and the diagnosis run here, in check_exercise, on values that cannot be code.
   A call into the library's own implementation of the exercise (library_answers.py) scores 0.
"""

from __future__ import annotations

import ast
import contextlib
import inspect
import io
import json
import selectors
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from course_machinery import checks
from course_machinery.checks import framework
from course_machinery.grading.sandbox import Limits, SandboxedProcess
from course_machinery.grading.library_answers import pasted_library_code
from course_machinery.grading.values import Unsendable, decode, encode

CELL_SECONDS = 50            # a notebook cell, while grading (long demonstrations are cut short then)
START_SECONDS = 60           # the worker's own start (Python, NumPy, IPython)
EXERCISE_SECONDS = 50        # all the cases of one exercise, at most
GRACE_SECONDS = 10           # beyond an exercise's own time limits, before the worker is killed
MAX_STARTS = 8               # workers per notebook: each fault (a crash, a hang) costs one restart
MAX_PROTOCOL_BYTES = 2 ** 20


@dataclass
class ExerciseGrade:
    name: str
    passed: bool
    message: str
    suspicious: str = ""     # why the teacher should look (the grade stands either way)


@dataclass
class NotebookGrades:
    exercises: dict = field(default_factory=dict)        # name -> ExerciseGrade
    notes: list = field(default_factory=list)            # what happened while running the notebook
    suspicious: list = field(default_factory=list)       # whole-notebook reasons to look


def answer_cells(notebook) -> dict:
    """{grade id: source} of a notebook's nbgrader answer code cells, in order ("04_maxpool_forward": ...):
    the teacher's solutions, or a student's answers."""
    return {cell.metadata["nbgrader"]["grade_id"]: cell.source for cell in notebook.cells
            if cell.cell_type == "code" and cell.get("metadata", {}).get("nbgrader", {}).get("solution")}


def answer_sources(notebook) -> dict:
    """{exercise name: the source of its answer cell}: the grade ids without their notebook number."""
    return {grade_id[3:]: source for grade_id, source in answer_cells(notebook).items()}


def exercises_of(notebook) -> list:
    """The exercise names of a notebook, in order."""
    return list(answer_sources(notebook))


def cells_to_run(notebook) -> list:
    """(index, source) of every code cell but the graded check cells (their verdict is ours)."""
    return [(index, cell.source) for index, cell in enumerate(notebook.cells)
            if cell.cell_type == "code" and not (cell.get("metadata", {}).get("nbgrader", {}).get("grade")
                                                 and not cell.metadata["nbgrader"].get("solution"))]


def referenced_names(source: str) -> set:
    """The names a cell's code uses (for the cascade: which other exercises an answer calls)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return set()
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}


class _Worker:
    """One sandboxed worker and the lines it says."""

    def __init__(self, folder: Path, limits: Limits, sandbox: str):
        self.errors = folder.parent / f"{folder.name}-worker-errors.txt"     # outside the sandbox's reach
        with open(self.errors, "wb") as errors:
            self.sandbox = SandboxedProcess([sys.executable, "-m", "course_machinery.grading.worker"], folder,
                                            limits, sandbox, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                            stderr=errors)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.sandbox.process.stdout, selectors.EVENT_READ)
        self.buffer, self.received = b"", 0

    def line(self, deadline: float):
        """The worker's next line, or None if it died, hung past `deadline` or said too much."""
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not self.selector.select(timeout=left):
                return None
            chunk = self.sandbox.process.stdout.read1(65536)
            self.received += len(chunk)
            if not chunk or self.received > MAX_PROTOCOL_BYTES:
                return None
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line.decode("utf-8", "replace")

    def send(self, request: dict) -> bool:
        try:
            self.sandbox.process.stdin.write((json.dumps(request) + "\n").encode())
            self.sandbox.process.stdin.flush()
            return True
        except (BrokenPipeError, OSError):
            return False

    def stop(self):
        self.selector.close()
        self.sandbox.kill()
        self.errors.unlink(missing_ok=True)


def _replay(outcome: dict, exercise_name: str):
    """A function that gives check_exercise, case after case, what the student's function did in the
    sandbox: its value, its in-place edits of the arguments, its error or its time-out."""
    records = list(outcome["cases"])
    position = [0]

    def answer(*args):
        record = records[min(position[0], len(records) - 1)]
        position[0] += 1
        for given, after in zip(args, record["args"]):
            with contextlib.suppress(Exception):        # the edits the student's function made
                if hasattr(given, "shape") and getattr(after, "shape", None) == given.shape:
                    given[...] = after
                elif isinstance(given, list) and isinstance(after, list):
                    given[:] = after
        if record["status"] == "timed out":
            raise TimeoutError("ran past its time limit in the grader and was stopped (an endless loop?)")
        if record["error"]:
            kind, text = record["error"]
            if kind == "NotImplementedError":
                raise NotImplementedError(text)
            raise type(str(kind)[:60] or "Error", (Exception,), {})(text)
        return record["value"]

    parameters = outcome.get("parameters") or []
    with contextlib.suppress(Exception):
        answer.__signature__ = inspect.Signature(
            [inspect.Parameter(str(name), inspect.Parameter.POSITIONAL_OR_KEYWORD) for name in parameters])
    answer.__name__ = exercise_name
    return answer


def verdict(name: str, outcome: dict, cases) -> ExerciseGrade:
    """The grade of one exercise from what the worker sent back, decided in this process."""
    answer = outcome.get("answer")
    if answer == "missing":
        return ExerciseGrade(name, False, f"{name}: not defined in the notebook (was its answer cell deleted, "
                                          f"or the function renamed?)")
    if answer != "function":
        shown = str(answer).removeprefix("not a function: ")
        return ExerciseGrade(name, False, f"{name}: expected a function, got {shown}")
    if outcome.get("tripped"):
        called = ", ".join(outcome["tripped"])
        return ExerciseGrade(name, False, f"{name}: 0 points: your function calls {called}, the course library's "
                                          f"own implementation of what this exercise asks you to write. Write it "
                                          f"yourself (calling the library is fine elsewhere, not for the exercise "
                                          f"itself).", suspicious=f"calls the library's answer {called}")
    if not outcome.get("watch_kept", True):
        return ExerciseGrade(name, False, f"{name}: 0 points: your function switched off the grader's profiler "
                                          f"(sys.setprofile)", suspicious="switched off the grader's profiler")
    exercise = getattr(checks, f"check_{name}")
    with contextlib.redirect_stdout(io.StringIO()):    # check_exercise prints its verdict for a notebook
        result = exercise.check_on(_replay(outcome, name), cases, intervene=False)
    return ExerciseGrade(name, bool(result), result.message)


def grade_notebook(notebook, solved_notebook, secret: str, limits: Limits | None = None, sandbox="bubblewrap",
                   cell_seconds=CELL_SECONDS, exercise_seconds=EXERCISE_SECONDS,
                   log=lambda message: None) -> NotebookGrades:
    """Grade every exercise of `solved_notebook` (the teacher's) in the student's `notebook`.
    sandbox: "bubblewrap", or "none" where the grader itself runs in a container per submission."""
    notebook = nbformat.from_dict(notebook) if isinstance(notebook, dict) else notebook
    names = exercises_of(solved_notebook)
    references = answer_sources(solved_notebook)
    answers = answer_sources(notebook)
    cells = cells_to_run(notebook)
    grades = NotebookGrades()
    # Each exercise's cascade: the other exercises its answer names, replaced by the teacher's solutions.
    dependencies = {name: sorted((referenced_names(answers.get(name, "")) & set(names)) - {name}) for name in names}
    pending = _dependencies_first(names, dependencies)
    skipped_cells = set()
    folder = Path(tempfile.mkdtemp(prefix="scratchcnn-grading-"))
    try:
        for _ in range(MAX_STARTS):
            if not pending:
                break
            worker = _start(folder, cells, skipped_cells, names, limits, sandbox, cell_seconds, grades, log)
            if worker is None:
                continue
            sent = set()
            try:
                while pending and pending[0] not in sent:    # a reference this worker holds: grade it in a fresh one
                    name = pending.pop(0)
                    request = {"name": name, "cases": f"cases-{name}.npz",
                               "dependencies": {other: references[other] for other in dependencies[name]
                                                if other in references}}
                    sent.update(request["dependencies"])
                    grades.exercises[name], alive = _grade_one(worker, folder, request, secret, exercise_seconds)
                    if not alive:
                        log(f"exercise {name}: the worker ended or hung; starting a new one")
                        break
            finally:
                worker.stop()
        for name in pending:
            grades.exercises[name] = ExerciseGrade(name, False, f"{name}: not graded: the notebook crashed the "
                                                                f"grader {MAX_STARTS} times")
        for name, grade in grades.exercises.items():     # a call is caught in the sandbox, a copy only here
            pasted = pasted_library_code(name, answers.get(name, ""))
            if pasted:
                grade.suspicious = "; ".join(filter(None, [grade.suspicious, f"its code is the library's "
                                                           f"{pasted} with the names changed (pasted?)"]))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return grades


def _grade_one(worker: _Worker, folder: Path, request: dict, secret: str, exercise_seconds: float):
    """(the grade of one exercise, whether the worker is still usable): its cases drawn from the secret
    (none in the hand-out) go to the worker, what the answer did comes back, the verdict is decided here."""
    name = request["name"]
    exercise = getattr(checks, f"check_{name}")
    cases = exercise.graded_cases(secret)
    seconds = [framework._time_limit(case, exercise.time_limit)[0] for case in cases]
    cases_file, result = folder / request["cases"], folder / f"result-{name}.npz"
    cases_file.write_bytes(encode([{"args": list(case.args), "seconds": limit} for case, limit in zip(cases, seconds)]))
    # A loop inside one C call cannot be stopped in the worker: the worker is killed instead.
    allowed = min(sum(seconds), exercise_seconds)
    try:
        if not (worker.send(request) and _wait_for(worker, f"graded {name}", time.monotonic() + allowed + GRACE_SECONDS)
                and result.is_file()):
            return ExerciseGrade(name, False, f"{name}: your function ended or hung the grading process (os._exit, "
                                              f"a crash, or a loop inside one long C call past {allowed:.0f} s); it "
                                              f"was stopped"), False
        try:
            return verdict(name, decode(result.read_bytes()), cases), True
        except (ValueError, KeyError, TypeError) as error:
            return ExerciseGrade(name, False, f"{name}: the grader could not read what your function returned "
                                              f"({error})"), True
    finally:
        result.unlink(missing_ok=True)
        cases_file.unlink(missing_ok=True)


def _wait_for(worker: _Worker, expected: str, deadline: float) -> bool:
    while True:
        line = worker.line(deadline)
        if line is None:
            return False
        if line == expected:
            return True


def _start(folder, cells, skipped_cells, names, limits, sandbox, cell_seconds, grades, log):
    """A worker that has run the notebook's cells (but the skipped ones), or None if a cell killed it
    (that cell is then skipped from now on)."""
    for leftover in folder.iterdir():                  # what the last worker (or the student's code) left
        if leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)
    run = [[index, source] for index, source in cells if index not in skipped_cells]
    (folder / "job.json").write_text(json.dumps({"cells": run, "cell_seconds": cell_seconds, "exercises": names}))
    worker = _Worker(folder, limits or Limits(), sandbox)
    deadline, current = time.monotonic() + START_SECONDS, None
    while True:
        line = worker.line(deadline)
        if line is None:
            said = worker.errors.read_text(errors="replace")[-2000:] if worker.errors.is_file() else ""
            worker.stop()
            if current is None:
                raise RuntimeError("the grading worker did not start (run `python -m course_machinery.grading "
                                   f"check` to see why){': ' + said if said.strip() else ''}")
            skipped_cells.add(current)
            note = f"cell {current} ended or hung the grading process; the notebook was run again without it"
            grades.notes.append(note)
            log(note)
            return None
        if line.startswith("cell "):
            current, deadline = int(line.split()[1]), time.monotonic() + cell_seconds + GRACE_SECONDS
        elif line.startswith("ready"):
            worker.sandbox.hold_processes()             # graded answers start no process we cannot watch
            running, stopped = (line.split()[1:3] + ["0", "0"])[:2]
            if running != "0" and not any("threads" in reason for reason in grades.suspicious):
                grades.suspicious.append(f"the notebook left {running} threads running that could not be stopped "
                                         f"while its answers were graded (a thread could compute answers out of "
                                         f"the grader's sight)")
            if stopped != "0" and not any("threads" in note for note in grades.notes):
                grades.notes.append(f"the notebook left {stopped} threads running; the grader stopped them "
                                    f"before grading")
            return worker


def _dependencies_first(names, dependencies) -> list:
    """The exercises in notebook order, each after the exercises its answer builds on."""
    order, placing = [], set()

    def place(name):
        if name in order or name in placing:
            return
        placing.add(name)
        for other in dependencies.get(name, ()):
            place(other)
        order.append(name)

    for name in names:
        place(name)
    return order


__all__ = ["ExerciseGrade", "NotebookGrades", "grade_notebook", "exercises_of", "Unsendable"]
