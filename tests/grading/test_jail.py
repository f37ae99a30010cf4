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
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
import torch

from lenet_course.errors import UserError
from lenet_course.grading import jail
from lenet_course.grading.catalog import GraderError
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
    subprocess.Popen(["/bin/sh", "-c", "setsid sleep 600 & sleep 600"], start_new_session=True)


def kernel_change(before, after):
    flags = [
        float(os.getuid() == 0),
        _try(_sees_processes),
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
        _try(lambda: _read(CHECKS["original"])),
        _try(lambda: _read(CHECKS["judge_results"])),
    ]
    _try(lambda: _udp(CHECKS["udp_port"]))  # the host's side says whether it arrived
    _escape()
    return {{"conv1": torch.tensor(flags), "conv2": torch.zeros(1)}}
"""
BREACHES = [
    "runs as root", "sees the host's processes", "reads solutions/", "reads tests/",
    "reads the reference model", "imports the reference engine", "reads a classmate's file",
    "writes the kit tree", "writes a .pth into the venv", "writes the data",
    "writes the results folder", "reaches a server on the host's loopback",
    "writes the host's /tmp", "scratch is not a private 0700 folder of its own",
    "cannot write its own scratch", "reads the submission's original folder",
    "reads the judge's results",
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


def spy(tmp_path: Path, port: int, mnist_root: Path, udp_port: int = 9, workdir=None) -> Path:
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
    }
    if workdir is not None:  # the judge writes its results in the grader's work folder
        Path(workdir).mkdir(parents=True, exist_ok=True)
        Path(checks["judge_results"]).write_text("{}\n")
    folder = tmp_path / "spy"
    folder.mkdir()
    (folder / "ex4_kernels.py").write_text(SPY.format(checks=checks))
    os.chmod(tmp_path, 0o755)
    return folder


def _require(chosen: str) -> None:
    """CI runs as root with bubblewrap on a kernel with Landlock: both levels must be there."""
    available = {"bwrap": jail._bwrap_works, "landlock": lambda: jail._landlock_abi() >= 1}
    if chosen in available and not available[chosen]():
        pytest.fail(
            f"the {chosen} level must be usable for the grader here "
            "(apt-get install bubblewrap; Linux 5.13 or later with Landlock)"
        )


def _worker_can_start_or_skip(chosen: str) -> None:
    """Where an unprivileged uid cannot run this Python (a venv in a folder closed to other
    users), the grader must say so before grading: check its error, then skip with it."""
    try:
        jail.check_worker_starts(chosen)
    except GraderError as exc:
        assert "Fix:" in str(exc), f"the grader's error must name the fix: {exc}"
        pytest.skip(f"a jailed worker cannot start here, and the grader says why: {exc}")


@needs_root
@pytest.mark.parametrize("forced", ["bwrap", "landlock"])
def test_the_jail_blocks_every_breach_and_kills_escapees(
    tmp_path, monkeypatch, listener, udp_listener, mnist_root, forced
):
    """bubblewrap hides what it does not bind; Landlock refuses to open it. Either way the
    worker reads no answer, no classmate and no result, writes only its scratch and reaches
    no server."""
    _require(forced)
    monkeypatch.setattr(jail, "level", lambda: forced)
    _worker_can_start_or_skip(forced)
    port, seen = listener
    udp_port, received = udp_listener
    before = {
        p: p.stat().st_mtime_ns
        for p in (
            kit_root() / "README.md",
            Path(mnist_root) / "MNIST" / "raw" / "t10k-labels-idx1-ubyte",
        )
    }
    workdir = Path(tempfile.mkdtemp(prefix="lenet-test-"))  # the grader's, in /tmp as in grade()
    folder = spy(tmp_path, port, mnist_root, udp_port, workdir)
    worker = jail.Worker("ex4_kernels", folder, limits=jail.WorkerLimits(),
                         data_root=mnist_root, workdir=workdir)  # fmt: skip
    try:
        ping = worker.call("ping", timeout=120)
        flags = worker.call("ex4.change", timeout=60, before={}, after={})["change"]["conv1"]
    finally:
        worker.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    assert ping["uid"] >= jail.UID_BASE
    if forced == "bwrap":
        assert ping["pid"] < 10 and ping["cwd"] == "/scratch", "bwrap: a PID namespace, /scratch"
    breaches = [name for name, flag in zip(BREACHES, flags.tolist(), strict=True) if flag]
    assert not breaches, f"the worker jailed at the {forced} level could: {breaches}"
    assert not seen, "the worker reached a server on the host's loopback"
    assert not received(), "the worker's UDP datagrams reached the host's loopback"
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
    _worker_can_start_or_skip("uid")
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
@pytest.mark.parametrize("forced", ["bwrap", "landlock", "uid", "none"])
def test_libraries_that_ask_who_the_user_is_work_at_every_level(tmp_path, monkeypatch, forced):
    """The worker's uid has no passwd entry. torch 2.11's Adam() imports torch._dynamo, which
    asks getpass.getuser() for its cache folder: the worker must be told its name and where
    its caches go, or every training test fails for a reason that is not the student's."""
    _require(forced)
    monkeypatch.setattr(jail, "level", lambda: forced)
    _worker_can_start_or_skip(forced)
    folder = tmp_path / "asker"
    folder.mkdir()
    capability = torch.backends.cpu.get_cpu_capability()
    (folder / "ex4_kernels.py").write_text(ASKER.replace("CAPABILITY", capability))
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


@needs_root
@pytest.mark.parametrize("forced", ["bwrap", "landlock"])
def test_a_gpu_worker_gets_the_driver_nodes_and_still_starts(tmp_path, monkeypatch, forced):
    """The GPU branch of the jail, run on every machine: the device nodes (and the system
    paths CUDA reads) are let in, and a worker started for a GPU answers; on a CPU machine
    there are no nodes to let in."""
    nodes = ("/dev/nvidia0", "/dev/nvidiactl")
    args = " ".join(jail._bwrap_args(tmp_path, None, gpu=True, gpu_devices=nodes))
    assert (
        all(f"--dev-bind-try {n} {n}" in args for n in nodes) and "--ro-bind-try /sys /sys" in args
    )
    assert "/dev/nvidia" not in " ".join(jail._bwrap_args(tmp_path, None, gpu=False))
    rules = jail.landlock_rules(tmp_path, tmp_path, None, gpu=True, gpu_devices=nodes)
    assert set(nodes) <= set(rules["write"])
    assert all(any(r.startswith(p) for r in rules["read"]) for p in jail.SYSTEM_READ_GPU
               if os.path.exists(p))  # fmt: skip
    plain = jail.landlock_rules(tmp_path, tmp_path, None, gpu=False, gpu_devices=nodes)
    assert not set(nodes) & set(plain["write"])
    monkeypatch.setattr(jail, "level", lambda: forced)
    workdir = Path(tempfile.mkdtemp(prefix="lenet-test-"))
    worker = jail.Worker("ex1_lenet", kit_root() / "solutions", limits=jail.WorkerLimits(),
                         workdir=workdir, gpu=True)  # fmt: skip
    try:
        assert worker.call("ping", timeout=120)["uid"] >= jail.UID_BASE
    finally:
        worker.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def fresh_level(monkeypatch):
    """level() chosen anew, under the settings the test makes, and forgotten after it."""
    jail.level.cache_clear()
    monkeypatch.delenv(jail.ENV_VAR, raising=False)
    yield monkeypatch
    jail.level.cache_clear()


@needs_root
@pytest.mark.parametrize(
    ("bwrap", "abi", "chosen"),
    [(True, 7, "bwrap"), (False, 7, "landlock"), (False, 1, "landlock"), (False, 0, "uid")],
)
def test_the_grader_chooses_the_strongest_level_the_machine_gives(fresh_level, bwrap, abi, chosen):
    fresh_level.setattr(jail, "_bwrap_works", lambda: bwrap)
    fresh_level.setattr(jail, "_landlock_abi", lambda: abi)
    assert jail.level() == chosen, (
        f"with bubblewrap {'usable' if bwrap else 'refused'} and Landlock ABI {abi} the "
        f"grader must choose {chosen}"
    )


@needs_root
@pytest.mark.parametrize(("setting", "chosen"), [("bwrap", "bwrap"), ("landlock", "landlock"),
                                                 ("reduced", "uid")])  # fmt: skip
def test_lenet_jail_forces_a_level(fresh_level, setting, chosen):
    fresh_level.setattr(jail, "_bwrap_works", lambda: True)
    fresh_level.setattr(jail, "_landlock_abi", lambda: 7)
    fresh_level.setenv(jail.ENV_VAR, setting)
    assert jail.level() == chosen, f"LENET_JAIL={setting} must give the {chosen} level"


@needs_root
@pytest.mark.parametrize(
    ("setting", "why"),
    [
        ("bwrap", "bubblewrap cannot start"),
        ("landlock", "no Landlock"),
        ("bars", "not a jail level"),
    ],
)
def test_a_forced_level_the_machine_cannot_give_is_an_error_not_a_fallback(
    fresh_level, setting, why
):
    fresh_level.setattr(jail, "_bwrap_works", lambda: False)
    fresh_level.setattr(jail, "_landlock_abi", lambda: 0)
    fresh_level.setenv(jail.ENV_VAR, setting)
    with pytest.raises(UserError, match=why) as caught:
        jail.level()
    assert "Fix:" in str(caught.value), "the error must say how to get a level"


def test_every_level_names_itself_in_the_report():
    for chosen in ("bwrap", "landlock", "uid", "none"):
        named = {"uid": "reduced"}.get(chosen, chosen)
        assert jail.LEVEL_NOTES[chosen].startswith(f"isolation: {named} ("), chosen


@needs_root
def test_a_worker_whose_uid_cannot_start_python_is_a_grader_error(tmp_path, monkeypatch):
    """A venv in a folder other users cannot enter (root's home, a `mktemp -d` folder): every
    test would fail as if the student's code had died. The grader stops first, naming the
    folder and the fix."""
    closed = tmp_path / "closed"
    closed.mkdir(mode=0o700)
    (closed / "python").symlink_to(sys.executable)
    monkeypatch.setattr(sys, "executable", str(closed / "python"))
    jail.check_worker_starts.cache_clear()
    try:
        with pytest.raises(GraderError) as caught:
            jail.check_worker_starts("uid")
    finally:
        jail.check_worker_starts.cache_clear()
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
    read, listed = jail._readable_except(tmp_path / "prefix", package)
    assert not [p for p in read if Path(p) == package or package in Path(p).parents], read
    assert {str(site / "torch"), str(site / "six.py"), str(tmp_path / "prefix" / "bin")} <= set(
        read
    ), "everything else in the prefix must stay readable"
    assert str(site) in listed, "site-packages must stay listable, for Python's import"
