"""``python -I -m lenet_course.grading.jail.reaper WORKER...``: the parent of a worker that
runs under the grader's own uid (no uid of its own to hunt, no PID namespace to drop).

It makes itself the child subreaper, starts the worker with its own stdin, stdout and stderr,
then lets go of them, so the judge talks to the worker alone and sees the end of its output
when the worker dies. Everything the worker starts, a double fork or ``setsid`` included,
re-parents to this process rather than to init. When the worker ends, this process kills all
that is left under it and then ends as the worker ended (its exit code, or its signal), so the
judge reads the same status it would have read from the worker. Submitted code never runs
here: the worker confines itself after this process has started it.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import time

_PR_SET_CHILD_SUBREAPER = 36


def descendants(root: int) -> list[int]:
    """Live descendants of ``root``, from the parent field of /proc/PID/stat."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] not in ("Z", "X"):
            children.setdefault(int(fields[1]), []).append(int(name))
    found, todo = [], list(children.get(root, []))
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


def kill_all_under(root: int) -> None:
    """SIGKILL every descendant of ``root`` and reap its own children, until none is left."""
    for _ in range(500):
        left = descendants(root)
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        while True:  # reap the adopted orphans, so that they leave /proc
            try:
                if os.waitpid(-1, os.WNOHANG)[0] == 0:
                    break
            except ChildProcessError:
                break
        if not left:
            return
        time.sleep(0.01)


def main(argv: list[str]) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        sys.exit(f"reaper: PR_SET_CHILD_SUBREAPER refused: {os.strerror(ctypes.get_errno())}")
    worker = os.fork()
    if worker == 0:
        try:
            os.execv(argv[0], argv)
        finally:
            os._exit(127)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):  # the worker's channels are the worker's alone
        os.dup2(devnull, fd)
    for stop in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):  # the judge is done with it
        signal.signal(stop, lambda *_: (kill_all_under(os.getpid()), os._exit(137)))
    _, status = os.waitpid(worker, 0)
    kill_all_under(os.getpid())
    if os.WIFSIGNALED(status):
        signal.signal(os.WTERMSIG(status), signal.SIG_DFL)
        os.kill(os.getpid(), os.WTERMSIG(status))
    os._exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 1)


if __name__ == "__main__":
    main(sys.argv[1:])
