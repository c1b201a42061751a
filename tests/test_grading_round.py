"""A grading round with the students issue 19 describes, through nbgrader's own commands and gradebook,
two students at a time (python -m course_machinery.grading autograde --workers 2).

Notebooks 03, 04 and 05 are the assignments (tests/test_nbgrader_round.py runs all eleven with the
honest students). The students are built by tests/grading_students.py: `solver` hands in the solved
notebooks; `cheater` tries each trick of the issue (a replaced check, `checks` rebound, asserts
stripped by an AST transformer, the library's own implementation as the answer, the expected value
read from the check's frames, the hand-out's cases looked up, the solved notebook run); `saboteur`
ends the kernel, loops in Python and in C, allocates 800 GB, prints 50 MB and leaves a detached process
that tries to rewrite the gradebook; `partial` builds a right exercise on a wrong one, answers
correctly with a warning on stderr, and deleted a check cell. Time limits are cut for the test (15 s
per cell and per exercise instead of 60 and 50: the same code paths, less waiting).
"""

import csv
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grading_students import (CHEATER, CHEATS, PARTIAL, PARTIAL_PASSES, SABOTEUR, SABOTEUR_POINTS, SOLVED,
                              student_notebook)
from test_nbgrader_round import COURSE_ID, nbgrader, submission_grades

import nbformat

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ["03", "04", "05"]
STUDENTS = {"solver": {number: ({}, {}) for number in NOTEBOOKS}, "cheater": CHEATER, "saboteur": SABOTEUR,
            "partial": PARTIAL}
TEST_LIMITS = """
c.Execute.timeout = 30
c.GradeOutsideKernel.cell_seconds = 15
c.GradeOutsideKernel.exercise_seconds = 15
"""


def assignment(number):
    return SOLVED[number].stem


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    course = tmp_path_factory.mktemp("class")
    config = (ROOT / "tools" / "nbgrader_config.py").read_text() + TEST_LIMITS
    (course / "nbgrader_config.py").write_text(config)
    for number in NOTEBOOKS:
        (course / "source" / assignment(number)).mkdir(parents=True)
        shutil.copy(SOLVED[number], course / "source" / assignment(number))
    nbgrader(course, "generate_assignment", "*")
    for student, notebooks in STUDENTS.items():
        for number, (answers, extra) in notebooks.items():
            if student == "solver":
                notebook = nbformat.read(SOLVED[number], as_version=4)
            else:
                extra = {key: [cell.replace("COURSE", str(course)) for cell in cells] for key, cells in extra.items()}
                notebook = student_notebook(number, answers, extra)
            folder = course / "submitted" / student / assignment(number)
            folder.mkdir(parents=True)
            nbformat.write(notebook, folder / SOLVED[number].name)
    runs, start = {}, time.perf_counter()
    for number in NOTEBOOKS:
        completed = subprocess.run([sys.executable, "-m", "course_machinery.grading", "autograde", assignment(number),
                                    "--workers", "2"], cwd=course, capture_output=True, text=True)
        runs[number] = completed
        assert completed.returncode == 0, completed.stdout[-5000:] + completed.stderr[-3000:]
    wall = time.perf_counter() - start
    time.sleep(4)                                     # the saboteur's detached process would write by now
    nbgrader(course, "generate_feedback", "*")
    nbgrader(course, "export")
    print(f"\ngrading round, 3 notebooks x {len(STUDENTS)} students, 2 workers: {wall:.0f} s\n" +
          "\n".join(run.stdout for run in runs.values()))
    return course


def exercise_scores(course, number, student):
    checks = submission_grades(course, assignment(number), student)["checks"]
    return {name[3:].removesuffix("_check"): scores for name, scores in checks.items()}


def test_the_solver_gets_full_marks_and_no_flag(graded):
    for number in NOTEBOOKS:
        grades = submission_grades(graded, assignment(number), "solver")
        assert grades["autograded"] == grades["max_autograded"] > 0
    rows = exported(graded)
    assert not any(rows[assignment(number), "solver"]["flagged"] == "True" for number in NOTEBOOKS)


def test_every_cheat_scores_zero_and_the_cheater_is_flagged(graded):
    for number, (answers, _) in CHEATER.items():
        scores = exercise_scores(graded, number, "cheater")
        for name, source in answers.items():
            auto, top = scores[name]
            if source == "solution":
                assert auto == top, f"{name}: an honest answer among the cheats lost its points"
            else:
                assert auto == 0, f"{name} ({CHEATS[name]}) scored {auto} of {top}"
        row = exported(graded)[assignment(number), "cheater"]
        assert row["flagged"] == "True", row
    review = exported(graded)[assignment("04"), "cheater"]["exercises_to_review"].split()
    assert "04_maxpool_forward" in review, review                # the library call is named for the teacher
    reasons = exported(graded)[assignment("04"), "cheater"]["reasons"]
    assert "scratchcnn.maxpool2d_naive" in reasons, reasons


def test_a_cheat_that_passed_in_the_notebook_is_marked_for_review(graded):
    """Where the notebook's own check was fooled, the teacher sees it: needs manual grade, with the reason."""
    from nbgrader.api import Gradebook
    fooled = []
    with Gradebook(f"sqlite:///{graded / 'gradebook.db'}", course_id=COURSE_ID) as gradebook:
        for number in CHEATER:
            notebook = gradebook.find_submission_notebook(SOLVED[number].stem, assignment(number), "cheater")
            for grade in notebook.grades:
                comment = next(c for c in notebook.comments if c.name == grade.name.removesuffix("_check"))
                if grade.auto_score == 0 and "passed" in executed_check_outcome(graded, number, grade.name):
                    fooled.append(grade.name)
                    assert grade.needs_manual_grade, f"{grade.name}: fooled the notebook, not flagged"
                    assert "[for the teacher]" in comment.comment
    # The replaced check, the rebound `checks`, the stripped asserts and the frame reader fool it at least.
    assert {"04_pooled_shape_check", "05_softmax_cross_entropy_gradient_check", "05_cross_entropy_loss_check",
            "04_maxpool_backward_check"} <= set(fooled), fooled


def executed_check_outcome(course, number, grade_id):
    """'passed' or 'failed': what the check cell did in the student's own (sandboxed) kernel."""
    notebook = nbformat.read(course / "autograded" / "cheater" / assignment(number) / SOLVED[number].name, 4)
    cell = next(c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
    failed = any(output.output_type == "error" for output in cell.get("outputs", []))
    return "failed" if failed else "passed"


def test_each_fault_costs_only_its_own_exercise(graded):
    scores = exercise_scores(graded, "04", "saboteur")
    assert {name: auto for name, (auto, _) in scores.items()} == \
        {name: SABOTEUR_POINTS.get(name, 0) for name in scores}, scores
    feedback = graded / "feedback" / "saboteur" / assignment("04") / f"{assignment('04')}.html"
    assert feedback.is_file() and feedback.stat().st_size < 2_000_000     # the 50 MB print is cut


def test_the_sandbox_held(graded):
    """Nothing the saboteur started reached the course folder or the gradebook."""
    assert not (graded / "saboteur-was-here").exists()
    assert b"rewritten" not in (graded / "gradebook.db").read_bytes()[-64:]
    assert exercise_scores(graded, "04", "solver")["maxpool_forward"] == (3, 3)


def test_a_partial_student_is_scored_on_each_exercises_own_merits(graded):
    for number, passes in PARTIAL_PASSES.items():
        scores = exercise_scores(graded, number, "partial")
        for name, (auto, top) in scores.items():
            assert auto == (top if name in passes else 0), f"{number} {name}: {auto} of {top}"


def exported(course) -> dict:
    with open(course / "grades.csv", newline="", encoding="utf-8") as file:
        return {(row["assignment"], row["student_id"]): row for row in csv.DictReader(file)}


def test_zip_collect_collects_a_folder_and_a_zip_per_student(graded):
    """TEACHING.md's zip_collect: with tools/nbgrader_config.py, nbgrader's own command collects them."""
    import zipfile
    name = SOLVED["04"].name
    archive = graded / "downloaded" / assignment("04") / "archive"
    (archive / "yann").mkdir(parents=True)
    shutil.copy(graded / "release" / assignment("04") / name, archive / "yann" / name)
    with zipfile.ZipFile(archive / "zoe.zip", "w") as bundle:
        bundle.write(graded / "release" / assignment("04") / name, name)
    nbgrader(graded, "zip_collect", assignment("04"))
    for student in ("yann", "zoe"):
        assert (graded / "submitted" / student / assignment("04") / name).is_file(), student
