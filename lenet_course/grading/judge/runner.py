"""The grader: one submission in, a :class:`GradeReport` out.

For each exercise it starts a judge, a pytest process over that exercise's graded tests
(:mod:`~lenet_course.grading.judge.plugin`). The judge never imports the submission: the
student's code runs in jailed workers (:mod:`~lenet_course.grading.jail`), and every
reference, comparison and verdict is computed in the judge from plain data. The judge
writes its results to a file in the grader's own folder, which no worker can see; this
process reads that JSON and nothing else.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from lenet_course.errors import UserError
from lenet_course.grading.blame import GraderError
from lenet_course.grading.jail import levels
from lenet_course.grading.jail.client import check_worker_starts
from lenet_course.grading.jail.limits import Limits
from lenet_course.grading.judge.catalog import catalog, hidden_tests, tests_dir
from lenet_course.kit import EXERCISES, kit_root

__all__ = ["GradeReport", "TestResult", "grade", "grade_under_seeds"]

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 64 * 1024  # the solutions are ~3 KB each; weights smuggled in text are not


@dataclass
class TestResult:
    __test__ = False  # not a pytest test class

    nodeid: str
    exercise: str
    title: str
    max_score: int
    score: int = 0
    status: str = "failed"  # passed | failed | skipped | error (the grader's, not the student's)
    message: str = ""
    seconds: float = 0.0
    hidden: bool = False  # kept out of the student release; graded on submission
    trace: str = ""  # with status "error": the traceback, for the instructor


@dataclass
class GradeReport:
    submission: str
    tests: list[TestResult]
    execution_time: float = 0.0
    notes: list[str] = field(default_factory=list)
    isolation: str = ""
    fingerprint: str = ""  # SHA-256 over the exercise files graded
    grading_seed: int | None = None  # the cases drawn: `grade --seed` replays this grade
    tier: str = ""  # "full", or "fast": without the 10-epoch training tests (their points 0)

    @property
    def score(self) -> int:
        return sum(t.score for t in self.tests)

    @property
    def max_score(self) -> int:
        return sum(t.max_score for t in self.tests)

    @property
    def grader_errors(self) -> list[TestResult]:
        """Tests the grader could not judge: the total is incomplete while there are any."""
        return [t for t in self.tests if t.status == "error"]

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
            # the total is the whole grade: no grader errors, and not the fast tier's part
            "complete": not self.grader_errors and self.tier != "fast",
            "tier": self.tier,
            "execution_time": self.execution_time,
            "isolation": self.isolation,
            "fingerprint": self.fingerprint,
            "grading_seed": self.grading_seed,
            "notes": self.notes,
            "tests": [asdict(t) for t in self.tests],
        }


def fingerprint(submission: Path) -> str:
    """SHA-256 over the exercise files (name and bytes); absent files count as absent."""
    h = hashlib.sha256()
    for name in EXERCISES:
        path = Path(submission) / f"{name}.py"
        h.update(name.encode() + b"\0")
        if path.is_file() and not path.is_symlink():
            h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def copy_submission(submission: Path, dest: Path) -> dict[str, str]:
    """Copy only the four exercise files, as plain files; the problem with each one not copied."""
    dest.mkdir(parents=True)
    os.chmod(dest, 0o755)
    problems = {}
    for name in EXERCISES:
        src = submission / f"{name}.py"
        try:
            fd = os.open(src, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except FileNotFoundError:
            problems[name] = f"{name}.py is missing from the submission"
            continue
        except OSError:
            problems[name] = f"{name}.py is not a plain file (a link?); submit the file itself"
            continue
        with os.fdopen(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                problems[name] = f"{name}.py is not a plain file; submit the file itself"
                continue
            text = fh.read(MAX_FILE_BYTES + 1)
        if len(text) > MAX_FILE_BYTES:
            problems[name] = (
                f"{name}.py is larger than {MAX_FILE_BYTES // 1024} KB; an exercise file is a "
                "few KB of code (data or weights do not belong in it)"
            )
            continue
        (dest / f"{name}.py").write_bytes(text)
        os.chmod(dest / f"{name}.py", 0o644)
    return problems


def _judge_command(
    exercise: str, submission: Path, results: Path, limits: Limits,
    seed: int | tuple[int, ...], *, full: bool, until_lost: bool, share_timeouts: bool = False,
) -> list[str]:  # fmt: skip
    """The judge process: pytest on the exercise's graded tests, with the plugin's options."""
    options = {
        "--target": str(submission),
        "--lenet-results": str(results),
        "--lenet-limits": limits.to_json(),
        "--rootdir": str(kit_root()),
        "-c": str(kit_root() / "pyproject.toml"),
    }
    if isinstance(seed, tuple):
        options["--grading-seeds"] = ",".join(map(str, seed))
    else:
        options["--grading-seed"] = str(seed)
    if not full:
        options["-m"] = "not slow"
    cmd = [sys.executable, "-m", "pytest", str(tests_dir() / f"test_{exercise}.py")]
    cmd += ["-p", "no:cacheprovider", "-q", *(["--until-lost"] if until_lost else [])]
    cmd += ["--share-timeouts"] if share_timeouts else []
    for option, value in options.items():
        cmd += [option, value]
    return cmd


def _judge(
    exercise: str,
    items: list[dict],
    submission: Path,
    workdir: Path,
    limits: Limits,
    seed: int | tuple[int, ...],
    data_root,
    timeout: float,
    full: bool,
    until_lost: bool = False,
    share_timeouts: bool = False,
) -> dict:
    """Run one exercise's graded tests in a judge process; its results by node id, or with
    several seeds by ``(node id, seed)`` (``until_lost``: each seed stops once a visible
    test lost a point)."""
    results = workdir / f"results-{exercise}.jsonl"
    fixed = limits.per_worker(limits.jobs)  # the threads of each worker this judge starts
    how = {"full": full, "until_lost": until_lost, "share_timeouts": share_timeouts}
    cmd = _judge_command(exercise, submission, results, fixed, seed, **how)
    env = dict(os.environ, MPLBACKEND="Agg", OMP_NUM_THREADS=str(fixed.threads))
    if data_root is not None:
        env["LENET_DATA"] = str(Path(data_root).resolve())
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=workdir, env=env,
        start_new_session=True,
    )  # fmt: skip
    timed_out = False
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        os.killpg(proc.pid, 9)
        out, _ = proc.communicate()
    seeds = seed if isinstance(seed, tuple) else None
    got: dict = {}
    if results.exists():
        for line in results.read_text().splitlines():
            record = json.loads(line)
            got[(record["nodeid"], record["seed"]) if seeds else record["nodeid"]] = record
    keys = (
        [(i["nodeid"], s) for i in items for s in seeds] if seeds else [i["nodeid"] for i in items]
    )
    missing = [k for k in keys if k not in got]
    if missing and not timed_out:
        tail = out.decode(errors="replace")[-3000:]
        raise GraderError(
            f"the judge for {exercise} stopped early (exit {proc.returncode}):\n{tail}"
        )
    for nid in missing:
        got[nid] = {"status": "failed", "seconds": 0.0,
                    "message": "not run: the submission's time limit was reached"}  # fmt: skip
    return got


@dataclass
class Plan:
    """Which graded tests a grade runs, by exercise, and which it lists without running."""

    order: dict[str, int]  # node id -> place in the catalog: the report's order
    run: dict[str, list[dict]]  # exercise -> the tests its judge runs
    fast_tier: list[dict]  # the slow tests a fast grade lists as skipped
    withheld: list[dict]  # hidden tests listed with their points (``check``, a release)
    # ``check``: once a student's function ran out of time, the tests that call it again
    # share that verdict instead of each waiting out its own limit (a grade runs them all)
    share_timeouts: bool = False


def plan(exercises: tuple[str, ...], *, hidden: bool, full: bool) -> Plan:
    """The tests of ``exercises`` (all when empty): hidden ones run only when ``hidden``
    (and the kit holds them), slow ones only when ``full``."""
    unknown = sorted(set(exercises) - set(EXERCISES))
    if unknown:
        raise UserError(
            f"no exercise named {', '.join(unknown)}; choose from {', '.join(EXERCISES)}"
        )
    items = list(catalog())
    runs_hidden = hidden and any(i.get("hidden") for i in items)
    withheld = [] if runs_hidden else hidden_tests(items)
    items = [i for i in items if runs_hidden or not i.get("hidden")]
    if exercises:
        items = [i for i in items if i["exercise"] in exercises]
        withheld = [t for t in withheld if t["exercise"] in exercises]
    run: dict[str, list[dict]] = {}
    for item in items:
        if full or not item["slow"]:
            run.setdefault(item["exercise"], []).append(item)
    fast_tier = [] if full else [i for i in items if i["slow"]]
    order = {i["nodeid"]: n for n, i in enumerate(items)}
    return Plan(order, run, fast_tier, withheld, share_timeouts=not hidden)


def run_plan(
    the_plan: Plan, submission: Path, limits: Limits, seed: int, data_root, deadline: float,
    full: bool, on_exercise: Callable[[str, list[TestResult]], None] | None = None,
) -> list[TestResult]:  # fmt: skip
    """Each exercise's tests in a judge of its own, ``limits.jobs`` judges at once, on a copy
    of the submission; an exercise whose file is missing or unreadable fails with why."""
    results: list[TestResult] = []
    with tempfile.TemporaryDirectory(prefix="lenet-grade-") as tmp:
        workdir = Path(tmp)
        problems = copy_submission(submission, workdir / "submission")

        def run(ex: str) -> list[TestResult]:
            mine = the_plan.run[ex]
            out = [
                TestResult(i["nodeid"], ex, i["title"], i["points"], hidden=i.get("hidden", False))
                for i in mine
            ]
            if ex in problems:
                for r in out:
                    r.message = problems[ex]
                return out
            budget = 60 + sum(
                limits.train_seconds if i["slow"] else limits.test_seconds for i in mine
            )
            timeout = max(1.0, min(budget, deadline - time.monotonic()))
            judged = _judge(
                ex,
                mine,
                workdir / "submission",
                workdir,
                limits,
                seed,
                data_root,
                timeout,
                full,
                share_timeouts=the_plan.share_timeouts,
            )
            for r in out:
                _fill(r, judged[r.nodeid])
            return out

        # the exercise that trains for 10 epochs first: the others overlap with it
        order = sorted(the_plan.run, key=lambda ex: not any(i["slow"] for i in the_plan.run[ex]))
        with ThreadPoolExecutor(max_workers=limits.jobs) as pool:
            futures = {ex: pool.submit(run, ex) for ex in order}
            for ex, fut in futures.items():
                got = fut.result()
                results.extend(got)
                if on_exercise:
                    on_exercise(ex, got)
    return results


def listed(the_plan: Plan) -> list[TestResult]:
    """The tests a grade lists without running: the fast tier's slow tests and the hidden
    tests withheld, each with why."""
    out = [
        TestResult(
            i["nodeid"], i["exercise"], i["title"], i["points"], status="skipped",
            message="not run in the fast tier; run `lenet-course check --full` for it",
            hidden=i.get("hidden", False),
        )
        for i in the_plan.fast_tier
    ]  # fmt: skip
    for n, t in enumerate(the_plan.withheld, start=1):
        out.append(
            TestResult(
                f"hidden::{t['exercise']}::{n}", t["exercise"], "a hidden test", t["points"],
                status="skipped", message="hidden: graded when you submit, not here",
                hidden=True,
            )
        )  # fmt: skip
    return out


def grade(
    submission: Path,
    limits: Limits | None = None,
    *,
    full: bool = True,
    data_root=None,
    seed: int | None = None,
    hidden: bool = True,
    exercises: tuple[str, ...] = (),
    on_exercise: Callable[[str, list[TestResult]], None] | None = None,
) -> GradeReport:
    """Grade a folder of exercise files: its report; raises for a broken grader, never for a
    broken submission. ``full=False``: the fast tier; ``hidden=False`` (students' ``check``)
    leaves the hidden tests out and says what they are worth; ``exercises`` limits the grade
    to those exercises (all when empty)."""
    from lenet_course import data

    limits = limits or Limits()
    submission = Path(submission)
    if not submission.is_dir():
        raise UserError(
            f"submission {submission} is not a folder. Fix: pass the folder that holds "
            f"{', '.join(e + '.py' for e in EXERCISES)}."
        )
    start = time.monotonic()
    seed = secrets.randbits(31) if seed is None else seed
    the_plan = plan(exercises, hidden=hidden, full=full)
    if full:
        data_root = data.prepare(data_root, download=False)
        data.verify_checksums(data_root)
    isolation = levels.level()
    check_worker_starts(isolation)  # a worker that cannot start is the grader's failure
    notes = [levels.note(isolation)]
    if the_plan.withheld:
        worth = sum(t["points"] for t in the_plan.withheld)
        notes.append(f"hidden tests: {len(the_plan.withheld)} tests worth {worth} points are "
                     "graded when you submit; they are not run here")  # fmt: skip
    limits, device_notes = limits_for_device(limits, cuda=_cuda_visible())
    notes += device_notes
    deadline = start + limits.submission_seconds
    results = run_plan(the_plan, submission, limits, seed, data_root, deadline, full, on_exercise)
    results += listed(the_plan)
    errors = [r for r in results if r.status == "error"]
    if errors:
        notes.append(
            f"incomplete: the grader failed in {len(errors)} tests ({errors[0].message}); "
            "the total is not final. Fix the grading environment and grade again."
        )
    place = the_plan.order
    results.sort(key=lambda r: (EXERCISES.index(r.exercise), place.get(r.nodeid, len(place))))
    return GradeReport(
        submission=str(submission),
        tests=results,
        execution_time=round(time.monotonic() - start, 2),
        notes=notes,
        isolation=isolation,
        fingerprint=fingerprint(submission),
        grading_seed=seed,
        tier="full" if full else "fast",
    )


def limits_for_device(limits: Limits, *, cuda: bool) -> tuple[Limits, list[str]]:
    """The limits a grade on this device runs under, and a note for each change. CUDA maps
    a large address space, so there the per-process memory cap gives way to the container's."""
    if cuda and limits.memory_mb:
        note = (
            "memory: the per-process address-space cap is off because CUDA needs a large "
            "address space; cap the container instead (docker run --memory 8g)"
        )
        return replace(limits, memory_mb=0), [note]
    return limits, []


def _fill(result: TestResult, record: dict) -> None:
    """``result`` as the judge's ``record`` says (the judge's file is the grader's own)."""
    status = record["status"]
    result.status = status if status in ("passed", "skipped", "error") else "failed"
    result.score = result.max_score if result.status == "passed" else 0
    result.message = str(record.get("message", ""))[:4000]
    result.seconds = float(record.get("seconds", 0.0))
    result.trace = str(record.get("trace", ""))[-16_000:]


def grade_under_seeds(
    submission: Path,
    exercises: tuple[str, ...],
    seeds: tuple[int, ...],
    limits: Limits | None = None,
    *,
    until_lost: bool = True,
) -> dict[int, list[TestResult]]:
    """Mutation testing: the fast tier of ``exercises`` under each of ``seeds``, one judge
    and one worker per exercise for all of them. Under each seed the tests after the first
    point a visible test lost are skipped: the questions are only whether a point is lost,
    whether the student's ``check`` shows it, and under which seeds (``until_lost=False``
    runs every test under every seed: a test's power by seed). The results by seed."""
    limits = limits or Limits()
    items = [i for i in catalog() if i["exercise"] in exercises and not i["slow"]]
    by_seed: dict[int, list[TestResult]] = {s: [] for s in seeds}
    with tempfile.TemporaryDirectory(prefix="lenet-seeds-") as tmp:
        workdir = Path(tmp)
        problems = copy_submission(Path(submission), workdir / "submission")
        for ex in exercises:
            mine = [i for i in items if i["exercise"] == ex]
            judged = (
                {}
                if ex in problems
                else _judge(
                    ex,
                    mine,
                    workdir / "submission",
                    workdir,
                    limits,
                    tuple(seeds),
                    None,
                    60 + limits.test_seconds * len(mine) * len(seeds),
                    False,
                    until_lost=until_lost,
                )
            )
            for seed in seeds:
                for i in mine:
                    r = TestResult(i["nodeid"], ex, i["title"], i["points"], hidden=i["hidden"])
                    if ex in problems:
                        r.message = problems[ex]
                    else:
                        _fill(r, judged[(i["nodeid"], seed)])
                    by_seed[seed].append(r)
    return by_seed


def _cuda_visible() -> bool:
    import torch

    return torch.cuda.is_available()
