"""The grader: runs the graded tests over a submission in isolated, limited child processes.

Each exercise runs in its own child (``sandbox`` -> pytest + the grading plugin). Results
come back as HMAC-signed lines; the grader trusts nothing else the child says. When a
child dies (exit, kill, timeout, memory) in the middle of a test, that test scores zero
and a new child picks up the remaining tests, so one bad test never costs the others.
The 10-epoch accuracy is decided by the grader itself from the trained weights.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path

from lenet_course.errors import UserError
from lenet_course.targets import EXERCISES, kit_root

log = logging.getLogger(__name__)

MNIST_TEST = "test_ex3_train.py::test_ten_epochs_on_mnist_exceed_95_percent"
PASS_ACCURACY = 95.0


class GraderError(RuntimeError):
    """The grader itself could not run (not the submission's fault)."""


@dataclass(frozen=True)
class Limits:
    """Resource limits for grading; every one has a default sized for this kit."""

    test_seconds: float = 60.0
    """Per graded test, except the 10-epoch training test."""
    train_seconds: float = 900.0
    """The 10-epoch MNIST training test (about 50 s on 2 CPU cores; leave headroom)."""
    submission_seconds: float = 1800.0
    """Everything for one submission; tests not run by then score zero."""
    memory_mb: int = 6144
    """Address-space limit per child process (0: none; use 0 on GPUs, CUDA maps a lot)."""
    network: bool = False
    """Allow network access in the children (default: cut it where the platform allows)."""
    jobs: int = 2
    """Exercises graded at once."""
    threads: int = 0
    """CPU threads per child; 0 shares the cores among the jobs running at once."""

    def __post_init__(self) -> None:
        for name in ("test_seconds", "train_seconds", "submission_seconds"):
            if getattr(self, name) <= 0:
                raise UserError(f"{name} must be positive, got {getattr(self, name)}")
        if self.memory_mb < 0 or self.jobs < 1:
            raise UserError("memory_mb must be >= 0 and jobs >= 1")


@dataclass
class TestResult:
    __test__ = False  # not a pytest test class

    nodeid: str
    exercise: str
    title: str
    max_score: int
    score: int = 0
    status: str = "failed"  # passed | failed | skipped (fast tier)
    message: str = ""
    seconds: float = 0.0


@dataclass
class GradeReport:
    submission: str
    tests: list[TestResult]
    execution_time: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def score(self) -> int:
        return sum(t.score for t in self.tests)

    @property
    def max_score(self) -> int:
        return sum(t.max_score for t in self.tests)

    def by_exercise(self) -> dict[str, list[TestResult]]:
        out: dict[str, list[TestResult]] = {e: [] for e in EXERCISES}
        for t in self.tests:
            out.setdefault(t.exercise, []).append(t)
        return {k: v for k, v in out.items() if v}

    def to_dict(self) -> dict:
        return {
            "submission": self.submission,
            "score": self.score,
            "max_score": self.max_score,
            "execution_time": self.execution_time,
            "notes": self.notes,
            "tests": [asdict(t) for t in self.tests],
        }


def _tests_dir() -> Path:
    path = kit_root() / "tests" / "graded"
    if not path.is_dir():
        raise GraderError(
            f"the graded tests are not at {path}; grading needs the kit's source tree "
            "(install it with `pip install -e .` from a checkout)."
        )
    return path


def _child_env(home: Path, data_root, limits: Limits) -> dict[str, str]:
    keep = ("PATH", "LENET_DATA", "CUDA_VISIBLE_DEVICES", "LANG", "LC_ALL", "TMPDIR")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env.update(
        HOME=str(home),
        MPLBACKEND="Agg",
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONHASHSEED="0",
        MPLCONFIGDIR=str(home / "mpl"),
    )
    # Children share the cores: oversubscribed OpenMP threads spin and slow everyone down.
    threads = str(limits.threads or max(1, (os.cpu_count() or 1) // limits.jobs))
    env.update(OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads)
    if data_root is not None:
        env["LENET_DATA"] = str(Path(data_root).resolve())
    return env


@cache
def catalog() -> tuple[dict, ...]:
    """The graded tests and their points, collected without importing any submission."""
    with tempfile.TemporaryDirectory(prefix="lenet-catalog-") as tmp:
        out = Path(tmp) / "catalog.json"
        cmd = [
            sys.executable, "-m", "pytest", str(_tests_dir()), "--collect-only", "-q",
            "-p", "no:cacheprovider", "--rootdir", str(kit_root()),
            "-c", str(kit_root() / "pyproject.toml"), "--lenet-catalog", str(out),
        ]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp, timeout=300)
        if proc.returncode != 0 or not out.exists():
            raise GraderError(f"could not collect the graded tests:\n{proc.stdout}{proc.stderr}")
        items = json.loads(out.read_text())
    for item in items:
        item["nodeid"] = item["nodeid"].split("tests/graded/", 1)[-1]
    return tuple(items)


def _cuda_visible() -> bool:
    import torch

    return torch.cuda.is_available()


@cache
def network_can_be_cut() -> bool:
    probe = [sys.executable, "-m", "lenet_course.grading.sandbox", "--probe-network"]
    return subprocess.run(probe, capture_output=True, timeout=60).returncode == 0


def copy_submission(submission: Path, dest: Path) -> list[str]:
    """Copy only the four exercise files (never a conftest.py or anything else)."""
    dest.mkdir(parents=True)
    missing = []
    for name in EXERCISES:
        src = submission / f"{name}.py"
        if src.is_file():
            shutil.copyfile(src, dest / f"{name}.py")
        else:
            missing.append(name)
    return missing


def _read_signed(path: Path, key: bytes) -> tuple[list[dict], bool]:
    """The verified records, and whether any line failed verification."""
    records, forged = [], False
    if not path.exists():
        return records, forged
    for line in path.read_text(errors="replace").splitlines():
        try:
            wrapper = json.loads(line)
            body, sig = wrapper["body"], wrapper["sig"]
            good = hmac.compare_digest(
                hmac.new(key, body.encode(), hashlib.sha256).hexdigest(), sig
            )
        except (ValueError, KeyError, TypeError):
            good = False
        if good:
            records.append(json.loads(body))
        else:
            forged = True
    return records, forged


def _verify_accuracy(weights: Path, data_root) -> tuple[bool, str]:
    """The grader's own check of the 10-epoch weights, on its own copy of the test set."""
    import torch

    from lenet_course import data
    from lenet_course.engine import evaluate
    from lenet_course.model import LeNet

    if not weights.is_file():
        return False, "no trained weights were produced, so the grader could not check accuracy"
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
        net = LeNet()
        net.load_state_dict(state, strict=True)
    except Exception as exc:  # any malformed file is the submission's failure
        return False, f"the trained weights could not be loaded as the lecture's LeNet ({exc})"
    x, y = data.load_split(data_root, train=False)
    loader = data.TensorLoader(data.to_inputs(x), y, batch_size=1000, shuffle=False)
    accuracy = evaluate(net, loader, "cpu")
    if accuracy > PASS_ACCURACY:
        return True, f"grader's own evaluation: {accuracy:.2f}% test accuracy"
    return False, f"grader's own evaluation: {accuracy:.2f}% test accuracy, needs more than 95%"


def grade_exercise(
    exercise: str,
    items: list[dict],
    workdir: Path,
    limits: Limits,
    deadline: float,
    data_root,
) -> list[TestResult]:
    """Run one exercise's tests in as many children as it takes; every test gets a result."""
    results = {
        i["nodeid"]: TestResult(i["nodeid"], exercise, i["title"], i["points"]) for i in items
    }
    verdicts: dict[str, tuple[bool, str, float]] = {}
    tampered = ""
    remaining = [i["nodeid"] for i in items]
    artifacts = workdir / f"artifacts-{exercise}"
    artifacts.mkdir()
    home = workdir / f"home-{exercise}"
    home.mkdir()
    attempt = 0
    while remaining:
        now = time.monotonic()
        if now >= deadline:
            for nid in remaining:
                verdicts[nid] = (False, "not run: the submission's time limit was reached", 0.0)
            break
        attempt += 1
        key = secrets.token_hex(32).encode()
        report = workdir / f"report-{exercise}-{attempt}.jsonl"
        budget = 30 + sum(
            limits.train_seconds if MNIST_TEST in n else limits.test_seconds for n in remaining
        )
        timeout = min(budget, deadline - now)
        cmd = [
            sys.executable, "-m", "lenet_course.grading.sandbox", str(limits.memory_mb),
            "on" if limits.network else "off", "--",
            *[str(_tests_dir() / n) for n in remaining],
            "--target", str(workdir / "submission"), "--lenet-report", str(report),
            "--lenet-artifacts", str(artifacts), "-p", "no:cacheprovider", "-q",
            "--rootdir", str(kit_root()), "-c", str(kit_root() / "pyproject.toml"),
            "--timeout", str(limits.test_seconds), "--timeout-method", "thread",
        ]  # fmt: skip
        env = _child_env(home, data_root, limits)
        env["LENET_TRAIN_TIMEOUT"] = str(limits.train_seconds)
        proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            cwd=home, env=env, start_new_session=True,
        )  # fmt: skip
        timed_out = False
        try:
            out, _ = proc.communicate(key + b"\n", timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            out = b""
        finally:
            _kill_group(proc)
        tail = out.decode(errors="replace")[-2000:] if out else ""
        records, forged = _read_signed(report, key)
        if forged:
            tampered = "the test report was forged by student code; this exercise scores zero"
        started = [r["nodeid"] for r in records if r["event"] == "start"]
        for r in records:
            if r["event"] == "result":
                nid = _short(r["nodeid"])
                if nid in results:
                    verdicts[nid] = (r["passed"], r["message"], r.get("seconds", 0.0))
        if not started and not any(_short(r["nodeid"]) in results for r in records):
            if forged:
                for nid in remaining:
                    verdicts[nid] = (False, tampered, 0.0)
                break
            raise GraderError(
                f"the grading child for {exercise} ran no test (exit {proc.returncode}):\n{tail}"
            )
        crashed = [_short(n) for n in started if _short(n) not in verdicts]
        for nid in crashed:
            why = _crash_reason(timed_out, proc.returncode, tail, limits, nid)
            verdicts[nid] = (False, why, 0.0)
        remaining = [n for n in remaining if n not in verdicts]
        if remaining and not crashed and not timed_out:
            for nid in remaining:  # the child ended normally but never reached these
                verdicts[nid] = (False, "the test did not run (the test process ended early)", 0.0)
            remaining = []

    for nid, (passed, message, seconds) in verdicts.items():
        r = results[nid]
        if MNIST_TEST in nid and passed:
            passed, message = _verify_accuracy(artifacts / "ex3_mnist_weights.pt", data_root)
        if tampered:
            passed, message = False, tampered
        r.status = "passed" if passed else "failed"
        r.score = r.max_score if passed else 0
        r.message, r.seconds = message, seconds
    return list(results.values())


def _short(nodeid: str) -> str:
    return nodeid.split("tests/graded/", 1)[-1]


def _crash_reason(timed_out: bool, rc, tail: str, limits: Limits, nid: str) -> str:
    if timed_out or "Timeout" in tail:
        budget = limits.train_seconds if MNIST_TEST in nid else limits.test_seconds
        return f"ran out of time (limit {budget:.0f} s): is there an endless loop or a sleep?"
    if "MemoryError" in tail or rc in (-9, 137) and "Killed" in tail:
        return f"ran out of memory (limit {limits.memory_mb} MB)"
    return (
        f"the test process ended in the middle of this test (exit code {rc}); "
        "does your code call sys.exit, os._exit or kill its own process?"
    )


def _kill_group(proc: subprocess.Popen) -> None:
    """Kill the child and anything it started (background processes included)."""
    import signal

    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def grade(
    submission: Path,
    limits: Limits | None = None,
    *,
    full: bool = True,
    data_root=None,
    on_exercise: Callable[[str, list[TestResult]], None] | None = None,
) -> GradeReport:
    """Grade a folder holding the four exercise files; returns the report (never raises for
    a broken submission, only for a broken grader)."""
    from lenet_course import data

    limits = limits or Limits()
    submission = Path(submission)
    if not submission.is_dir():
        raise UserError(
            f"submission {submission} is not a folder. Fix: pass the folder that holds "
            f"{', '.join(e + '.py' for e in EXERCISES)}."
        )
    start = time.monotonic()
    deadline = start + limits.submission_seconds
    items = catalog()
    notes = []
    skipped = [] if full else [i for i in items if i["slow"]]
    items = [i for i in items if i not in skipped]
    if full:
        data_root = data.prepare(data_root, download=False)
    if limits.memory_mb and _cuda_visible():
        from dataclasses import replace

        limits = replace(limits, memory_mb=0)
        notes.append(
            "memory: the per-process address-space cap is off because CUDA needs a large "
            "address space; cap the container instead (docker run --memory 8g)"
        )
    if not limits.network and not network_can_be_cut():
        notes.append(
            "network: could not be cut for the children here; run the grader in "
            "`docker run --network none` for that"
        )
    with tempfile.TemporaryDirectory(prefix="lenet-grade-") as tmp:
        workdir = Path(tmp)
        missing = copy_submission(submission, workdir / "submission")
        by_ex: dict[str, list[dict]] = {}
        for item in items:
            by_ex.setdefault(item["exercise"], []).append(item)
        results: list[TestResult] = []

        def run(ex: str) -> list[TestResult]:
            if ex in missing:
                out = [TestResult(i["nodeid"], ex, i["title"], i["points"]) for i in by_ex[ex]]
                for r in out:
                    r.message = f"{ex}.py is missing from the submission"
                return out
            return grade_exercise(ex, by_ex[ex], workdir, limits, deadline, data_root)

        with ThreadPoolExecutor(max_workers=limits.jobs) as pool:
            futures = {ex: pool.submit(run, ex) for ex in by_ex}
            for ex, fut in futures.items():
                got = fut.result()
                results.extend(got)
                if on_exercise:
                    on_exercise(ex, got)
    for i in skipped:
        results.append(
            TestResult(
                i["nodeid"], i["exercise"], i["title"], i["points"], status="skipped",
                message="not run in the fast tier; run `lenet-course check --full` for it",
            )
        )  # fmt: skip
    order = {i["nodeid"]: n for n, i in enumerate(catalog())}
    results.sort(key=lambda r: order[r.nodeid])
    return GradeReport(
        submission=str(submission),
        tests=results,
        execution_time=round(time.monotonic() - start, 2),
        notes=notes,
    )
