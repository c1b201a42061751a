"""Sandboxes for the student's code while grading: bubblewrap (Debian's `bubblewrap`, as Flatpak uses).

A sandboxed process sees a read-only view of the system, the Python installation and the course
library (scratchcnn.py, course_machinery/, data/), and one private writable folder, the copy of the
submission it works on. It does not see the course folder, the other students, the gradebook or the
solved notebooks; it has no network, its own process and user namespaces (it runs as `nobody`), and
dies with its parent. Limits: address space (memory), CPU time, file size (output) and the number of
processes (through a `pids` cgroup where this machine lets us make one; see `Limits.enforced`). Wall
time is the caller's: it kills the process group.

Docker is the usual choice at scale (otter-grader grades each submission in its own container);
TEACHING.md shows how a teacher runs the same grader in a container per submission.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import course_machinery
import scratchcnn

SYSTEM_FOLDERS = ("/usr", "/etc", "/opt")
SYSTEM_LINKS = {"/bin": "usr/bin", "/sbin": "usr/sbin", "/lib": "usr/lib", "/lib64": "usr/lib64",
                "/lib32": "usr/lib32"}
PIDS_CGROUP = Path("/sys/fs/cgroup/pids")       # cgroup v1's pids controller (v2: /sys/fs/cgroup itself)
_serial = itertools.count()


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing or cannot make a sandbox here."""


@dataclass
class Limits:
    """Per sandboxed process. Memory is address space (NumPy raises MemoryError beyond it)."""
    memory_bytes: int = 4 * 2 ** 30
    cpu_seconds: int = 900
    file_bytes: int = 64 * 2 ** 20
    processes: int = 64
    open_files: int = 256


def bubblewrap() -> str:
    """The path of bwrap, or SandboxUnavailable saying how to install it."""
    path = shutil.which("bwrap")
    if path is None:
        raise SandboxUnavailable("grading runs every submission in a bubblewrap sandbox, and `bwrap` is not "
                                 "installed: `sudo apt-get install bubblewrap` (Debian, Ubuntu) or "
                                 "`sudo dnf install bubblewrap` (Fedora)")
    return path


def library_paths() -> list:
    """What the student's code may read besides the system: Python, its packages, the course library."""
    paths = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(), Path(sys.prefix),
             Path(scratchcnn.__file__).resolve(), Path(course_machinery.__file__).resolve().parent,
             Path(scratchcnn.DEFAULT_DATA_DIR).resolve().parent}              # data/: MNIST and the models
    paths |= {Path(entry).resolve() for entry in sys.path if entry and "site-packages" in entry}
    return sorted(path for path in paths if path.exists())


def bubblewrap_arguments(private_folder: Path, writable=(), environment=None) -> list:
    """bwrap's arguments: the view described at the top, `private_folder` writable (the working
    directory), `writable` folders bound read-write at their own paths (nbgrader's kernel sockets)."""
    arguments = [bubblewrap(), "--unshare-all", "--unshare-user", "--uid", "65534", "--gid", "65534",
                 "--die-with-parent", "--new-session", "--proc", "/proc", "--dev", "/dev",
                 "--tmpfs", "/tmp", "--clearenv"]
    for folder in SYSTEM_FOLDERS:
        if Path(folder).is_dir():
            arguments += ["--ro-bind", folder, folder]
    for link, target in SYSTEM_LINKS.items():
        if Path(link).is_symlink():
            arguments += ["--symlink", target, link]
        elif Path(link).is_dir():
            arguments += ["--ro-bind", link, link]
    for path in library_paths():
        arguments += ["--ro-bind", str(path), str(path)]
    for folder in writable:
        arguments += ["--bind", str(folder), str(folder)]
    arguments += ["--bind", str(private_folder), str(private_folder), "--chdir", str(private_folder)]
    variables = {"HOME": "/tmp", "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "LANG": "C.UTF-8",
                 "MPLBACKEND": "Agg", "MPLCONFIGDIR": "/tmp", "PYTHONDONTWRITEBYTECODE": "1",
                 "NBGRADER_EXECUTION": "autograde", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                 "MKL_NUM_THREADS": "1", **(environment or {})}
    for name, value in variables.items():
        arguments += ["--setenv", name, value]
    return arguments


def make_pids_cgroup(limit: int):
    """A fresh pids cgroup allowing `limit` processes, or None where we may not make one. Folders left by
    launchers that were killed (and so could not remove theirs) are removed first."""
    for root in (PIDS_CGROUP, Path("/sys/fs/cgroup")):
        if not (root / "cgroup.procs").is_file() or not os.access(root, os.W_OK):
            continue
        if root == Path("/sys/fs/cgroup") and "pids" not in (root / "cgroup.subtree_control").read_text():
            continue
        for old in root.glob("scratchcnn-grading-*"):
            if not _alive(old.name.split("-")[2]):      # its maker is gone (killed before it could clean up)
                remove_cgroup(old)
        folder = root / f"scratchcnn-grading-{os.getpid()}-{next(_serial)}"
        try:
            folder.mkdir()
            (folder / "pids.max").write_text(str(limit))
            return folder
        except OSError:
            remove_cgroup(folder)
    return None


def _alive(pid: str) -> bool:
    """True if the process that made a cgroup still runs (another grader's cgroup is not ours to sweep,
    even while it is still empty)."""
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def remove_cgroup(folder) -> None:
    if folder is not None:
        try:
            folder.rmdir()
        except OSError:
            pass


def sandboxed_command(command, private_folder: Path, limits: "Limits | None" = None, writable=(),
                      environment=None, sandbox: str = "bubblewrap", cgroup: "Path | None" = None) -> list:
    """The argv that runs `command` in the sandbox, under `limits` (launch.py applies them; it makes a
    pids cgroup of its own unless given `cgroup`). sandbox="none": limits only, for a grader that
    already runs in a container of its own."""
    limits = limits or Limits()
    settings = dataclasses.asdict(limits)
    settings["cgroup"] = str(cgroup) if cgroup else None
    if sandbox not in ("none", "bubblewrap"):
        raise ValueError(f"sandbox must be 'bubblewrap' or 'none', not {sandbox!r}")
    wrapper = [] if sandbox == "none" else bubblewrap_arguments(private_folder, writable, environment)
    return [sys.executable, "-m", "course_machinery.grading.launch", json.dumps(settings), "--",
            *wrapper, *[str(part) for part in command]]


class SandboxedProcess:
    """A command run in the sandbox, in a process group of its own: `kill` ends everything in it."""

    def __init__(self, command, private_folder: Path, limits: "Limits | None" = None, sandbox="bubblewrap",
                 **popen_options):
        self.limits = limits or Limits()
        self.cgroup = make_pids_cgroup(self.limits.processes)
        argv = sandboxed_command(command, private_folder, self.limits, sandbox=sandbox, cgroup=self.cgroup)
        environment = None
        if sandbox == "none":
            environment = {**os.environ, "NBGRADER_EXECUTION": "autograde", "MPLBACKEND": "Agg"}
        self.process = subprocess.Popen(argv, cwd=private_folder, env=environment, start_new_session=True,
                                        **popen_options)

    def hold_processes(self) -> bool:
        """From now on no new process or thread can start in the sandbox (the kernel refuses the fork):
        a graded answer cannot hand its work to a process the grader does not watch. False where there
        is no pids cgroup to hold."""
        if self.cgroup is None:
            return False
        try:
            (self.cgroup / "pids.max").write_text((self.cgroup / "pids.current").read_text().strip())
            return True
        except OSError:
            return False

    def kill(self) -> None:
        """End the sandbox and everything in it (a detached process included: it shares the group and
        the pid namespace, which ends with its first process)."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass
        for _ in range(50):                              # the pid namespace empties a moment after its init
            remove_cgroup(self.cgroup)
            if self.cgroup is None or not self.cgroup.exists():
                break
            time.sleep(0.02)
