"""Start a grading child under limits, then become pytest: ``python -m lenet_course.grading.sandbox
MEMORY_MB NETWORK -- PYTEST_ARGS...``.

Runs inside the child, so the grader's own process stays free of ``preexec_fn`` (which is
unsafe with threads). It sets an address-space limit, disables core dumps, and where the
platform allows (Linux, with the privilege to create namespaces) moves the child into an
empty network namespace. Otherwise it carries on and the grader notes that the network
was not cut; ``docker run --network none`` closes it for the whole container.
"""

from __future__ import annotations

import ctypes
import os
import resource
import sys

CLONE_NEWNET = 0x40000000


def cut_network() -> bool:
    """Move this process into a fresh network namespace with no interfaces up."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.unshare(CLONE_NEWNET) == 0
    except (OSError, AttributeError):
        return False


def main(argv: list[str]) -> None:
    if argv == ["--probe-network"]:
        sys.exit(0 if cut_network() else 1)
    memory_mb, network = int(argv[0]), argv[1]
    assert argv[2] == "--"
    if memory_mb > 0:
        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if network == "off":
        cut_network()  # the grader probed beforehand and reports whether this works
    # The grader's one-time key arrives on stdin; hand it to the plugin through a pipe that
    # the plugin drains and closes at start-up, before any student code is imported.
    key = sys.stdin.buffer.readline().strip()
    read_end, write_end = os.pipe()
    os.write(write_end, key + b"\n")
    os.close(write_end)
    os.set_inheritable(read_end, True)
    args = [*argv[3:], "--lenet-key-fd", str(read_end)]
    os.execv(sys.executable, [sys.executable, "-m", "pytest", *args])


if __name__ == "__main__":
    main(sys.argv[1:])
