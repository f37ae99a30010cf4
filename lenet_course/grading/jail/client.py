"""The judge's side of the worker protocol (:mod:`~lenet_course.grading.sandbox.protocol`):
start a worker at this machine's level, send it requests, read its replies, and kill it with
everything it started."""

from __future__ import annotations

import collections
import collections.abc
import functools
import json
import logging
import os
import re
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict
from pathlib import Path

from lenet_course.grading.blame import GraderError, GraderFault, StudentFailure
from lenet_course.grading.jail import levels
from lenet_course.grading.jail.bwrap import DROP, bwrap_args, nvidia_devices
from lenet_course.grading.jail.levels import ENV_VAR, UID_BASE
from lenet_course.grading.jail.limits import Limits
from lenet_course.grading.jail.paths import closed_folder, landlock_rules, package_dir
from lenet_course.grading.jail.reaper import descendants
from lenet_course.grading.sandbox import protocol
from lenet_course.kit import EXERCISES

log = logging.getLogger(__name__)
READY_SECONDS = 180.0
"""How long a worker may take to confine itself and import torch before its ready message."""


@functools.cache
def check_worker_starts(chosen: str) -> None:
    """Once per process, before grading: a worker at level ``chosen`` starts and answers.

    Where the worker's uid cannot run this Python or import the kit's runtime, every test
    would fail as if the student's code had died; this raises :class:`GraderError` instead,
    naming the folder and the fix."""
    if chosen not in ("reduced", "landlock") or not levels.is_root():
        return  # without root the worker runs as this uid, which can run this Python

    workdir = Path(tempfile.mkdtemp(prefix="lenet-preflight-"))
    empty = workdir / "empty"
    empty.mkdir()
    worker = Worker("ex1_lenet", empty, limits=Limits(), workdir=workdir)
    worker.level = chosen
    try:
        worker.call("ping", timeout=120)
    except (StudentFailure, GraderFault):
        tail = worker.stderr_tail().strip()[-800:]
        closed = closed_folder()
        if closed is not None:
            raise GraderError(
                f"the jailed worker runs as an unprivileged uid and cannot enter {closed} "
                f"(mode {stat.S_IMODE(closed.stat().st_mode):04o}), which holds this Python "
                f"({sys.executable}) or the kit ({package_dir()}). Fix: install the kit and "
                "its virtual environment in a folder every user may enter (for example "
                f"/opt/lenet-course, as the Docker image does), or run `chmod o+x {closed}`."
            ) from None
        raise GraderError(
            f"the jailed worker (level {levels.note(chosen).split(' (')[0]}) could not start: "
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


def _kill_tree(pid: int) -> None:
    """Stop the worker's reaper ``pid`` (:mod:`.reaper`), then SIGKILL its descendants until
    none is left: a double fork or ``setsid`` re-parents to the reaper, not to init."""
    try:
        os.kill(pid, signal.SIGSTOP)  # no new children while its tree is walked
    except OSError:
        return
    for _ in range(50):
        found = descendants(pid)
        if not found:
            return
        for child in found:
            try:
                os.kill(child, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.02)


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
        limits: Limits,
        data_root: Path | None = None,
        standin: dict | None = None,
        workdir: Path,
        gpu: bool = False,
    ) -> None:
        self.exercise = exercise
        self.submission = Path(submission).resolve()
        self.limits = limits if limits.threads else limits.per_worker()
        self.data_root = data_root
        self.standin = standin
        self.workdir = Path(workdir)
        self.gpu = gpu
        self.level = levels.level()
        self.proc: subprocess.Popen | None = None
        self._buffer = bytearray()
        self._tail = bytearray()  # the last TAIL_BYTES the worker wrote to stderr
        self._tail_lock = threading.Lock()
        self._ids = 0
        self.uid = 0

    # -- lifecycle --------------------------------------------------------------------------

    def _reaps(self) -> bool:
        """Whether the worker runs as the grader's own uid outside a PID namespace, so that
        what it starts is found as the descendants of its reaper (:mod:`.reaper`), not by uid."""
        return self.level in ("landlock", "none") and not levels.is_root()

    def _config(self, submission: str, confine: dict | None = None) -> str:
        if self.data_root is None:
            data = None  # this worker holds no MNIST
        elif self.level == "bwrap":
            data = protocol.JAIL_DATA  # bound read-only there
        else:
            data = str(Path(self.data_root).resolve())
        return json.dumps(
            {
                "submission": submission,
                "data": data,
                "standin": self.standin,
                "threads": self.limits.threads,
                "landlock": confine,
                "shared_uid": self._reaps(),
                "limits": {**asdict(self.limits), "cpu_seconds": self.limits.cpu_seconds},
            }
        )

    def _bwrap_command(self, python: list[str], root: bool, uid: str) -> list[str]:
        """The worker in bubblewrap: as root it drops to ``uid`` inside (:data:`DROP`)."""
        name = worker_name(self.uid) if root else _own_name()
        env = _environment(protocol.JAIL_SCRATCH, self.limits.threads, name)
        args = bwrap_args(
            self.submission,
            self.data_root,
            gpu=self.gpu,
            as_root=root,
            gpu_devices=nvidia_devices() if self.gpu else (),
        )
        for k, v in env.items():
            args += ["--setenv", k, v]
        config = self._config(protocol.JAIL_SUBMISSION)
        if root:
            return [*args, "--", "/bin/sh", "-c", DROP, "jail", uid, *python, config]
        return [*args, "--", *python, config]

    def _command(self) -> tuple[list[str], dict[str, str], str]:
        # -I (isolated) where the jail matters; a student's own check keeps their user site.
        isolated = ["-I"] if self.level != "none" else []
        python = [sys.executable, *isolated, "-m", "lenet_course.grading.sandbox.worker"]
        if self._reaps():  # a parent that outlives the worker and adopts all it starts
            python = [sys.executable, "-I", "-m", "lenet_course.grading.jail.reaper", *python]
        root = levels.is_root()
        uid = str(UID_BASE + secrets.randbelow(800_000)) if root else str(os.getuid())
        self.uid = int(uid)
        if self.level == "bwrap":
            return self._bwrap_command(python, root, uid), {}, "/"
        self.workdir.mkdir(parents=True, exist_ok=True)
        scratch = Path(self.workdir) / f"scratch-{self.exercise}-{secrets.token_hex(4)}"
        scratch.mkdir(mode=0o700)
        dropped = root and self.level in ("reduced", "landlock")  # to a uid of its own
        user = worker_name(self.uid) if dropped else _own_name()
        env = _environment(str(scratch), self.limits.threads, user)
        config = self._config(str(self.submission))
        if self.level in ("reduced", "landlock"):
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
            if dropped:
                drop = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]
                drop += ["--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]
                return [*drop, *python, config], env, str(scratch)
            return [*python, config], env, str(scratch)
        env["PATH"] = os.environ.get("PATH", env["PATH"])
        return [*python, config], env, str(scratch)

    def start(self) -> None:
        cmd, env, cwd = self._command()
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env or None,
            cwd=cwd,
            start_new_session=True,
        )
        self._buffer = bytearray()
        with self._tail_lock:
            self._tail.clear()
        self._drainer = threading.Thread(target=self._drain, args=(self.proc.stderr,), daemon=True)
        self._drainer.start()
        self._await_ready()

    def _await_ready(self) -> None:
        """Wait for the worker's word that it is confined and ready, sent before it imports
        any submitted code. A death or silence before it is the grader's failure."""
        line = b""
        try:
            line = protocol.read_line(
                self.proc.stdout.fileno(), self._buffer, time.monotonic() + READY_SECONDS
            )
            if json.loads(line) == protocol.READY:
                return
            why = f"it sent {line[:200]!r} instead of its ready message"
        except protocol.WorkerGone as exc:
            try:
                code = self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                code = None
            why = "it was silent" if exc.timed_out else f"it ended with exit code {code}"
        except (protocol.ProtocolError, ValueError):
            why = f"it sent {line[:200]!r} instead of its ready message"
        self.stop()
        self._drainer.join(timeout=5)  # all it wrote before it died
        tail = self.stderr_tail().strip()[-1500:]
        raise GraderFault(
            f"the grader's worker (level {self.level}) did not start before it reached the "
            f"submission: {why}; no student code had run. Its stderr: {tail or '(empty)'}. Fix: "
            f"check that `{sys.executable} -I -c 'import torch, lenet_course'` runs for the "
            f"worker's user, or, to check your own work on your own machine, set {ENV_VAR}=none.",
            tail,
        )

    def _drain(self, stream) -> None:
        for chunk in iter(lambda: stream.read1(4096), b""):
            with self._tail_lock:  # bounded by bytes: a print per line is a chunk per line
                self._tail += chunk
                del self._tail[:-TAIL_BYTES]

    def stderr_tail(self, chars: int = 4000) -> str:
        with self._tail_lock:
            return bytes(self._tail).decode(errors="replace")[-chars:]

    def stop(self) -> None:
        """Kill the worker and everything it started; the namespace goes with it."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if self._reaps():
            _kill_tree(proc.pid)  # before the reaper of its orphans is gone
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        proc.wait()
        if self.level in ("reduced", "landlock"):  # no PID namespace: hunt down what it started
            if levels.is_root():
                _kill_uid(self.uid)  # a uid of its own
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
        request = protocol.dumps(
            {"id": self._ids, "op": op, "seconds": timeout, "args": protocol.encode(args)}
        )
        deadline = time.monotonic() + timeout
        try:
            self.proc.stdin.write(request)
            self.proc.stdin.flush()
            reply = protocol.read_reply(
                self.proc.stdout.fileno(), self._buffer, self._ids, deadline
            )
        except (BrokenPipeError, protocol.ProtocolError) as exc:
            failure = StudentFailure(self._why_failed(exc, timeout))  # it stops the worker
            failure.timed_out = isinstance(exc, protocol.WorkerGone) and exc.timed_out
            raise failure from None
        if not reply["ok"]:
            if reply["fault"] == "grader":
                raise GraderFault(reply["error"], reply["trace"])
            raise StudentFailure(reply["error"])
        return reply["value"]

    def _why_failed(self, exc: Exception, timeout: float) -> str:
        what = self._what_happened(exc, timeout)
        self.stop()  # its stderr then ends, and the drain has all it wrote: no race with the
        self._drainer.join(timeout=5)  # stack it dumped at its deadline, however loaded the host
        return what + last_words(self.stderr_tail(TAIL_BYTES))

    def _what_happened(self, exc: Exception, timeout: float) -> str:
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


TAIL_BYTES = 16_384  # of a worker's stderr, kept for the messages after a failure
PRINTED_LINES, PRINTED_CHARS = 20, 2000  # of the student's output, shown after a failure
_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+) in (?P<func>.+)$')


def last_words(tail: str) -> str:
    """What a student needs after a timeout, a crash or a memory kill, from the worker's
    stderr: the line of their code it was running (the stack the worker dumps just before
    its deadline: innermost frame in an exercise file) and the last lines their code printed.
    Plain text for the student to read; nothing here decides a grade."""
    running, printed = "", []
    in_dump = False
    for line in tail.splitlines():
        if line.startswith("Timeout (") or line.startswith(("Thread 0x", "Current thread 0x")):
            in_dump = True
            continue
        frame = _FRAME.match(line) if in_dump else None
        if frame:
            name = frame["file"].rsplit("/", 1)[-1]
            if not running and name.removesuffix(".py") in EXERCISES:
                running = f"line {frame['line']} of {name} (in {frame['func'].strip()})"
            continue
        in_dump = False
        printed.append(line)
    shown = "\n".join(printed[-PRINTED_LINES:]).strip()[-PRINTED_CHARS:]
    said = f" It was running {running}." if running else ""
    if shown:
        said += f" The last lines your code printed:\n{shown}"
    return said
