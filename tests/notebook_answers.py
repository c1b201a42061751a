"""The notebooks' own exercise solutions, for the tests of the exercise checks.

The solution code lives in one place, the answer cells of the solved notebooks
(nbgrader ``solution: true``). ``solutions`` runs those cells, plus the cells that
only define helper functions the answers call (e.g. notebook 03's
``correlate_valid``), and returns the functions by name. ``mutated`` gives the same
solution with one piece of text replaced: the typical mistake a student makes,
written the way a student would write it.
"""

import ast
import functools
from pathlib import Path

import numpy as np

import scratchcnn
from course_machinery import checks
from course_machinery.checks.mutation import definition_cells

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


@functools.lru_cache(maxsize=None)
def _cells(notebook):
    """(source, is an answer) of the notebook's cells that only define functions: its answers and the
    helpers they call (the same walk as the checks' diagnosis by mutation)."""
    path = next(NOTEBOOKS.glob(f"{notebook}_*.ipynb"))
    return tuple((source, answer is not None) for source, answer in definition_cells(path))


def _namespace(notebook, replacements=None):
    namespace = {"np": np, "scratchcnn": scratchcnn, "checks": checks}
    for source, is_answer in _cells(notebook):
        if replacements and is_answer and f"def {replacements[0]}(" in source:
            _, old, new, count = replacements
            assert source.count(old) == count, f"{old!r} occurs {source.count(old)} times, not {count}"
            source = source.replace(old, new)
        exec(compile(source, f"<notebook {notebook}>", "exec"), namespace)
    return namespace


def solutions(notebook):
    """{exercise name: the notebook's solution function} for notebook "01" .. "11"."""
    namespace = _namespace(notebook)
    names = [name for source, is_answer in _cells(notebook) if is_answer
             for name in [ast.parse(source).body[0].name]]
    return {name: namespace[name] for name in names}


def mutated(notebook, name, old, new, count=1):
    """The solution of exercise ``name`` with ``old`` replaced by ``new`` (``count`` occurrences)."""
    return _namespace(notebook, (name, old, new, count))[name]
