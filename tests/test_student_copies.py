"""The student copies: generated correctly, never stale, and runnable top to bottom."""

import importlib.util
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("make_student_copies", ROOT / "tools" / "make_student_copies.py")
make_student_copies = importlib.util.module_from_spec(spec)
spec.loader.exec_module(make_student_copies)


def test_solution_blocks_are_replaced_at_their_indentation():
    source = ("def output_size(H, k, s, p):\n"
              "    \"\"\"The output size.\"\"\"\n"
              "    ### BEGIN SOLUTION\n"
              "    out = (H + 2 * p - k) // s + 1\n"
              "    return out\n"
              "    ### END SOLUTION\n"
              "\n"
              "x = 1\n"
              "### BEGIN SOLUTION\n"
              "y = 2\n"
              "### END SOLUTION")
    assert make_student_copies.strip_solutions(source, "code") == (
        "def output_size(H, k, s, p):\n"
        "    \"\"\"The output size.\"\"\"\n"
        "    # YOUR CODE HERE\n"
        "    raise NotImplementedError()\n"
        "\n"
        "x = 1\n"
        "# YOUR CODE HERE\n"
        "raise NotImplementedError()")
    assert make_student_copies.strip_solutions("Answer:\n### BEGIN SOLUTION\nIt is 4.\n### END SOLUTION\n",
                                               "markdown") == "Answer:\nYOUR ANSWER HERE\n"
    with pytest.raises(ValueError, match="unbalanced"):
        make_student_copies.strip_solutions("### BEGIN SOLUTION\nx = 1\n", "code")


def test_student_copy_drops_solution_cells_outputs_and_widget_state():
    solved = nbformat.v4.new_notebook()
    solved.metadata["widgets"] = {"state": {}}
    exercise = nbformat.v4.new_code_cell("def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION")
    exercise.outputs = [nbformat.v4.new_output("stream", text="hi\n")]
    exercise.execution_count = 3
    check = nbformat.v4.new_code_cell("assert passed")
    check.metadata["tags"] = ["solution-only"]
    solved.cells = [exercise, check]
    student = make_student_copies.student_copy(solved)
    assert "widgets" not in student.metadata
    assert [cell.cell_type for cell in student.cells] == ["markdown", "code"]   # banner + exercise
    assert student.cells[1].outputs == [] and student.cells[1].execution_count is None
    assert "raise NotImplementedError()" in student.cells[1].source and "return 1" not in student.cells[1].source


def test_generation_is_deterministic():
    assert make_student_copies.expected_copies() == make_student_copies.expected_copies()


def test_committed_student_copies_are_up_to_date():
    assert make_student_copies.expected_copies(), "no solved notebooks found"
    stale = make_student_copies.stale_copies()
    assert not stale, f"stale student copies {stale}: run `python tools/make_student_copies.py`"


STUDENT_COPIES = sorted((ROOT / "notebooks" / "student").glob("*.ipynb"))


@pytest.mark.parametrize("path", STUDENT_COPIES, ids=lambda p: p.name)
def test_student_copy_runs_top_to_bottom(path):
    notebook = nbformat.read(path, as_version=4)
    assert not any("### BEGIN SOLUTION" in cell.source for cell in notebook.cells)
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()   # raises on any error
    printed = "".join(output.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
                      for output in cell.outputs if output.output_type == "stream")
    exercises = sum("raise NotImplementedError()" in cell.source for cell in notebook.cells if cell.cell_type == "code")
    assert exercises >= 3, f"{path.name} has only {exercises} exercises"
    assert printed.count("not implemented yet") >= exercises, "every unanswered exercise's check should say so"
