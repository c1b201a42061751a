"""nbgrader's own workflow, with the grade decided outside the student's kernel.

tools/nbgrader_config.py puts these into `nbgrader autograde`; the teacher's commands stay nbgrader's.

- SandboxedExecute runs the notebook, as nbgrader's Execute does, for the student's feedback and the
  in-notebook verdicts, but with its kernel in the bubblewrap sandbox (SandboxedKernelManager): the
  student's code cannot read the solved notebooks or the other students, cannot touch the gradebook,
  and nothing it starts outlives the kernel. A cell that kills the kernel or runs past the cell limit
  stops the run there: the cells after it are marked "not run" (their grades come from the grader).
- OutputCap keeps each output under 100 kB, so a 50 MB print does not make a 50 MB feedback file.
- GradeOutsideKernel, after nbgrader saved the in-notebook scores, grades every exercise again with
  grader.py (secret cases, a sandboxed worker, verdicts decided outside) and writes those grades into
  nbgrader's gradebook. Where the notebook's own check passed and the grader's failed, or the answer
  called the library's own implementation, the grade is marked for manual grading, the submission is
  flagged, and a comment says why: the teacher sees it in the formgrader and in the export.
- CsvExportWithFlags is nbgrader's grades.csv with three more columns: flagged, the exercises to
  look at, and why.
"""

from __future__ import annotations

import asyncio
import csv
import os
import secrets
import shutil
import tempfile
from pathlib import Path

import nbformat
from jupyter_client.manager import AsyncKernelManager
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat.v4 import new_output
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.coursedir import CourseDirectory
from nbgrader.plugins import ExportPlugin
from nbgrader.preprocessors import Execute, NbGraderPreprocessor
from traitlets import Enum, Integer, Unicode

from course_machinery.grading.grader import answer_cells, grade_notebook
from course_machinery.grading.sandbox import Limits, sandboxed_command

SANDBOX_LIMITS = Limits()
REVIEW_MARK = "[for the teacher]"


class SandboxedKernelManager(AsyncKernelManager):
    """A kernel inside the sandbox: its working folder (nbgrader's copy of the submission) writable,
    and its sockets as files in a folder of their own (the sandbox has no network, not even loopback).
    sandbox="none" where nbgrader itself runs in a container per submission (TEACHING.md)."""

    sandbox = Enum(["bubblewrap", "none"], "bubblewrap").tag(config=True)

    def __init__(self, **options):
        super().__init__(**options)
        self.socket_folder = Path(tempfile.mkdtemp(prefix="scratchcnn-kernel-"))
        self.transport = "ipc"
        self.connection_file = str(self.socket_folder / "kernel.json")
        self.ip = str(self.socket_folder / "socket")

    async def _async_launch_kernel(self, kernel_cmd, **options):
        folder = Path(options.get("cwd") or os.getcwd())
        command = sandboxed_command(kernel_cmd, folder, SANDBOX_LIMITS, writable=[self.socket_folder],
                                    sandbox=self.sandbox)
        return await super()._async_launch_kernel(command, **options)

    async def _async_interrupt_kernel(self):
        """Interrupt by message (the kernel signals itself): a signal from outside would stop the sandbox."""
        if self.has_kernel:
            self._connect_control_socket()
            self.session.send(self._control_socket, self.session.msg("interrupt_request", content={}))

    async def _async_cleanup_resources(self, restart=False):
        await super()._async_cleanup_resources(restart=restart)
        if not restart:
            shutil.rmtree(self.socket_folder, ignore_errors=True)


def _stopped_output(reason: str):
    return new_output("error", ename="NotRun", evalue=reason, traceback=[f"NotRun: {reason}"])


class SandboxedExecute(Execute):
    """nbgrader's Execute with the kernel in the sandbox; a dead or stuck kernel ends the run, not autograde."""

    def __init__(self, **options):
        options.setdefault("kernel_manager_class", SandboxedKernelManager)
        super().__init__(**options)
        self.stopped = None

    def preprocess(self, nb, resources=None, km=None):
        self.stopped = None
        try:
            return super().preprocess(nb, resources, km)
        except (DeadKernelError, CellTimeoutError, RuntimeError, asyncio.TimeoutError) as error:
            self.log.warning("the kernel stopped while cleaning up: %s", error)
            return nb, resources

    def preprocess_cell(self, cell, resources, index):
        if self.stopped is not None:
            if cell.cell_type == "code":
                cell.outputs = [_stopped_output(f"not run: {self.stopped}")]
            return cell, resources
        try:
            return super().preprocess_cell(cell, resources, index)
        except (DeadKernelError, CellTimeoutError) as error:
            what = "ran past the cell time limit" if isinstance(error, CellTimeoutError) else "ended the kernel"
            self.stopped = f"cell {index} {what}"
            cell.outputs.append(_stopped_output(f"this cell {what} ({self.timeout} s per cell while grading); "
                                                f"the cells after it were not run"))
            self.log.warning("%s: %s", self.stopped, str(error)[:200])
            return cell, resources


class OutputCap(NbGraderPreprocessor):
    """Each output at most `max_characters` (streams and text): feedback stays a readable size."""

    max_characters = Integer(100_000).tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and len(output.get("text", "")) > self.max_characters:
                output["text"] = output["text"][:self.max_characters] + "\n... (output cut while grading)\n"
            for kind, value in list(output.get("data", {}).items()):
                if isinstance(value, str) and len(value) > self.max_characters:
                    output["data"][kind] = value[:self.max_characters] + "\n... (output cut while grading)"
        return cell, resources


def grading_secret(course_root: Path, secret_file: str) -> str:
    """The teacher's secret from which the grading cases are drawn; made at first use (never in the
    hand-out, never in the repository: the course folder holds it)."""
    path = Path(course_root) / secret_file
    if not path.is_file():
        # Made whole and then linked into place: two students graded at once never make two secrets.
        made = path.with_name(f".{path.name}.{os.getpid()}")
        made.write_text(secrets.token_urlsafe(32) + "\n")
        made.chmod(0o600)
        try:
            os.link(made, path)
        except FileExistsError:
            pass
        finally:
            made.unlink()
    text = path.read_text().strip()
    if not text:
        raise ValueError(f"{path} is empty: delete it to make a new secret, or put one in it")
    return text


class GradeOutsideKernel(NbGraderPreprocessor):
    """The grades of every exercise, decided by grader.py outside the student's kernel (module docstring)."""

    secret_file = Unicode("grading_secret.txt", help="the file in the course folder that holds the secret "
                          "from which grading cases are drawn (made at first use)").tag(config=True)
    sandbox = Enum(["bubblewrap", "none"], "bubblewrap", help="'none' only where nbgrader itself runs in a "
                   "container per submission").tag(config=True)
    cell_seconds = Integer(50, help="seconds per notebook cell in the grader's run").tag(config=True)
    exercise_seconds = Integer(50, help="seconds for all the cases of one exercise, at most").tag(config=True)

    def preprocess(self, nb, resources):
        about = resources["nbgrader"]
        course = CourseDirectory(config=self.config)
        solved_path = Path(course.format_path(course.source_directory, ".", about["assignment"])) / \
            f"{about['notebook']}.ipynb"
        solved = nbformat.read(solved_path, as_version=4)
        secret = grading_secret(Path(course.root), self.secret_file)
        grades = grade_notebook(nb, solved, secret, SANDBOX_LIMITS, self.sandbox, self.cell_seconds,
                                self.exercise_seconds, log=lambda message: self.log.info("%s", message))
        grade_ids = {grade_id[3:]: grade_id for grade_id in answer_cells(solved)}
        with Gradebook(about["db_url"], course.course_id) as gradebook:
            submission = gradebook.find_submission_notebook(about["notebook"], about["assignment"], about["student"])
            for name, grade_id in grade_ids.items():
                grade = gradebook.find_grade(f"{grade_id}_check", about["notebook"], about["assignment"],
                                             about["student"])
                result = grades.exercises[name]
                in_notebook = grade.auto_score
                grade.auto_score = grade.max_score if result.passed else 0
                reasons = [result.suspicious] if result.suspicious else []
                if not result.passed and in_notebook:
                    reasons.append("the notebook's own check passed, the grader's cases failed: look for a changed "
                                   "check, or answers that fit only the hand-out's cases")
                comment_text = f"Graded outside your notebook, on the grader's own cases: {result.message}"
                if reasons:
                    grade.needs_manual_grade = True
                    submission.flagged = True
                    comment_text += f"\n{REVIEW_MARK} {'; '.join(reasons)}"
                try:
                    comment = gradebook.find_comment(grade_id, about["notebook"], about["assignment"],
                                                     about["student"])
                    comment.auto_comment = comment_text
                except MissingEntry:
                    pass
            if grades.suspicious or grades.notes:
                notes = "; ".join(grades.suspicious + grades.notes)
                self.log.warning("%s, %s: %s", about["student"], about["notebook"], notes)
                if grades.suspicious:
                    submission.flagged = True
            gradebook.db.commit()
        return nb, resources


class CsvExportWithFlags(ExportPlugin):
    """nbgrader's grades.csv, plus: flagged (the grader asks the teacher to look), the exercises to
    look at, and the grader's reasons."""

    def export(self, gradebook: Gradebook) -> None:
        destination = self.to or "grades.csv"
        columns = ["assignment", "duedate", "timestamp", "student_id", "last_name", "first_name", "email",
                   "raw_score", "late_submission_penalty", "score", "max_score", "flagged",
                   "exercises_to_review", "reasons"]
        with open(destination, "w", newline="", encoding="utf-8") as file:
            writer = csv.DictWriter(file, columns)
            writer.writeheader()
            for assignment in gradebook.assignments:
                if self.assignment and assignment.name not in self.assignment:
                    continue
                for student in gradebook.students:
                    if self.student and student.id not in self.student:
                        continue
                    writer.writerow(_export_row(gradebook, assignment, student))
        self.log.info("Exported grades to %s", destination)


def _export_row(gradebook, assignment, student) -> dict:
    row = {"assignment": assignment.name, "duedate": assignment.duedate, "student_id": student.id,
           "last_name": student.last_name, "first_name": student.first_name, "email": student.email,
           "timestamp": None, "raw_score": 0.0, "late_submission_penalty": 0.0, "score": 0.0,
           "max_score": assignment.max_score, "flagged": False, "exercises_to_review": "", "reasons": ""}
    try:
        submission = gradebook.find_submission(assignment.name, student.id)
    except MissingEntry:
        return row
    review, reasons = [], []
    for notebook in submission.notebooks:
        comments = {comment.name: comment.comment or "" for comment in notebook.comments}
        for grade in notebook.grades:
            if grade.cell_type == "code" and grade.needs_manual_grade and grade.manual_score is None:
                review.append(grade.name.removesuffix("_check"))
                text = comments.get(grade.name.removesuffix("_check"), "")
                if REVIEW_MARK in text:
                    reasons.append(f"{grade.name.removesuffix('_check')}: {text.split(REVIEW_MARK, 1)[1].strip()}")
    row.update(timestamp=submission.timestamp, raw_score=submission.score,
               late_submission_penalty=submission.late_submission_penalty,
               score=submission.score - submission.late_submission_penalty,
               flagged=any(notebook.flagged for notebook in submission.notebooks),
               exercises_to_review=" ".join(review), reasons=" | ".join(reasons))
    return row
