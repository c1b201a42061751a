"""While nbgrader grades, no cell of a solved notebook trains for long.

nbgrader runs every cell of every submission with NBGRADER_EXECUTION=autograde set. A long demonstration (notebook
07's full training run, 40 s on a free core and minutes on a busy one) would cost every submission that time, blank
ones included, and would force a per-cell time limit of minutes. So a cell that trains on many images reads the
notebook's GRADING flag and, in its `if GRADING:` branch, trains on a slice instead.

These tests check that statically, without running a notebook: they follow each solved notebook's code cells in
order and work out, for every call of a training function (scratchcnn.train, or a function the notebook defines
with parameters `images` and `epochs`, such as notebook 07's `fit`), how many images it trains on times its epochs:
once as the notebook runs for the student and once as it runs while grading (taking the `if GRADING:` branches).
A number of images the tests cannot read from the code (a whole data set from load_mnist, an array the notebook
computes) counts as unbounded. Calls inside a function body are left to that function's callers (the exercises'
answers are called by their checks, on the checks' own small cases); a call in a loop counts once.
"""

import ast
import inspect
import math
from pathlib import Path

import nbformat
import pytest
from IPython.core.inputtransformer2 import TransformerManager

import scratchcnn

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))

# Images times epochs one training call may cost while grading. Measured here (2 cores, nothing else running):
# reference_cnn trains about 13,000 images a second, notebook 10's deeper deep_cnn about 3,000, so this is
# about 10 s for the deeper one; the longest short demonstration (07's 5 epochs on 5,000 images, 2 s) fits.
WORK_BUDGET = 30_000
UNBOUNDED = math.inf
FLAG = "GRADING"
# The one way a notebook sets its flag: nbgrader's autograde sets this variable (its validate sets "validate").
FLAG_SOURCE = 'GRADING = os.environ.get("NBGRADER_EXECUTION") == "autograde"'
FLAG_DEFINITION = ast.dump(ast.parse(FLAG_SOURCE).body[0])


def trainer_from_signature(function):
    """(positional parameter names, {parameter: default}) of a library training function."""
    parameters = inspect.signature(function).parameters.values()
    positional = [p.name for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return positional, {p.name: p.default for p in parameters if p.default is not p.empty}


def trainer_from_definition(definition):
    """The same for a function the notebook defines, or None if it has no `images` and `epochs` parameters."""
    arguments = definition.args
    positional = [a.arg for a in arguments.posonlyargs + arguments.args]
    if not {"images", "epochs"} <= set(positional + [a.arg for a in arguments.kwonlyargs]):
        return None
    pairs = list(zip(positional[len(positional) - len(arguments.defaults):], arguments.defaults))
    pairs += [(a.arg, d) for a, d in zip(arguments.kwonlyargs, arguments.kw_defaults) if d is not None]
    return positional, {name: literal(node) for name, node in pairs}


def literal(node):
    """The value of a literal expression, or None."""
    try:
        return ast.literal_eval(node)
    except ValueError:
        return None


def function_name(node):
    """'scratchcnn.train' for scratchcnn.train(...), 'fit' for fit(...), else None."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return f"{node.value.id}.{node.attr}"
    return None


class TrainingWork:
    """Follows a notebook's code cells in order, as it runs normally or while grading, and records every
    training call: (cell index, line, images times epochs)."""

    def __init__(self, grading):
        self.grading = grading
        self.sizes = {}                                  # name -> number of images it holds, as far as known
        self.trainers = {"scratchcnn.train": trainer_from_signature(scratchcnn.train)}
        self.calls = []

    def run(self, cells):
        """cells: (index, source) of the notebook's code cells, in order."""
        for self.cell, source in cells:
            for statement in ast.parse(TransformerManager().transform_cell(source)).body:
                self.execute(statement)
        return self.calls

    def execute(self, statement):
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)):
            trainer = trainer_from_definition(statement)
            if trainer:
                self.trainers[statement.name] = trainer
        elif isinstance(statement, ast.ImportFrom) and statement.module == "scratchcnn":
            for alias in statement.names:
                if f"scratchcnn.{alias.name}" in self.trainers:
                    self.trainers[alias.asname or alias.name] = self.trainers[f"scratchcnn.{alias.name}"]
        elif isinstance(statement, ast.If) and isinstance(statement.test, ast.Name) and statement.test.id == FLAG:
            for inner in statement.body if self.grading else statement.orelse:
                self.execute(inner)
        elif isinstance(statement, ast.Assign):
            self.record_calls(statement.value)
            for target in statement.targets:
                self.assign(target, statement.value)
        elif isinstance(statement, ast.ClassDef):
            pass
        else:                                            # loops, with, try, other ifs: their parts, in order
            for field, value in ast.iter_fields(statement):
                children = value if isinstance(value, list) else [value]
                for child in children:
                    if isinstance(child, ast.stmt):
                        self.execute(child)
                    elif isinstance(child, ast.excepthandler):
                        for inner in child.body:
                            self.execute(inner)
                    elif isinstance(child, ast.AST):
                        self.record_calls(child)

    def assign(self, target, value):
        if isinstance(target, ast.Name):
            self.sizes[target.id] = self.size(value)
        elif isinstance(target, (ast.Tuple, ast.List)):
            if isinstance(value, (ast.Tuple, ast.List)) and len(value.elts) == len(target.elts):
                for inner_target, inner_value in zip(target.elts, value.elts):
                    self.assign(inner_target, inner_value)
            else:                                        # e.g. images, labels = load_mnist(...): each gets its size
                for inner_target in target.elts:
                    self.assign(inner_target, value)

    def size(self, node):
        """How many images the expression holds: a name's known size, a slice [:n] or [a:b], the train_limit of
        split_training_data; anything else is unbounded."""
        if isinstance(node, ast.Name):
            return self.sizes.get(node.id, UNBOUNDED)
        if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Slice) and node.slice.step is None:
            lower = 0 if node.slice.lower is None else literal(node.slice.lower)
            upper = literal(node.slice.upper) if node.slice.upper is not None else None
            if isinstance(lower, int) and isinstance(upper, int) and 0 <= lower <= upper:
                return min(upper - lower, self.size(node.value))
            return UNBOUNDED
        if isinstance(node, ast.Call) and (function_name(node.func) or "").endswith("split_training_data"):
            limit = next((literal(k.value) for k in node.keywords if k.arg == "train_limit"), None)
            return limit if isinstance(limit, int) else UNBOUNDED
        return UNBOUNDED

    def record_calls(self, node):
        for call in ast.walk(node):
            if isinstance(call, ast.Call) and function_name(call.func) in self.trainers:
                positional, defaults = self.trainers[function_name(call.func)]
                arguments = dict(zip(positional, call.args)) | {k.arg: k.value for k in call.keywords if k.arg}
                images = self.size(arguments["images"]) if "images" in arguments else UNBOUNDED
                epochs = literal(arguments["epochs"]) if "epochs" in arguments else defaults.get("epochs")
                work = images * (epochs if isinstance(epochs, int) else UNBOUNDED)
                self.calls.append((self.cell, call.lineno, work))


def code_cells(path):
    notebook = nbformat.read(path, as_version=4)
    return [(index, cell) for index, cell in enumerate(notebook.cells) if cell.cell_type == "code"]


def training_work(cells, grading):
    return TrainingWork(grading).run([(index, cell.source) for index, cell in cells])


def names_read(source):
    tree = ast.parse(TransformerManager().transform_cell(source))
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_no_training_call_runs_long_while_grading(path):
    too_long = [(cell, line, work) for cell, line, work in training_work(code_cells(path), grading=True)
                if work > WORK_BUDGET]
    assert not too_long, "\n".join(
        f"{path.name} cell {cell} line {line}: trains on {work:,} images x epochs while nbgrader grades (at most "
        f"{WORK_BUDGET:,}): put it under `if {FLAG}:` with a slice of the data" for cell, line, work in too_long)


def test_the_long_runs_are_found_and_cut_short():
    # Without this the test above could pass by finding no training call at all: notebook 07's full run (8 epochs
    # on all 60,000 images) must be seen as long when the notebook runs normally, and as short while grading.
    cells = code_cells(ROOT / "notebooks" / "07_training.ipynb")
    normal, grading = training_work(cells, grading=False), training_work(cells, grading=True)
    long_runs = [call for call in normal if call[2] > WORK_BUDGET]
    assert long_runs and all(work == UNBOUNDED for _, _, work in long_runs)
    assert len(grading) == len(normal) >= 10                  # the same calls, the long ones on fewer images
    assert all(0 < work <= WORK_BUDGET for _, _, work in grading)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_the_grading_flag_comes_from_nbgrader_and_spares_the_exercises(path):
    cells = code_cells(path)
    definitions = [(index, statement) for index, cell in cells
                   for statement in ast.parse(TransformerManager().transform_cell(cell.source)).body
                   if isinstance(statement, ast.Assign) and FLAG in ast.unparse(statement.targets[0])]
    readers = [index for index, cell in cells if FLAG in names_read(cell.source)]
    assert len(definitions) <= 1, f"{FLAG} is set in cells {[index for index, _ in definitions]}: once is enough"
    assert all(ast.dump(statement) == FLAG_DEFINITION for _, statement in definitions), \
        f"{FLAG} must be set as {FLAG_SOURCE}"
    if readers:
        assert definitions and definitions[0][0] < readers[0], f"cell {readers[0]} reads {FLAG} before it is set"
    # The exercises are graded exactly as the student sees them checked: no answer or check cell reads the flag.
    graded = [index for index in readers if dict(cells)[index].metadata.get("nbgrader")]
    assert not graded, f"nbgrader cells {graded} read {FLAG}"


def test_the_checker_flags_a_long_run_that_grading_does_not_cut():
    def work(sources, grading):
        cells = [(index, nbformat.v4.new_code_cell(source)) for index, source in enumerate(sources)]
        return [call[2] for call in training_work(cells, grading)]

    setup = "%matplotlib inline\nimport scratchcnn\nx_train, y_train = scratchcnn.load_mnist('train')"
    unguarded = "history = scratchcnn.train(model, x_train, y_train, epochs=8)"
    guarded = ("images = x_train\nif GRADING:\n    images = x_train[:1000]\n"
               "history = scratchcnn.train(model, images, y_train, epochs=8)")
    guarded_in_vain = ("images = x_train[:9000]\nif GRADING:\n    images = images[:5000]\n"
                       "scratchcnn.train(model, images, y_train, epochs=8)")
    assert work([setup, unguarded], grading=True) == [UNBOUNDED]
    assert work([setup, guarded], grading=False) == [UNBOUNDED]
    assert work([setup, guarded], grading=True) == [8_000]
    assert work([setup, guarded_in_vain], grading=True) == [40_000]
    # the library's default epochs (1), a notebook's own training loop with its default, split_training_data
    fit = "def fit(model, step, images, labels, epochs=3):\n    scratchcnn.train(model, images, labels, epochs=99)"
    assert work([setup, "scratchcnn.train(model, x_train[100:600], y_train)"], grading=True) == [500]
    assert work([setup, fit, "for lr in (1, 2):\n    fit(model, None, x_train[:2000], y_train)"], grading=True) == [6_000]
    split = "train_x, train_y, val_x, val_y = scratchcnn.split_training_data(x_train, y_train, train_limit=700)"
    assert work([setup, split, "scratchcnn.train(model, train_x, train_y, epochs=2)"], grading=True) == [1_400]
    # an epoch count or a slice the code does not spell out is unbounded
    assert work([setup, "scratchcnn.train(model, x_train[:10], y_train, epochs=n)"], grading=True) == [UNBOUNDED]
    assert work([setup, "scratchcnn.train(model, x_train[:n], y_train)"], grading=True) == [UNBOUNDED]
