"""The worker's self-confinement, tried in a bare child process (no torch, no jail)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest

from lenet_course.grading.sandbox import landlock
from lenet_course.kit import kit_root

needs_landlock = pytest.mark.skipif(
    landlock.abi() < 1 or not landlock.network_filter_supported(),
    reason="this kernel offers no Landlock (Linux 5.13 or later, x86_64 or aarch64)",
)

CHILD = """
import json, os, socket, sys
from lenet_course.grading.sandbox import landlock

rules, secret, server = json.loads(sys.argv[1])
landlock.confine(**rules)


def reach(fn):
    try:
        fn()
        return True
    except OSError:
        return False


print(json.dumps({
    "reads what it was given": reach(lambda: open(rules["files"][0]).read()),
    "writes its scratch": reach(lambda: open(rules["write"][0] + "/x", "w").write("x")),
    "opens a UNIX socket": reach(lambda: socket.socket(socket.AF_UNIX).close()),
    "reads a file it was not given": reach(lambda: open(secret).read()),
    "writes outside its scratch": reach(lambda: open(secret + ".pwned", "w").write("x")),
    "lists the processes": reach(lambda: os.listdir("/proc")),
    "connects over TCP": reach(lambda: socket.create_connection(("127.0.0.1", server), 2)),
    "opens a UDP socket": reach(lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM)),
    "opens an IPv6 socket": reach(lambda: socket.socket(socket.AF_INET6)),
}))
"""
MAY = ("reads what it was given", "writes its scratch", "opens a UNIX socket")


@needs_landlock
def test_a_confined_process_reaches_only_what_it_was_given(tmp_path):
    scratch, secret = tmp_path / "scratch", tmp_path / "secret.txt"
    scratch.mkdir()
    secret.write_text("the answer")
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    prefixes = sorted({sys.prefix, sys.base_prefix, "/usr", "/lib", "/lib64"})
    package = kit_root() / "lenet_course"
    rules = {
        "read": prefixes,
        "list_only": [str(package), str(package / "grading")],
        "files": [
            str(package / f) for f in ("__init__.py", "grading/__init__.py", "grading/landlock.py")
        ],  # fmt: skip
        "write": [str(scratch)],
    }
    args = json.dumps([rules, str(secret), server.getsockname()[1]])
    try:
        run = subprocess.run([sys.executable, "-c", CHILD, args], capture_output=True,
                             text=True, timeout=60, cwd=scratch)  # fmt: skip
    finally:
        server.close()
    assert run.returncode == 0, run.stderr[-2000:]
    reached = json.loads(run.stdout)
    assert [k for k in MAY if not reached[k]] == [], f"a confined process must be able to {MAY}"
    breaches = [k for k, v in reached.items() if v and k not in MAY]
    assert not breaches, f"a confined process still: {breaches}"


def test_confine_refuses_to_go_on_without_landlock(monkeypatch):
    """The worker must stop, not run unconfined, where the kernel has no Landlock."""
    monkeypatch.setattr(landlock, "abi", lambda: 0)
    with pytest.raises(landlock.LandlockError, match="no Landlock"):
        landlock.confine(read=["/usr"])
