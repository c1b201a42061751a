"""Grading a class: ``python -m course_machinery.grading COMMAND`` (run it in the course folder).

    check                         can this machine grade? (bubblewrap, the sandbox's limits)
    autograde ASSIGNMENT [--workers N] [--student ID ...]
                                  nbgrader's own `nbgrader autograde ASSIGNMENT --student ID` for every
                                  submitted student, N at a time (default: the number of cores);
                                  prints each student's time and the class's total

Every student is graded by its own `nbgrader autograde` process, with its own sandboxes: one crash
or hang costs that student's exercise, never another student's grades.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def nbgrader_command() -> list:
    """nbgrader, from this Python's environment (it runs `alembic` from PATH: that folder goes first)."""
    return [str(Path(sys.executable).parent / "nbgrader")]


def nbgrader_environment() -> dict:
    """This environment with nbgrader's folder first on PATH."""
    folder = str(Path(sys.executable).parent)
    return {**os.environ, "PATH": f"{folder}{os.pathsep}{os.environ.get('PATH', '')}"}


def submitted_students(course: Path, assignment: str) -> list:
    return sorted(path.parent.name for path in (course / "submitted").glob(f"*/{assignment}") if path.is_dir())


def autograde_one(course: Path, assignment: str, student: str, extra=()) -> dict:
    """One student's `nbgrader autograde`: its wall time, exit code and log."""
    start = time.perf_counter()
    process = subprocess.Popen([*nbgrader_command(), "autograde", assignment, "--student", student, "--force",
                                *extra], cwd=course, env=nbgrader_environment(), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    log, _ = process.communicate()
    return {"student": student, "seconds": time.perf_counter() - start, "returncode": process.returncode, "log": log}


def autograde_class(course: Path, assignment: str, students: list, workers: int, extra=()) -> dict:
    """Every student's autograde, `workers` at a time, and the class's wall time."""
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(lambda student: autograde_one(course, assignment, student, extra), students))
    return {"results": results, "seconds": time.perf_counter() - start}


def check() -> int:
    """Say whether this machine can grade: a worker started in the sandbox, and which limits hold."""
    from course_machinery.grading.sandbox import SandboxUnavailable, make_pids_cgroup, remove_cgroup, \
        sandboxed_command
    try:
        with tempfile.TemporaryDirectory(prefix="scratchcnn-check-") as folder:
            command = sandboxed_command([sys.executable, "-c", "import numpy, scratchcnn, course_machinery; "
                                         "print('ok')"], Path(folder))
            completed = subprocess.run(command, capture_output=True, text=True, timeout=120)
    except SandboxUnavailable as error:
        print(f"cannot grade here: {error}")
        return 1
    if completed.stdout.strip() != "ok":
        print("cannot grade here: bubblewrap could not start Python in a sandbox:\n" + completed.stderr[-2000:])
        print("(bubblewrap needs unprivileged user namespaces: `sysctl kernel.unprivileged_userns_clone=1`, "
              "or run the grader as a user allowed to make them)")
        return 1
    cgroup = make_pids_cgroup(64)
    remove_cgroup(cgroup)
    print("sandbox: bubblewrap works (no network, read-only system and library, private folder)")
    print("limits: memory, CPU time, file size and open files: yes; number of processes: " +
          ("yes (a pids cgroup)" if cgroup else "no: this user may not make a pids cgroup here (a fork bomb is "
           "held only by the memory and CPU limits)"))
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_machinery.grading", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("check", help="can this machine grade?")
    autograde = commands.add_parser("autograde", help="autograde every submitted student, N at a time")
    autograde.add_argument("assignment")
    autograde.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    autograde.add_argument("--student", action="append", default=[], help="only these students (repeatable)")
    args = parser.parse_args(argv)
    if args.command == "check":
        return check()
    course = Path.cwd()
    if not (course / "nbgrader_config.py").is_file():
        parser.error("run it in the course folder (the one with nbgrader_config.py)")
    if args.workers < 1:
        parser.error(f"--workers must be at least 1, not {args.workers}")
    students = args.student or submitted_students(course, args.assignment)
    if not students:
        parser.error(f"no submissions for {args.assignment!r} in {course / 'submitted'} (nbgrader collect first)")
    print(f"autograding {len(students)} students, {args.workers} at a time")
    outcome = autograde_class(course, args.assignment, students, args.workers)
    failed = []
    for result in outcome["results"]:
        print(f"  {result['student']}: {result['seconds']:.0f} s" + ("" if result["returncode"] == 0 else
                                                                      "  FAILED (its log follows)"))
        if result["returncode"] != 0:
            failed.append(result)
            print("    " + "\n    ".join(result["log"].strip().splitlines()[-15:]))
    print(f"the class: {outcome['seconds']:.0f} s ({outcome['seconds'] / len(students):.0f} s per student with "
          f"{args.workers} workers; benchmarks/grading_cost.py measures the CPU time)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
