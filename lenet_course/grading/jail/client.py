"""The jail: start a worker for one exercise, talk to it, and kill it with all it started.

Four levels, chosen once per grading process and written into every report. The strongest
the machine allows is chosen: ``bwrap`` if bubblewrap starts, else ``landlock`` if the kernel
offers Landlock, else ``uid`` (named "reduced" to users). ``LENET_JAIL=bwrap|landlock|reduced``
forces one; a forced level the machine cannot give is an error, never a quiet fallback.

``bwrap`` (root with bubblewrap)
    New PID, network, IPC and UTS namespaces; the worker dies with the grader, and every
    process it started dies with it. The filesystem is read-only and holds only the
    system, Python and its packages, the student runtime of the kit, the submission's own
    files and, for training, MNIST. ``solutions/``, ``tests/``, the kit's reference
    modules, the class folder, the results and other workers do not exist in there. The
    one writable place is a private 0700 tmpfs, ``/scratch``. The worker then drops to an
    unprivileged uid of its own, with no capabilities and ``no_new_privs``.
``landlock`` (root without a usable bubblewrap, e.g. Docker's default seccomp profile, on a
    kernel with Landlock: Linux 5.13 or later)
    An unprivileged uid of its own, a new session and rlimits, as at ``uid``; then, before
    it imports torch or any student code, the worker confines itself
    (:mod:`~lenet_course.grading.landlock`): it can read only the Python prefixes, the kit's
    :data:`RUNTIME_FILES`, its own copy of the submission, MNIST where the test trains and
    the system paths of :func:`landlock_rules`; it can write only its scratch folder; it
    cannot open a socket other than ``AF_UNIX``, nor connect or bind TCP. Processes stay
    visible by number (no PID namespace), and each one it starts is killed by its uid.
``uid`` (reported as "reduced": root without bubblewrap and without Landlock)
    An unprivileged uid of its own, a new session and rlimits; the filesystem is not
    hidden and the network is not cut. The report says so.
``none`` (not root: a student's own ``check``)
    A plain child process with rlimits. Integrity is the student's own business there.
"""

from __future__ import annotations

import collections
import collections.abc
import functools
import json
import logging
import os
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from lenet_course.errors import UserError
from lenet_course.grading import protocol

log = logging.getLogger(__name__)

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
    "grading/protocol.py",
    "grading/probes.py",
    "grading/worker.py",
    "grading/landlock.py",
)
ENV_VAR = "LENET_JAIL"
"""Forces an isolation level: ``bwrap``, ``landlock`` or ``reduced``."""
FORCED = {"bwrap": "bwrap", "landlock": "landlock", "reduced": "uid"}
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
LEVEL_NOTES = {
    "bwrap": "isolation: bwrap (student code ran as its own uid in new PID and network "
    "namespaces, with a read-only view of the system and a private scratch folder)",
    "landlock": "isolation: landlock (student code ran as its own uid in a new session with "
    "rlimits, confined by Landlock to the system, Python, the kit's runtime and its own "
    "files, writing only its scratch folder, with no network sockets; bubblewrap was not "
    "usable here)",
    "uid": "isolation: reduced (student code ran as its own uid in a new session with "
    "rlimits; neither bubblewrap nor Landlock was usable here, so the filesystem was not "
    "hidden and the network was not cut)",
    "none": "isolation: none (not running as root, so your code ran as a plain child "
    "process; grading on the course platform runs it in a jail)",
}
UID_BASE = 200_000
SCRATCH_MB = 512


class StudentFailure(Exception):
    """The worker could not produce an observation; the message is for the student."""


class GraderFault(Exception):
    """The worker failed with no line of the submission on the stack: the grader's failure
    (its environment, the kit, a library), not the student's. ``trace`` is for the
    instructor."""

    def __init__(self, message: str, trace: str = "") -> None:
        super().__init__(message)
        self.trace = trace


@dataclass(frozen=True)
class WorkerLimits:
    memory_mb: int = 6144
    cpu_seconds: int = 3600
    file_mb: int = 256
    processes: int = 512
    threads: int = 1


def _package_dir() -> Path:
    return Path(__file__).resolve().parent.parent


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _bwrap_works() -> bool:
    if not (shutil.which("bwrap") and shutil.which("setpriv")):
        return False
    probe = _bwrap_args(Path("/nonexistent-submission"), None, gpu=False)
    cmd = [*probe, "--", "/bin/sh", "-c", _DROP, "jail", str(UID_BASE), "/bin/true"]
    try:
        done = subprocess.run(cmd, capture_output=True, timeout=30)
        if done.returncode == 0:
            return True
        log.warning("bubblewrap is installed but failed: %s", done.stderr.decode()[-300:])
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("bubblewrap could not start: %s", exc)
    return False


def _landlock_abi() -> int:
    from lenet_course.grading import landlock

    return landlock.abi() if landlock.network_filter_supported() else 0


def _forced(name: str) -> str:
    """The level ``LENET_JAIL`` names, or a :class:`UserError` saying why it cannot be had."""
    if name not in FORCED:
        raise UserError(
            f"{ENV_VAR}={name} is not a jail level. Fix: set {ENV_VAR} to one of "
            f"{', '.join(FORCED)}, or unset it to let the grader choose the strongest."
        )
    wanted = FORCED[name]
    if not _is_root():
        raise UserError(
            f"{ENV_VAR}={name}: the jail needs the grader to run as root, to give student "
            f"code a uid of its own. Fix: run the grader as root, or unset {ENV_VAR}."
        )
    if not shutil.which("setpriv"):
        raise UserError(f"{ENV_VAR}={name}: setpriv is missing. Fix: apt-get install util-linux.")
    if wanted == "bwrap" and not _bwrap_works():
        raise UserError(
            f"{ENV_VAR}=bwrap: bubblewrap cannot start here (the log says why). Fix: "
            "apt-get install bubblewrap; in Docker, add --cap-add SYS_ADMIN --security-opt "
            "seccomp=unconfined --security-opt apparmor=unconfined; or set "
            f"{ENV_VAR}=landlock."
        )
    if wanted == "landlock" and _landlock_abi() < 1:
        raise UserError(
            f"{ENV_VAR}=landlock: this kernel offers no Landlock (it needs Linux 5.13 or "
            "later with landlock in its lsm= list, on x86_64 or aarch64). Fix: grade on such "
            f"a kernel, or set {ENV_VAR}=reduced to accept a jail that hides no files."
        )
    return wanted


@functools.cache
def level() -> str:
    """The isolation this process gives a worker: forced by ``LENET_JAIL``, else the
    strongest the machine allows."""
    name = os.environ.get(ENV_VAR, "").strip()
    if name:
        return _forced(name)
    if not _is_root():
        return "none"
    if _bwrap_works():
        return "bwrap"
    if not shutil.which("setpriv"):
        return "none"
    if _landlock_abi() >= 1:
        return "landlock"
    log.warning("this kernel offers no Landlock: student code runs at the reduced level")
    return "uid"


# As root inside the sandbox: give /scratch to the worker's uid, then drop to it for good.
_DROP = (
    'u="$1"; shift; chown "$u:$u" /scratch && exec setpriv --reuid="$u" --regid="$u" '
    '--clear-groups --inh-caps=-all --bounding-set=-all --no-new-privs -- "$@"'
)


def nvidia_devices() -> tuple[str, ...]:
    """The NVIDIA device nodes a GPU worker needs bound into its jail (none without a GPU)."""
    return tuple(str(dev) for dev in sorted(Path("/dev").glob("nvidia*")))


def _bwrap_args(
    submission: Path, data_root: Path | None, *, gpu: bool, gpu_devices: tuple[str, ...] = ()
) -> list[str]:
    args = [
        "bwrap", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
        "--unshare-cgroup-try", "--die-with-parent", "--new-session",
        "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_CHOWN",
        "--ro-bind", "/usr", "/usr",
    ]  # fmt: skip
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
    binds: list[tuple[str, str]] = []
    for prefix in dict.fromkeys((sys.base_prefix, sys.prefix)):
        if not prefix.startswith("/usr/") and prefix != "/usr":
            binds.append((prefix, prefix))
    package = _package_dir()
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
    args += [
        "--perms",
        "0700",
        "--size",
        str(SCRATCH_MB * 1024 * 1024),
        "--tmpfs",
        protocol.JAIL_SCRATCH,
    ]
    args += ["--chdir", protocol.JAIL_SCRATCH, "--clearenv"]
    return args


def _readable_except(root: Path, hidden: Path) -> tuple[list[str], list[str]]:
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


def landlock_rules(submission: Path, scratch: Path, data_root: Path | None, *, gpu: bool,
                   gpu_devices: tuple[str, ...] = ()) -> dict[str, list[str]]:  # fmt: skip
    """What a worker at the ``landlock`` level may reach (the keyword arguments of
    :func:`lenet_course.grading.landlock.confine`). The kit's package is left out of every
    tree, even one installed inside a Python prefix; only :data:`RUNTIME_FILES` are
    readable there, and its folders can be listed (Python's import lists them)."""
    package = _package_dir()
    trees = [*SYSTEM_READ, *(SYSTEM_READ_GPU if gpu else ())]
    trees += [sys.base_prefix, sys.prefix, os.path.dirname(os.path.realpath(sys.executable))]
    read: list[str] = []
    listed = [str(package), *sorted({str((package / f).parent) for f in RUNTIME_FILES})]
    for tree in dict.fromkeys(str(Path(t).resolve()) for t in trees):
        if os.path.exists(tree):
            more, folders = _readable_except(Path(tree), package)
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


def _closed_folder() -> Path | None:
    """The first folder on the way to the interpreter, the prefix or the kit that other users
    cannot enter (a venv in root's home, or in a ``mktemp -d`` folder)."""
    targets = (Path(sys.executable).absolute(), Path(os.path.realpath(sys.executable)),
               Path(sys.prefix), _package_dir())  # fmt: skip
    for target in targets:
        for folder in [*reversed(target.parents), target]:
            try:
                mode = folder.stat().st_mode
            except OSError:
                continue
            if stat.S_ISDIR(mode) and not mode & stat.S_IXOTH:
                return folder
    return None


@functools.cache
def check_worker_starts(chosen: str) -> None:
    """Once per process, before grading: a worker at level ``chosen`` starts and answers.

    Where the worker's uid cannot run this Python or import the kit's runtime, every test
    would fail as if the student's code had died; this raises :class:`GraderError` instead,
    naming the folder and the fix."""
    if chosen not in ("uid", "landlock"):
        return
    from lenet_course.grading.catalog import GraderError

    workdir = Path(tempfile.mkdtemp(prefix="lenet-preflight-"))
    empty = workdir / "empty"
    empty.mkdir()
    worker = Worker("ex1_lenet", empty, limits=WorkerLimits(), workdir=workdir)
    worker.level = chosen
    try:
        worker.call("ping", timeout=120)
    except StudentFailure:
        tail = worker.stderr_tail().strip()[-800:]
        closed = _closed_folder()
        if closed is not None:
            raise GraderError(
                f"the jailed worker runs as an unprivileged uid and cannot enter {closed} "
                f"(mode {stat.S_IMODE(closed.stat().st_mode):04o}), which holds this Python "
                f"({sys.executable}) or the kit ({_package_dir()}). Fix: install the kit and "
                "its virtual environment in a folder every user may enter (for example "
                f"/opt/lenet-course, as the Docker image does), or run `chmod o+x {closed}`."
            ) from None
        raise GraderError(
            f"the jailed worker (level {LEVEL_NOTES[chosen].split(' (')[0]}) could not start: "
            f"{tail or 'no output'}. Fix: check that an unprivileged user can run {sys.executable} "
            f"-c 'import lenet_course', or set {ENV_VAR} to another level."
        ) from None
    finally:
        worker.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def worker_name(uid: int) -> str:
    """The user name a jailed worker goes by: its uid has no passwd entry, so a library that
    asks who the user is (``getpass.getuser()``) finds this in USER and LOGNAME instead."""
    return f"lenet-worker-{uid}"


def _own_name() -> str:
    """This process's user name, for a worker that runs as this process's own uid."""
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a uid with no passwd entry, as in `docker run --user 1234`
        return f"uid-{os.getuid()}"


def _environment(home: str, threads: int, user: str) -> dict[str, str]:
    """The worker's whole environment: who it is, and every cache a library may write
    pointed into its scratch ``home`` (the contract holds at every isolation level)."""
    cache = f"{home}/.cache"
    env = {
        "HOME": home,
        "USER": user,
        "LOGNAME": user,
        "TMPDIR": home,
        "XDG_CACHE_HOME": cache,
        "XDG_CONFIG_HOME": f"{home}/.config",
        "TORCH_HOME": f"{cache}/torch",
        "TORCHINDUCTOR_CACHE_DIR": f"{cache}/torchinductor",
        "TRITON_CACHE_DIR": f"{cache}/triton",
        "MPLCONFIGDIR": f"{home}/mpl",
        "MPLBACKEND": "Agg",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
    }
    if "CUDA_VISIBLE_DEVICES" in os.environ:
        env["CUDA_VISIBLE_DEVICES"] = os.environ["CUDA_VISIBLE_DEVICES"]
    return env


def live_processes() -> collections.abc.Iterator[tuple[int, int]]:
    """``(pid, real uid)`` of every process that can still run. Zombies are left out: they
    are dead, and an orphan's zombie stays in /proc until PID 1 reaps it (1.6 s under the
    CI container's PID 1, which is no init)."""
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines())
            if fields["State"].split()[0] not in ("Z", "X"):
                yield int(status.parent.name), int(fields["Uid"].split()[0])
        except (OSError, ValueError, KeyError):
            continue


def _kill_uid(uid: int) -> None:
    """SIGKILL every live process whose real uid is ``uid`` (root only), until none is left."""
    for _ in range(50):
        found = False
        for pid, owner in live_processes():
            if owner == uid:
                found = True
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        if not found:
            return
        time.sleep(0.02)


class Worker:
    """One exercise's jailed worker, restarted after anything that leaves it in doubt."""

    def __init__(
        self,
        exercise: str,
        submission: Path,
        *,
        limits: WorkerLimits,
        data_root: Path | None = None,
        standin: dict | None = None,
        workdir: Path,
        gpu: bool = False,
    ) -> None:
        self.exercise = exercise
        self.submission = Path(submission).resolve()
        self.limits = limits
        self.data_root = data_root
        self.standin = standin
        self.workdir = Path(workdir)
        self.gpu = gpu
        self.level = level()
        self.proc: subprocess.Popen | None = None
        self._buffer = bytearray()
        self._tail: collections.deque[bytes] = collections.deque(maxlen=64)
        self._ids = 0
        self.uid = 0

    # -- lifecycle --------------------------------------------------------------------------

    def _config(self, submission: str, confine: dict | None = None) -> str:
        if self.data_root is None:
            data = None  # this worker holds no MNIST
        elif self.level == "bwrap":
            data = protocol.JAIL_DATA  # bound read-only there
        else:
            data = str(Path(self.data_root).resolve())
        return json.dumps({
            "submission": submission,
            "data": data,
            "standin": self.standin,
            "threads": self.limits.threads,
            "landlock": confine,
            "limits": {
                "memory_mb": self.limits.memory_mb, "cpu_seconds": self.limits.cpu_seconds,
                "file_mb": self.limits.file_mb, "processes": self.limits.processes,
            },
        })  # fmt: skip

    def _command(self) -> tuple[list[str], dict[str, str], str]:
        # -I (isolated) where the jail matters; a student's own check keeps their user site.
        isolated = ["-I"] if self.level != "none" else []
        python = [sys.executable, *isolated, "-m", "lenet_course.grading.worker"]
        uid = str(UID_BASE + secrets.randbelow(800_000))
        self.uid = int(uid)
        if self.level == "bwrap":
            env = _environment(protocol.JAIL_SCRATCH, self.limits.threads, worker_name(self.uid))
            args = _bwrap_args(self.submission, self.data_root, gpu=self.gpu,
                               gpu_devices=nvidia_devices() if self.gpu else ())  # fmt: skip
            for k, v in env.items():
                args += ["--setenv", k, v]
            cmd = [*args, "--", "/bin/sh", "-c", _DROP, "jail", uid, *python,
                   self._config(protocol.JAIL_SUBMISSION)]  # fmt: skip
            return cmd, {}, "/"
        self.workdir.mkdir(parents=True, exist_ok=True)
        scratch = Path(self.workdir) / f"scratch-{self.exercise}-{secrets.token_hex(4)}"
        scratch.mkdir(mode=0o700)
        dropped = self.level in ("uid", "landlock")
        user = worker_name(self.uid) if dropped else _own_name()
        env = _environment(str(scratch), self.limits.threads, user)
        config = self._config(str(self.submission))
        if dropped:
            os.chmod(self.workdir, 0o711)
            os.chown(scratch, int(uid), int(uid))
            # A read-only copy of the files the worker may read, where its uid can reach them.
            readable = Path(self.workdir) / f"submission-{secrets.token_hex(4)}"
            readable.mkdir(mode=0o755)
            for src in self.submission.glob("*.py"):
                shutil.copyfile(src, readable / src.name)
                os.chmod(readable / src.name, 0o644)
            confine = None
            if self.level == "landlock":
                confine = landlock_rules(
                    readable,
                    scratch,
                    self.data_root,
                    gpu=self.gpu,
                    gpu_devices=nvidia_devices() if self.gpu else (),
                )
            config = self._config(str(readable), confine)
            drop = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                    "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]  # fmt: skip
            return [*drop, *python, config], env, str(scratch)
        env["PATH"] = os.environ.get("PATH", env["PATH"])
        return [*python, config], env, str(scratch)

    def start(self) -> None:
        cmd, env, cwd = self._command()
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=env or None, cwd=cwd, start_new_session=True,
        )  # fmt: skip
        self._buffer = bytearray()
        self._tail.clear()
        threading.Thread(target=self._drain, args=(self.proc.stderr,), daemon=True).start()

    def _drain(self, stream) -> None:
        for chunk in iter(lambda: stream.read1(4096), b""):
            self._tail.append(chunk)

    def stderr_tail(self) -> str:
        return b"".join(self._tail).decode(errors="replace")[-4000:]

    def stop(self) -> None:
        """Kill the worker and everything it started; the namespace goes with it."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        proc.wait()
        if self.level in ("uid", "landlock"):  # no PID namespace: hunt down its uid
            _kill_uid(self.uid)
        for stream in (proc.stdin, proc.stdout):
            try:
                stream.close()
            except OSError:
                pass

    # -- calls ------------------------------------------------------------------------------

    def call(self, op: str, *, timeout: float, **args) -> dict:
        """Run probe ``op`` in the worker; the observation, or :class:`StudentFailure` (the
        student's failure) or :class:`GraderFault` (the grader's)."""
        if self.proc is None or self.proc.poll() is not None:
            self.stop()
            self.start()
        self._ids = secrets.randbits(52)  # not guessable: a reply written ahead cannot match
        request = protocol.dumps({"id": self._ids, "op": op, "args": protocol.encode(args)})
        deadline = time.monotonic() + timeout
        try:
            self.proc.stdin.write(request)
            self.proc.stdin.flush()
            reply = protocol.read_reply(
                self.proc.stdout.fileno(), self._buffer, self._ids, deadline
            )
        except (BrokenPipeError, protocol.ProtocolError) as exc:
            why = self._why_failed(exc, timeout)
            self.stop()
            raise StudentFailure(why) from None
        if not reply["ok"]:
            if reply["fault"] == "grader":
                raise GraderFault(reply["error"], reply["trace"])
            raise StudentFailure(reply["error"])
        return reply["value"]

    def _why_failed(self, exc: Exception, timeout: float) -> str:
        if isinstance(exc, protocol.WorkerGone) and exc.timed_out:
            return f"ran out of time (limit {timeout:.0f} s): is there an endless loop or a sleep?"
        if isinstance(exc, protocol.WorkerGone) or isinstance(exc, BrokenPipeError):
            try:
                code = self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                code = None
            tail = self.stderr_tail()
            if "MemoryError" in tail or "std::bad_alloc" in tail or code == -signal.SIGKILL:
                return (
                    f"your code's process was killed or ran out of memory (limit "
                    f"{self.limits.memory_mb} MB) in the middle of this test"
                )
            if code == -signal.SIGXCPU:
                return f"ran out of CPU time (limit {self.limits.cpu_seconds} s)"
            return (
                f"your code's process ended in the middle of this test (exit code {code}); "
                "does your code call sys.exit, os._exit or kill its own process?"
            )
        return (
            f"your code's process sent back something that is not a result ({exc}); did "
            "your code write to the grader's channel? This test scores zero."
        )
