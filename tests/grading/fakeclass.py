"""A class of three for grade-all's bookkeeping tests, graded by a stand-in for the grader
(a fast test per exercise and a training test): the tests that use it are about which grades
are reused and what the class files say, not about grading one submission."""

from __future__ import annotations

import csv
import threading

import pytest

from lenet_course import cli
from lenet_course.cli import flags
from lenet_course.grading.classroom import gradebook
from lenet_course.grading.judge.runner import GradeReport, TestResult, fingerprint
from lenet_course.kit import EXERCISES

CLASS = ("ada", "bob", "cy")
FAST_POINTS, TRAIN_POINTS = 5, 10  # the stand-in's fast test per exercise; its training test


class Grader:
    """Stands in for :func:`lenet_course.grading.judge.runner.grade`: a fast test per exercise,
    which a file holding "BUG" fails, and a training test the fast tier skips."""

    def __init__(self) -> None:
        self.graded: list[tuple[str, bool]] = []
        self.lock = threading.Lock()

    def __call__(self, sub, limits=None, *, full=True, data_root=None, **kw) -> GradeReport:
        with self.lock:
            self.graded.append((sub.name, full))
        tests = []
        for e in EXERCISES:
            ok = "BUG" not in (sub / f"{e}.py").read_text()
            tests.append(TestResult(f"test_{e}.py::fast", e, "fast", FAST_POINTS,
                                    FAST_POINTS if ok else 0, "passed" if ok else "failed"))  # fmt: skip
        slow = TestResult(f"test_{EXERCISES[-1]}.py::train", EXERCISES[-1], "train", TRAIN_POINTS)
        slow.status, slow.score = ("passed", TRAIN_POINTS) if full else ("skipped", 0)
        tests.append(slow)
        return GradeReport(str(sub), tests, fingerprint=fingerprint(sub),
                           tier="full" if full else "fast")  # fmt: skip

    def students(self) -> list[str]:
        return sorted(name for name, _ in self.graded)


@pytest.fixture
def grader(monkeypatch):
    fake = Grader()
    monkeypatch.setattr(gradebook, "grade", fake)
    monkeypatch.setattr(flags, "grading_data", lambda args, full: None)  # no MNIST to find
    return fake


@pytest.fixture
def a_class(tmp_path):
    from tests.grading.conftest import make_submission  # conftest imports this module

    folder = tmp_path / "class"
    for name in CLASS:
        make_submission(folder / name)
    return folder, tmp_path / "grades"


def grade_all(capsys, folder, out, *extra) -> tuple[int, str, str]:
    code = cli.main(["grade-all", str(folder), "--out", str(out), *extra])
    said = capsys.readouterr()
    return code, said.out, said.err


def rows(out) -> dict[str, dict]:
    with open(out / "gradebook.csv") as fh:
        return {row["student"]: row for row in csv.DictReader(fh)}


FULL_TOTAL = FAST_POINTS * len(EXERCISES) + TRAIN_POINTS
FAST_TOTAL = FAST_POINTS * len(EXERCISES)
