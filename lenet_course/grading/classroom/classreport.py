"""The class report ``grade-all`` writes, ``report.html``: the instructor's page.

Built from the grader's own ``report.json`` files (plain data, never student code): each
exercise's score distribution; each test by its title with its pass rate and the class's
most common failure messages (what to reteach); a table of students linking to their
feedback; the grader errors and time limits; and the similarity screen
(:mod:`lenet_course.grading.classroom.similarity`). One static page; its plots are PNG files beside it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from lenet_course.files import atomic_write
from lenet_course.grading.classroom.status import WAITING, Kind, Status
from lenet_course.kit import EXERCISES

TIME_LIMIT = "time limit"  # in the message of a test the grader stopped (runner.py)
TOP_MESSAGES = 3  # failure messages shown per test


@dataclass
class TestSummary:
    __test__ = False  # not a pytest test class

    nodeid: str
    exercise: str
    title: str
    max_score: int
    passed: int = 0
    failed: int = 0
    messages: Counter = field(default_factory=Counter)  # failure message -> students

    @property
    def pass_rate(self) -> float | None:
        run = self.passed + self.failed
        return self.passed / run if run else None

    def common_failures(self, n: int = TOP_MESSAGES) -> list[tuple[str, int]]:
        return self.messages.most_common(n)


@dataclass
class StudentRow:
    student: str
    points: dict[str, int | None]  # exercise -> points; None where there is no grade
    total: int | None
    status: str
    feedback: str | None  # a link to the student's results.json, relative to the report
    tier: str = ""  # "full", "fast" (without the training tests), "unknown"; "" without a grade


def _title(t: dict) -> str:
    return t.get("title") or t["nodeid"].split("::")[-1]


def class_summary(statuses: dict[str, Status], rows: dict[str, dict | None]) -> dict:
    """Everything the page shows, from ``rows`` (student -> the grader's report, None
    where there is none to trust) and each student's status in this run."""
    graded = {s: r for s, r in rows.items() if r is not None}
    totals = {s: sum(t["score"] for t in r["tests"]) for s, r in graded.items()}
    tests: dict[str, TestSummary] = {}
    exercise_max: dict[str, int] = {}
    exercise_scores: dict[str, list[int]] = {}
    grader_errors: list[tuple[str, str]] = []  # (student, what failed): the grader's fault
    time_limits: dict[str, list[str]] = {}  # student -> titles of the tests stopped
    for student, report in sorted(graded.items()):
        per: dict[str, int] = {}
        maxima: dict[str, int] = {}
        for t in report["tests"]:
            per[t["exercise"]] = per.get(t["exercise"], 0) + t["score"]
            maxima[t["exercise"]] = maxima.get(t["exercise"], 0) + t["max_score"]
            title = _title(t)
            summary = tests.setdefault(
                t["nodeid"], TestSummary(t["nodeid"], t["exercise"], title, t["max_score"])
            )
            message = t.get("message", "")
            if t["status"] == "error":  # the grader failed on this test, not the student
                grader_errors.append((student, f"{title}: {message}"))
            elif TIME_LIMIT in message:
                time_limits.setdefault(student, []).append(title)
            elif t["status"] == "passed":
                summary.passed += 1
            elif t["status"] == "failed":
                summary.failed += 1
                summary.messages[message.strip() or "(no message)"] += 1
        for exercise, points in per.items():
            exercise_scores.setdefault(exercise, []).append(points)
            exercise_max[exercise] = max(exercise_max.get(exercise, 0), maxima[exercise])
    for student, status in sorted(statuses.items()):
        if status.kind is Kind.ERROR:  # the page says "grader error: " itself
            grader_errors.insert(0, (student, status.detail))
    order = {e: i for i, e in enumerate(EXERCISES)}
    return {
        "totals": totals,
        "max_score": max((r["max_score"] for r in graded.values()), default=100),
        "tests": sorted(tests.values(), key=lambda t: (order.get(t.exercise, 99), t.nodeid)),
        "exercise_scores": {e: exercise_scores[e] for e in sorted(exercise_scores, key=order.get)},
        "exercise_max": exercise_max,
        "grader_errors": grader_errors,
        "time_limits": time_limits,
        "waiting": {  # and those without a grade yet, that another run will grade
            s: st for s, st in statuses.items() if st.kind in (*WAITING, Kind.NOT_GRADED)
        },
        "fast": sorted(s for s, r in graded.items() if r.get("tier") == "fast"),
    }


def student_rows(
    out: Path, statuses: dict[str, Status], rows: dict[str, dict | None]
) -> list[StudentRow]:
    table = []
    for student, report in sorted(rows.items()):
        status = statuses[student]
        if status.kind is Kind.SKIPPED:
            status = "graded (earlier run)"
        feedback = f"{quote(student)}/results.json"
        link = feedback if (Path(out) / student / "results.json").is_file() else None
        if report is None:
            table.append(StudentRow(student, dict.fromkeys(EXERCISES), None, status, link))
            continue
        points = {
            e: sum(t["score"] for t in report["tests"] if t["exercise"] == e) for e in EXERCISES
        }
        tier = report.get("tier") or "unknown"
        table.append(StudentRow(student, points, sum(points.values()), status, link, tier))
    return table


def write_class_report(
    out: Path,
    statuses: dict[str, Status],
    rows: dict[str, dict | None],
    screen=None,
    screen_note: str = "",
    finals: dict[str, str] | None = None,
) -> Path:
    """``report.html``, with ``scores.png``, ``exercise-scores.png`` and ``pass-rates.png``
    beside it. ``screen``: the class's :class:`~lenet_course.grading.classroom.similarity.Screen`
    (its files already written into ``out``), or None with ``screen_note`` saying why."""
    from lenet_course.grading.classroom.similarity import CSV_NAME, HTML_NAME, PLOT_NAME
    from lenet_course.grading.classroom.templates import render
    from lenet_course.plots import (
        exercise_scores_figure,
        pass_rate_figure,
        save_figure,
        score_histogram_figure,
    )

    out = Path(out)
    summary = class_summary(statuses, rows)
    images: dict[str, str] = {}
    if summary["totals"]:
        fig = score_histogram_figure(list(summary["totals"].values()), summary["max_score"])
        images["scores"] = save_figure(fig, out / "scores.png").name
        fig = exercise_scores_figure(summary["exercise_scores"], summary["exercise_max"])
        images["exercises"] = save_figure(fig, out / "exercise-scores.png").name
    titles = Counter(t.title for t in summary["tests"])
    rates = {  # a parametrised test's cases share a title: their ids tell them apart
        t.title
        if titles[t.title] == 1
        else f"{t.title} [{t.nodeid.partition('[')[2].rstrip(']')}]": t.pass_rate
        for t in summary["tests"]
        if t.pass_rate is not None
    }
    if rates:
        images["pass_rates"] = save_figure(pass_rate_figure(rates), out / "pass-rates.png").name
    totals = summary["totals"]
    page = render(
        "class-report.html",
        students=len(statuses),
        graded=len(totals),
        mean=sum(totals.values()) / len(totals) if totals else 0.0,
        summary=summary,
        images=images,
        exercises=EXERCISES,
        table=student_rows(out, statuses, rows),
        finals=finals,  # by student, where the course's rules made the final grades
        screen=screen,
        screen_note=screen_note,
        similarity={"html": HTML_NAME, "csv": CSV_NAME, "plot": PLOT_NAME},
    )
    path = out / "report.html"
    atomic_write(path, page)
    return path
