"""Helpers for the exercise-check tests: the solutions come from the notebooks' own
answer cells (one place), and a wrong answer must be told the mistake it makes."""
import json
import math
from pathlib import Path

import numpy as np

import scratchcnn

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def notebook_solution(grade_id):
    """The function defined by the notebook answer cell with this nbgrader grade_id
    (e.g. "06_dense_backward"), run in a fresh namespace like the notebook's."""
    notebook = next(NOTEBOOKS.glob(grade_id[:2] + "_*.ipynb"))
    for cell in json.loads(notebook.read_text())["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == grade_id:
            namespace = {"np": np, "math": math, "scratchcnn": scratchcnn}
            exec("".join(cell["source"]), namespace)
            return namespace[grade_id[3:]]
    raise LookupError(f"no answer cell {grade_id} in {notebook.name}")


def assert_named(check, wrong_answer, mistake_words):
    """The check fails the answer and names the mistake (its name contains ``mistake_words``)."""
    with np.errstate(all="ignore"):
        result = check(wrong_answer)
    assert not result, result.message
    assert result.mistake is not None, f"no mistake named; message: {result.message}"
    assert mistake_words in result.mistake.name, result.message
    assert mistake_words in result.message and "fix:" in result.message, result.message


def not_implemented(*args):
    raise NotImplementedError()
