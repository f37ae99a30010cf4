"""Grade a whole class: one subfolder per student, resumable, on this machine or a cluster.

Each student is one picklable unit of work, :func:`grade_one`, which grades the submission
and writes that student's reports. An executor decides where the units run: a thread pool
here (the default), or submitit's local or Slurm executor (:mod:`lenet_course.grading.classroom.cluster`).
The gradebook is built afterwards from the grader's own ``report.json`` files.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lenet_course.errors import UserError
from lenet_course.files import atomic_write
from lenet_course.grading.blame import GraderError
from lenet_course.grading.classroom.classreport import write_class_report
from lenet_course.grading.classroom.roster import students
from lenet_course.grading.classroom.status import NO_REPORT, WAITING, Kind, Status
from lenet_course.grading.jail.limits import Limits
from lenet_course.grading.judge.reports import write_gradescope
from lenet_course.grading.judge.runner import fingerprint, grade
from lenet_course.kit import EXERCISES

if TYPE_CHECKING:
    from lenet_course.grading.classroom.similarity import ScreenConfig

REPORT = "report.json"  # the grader's own record of one student, beside results.json
PENDING = "pending.json"  # cluster jobs submitted and not yet collected: student -> job


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


def grade_one(task: Task) -> Outcome:
    """Grade one submission and write its ``results.json`` and ``report.json``. Module-level
    and picklable, so an executor can run it in another process or on another machine."""
    sub = Path(task.submission)
    dest = Path(task.out) / sub.name
    try:
        report = grade(sub, task.limits, full=task.full, data_root=task.data_root)
    except (GraderError, UserError, OSError) as exc:
        return Outcome(sub.name, Status(Kind.ERROR, f"{exc}".splitlines()[0]))
    write_gradescope(report, dest / "results.json")
    atomic_write(dest / REPORT, json.dumps(report.to_dict(), indent=1))
    if report.grader_errors:  # the grader's failure: graded again on the next run
        detail = f"grader error in {len(report.grader_errors)} tests"
        return Outcome(sub.name, Status(Kind.INCOMPLETE, detail))
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
) -> list[Outcome]:
    """Grade every student subfolder into ``out/STUDENT/results.json`` and ``report.json``,
    then write ``out/gradebook.csv``, ``gradebook-canvas.csv``, the similarity screen
    (``similarity.csv``, ``similarity.html``; ``screen`` sets it, None for the defaults)
    and the class report (``report.html``).

    A student is skipped first when ``report.json`` holds a grade of the same files (unless
    ``force``), or when a cluster job for the same files is still running. The rest run on
    ``executor`` (a submitit executor; None: ``jobs`` threads here); ``only`` names the
    students to grade this time (all when empty). With ``wait=False`` the jobs are submitted
    and recorded in ``pending.json``; running again later collects them. A failed or timed-out submission never stops the batch. Student code never sees
    ``out``: it runs in the jail. The screen compares the whole class, so a run with
    ``only`` (one pod of many) leaves it to the run that collects the class.
    """
    from lenet_course.grading.classroom import similarity

    similarity.require()  # before the grading: the report at the end needs it
    screen = screen or similarity.ScreenConfig()
    screen.boilerplate_dir(), screen.reference_dir()  # a wrong folder fails now, not after
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    limits = limits or Limits()
    if executor is None:  # parallelism is across students here; they share the cores
        limits = limits.shared(jobs)
    pending = _read_pending(out)
    outcomes: list[Outcome] = []

    def finish(outcome: Outcome) -> None:
        outcomes.append(outcome)
        if on_done:
            on_done(outcome)

    root = None if data_root is None else str(data_root)
    tasks, prints = [], {}  # prints: task.submission -> fingerprint of the files graded
    for sub, fp in _to_grade(folder, out, pending, executor, only, force, finish):
        tasks.append(Task(str(sub), str(out), limits, full, root))
        prints[str(sub)] = fp
    submitted = _run(tasks, executor, jobs, wait, finish)
    pending.update({Path(sub).name: {"job": job, "fingerprint": prints[sub]}
                    for sub, job in submitted.items()})  # fmt: skip
    for o in outcomes:
        if o.status.kind not in WAITING:
            pending.pop(o.student, None)
    atomic_write(out / PENDING, json.dumps(pending, indent=1))
    _write_class(folder, out, {o.student: o.status for o in outcomes}, only, screen)
    return sorted(outcomes, key=lambda o: o.student)


def _to_grade(folder: Path, out: Path, pending: dict, executor, only, force: bool, finish):
    """``(submission, fingerprint)`` of each student to grade in this run; the others get
    their outcome through ``finish``: graded before from the same files, a job still
    running, or a job that ended with no report (why, once)."""
    subs = students(folder)
    unknown = sorted(set(only) - {s.name for s in subs})
    if unknown:
        raise UserError(f"no student folder named {', '.join(unknown)} in {folder}.")
    for sub in subs:
        if only and sub.name not in only:
            continue
        fp = fingerprint(sub)
        previous = read_report(out / sub.name / REPORT)
        complete = previous and all(t.get("status") != "error" for t in previous["tests"])
        if complete and not force and previous["fingerprint"] == fp:
            finish(Outcome(sub.name, Status(Kind.SKIPPED)))
            continue
        job = pending.get(sub.name)
        if job and job.get("fingerprint") == fp and executor is not None and not force:
            from lenet_course.grading.classroom.cluster import ended_job_status, job_running

            if job_running(executor, job["job"]):
                finish(Outcome(sub.name, Status(Kind.PENDING, f"job {job['job']}")))
                continue
            if not (previous and previous["fingerprint"] == fp):  # the job left no report:
                # say why, once (pending.json forgets it); the next run submits it again
                status = ended_job_status(executor, job["job"])
                if status.kind is Kind.ERROR:
                    again = Status(Kind.ERROR, f"{status.detail} (run again to resubmit)")
                    finish(Outcome(sub.name, again))
                    continue
        yield sub, fp


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


def _write_class(folder: Path, out: Path, statuses: dict, only, screen) -> None:
    """The gradebooks, the similarity screen (the whole class only) and the class report."""
    from lenet_course.grading.classroom import similarity

    rows = class_rows(out, statuses)
    write_gradebook(out, statuses, rows)
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
    write_class_report(out, statuses, rows, found, note)


def class_rows(out: Path, statuses: dict[str, Status]) -> dict[str, dict | None]:
    """Each student's report as the grader wrote it, or None where there is none to trust."""
    rows = {}
    for student, status in statuses.items():
        report = read_report(out / student / REPORT)
        rows[student] = None if status.kind in NO_REPORT else report
    return rows


def write_gradebook(out: Path, statuses: dict[str, Status], rows: dict[str, dict | None]) -> Path:
    """``gradebook.csv`` (student, points per exercise, total, status) and
    ``gradebook-canvas.csv`` (Canvas's grade-import layout), both from ``rows``
    (:func:`class_rows`: the grader's report.json files)."""
    buf, canvas = io.StringIO(), io.StringIO()
    writer, lms = csv.writer(buf), csv.writer(canvas)
    writer.writerow(["student", *EXERCISES, "total", "status"])
    lms.writerow(["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "LeNet lab"])
    possible = max((r["max_score"] for r in rows.values() if r is not None), default=100)
    lms.writerow(["Points Possible", "", "", "", "", possible])
    for student, report in sorted(rows.items()):
        status = statuses[student]
        if report is not None:
            per = {
                e: sum(t["score"] for t in report["tests"] if t["exercise"] == e) for e in EXERCISES
            }
            if status.kind is Kind.SKIPPED:
                status = "graded (earlier run)"
            writer.writerow([student, *per.values(), sum(per.values()), status])
            lms.writerow(["", "", "", student, "", sum(per.values())])
        else:
            writer.writerow([student, *[""] * len(EXERCISES), "", status])
    path = out / "gradebook.csv"
    atomic_write(path, buf.getvalue())
    atomic_write(out / "gradebook-canvas.csv", canvas.getvalue())
    return path
