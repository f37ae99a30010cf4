"""Grade a whole class: one subfolder per student, resumable, on this machine or a cluster.

Each student is one picklable unit of work, :func:`grade_one`, which grades the submission
and writes that student's reports. An executor decides where the units run: a thread pool
here (the default), or submitit's local or Slurm executor (:mod:`lenet_course.grading.classroom.cluster`).
The gradebook is built afterwards from the grader's own ``report.json`` files, always for
the whole class. A grade is reused only under the same key (:mod:`.reuse`): the files, the
tier, the graded tests, the thresholds and the limits; anything else regrades, with why. A
gradebook with any fast-tier grade is partial: no Canvas export of it unless asked. The
course's rules (:mod:`.rules`) turn the raw grades into the final ones on every run, without
regrading anyone.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from lenet_course.errors import UserError
from lenet_course.files import atomic_write
from lenet_course.grading.blame import GraderError
from lenet_course.grading.classroom.classreport import write_class_report
from lenet_course.grading.classroom.reuse import FAST, GradeKey, RunKey, why_regrade
from lenet_course.grading.classroom.roster import students
from lenet_course.grading.classroom.rules import (
    Rules,
    check_targets,
    final_grade,
    submission_times,
)
from lenet_course.grading.classroom.status import NO_REPORT, WAITING, Kind, Status
from lenet_course.grading.jail.limits import Limits
from lenet_course.grading.judge.reports import write_gradescope
from lenet_course.grading.judge.runner import fingerprint, grade
from lenet_course.kit import EXERCISES

if TYPE_CHECKING:
    from lenet_course.grading.classroom.similarity import ScreenConfig

REPORT = "report.json"  # the grader's own record of one student, beside results.json
PENDING = "pending.json"  # cluster jobs submitted and not yet collected: student -> job
GRADEBOOK = "gradebook.csv"
CANVAS = "gradebook-canvas.csv"


class PartialGradebook(UserError):
    """The class's gradebook holds fast-tier grades, so no Canvas export was written; the
    other class files were. ``outcomes``: the run's outcomes, as :func:`grade_all` returns."""

    def __init__(self, message: str, outcomes: list[Outcome]) -> None:
        super().__init__(message)
        self.outcomes = outcomes


@dataclass
class Outcome:
    student: str
    status: Status


@dataclass(frozen=True)
class Task:
    """Everything one student's grade needs, as plain picklable values."""

    submission: str
    out: str
    limits: Limits
    full: bool
    data_root: str | None
    key: RunKey | None = None  # recorded in report.json with the files' fingerprint
    reason: str = ""  # why an earlier grade is not reused ("" for a first grade)


def grade_one(task: Task) -> Outcome:
    """Grade one submission and write its ``results.json`` and ``report.json``. Module-level
    and picklable, so an executor can run it in another process or on another machine."""
    sub = Path(task.submission)
    dest = Path(task.out) / sub.name
    try:
        report = grade(sub, task.limits, full=task.full, data_root=task.data_root)
    except (GraderError, UserError, OSError) as exc:
        return Outcome(sub.name, Status(Kind.ERROR, f"{exc}".splitlines()[0]))
    record = report.to_dict()
    record["key"] = task.key.of(report.fingerprint).to_dict() if task.key else None
    write_gradescope(report, dest / "results.json")
    atomic_write(dest / REPORT, json.dumps(record, indent=1))
    if report.grader_errors:  # the grader's failure: graded again on the next run
        detail = f"grader error in {len(report.grader_errors)} tests"
        return Outcome(sub.name, Status(Kind.INCOMPLETE, detail))
    if task.reason:
        return Outcome(sub.name, Status(Kind.REGRADED, task.reason))
    return Outcome(sub.name, Status(Kind.GRADED))


def read_report(path: Path) -> dict | None:
    """A per-student report this grader wrote, or None if absent or not in its form."""
    try:
        report = json.loads(Path(path).read_text())
        tests = report["tests"]
        if not isinstance(report["fingerprint"], str) or not isinstance(tests, list):
            return None
        for t in tests:
            if not (isinstance(t["exercise"], str) and type(t["score"]) is int):
                return None
        return report
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _read_pending(out: Path) -> dict:
    try:
        pending = json.loads((out / PENDING).read_text())
        return pending if isinstance(pending, dict) else {}
    except (OSError, ValueError):
        return {}


def grade_all(
    folder: Path,
    out: Path,
    limits: Limits | None = None,
    *,
    jobs: int = 2,
    force: bool = False,
    full: bool = True,
    data_root=None,
    executor=None,
    wait: bool = True,
    only: tuple[str, ...] = (),
    on_done: Callable[[Outcome], None] | None = None,
    screen: ScreenConfig | None = None,
    allow_partial: bool = False,
    rules: Rules | None = None,
    times: dict[str, datetime] | None = None,
) -> list[Outcome]:
    """Grade every student subfolder into ``out/STUDENT/results.json`` and ``report.json``,
    then write the class files from every student's report: ``gradebook.csv``,
    ``gradebook-canvas.csv``, the similarity screen (``screen``; None for the defaults) and
    ``report.html``. A student is skipped when ``report.json`` holds a grade under the same
    key (unless ``force``) or a cluster job for it is still running; the rest run on
    ``executor`` (a submitit executor; None: ``jobs`` threads here), or only the students
    ``only`` names. With ``wait=False`` the jobs are submitted and recorded in
    ``pending.json``; a later run collects them. A failed or timed-out submission never stops
    the batch; student code never sees ``out`` (it runs in the jail).

    A gradebook with fast-tier grades gets no Canvas export, and :class:`PartialGradebook`
    is raised once the other files are written, unless ``allow_partial``. ``rules`` and
    ``times`` (:mod:`.rules`) make the final grades, and are checked before anything is
    graded or written.
    """
    from lenet_course.grading.classroom import similarity

    similarity.require()  # before the grading: the report at the end needs it
    screen = screen or similarity.ScreenConfig()
    screen.boilerplate_dir(), screen.reference_dir()  # a wrong folder fails now, not after
    lateness = _lateness(folder, rules, times)  # a bad file fails before anything is written
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    limits = limits or Limits()
    if executor is None:  # parallelism is across students here; they share the cores
        limits = limits.shared(jobs)
    outcomes: list[Outcome] = []

    def finish(outcome: Outcome) -> None:
        outcomes.append(outcome)
        if on_done:
            on_done(outcome)

    root = None if data_root is None else str(data_root)
    run = _Run(out, limits, full, root, executor, jobs, wait, force, RunKey.now(limits, full))
    pending = _grade_students(folder, only, run, finish)
    statuses = class_statuses(folder, out, {o.student: o.status for o in outcomes}, pending)
    fast = _write_class(folder, out, statuses, only, screen, allow_partial, lateness)
    outcomes = sorted(outcomes, key=lambda o: o.student)
    if fast and not allow_partial:
        raise PartialGradebook(partial_message(out, fast), outcomes)
    return outcomes


@dataclass(frozen=True)
class _Run:
    """One run's settings, as :func:`grade_all` resolved them."""

    out: Path
    limits: Limits
    full: bool
    data_root: str | None
    executor: object
    jobs: int
    wait: bool
    force: bool
    key: RunKey


def _lateness(folder: Path, rules: Rules | None, times) -> tuple[Rules | None, dict]:
    """The rules and each student's submission time (their ``timestamp.txt`` read now), with
    every override's test or exercise checked."""
    if rules is None:
        return None, {}
    handed_in = submission_times(students(folder), times)
    check_targets(rules, _test_names)
    return rules, handed_in


def _grade_students(folder: Path, only, run: _Run, finish) -> dict:
    """Grade the students this run grades, each outcome to ``finish``; record the cluster
    jobs left running in ``pending.json``, and return what it holds."""
    pending = _read_pending(run.out)
    done: list[Outcome] = []

    def record(outcome: Outcome) -> None:
        done.append(outcome)
        finish(outcome)

    tasks, keys = [], {}  # keys: task.submission -> the key of the grade it makes
    todo = _to_grade(folder, run.out, pending, run.executor, only, run.force, run.key, record)
    for sub, key, reason in todo:
        tasks.append(
            Task(str(sub), str(run.out), run.limits, run.full, run.data_root, run.key, reason)
        )
        keys[str(sub)] = key
    submitted = _run(tasks, run.executor, run.jobs, run.wait, record)
    for sub, job in submitted.items():
        pending[Path(sub).name] = {"job": job, "key": keys[sub].to_dict()}
    for o in done:
        if o.status.kind not in WAITING:
            pending.pop(o.student, None)
    atomic_write(run.out / PENDING, json.dumps(pending, indent=1))
    return pending


def _test_names() -> set[str]:
    """The graded tests by every name an override may use: the node id, with and without
    its folder, and the test's own name."""
    from lenet_course.grading.judge.catalog import catalog

    names = set()
    for item in catalog():
        nodeid = item["nodeid"]
        names |= {nodeid, nodeid.rsplit("/", 1)[-1], nodeid.split("::")[-1]}
    return names


def partial_message(out: Path, fast: list[str]) -> str:
    names = ", ".join(fast[:5]) + (f" and {len(fast) - 5} more" if len(fast) > 5 else "")
    return (
        f"{out / GRADEBOOK} is partial: {len(fast)} of its students "
        f"{'has' if len(fast) == 1 else 'have'} fast-tier grades only "
        f"({names}), without the points of the training tests, so no Canvas export was "
        f"written ({out / CANVAS}). Fix: run grade-all without --fast to grade the full "
        "tier, or pass --allow-partial to export the partial grades as they are."
    )


def _to_grade(
    folder: Path, out: Path, pending: dict, executor, only, force: bool, run_key: RunKey, finish
):
    """``(submission, key, why)`` of each student to grade in this run (``why``: what changed
    since the earlier grade, "" for a first grade); the others get their outcome through
    ``finish``: graded before under the same key, a job still running, or a job that ended
    with no report (why, once)."""
    subs = students(folder)
    unknown = sorted(set(only) - {s.name for s in subs})
    if unknown:
        raise UserError(f"no student folder named {', '.join(unknown)} in {folder}.")
    for sub in subs:
        if only and sub.name not in only:
            continue
        key = run_key.of(fingerprint(sub))
        previous = read_report(out / sub.name / REPORT)
        recorded = GradeKey.from_dict(previous.get("key")) if previous else None
        if previous is None:
            why = ""
        elif any(t.get("status") == "error" for t in previous["tests"]):
            why = "its last grade had grader errors"
        else:
            why = why_regrade(recorded, key) or ("asked (--force)" if force else "")
        if previous is not None and not why:
            finish(Outcome(sub.name, Status(Kind.SKIPPED)))
            continue
        job = pending.get(sub.name)
        if job and job.get("key") == key.to_dict() and executor is not None and not force:
            from lenet_course.grading.classroom.cluster import ended_job_status, job_running

            if job_running(executor, job["job"]):
                finish(Outcome(sub.name, Status(Kind.PENDING, f"job {job['job']}")))
                continue
            if recorded != key:  # the job left no report of this key:
                # say why, once (pending.json forgets it); the next run submits it again
                status = ended_job_status(executor, job["job"])
                if status.kind is Kind.ERROR:
                    again = Status(Kind.ERROR, f"{status.detail} (run again to resubmit)")
                    finish(Outcome(sub.name, again))
                    continue
        yield sub, key, why


def _run(tasks: list[Task], executor, jobs: int, wait: bool, finish) -> dict[str, str]:
    """Grade ``tasks`` here (``jobs`` threads) or on ``executor``; every outcome goes to
    ``finish``. The cluster jobs left running when ``wait`` is False, by submission."""
    if executor is None:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            for fut in as_completed([pool.submit(grade_one, t) for t in tasks]):
                finish(fut.result())
        return {}
    if not tasks:
        return {}
    from lenet_course.grading.classroom.cluster import run_jobs

    return run_jobs(
        executor,
        grade_one,
        tasks,
        wait=wait,
        on_result=finish,
        on_status=lambda task, status: finish(Outcome(Path(task.submission).name, status)),
    )


def class_statuses(
    folder: Path, out: Path, run: dict[str, Status], pending: dict
) -> dict[str, Status]:
    """Every student of the class with a status: this run's where it graded them, else as
    their files stand (graded by an earlier run, a job queued by one, or not graded yet)."""
    statuses = {}
    for sub in students(folder):
        if sub.name in run:
            statuses[sub.name] = run[sub.name]
        elif read_report(out / sub.name / REPORT) is not None:
            statuses[sub.name] = Status(Kind.SKIPPED)
        elif sub.name in pending:
            statuses[sub.name] = Status(Kind.PENDING, f"job {pending[sub.name].get('job')}")
        else:
            statuses[sub.name] = Status(Kind.NOT_GRADED)
    return statuses


def fast_tier(rows: dict[str, dict | None]) -> list[str]:
    """The students whose grade in ``rows`` is of the fast tier: a gradebook with any is partial."""
    return sorted(s for s, r in rows.items() if r is not None and r.get("tier") == FAST)


def _write_class(
    folder: Path, out: Path, statuses: dict, only, screen, allow_partial: bool, lateness=None
) -> list[str]:
    """The gradebooks, the similarity screen (the whole class only) and the class report;
    returns the students whose grades are fast-tier only (no Canvas export unless
    ``allow_partial``)."""
    from lenet_course.grading.classroom import similarity

    rows = class_rows(out, statuses)
    fast = fast_tier(rows)
    rules, submitted = lateness or (None, {})
    write_gradebook(
        out, statuses, rows, canvas=allow_partial or not fast, rules=rules, submitted=submitted
    )
    if only:
        found, note = (
            None,
            (
                "Not screened in this run: it graded only some students (--student). Run "
                "grade-all on the class without --student to screen it and write this report."
            ),
        )
    else:
        found, note = similarity.screen_and_write(folder, out, screen), ""
    finals = None
    if rules is not None:  # the grade after the rules (the row's final column)
        finals = {s: _row(s, r, rules, submitted.get(s))[-2] for s, r in rows.items() if r}
    write_class_report(out, statuses, rows, found, note, finals)
    return fast


def class_rows(out: Path, statuses: dict[str, Status]) -> dict[str, dict | None]:
    """Each student's report as the grader wrote it, or None where there is none to trust."""
    rows = {}
    for student, status in statuses.items():
        report = read_report(out / student / REPORT)
        rows[student] = None if status.kind in NO_REPORT else report
    return rows


def _number(x: float) -> str:
    return f"{x:.2f}".rstrip("0").rstrip(".")


def _duration(late: timedelta) -> str:
    """``1d 06:00:00``; ``0`` when on time."""
    if not late:
        return "0"
    minutes, seconds = divmod(int(late.total_seconds()), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    return f"{days}d {hours:02}:{minutes:02}:{seconds:02}"


def _row(student: str, report: dict, rules: Rules | None, when: datetime | None) -> list:
    """A graded student's gradebook row, up to the status: the points per exercise, the raw
    total, the tier, the lateness (with ``rules``), the overrides and the final grade."""
    per = {e: sum(t["score"] for t in report["tests"] if t["exercise"] == e) for e in EXERCISES}
    raw = sum(per.values())
    grade = final_grade(raw, report["max_score"], when, rules, student)
    lateness = ["", "", ""]
    if rules is not None:
        late = _duration(grade.penalty.late_by)
        if grade.penalty.closed:
            late += " (after late_due: earns 0)"
        time = when.isoformat() if when else "unknown"
        lateness = [time, late, _number(grade.penalty.points)]
    tier = report.get("tier") or "unknown"
    override = [_number(grade.override), _number(grade.final), "; ".join(grade.reasons)]
    return [student, *per.values(), raw, tier, *lateness, *override]


COLUMNS = ("total", "tier", "submitted_at", "late_by", "penalty", "override", "final")


def write_gradebook(
    out: Path,
    statuses: dict[str, Status],
    rows: dict[str, dict | None],
    *,
    canvas: bool = True,
    rules: Rules | None = None,
    submitted: dict[str, datetime | None] | None = None,
) -> Path:
    """``gradebook.csv`` (student, points per exercise, the raw total, tier, and with
    ``rules`` the submission time, how late, the penalty, the overrides' points and reasons,
    the final grade; then the status) and ``gradebook-canvas.csv`` (Canvas's grade-import
    layout, the final grade), both from ``rows`` (:func:`class_rows`: the grader's
    report.json files). ``canvas=False`` writes no Canvas export and removes an older one,
    which no longer matches ``gradebook.csv``."""
    submitted = submitted or {}
    buf, lms_buf = io.StringIO(), io.StringIO()
    writer, lms = csv.writer(buf), csv.writer(lms_buf)
    writer.writerow(["student", *EXERCISES, *COLUMNS, "override_reason", "status"])
    lms.writerow(["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "LeNet lab"])
    possible = max((r["max_score"] for r in rows.values() if r is not None), default=100)
    lms.writerow(["Points Possible", "", "", "", "", possible])
    for student, report in sorted(rows.items()):
        status = statuses[student]
        if report is None:
            writer.writerow([student, *[""] * (len(EXERCISES) + len(COLUMNS) + 1), status])
            continue
        if status.kind is Kind.SKIPPED:
            status = "graded (earlier run)"
        row = _row(student, report, rules, submitted.get(student))
        writer.writerow([*row, status])
        lms.writerow(["", "", "", student, "", row[-2]])  # the final grade
    path = out / GRADEBOOK
    atomic_write(path, buf.getvalue())
    if canvas:
        atomic_write(out / CANVAS, lms_buf.getvalue())
    else:
        (out / CANVAS).unlink(missing_ok=True)
    return path
