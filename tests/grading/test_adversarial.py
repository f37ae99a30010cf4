"""Submissions that attack the grader, or are broken: each scores exactly what it should.

The attacks sit in Exercise 4's ``kernel_change`` (a 4-point test) or in module code, so
the expected score is the fast tier's 92 minus exactly the tests they affect.
"""

from __future__ import annotations

import json
import time

import pytest

from tests.grading.conftest import FAST_MAX, KERNEL_CHANGE, SMALL, by_name, fast_grade

KC_TEST = "test_kernel_change_is_after_minus_before"
EX4_POINTS = 20


def attack_kernel_change(code: str) -> dict:
    body = "".join(f"    {line}\n" for line in code.strip().splitlines())
    return {"ex4_kernels": (KERNEL_CHANGE, body)}


def graded(submission, edits=None, drop=(), limits=SMALL):
    start = time.monotonic()
    report = fast_grade(submission(edits, drop), limits)
    return report, time.monotonic() - start


def test_reference_solutions_score_the_whole_fast_tier(submission):
    report, _ = graded(submission)
    assert report.score == FAST_MAX, [t.message for t in report.tests if t.status != "passed"]


@pytest.mark.parametrize(
    "attack, reason",
    [
        ("import sys\nsys.exit(0)", "SystemExit"),
        ("import os\nos._exit(0)", "ended in the middle of this test"),
        ("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)", "ended in the middle"),
        ("import time\ntime.sleep(3600)", "ran out of time"),
        ("while True:\n    pass", "ran out of time"),
        ("hoard = []\nwhile True:\n    hoard.append(bytearray(256 * 1024 * 1024))", "MemoryError"),
    ],
    ids=["sys-exit", "os-exit", "self-kill", "sleep", "busy-loop", "unbounded-memory"],
)
def test_escaping_the_test_loses_only_that_test(submission, attack, reason):
    report, seconds = graded(submission, attack_kernel_change(attack))
    tests = by_name(report)
    assert report.score == FAST_MAX - tests[KC_TEST].max_score, [
        (t.nodeid, t.message) for t in report.tests if t.status != "passed"
    ]
    assert reason in tests[KC_TEST].message
    assert seconds < 240


PATCH_RUNTEST = """
import _pytest.python
_pytest.python.Function.runtest = lambda self: None
"""

PATCH_CALLINFO = """
import _pytest.runner
_original = _pytest.runner.CallInfo.from_call.__func__

def _forgiving(cls, func, when, reraise=None):
    info = _original(cls, func, when, reraise)
    info.excinfo = None
    return info

_pytest.runner.CallInfo.from_call = classmethod(_forgiving)
"""


@pytest.mark.parametrize("patch", [PATCH_RUNTEST, PATCH_CALLINFO], ids=["runtest", "callinfo"])
def test_patching_pytest_zeroes_the_exercise(submission, patch):
    """Module-level patches of pytest are caught: ex4 scores zero even with correct code."""
    text_anchor = "import matplotlib.pyplot as plt\n"
    edits = {"ex4_kernels": (text_anchor, text_anchor + patch)}
    report, _ = graded(submission, edits)
    assert report.score == FAST_MAX - EX4_POINTS
    ex4 = [t for t in report.tests if t.exercise == "ex4_kernels"]
    assert all(t.score == 0 and "replaced test machinery" in t.message for t in ex4), [
        t.message for t in ex4
    ]


FORGE_REPORT = """
import json, sys
path = sys.argv[sys.argv.index("--lenet-report") + 1]
with open(path, "a") as fh:
    for name in ("test_kernel_change_is_after_minus_before",):
        body = json.dumps({"event": "result", "nodeid": name, "passed": True, "message": ""})
        fh.write(json.dumps({"body": body, "sig": "0" * 64}) + "\\n")
raise NotImplementedError
"""


def test_forged_report_lines_zero_the_exercise(submission):
    report, _ = graded(submission, attack_kernel_change(FORGE_REPORT))
    assert report.score == FAST_MAX - EX4_POINTS
    ex4 = [t for t in report.tests if t.exercise == "ex4_kernels"]
    assert all(t.score == 0 and "forged" in t.message for t in ex4)


def test_printed_fake_results_are_ignored(submission):
    fake = json.dumps({"score": 100, "tests": [{"name": KC_TEST, "status": "passed"}]})
    attack = f"print({fake!r})\nprint('{KC_TEST} PASSED')\nraise NotImplementedError('no')"
    report, _ = graded(submission, attack_kernel_change(attack))
    assert report.score == FAST_MAX - by_name(report)[KC_TEST].max_score


def test_writing_the_results_path_does_not_change_the_grade(submission, tmp_path):
    from lenet_course.grading.reports import write_gradescope

    results = tmp_path / "results.json"
    attack = f"""
import json, subprocess, sys
open({str(results)!r}, "w").write(json.dumps({{"score": 100}}))
subprocess.Popen([sys.executable, "-c",
    "import time; time.sleep(3); open({str(results)!r}, 'w').write('{{\\"score\\": 100}}')"])
raise NotImplementedError("no")
"""
    report, _ = graded(submission, attack_kernel_change(attack))
    write_gradescope(report, results)
    time.sleep(4)  # a background writer started by the student would strike now
    written = json.loads(results.read_text())
    assert written["score"] == FAST_MAX - by_name(report)[KC_TEST].max_score
    assert len(written["tests"]) == 25


def test_missing_file_scores_zero_on_that_exercise_only(submission):
    report, _ = graded(submission, drop=("ex4_kernels",))
    assert report.score == FAST_MAX - EX4_POINTS
    ex4 = [t for t in report.tests if t.exercise == "ex4_kernels"]
    assert all("ex4_kernels.py is missing" in t.message for t in ex4)


def test_syntax_error_names_file_and_line(submission):
    edits = {"ex3_train": ("    net.eval()\n", "    net.eval(\n")}
    report, _ = graded(submission, edits)
    ex3 = [t for t in report.tests if t.exercise == "ex3_train" and t.status != "skipped"]
    assert report.score == FAST_MAX - sum(t.max_score for t in ex3)
    assert all("ex3_train.py line" in t.message and "SyntaxError" in t.message for t in ex3), [
        t.message for t in ex3
    ]


def test_import_error_names_file_and_line(submission):
    edits = {
        "ex4_kernels": (
            "import matplotlib.pyplot as plt\n",
            "import matplotlib.pyplot as plt\nimport no_such_module\n",
        )
    }
    report, _ = graded(submission, edits)
    assert report.score == FAST_MAX - EX4_POINTS
    ex4 = [t for t in report.tests if t.exercise == "ex4_kernels"]
    assert all("ex4_kernels.py line" in t.message and "no_such_module" in t.message for t in ex4), [
        t.message for t in ex4
    ]


def test_wrong_class_name_fails_exercises_1_and_2(submission):
    edits = {"ex1_lenet": ("class LeNet(nn.Module):", "class LeNet5(nn.Module):")}
    report, _ = graded(submission, edits)
    assert report.score == FAST_MAX - 25 - 20
    ex1 = [t for t in report.tests if t.exercise == "ex1_lenet"]
    assert all("must define 'LeNet'" in t.message for t in ex1), [t.message for t in ex1]


def test_wrong_return_type_costs_the_tests_that_check_it(submission):
    edits = {
        "ex3_train": (
            "    return 100.0 * correct / total\n",
            "    return f'{100.0 * correct / total}%'\n",
        )
    }
    report, _ = graded(submission, edits)
    failed = sorted(t.nodeid.split("::")[-1] for t in report.tests if t.status == "failed")
    assert failed == [
        "test_evaluate_returns_accuracy_in_percent",
        "test_train_returns_one_epoch_record_per_epoch",
    ]
    assert report.score == FAST_MAX - 3 - 3
