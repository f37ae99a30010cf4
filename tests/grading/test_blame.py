"""Whose failure is it? A worker failure with no line of the submission on its traceback is
the grader's: its status says so, the total is marked incomplete, `grade` exits non-zero
and the instructor gets the traceback. A failure in the student's own code stays theirs."""

from __future__ import annotations

import json
import traceback
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from lenet_course import cli, views
from lenet_course.grading import blame
from lenet_course.grading.jail import client, limits
from lenet_course.grading.judge.reports import gradescope, junit
from lenet_course.grading.judge.runner import GradeReport, TestResult, grade
from lenet_course.grading.judge.spec import architecture
from lenet_course.grading.sandbox import probes
from lenet_course.kit import THRESHOLDS, kit_root
from tests.grading.conftest import SMALL, make_submission

# Exercise 4's solution, plus a line that breaks the kit's own probe at import, with no Python
# frame of the student's left on the stack when it fails (a C function stands in for it).
SABOTAGE = """
import functools, operator
from lenet_course.grading.sandbox import probes as _probes
_probes._snapshot_dict = functools.partial(operator.truediv, 1)
"""


def _raise_in(folder: Path, code: str) -> BaseException:
    path = folder / "student.py"
    path.write_text(code)
    try:
        exec(compile(path.read_text(), str(path), "exec"), {})
    except BaseException as exc:  # noqa: BLE001 - the test inspects it
        return exc
    raise AssertionError("the code did not raise")


def test_a_failure_is_the_students_exactly_when_their_files_are_on_its_traceback(tmp_path):
    folder = str(tmp_path)
    mine = _raise_in(tmp_path, "import torch\ntorch.zeros(2) @ torch.zeros(3)\n")
    assert probes.fault(mine, folder) == "student"
    assert probes.fault(_raise_in(tmp_path, "def f(:\n"), folder) == "student"
    assert probes.fault(blame.StudentFailure("train() returned None"), folder) == "student"
    try:
        import getpass  # noqa: F401 - the H200's failure: a library asking for a missing uid

        raise KeyError("getpwuid(): uid not found: 806271")
    except KeyError as exc:
        assert probes.fault(exc, folder) == "grader"
        assert "uid not found" in "".join(traceback.format_exception(exc))


def test_a_worker_failure_outside_the_submission_raises_a_grader_fault(tmp_path):
    """A worker started without MNIST, asked to train on it: the kit's mistake, with the
    trace for the instructor; before, it reached the student as a failure of their code."""
    worker = client.Worker("ex3_train", kit_root() / "solutions", limits=limits.Limits(),
                         workdir=tmp_path / "w")  # fmt: skip
    mnist = {"kind": "mnist", "permutation": list(range(10)), "batch_size": 1000, "train": False}
    try:
        with pytest.raises(blame.GraderFault) as caught:
            worker.call("ex3.train", timeout=120, spec=architecture(), seed=0, epochs=0,
                        lr=1e-3, train=mnist, test=mnist)  # fmt: skip
    finally:
        worker.stop()
    assert "started without MNIST" in str(caught.value)
    assert "Traceback" in caught.value.trace and "probes.py" in caught.value.trace


def test_a_grader_error_is_graded_apart_and_marks_the_total_incomplete(tmp_path):
    sub = make_submission(tmp_path / "student")
    with (sub / "ex4_kernels.py").open("a") as fh:
        fh.write(SABOTAGE)
    report = grade(sub, SMALL, full=False, exercises=("ex4_kernels",))
    errors = report.grader_errors
    assert errors, [(t.title, t.status, t.message) for t in report.tests]
    assert all(t.score == 0 for t in errors)
    assert all("an error of the grader, not of your code" in t.message for t in errors)
    assert all("Traceback" in t.trace for t in errors)
    assert any(n.startswith("incomplete:") for n in report.notes)
    assert report.to_dict()["complete"] is False
    assert "INCOMPLETE" in gradescope(report)["output"]
    xml = ET.fromstring(junit(report))
    assert xml.get("errors") == str(len(errors)) and xml.find(".//testcase/error") is not None


def _report(status: str) -> GradeReport:
    return GradeReport("s", [TestResult("t.py::a", "ex3_train", "trains", 5, status=status,
                                        message="KeyError: x", trace="Traceback ...")])  # fmt: skip


@pytest.mark.parametrize(("status", "code"), [("error", views.GRADER_FAILED), ("failed", 0)])
def test_grade_exits_non_zero_only_for_the_graders_own_errors(
    status, code, tmp_path, monkeypatch, capsys
):
    monkeypatch.setattr(views, "grade_with_progress", lambda *a, **k: _report(status))
    out = tmp_path / "results.json"
    assert cli.main(["grade", str(tmp_path), "--fast", "--out", str(out)]) == code
    printed = capsys.readouterr().out
    assert ("grader error" in printed and "Traceback ..." in printed) == (status == "error")
    assert json.loads(out.read_text())["tests"][0]["status"] == "failed"


@pytest.mark.parametrize(
    ("status", "code"),
    [("passed", 0), ("skipped", 0), ("failed", views.TESTS_FAILED), ("error", views.GRADER_FAILED)],
)
def test_check_exits_1_when_a_test_fails_as_pytest_does(status, code, tmp_path, monkeypatch):
    """A student's CI (GitHub Classroom, a pre-commit hook) reads check's exit code: 0 when
    everything checkable passes, 1 when a test lost points, 3 when the grader failed."""
    monkeypatch.setattr(views, "grade_with_progress", lambda *a, **k: _report(status))
    assert cli.main(["check", "--target", str(tmp_path)]) == code


def test_a_hint_shows_square_brackets_and_markup_literally(tmp_path, monkeypatch, capsys):
    hint = "conv1[i, 0] differs; Entry [t, p] counts; [bold]not bold[/bold]"
    report = GradeReport("s", [TestResult("t.py::a", "ex4_kernels", "kernels [i, 0]", 5,
                                          status="failed", message=hint)])  # fmt: skip
    report.notes.append("note with [brackets]")
    monkeypatch.setattr(views, "grade_with_progress", lambda *a, **k: report)
    monkeypatch.setenv("COLUMNS", "300")
    cli.main(["check", "--target", str(tmp_path)])
    printed = capsys.readouterr().out
    for text in (hint, "kernels [i, 0]", "note with [brackets]"):
        assert text in printed, f"{text!r} lost its brackets in:\n{printed}"


def test_on_cuda_the_memory_cap_gives_way_to_the_containers_with_a_note():
    from lenet_course.grading.judge.runner import limits_for_device

    gpu, notes = limits_for_device(SMALL, cuda=True)
    assert gpu.memory_mb == 0 and "docker run --memory" in notes[0]
    assert gpu.test_seconds == SMALL.test_seconds
    assert limits_for_device(SMALL, cuda=False) == (SMALL, [])


def test_one_message_per_cause_with_the_tests_it_costs(tmp_path, monkeypatch, capsys):
    """A wrong fc1 size fails every forward test with the same message: the student reads
    it once, with the tests it costs, not six times."""
    cause = "fc1 expects 256 inputs (16 x 4 x 4), yours takes 400"
    tests = [TestResult(f"t.py::{n}", "ex1_lenet", f"test {n}", 5, status="failed", message=cause)
             for n in "abc"] + [TestResult("t.py::d", "ex1_lenet", "test d", 5,
                                           status="failed", message="another cause")]  # fmt: skip
    monkeypatch.setattr(views, "grade_with_progress", lambda *a, **k: GradeReport("s", tests))
    monkeypatch.setenv("COLUMNS", "400")
    cli.main(["check", "--target", str(tmp_path)])
    printed = capsys.readouterr().out
    assert printed.count(cause) == 1, printed
    assert "it also costs: test b; test c" in printed, printed
    assert printed.count('the same cause as "test a" above') == 2, printed
    assert "another cause" in printed


SLOW_TRAIN = """
def train(net, train_loader, test_loader, *, epochs=10, lr=1e-3, device="cpu"):
    import time
    while True:  # a loop that never ends, printing as it goes
        print("still training", flush=True)
        time.sleep(0.5)
"""


def test_in_check_a_function_out_of_time_fails_its_later_calls_at_once_with_one_cause(tmp_path):
    text = (kit_root() / "solutions" / "ex3_train.py").read_text()
    sub = make_submission(tmp_path / "sub", replace={"ex3_train": text + SLOW_TRAIN})
    quick = limits.Limits(test_seconds=4, train_seconds=60, submission_seconds=600, jobs=1)
    report = grade(sub, quick, full=False, hidden=False, exercises=("ex3_train",))
    ran = [t for t in report.tests if not t.hidden and t.status != "skipped"]
    calls_train = [t for t in ran if "evaluate" not in t.nodeid]
    timed_out = [t for t in calls_train if "ran out of time" in t.message]
    assert len(timed_out) == len(calls_train) >= 5, [t.message[:80] for t in calls_train]
    assert len({t.message for t in timed_out}) == 1, "one cause, one message"
    assert "still training" in timed_out[0].message  # the student's last words, kept
    # one wait of 4 s for train(), not one per test: the rest of the time is start-up
    assert report.execution_time < 4 * 3 + 40, report.execution_time
    evaluate = [t for t in report.tests if "evaluate" in t.nodeid]
    assert evaluate and all(t.status == "passed" for t in evaluate)


def test_checks_summary_says_what_passed_what_needs_full_and_what_is_hidden():
    def result(nodeid, points, status, score=0, hidden=False):
        r = TestResult(nodeid, "ex3_train", nodeid, points, hidden=hidden)
        r.status, r.score = status, score
        return r

    ran = [result("a", 5, "passed", 5), result("b", 3, "passed", 3)]
    later = [result("slow", 8, "skipped"), result("secret", 9, "skipped", hidden=True)]
    assert views.what_ran(ran + later) == (
        "All 8 points that check can run here passed. 8 more need `--full` (the "
        f"{THRESHOLDS['EPOCHS']}-epoch training on MNIST) and 9 are hidden until grading."
    )
    lost = [result("a", 5, "failed"), ran[1]]
    assert views.what_ran(lost + later[1:]).startswith("3 of the 8 points")
    assert views.what_ran(ran) == ""  # everything ran: the total says it all


def test_identical_grader_errors_are_shown_once_with_the_tests_they_hit(capsys):
    from rich.console import Console

    report = GradeReport("sub", [], 0.0)
    for nodeid in ("t1", "t2"):
        r = TestResult(nodeid, "ex1_lenet", nodeid, 1)
        r.status, r.message, r.trace = "error", "boom", "Traceback: boom"
        report.tests.append(r)
    assert views.grader_errors_exit(Console(width=200), report) == views.GRADER_FAILED
    out = capsys.readouterr().out
    assert out.count("Traceback: boom") == 1 and "2 tests (t1, t2)" in out
