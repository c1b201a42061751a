"""What grading a class costs: nbgrader's autograde with the grader outside the kernel, 1 and 2 workers.

    python benchmarks/grading_cost.py                 # 4 students, the whole course (about 12 minutes here)
    python benchmarks/grading_cost.py --students 2 --notebooks 04,05

Builds a course in a temporary folder (tools/nbgrader_config.py, every solved notebook an assignment),
hands in the solved notebooks for every student (each notebook then runs to its end, and every exercise
is graded: the most expensive honest student), and autogrades the class with
`python -m course_machinery.grading autograde ASSIGNMENT --workers N`, once with 1 worker and once
with 2, alternating assignment by assignment so both see the same machine. Prints the wall time per
student, the machine's CPU time per student (from /proc/stat: the sandboxed kernels and workers
included, which no rusage sees once they are killed), the speed-up from 1 to 2 workers, and a
projection for a class of 200 on a 16-core machine. Needs an otherwise idle machine to mean anything.
"""

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from course_machinery.grading.__main__ import nbgrader_command, nbgrader_environment

ROOT = Path(__file__).resolve().parent.parent


def busy_cpu_seconds() -> float:
    """CPU seconds the whole machine has been busy since boot (all cores)."""
    fields = [int(value) for value in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / 100      # USER_HZ is 100 on Linux


def nbgrader(course, *arguments):
    subprocess.run([*nbgrader_command(), *arguments], cwd=course, check=True, capture_output=True,
                   env=nbgrader_environment())


def make_course(folder: Path, notebooks, students: int) -> list:
    shutil.copy(ROOT / "tools" / "nbgrader_config.py", folder / "nbgrader_config.py")
    names = []
    for path in notebooks:
        (folder / "source" / path.stem).mkdir(parents=True)
        shutil.copy(path, folder / "source" / path.stem)
        for student in range(students):
            submitted = folder / "submitted" / f"student{student:03d}" / path.stem
            submitted.mkdir(parents=True)
            shutil.copy(path, submitted)
        names.append(path.stem)
    nbgrader(folder, "generate_assignment", "*")
    return names


def autograde(course: Path, assignment: str, workers: int):
    wall, cpu = time.perf_counter(), busy_cpu_seconds()
    completed = subprocess.run([sys.executable, "-m", "course_machinery.grading", "autograde", assignment,
                                "--workers", str(workers)], cwd=course, capture_output=True, text=True)
    if completed.returncode != 0:
        sys.exit(f"autograde {assignment} with {workers} workers failed:\n{completed.stdout[-3000:]}")
    return time.perf_counter() - wall, busy_cpu_seconds() - cpu


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--students", type=int, default=4)
    parser.add_argument("--notebooks", default="", help="e.g. 04,05 (default: all)")
    args = parser.parse_args()
    chosen = [number.strip() for number in args.notebooks.split(",") if number.strip()]
    notebooks = [path for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
                 if not chosen or path.name[:2] in chosen]
    totals = {1: [0.0, 0.0], 2: [0.0, 0.0]}
    with tempfile.TemporaryDirectory(prefix="scratchcnn-grading-cost-") as folder:
        course = Path(folder)
        assignments = make_course(course, notebooks, args.students)
        for index, assignment in enumerate(assignments):
            order = (1, 2) if index % 2 == 0 else (2, 1)           # alternate which goes first
            for workers in order:
                wall, cpu = autograde(course, assignment, workers)
                totals[workers][0] += wall
                totals[workers][1] += cpu
                print(f"{assignment}: {workers} worker(s): {wall:.0f} s wall, {cpu:.0f} s CPU", flush=True)
    per_student = {workers: (wall / args.students, cpu / args.students) for workers, (wall, cpu) in totals.items()}
    speed_up = totals[1][0] / totals[2][0]
    print(f"\n{len(assignments)} notebooks, {args.students} students (solved notebooks handed in)")
    for workers, (wall, cpu) in per_student.items():
        print(f"  {workers} worker(s): {wall:.0f} s wall per student, {cpu:.0f} s CPU per student")
    print(f"  speed-up from 1 to 2 workers: {speed_up:.2f}x")
    cpu = per_student[2][1]
    efficiency = speed_up / 2
    hours = 200 * cpu / (16 * efficiency) / 3600
    print(f"  projection, 200 students on 16 cores with 16 workers at this efficiency ({efficiency:.0%}): "
          f"{hours * 60:.0f} minutes")


if __name__ == "__main__":
    main()
