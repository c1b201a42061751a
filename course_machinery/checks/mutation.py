"""Diagnosis by mutation: the one slip that turns the teacher's solution into the student's answer.

A wrong answer is most often the right function with one slip in it, and the student's code follows the
same skeleton as the solution (the student copy is the solved notebook with the answer taken out). So
for an exercise whose solution is in a solved notebook (``notebooks/NN_*.ipynb``, the nbgrader answer
cell whose grade id is ``NN_<exercise>``), build every version of the solution with one small change of
the kinds students make:

- a name where another of the same kind belongs (``i`` for ``j``, ``H`` for ``W``, ``x`` for ``x_hat``), at
  one place or at every place in a line, two names swapped in a line, a name where one operand of its
  definition belongs (``x - mu`` for ``x_hat``), a whole number off by one, or a size where a number belongs
  (``N`` for ``1``), a slice where an index belongs or two indices swapped;
- an operator swapped (``+``/``-``, ``*``/``/``, ``>``/``>=``), one operand of a product or sum left
  out, a minus sign left out or added, ``=`` where ``+=`` belongs;
- a sum for a mean, a max for a mean, zeros for ones, a square root, exp or log left out, a keyword
  (``axis``, ``keepdims``) or one axis of a tuple left out, the sample variance or the variance not centred,
  a transpose or a flip left out, an array transposed, a transpose's axes swapped;
- a line left out, moved up before an earlier one or out of its loop, the line before a loop moved into
  it, an accumulator started again inside a loop, or two outputs returned in each other's place;

run each on the smallest failing case, and keep those whose outputs equal the answer's on every case
the check ran. The change that gives the answer's outputs exactly names the slip in the solution's own
terms ("`y` in place of `x_` (each time), in the line ..."); up to three are named when several give the
same outputs on these cases. Used for the whole-layer exercises (those with a ``reference``); a debugging
lab (notebook 11) must not be told its bug, so it has none. Nothing is named when the answer's values are
right (only an in-place edit failed it), or when the solved notebook's own answer is wrong (someone
answered in the solved notebook itself).

Runs cost a few milliseconds each on the small cases; a diagnosis stops after TIME_BUDGET seconds, the
mutants of each exercise are built once per process and their outputs on a case kept (the next wrong answer
to the same exercise costs only comparisons), and nothing here raises: a mutant that fails is
simply not the slip. Without the solved notebooks (a copy of the package alone), there is no such note.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import functools
import io
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

NOTEBOOKS = Path(__file__).resolve().parent.parent.parent / "notebooks"
TIME_BUDGET = 1.5                   # seconds of mutant runs per diagnosis
MAX_ELEMENTS = 5_000                # a case with more argument entries is too large to search on
_FAILED = object()                  # a run that raised
MAX_MATCHES = 3                     # slips named in one message (the third of another kind than the first two)

_SWAPPED_OPERATORS = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult}
_SWAPPED_COMPARISONS = {ast.Gt: [ast.GtE, ast.Lt], ast.GtE: [ast.Gt], ast.Lt: [ast.LtE, ast.Gt],
                        ast.LtE: [ast.Lt]}
_SWAPPED_REDUCTIONS = {"sum": ["mean"], "mean": ["sum"], "max": ["mean", "min", "sum"], "min": ["max"],
                       "var": ["std"], "std": ["var"], "argmax": ["argmin"], "zeros": ["ones"],
                       "zeros_like": ["ones_like"]}
_UNWRAPPED = {"sqrt", "exp", "log", "abs", "transpose", "copy", "astype", "flatten", "ravel"}


# --- the solutions, from the solved notebooks ------------------------------------------------------

def definition_cells(path) -> tuple:
    """(source, exercise or None) of each code cell of a solved notebook that only defines functions (and
    imports): the answer cells, named by their nbgrader grade id ("04_maxpool_forward" -> maxpool_forward),
    and the helpers the answers call (notebook 03's correlate_valid). () if the notebook cannot be read."""
    try:
        cells = json.loads(Path(path).read_text(encoding="utf-8"))["cells"]
    except (OSError, ValueError, KeyError):
        return ()
    found = []
    for cell in cells:
        if cell.get("cell_type") != "code":
            continue
        source = "".join(cell.get("source", ""))
        try:
            body = ast.parse(source).body
        except SyntaxError:
            continue
        if body and all(isinstance(node, (ast.FunctionDef, ast.Import, ast.ImportFrom)) for node in body):
            nbgrader = cell.get("metadata", {}).get("nbgrader", {})
            answer = nbgrader.get("solution") and nbgrader.get("grade_id", "")[3:]
            found.append((source, answer or None))
    return tuple(found)


@functools.lru_cache(maxsize=None)
def _notebook_code():
    """{exercise: (its answer cell's source, the notebook's definition cells)}; {} without notebooks."""
    found = {}
    for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        cells = definition_cells(path)
        definitions = tuple(source for source, _ in cells)
        found.update({answer: (source, definitions) for source, answer in cells if answer})
    return found


def _namespace(definitions):
    """A fresh namespace holding the notebook's functions (the solutions and their helpers)."""
    import scratchcnn
    namespace = {"np": np, "scratchcnn": scratchcnn, "__name__": "solution"}
    for source in definitions:
        try:
            exec(compile(source, "<solution>", "exec"), namespace)
        except Exception:
            continue
    return namespace


# --- the kinds of the solution's local names, from one run --------------------------------------------

def _kind(value):
    if isinstance(value, (bool, np.bool_)):
        return "bool"
    if isinstance(value, (int, np.integer)):
        return "int"
    if isinstance(value, (float, np.floating)):
        return "float"
    if isinstance(value, np.ndarray):
        return "array"
    return None


def _run_solution(function, args):
    """(its output or _FAILED, {local name: kind} of its locals when it returns, loop variables included):
    one run of the solution gives both the reference to trust and the kinds of names a slip may swap."""
    seen = {}

    def profile(frame, event, _):
        if event == "return" and frame.f_code is function.__code__:
            seen.update(frame.f_locals)
    previous = sys.getprofile()
    sys.setprofile(profile)
    try:
        with _quiet():
            output = function(*copy.deepcopy(list(args)))
    except Exception:
        output = _FAILED
    finally:
        sys.setprofile(previous)
    return output, {name: kind for name, value in seen.items() if (kind := _kind(value)) is not None}


# --- the one-slip versions -----------------------------------------------------------------------------

class _Source:
    """The answer cell's text, with a node's span replaced by other text."""

    def __init__(self, source):
        self.lines = source.encode("utf-8").splitlines(keepends=True)
        self.starts = [0]
        for line in self.lines:
            self.starts.append(self.starts[-1] + len(line))
        self.data = b"".join(self.lines)

    def span(self, node):
        return (self.starts[node.lineno - 1] + node.col_offset,
                self.starts[node.end_lineno - 1] + node.end_col_offset)

    def text(self, node):
        start, end = self.span(node)
        return self.data[start:end].decode("utf-8")

    def line(self, node):
        return self.lines[node.lineno - 1].decode("utf-8").strip()

    def replaced(self, node, new):
        start, end = self.span(node)
        return (self.data[:start] + new.encode("utf-8") + self.data[end:]).decode("utf-8")


def _with(node, **changes):
    """A copy of an expression node with some fields changed, as source text."""
    copied = copy.copy(node)
    for field, value in changes.items():
        setattr(copied, field, value)
    return ast.unparse(copied)


_ATOMS = (ast.Name, ast.Constant, ast.Attribute, ast.Subscript, ast.Call)
_CONTEXT = (ast.Subscript, ast.keyword, ast.Slice, ast.Tuple, ast.BinOp, ast.UnaryOp, ast.Compare, ast.Call,
            ast.Attribute)
CONTEXT_CHARACTERS = 40             # a slip is shown inside its enclosing expression up to this length


def _slips(function_node, source, kinds):
    """(rank, description, new cell source) of every one-slip version of the function; rank orders the
    kinds of slip from the most telling (a name for another) to the least (a term left out)."""
    names_of = {}
    for name, kind in sorted(kinds.items()):
        names_of.setdefault(kind, []).append(name)
    line_of, parent_of = {}, {}          # each node's innermost statement (the line a message quotes)
    statements = [node for node in ast.walk(function_node) if isinstance(node, ast.stmt)]
    for statement in sorted(statements, key=lambda s: -(s.end_lineno - s.lineno)):
        for child in ast.walk(statement):
            line_of[id(child)] = statement
    for node in ast.walk(function_node):
        for child in ast.iter_child_nodes(node):
            parent_of[id(child)] = node

    def shown(node, new):
        """The node, or the smallest enclosing expression that reads well (W.shape[0], beta1 ** t); a name
        for a name is clear as it is (i for j)."""
        if isinstance(node, ast.Name) and new.isidentifier():
            return node
        while isinstance(parent := parent_of.get(id(node)), _CONTEXT) and \
                len(source.text(parent) if hasattr(parent, "lineno") else "") <= CONTEXT_CHARACTERS and \
                not (isinstance(parent, ast.Tuple) and not all(isinstance(e, ast.Constant) for e in parent.elts)):
            node = parent
        return node

    def replace(node, new, rank):
        if new == source.text(node):
            return None
        code = _code(new)
        text = source.replaced(node, code)
        outer = shown(node, new)
        start, end = source.span(outer)
        inner_start, inner_end = source.span(node)
        old_shown = source.text(outer)
        new_shown = (source.data[start:inner_start] + code.encode() + source.data[inner_end:end]).decode()
        if outer is node:
            new_shown = new
        statement = line_of.get(id(node))
        where = "" if statement is None or source.line(statement) == old_shown else \
            f", in the line `{source.line(statement)}`"
        return rank, f"`{new_shown}` in place of `{old_shown}`{where}", text

    parts = {}                           # a name assigned once from a * b (or a + b): its operands a and b
    assigned = [node for node in ast.walk(function_node) if isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)]
    for node in assigned:
        if isinstance(node.value, ast.BinOp) and isinstance(node.value.op, (ast.Mult, ast.Div, ast.Add, ast.Sub)) and \
                sum(other.targets[0].id == node.targets[0].id for other in assigned) == 1:
            parts[node.targets[0].id] = [ast.unparse(node.value.left), ast.unparse(node.value.right)]
    found = _moved_lines(function_node.body, source) + _swapped_names(function_node, source, kinds) + \
        _loop_moves(function_node, source) + _resets_in_loops(function_node, source)
    for node in ast.walk(function_node):
        if node is function_node or isinstance(node, ast.arguments):
            continue
        candidates = _candidates(node, kinds, names_of, parts, parent_of)
        seen = set()
        twins = _twins(node, line_of, source)
        for new, rank in candidates:
            if new not in seen and (slip := replace(node, new, rank)) is not None:
                seen.add(new)
                found.append(slip)
                if twins:                # the same slip at every place the expression occurs in the line
                    code = _code(new)
                    text = source.data
                    for twin in sorted([node] + twins, key=source.span, reverse=True):
                        start, end = source.span(twin)
                        text = text[:start] + code.encode() + text[end:]
                    found.append((rank, f"`{new}` in place of `{source.text(node)}` (each time), in the line "
                                        f"`{source.line(line_of[id(node)])}`", text.decode("utf-8")))
        for body in (getattr(node, "body", None), getattr(node, "orelse", None)):
            found += _moved_lines(body or [], source)
        if isinstance(node, ast.AugAssign):
            text = f"{ast.unparse(node.target)} = {ast.unparse(node.value)}"
            found.append((1, f"`{text}` in place of `{source.text(node)}` (= where += belongs)",
                          source.replaced(node, text)))
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.Expr)):
            found.append((2, f"the line `{source.line(node)}` left out", source.replaced(node, "pass")))
    return found


def _candidates(node, kinds, names_of, parts, parent_of):
    """(new text, rank) of the one-slip replacements of one expression node."""
    candidates = []                 # (new text, rank)
    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id in kinds:
        kind = kinds[node.id]
        candidates += [(other, 0) for other in names_of.get(kind, []) if other != node.id]
        candidates += [(part, 2) for part in parts.get(node.id, [])]      # (x - mu) where x_hat belongs
        if kind == "int":
            candidates += [(f"{node.id} + 1", 1), (f"{node.id} - 1", 1), ("0", 2), ("1", 2)]
        if kind == "array":
            candidates += [(f"{node.id}.T", 2), (f"-{node.id}", 2)]
    elif isinstance(node, ast.Constant) and type(node.value) is int:
        candidates += [(str(value), 1) for value in (node.value + 1, node.value - 1, 0, 1, 2) if value >= 0]
        if not isinstance(parent_of.get(id(node)), (ast.Tuple, ast.keyword, ast.Subscript)):
            candidates += [(name, 2) for name in names_of.get("int", [])]     # -= N where -= 1 belongs
    elif isinstance(node, ast.BinOp):
        if type(node.op) in _SWAPPED_OPERATORS:
            candidates.append((_with(node, op=_SWAPPED_OPERATORS[type(node.op)]()), 1))
        if isinstance(node.op, ast.Sub):
            candidates.append((_with(node, left=node.right, right=node.left), 1))
        if isinstance(node.op, ast.Pow):
            candidates.append((_with(node, op=ast.Mult()), 1))
        candidates += [(ast.unparse(node.left), 2), (ast.unparse(node.right), 2)]
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        candidates.append((ast.unparse(node.operand), 1))
    elif isinstance(node, ast.Compare) and len(node.ops) == 1:
        candidates += [(_with(node, ops=[other()]), 1) for other in _SWAPPED_COMPARISONS.get(type(node.ops[0]), [])]
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        method = node.func.attr
        for other in _SWAPPED_REDUCTIONS.get(method, []):
            candidates.append((_with(node, func=_with_attr(node.func, other)), 1))
        for index in range(len(node.keywords)):
            candidates.append((_with(node, keywords=node.keywords[:index] + node.keywords[index + 1:]), 1))
        if method == "var":                             # the variance not centred: E[x**2]
            candidates.append((f"({ast.unparse(node.func.value)} ** 2).mean({_arguments(node)})", 1))
        if method in ("var", "std") and not any(k.arg == "ddof" for k in node.keywords):
            candidates.append((_with(node, keywords=node.keywords + [ast.keyword("ddof", ast.Constant(1))]), 1))
        if method in _UNWRAPPED:
            is_numpy = isinstance(node.func.value, ast.Name) and node.func.value.id == "np"
            if is_numpy and node.args:
                candidates.append((ast.unparse(node.args[0]), 1))
            elif not is_numpy:
                candidates.append((ast.unparse(node.func.value), 1))
        if method == "transpose" and 1 < len(node.args) <= 4:
            for a in range(len(node.args)):
                for b in range(a + 1, len(node.args)):
                    changed = list(node.args)
                    changed[a], changed[b] = changed[b], changed[a]
                    candidates.append((_with(node, args=changed), 1))
        if method in ("sum", "mean") and not node.keywords and not node.args[1:]:
            candidates += [(_with(node, keywords=[ast.keyword("axis", ast.Constant(axis))]), 1) for axis in (0, 1)]
    elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Tuple):
        elements = node.slice.elts
        for a in range(len(elements)):
            if isinstance(elements[a], ast.Slice) and elements[a].lower is None and elements[a].upper is None:
                for index in ["0"] + names_of.get("int", []):       # x[n, :] -> x[n, f]: an index for a slice
                    changed = list(elements)
                    changed[a] = ast.Name(index) if index != "0" else ast.Constant(0)
                    candidates.append((_with(node, slice=ast.Tuple(changed, ast.Load())), 2))
            for b in range(a + 1, len(elements)):
                if ast.unparse(elements[a]) != ast.unparse(elements[b]):
                    changed = list(elements)
                    changed[a], changed[b] = changed[b], changed[a]
                    candidates.append((_with(node, slice=ast.Tuple(changed, ast.Load())), 0))
    elif isinstance(node, ast.Tuple) and 1 < len(node.elts) <= 4 and \
            all(isinstance(e, ast.Constant) for e in node.elts):       # axis=(0, 2, 3) -> (2, 3)
        for index in range(len(node.elts)):
            candidates.append((_with(node, elts=node.elts[:index] + node.elts[index + 1:]), 1))
    elif isinstance(node, ast.Attribute) and node.attr == "T":
        candidates.append((ast.unparse(node.value), 1))
    elif isinstance(node, ast.Slice) and isinstance(node.step, ast.UnaryOp):
        candidates.append((_with(node, step=None), 1))
    elif isinstance(node, ast.Tuple) and isinstance(node.ctx, ast.Load) and 1 < len(node.elts) <= 4 \
            and isinstance(parent_of.get(id(node)), ast.Return):
        for a in range(len(node.elts)):
            for b in range(a + 1, len(node.elts)):
                elements = list(node.elts)
                elements[a], elements[b] = elements[b], elements[a]
                candidates.append((", ".join(ast.unparse(e) for e in elements), 1))
    return candidates


def _arguments(call):
    return ", ".join([ast.unparse(arg) for arg in call.args] + [ast.unparse(keyword) for keyword in call.keywords])


def _swapped_names(function_node, source, kinds):
    """Two names of one kind swapped in one simple line (gamma * x_hat + beta as beta * x_hat + gamma)."""
    found = []
    for statement in ast.walk(function_node):
        if not isinstance(statement, (ast.Assign, ast.AugAssign, ast.Return, ast.Expr)):
            continue
        loads = [node for node in ast.walk(statement) if isinstance(node, ast.Name) and
                 isinstance(node.ctx, ast.Load) and node.id in kinds]
        names = sorted({node.id for node in loads})
        for a, first in enumerate(names):
            for second in names[a + 1:]:
                if kinds[first] != kinds[second]:
                    continue
                text = source.data
                for node in sorted((n for n in loads if n.id in (first, second)), key=source.span, reverse=True):
                    start, end = source.span(node)
                    text = text[:start] + (second if node.id == first else first).encode() + text[end:]
                found.append((1, f"`{first}` and `{second}` swapped, in the line `{source.line(statement)}`",
                              text.decode("utf-8")))
    return found


def _loop_moves(function_node, source):
    """A line of a loop's body moved out after the loop, or the line before a loop moved into its body (an
    accumulation done once instead of every time, a reset done every time instead of once)."""
    lines = [line.decode("utf-8") for line in source.lines]
    found = []
    simple = (ast.Assign, ast.AugAssign, ast.Expr)
    for loop in ast.walk(function_node):
        if not isinstance(loop, ast.For):
            continue
        for statement in loop.body:
            if not isinstance(statement, simple):
                continue
            moved = [line[statement.col_offset - loop.col_offset:] if line[:statement.col_offset].isspace() else line
                     for line in lines[statement.lineno - 1:statement.end_lineno]]
            rest = lines[:statement.lineno - 1] + \
                ([" " * statement.col_offset + "pass\n"] if len(loop.body) == 1 else []) + lines[statement.end_lineno:]
            after = loop.end_lineno - (statement.end_lineno - statement.lineno + 1) + (len(loop.body) == 1)
            text = "".join(rest[:after] + moved + rest[after:])
            found.append((1, f"the line `{source.line(statement)}` after the loop `{source.line(loop)}` instead of "
                             f"inside it", text))
        parent_body = None
        for node in ast.walk(function_node):
            for field in ("body", "orelse"):
                block = getattr(node, field, None)
                if isinstance(block, list) and loop in block:
                    parent_body = block
        if parent_body is None or parent_body.index(loop) == 0:
            continue
        before = parent_body[parent_body.index(loop) - 1]
        if not isinstance(before, simple):
            continue
        indent = " " * (loop.body[0].col_offset - before.col_offset)
        moved = [indent + line for line in lines[before.lineno - 1:before.end_lineno]]
        first = loop.body[0].lineno - 1
        text = "".join(lines[:before.lineno - 1] + lines[before.end_lineno:first] + moved + lines[first:])
        found.append((1, f"the line `{source.line(before)}` inside the loop `{source.line(loop)}` instead of "
                         f"before it", text))
    return found


_STARTS = ("zeros", "zeros_like", "ones", "ones_like", "empty", "empty_like", "full", "full_like")


def _resets_in_loops(function_node, source):
    """An accumulator started again at the top of a loop that comes after its start (dW = np.zeros(...)
    inside the loop over the images: only the last image's share is kept)."""
    lines = [line.decode("utf-8") for line in source.lines]
    starts = []                                           # (line number, name, value) of a zero start
    for node in ast.walk(function_node):
        if not isinstance(node, ast.Assign) or len(node.targets) != 1:
            continue
        target, value = node.targets[0], node.value
        pairs = list(zip(target.elts, value.elts)) if isinstance(target, ast.Tuple) and \
            isinstance(value, ast.Tuple) and len(target.elts) == len(value.elts) else [(target, value)]
        for name, start in pairs:
            is_start = (isinstance(start, ast.Call) and isinstance(start.func, ast.Attribute)
                        and start.func.attr in _STARTS) or (isinstance(start, ast.Constant) and start.value == 0)
            if isinstance(name, ast.Name) and is_start:
                starts.append((node.end_lineno, name.id, ast.unparse(start)))
    found = []
    for loop in ast.walk(function_node):
        if not isinstance(loop, ast.For):
            continue
        first = loop.body[0]
        for line_number, name, start in starts:
            if line_number < loop.lineno:
                reset = " " * first.col_offset + f"{name} = {start}\n"
                text = "".join(lines[:first.lineno - 1] + [reset] + lines[first.lineno - 1:])
                found.append((1, f"`{name} = {start}` again at the start of each pass of `{source.line(loop)}` "
                                 f"(the sum started over every time) instead of once before it", text))
    return found


def _moved_lines(body, source):
    """A simple line moved up before an earlier one of its block (m_hat computed before m is updated)."""
    simple = [statement for statement in body if isinstance(statement, (ast.Assign, ast.AugAssign, ast.Expr))]
    found = []
    for later_index, later in enumerate(simple):
        for earlier in simple[:later_index]:
            start, _ = source.span(earlier)
            later_start, later_end = source.span(later)
            indent = b" " * earlier.col_offset
            text = (source.data[:start] + source.text(later).encode() + b"\n" + indent +
                    source.data[start:later_start].rstrip(b" ") + source.data[later_end:].lstrip(b"\n"))
            found.append((1, f"the line `{source.line(later)}` before the line `{source.line(earlier)}`",
                          text.decode("utf-8")))
    return found


def _code(new):
    """The new text as it goes into the code: in brackets unless it is one term (t + 1 in beta1 ** t)."""
    try:
        body = ast.parse(new, mode="eval").body
        atom = isinstance(body, _ATOMS) or (isinstance(body, ast.Tuple) and new.startswith("("))
        return new if atom else f"({new})"
    except SyntaxError:                     # a slice (::-1 left out), which needs no brackets
        return new


def _twins(node, line_of, source):
    """The other places in the node's (simple) line where the same expression occurs, when it is the
    first of them (s * x_ in s * x_:s * x_ + k), else []."""
    statement = line_of.get(id(node))
    if statement is None or isinstance(statement, (ast.For, ast.While, ast.If, ast.With)) or \
            not isinstance(node, ast.expr):
        return []
    text = source.text(node)
    same = [other for other in ast.walk(statement) if isinstance(other, type(node)) and
            hasattr(other, "lineno") and source.text(other) == text]
    same.sort(key=source.span)
    return same[1:] if len(same) > 1 and same[0] is node else []


def _with_attr(attribute, name):
    copied = copy.copy(attribute)
    copied.attr = name
    return copied


@functools.lru_cache(maxsize=None)
def _compiled_slips(exercise, kinds_key):
    """[(rank, description, function)] of the exercise's one-slip versions (built once per process)."""
    cell, definitions = _notebook_code()[exercise]
    function_node = next(node for node in ast.parse(cell).body
                         if isinstance(node, ast.FunctionDef) and node.name == exercise)
    namespace = _namespace(definitions)
    compiled = []
    slips = sorted(_slips(function_node, _Source(cell), dict(kinds_key)), key=lambda slip: slip[0])
    for rank, description, text in slips:
        try:
            scope = dict(namespace)
            exec(compile(text, "<solution with one slip>", "exec"), scope)
            compiled.append((rank, description, scope[exercise]))
        except Exception:
            continue
    return compiled


@contextlib.contextmanager
def _quiet():
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), \
            warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        yield


def _size(case):
    return sum(np.size(arg) for arg in case.args if isinstance(arg, np.ndarray))


@functools.lru_cache(maxsize=None)
def _solution(exercise):
    cell, definitions = _notebook_code()[exercise]
    return _namespace(definitions).get(exercise)


_OUTPUTS = {}                        # (exercise, id(case)) -> (case, [each mutant's output on it, in order])


def _outputs_on(exercise, case, compiled, deadline):
    """The mutants' outputs on one case, computed once (a check's cases are built once, so the next wrong
    answer to the same exercise costs only comparisons), as far as the deadline allows."""
    key = (exercise, id(case))
    if key not in _OUTPUTS or _OUTPUTS[key][0] is not case:
        if len(_OUTPUTS) > 256:
            _OUTPUTS.clear()
        _OUTPUTS[key] = (case, [])
    outputs = _OUTPUTS[key][1]
    for *_, function in compiled[len(outputs):]:
        if time.monotonic() > deadline:
            break
        try:
            with _quiet():
                outputs.append(function(*copy.deepcopy(list(case.args))))
        except Exception:
            outputs.append(_FAILED)
    return outputs


def matching_slips(exercise, results, item_compare, budget=TIME_BUDGET):
    """Descriptions of the one-slip versions of the solution whose outputs equal the answer's on every
    case it ran (at most MAX_MATCHES), or [] (no solution, nothing matches, or no time left). ``results``:
    (case, value, error, problem) per case, as check_exercise has them."""
    try:
        if exercise not in _notebook_code():
            return []
        ran = [(case, value) for case, value, error, problem in results if error is None]
        failing = [(case, value) for case, value, error, problem in results        # wrong values, not only
                   if error is None and problem is not None and case.expected is not None  # an in-place edit
                   and not _same(case.expected, value, case, item_compare)]
        if not failing:
            return []
        case, value = min(failing, key=lambda item: _size(item[0]))
        if _size(case) > MAX_ELEMENTS:
            return []
        output, kinds = _run_solution(_solution(exercise), case.args)
        if case.expected is None or output is _FAILED or not _same(output, case.expected, case, item_compare):
            return []                   # a solved notebook someone edited: its "solution" is no reference
        kinds = tuple(sorted(kinds.items()))
        compiled = _compiled_slips(exercise, kinds)
        deadline = time.monotonic() + budget
        found = []                      # (rank, description): the first two, and a third of another kind
        for (rank, description, function), output in zip(compiled, _outputs_on(exercise, case, compiled, deadline)):
            if len(found) >= MAX_MATCHES or time.monotonic() > deadline:
                break
            if len(found) == MAX_MATCHES - 1 and all(rank == known for known, _ in found):
                continue
            if output is not _FAILED and _same(output, value, case, item_compare) and all(
                    _gives(function, other, other_value, item_compare)
                    for other, other_value in ran if other is not case):
                found.append((rank, description))
        return [description for _, description in found]
    except Exception:
        return []


def _same(produced, value, case, item_compare):
    try:
        with _quiet():
            return item_compare(produced, value, case) is None
    except Exception:
        return False


def _gives(function, case, value, item_compare):
    """Does function(*case.args) give ``value`` (by the check's own comparison)?"""
    try:
        with _quiet():
            produced = function(*copy.deepcopy(list(case.args)))
    except Exception:
        return False
    return _same(produced, value, case, item_compare)
