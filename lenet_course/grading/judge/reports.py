"""Reports other tools read: Gradescope's results.json and JUnit XML."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from lenet_course.files import atomic_write
from lenet_course.grading.judge.runner import GradeReport


@dataclass(frozen=True)
class Adjusted:
    """The raw score turned final by the course's rules (lenet_course.grading.classroom
    computes it, from plain data): the score Gradescope records and why, in one line."""

    score: float
    """The final score: the raw one less the late penalty, plus any overrides."""
    line: str
    """The penalty (or its absence) with the dates that decided it, without the points."""
    changed: bool = False
    """The points moved: ``raw -> final`` ends the line where no test is hidden."""
    details: dict = field(default_factory=dict)
    """For ``extra_data["rules"]``: the raw score, the times, the penalty, any problem."""
    reasons: tuple[str, ...] = ()
    """The instructor's overrides, one line each."""


def _rules_lines(report: GradeReport, adjusted: Adjusted) -> list[str]:
    """The rules' line; ``raw -> final`` only where students may see the total (see
    :func:`_score_lines`): with hidden tests the line gives the percent, never the points."""
    hidden = any(t.hidden for t in report.tests)
    change = f", {report.score:g} -> {adjusted.score:g}" if adjusted.changed and not hidden else ""
    when = " (applied to your total, shown when the grades are published)" if hidden else ""
    lines = [f"{adjusted.line}{change}{when if adjusted.changed else ''}."]
    return lines + [f"Adjusted by your instructor: {r}" for r in adjusted.reasons]


def _gradescope_test(t) -> dict:
    entry = {
        "name": f"{t.exercise}: {t.title}",
        "number": t.nodeid,
        "score": t.score,
        "max_score": t.max_score,
        "output": t.message or "Passed.",
        # Hidden tests: students see them once the instructor publishes the grades.
        "visibility": "after_published" if t.hidden else "visible",
    }
    if t.status in ("passed", "failed"):  # a skipped test has no status: it is not a failure
        entry["status"] = t.status
    elif t.status == "error":  # Gradescope knows pass and fail only; the output says whose
        entry["status"] = "failed"
    else:
        entry["output"] = f"Skipped: {t.message}"
    return entry


def _score_lines(report: GradeReport, score: float | None = None) -> list[str]:
    """The score as a student may see it before the grades are published. Gradescope's
    specification: "If test cases are hidden, students will not be able to see their total
    score" (gradescope-autograders.readthedocs.io, Autograder Specifications), and the
    top-level ``output`` is shown to students. So with hidden tests it gives the visible
    tests' points only, and says what is still to come, never the total. ``score``: the
    final score, where the course's rules changed it."""
    hidden = [t for t in report.tests if t.hidden]
    if not hidden:
        return [f"Score: {report.score if score is None else score:g}/{report.max_score}"]
    shown = [t for t in report.tests if not t.hidden]
    return [
        f"Score of the tests shown now: {sum(t.score for t in shown)}/"
        f"{sum(t.max_score for t in shown)}",
        f"{len(hidden)} more tests, worth {sum(t.max_score for t in hidden)} points, are "
        "graded too: Gradescope shows them, and your total, when your instructor publishes "
        "the grades.",
    ]


def gradescope(report: GradeReport, adjusted: Adjusted | None = None) -> dict:
    """Gradescope's results.json: score, execution_time, output and one entry per test.
    With the course's rules (``adjusted``), ``score`` is the final score, and the raw one
    stays in ``extra_data``."""
    lines = _score_lines(report, adjusted and adjusted.score)
    lines += _rules_lines(report, adjusted) if adjusted else []
    lines += [f"Note: {n}" for n in report.notes]
    if report.grader_errors:
        lines.insert(1, "INCOMPLETE: the grader failed in some tests; this score is not final.")
    if report.grading_seed is not None:
        lines.append(
            f"Grading seed: {report.grading_seed} (the test cases drawn; "
            f"`lenet-course grade SUBMISSION --seed {report.grading_seed}` replays this grade)"
        )
    extra: dict = {"grading_seed": report.grading_seed}
    if adjusted:
        extra |= {"raw_score": report.score, "rules": adjusted.details}
    return {
        "score": report.score if adjusted is None else adjusted.score,
        "execution_time": report.execution_time,
        "output": "\n".join(lines),
        "stdout_visibility": "visible",
        "extra_data": extra,
        "tests": [_gradescope_test(t) for t in report.tests],
    }


def write_gradescope(report: GradeReport, path: Path, adjusted: Adjusted | None = None) -> None:
    atomic_write(path, json.dumps(gradescope(report, adjusted), indent=1))


def junit(report: GradeReport) -> str:
    """JUnit XML: one testsuite per exercise, points as properties (GitHub Classroom, CI)."""
    root = ET.Element("testsuites", name="lenet-course", tests=str(len(report.tests)))
    for exercise, tests in report.by_exercise().items():
        failures = sum(t.status == "failed" for t in tests)
        skipped = sum(t.status == "skipped" for t in tests)
        errors = sum(t.status == "error" for t in tests)
        suite = ET.SubElement(
            root,
            "testsuite",
            name=exercise,
            tests=str(len(tests)),
            failures=str(failures),
            errors=str(errors),
            skipped=str(skipped),
        )
        for t in tests:
            case = ET.SubElement(
                suite, "testcase", classname=exercise, name=t.title, time=f"{t.seconds:.3f}"
            )
            props = ET.SubElement(case, "properties")
            ET.SubElement(props, "property", name="points", value=str(t.score))
            ET.SubElement(props, "property", name="max_points", value=str(t.max_score))
            if t.hidden:  # for the instructor's eyes: kept out of the student release
                ET.SubElement(props, "property", name="visibility", value="hidden")
            if t.status == "failed":
                ET.SubElement(case, "failure", message=t.message).text = t.message
            elif t.status == "skipped":
                ET.SubElement(case, "skipped", message=t.message)
            elif t.status == "error":  # the grader's failure: CI systems show it apart
                ET.SubElement(case, "error", message=t.message).text = t.trace or t.message
    root.set("failures", str(sum(t.status == "failed" for t in report.tests)))
    root.set("errors", str(len(report.grader_errors)))
    return ET.tostring(root, encoding="unicode", xml_declaration=True)


def write_junit(report: GradeReport, path: Path) -> None:
    atomic_write(path, junit(report))
