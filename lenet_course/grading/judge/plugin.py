"""pytest plugin for the judge: the process that runs the graded tests.

The judge never imports a submission. Each exercise's student code runs in a jailed
worker (:mod:`~lenet_course.grading.jail`); a graded test asks it for observations
through the exercises' fixtures (``ex1``, ``ex2``, ...) and computes every reference and
comparison itself. Loaded by ``tests/conftest.py``; in a plain ``pytest`` run it adds ``--target``.

With ``--lenet-results FILE`` it writes one JSON line per graded test (passed, failed or
skipped, the student's message, seconds) for the grader to read.
"""

from __future__ import annotations

import json
import secrets
import tempfile
from pathlib import Path

import pytest
import torch

from lenet_course.grading.blame import GraderFault, StudentFailure
from lenet_course.grading.jail.client import Worker
from lenet_course.grading.jail.limits import Limits
from lenet_course.grading.judge import catalog
from lenet_course.kit import EXERCISES

RESULTS_KEY = pytest.StashKey[Path]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("lenet-course")
    group.addoption(
        "--target",
        default="exercises",
        help="what the graded tests check: exercises (default), solutions, or a folder "
        f"holding {EXERCISES[0]}.py ... {EXERCISES[-1]}.py",
    )
    group.addoption("--lenet-results", default=None, help="grader use: JSON-lines results")
    group.addoption("--lenet-catalog", default=None, help="grader use: write the graded tests here")
    group.addoption("--lenet-limits", default="", help="grader use: Limits as JSON")
    group.addoption(
        "--grading-seed",
        type=int,
        default=None,
        help="seed of this run's test cases (default: random)",
    )
    group.addoption(
        "--grading-seeds",
        default=None,
        help="mutation testing: run every graded test once per seed in this comma list",
    )
    group.addoption(
        "--share-timeouts",
        action="store_true",
        help="check: once a student's function ran out of time, later calls of it share that "
        "verdict instead of waiting out their own limit",
    )
    group.addoption(
        "--until-lost",
        action="store_true",
        help="mutation testing: under each seed, skip the tests after a visible test lost a point",
    )


LOST_KEY = pytest.StashKey[set]()  # the seeds under which a visible test has lost its points


def pytest_configure(config: pytest.Config) -> None:
    path = config.getoption("lenet_results", None)
    if path:
        config.stash[RESULTS_KEY] = Path(path)
    config.stash[LOST_KEY] = set()


def _seeds(config: pytest.Config) -> list[int]:
    text = config.getoption("grading_seeds", None)
    return [int(s) for s in text.split(",")] if text else []


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """With ``--grading-seeds``, each test that draws its cases runs once per seed, in one
    judge and one worker (the mutation tests' cost is mostly starting those)."""
    seeds = _seeds(metafunc.config)
    if seeds and "grading_seed" in metafunc.fixturenames:
        metafunc.parametrize(
            "grading_seed", seeds, ids=[f"seed{s}" for s in seeds], scope="session"
        )


def _seed_of(item: pytest.Item) -> int | None:
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("grading_seed") if callspec is not None else None


def _case_name(item: pytest.Item) -> str:
    """The test's name without the seed's id: the same cases come from the same seed
    whether it ran alone (``--grading-seed``) or among others (``--grading-seeds``)."""
    seed = _seed_of(item)
    if seed is None:
        return item.name
    callspec = item.callspec
    ids = [part for part in callspec.id.split("-") if part != f"seed{seed}"]
    return f"{item.originalname}[{'-'.join(ids)}]" if ids else item.originalname


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.config.getoption("until_lost", False) and _seed_of(item) in item.config.stash[LOST_KEY]:
        pytest.skip("not run: a visible test already lost a point under this seed")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "graded" in Path(str(item.fspath)).parts and item.get_closest_marker("points") is None:
            raise pytest.UsageError(f"graded test {item.nodeid} has no @pytest.mark.points(n)")


def pytest_collection_finish(session: pytest.Session) -> None:
    path = session.config.getoption("lenet_catalog", None)
    if path:
        Path(path).write_text(json.dumps(catalog.describe(session.items), indent=1))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    path = item.config.stash.get(RESULTS_KEY, None)
    if path is None:
        return
    if report.when == "call" or (report.when == "setup" and not report.passed):
        trace = ""
        if report.skipped:
            status, message = "skipped", _skip_reason(report)
        elif report.passed:
            status, message = "passed", str(dict(item.user_properties).get("note", ""))
        elif call.excinfo is not None and isinstance(call.excinfo.value, GraderFault):
            status, trace = "error", call.excinfo.value.trace
            message = (
                f"an error of the grader, not of your code ({call.excinfo.value}); no line of "
                "your files was running. Your instructor has the details."
            )
        else:
            status, message = "failed", _message(call)
        if status in ("failed", "error") and item.get_closest_marker("hidden") is None:
            item.config.stash[LOST_KEY].add(_seed_of(item))
        nodeid = catalog.short(item.nodeid).split("[")[0]
        name = _case_name(item)
        if "[" in name:
            nodeid += name[name.index("[") :]
        line = {
            "nodeid": nodeid,
            "status": status,
            "message": message,
            "seconds": round(call.duration, 3),
            "trace": trace,
            "seed": _seed_of(item),
        }
        with path.open("a") as fh:
            fh.write(json.dumps(line) + "\n")


def _skip_reason(report) -> str:
    longrepr = report.longrepr
    return str(longrepr[2]) if isinstance(longrepr, tuple) else str(longrepr)


def _message(call: pytest.CallInfo) -> str:
    """The failure in a student's words: the assertion's message, or the worker's report."""
    if call.excinfo is None:
        return "the test did not finish"
    exc = call.excinfo.value
    if isinstance(exc, AssertionError):
        return str(exc).split("\nassert ")[0].strip() or "an assertion failed"
    if isinstance(exc, pytest.fail.Exception):
        return str(exc.msg)
    return (
        f"the grader hit an error in this test ({type(exc).__name__}: {exc}); tell your instructor"
    )


# --- fixtures the graded tests use --------------------------------------------------------


@pytest.fixture(scope="session")
def target(request: pytest.FixtureRequest) -> Path:
    """The folder holding the submission's exercise files."""
    from lenet_course.kit import resolve

    return resolve(str(request.config.getoption("target")))


@pytest.fixture(scope="session")
def grading_seed(request: pytest.FixtureRequest) -> int:
    """This run's seed: the test cases (inputs, weights, counts, labels) are drawn from it."""
    seed = request.config.getoption("grading_seed")
    return secrets.randbits(31) if seed is None else seed


@pytest.fixture
def rng(grading_seed: int, request: pytest.FixtureRequest) -> torch.Generator:
    """A generator for one test's cases, from the run's seed and the test's name."""
    salt = sum(ord(c) * (i + 1) for i, c in enumerate(_case_name(request.node)))
    return torch.Generator().manual_seed(grading_seed * 1_000_003 + salt)


class Exercise:
    """The judge's handle on one exercise's jailed worker."""

    active: Worker | None = None  # one live worker per judge: an idle one only holds memory

    def __init__(self, worker: Worker, limits: Limits, share_timeouts: bool = False) -> None:
        self.worker = worker
        self.test_seconds = limits.test_seconds
        self.train_seconds = limits.train_seconds
        self.share_timeouts = share_timeouts
        self.timed_out: dict[str, str] = {}  # op -> the message of its first timeout

    def call(self, op: str, *, timeout: float | None = None, **args) -> dict:
        """Run ``op`` on the student's code; a failure there fails the test with its reason.
        A :class:`GraderFault` propagates: the test is then recorded as a grader error.
        With ``share_timeouts`` (``check``), an op that ran out of time fails again at once,
        with the same message: the report then shows one cause, once, not each wait."""
        if op in self.timed_out:
            pytest.fail(self.timed_out[op], pytrace=False)
        if Exercise.active is not None and Exercise.active is not self.worker:
            Exercise.active.stop()
        Exercise.active = self.worker
        try:
            return self.worker.call(op, timeout=timeout or self.test_seconds, **args)
        except StudentFailure as exc:
            if self.share_timeouts and getattr(exc, "timed_out", False):
                self.timed_out[op] = str(exc)
            pytest.fail(str(exc), pytrace=False)


def _limits(config: pytest.Config) -> Limits:
    """The runner's limits, threads fixed; run by hand, the defaults for one judge."""
    return Limits.from_json(config.getoption("lenet_limits") or "").per_worker()


@pytest.fixture(scope="session")
def jail_workdir():
    with tempfile.TemporaryDirectory(prefix="lenet-judge-") as tmp:
        yield Path(tmp)


@pytest.fixture(scope="session")
def worker_factory(request: pytest.FixtureRequest, target: Path, jail_workdir: Path):
    """``make(exercise, data_root=None, standin=None)``: a started-on-demand worker."""
    limits = _limits(request.config)
    workers: list[Worker] = []

    def make(exercise: str, *, data_root=None, standin=None) -> Exercise:
        gpu = torch.cuda.is_available()
        worker = Worker(
            exercise,
            target,
            data_root=data_root,
            standin=standin,
            limits=limits.training() if data_root is not None else limits,
            workdir=jail_workdir,
            gpu=gpu,
        )
        workers.append(worker)
        return Exercise(worker, limits, request.config.getoption("share_timeouts", False))

    yield make
    for w in workers:
        w.stop()
