"""Grade a whole class: one subfolder per student, in parallel, resumable."""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, replace
from pathlib import Path

from lenet_course.errors import UserError
from lenet_course.grading.reports import atomic_write, write_gradescope
from lenet_course.grading.runner import GraderError, Limits, fingerprint, grade
from lenet_course.targets import EXERCISES

REPORT = "report.json"  # the grader's own record of one student, beside results.json


@dataclass
class Outcome:
    student: str
    status: str  # graded | skipped | error: ...


def students(folder: Path) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(
            f"{folder} is not a folder. Fix: pass a folder with one subfolder per student."
        )
    subs = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not subs:
        raise UserError(f"{folder} has no student subfolders to grade.")
    return subs


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


def grade_all(
    folder: Path,
    out: Path,
    limits: Limits | None = None,
    *,
    jobs: int = 2,
    force: bool = False,
    full: bool = True,
    data_root=None,
    on_done: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Grade every student subfolder into ``out/STUDENT/results.json`` and ``report.json``,
    then write ``out/gradebook.csv``. A student is skipped when ``report.json`` holds a
    grade of the same files (unless ``force``); a failed or timed-out submission never
    stops the batch. Student code never sees ``out``: it runs in the jail."""
    out = Path(out)
    # Parallelism is across students here; they share the cores.
    threads = max(1, (os.cpu_count() or 1) // jobs)
    per_submission = replace(limits or Limits(), jobs=1, threads=threads)

    def one(sub: Path) -> Outcome:
        previous = read_report(out / sub.name / REPORT)
        if previous and not force and previous["fingerprint"] == fingerprint(sub):
            return Outcome(sub.name, "skipped")
        try:
            report = grade(sub, per_submission, full=full, data_root=data_root)
        except (GraderError, UserError, OSError) as exc:
            return Outcome(sub.name, f"error: {exc}".splitlines()[0])
        write_gradescope(report, out / sub.name / "results.json")
        atomic_write(out / sub.name / REPORT, json.dumps(report.to_dict(), indent=1))
        return Outcome(sub.name, "graded")

    outcomes: list[Outcome] = []
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(one, sub) for sub in students(folder)]
        for fut in as_completed(futures):
            outcome = fut.result()
            outcomes.append(outcome)
            if on_done:
                on_done(outcome)
    write_gradebook(out, {o.student: o.status for o in outcomes})
    return sorted(outcomes, key=lambda o: o.student)


def write_gradebook(out: Path, statuses: dict[str, str]) -> Path:
    """``gradebook.csv``: student, points per exercise, total, status (from report.json)."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["student", *EXERCISES, "total", "status"])
    for student in sorted(statuses):
        status = statuses[student]
        report = read_report(out / student / REPORT)
        if report is not None and not status.startswith("error"):
            per = {
                e: sum(t["score"] for t in report["tests"] if t["exercise"] == e) for e in EXERCISES
            }
            if status == "skipped":
                status = "graded (earlier run)"
            writer.writerow([student, *per.values(), sum(per.values()), status])
        else:
            writer.writerow([student, *[""] * len(EXERCISES), "", status])
    path = out / "gradebook.csv"
    atomic_write(path, buf.getvalue())
    return path
