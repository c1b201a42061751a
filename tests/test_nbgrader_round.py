"""A real nbgrader round over the whole course, with nbgrader's own commands, as TEACHING.md shows them.

One course in a temporary folder, configured with tools/nbgrader_config.py; every solved notebook
becomes an assignment; two students per assignment: `solver` submits the solved notebook, `untouched`
submits the release as handed out. nbgrader autogrades both and writes their feedback; the scores are
read from nbgrader's gradebook (its SQLite database, through nbgrader.api.Gradebook). No mocks.
The round executes every notebook twice (about twice the time nbval takes on the solved notebooks).

Also here: every exercise of every solved notebook follows the course's nbgrader conventions.
"""

import csv
import importlib.util
import re
import resource
import shutil
import subprocess
import time
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from course_machinery.grading.__main__ import nbgrader_command, nbgrader_environment

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("make_student_copies", ROOT / "tools" / "make_student_copies.py")
make_student_copies = importlib.util.module_from_spec(spec)
spec.loader.exec_module(make_student_copies)

NOTEBOOKS = make_student_copies.solved_notebooks()        # notebooks/NN_*.ipynb, whatever numbers exist
STUDENT_DIR = make_student_copies.STUDENT_DIR
COURSE_ID = "scratchcnn"                                  # set by tools/nbgrader_config.py


def nbgrader(course: Path, *arguments: str) -> str:
    """Run one nbgrader command in the course folder, as a teacher would; return its log."""
    # nbgrader runs `alembic` (installed beside it) from PATH when it creates the gradebook:
    # an activated virtual environment has it on PATH, `.venv/bin/python -m pytest` alone does not.
    completed = subprocess.run([*nbgrader_command(), *arguments], cwd=course, env=nbgrader_environment(),
                               capture_output=True, text=True)
    log = completed.stdout + completed.stderr
    assert completed.returncode == 0, f"`nbgrader {' '.join(arguments)}` failed:\n{log[-6000:]}"
    assert "Exception while loading config file" not in log, log[-6000:]    # nbgrader only logs it
    return log


def children_cpu_seconds() -> float:
    """CPU time of finished child processes (nbgrader and its kernels): the round's cost on an idle machine."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A course with every solved notebook as an assignment, generated (released) by nbgrader."""
    root = tmp_path_factory.mktemp("course")
    shutil.copy(ROOT / "tools" / "nbgrader_config.py", root / "nbgrader_config.py")
    for path in NOTEBOOKS:
        (root / "source" / path.stem).mkdir(parents=True)
        shutil.copy(path, root / "source" / path.stem / path.name)
    nbgrader(root, "generate_assignment", "*")
    return root


@pytest.fixture(scope="module")
def graded_course(course):
    """The course after both students submitted every assignment, autograded, with feedback."""
    for path in NOTEBOOKS:
        for student, handed_in in (("solver", path), ("untouched", course / "release" / path.stem / path.name)):
            folder = course / "submitted" / student / path.stem
            folder.mkdir(parents=True)
            shutil.copy(handed_in, folder / path.name)
    costs = {}
    for step in (("autograde", "*"), ("generate_feedback", "*"), ("export",)):
        wall, cpu = time.perf_counter(), children_cpu_seconds()
        nbgrader(course, *step)
        costs[step[0]] = (time.perf_counter() - wall, children_cpu_seconds() - cpu)
    print(f"\nnbgrader round, {len(NOTEBOOKS)} notebooks x 2 students: " + ", ".join(
        f"{step} {wall:.0f} s ({cpu:.0f} s CPU)" for step, (wall, cpu) in costs.items()))
    return course


def submission_grades(course: Path, assignment: str, student: str) -> dict:
    """A student's scores for one assignment, read from nbgrader's gradebook: autograded points and
    their maximum, total points (written answers too) and their maximum, and each check cell's
    {grade_id: (auto_score, max_score)}."""
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id=COURSE_ID) as gradebook:
        submission = gradebook.find_submission(assignment, student)
        return {"autograded": submission.code_score, "max_autograded": submission.max_code_score,
                "score": submission.score, "max_score": submission.max_score,
                "checks": {grade.name: (grade.auto_score, grade.max_score) for notebook in submission.notebooks
                           for grade in notebook.grades if grade.cell_type == "code"}}


def test_release_is_the_committed_student_copies(course):
    released = {path.name: path.read_bytes() for path in (course / "release").glob("*/*.ipynb")}
    committed = {path.name: path.read_bytes() for path in STUDENT_DIR.glob("*.ipynb")}
    assert sorted(released) == sorted(committed) == [path.name for path in NOTEBOOKS]
    stale = [name for name in released if released[name] != committed[name]]
    assert not stale, f"notebooks/student/ differs from nbgrader's release for {stale}: " \
                      "run `python tools/make_student_copies.py`"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_solved_notebook_gets_full_marks(graded_course, path):
    grades = submission_grades(graded_course, path.stem, "solver")
    checks = grades["checks"]
    assert grades["max_autograded"] > 0 and len(checks) >= 3
    assert {name: auto for name, (auto, _) in checks.items()} == {name: top for name, (_, top) in checks.items()}
    assert grades["autograded"] == grades["max_autograded"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_untouched_release_gets_zero(graded_course, path):
    grades = submission_grades(graded_course, path.stem, "untouched")
    checks = grades["checks"]
    assert grades["max_autograded"] > 0 and len(checks) >= 3
    assert {name: auto for name, (auto, _) in checks.items()} == dict.fromkeys(checks, 0)
    assert grades["autograded"] == 0


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_untouched_release_runs_top_to_bottom(graded_course, path):
    """nbgrader ran the release (= the student copy) top to bottom. Only cells tagged `raises-exception`
    may fail (Run All goes on past them): every graded check cell, with the check's diagnosis, and
    cells that use an unanswered exercise (notebook 11 tests the student's fixes)."""
    executed = nbformat.read(graded_course / "autograded" / "untouched" / path.stem / path.name, as_version=4)
    for cell in executed.cells:
        errors = [output for output in cell.get("outputs", []) if output.output_type == "error"]
        meta = cell.metadata.get("nbgrader", {})
        may_fail = "raises-exception" in cell.metadata.get("tags", [])
        if meta.get("grade") and cell.cell_type == "code":
            assert may_fail, f"{meta['grade_id']} has no raises-exception tag"
            assert [(error.ename, "not implemented yet" in error.evalue) for error in errors] == \
                   [("AssertionError", True)], f"{meta['grade_id']}: {errors}"
        elif not may_fail:
            assert not errors, f"a cell without the raises-exception tag failed:\n{cell.source}\n{errors}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_feedback_for_both_students(graded_course, path):
    for student in ("solver", "untouched"):
        grades = submission_grades(graded_course, path.stem, student)
        feedback = graded_course / "feedback" / student / path.stem / f"{path.stem}.html"
        assert feedback.is_file(), f"no feedback for {student}"
        html = feedback.read_text(encoding="utf-8")
        assert f"Score: {float(grades['score'])} / {float(grades['max_score'])})" in html, f"{student}'s score is not in the feedback"
    assert "not implemented yet" in (graded_course / "feedback" / "untouched" / path.stem / f"{path.stem}.html"
                                     ).read_text(encoding="utf-8")          # the diagnosis reaches the student


def test_exported_grades_match_the_gradebook(graded_course):
    with open(graded_course / "grades.csv", newline="", encoding="utf-8") as file:
        rows = {(row["assignment"], row["student_id"]): float(row["raw_score"]) for row in csv.DictReader(file)}
    assert len(rows) == 2 * len(NOTEBOOKS)
    for path in NOTEBOOKS:
        assert rows[path.stem, "untouched"] == 0
        assert rows[path.stem, "solver"] == submission_grades(graded_course, path.stem, "solver")["score"] > 0


# ---- the conventions every exercise follows (COMMON.md "Exercise conventions", TEACHING.md) ----

def check_cell_source(name: str) -> str:
    return f"result = checks.check_{name}({name})\nassert result, result.message"


def convention_problems(path: Path) -> list:
    """What breaks the exercise conventions in one solved notebook (an empty list if nothing)."""
    notebook = nbformat.read(path, as_version=4)
    number = path.name[:2]
    problems = []
    cells = notebook.cells
    for index, cell in enumerate(cells):
        meta = cell.metadata.get("nbgrader")
        where = f"{path.name} cell {index} ({cell.source.splitlines()[0][:50] if cell.source else 'empty'})"
        if "solution-only" in cell.metadata.get("tags", []):
            problems.append(f"{where}: `solution-only` cells are gone: use the two-line graded check cell")
        has_markers = "### BEGIN SOLUTION" in cell.source
        if has_markers and not (meta and meta.get("solution")):
            problems.append(f"{where}: `### BEGIN SOLUTION` outside an answer cell (nbgrader metadata solution: true)")
        if not meta:
            continue
        if meta.get("schema_version") != 3 or meta.get("task"):
            problems.append(f"{where}: nbgrader metadata needs schema_version 3 and task false")
        if not str(meta.get("grade_id", "")).startswith(f"{number}_"):
            problems.append(f"{where}: grade_id {meta.get('grade_id')!r} should start with '{number}_'")
        if meta.get("solution") and not has_markers:
            problems.append(f"{where}: an answer cell without `### BEGIN SOLUTION` / `### END SOLUTION`")
        if meta.get("grade") and meta.get("points") not in (1, 2, 3, 5):
            problems.append(f"{where}: graded cell with points {meta.get('points')!r}, not 1, 2, 3 or 5")
        if cell.cell_type == "markdown":
            if not (meta.get("solution") and meta.get("grade") and not meta.get("locked")):
                problems.append(f"{where}: a written answer is solution: true, grade: true, locked: false")
            continue
        if meta.get("solution"):                                  # an autograded answer
            name = meta["grade_id"][3:]
            if meta.get("grade") or meta.get("locked"):
                problems.append(f"{where}: an answer cell is grade: false, locked: false")
            if not re.search(rf"^def {name}\(", cell.source, re.MULTILINE):
                problems.append(f"{where}: the answer cell should define {name}() (its grade_id's name)")
            check = cells[index + 1] if index + 1 < len(cells) else None
            check_meta = check.metadata.get("nbgrader", {}) if check else {}
            if (check is None or check.cell_type != "code" or check_meta.get("grade_id") != f"{meta['grade_id']}_check"
                    or not check_meta.get("grade") or not check_meta.get("locked") or check_meta.get("solution")
                    or "raises-exception" not in check.metadata.get("tags", [])
                    or check.source.strip() != check_cell_source(name)):
                problems.append(f"{where}: must be followed by its graded check cell: grade_id "
                                f"'{meta['grade_id']}_check', grade: true, locked: true, points, the "
                                f"`raises-exception` tag and exactly:\n{check_cell_source(name)}")
        elif meta.get("grade"):                                   # a graded check: right after its answer
            previous = cells[index - 1].metadata.get("nbgrader", {}) if index > 0 else {}
            if f"{previous.get('grade_id')}_check" != meta.get("grade_id") or not previous.get("solution"):
                problems.append(f"{where}: a graded check cell must come right after its answer cell")
    return problems


def test_every_exercise_follows_the_conventions():
    problems = [problem for path in NOTEBOOKS for problem in convention_problems(path)]
    grade_ids = [cell.metadata["nbgrader"]["grade_id"] for path in NOTEBOOKS
                 for cell in nbformat.read(path, as_version=4).cells if "nbgrader" in cell.metadata]
    duplicates = sorted({grade_id for grade_id in grade_ids if grade_ids.count(grade_id) > 1})
    if duplicates:
        problems.append(f"grade_ids used more than once: {duplicates}")
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems)


def test_course_has_at_least_50_exercises_8_of_them_whole_layers():
    counts = [make_student_copies.notebook_points(nbformat.read(path, as_version=4)) for path in NOTEBOOKS]
    exercises = sum(count["exercises"] for count in counts)
    whole_layers = sum(count["whole_layer"] for count in counts)
    assert exercises >= 50, f"only {exercises} exercises"
    assert whole_layers >= 8, f"only {whole_layers} whole-layer ({make_student_copies.WHOLE_LAYER_POINTS}-point) exercises"
