"""The jail, probed from inside: a spy submission reports what it could reach.

The spy's ``kernel_change`` tries each breach and returns the outcomes as a tensor of
0/1 flags through the ordinary reply channel. These tests run as root in CI, so the uid
drop, the namespaces and the read-only view are exercised for real.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest
import torch

from lenet_course.grading import jail
from lenet_course.grading.spec import architecture
from lenet_course.targets import kit_root

needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="the jail drops privileges only when the grader runs as root"
)

SPY = """
import os, socket, subprocess, sys, torch

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


def _import(name):
    __import__(name)


def _connect(port):
    socket.create_connection(("127.0.0.1", port), timeout=2).close()


def _escape():
    # setsid + double fork: a process that tries to outlive the grading
    subprocess.Popen(["/bin/sh", "-c", "setsid sleep 600 & sleep 600"], start_new_session=True)


def kernel_change(before, after):
    flags = [
        float(os.getuid() == 0),
        float(len([p for p in os.listdir("/proc") if p.isdigit()]) > 20),
        _try(lambda: _read(CHECKS["solution"])),
        _try(lambda: _read(CHECKS["test"])),
        _try(lambda: _read(CHECKS["model"])),
        _try(lambda: _import("lenet_course.engine")),
        _try(lambda: _read(CHECKS["classmate"])),
        _try(lambda: _write(CHECKS["kit_file"])),
        _try(lambda: _write(CHECKS["pth"])),
        _try(lambda: _write(CHECKS["data_file"])),
        _try(lambda: _write(CHECKS["results"])),
        _try(lambda: _connect(CHECKS["port"])),
        _try(lambda: _write(CHECKS["host_tmp"])),
        float(oct(os.stat(".").st_mode)[-3:] != "700" or os.stat(".").st_uid != os.getuid()),
        1.0 - _try(lambda: _write("scratch-file")),
    ]
    _escape()
    return {{"conv1": torch.tensor(flags), "conv2": torch.zeros(1)}}
"""
BREACHES = [
    "runs as root", "sees the host's processes", "reads solutions/", "reads tests/",
    "reads the reference model", "imports the reference engine", "reads a classmate's file",
    "writes the kit tree", "writes a .pth into the venv", "writes the data",
    "writes the results folder", "reaches a server on the host's loopback",
    "writes the host's /tmp", "scratch is not a private 0700 folder of its own",
    "cannot write its own scratch",
]  # fmt: skip


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


def _jailed_uids() -> set[int]:
    """Uids of the grader's workers that still have a live process (zombies are dead)."""
    return {uid for _, uid in jail.live_processes() if uid >= jail.UID_BASE}


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
        live = {pid for pid, _ in jail.live_processes()}
        assert sleeper.pid in live, "a sleeping process must count as live"
        assert done.pid not in live, "a zombie must not count as live"
    finally:
        sleeper.kill()
        sleeper.wait()
        done.wait()


def spy(tmp_path: Path, port: int, mnist_root: Path) -> Path:
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
    }
    folder = tmp_path / "spy"
    folder.mkdir()
    (folder / "ex4_kernels.py").write_text(SPY.format(checks=checks))
    os.chmod(tmp_path, 0o755)
    return folder


@needs_root
def test_bwrap_jail_blocks_every_breach_and_kills_escapees(tmp_path, listener, mnist_root):
    if jail.level() != "bwrap":
        pytest.fail("bubblewrap must be usable for the grader here (apt-get install bubblewrap)")
    port, seen = listener
    before = {
        p: p.stat().st_mtime_ns
        for p in (
            kit_root() / "README.md",
            Path(mnist_root) / "MNIST" / "raw" / "t10k-labels-idx1-ubyte",
        )
    }
    worker = jail.Worker("ex4_kernels", spy(tmp_path, port, mnist_root),
                         limits=jail.WorkerLimits(), data_root=mnist_root, workdir=tmp_path / "w")  # fmt: skip
    try:
        ping = worker.call("ping", timeout=120)
        flags = worker.call("ex4.change", timeout=60, before={}, after={})["change"]["conv1"]
    finally:
        worker.stop()
    assert ping["uid"] >= jail.UID_BASE and ping["pid"] < 10 and ping["cwd"] == "/scratch"
    breaches = [name for name, flag in zip(BREACHES, flags.tolist(), strict=True) if flag]
    assert not breaches, f"the jailed worker could: {breaches}"
    assert not seen, "the worker reached a server on the host's loopback"
    assert not Path(torch.__file__).parent.parent.joinpath("zz-pwned.pth").exists()
    assert not list(Path("/tmp").glob(f"lenet-jail-escape-*-{tmp_path.name}"))
    assert {p: p.stat().st_mtime_ns for p in before} == before
    time.sleep(0.5)
    assert worker.uid not in _jailed_uids(), "a process started by the worker outlived it"


@needs_root
def test_reduced_level_still_drops_the_uid_and_kills_everything_it_started(
    tmp_path, monkeypatch, listener, mnist_root
):
    """Where bubblewrap is refused (Docker's default seccomp), root still drops the uid."""
    monkeypatch.setattr(jail, "level", lambda: "uid")
    port, _ = listener
    # the grader's work folder sits in /tmp (1777), where the worker's uid can reach its own
    workdir = Path(tempfile.mkdtemp(prefix="lenet-test-"))
    worker = jail.Worker("ex4_kernels", spy(tmp_path, port, mnist_root),
                         limits=jail.WorkerLimits(), workdir=workdir)  # fmt: skip
    try:
        ping = worker.call("ping", timeout=120)
        flags = worker.call("ex4.change", timeout=60, before={}, after={})["change"]["conv1"]
    finally:
        worker.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    assert ping["uid"] >= jail.UID_BASE
    outcome = dict(zip(BREACHES, flags.tolist(), strict=True))
    for breach in ("runs as root", "writes the kit tree", "writes a .pth into the venv",
                   "writes the data", "scratch is not a private 0700 folder of its own",
                   "cannot write its own scratch"):  # fmt: skip
        assert not outcome[breach], f"at the reduced level the worker still {breach}"
    time.sleep(0.5)
    assert worker.uid not in _jailed_uids(), "a process started by the worker outlived it"


def test_without_root_the_worker_is_a_plain_child_process(tmp_path, monkeypatch, mnist_root):
    """A student's own `check` on a laptop: same protocol, no jail."""
    monkeypatch.setattr(jail, "level", lambda: "none")
    worker = jail.Worker("ex3_train", kit_root() / "solutions", limits=jail.WorkerLimits(),
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
    ] + [
        _try(lambda v=v: os.path.realpath(os.environ[v]).startswith(home)) for v in CACHES
    ]
    return {"conv1": torch.tensor(flags), "conv2": torch.zeros(1)}
"""
ASKED = ["getpass.getuser() answers from USER/LOGNAME", "import torch._dynamo", "an Adam step"] + [
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
@pytest.mark.parametrize("forced", ["bwrap", "uid", "none"])
def test_libraries_that_ask_who_the_user_is_work_at_every_level(tmp_path, monkeypatch, forced):
    """The worker's uid has no passwd entry. torch 2.11's Adam() imports torch._dynamo, which
    asks getpass.getuser() for its cache folder: the worker must be told its name and where
    its caches go, or every training test fails for a reason that is not the student's."""
    if forced == "bwrap" and jail.level() != "bwrap":
        pytest.fail("bubblewrap must be usable for the grader here (apt-get install bubblewrap)")
    monkeypatch.setattr(jail, "level", lambda: forced)
    folder = tmp_path / "asker"
    folder.mkdir()
    (folder / "ex4_kernels.py").write_text(ASKER)
    os.chmod(tmp_path, 0o755)
    workdir = Path(tempfile.mkdtemp(prefix="lenet-test-"))
    worker = jail.Worker("ex4_kernels", folder, limits=jail.WorkerLimits(), workdir=workdir)
    try:
        flags = worker.call("ex4.change", timeout=120, before={}, after={})["change"]["conv1"]
    finally:
        worker.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    failed = [name for name, flag in zip(ASKED, flags.tolist(), strict=True) if not flag]
    assert not failed, f"inside a worker at the {forced} level these failed: {failed}"


def test_a_gpu_worker_gets_the_driver_nodes_and_sys_and_still_starts(tmp_path):
    """The GPU branch of the jail, run on every machine: the device nodes and /sys are bound
    in, and a worker started for a GPU answers (on a CPU machine there are no nodes)."""
    args = jail._bwrap_args(
        tmp_path, None, gpu=True, gpu_devices=("/dev/nvidia0", "/dev/nvidiactl")
    )
    text = " ".join(args)
    assert "--dev-bind-try /dev/nvidia0 /dev/nvidia0" in text
    assert "--dev-bind-try /dev/nvidiactl /dev/nvidiactl" in text
    assert "--ro-bind-try /sys /sys" in text
    assert "/dev/nvidia" not in " ".join(jail._bwrap_args(tmp_path, None, gpu=False))
    worker = jail.Worker("ex1_lenet", kit_root() / "solutions", limits=jail.WorkerLimits(),
                         workdir=tmp_path / "w", gpu=True)  # fmt: skip
    try:
        assert worker.call("ping", timeout=120)["pid"] > 0
    finally:
        worker.stop()
