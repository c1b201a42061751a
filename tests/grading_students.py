"""Students built by the grading tests: their notebooks, made from the released hand-out.

Each student is {exercise name: the source of its answer cell} plus extra cells they added (inserted
after the answer cell of the exercise named, or at the top). An exercise not named keeps the hand-out's
`raise NotImplementedError()`, and `"solution"` takes the solved notebook's own answer.

The cheats and faults are the ones issue 19 lists, written the way a student would write them.
"""

import textwrap
from pathlib import Path

import nbformat

from course_machinery.grading.grader import answer_sources

ROOT = Path(__file__).resolve().parent.parent
SOLVED = {path.stem[:2]: path for path in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")}
RELEASED = {path.stem[:2]: path for path in (ROOT / "notebooks" / "student").glob("[0-9][0-9]_*.ipynb")}


def solution(notebook: str, name: str) -> str:
    return answer_sources(nbformat.read(SOLVED[notebook], as_version=4))[name]


def code(text: str) -> str:
    return textwrap.dedent(text).strip() + "\n"


def student_notebook(notebook: str, answers: dict, extra_cells: dict = None):
    """The released notebook with these answers, and extra cells: {exercise name or "top": [sources]},
    "deleted": [grade ids of cells the student deleted]."""
    handed_out = nbformat.read(RELEASED[notebook], as_version=4)
    cells = []
    extra_cells = extra_cells or {}
    for cell in handed_out.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        name = str(meta.get("grade_id", ""))[3:]
        if meta.get("grade_id") in extra_cells.get("deleted", ()):
            continue
        if cell.cell_type == "code" and meta.get("solution") and name in answers:
            source = answers[name]
            cell.source = solution(notebook, name) if source == "solution" else source
        cells.append(cell)
        if cell.cell_type == "code" and meta.get("solution"):
            cells += [nbformat.v4.new_code_cell(source) for source in extra_cells.get(name, [])]
    top = [nbformat.v4.new_code_cell(source) for source in extra_cells.get("top", [])]
    handed_out.cells = cells[:1] + top + cells[1:] if top else cells
    return handed_out


# ---- the cheats of issue 19, on notebooks 04 and 05 ----------------------------------------------

LIBRARY_CALL = code("""
    import scratchcnn
    def maxpool_forward(x, kernel_size, stride):
        return scratchcnn.maxpool2d_naive(x, kernel_size, stride)
""")

# Returns the expected value read from the check's frames (or any thread's): a "universal answer".
FRAME_READER = code("""
    import sys
    def maxpool_backward(x, dout, kernel_size, stride):
        for frame in list(sys._current_frames().values()):
            while frame is not None:
                for value in list(frame.f_locals.values()):
                    expected = getattr(value, "expected", None)
                    if expected is not None and getattr(value, "args", None) is not None:
                        if len(value.args) == 4 and value.args[0].shape == x.shape:
                            return expected
                frame = frame.f_back
        return x * 0
""")

WRONG_POOLED_SHAPE = code("""
    def pooled_shape():
        return (1, 1, 4, 4)
""")

# Replaces the check with one that always passes.
CHECK_REPLACED = code("""
    class Pass:
        message = "all cases pass"
        def __bool__(self):
            return True
    checks.check_pooled_shape = lambda *args, **options: Pass()
""")

# The hand-out's own cases, answered by looking them up: passes in the notebook, fails unseen cases.
HAND_OUT_LOOKUP = code("""
    import numpy as np
    def centre_gradient():
        return checks.check_centre_gradient.cases()[0].expected
""")

# Deletes every `assert` from the cells run after it (an IPython AST transformer).
ASSERTS_STRIPPED = code("""
    import ast
    class NoAsserts(ast.NodeTransformer):
        def visit_Assert(self, node):
            return ast.Pass()
    get_ipython().ast_transformers.append(NoAsserts())
""")

# Hands the work to a child process, where no profiler watches it call the library.
LIBRARY_IN_A_CHILD_PROCESS = code("""
    import subprocess, sys, numpy as np
    def cross_entropy_loss(logits, labels):
        np.save("logits.npy", logits)
        np.save("labels.npy", labels)
        script = ("import numpy as np, scratchcnn; print(scratchcnn.SoftmaxCrossEntropy().forward("
                  "np.load('logits.npy'), np.load('labels.npy')))")
        return float(subprocess.run([sys.executable, "-c", script], capture_output=True, text=True).stdout)
""")

# Binds the name `checks` to an object whose checks all pass.
FAKE_CHECKS = code("""
    class FakeChecks:
        def __getattr__(self, name):
            class Pass:
                message = "all cases pass"
                def __bool__(self):
                    return True
            return lambda *args, **options: Pass()
    checks = FakeChecks()
""")

WRONG_GRADIENT = code("""
    def softmax_cross_entropy_gradient(logits, labels):
        return logits * 0
""")

SOFTMAX_FROM_LIBRARY = code("""
    from scratchcnn import softmax as my_softmax
    def stable_softmax(logits):
        return my_softmax(logits)
""")

# Runs the teacher's solved notebook, looked for where nbgrader keeps it (../../../source/...).
SOLVED_NOTEBOOK_RUN = code("""
    import glob, json
    def uniform_loss(K):
        for path in glob.glob("../../../source/*/05_*.ipynb") + glob.glob("/**/notebooks/05_*.ipynb", recursive=True):
            for cell in json.load(open(path))["cells"]:
                text = "".join(cell["source"])
                if text.startswith("def uniform_loss"):
                    namespace = {}
                    exec(text, namespace)
                    return namespace["uniform_loss"](K)
        raise RuntimeError("no solved notebook found")
""")

CHEATER = {
    "04": ({"maxpool_forward": LIBRARY_CALL, "maxpool_backward": FRAME_READER, "pooled_shape": WRONG_POOLED_SHAPE,
            "centre_gradient": HAND_OUT_LOOKUP}, {"pooled_shape": [CHECK_REPLACED]}),
    "05": ({"stable_softmax": SOFTMAX_FROM_LIBRARY, "cross_entropy_loss": LIBRARY_IN_A_CHILD_PROCESS,
            "softmax_cross_entropy_gradient": WRONG_GRADIENT, "uniform_loss": SOLVED_NOTEBOOK_RUN,
            "softmax_cross_entropy": "solution"},
           {"top": [ASSERTS_STRIPPED], "softmax_cross_entropy_gradient": [FAKE_CHECKS]}),
}
# Which cheat each exercise meets, for the messages of the tests.
CHEATS = {"maxpool_forward": "calls the library's maxpool2d_naive", "maxpool_backward": "reads the expected value "
          "from the check's frames", "pooled_shape": "replaces the check", "centre_gradient": "looks up the "
          "hand-out's case", "stable_softmax": "calls the library's softmax", "cross_entropy_loss": "calls the library in a child process (asserts stripped too)",
          "softmax_cross_entropy_gradient": "rebinds `checks`", "uniform_loss": "runs the solved notebook"}


# ---- the saboteur: faults that must cost only their own exercise ------------------------------------

# Tries to leave the sandbox: a detached process that, after grading, would rewrite the gradebook and
# leave a mark in the course folder (COURSE is replaced by the test with the real path).
DETACHED_WRITER = code("""
    import subprocess, sys
    script = '''
    import time, os
    time.sleep(3)
    for folder in ("../../..", "COURSE"):
        for name in ("gradebook.db", "saboteur-was-here"):
            try:
                with open(os.path.join(folder, name), "ab") as file:
                    file.write(b"rewritten")
            except OSError:
                pass
    '''
    subprocess.Popen([sys.executable, "-c", script], start_new_session=True,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
""")

SABOTEUR = {
    "04": ({"maxpool_forward": "solution",
            "maxpool_backward": code("""
                def maxpool_backward(x, dout, kernel_size, stride):
                    return sum(range(10 ** 12))     # one C call that holds the GIL for hours
            """),
            "pooled_shape": code("""
                import numpy as np
                def pooled_shape():
                    return np.ones(10 ** 11)         # 800 GB
            """),
            "centre_gradient": code("""
                def centre_gradient():
                    while True:
                        pass
            """)},
           {"top": [DETACHED_WRITER, code("print('x' * 50_000_000)")],
            "maxpool_forward": [code("import os\nos._exit(1)")],
            "pooled_shape": [code("while True:\n    pass")]}),
}
SABOTEUR_POINTS = {"maxpool_forward": 3}     # every other exercise of notebook 04 scores 0


# ---- the partial student: a later exercise built on an earlier wrong one ------------------------------

PARTIAL = {
    "03": ({"dilate": code("""
                def dilate(G, s):
                    return G                         # forgot to spread the gradient
            """),
            "conv2d_backward_by_correlation": "solution", "bias_gradient": "solution"}, {}),
    "04": ({"maxpool_forward": code("""
                import warnings
                import numpy as np
                def maxpool_forward(x, kernel_size, stride):
                    warnings.warn("loops are slow")   # a correct answer that warns still scores
                    print("computing", file=__import__("sys").stderr)
                    N, C, H, W = x.shape
                    H_out, W_out = (H - kernel_size) // stride + 1, (W - kernel_size) // stride + 1
                    out = np.zeros((N, C, H_out, W_out))
                    for y in range(H_out):
                        for x_ in range(W_out):
                            window = x[:, :, y * stride:y * stride + kernel_size, x_ * stride:x_ * stride + kernel_size]
                            out[:, :, y, x_] = window.max(axis=(2, 3))
                    return out
            """)}, {"deleted": ["04_maxpool_forward_check"]}),     # its check cell deleted: nbgrader restores it
}
PARTIAL_PASSES = {"03": {"conv2d_backward_by_correlation", "bias_gradient"}, "04": {"maxpool_forward"}}
