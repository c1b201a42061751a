"""The student copies are what nbgrader releases, hold no solution, and TEACHING.md's points table is true.

That the copies run top to bottom (unanswered exercises included) is shown by the nbgrader round in
tests/test_nbgrader_round.py: nbgrader executes the release, equal to these copies, for a student
who submits it untouched.
"""

import importlib.util
import re
import tempfile
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("make_student_copies", ROOT / "tools" / "make_student_copies.py")
make_student_copies = importlib.util.module_from_spec(spec)
spec.loader.exec_module(make_student_copies)

SOLVED = make_student_copies.solved_notebooks()
SOLUTION_BLOCK = re.compile(r"### BEGIN SOLUTION[^\n]*\n(.*?)### END SOLUTION", re.DOTALL)


def answer(source, grade_id, points=None, cell_type="code"):
    """A cell with nbgrader metadata (for the synthetic notebooks below)."""
    cell = nbformat.v4.new_code_cell(source) if cell_type == "code" else nbformat.v4.new_markdown_cell(source)
    graded, solution = points is not None, "BEGIN SOLUTION" in source
    cell.metadata["nbgrader"] = {"grade": graded, "grade_id": grade_id, "locked": not solution,
                                 "schema_version": 3, "solution": solution, "task": False}
    if graded:
        cell.metadata["nbgrader"]["points"] = points
    return cell


def small_solved_notebook():
    """A synthetic solved notebook in the course's exercise conventions, run once (outputs, timestamps,
    saved widget state), to see what the release keeps of it."""
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    intro = nbformat.v4.new_code_cell("import scratchcnn")
    intro.metadata["execution"] = {"iopub.execute_input": "2026-11-22T05:58:52.125007Z"}
    intro.outputs = [nbformat.v4.new_output("stream", text="hi\n")]
    intro.execution_count = 1
    check = answer("result = checks.check_output_size(output_size)\nassert result, result.message",
                   "02_output_size_check", points=2)
    check.metadata["tags"] = ["raises-exception"]
    notebook.cells = [
        intro,
        answer("def output_size(H, k, s, p):\n    ### BEGIN SOLUTION\n    return (H + 2 * p - k) // s + 1\n"
               "    ### END SOLUTION", "02_output_size"),
        check,
        answer("Why?\n\n### BEGIN SOLUTION\nBecause the window must fit.\n### END SOLUTION",
               "02_why", points=1, cell_type="markdown"),
    ]
    return notebook


def test_release_replaces_solutions_locks_checks_and_drops_the_solved_run():
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "02_small.ipynb"
        nbformat.write(small_solved_notebook(), path)
        course = Path(folder) / "course"
        course.mkdir()
        released = make_student_copies.release([path], course)
    student = nbformat.reads(released["02_small.ipynb"], as_version=4)
    intro, exercise, check, written = student.cells
    assert student.metadata == {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    assert intro.outputs == [] and intro.execution_count is None and "execution" not in intro.metadata
    assert exercise.source == "def output_size(H, k, s, p):\n    # YOUR CODE HERE\n    raise NotImplementedError()"
    assert written.source == "Why?\n\nYOUR ANSWER HERE"
    assert check.metadata["editable"] is False and check.metadata["deletable"] is False   # locked by nbgrader
    assert check.metadata["tags"] == ["raises-exception"] and check.metadata["nbgrader"]["points"] == 2
    assert all("checksum" in cell.metadata["nbgrader"] for cell in (exercise, check, written))


def test_a_notebook_nbgrader_refuses_is_named_with_the_reason():
    notebook = small_solved_notebook()
    del notebook.cells[1].metadata["nbgrader"]          # solution markers in a cell that is not an answer
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "02_small.ipynb"
        nbformat.write(notebook, path)
        (Path(folder) / "course").mkdir()
        with pytest.raises(RuntimeError, match=r"failed on 02_small.ipynb: .*Solution region detected in a non-solution cell"):
            make_student_copies.release([path], Path(folder) / "course")


def test_committed_student_copies_are_what_nbgrader_releases():
    assert SOLVED, "no solved notebooks found"
    stale = make_student_copies.stale_copies()
    assert not stale, f"stale student copies {stale}: run `python tools/make_student_copies.py`"


@pytest.mark.parametrize("solved_path", SOLVED, ids=lambda p: p.name)
def test_student_copy_holds_no_solution(solved_path):
    solved = nbformat.read(solved_path, as_version=4)
    student = nbformat.read(make_student_copies.STUDENT_DIR / solved_path.name, as_version=4)
    assert len(student.cells) == len(solved.cells), "a release keeps every cell, in order"
    answers = 0
    for index, (cell, student_cell) in enumerate(zip(solved.cells, student.cells)):
        blocks = SOLUTION_BLOCK.findall(cell.source)
        if not blocks:
            continue
        answers += 1
        copy = student_cell.source
        assert "BEGIN SOLUTION" not in copy and "END SOLUTION" not in copy
        assert "YOUR CODE HERE" in copy or "YOUR ANSWER HERE" in copy
        outside = SOLUTION_BLOCK.sub("", cell.source).splitlines()
        leaked = [line for block in blocks for line in block.splitlines()
                  if line.strip() and line not in outside and line in copy.splitlines()]
        assert not leaked, f"solution lines left in the student copy of cell {index}: {leaked}"
    assert answers >= 3, f"{solved_path.name} has only {answers} answers"


def test_points_of_a_notebook_come_from_its_nbgrader_metadata():
    notebook = small_solved_notebook()      # synthetic: one 2-point autograded exercise, one 1-point written
    whole_layer = answer("result = checks.check_conv_forward(conv_forward)\nassert result, result.message",
                         "02_conv_forward_check", points=5)
    notebook.cells += [answer("def conv_forward(x, W, b):\n    ### BEGIN SOLUTION\n    pass\n    ### END SOLUTION",
                              "02_conv_forward"), whole_layer]
    assert make_student_copies.notebook_points(notebook) == {"exercises": 3, "whole_layer": 1,
                                                              "autograded": 7, "by_hand": 1}


def test_points_table_in_teaching_is_current():
    teaching = make_student_copies.TEACHING.read_text(encoding="utf-8")
    table = make_student_copies.points_table()
    assert len(table.splitlines()) == len(SOLVED) + 3        # header, rule, one row per notebook, total
    assert make_student_copies.teaching_with_table(teaching) == teaching, (
        "TEACHING.md's points table is stale: run `python tools/make_student_copies.py --points-table`")
