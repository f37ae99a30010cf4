"""Which isolation level this machine gives a worker, chosen once per grading process and
named in every report (the levels are described in :mod:`lenet_course.grading.jail`)."""

from __future__ import annotations

import functools
import logging
import os
import shutil
import subprocess
from pathlib import Path

from lenet_course.errors import UserError
from lenet_course.grading.jail.bwrap import DROP, bwrap_args

log = logging.getLogger(__name__)
UID_BASE = 200_000
"""The first uid a jailed worker may be given (each worker draws its own above it)."""

ENV_VAR = "LENET_JAIL"
"""Forces an isolation level: ``bwrap``, ``landlock``, ``reduced`` (root only) or ``none``."""

FORCED = {"bwrap": "bwrap", "landlock": "landlock", "reduced": "reduced", "none": "none"}

LEVEL_NOTES = {
    "bwrap": "isolation: bwrap (student code ran as its own uid in new PID and network "
    "namespaces, with a read-only view of the system and a private scratch folder)",
    "landlock": "isolation: landlock (student code ran as its own uid in a new session with "
    "rlimits, confined by Landlock to the system, Python, the kit's runtime and its own "
    "files, writing only its scratch folder, with no network sockets; bubblewrap was not "
    "usable here)",
    "reduced": "isolation: reduced (student code ran as its own uid in a new session with "
    "rlimits; neither bubblewrap nor Landlock was usable here, so the filesystem was not "
    "hidden and the network was not cut)",
    "none": "isolation: none (your code ran as a plain child process of the grader, with "
    "rlimits only; grading on the course platform runs it in a jail)",
}
"""The report line of each level for a grader that runs as root."""

OWN_UID_NOTES = {
    "bwrap": "isolation: bwrap, user namespace (the grader is not root: student code ran in "
    "new user, PID and network namespaces, with a read-only view of the system and a private "
    "scratch folder)",
    "landlock": "isolation: landlock, own uid (the grader is not root: student code ran under "
    "the grader's uid in a new session with rlimits, confined by Landlock to the system, "
    "Python, the kit's runtime and its own files, writing only its scratch folder, with no "
    "network sockets and no signals or ptrace outside its domain where the kernel scopes "
    "them; bubblewrap was not usable here)",
    "none": LEVEL_NOTES["none"],
}
"""The report line of each level for a grader that is not root (no ``reduced`` there: a
uid of its own needs root)."""


def note(chosen: str) -> str:
    """The one line every report carries about the isolation in force."""
    return (LEVEL_NOTES if is_root() else OWN_UID_NOTES)[chosen]


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def bwrap_works() -> bool:
    """Whether bubblewrap starts a jail here: as root, with the drop to a uid of its own; as
    anyone else, in a user namespace (refused where user namespaces are, e.g. Docker's
    default seccomp profile)."""
    root = is_root()
    if not shutil.which("bwrap") or (root and not shutil.which("setpriv")):
        return False
    probe = bwrap_args(Path("/nonexistent-submission"), None, gpu=False, as_root=root)
    inner = ["/bin/sh", "-c", DROP, "jail", str(UID_BASE), "/bin/true"] if root else ["/bin/true"]
    try:
        done = subprocess.run([*probe, "--", *inner], capture_output=True, timeout=30)
        if done.returncode == 0:
            return True
        log.warning("bubblewrap is installed but failed: %s", done.stderr.decode()[-300:])
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("bubblewrap could not start: %s", exc)
    return False


def landlock_abi() -> int:
    from lenet_course.grading.sandbox import landlock

    return landlock.abi() if landlock.network_filter_supported() else 0


def _forced(name: str) -> str:
    """The level ``LENET_JAIL`` names, or a :class:`UserError` saying why it cannot be had."""
    if name not in FORCED:
        raise UserError(
            f"{ENV_VAR}={name} is not a jail level. Fix: set {ENV_VAR} to one of "
            f"{', '.join(FORCED)}, or unset it to let the grader choose the strongest."
        )
    wanted = FORCED[name]
    root = is_root()
    if wanted == "reduced" and not root:
        raise UserError(
            f"{ENV_VAR}=reduced gives student code a uid of its own, which needs a grader "
            f"running as root. Fix: set {ENV_VAR}=landlock or bwrap (both work without root), "
            "or run the grader as root."
        )
    if root and wanted != "none" and not shutil.which("setpriv"):
        raise UserError(f"{ENV_VAR}={name}: setpriv is missing. Fix: apt-get install util-linux.")
    if wanted == "bwrap" and not bwrap_works():
        fix = (
            "in Docker, add --cap-add SYS_ADMIN --cap-add NET_ADMIN --security-opt "
            "seccomp=unconfined --security-opt apparmor=unconfined"
            if root
            else "allow unprivileged user namespaces (Docker's default seccomp profile refuses "
            "them; sysctl kernel.unprivileged_userns_clone=1 or user.max_user_namespaces on "
            "the host)"
        )
        raise UserError(
            f"{ENV_VAR}=bwrap: bubblewrap cannot start here (the log says why). Fix: "
            f"apt-get install bubblewrap; {fix}; or set {ENV_VAR}=landlock."
        )
    if wanted == "landlock" and landlock_abi() < 1:
        raise UserError(
            f"{ENV_VAR}=landlock: this kernel offers no Landlock (it needs Linux 5.13 or "
            "later with landlock in its lsm= list, on x86_64 or aarch64). Fix: grade on such "
            f"a kernel, or set {ENV_VAR}="
            + ("reduced" if root else "bwrap")
            + " to accept another level."
        )
    return wanted


@functools.cache
def level() -> str:
    """The isolation this process gives a worker: forced by ``LENET_JAIL``, else the
    strongest the machine allows, for root and for any other user alike."""
    name = os.environ.get(ENV_VAR, "").strip()
    if name:
        return _forced(name)
    root = is_root()
    if bwrap_works():
        return "bwrap"
    if root and not shutil.which("setpriv"):
        return "none"
    if landlock_abi() >= 1:
        return "landlock"
    if root:
        log.warning("this kernel offers no Landlock: student code runs at the reduced level")
        return "reduced"
    log.warning("no bubblewrap and no Landlock here: student code runs as a plain child process")
    return "none"
