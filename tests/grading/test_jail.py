"""The jail, probed from inside: a spy submission reports what it could reach.

The spy's ``kernel_change`` tries each breach and returns the outcomes through the ordinary
reply channel: a dict keyed by the breach's name, each a 0/1 flag. These tests run as root in CI, so the uid
drop, the namespaces and the read-only view are exercised for real.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from pathlib import Path

import pytest
import torch

from lenet_course.errors import UserError
from lenet_course.grading import blame
from lenet_course.grading.blame import GraderError
from lenet_course.grading.jail import bwrap, client, levels, limits, paths
from lenet_course.grading.judge.spec import architecture
from lenet_course.kit import kit_root
from tests.grading.conftest import worker_can_start_or_skip

needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="the jail drops privileges only when the grader runs as root"
)
needs_non_root = pytest.mark.skipif(
    os.geteuid() == 0,
    reason="a grader that is not root; `nox -s jail_nonroot` (CI) runs this as another user",
)

SPY = """
import ctypes, os, signal, socket, subprocess, sys, torch

CHECKS = {checks!r}


def _try(fn):
    try:
        fn()
        return 1.0
    except BaseException:
        return 0.0


def _read(path):
    with open(path, "rb") as fh:
        fh.read(1)


def _write(path):
    with open(path, "a") as fh:
        fh.write("pwned")


def _sees_processes():
    if len([p for p in os.listdir("/proc") if p.isdigit()]) <= 20:
        raise OSError("few processes in sight")


def _import(name):
    __import__(name)


def _connect(port):
    socket.create_connection(("127.0.0.1", port), timeout=2).close()


def _udp(port):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(b"pwned", ("127.0.0.1", port))


def _escape():
    # setsid + double fork: a process that tries to outlive the grading
    sleep = "sleep " + CHECKS["escape_seconds"]
    subprocess.Popen(["/bin/sh", "-c", "setsid " + sleep + " & " + sleep], start_new_session=True)


def _signal(pid):
    os.kill(pid, signal.SIGCONT)  # harmless if it arrives; only whether it may is asked


def _ptrace(pid):
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.ptrace(0x4206, pid, 0, 0) != 0:  # PTRACE_SEIZE: attaches without stopping it
        raise OSError(ctypes.get_errno(), "ptrace refused")
    libc.ptrace(17, pid, 0, 0)  # PTRACE_DETACH


def _proc(pid):
    _read("/proc/" + str(pid) + "/environ")


def kernel_change(before, after):
    tried = {{
        "runs as root": float(os.getuid() == 0),
        "sees the host's processes": _try(_sees_processes),
        "reads solutions/": _try(lambda: _read(CHECKS["solution"])),
        "reads tests/": _try(lambda: _read(CHECKS["test"])),
        "reads the reference model": _try(lambda: _read(CHECKS["model"])),
        "imports the reference engine": _try(lambda: _import("lenet_course.engine")),
        "reads a classmate's file": _try(lambda: _read(CHECKS["classmate"])),
        "writes the kit tree": _try(lambda: _write(CHECKS["kit_file"])),
        "writes a .pth into the venv": _try(lambda: _write(CHECKS["pth"])),
        "writes the data": _try(lambda: _write(CHECKS["data_file"])),
        "writes the results folder": _try(lambda: _write(CHECKS["results"])),
        "reaches a server on the host's loopback": _try(lambda: _connect(CHECKS["port"])),
        "writes the host's /tmp": _try(lambda: _write(CHECKS["host_tmp"])),
        "scratch is not a private 0700 folder of its own": float(
            oct(os.stat(".").st_mode)[-3:] != "700" or os.stat(".").st_uid != os.getuid()
        ),
        "cannot write its own scratch": 1.0 - _try(lambda: _write("scratch-file")),
        "reads the submission's original folder": _try(lambda: _read(CHECKS["original"])),
        "reads the judge's results": _try(lambda: _read(CHECKS["judge_results"])),
    }}
    # the judge, then a classmate's worker: signal, ptrace, read /proc
    for who, whose in (("judge_pid", "the judge"), ("classmate_pid", "a classmate's worker")):
        tried["signals " + whose] = _try(lambda: _signal(CHECKS[who]))
        tried["ptraces " + whose] = _try(lambda: _ptrace(CHECKS[who]))
        tried["reads " + whose + "'s /proc"] = _try(lambda: _proc(CHECKS[who]))
    _try(lambda: _udp(CHECKS["udp_port"]))  # the host's side says whether it arrived
    _escape()
    return {{name: torch.tensor([flag]) for name, flag in tried.items()}}
"""
BREACHES = {  # what the spy must report on: a missing one is a spy that did not try it
    "runs as root", "sees the host's processes", "reads solutions/", "reads tests/",
    "reads the reference model", "imports the reference engine", "reads a classmate's file",
    "writes the kit tree", "writes a .pth into the venv", "writes the data",
    "writes the results folder", "reaches a server on the host's loopback",
    "writes the host's /tmp", "scratch is not a private 0700 folder of its own",
    "cannot write its own scratch", "reads the submission's original folder",
    "reads the judge's results", "signals the judge", "ptraces the judge",
    "reads the judge's /proc", "signals a classmate's worker", "ptraces a classmate's worker",
    "reads a classmate's worker's /proc",
}  # fmt: skip


def spied(reply: dict) -> dict[str, bool]:
    """The spy's report, by breach name: whether it succeeded."""
    outcome = {name: bool(flag.item()) for name, flag in reply["change"].items()}
    assert set(outcome) == BREACHES, f"the spy reported {sorted(set(outcome) ^ BREACHES)} amiss"
    return outcome


@pytest.fixture
def listener():
    """A server on the host's loopback that counts connections."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    seen = []
    stop = threading.Event()

    def accept():
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                seen.append(conn)
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1], seen
    stop.set()
    thread.join()
    server.close()


@pytest.fixture
def udp_listener():
    """A UDP socket on the host's loopback; what it received, read after the test."""
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    server.setblocking(False)

    def received() -> list[bytes]:
        got = []
        while True:
            try:
                got.append(server.recv(64))
            except BlockingIOError:
                return got

    yield server.getsockname()[1], received
    server.close()


def jailed_uids() -> set[int]:
    """Uids of the grader's workers that still have a live process (zombies are dead)."""
    return {uid for _, uid in client.live_processes() if uid >= levels.UID_BASE}


def test_a_zombie_is_not_a_live_process():
    """A killed orphan waits in /proc as a zombie until PID 1 reaps it; it runs nothing, so
    hunting a worker's uid must neither wait for it nor count it as a survivor."""
    sleeper = subprocess.Popen(["sleep", "60"])
    done = subprocess.Popen(["true"])
    try:
        status = Path(f"/proc/{done.pid}/status")
        for _ in range(500):  # until `true` has exited and, unwaited, is a zombie
            if "State:\tZ" in status.read_text():
                break
            time.sleep(0.01)
        live = {pid for pid, _ in client.live_processes()}
        assert sleeper.pid in live, "a sleeping process must count as live"
        assert done.pid not in live, "a zombie must not count as live"
    finally:
        sleeper.kill()
        sleeper.wait()
        done.wait()


def spy(tmp_path: Path, port: int, mnist_root: Path, udp_port: int = 9, workdir=None,
        classmate_pid: int | None = None) -> Path:  # fmt: skip
    classmate = tmp_path / "class" / "alice" / "ex1_lenet.py"
    classmate.parent.mkdir(parents=True)
    classmate.write_text("secret = 1\n")
    classmate.chmod(0o644)
    results = tmp_path / "grades" / "results.json"
    results.parent.mkdir()
    results.write_text("{}")
    results.chmod(0o666)
    checks = {
        "solution": str(kit_root() / "solutions" / "ex1_lenet.py"),
        "test": str(kit_root() / "tests" / "graded" / "test_ex1_lenet.py"),
        "model": str(kit_root() / "lenet_course" / "model.py"),
        "classmate": str(classmate),
        "kit_file": str(kit_root() / "README.md"),
        "pth": str(Path(torch.__file__).parent.parent / "zz-pwned.pth"),
        "data_file": str(Path(mnist_root) / "MNIST" / "raw" / "t10k-labels-idx1-ubyte"),
        "results": str(results),
        "port": port,
        "host_tmp": f"/tmp/lenet-jail-escape-{os.getpid()}-{tmp_path.name}",
        "original": str(tmp_path / "spy" / "ex4_kernels.py"),
        "judge_results": str(Path(workdir or tmp_path) / "results-ex4_kernels.jsonl"),
        "udp_port": udp_port,
        "judge_pid": os.getpid(),
        "classmate_pid": classmate_pid or os.getpid(),
        "escape_seconds": escape_seconds(tmp_path),
    }
    if workdir is not None:  # the judge writes its results in the grader's work folder
        Path(workdir).mkdir(parents=True, exist_ok=True)
        Path(checks["judge_results"]).write_text("{}\n")
    folder = tmp_path / "spy"
    folder.mkdir()
    (folder / "ex4_kernels.py").write_text(SPY.format(checks=checks))
    os.chmod(tmp_path, 0o755)
    return folder


def escape_seconds(tmp_path: Path) -> str:
    """The escapee's `sleep` argument, unique to this test, so its survivors can be found."""
    return f"600.{zlib.crc32(str(tmp_path).encode()) % 10**6:06d}"


def survivors(mark: str) -> list[int]:
    """Live processes whose command line holds ``mark``, whatever their uid."""
    found = []
    for pid, _ in client.live_processes():
        try:
            if mark.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(pid)
        except OSError:
            continue
    return found


def _survivors(tmp_path: Path) -> list[int]:
    """Live processes of this test's escapee."""
    return survivors(escape_seconds(tmp_path))


def _require(chosen: str) -> None:
    """CI runs as root with bubblewrap on a kernel with Landlock: both levels must be there."""
    available = {"bwrap": levels.bwrap_works, "landlock": lambda: levels.landlock_abi() >= 1}
    if chosen in available and not available[chosen]():
        pytest.fail(
            f"the {chosen} level must be usable for the grader here "
            "(apt-get install bubblewrap; Linux 5.13 or later with Landlock)"
        )


def _host_files(mnist_root: Path) -> dict[Path, int]:
    files = (
        kit_root() / "README.md",
        Path(mnist_root) / "MNIST" / "raw" / "t10k-labels-idx1-ubyte",
    )
    return {p: p.stat().st_mtime_ns for p in files}


def _run_spy(folder: Path, mnist_root: Path, workdir: Path):
    """The spy in a worker at the level in force: the worker, its ping and what it could do."""
    worker = client.Worker("ex4_kernels", folder, limits=limits.Limits(),
                           data_root=mnist_root, workdir=workdir)  # fmt: skip
    try:
        ping = worker.call("ping", timeout=120)
        outcome = spied(worker.call("ex4.change", timeout=60, before={}, after={}))
    finally:
        worker.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return worker, ping, sorted(name for name, succeeded in outcome.items() if succeeded)


def _assert_host_untouched(tmp_path: Path, before: dict, listener, udp_listener) -> None:
    """Seen from the host: no connection, no datagram, no file written, no survivor."""
    assert not listener[1], "the worker reached a server on the host's loopback"
    assert not udp_listener[1](), "the worker's UDP datagrams reached the host's loopback"
    assert not Path(torch.__file__).parent.parent.joinpath("zz-pwned.pth").exists()
    assert not list(Path("/tmp").glob(f"lenet-jail-escape-*-{tmp_path.name}"))
    assert {p: p.stat().st_mtime_ns for p in before} == before
    time.sleep(0.5)
    assert not _survivors(tmp_path), "the worker's setsid + double fork outlived it"


@needs_root
@pytest.mark.parametrize("forced", ["bwrap", "landlock"])
def test_the_jail_blocks_every_breach_and_kills_escapees(
    tmp_path, monkeypatch, listener, udp_listener, mnist_root, forced
):
    """bubblewrap hides what it does not bind; Landlock refuses to open it. Either way the
    worker reads no answer, no classmate and no result, writes only its scratch and reaches
    no server."""
    _require(forced)
    monkeypatch.setattr(levels, "level", lambda: forced)
    worker_can_start_or_skip(forced)
    before = _host_files(mnist_root)
    workdir = Path(tempfile.mkdtemp(prefix="lenet-test-"))  # the grader's, in /tmp as in grade()
    folder = spy(tmp_path, listener[0], mnist_root, udp_listener[0], workdir)
    worker, ping, breaches = _run_spy(folder, mnist_root, workdir)
    assert ping["uid"] >= levels.UID_BASE
    if forced == "bwrap":
        assert ping["pid"] < 10 and ping["cwd"] == "/scratch", "bwrap: a PID namespace, /scratch"
    assert not breaches, f"the worker jailed at the {forced} level could: {breaches}"
    _assert_host_untouched(tmp_path, before, listener, udp_listener)
    assert worker.uid not in jailed_uids(), "a process started by the worker outlived it"


@needs_non_root
@pytest.mark.parametrize("forced", ["bwrap", "landlock"])
def test_without_root_the_jail_blocks_every_breach_and_kills_escapees(
    tmp_path, monkeypatch, listener, udp_listener, mnist_root, forced
):
    """A grader that is not root (the image's own user, a laptop, a JupyterHub): bubblewrap in
    a user namespace, or Landlock under the grader's own uid. Same uid means new threats:
    signalling, ptracing or reading /proc of the judge and of a classmate's worker (a process
    of the grader's uid outside the worker's domain); each must fail, and the escapee too."""
    _require(forced)
    monkeypatch.setattr(levels, "level", lambda: forced)
    worker_can_start_or_skip(forced)
    before = _host_files(mnist_root)
    classmate = subprocess.Popen(["sleep", "120"])
    workdir = Path(tempfile.mkdtemp(prefix="lenet-test-"))
    folder = spy(tmp_path, listener[0], mnist_root, udp_listener[0], workdir,
                 classmate_pid=classmate.pid)  # fmt: skip
    try:
        _, ping, breaches = _run_spy(folder, mnist_root, workdir)
    finally:
        alive = classmate.poll() is None
        classmate.kill()
        classmate.wait()
    assert ping["uid"] == os.getuid(), "without root the worker keeps the grader's uid"
    assert alive, "the classmate's worker was killed"
    assert not breaches, f"the worker jailed at the {forced} level without root could: {breaches}"
    _assert_host_untouched(tmp_path, before, listener, udp_listener)


@needs_root
def test_reduced_level_still_drops_the_uid_and_kills_everything_it_started(
    tmp_path, monkeypatch, listener, mnist_root
):
    """Where bubblewrap is refused (Docker's default seccomp), root still drops the uid."""
    monkeypatch.setattr(levels, "level", lambda: "reduced")
    worker_can_start_or_skip("reduced")
    port, _ = listener
    # the grader's work folder sits in /tmp (1777), where the worker's uid can reach its own
    workdir = Path(tempfile.mkdtemp(prefix="lenet-test-"))
    worker = client.Worker("ex4_kernels", spy(tmp_path, port, mnist_root),
                         limits=limits.Limits(), workdir=workdir)  # fmt: skip
    try:
        ping = worker.call("ping", timeout=120)
        outcome = spied(worker.call("ex4.change", timeout=60, before={}, after={}))
    finally:
        worker.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    assert ping["uid"] >= levels.UID_BASE
    for breach in ("runs as root", "writes the kit tree", "writes a .pth into the venv",
                   "writes the data", "scratch is not a private 0700 folder of its own",
                   "cannot write its own scratch"):  # fmt: skip
        assert not outcome[breach], f"at the reduced level the worker still {breach}"
    time.sleep(0.5)
    assert worker.uid not in jailed_uids(), "a process started by the worker outlived it"


def test_without_root_the_worker_is_a_plain_child_process(tmp_path, monkeypatch, mnist_root):
    """A student's own `check` on a laptop: same protocol, no jail."""
    monkeypatch.setattr(levels, "level", lambda: "none")
    worker = client.Worker("ex3_train", kit_root() / "solutions", limits=limits.Limits(),
                         data_root=mnist_root, workdir=tmp_path)  # fmt: skip
    mnist = {"kind": "mnist", "permutation": list(range(10)), "batch_size": 1000}
    try:
        ping = worker.call("ping", timeout=120)
        obs = worker.call("ex3.train", timeout=120, spec=architecture(), seed=0, epochs=0,
                          lr=1e-3, train={**mnist, "train": False}, test={**mnist, "train": False})  # fmt: skip
    finally:
        worker.stop()
    assert ping["uid"] == os.getuid() and Path(ping["cwd"]).parent == tmp_path
    assert obs["records"] == [], "the worker reads MNIST from the real folder outside the jail"


ASKER = """
import getpass, os, torch

CACHES = ("HOME", "XDG_CACHE_HOME", "TORCHINDUCTOR_CACHE_DIR", "TRITON_CACHE_DIR", "MPLCONFIGDIR")


def _try(fn):
    try:
        return float(bool(fn()))
    except BaseException:
        return 0.0


def _dynamo():
    import torch._dynamo  # noqa: F401 - torch 2.11 imports it inside Adam(); it asks getuser()
    return True


def _adam_step():
    layer = torch.nn.Linear(3, 1)
    before = layer.weight.detach().clone()
    opt = torch.optim.Adam(layer.parameters(), lr=0.1)
    layer(torch.ones(2, 3)).sum().backward()
    opt.step()
    return not torch.equal(before, layer.weight)


def kernel_change(before, after):
    home = os.path.realpath(os.getcwd())
    flags = [
        _try(lambda: getpass.getuser() == os.environ["USER"] == os.environ["LOGNAME"]),
        _try(_dynamo),
        _try(_adam_step),
        _try(lambda: torch.backends.cpu.get_cpu_capability() == "CAPABILITY"),
    ] + [
        _try(lambda v=v: os.path.realpath(os.environ[v]).startswith(home)) for v in CACHES
    ]
    return {"conv1": torch.tensor(flags), "conv2": torch.zeros(1)}
"""
ASKED = [
    "getpass.getuser() answers from USER/LOGNAME",
    "import torch._dynamo",
    "an Adam step",
    "torch picks the grader's CPU kernels (it reads /proc/cpuinfo; others round differently)",
] + [
    f"{v} lies in the worker's scratch"
    for v in (
        "HOME",
        "XDG_CACHE_HOME",
        "TORCHINDUCTOR_CACHE_DIR",
        "TRITON_CACHE_DIR",
        "MPLCONFIGDIR",
    )
]


@needs_root
@pytest.mark.parametrize("forced", ["bwrap", "landlock", "reduced", "none"])
def test_libraries_that_ask_who_the_user_is_work_at_every_level(tmp_path, monkeypatch, forced):
    """The worker's uid has no passwd entry. torch 2.11's Adam() imports torch._dynamo, which
    asks getpass.getuser() for its cache folder: the worker must be told its name and where
    its caches go, or every training test fails for a reason that is not the student's."""
    _require(forced)
    monkeypatch.setattr(levels, "level", lambda: forced)
    worker_can_start_or_skip(forced)
    folder = tmp_path / "asker"
    folder.mkdir()
    capability = torch.backends.cpu.get_cpu_capability()
    (folder / "ex4_kernels.py").write_text(ASKER.replace("CAPABILITY", capability))
    os.chmod(tmp_path, 0o755)
    workdir = Path(tempfile.mkdtemp(prefix="lenet-test-"))
    worker = client.Worker("ex4_kernels", folder, limits=limits.Limits(), workdir=workdir)
    try:
        flags = worker.call("ex4.change", timeout=120, before={}, after={})["change"]["conv1"]
    finally:
        worker.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    failed = [name for name, flag in zip(ASKED, flags.tolist(), strict=True) if not flag]
    assert not failed, f"inside a worker at the {forced} level these failed: {failed}"


@needs_root
@pytest.mark.parametrize("forced", ["bwrap", "landlock"])
def test_a_gpu_worker_gets_the_driver_nodes_and_still_starts(tmp_path, monkeypatch, forced):
    """The GPU branch of the jail, run on every machine: the device nodes (and the system
    paths CUDA reads) are let in, and a worker started for a GPU answers; on a CPU machine
    there are no nodes to let in."""
    nodes = ("/dev/nvidia0", "/dev/nvidiactl")
    args = " ".join(bwrap.bwrap_args(tmp_path, None, gpu=True, gpu_devices=nodes))
    assert (
        all(f"--dev-bind-try {n} {n}" in args for n in nodes) and "--ro-bind-try /sys /sys" in args
    )
    assert "/dev/nvidia" not in " ".join(bwrap.bwrap_args(tmp_path, None, gpu=False))
    rules = paths.landlock_rules(tmp_path, tmp_path, None, gpu=True, gpu_devices=nodes)
    assert set(nodes) <= set(rules["write"])
    assert all(any(r.startswith(p) for r in rules["read"]) for p in paths.SYSTEM_READ_GPU
               if os.path.exists(p))  # fmt: skip
    plain = paths.landlock_rules(tmp_path, tmp_path, None, gpu=False, gpu_devices=nodes)
    assert not set(nodes) & set(plain["write"])
    monkeypatch.setattr(levels, "level", lambda: forced)
    worker_can_start_or_skip(forced)
    workdir = Path(tempfile.mkdtemp(prefix="lenet-test-"))
    worker = client.Worker("ex1_lenet", kit_root() / "solutions", limits=limits.Limits(),
                         workdir=workdir, gpu=True)  # fmt: skip
    try:
        assert worker.call("ping", timeout=120)["uid"] >= levels.UID_BASE
    finally:
        worker.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.mark.parametrize("how", ["exits", "says something else"])
def test_a_worker_that_dies_before_its_ready_message_is_the_graders_failure(
    tmp_path, monkeypatch, how
):
    """No submitted code runs before the worker says it is confined and ready, so a worker
    that cannot get there (an interpreter its uid cannot run, a broken install) is the
    grader's failure, with the worker's stderr for the instructor, never the student's."""
    fake = tmp_path / "python"
    body = "echo 'cannot import lenet_course' >&2; exit 3" if how == "exits" else "echo hello"
    fake.write_text(f"#!/bin/sh\n{body}\n")
    fake.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(fake))
    monkeypatch.setattr(levels, "level", lambda: "none")
    worker = client.Worker("ex1_lenet", kit_root() / "solutions", limits=limits.Limits(),
                           workdir=tmp_path)  # fmt: skip
    try:
        with pytest.raises(blame.GraderFault) as caught:
            worker.call("ping", timeout=30)
    finally:
        worker.stop()
    message = str(caught.value)
    assert "no student code had run" in message, message
    if how == "exits":
        assert "exit code 3" in message and "cannot import lenet_course" in message, message
    else:
        assert "hello" in message, message


@pytest.fixture
def fresh_level(monkeypatch):
    """level() chosen anew, under the settings the test makes, and forgotten after it."""
    levels.level.cache_clear()
    monkeypatch.delenv(levels.ENV_VAR, raising=False)
    yield monkeypatch
    levels.level.cache_clear()


@pytest.mark.parametrize(
    ("root", "bwrap", "abi", "chosen"),
    [(True, True, 7, "bwrap"), (True, False, 7, "landlock"), (True, False, 1, "landlock"),
     (True, False, 0, "reduced"), (False, True, 7, "bwrap"), (False, False, 7, "landlock"),
     (False, False, 1, "landlock"), (False, False, 0, "none")],
)  # fmt: skip
def test_the_grader_chooses_the_strongest_level_the_machine_gives(
    fresh_level, root, bwrap, abi, chosen
):
    """Root or not: a grader that is not root gets bubblewrap in a user namespace, else
    Landlock under its own uid; only where neither works does its student code run bare."""
    fresh_level.setattr(levels, "is_root", lambda: root)
    fresh_level.setattr(levels, "bwrap_works", lambda: bwrap)
    fresh_level.setattr(levels, "landlock_abi", lambda: abi)
    assert levels.level() == chosen, (
        f"with bubblewrap {'usable' if bwrap else 'refused'} and Landlock ABI {abi} the "
        f"grader must choose {chosen}"
    )


@pytest.mark.parametrize(("root", "setting", "chosen"), [
    (True, "bwrap", "bwrap"), (True, "landlock", "landlock"), (True, "reduced", "reduced"),
    (False, "bwrap", "bwrap"), (False, "landlock", "landlock"), (False, "none", "none"),
])  # fmt: skip
def test_lenet_jail_forces_a_level_for_every_user(fresh_level, root, setting, chosen):
    fresh_level.setattr(levels, "is_root", lambda: root)
    fresh_level.setattr(levels, "bwrap_works", lambda: True)
    fresh_level.setattr(levels, "landlock_abi", lambda: 7)
    fresh_level.setenv(levels.ENV_VAR, setting)
    assert levels.level() == chosen, f"LENET_JAIL={setting} must give the {chosen} level"


@pytest.mark.parametrize(
    ("root", "setting", "why"),
    [
        (True, "bwrap", "bubblewrap cannot start"),
        (True, "landlock", "no Landlock"),
        (True, "bars", "not a jail level"),
        (False, "bwrap", "user namespaces"),
        (False, "landlock", "no Landlock"),
        (False, "reduced", "needs a grader running as root"),
    ],
)
def test_a_forced_level_the_machine_cannot_give_is_an_error_not_a_fallback(
    fresh_level, root, setting, why
):
    fresh_level.setattr(levels, "is_root", lambda: root)
    fresh_level.setattr(levels, "bwrap_works", lambda: False)
    fresh_level.setattr(levels, "landlock_abi", lambda: 0)
    fresh_level.setenv(levels.ENV_VAR, setting)
    with pytest.raises(UserError, match=why) as caught:
        levels.level()
    assert "Fix:" in str(caught.value), "the error must say how to get a level"


def test_every_level_names_itself_in_the_report(monkeypatch):
    for chosen in ("bwrap", "landlock", "reduced", "none"):
        assert levels.LEVEL_NOTES[chosen].startswith(f"isolation: {chosen} ("), chosen
    monkeypatch.setattr(levels, "is_root", lambda: False)
    for chosen, named in (("bwrap", "bwrap, user namespace"), ("landlock", "landlock, own uid"),
                          ("none", "none")):  # fmt: skip
        assert levels.note(chosen).startswith(f"isolation: {named} ("), chosen


@needs_root
def test_a_worker_whose_uid_cannot_start_python_is_a_grader_error(tmp_path, monkeypatch):
    """A venv in a folder other users cannot enter (root's home, a `mktemp -d` folder): every
    test would fail as if the student's code had died. The grader stops first, naming the
    folder and the fix."""
    closed = tmp_path / "closed"
    closed.mkdir(mode=0o700)
    (closed / "python").symlink_to(sys.executable)
    monkeypatch.setattr(sys, "executable", str(closed / "python"))
    client.check_worker_starts.cache_clear()
    try:
        with pytest.raises(GraderError) as caught:
            client.check_worker_starts("reduced")
    finally:
        client.check_worker_starts.cache_clear()
    message = str(caught.value)
    assert str(closed) in message and "Fix:" in message, message


def test_a_kit_installed_inside_the_python_prefix_stays_unreadable_at_landlock(tmp_path):
    """`pip install .` (not -e) puts the reference modules in site-packages, inside a prefix
    the worker may read: the rules must split that tree around the kit's package."""
    site = tmp_path / "prefix" / "lib" / "site-packages"
    package = site / "lenet_course"
    for folder in (package, site / "torch", tmp_path / "prefix" / "bin"):
        folder.mkdir(parents=True)
    (site / "six.py").write_text("")
    read, listed = paths.readable_except(tmp_path / "prefix", package)
    assert not [p for p in read if Path(p) == package or package in Path(p).parents], read
    assert {str(site / "torch"), str(site / "six.py"), str(tmp_path / "prefix" / "bin")} <= set(
        read
    ), "everything else in the prefix must stay readable"
    assert str(site) in listed, "site-packages must stay listable, for Python's import"


STUCK = '''"""Exercise 4, stuck in a loop after printing its progress."""
for step in range(30):
    print(f"step {step}")
while True:
    step += 1
'''


def test_a_timeout_shows_the_line_running_and_the_last_lines_printed(tmp_path):
    """A student whose code runs out of time sees where it was and what it printed last:
    plain text from the worker's stderr, bounded, never a verdict."""
    folder = tmp_path / "stuck"
    folder.mkdir()
    (folder / "ex4_kernels.py").write_text(STUCK)
    os.chmod(tmp_path, 0o755)
    workdir = Path(tempfile.mkdtemp(prefix="lenet-test-"))
    worker = client.Worker("ex4_kernels", folder, limits=limits.Limits(), workdir=workdir)
    try:
        worker.call("ping", timeout=120)
        with pytest.raises(blame.StudentFailure) as failed:
            worker.call("ex4.change", timeout=5, before={}, after={})
    finally:
        worker.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    said = str(failed.value)
    assert "ran out of time (limit 5 s)" in said, said
    assert re.search(r"It was running line [45] of ex4_kernels\.py \(in <module>\)", said), said
    assert "step 29" in said and "step 9\n" not in said, f"the last 20 lines, no more:\n{said}"
    assert "Thread 0x" not in said and "File " not in said, f"the raw stack is not shown:\n{said}"


def test_last_words_keep_the_students_prints_and_the_innermost_exercise_frame():
    tail = (
        "loss 0.5\nloss 0.4\nTimeout (0:00:04.500000)!\n"
        "Thread 0x00007f (most recent call first):\n"
        '  File "/usr/lib/python3/torch/nn/modules/module.py", line 1 in _call_impl\n'
        '  File "/scratch/sub/ex3_train.py", line 42 in train\n'
        '  File "/opt/kit/lenet_course/grading/sandbox/probes.py", line 9 in train\n'
    )
    said = client.last_words(tail)
    assert "It was running line 42 of ex3_train.py (in train)" in said, said
    assert said.endswith("loss 0.5\nloss 0.4"), said
    assert client.last_words("") == ""
    long = "\n".join(f"x{i}" for i in range(100))
    assert client.last_words(long).splitlines()[1:] == [f"x{i}" for i in range(80, 100)]
