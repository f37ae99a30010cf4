"""What a jailed worker may read and write: the kit's runtime files, the system paths, and
the Landlock rules built from them (the bwrap level binds the same runtime files)."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

# The kit files a worker may read: the student runtime and the worker itself. Nothing here
# answers an exercise (tests/grading/test_jail.py checks that solutions/ and the reference
# modules are out of reach).
RUNTIME_FILES = (
    "__init__.py",
    "errors.py",
    "config.py",
    "runtime.py",
    "data.py",
    "grading/__init__.py",
    "grading/blame.py",
    "grading/sandbox/__init__.py",
    "grading/sandbox/protocol.py",
    "grading/sandbox/probes.py",
    "grading/sandbox/worker.py",
    "grading/sandbox/landlock.py",
)

# System paths a Landlocked worker may read, besides the Python prefixes, and why.
SYSTEM_READ = (
    "/usr",  # the interpreter's shared libraries (libc, libm, libz, libffi, libstdc++, ...)
    "/lib",  # the same on systems without a merged /usr (Landlock checks the resolved path)
    "/lib64",  # the dynamic loader
    "/etc/ld.so.cache",  # the loader's index, for torch's dlopen of system libraries
    "/etc/localtime",  # time.localtime
    "/sys/devices/system/cpu",  # glibc, OpenMP and torch count the CPUs here
    # torch's cpuinfo parses it at import; without it torch falls back from AVX2/AVX-512 to
    # its DEFAULT kernels, whose results differ in the last bits from the judge's
    "/proc/cpuinfo",
    "/dev/urandom",  # torch's default generator is seeded from it when torch loads
)

SYSTEM_WRITE = ("/dev/null",)  # subprocess.DEVNULL and the worker's own stdin

SYSTEM_READ_GPU = ("/sys", "/proc/driver/nvidia")  # the CUDA driver finds its devices here


def package_dir() -> Path:
    return Path(__file__).resolve().parents[2]


def readable_except(root: Path, hidden: Path) -> tuple[list[str], list[str]]:
    """Trees to read and folders to list, so that all of ``root`` but ``hidden`` is readable
    (a Landlock rule covers a whole tree, so a tree that holds ``hidden`` is split)."""
    if root != hidden and root not in hidden.parents:
        return [str(root)], []
    read: list[str] = []
    listed: list[str] = []
    node = root
    for part in hidden.relative_to(root).parts:
        listed.append(str(node))
        step = node / part
        read += [str(child) for child in sorted(node.iterdir()) if child != step]
        node = step
    return read, listed


def landlock_rules(
    submission: Path,
    scratch: Path,
    data_root: Path | None,
    *,
    gpu: bool,
    gpu_devices: tuple[str, ...] = (),
) -> dict[str, list[str]]:
    """What a worker at the ``landlock`` level may reach (the keyword arguments of
    :func:`lenet_course.grading.sandbox.landlock.confine`). The kit's package is left out of every
    tree, even one installed inside a Python prefix; only :data:`RUNTIME_FILES` are
    readable there, and its folders can be listed (Python's import lists them)."""
    package = package_dir()
    trees = [*SYSTEM_READ, *(SYSTEM_READ_GPU if gpu else ())]
    trees += [sys.base_prefix, sys.prefix, os.path.dirname(os.path.realpath(sys.executable))]
    read: list[str] = []
    listed = [str(package), *sorted({str((package / f).parent) for f in RUNTIME_FILES})]
    for tree in dict.fromkeys(str(Path(t).resolve()) for t in trees):
        if os.path.exists(tree):
            more, folders = readable_except(Path(tree), package)
            read += more
            listed += folders
    read.append(str(submission))
    if data_root is not None:  # only a worker that trains is handed MNIST
        read.append(str(Path(data_root).resolve() / "MNIST" / "raw"))
    write = [str(scratch), *SYSTEM_WRITE, *(gpu_devices if gpu else ())]
    return {
        "read": read,
        "list_only": list(dict.fromkeys(listed)),
        "files": [str(package / f) for f in RUNTIME_FILES],
        "write": write,
    }


def closed_folder() -> Path | None:
    """The first folder on the way to the interpreter, the prefix or the kit that other users
    cannot enter (a venv in root's home, or in a ``mktemp -d`` folder)."""
    targets = (
        Path(sys.executable).absolute(),
        Path(os.path.realpath(sys.executable)),
        Path(sys.prefix),
        package_dir(),
    )
    for target in targets:
        for folder in [*reversed(target.parents), target]:
            try:
                mode = folder.stat().st_mode
            except OSError:
                continue
            if stat.S_ISDIR(mode) and not mode & stat.S_IXOTH:
                return folder
    return None
