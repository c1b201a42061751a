"""Generate the student copies of the course notebooks.

    python tools/make_student_copies.py           # write notebooks/student/*.ipynb
    python tools/make_student_copies.py --check   # exit 1 if the committed copies are stale

From each solved notebook in notebooks/ it makes a copy in notebooks/student/ where
  - every block between `### BEGIN SOLUTION` and `### END SOLUTION` (the nbgrader
    convention) becomes `# YOUR CODE HERE` + `raise NotImplementedError()` in code
    cells, or "YOUR ANSWER HERE" in Markdown cells, at the block's indentation;
  - cells tagged `solution-only` (such as `assert passed` after a check) are removed;
  - outputs, execution counts and saved widget state are cleared.
Teachers who use nbgrader can import the solved notebooks as they are.
"""

import argparse
import copy
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
SOLVED_DIR = ROOT / "notebooks"
STUDENT_DIR = SOLVED_DIR / "student"
SOLUTION_BLOCK = re.compile(r"^([ \t]*)### BEGIN SOLUTION[^\n]*\n.*?^[ \t]*### END SOLUTION[^\n]*(\n|$)",
                            re.MULTILINE | re.DOTALL)
BANNER = ("> **Student copy.** Write your code where it says `# YOUR CODE HERE` and run the check "
          "under each exercise. This file is generated from the solved notebook by "
          "`python tools/make_student_copies.py`; don't edit it by hand.")


def strip_solutions(source: str, cell_type: str) -> str:
    """Replace every solution block in one cell's source."""
    def replacement(match):
        indent, newline = match.group(1), match.group(2)
        if cell_type == "code":
            return f"{indent}# YOUR CODE HERE\n{indent}raise NotImplementedError(){newline}"
        return f"{indent}YOUR ANSWER HERE{newline}"

    stripped = SOLUTION_BLOCK.sub(replacement, source)
    if "### BEGIN SOLUTION" in stripped or "### END SOLUTION" in stripped:
        raise ValueError(f"unbalanced solution markers in cell:\n{source}")
    return stripped


def student_copy(solved: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The student version of one solved notebook."""
    notebook = copy.deepcopy(solved)
    cells = []
    for cell in notebook.cells:
        if "solution-only" in cell.get("metadata", {}).get("tags", []):
            continue
        cell.source = strip_solutions(cell.source, cell.cell_type)
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        for key in ("execution", "collapsed", "scrolled"):
            cell.metadata.pop(key, None)
        cell.pop("id", None)
        cells.append(cell)
    banner = nbformat.v4.new_markdown_cell(BANNER)
    banner.pop("id", None)                              # a random id would make every run differ
    notebook.cells = [banner] + cells
    notebook.metadata.pop("widgets", None)
    notebook.nbformat, notebook.nbformat_minor = 4, 4   # 4.4: no cell ids, so copies are stable
    return notebook


def expected_copies() -> dict:
    """{student notebook path: its text} for every solved notebook."""
    copies = {}
    for path in sorted(SOLVED_DIR.glob("[0-9][0-9]_*.ipynb")):
        solved = nbformat.read(path, as_version=4)
        copies[STUDENT_DIR / path.name] = nbformat.writes(student_copy(solved)) + "\n"
    return copies


def stale_copies() -> list:
    """Student copies that differ from what this script generates now (or are missing/extra)."""
    expected = expected_copies()
    stale = [path for path, text in expected.items()
             if not path.is_file() or path.read_text(encoding="utf-8") != text]
    stale += [path for path in STUDENT_DIR.glob("*.ipynb") if path not in expected]
    return sorted(stale)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="only check that the copies are up to date")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_copies()
        for path in stale:
            print(f"stale: {path.relative_to(ROOT)}")
        if stale:
            sys.exit("student copies are out of date: run `python tools/make_student_copies.py`")
        print("student copies are up to date")
        return
    STUDENT_DIR.mkdir(exist_ok=True)
    expected = expected_copies()
    for path in STUDENT_DIR.glob("*.ipynb"):
        if path not in expected:
            path.unlink()
    for path, text in expected.items():
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
