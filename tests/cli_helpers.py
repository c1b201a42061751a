"""Running the command line in tests: in a subprocess (``run_cli``, as a user would) or in
this process (``run_main``), and asserting that a failure is one clear line."""

import subprocess
import sys

import pytest

import scratchcnn as sc
from course_machinery import cli


def run_cli(*args, cwd, options=()):
    return subprocess.run([sys.executable, *options, sc.__file__, *args], capture_output=True, text=True,
                          cwd=cwd, timeout=600)


def assert_one_line_error(result, *fragments):
    """A CLI failure: non-zero exit, no traceback, ONE line on stderr that says what happened."""
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def run_main(capsys, *argv):
    """main(argv) in this process: (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as exit_info:
        cli.main(list(argv))
    out, err = capsys.readouterr()
    code = exit_info.value.code
    if isinstance(code, str):                   # sys.exit("message") prints it and exits with 1
        err, code = err + code + "\n", 1
    assert "Traceback" not in err
    return code, out, err
