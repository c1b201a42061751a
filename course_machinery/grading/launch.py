"""Start a command under the sandbox's limits: ``python -m course_machinery.grading.launch LIMITS -- COMMAND``.

LIMITS is the JSON of sandbox.Limits. Resource limits are inherited by everything the command starts;
the number of processes is held by a `pids` cgroup made for this command alone (where the machine lets
us make one) and removed when the command ends. The launcher stays as the command's parent, so killing
it ends a bubblewrap sandbox too (bwrap --die-with-parent).
"""

import json
import os
import resource
import signal
import sys
from pathlib import Path

from course_machinery.grading.sandbox import make_pids_cgroup, remove_cgroup

RLIMITS = {"memory_bytes": resource.RLIMIT_AS, "cpu_seconds": resource.RLIMIT_CPU,
           "file_bytes": resource.RLIMIT_FSIZE, "open_files": resource.RLIMIT_NOFILE}


def main(argv):
    limits, separator, command = json.loads(argv[0]), argv[1], argv[2:]
    if separator != "--" or not command:
        sys.exit("usage: python -m course_machinery.grading.launch LIMITS_JSON -- COMMAND ...")
    given = limits.get("cgroup")
    cgroup = Path(given) if given else make_pids_cgroup(limits["processes"])
    child = os.fork()
    if child == 0:
        try:
            if cgroup is not None:
                (cgroup / "cgroup.procs").write_text(str(os.getpid()))
            for name, limit in RLIMITS.items():
                resource.setrlimit(limit, (limits[name], limits[name]))
            os.execvp(command[0], command)
        except BaseException as error:                   # the grader shows this when the worker never starts
            os.write(2, f"the sandbox launcher failed: {type(error).__name__}: {error}\n".encode())
        finally:
            os._exit(127)
    for forwarded in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(forwarded, lambda number, frame: os.kill(child, number))
    signal.signal(signal.SIGINT, signal.SIG_IGN)        # the kernel is interrupted by message, not by us
    while True:
        try:
            _, status = os.waitpid(child, 0)
            break
        except ChildProcessError:
            status = 0
            break
        except InterruptedError:
            continue
    if not given:
        remove_cgroup(cgroup)
    sys.exit(os.waitstatus_to_exitcode(status) if status else 0)


if __name__ == "__main__":
    main(sys.argv[1:])
