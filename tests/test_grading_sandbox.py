"""The sandbox a student's code runs in while grading (course_machinery/grading/sandbox.py): real
bubblewrap processes, each trying to get out."""

import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path


from course_machinery.grading.sandbox import Limits, SandboxedProcess, sandboxed_command

ROOT = Path(__file__).resolve().parent.parent


def run_inside(tmp_path, script, limits=None, timeout=60):
    """Run a Python script in the sandbox, with tmp_path/private as its private folder."""
    private = tmp_path / "private"
    private.mkdir(exist_ok=True)
    command = sandboxed_command([sys.executable, "-c", textwrap.dedent(script)], private, limits)
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


def test_it_sees_the_library_and_its_private_folder_only(tmp_path):
    (tmp_path / "other-student.txt").write_text("someone else's work")
    result = run_inside(tmp_path, f"""
        import os, scratchcnn, course_machinery.checks
        from pathlib import Path
        print(os.getuid(), Path.cwd().name)
        Path("mine.txt").write_text("my own file")
        for path in [{str(tmp_path / 'other-student.txt')!r}, {str(ROOT / 'notebooks' / '04_max_pooling.ipynb')!r},
                     {str(ROOT / 'tools' / 'nbgrader_config.py')!r}]:
            print(path, os.path.exists(path))
        try:
            open(scratchcnn.__file__, "a").write("# changed")
        except OSError as error:
            print("library read-only:", type(error).__name__)
    """)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "65534 private"                       # nobody, in its own folder
    assert all(line.endswith(" False") for line in lines[1:4]), lines   # no other student, no solutions, no course
    assert lines[4] == "library read-only: OSError"
    assert (tmp_path / "private" / "mine.txt").read_text() == "my own file"


def test_it_has_no_network_not_even_loopback(tmp_path):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    try:
        result = run_inside(tmp_path, f"""
            import socket
            try:
                socket.create_connection(("127.0.0.1", {server.getsockname()[1]}), timeout=5)
                print("connected")
            except OSError as error:
                print("refused:", type(error).__name__)
        """)
    finally:
        server.close()
    assert result.stdout.startswith("refused"), result.stdout + result.stderr


def test_memory_processes_and_file_size_are_limited(tmp_path):
    result = run_inside(tmp_path, """
        import os, subprocess, numpy as np
        try:
            np.ones(10 ** 10)
        except MemoryError:
            print("memory: MemoryError")
        children = []
        try:
            for _ in range(200):
                children.append(subprocess.Popen(["sleep", "5"]))
            print("processes: all 200 started")
        except OSError as error:
            print(f"processes: stopped after {len(children)}")
        for child in children:
            child.kill()
    """, Limits(memory_bytes=2 * 2 ** 30, processes=32))
    assert "memory: MemoryError" in result.stdout, result.stdout + result.stderr
    started = int(result.stdout.split("stopped after ")[1].split()[0])
    assert started < 32, result.stdout
    big = run_inside(tmp_path, """
        with open("big.bin", "wb") as file:
            for _ in range(100):
                file.write(b"x" * 2 ** 20)
    """, Limits(file_bytes=10 * 2 ** 20))
    assert big.returncode != 0 and (tmp_path / "private" / "big.bin").stat().st_size <= 10 * 2 ** 20


def test_kill_ends_a_detached_process_too(tmp_path):
    private = tmp_path / "private"
    private.mkdir()
    script = textwrap.dedent("""
        import subprocess, sys, time
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(2); open('late.txt', 'w').write('x')"],
                         start_new_session=True)
        time.sleep(60)
    """)
    sandboxed = SandboxedProcess([sys.executable, "-c", script], private)
    time.sleep(1)
    sandboxed.kill()
    time.sleep(3)
    assert not (private / "late.txt").exists()


def test_once_held_no_new_process_can_start(tmp_path):
    """While answers are graded the grader holds the sandbox's processes: an answer cannot hand its work
    to a child process that no profiler watches."""
    private = tmp_path / "private"
    private.mkdir()
    script = textwrap.dedent("""
        import pathlib, subprocess, time
        while not pathlib.Path("go").exists():
            time.sleep(0.05)
        try:
            subprocess.run(["true"])
            outcome = "started"
        except OSError as error:
            outcome = "refused: " + type(error).__name__
        pathlib.Path("outcome.txt").write_text(outcome)
    """)
    sandboxed = SandboxedProcess([sys.executable, "-c", script], private)
    try:
        time.sleep(1)
        assert sandboxed.hold_processes()
        (private / "go").write_text("")
        sandboxed.process.wait(timeout=30)
        assert (private / "outcome.txt").read_text().startswith("refused"), (private / "outcome.txt").read_text()
    finally:
        sandboxed.kill()
