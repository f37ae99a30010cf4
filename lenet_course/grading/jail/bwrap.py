"""The bubblewrap command line of the ``bwrap`` level: the namespaces, the read-only view of
the system and the runtime files, the private scratch tmpfs, and the drop to the worker's uid."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from lenet_course.grading.jail.paths import RUNTIME_FILES, package_dir
from lenet_course.grading.sandbox import protocol

SCRATCH_MB = 512

# As root inside the sandbox: give /scratch to the worker's uid, then drop to it for good.
DROP = (
    'u="$1"; shift; chown "$u:$u" /scratch && exec setpriv --reuid="$u" --regid="$u" '
    '--clear-groups --inh-caps=-all --bounding-set=-all --no-new-privs -- "$@"'
)


def nvidia_devices() -> tuple[str, ...]:
    """The NVIDIA device nodes a GPU worker needs bound into its jail (none without a GPU)."""
    return tuple(str(dev) for dev in sorted(Path("/dev").glob("nvidia*")))


def _system(gpu: bool, gpu_devices: tuple[str, ...]) -> list[str]:
    """The system, read-only: /usr and its top-level links, a few /etc files, /proc, /dev,
    and for a GPU the driver's device nodes and /sys."""
    args = ["--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/lib", "/lib32", "/lib64", "/sbin"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    for path in ("/etc/ld.so.cache", "/etc/fonts", "/etc/localtime"):
        args += ["--ro-bind-try", path, path]
    args += ["--proc", "/proc", "--dev", "/dev"]
    if gpu:  # the driver's device nodes, and /sys, where CUDA reads the devices' topology
        for dev in gpu_devices:
            args += ["--dev-bind-try", dev, dev]
        args += ["--ro-bind-try", "/sys", "/sys"]
    return args


def bwrap_args(
    submission: Path,
    data_root: Path | None,
    *,
    gpu: bool,
    gpu_devices: tuple[str, ...] = (),
    as_root: bool = True,
) -> list[str]:
    """The bubblewrap options of one worker's jail. ``as_root``: keep the capabilities that
    :data:`DROP` needs to hand the scratch to a uid of its own; else a user namespace, in
    which the worker keeps the grader's uid and bubblewrap drops every capability."""
    args = ["bwrap", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts"]
    args += ["--unshare-cgroup-try", "--die-with-parent", "--new-session"]
    if as_root:
        args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_CHOWN"]
    else:
        args += ["--unshare-user"]
    args += _system(gpu, gpu_devices)
    binds: list[tuple[str, str]] = []
    for prefix in dict.fromkeys((sys.base_prefix, sys.prefix)):
        if not prefix.startswith("/usr/") and prefix != "/usr":
            binds.append((prefix, prefix))
    package = package_dir()
    files = [(str(package / f), str(package / f)) for f in RUNTIME_FILES]
    made: set[str] = {"/", "/usr", "/proc", "/dev"}
    for _, dest in [*binds, *files, (None, protocol.JAIL_SUBMISSION), (None, protocol.JAIL_DATA)]:
        for parent in reversed(Path(dest).parents):
            p = str(parent)
            inside = any(p == b or p.startswith(b + "/") for _, b in binds)
            if p not in made and not inside:
                args += ["--perms", "0755", "--dir", p]
                made.add(p)
    for src, dest in binds:
        args += ["--ro-bind", src, dest]
    # Hide the installed kit package (it holds the reference modules), then show the runtime.
    args += ["--perms", "0755", "--tmpfs", str(package)]
    for sub in {str(Path(d).parent) for _, d in files} - {str(package)}:
        args += ["--perms", "0755", "--dir", sub]
    for src, dest in files:
        args += ["--ro-bind", src, dest]
    args += ["--ro-bind-try", str(submission), protocol.JAIL_SUBMISSION]
    if data_root is not None:
        raw = Path(data_root).resolve() / "MNIST" / "raw"
        for folder in (protocol.JAIL_DATA, f"{protocol.JAIL_DATA}/MNIST"):
            args += ["--perms", "0755", "--dir", folder]
        args += ["--ro-bind", str(raw), f"{protocol.JAIL_DATA}/MNIST/raw"]
    scratch = ["--size", str(SCRATCH_MB * 1024 * 1024), "--tmpfs", protocol.JAIL_SCRATCH]
    args += ["--perms", "0700", *scratch]
    # Everything but /scratch read-only: the folders bwrap made on its way to the binds live
    # in its own tmpfs, which a worker under the grader's uid (a user namespace) could fill.
    args += ["--remount-ro", "/", "--chdir", protocol.JAIL_SCRATCH, "--clearenv"]
    return args
