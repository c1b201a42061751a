"""Every section that the course names exists, and numbered headings skip no number.

Notebook 03 once lost its "## 4." when the code under it became exercises, while its text still pointed to
"section 4" four times. These tests read every solved notebook (notebooks/*.ipynb) and every student copy
(notebooks/student/*.ipynb):

- the numbered headings "## 1. ...", "## 2. ..." count 1, 2, 3, ... without a gap, and so do "### Exercise N";
- every reference to a section names one that exists: "section 4", "Section 4", "sections 2-3",
  "sections 1 and 6", "§4" mean this notebook; "notebook 03, section 4", "notebook 03's section 4" and
  "section 4 of notebook 03" mean notebook 03 (in the same folder: a student copy points to student copies).

The library and the course machinery point into the solved notebooks: scratchcnn.py and course_machinery/**/*.py
are searched for "notebook NN, section K" (and the other two forms), and the checks of notebook NN
(course_machinery/checks/notebook_NN.py), whose messages appear in that notebook, for bare "section K" too.
"""

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_FOLDER = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_FOLDER.glob("*.ipynb")) + sorted((NOTEBOOK_FOLDER / "student").glob("*.ipynb"))
LIBRARY_FILES = [ROOT / "scratchcnn.py"] + sorted((ROOT / "course_machinery").rglob("*.py"))

NUMBERED_HEADING = re.compile(r"^##[ \t]+(\d+)\.[ \t]", re.MULTILINE)
EXERCISE_HEADING = re.compile(r"^###[ \t]+Exercise[ \t]+(\d+)\b", re.MULTILINE)
# "4", "2-3", "2–4", "1 and 6", "2, 3 and 5", "2 to 4"
NUMBERS = r"\d+(?:\s*(?:-|–|,|\band\b|\bor\b|\bto\b)\s*\d+)*"
IN_OTHER_NOTEBOOK = [
    re.compile(rf"\b[Nn]otebook\s+(?P<notebook>\d+)(?:'s|,)?\s+[Ss]ections?\s+(?P<numbers>{NUMBERS})"),
    re.compile(rf"\b[Ss]ections?\s+(?P<numbers>{NUMBERS})\s+(?:of|in)\s+[Nn]otebook\s+(?P<notebook>\d+)"),
]
IN_THIS_NOTEBOOK = re.compile(rf"(?:\b[Ss]ections?\s+|§\s*)(?P<numbers>{NUMBERS})")


def section_numbers(numbers):
    """'2-4' -> [2, 3, 4]; '1 and 6' -> [1, 6]; '2, 3 and 5' -> [2, 3, 5]. A backwards range gives []."""
    result = []
    for part in re.split(r"\s*(?:,|\band\b|\bor\b)\s*", numbers):
        ends = [int(end) for end in re.split(r"\s*(?:-|–|\bto\b)\s*", part)]
        result += list(range(ends[0], ends[-1] + 1))
    return result


def section_references(text):
    """Every section reference in text, in order: (where it starts, its text, the notebook's number or None for
    'this notebook', the section numbers it names)."""
    references, taken = [], []
    for pattern in IN_OTHER_NOTEBOOK:
        for match in pattern.finditer(text):
            references.append((match.start(), match.group(0), int(match.group("notebook")),
                               section_numbers(match.group("numbers"))))
            taken.append(match.span())
    for match in IN_THIS_NOTEBOOK.finditer(text):
        if not any(start <= match.start() < end for start, end in taken):
            references.append((match.start(), match.group(0), None, section_numbers(match.group("numbers"))))
    return sorted(references)


def numbered_headings(notebook):
    """The numbers of the notebook's "## N." headings, in order."""
    return [int(number) for cell in notebook.cells if cell.cell_type == "markdown"
            for number in NUMBERED_HEADING.findall(cell.source)]


def exercise_headings(notebook):
    return [int(number) for cell in notebook.cells if cell.cell_type == "markdown"
            for number in EXERCISE_HEADING.findall(cell.source)]


def notebook_path(folder, number):
    """folder/NN_*.ipynb, or None."""
    matches = sorted(Path(folder).glob(f"{number:02d}_*.ipynb"))
    return matches[0] if len(matches) == 1 else None


def sections_of(path):
    return set(numbered_headings(nbformat.read(path, as_version=4)))


def missing_sections(text, folder, this_notebook):
    """(where in text, message) for every reference in text to a section that does not exist. A bare
    'section K' refers to this_notebook (not checked when it is None); 'notebook NN, section K' to
    folder/NN_*.ipynb."""
    problems = []
    for start, reference, number, sections in section_references(text):
        if number is None and this_notebook is None:
            continue
        target = this_notebook if number is None else notebook_path(folder, number)
        if target is None:
            problems.append((start, f"{reference!r} names notebook {number:02d}, which is not in {Path(folder).name}/"))
            continue
        existing = sections_of(target)
        missing = [section for section in sections if section not in existing] if sections else ["(none)"]
        if missing:
            problems.append((start, f"{reference!r} names section {', '.join(map(str, missing))} of {shown(target)}, "
                                    f"whose numbered sections are {sorted(existing)}"))
    return problems


def shown(path):
    path = Path(path)
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else path.name


def notebook_problems(path):
    """Every reference in the notebook at path to a missing section, naming notebook, cell and reference."""
    path = Path(path)
    problems = []
    for index, cell in enumerate(nbformat.read(path, as_version=4).cells):
        for _, message in missing_sections(cell.source, path.parent, path):
            problems.append(f"{shown(path)}, cell {index} (id {cell.get('id')}, {cell.cell_type}): {message}")
    return problems


def source_file_problems(path):
    """The same for a Python file of the library or the course machinery, naming file and line."""
    own_notebook = re.fullmatch(r"notebook_(\d+)\.py", path.name)
    this_notebook = notebook_path(NOTEBOOK_FOLDER, int(own_notebook.group(1))) if own_notebook else None
    text = path.read_text()
    return [f"{shown(path)}:{text.count(chr(10), 0, start) + 1}: {message}"
            for start, message in missing_sections(text, NOTEBOOK_FOLDER, this_notebook)]


def gaps(numbers):
    """None when numbers are 1, 2, 3, ...; else 'expected N, found M (all: ...)' at the first one out of step."""
    for expected, found in enumerate(numbers, start=1):
        if found != expected:
            return f"expected {expected}, found {found} (all: {numbers})"
    return None


# ----------------------------------------------------------------------------------------------
# The course's files
# ----------------------------------------------------------------------------------------------

def test_every_notebook_is_found():
    assert len(NOTEBOOKS) >= 20 and notebook_path(NOTEBOOK_FOLDER, 3) is not None


@pytest.mark.parametrize("path", NOTEBOOKS, ids=shown)
def test_numbered_headings_skip_no_number(path):
    headings = numbered_headings(nbformat.read(path, as_version=4))
    assert headings, f"{shown(path)} has no numbered '## N.' heading"
    gap = gaps(headings)
    assert gap is None, f"{shown(path)}: the numbered '## N.' headings skip a number: {gap}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=shown)
def test_exercise_headings_skip_no_number(path):
    gap = gaps(exercise_headings(nbformat.read(path, as_version=4)))
    assert gap is None, f"{shown(path)}: the '### Exercise N' headings skip a number: {gap}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=shown)
def test_every_section_a_notebook_names_exists(path):
    problems = notebook_problems(path)
    assert not problems, "sections that do not exist:\n" + "\n".join(problems)


@pytest.mark.parametrize("path", LIBRARY_FILES, ids=shown)
def test_every_section_the_library_names_exists(path):
    """'notebook NN, section K' in the library and the course machinery points into the solved notebooks; the
    checks of notebook NN say 'section K' for that notebook's own sections."""
    problems = source_file_problems(path)
    assert not problems, "sections that do not exist:\n" + "\n".join(problems)


# ----------------------------------------------------------------------------------------------
# The checker itself, on text written for it: it finds every form, and only real references
# ----------------------------------------------------------------------------------------------

def test_the_parser_reads_every_form_of_reference():
    text = ("as section 4 shows; Section 2's formula; sections 2-3 and sections 5–6; sections 1 and 6; "
            "§4 and § 7; sections 2, 3 and 5; notebook 03, section 4; notebook 5's section 2; "
            "section 7 of notebook 02; sections 2 to 4 in notebook 10; Notebook 06 section 3;\n"
            "notebook 02,\n    section 6 (a docstring's line break); this section; section_4 = 1; notebook 3 and 4")
    assert [reference[1:] for reference in section_references(text)] == [
        ("section 4", None, [4]), ("Section 2", None, [2]), ("sections 2-3", None, [2, 3]),
        ("sections 5–6", None, [5, 6]), ("sections 1 and 6", None, [1, 6]), ("§4", None, [4]),
        ("§ 7", None, [7]), ("sections 2, 3 and 5", None, [2, 3, 5]), ("notebook 03, section 4", 3, [4]),
        ("notebook 5's section 2", 5, [2]), ("section 7 of notebook 02", 2, [7]),
        ("sections 2 to 4 in notebook 10", 10, [2, 3, 4]), ("Notebook 06 section 3", 6, [3]),
        ("notebook 02,\n    section 6", 2, [6]),
    ]


def test_the_checker_names_notebook_cell_and_reference(tmp_path):
    """Two small notebooks: 03 has sections 1, 2, 3 and 5 (its 4 was lost), 04 has 1 and 2."""
    def write(name, *cells):
        notebook = nbformat.v4.new_notebook()
        notebook.cells = [nbformat.v4.new_markdown_cell(source) for source in cells]
        nbformat.write(notebook, tmp_path / name)
        return tmp_path / name

    lost = write("03_lost.ipynb", "# 03", "## 1. One", "## 2. Two\nsee section 4",
                 "## 3. Three\nsections 2-3 hold; notebook 04, section 2 too",
                 "## 5. Five\n§4 and notebook 04, section 3, and section 1 of notebook 07")
    fine = write("04_fine.ipynb", "# 04", "## 1. One", "## 2. Two\nas in notebook 03, sections 1 and 2")
    cell = lambda index: f"03_lost.ipynb, cell {index} (id {nbformat.read(lost, as_version=4).cells[index].id}, markdown)"
    assert notebook_problems(lost) == [
        f"{cell(2)}: 'section 4' names section 4 of 03_lost.ipynb, whose numbered sections are [1, 2, 3, 5]",
        f"{cell(4)}: '§4' names section 4 of 03_lost.ipynb, whose numbered sections are [1, 2, 3, 5]",
        f"{cell(4)}: 'notebook 04, section 3' names section 3 of 04_fine.ipynb, whose numbered sections are [1, 2]",
        f"{cell(4)}: 'section 1 of notebook 07' names notebook 07, which is not in {tmp_path.name}/",
    ]
    assert notebook_problems(fine) == []
    assert gaps(numbered_headings(nbformat.read(lost, as_version=4))) == "expected 4, found 5 (all: [1, 2, 3, 5])"
    assert gaps(numbered_headings(nbformat.read(fine, as_version=4))) is None
    assert gaps([1, 2, 3, 4, 5, 6, 8]) == "expected 7, found 8 (all: [1, 2, 3, 4, 5, 6, 8])"
    assert gaps([2, 3]) == "expected 1, found 2 (all: [2, 3])"
