"""The grader's own logic (course_machinery/grading/grader.py, nbgrader_plugins.py), piece by piece.
The whole path, through nbgrader and the sandbox, is tests/test_grading_round.py."""

import numpy as np
import nbformat

from course_machinery import checks
from course_machinery.grading import grader
from course_machinery.grading.nbgrader_plugins import grading_secret
from grading_students import SOLVED


def outcome(cases, answer="function", **more):
    return {"answer": answer, "cases": cases, "tripped": [], "watch_kept": True, "parameters": ["x"], **more}


def case_record(value=None, args=(), error=None, status="done"):
    return {"value": value, "args": list(args), "error": error, "status": status}


def relu_cases():
    return checks.check_relu_backward.graded_cases("test secret")


def test_the_cascade_grades_what_an_answer_builds_on_first():
    dependencies = {"a": [], "b": ["c"], "c": [], "d": ["b", "a"]}
    assert grader._dependencies_first(["a", "b", "c", "d"], dependencies) == ["a", "c", "b", "d"]
    assert grader._dependencies_first(["x", "y"], {"x": ["y"], "y": ["x"]}) == ["y", "x"]   # a cycle ends


def test_what_the_worker_saw_decides_the_verdict_here():
    cases = relu_cases()
    right = [case_record(case.expected, case.args) for case in cases]
    assert grader.verdict("relu_backward", outcome(right), cases).passed
    wrong = [case_record(case.expected * 2, case.args) for case in cases]
    assert not grader.verdict("relu_backward", outcome(wrong), cases).passed


def test_the_graders_verdict_names_the_slip_from_the_values_alone():
    """The grader only replays what the answer returned in its sandbox, yet it names the slip: the slipped
    versions of the solution run here, in the grader, on the secret's cases."""
    from notebook_answers import mutated
    slipped = mutated("04", "maxpool_backward", "x_ * stride + j] +=", "x_ * stride + i] +=")
    cases = checks.check_maxpool_backward.graded_cases("test secret")
    records = [case_record(slipped(*[np.array(a, copy=True) if isinstance(a, np.ndarray) else a for a in case.args]),
                           case.args) for case in cases]
    grade = grader.verdict("maxpool_backward", {**outcome(records), "parameters": ["x", "dout", "kernel_size",
                                                                                    "stride"]}, cases)
    assert not grade.passed and "`i` in place of `j`" in grade.message, grade.message


def test_an_in_place_edit_in_the_sandbox_fails_here_and_names_the_argument():
    cases = relu_cases()
    edited = []
    for case in cases:
        args = [np.array(arg, copy=True) if isinstance(arg, np.ndarray) else arg for arg in case.args]
        args[0] = args[0] * 0 + 1                      # the dout the student was given, overwritten
        edited.append(case_record(case.expected, args))
    grade = grader.verdict("relu_backward", {**outcome(edited), "parameters": ["dout", "x"]}, cases)
    assert not grade.passed and "changed its argument `dout` in place" in grade.message, grade.message


def test_errors_time_outs_and_missing_answers_have_their_own_words():
    cases = relu_cases()
    raised = grader.verdict("relu_backward", outcome([case_record(error=["ValueError", "shapes differ"])]), cases)
    assert "raised ValueError: shapes differ" in raised.message
    slow = grader.verdict("relu_backward", outcome([case_record(status="timed out")]), cases)
    assert "time limit" in slow.message and not slow.passed
    unanswered = grader.verdict("relu_backward", outcome([case_record(error=["NotImplementedError", ""])]), cases)
    assert unanswered.message.endswith("not implemented yet")
    assert "not defined" in grader.verdict("relu_backward", outcome([], answer="missing"), cases).message
    assert "expected a function, got 3" in grader.verdict("relu_backward", outcome([], answer="not a function: 3"),
                                                          cases).message


def test_calling_the_library_or_switching_off_the_watch_scores_zero_and_says_why():
    cases = relu_cases()
    right = [case_record(case.expected, case.args) for case in cases]
    tripped = grader.verdict("relu_backward", outcome(right, tripped=["scratchcnn.ReLU.backward"]), cases)
    assert not tripped.passed and "scratchcnn.ReLU.backward" in tripped.message and tripped.suspicious
    unwatched = grader.verdict("relu_backward", outcome(right, watch_kept=False), cases)
    assert not unwatched.passed and "profiler" in unwatched.message


def test_check_cells_are_left_out_of_the_grader_run():
    notebook = nbformat.read(SOLVED["04"], as_version=4)
    ran = {source for _, source in grader.cells_to_run(notebook)}
    assert not any(source.startswith("result = checks.check_") for source in ran)
    assert any(source.startswith("def maxpool_forward") for source in ran)
    assert grader.exercises_of(notebook) == ["maxpool_forward", "maxpool_backward", "pooled_shape", "centre_gradient"]


def test_the_secret_is_made_once_and_kept_private(tmp_path):
    secret = grading_secret(tmp_path, "grading_secret.txt")
    assert len(secret) >= 32 and grading_secret(tmp_path, "grading_secret.txt") == secret
    assert (tmp_path / "grading_secret.txt").stat().st_mode & 0o077 == 0


def test_without_bubblewrap_for_a_grader_already_in_a_container(tmp_path):
    """sandbox="none" (TEACHING.md: a container per submission) grades the same way."""
    solved = nbformat.read(SOLVED["04"], as_version=4)
    grades = grader.grade_notebook(solved, solved, "a secret", sandbox="none")
    assert all(grade.passed for grade in grades.exercises.values()), grades.exercises


def test_threads_the_notebook_leaves_running_are_stopped_or_flagged():
    """A thread left looping is stopped before the answers are graded (a note); one stuck in a long C call
    cannot be stopped, and the teacher is asked to look."""
    from grading_students import student_notebook
    solved = nbformat.read(SOLVED["04"], as_version=4)
    looping = "import threading, time\nthreading.Thread(target=lambda: [time.sleep(0.01) for _ in iter(int, 1)])" \
              ".start()"
    grades = grader.grade_notebook(student_notebook("04", {}, {"top": [looping]}), solved, "a secret", sandbox="none")
    assert not grades.suspicious and any("the grader stopped them" in note for note in grades.notes), grades
    stuck = "import threading, time\nthreading.Thread(target=time.sleep, args=(600,), daemon=True).start()"
    grades = grader.grade_notebook(student_notebook("04", {}, {"top": [stuck]}), solved, "a secret", sandbox="none")
    assert any("could not be stopped" in reason for reason in grades.suspicious), grades
