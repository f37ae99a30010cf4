"""Reports, the class gradebook and the Gradescope bundle."""

from __future__ import annotations

import csv
import json
import xml.etree.ElementTree as ET

from lenet_course.grading.classroom.gradebook import grade_all
from lenet_course.grading.judge.reports import gradescope, junit, write_gradescope
from lenet_course.grading.judge.runner import GradeReport, TestResult, grade
from tests.grading.conftest import FAST, FAST_MAX, SMALL, make_submission


def sample_report() -> GradeReport:
    return GradeReport(
        submission="s",
        tests=[
            TestResult("a.py::t1", "ex1_lenet", "shapes", 4, 4, "passed", "", 0.1),
            TestResult(
                "a.py::t2", "ex1_lenet", "count", 3, 0, "failed", "LeNet has 1 parameter", 0.2
            ),
            TestResult("a.py::t3", "ex3_train", "mnist", 8, 0, "skipped", "fast tier", 0.0),
        ],
        execution_time=1.5,
    )


def test_results_json_follows_gradescope_format(tmp_path):
    write_gradescope(sample_report(), tmp_path / "results.json")
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["score"] == 4 and data["execution_time"] == 1.5 and "output" in data
    for test in data["tests"][:2]:
        assert {"name", "score", "max_score", "status", "output", "visibility"} <= set(test)
        assert test["status"] in ("passed", "failed")
    assert data["tests"][1]["output"] == "LeNet has 1 parameter"
    assert "status" not in data["tests"][2], "a skipped test must not be drawn as a failure"
    assert data["tests"][2]["output"].startswith("Skipped")
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"], "no temp file left behind"


def test_before_publication_results_json_shows_no_hidden_result():
    """Gradescope hides the total while hidden tests are unpublished; the output the student
    reads must not give it away, nor how the hidden tests went."""
    report = sample_report()
    report.tests.append(
        TestResult("a.py::t4", "ex3_train", "replay", 2, 0, "failed", "differs", 0.1, hidden=True)
    )
    data = gradescope(report)
    hidden = data["tests"][3]
    assert hidden["visibility"] == "after_published" and hidden["score"] == 0
    assert all(t["visibility"] == "visible" for t in data["tests"][:3])
    lines = data["output"].splitlines()
    assert lines[0] == "Score of the tests shown now: 4/15", data["output"]
    assert "1 more tests, worth 2 points" in lines[1], data["output"]
    assert "/17" not in data["output"] and "differs" not in data["output"]
    assert data["score"] == 4, "the top-level score is the whole grade; Gradescope hides it"
    assert gradescope(sample_report())["output"].splitlines()[0] == "Score: 4/15"


def test_gradescope_dict_counts_points(tmp_path):
    assert sum(t["max_score"] for t in gradescope(sample_report())["tests"]) == 15


def test_junit_xml_has_a_failure_per_failed_test():
    root = ET.fromstring(junit(sample_report()).split("?>", 1)[1])
    cases = list(root.iter("testcase"))
    assert len(cases) == 3 and root.get("failures") == "1"
    assert cases[1].find("failure").get("message") == "LeNet has 1 parameter"
    assert cases[2].find("skipped") is not None and cases[2].find("failure") is None


def test_grade_all_writes_a_complete_gradebook_and_resumes(tmp_path):
    folder = tmp_path / "class"
    make_submission(folder / "ada")
    make_submission(folder / "bob", drop=("ex2_log_softmax", "ex3_train", "ex4_kernels"))
    make_submission(folder / "cy", {"ex3_train": ("    net.eval()\n", "    net.eval(\n")},
                    drop=("ex1_lenet", "ex2_log_softmax", "ex4_kernels"))  # fmt: skip
    (folder / "eve").mkdir()  # submitted nothing
    make_submission(folder / "fay", {"ex1_lenet": ("class LeNet(", "class LeNet5(")},
                    drop=("ex3_train", "ex4_kernels"))  # fmt: skip
    out = tmp_path / "grades"
    outcomes = grade_all(folder, out, SMALL, jobs=2, full=False, allow_partial=True)
    assert [o.status for o in outcomes] == ["graded"] * 5
    rows = {r["student"]: r for r in csv.DictReader((out / "gradebook.csv").open())}
    assert set(rows) == {"ada", "bob", "cy", "eve", "fay"}
    totals = {name: int(r["total"]) for name, r in rows.items()}
    # fay's wrong class name costs Exercise 1 only: Exercise 2 stands on a trusted LeNet
    ex1, ex2 = FAST["ex1_lenet"], FAST["ex2_log_softmax"]
    assert totals == {"ada": FAST_MAX, "bob": ex1, "cy": 0, "eve": 0, "fay": ex2}
    assert rows["bob"]["ex4_kernels"] == "0" and rows["bob"]["ex1_lenet"] == str(ex1)
    for name in rows:
        assert (out / name / "results.json").is_file()
    # The similarity screen ran after the grading: bob's Exercise 1 is ada's (both the
    # solutions), and ada's files match the reference.
    flags = {(r["student_a"], r["student_b"], r["exercise"]): r["flagged"]
             for r in csv.DictReader((out / "similarity.csv").open())}  # fmt: skip
    assert flags[("ada", "bob", "ex1_lenet")] == "true"
    assert flags[("ada", "(reference)", "ex3_train")] == "true"
    page = (out / "report.html").read_text()
    assert '<a href="similarity.html">' in page and "ada" in (out / "similarity.html").read_text()

    again = grade_all(folder, out, SMALL, jobs=2, full=False, allow_partial=True)
    assert {o.status for o in again} == {"skipped"}
    rows = list(csv.DictReader((out / "gradebook.csv").open()))
    assert len(rows) == 5 and all(r["total"] for r in rows)


def test_a_grade_replayed_with_its_seed_gives_the_same_report_test_by_test(tmp_path):
    """A disputed grade is replayed: the seed the report names draws the same cases, so the
    same submission gets the same verdict and the same message in every test."""
    sub = make_submission(
        tmp_path / "sub",
        edits={"ex2_log_softmax": ("dim=1)", "dim=0)")},  # softmax over the batch: it fails
    )
    first = grade(sub, SMALL, full=False, exercises=("ex2_log_softmax",))
    assert first.grading_seed is not None and first.to_dict()["grading_seed"] == first.grading_seed
    replay = grade(sub, SMALL, full=False, exercises=("ex2_log_softmax",), seed=first.grading_seed)
    assert replay.grading_seed == first.grading_seed
    assert any(t.status == "failed" for t in first.tests), "the mutant must lose points"
    said = [(t.nodeid, t.status, t.score, t.message) for t in first.tests]
    assert [(t.nodeid, t.status, t.score, t.message) for t in replay.tests] == said
    # the messages carry the drawn cases: another seed says other numbers
    other = grade(sub, SMALL, full=False, exercises=("ex2_log_softmax",),
                  seed=first.grading_seed + 1)  # fmt: skip
    assert [t.message for t in other.tests] != [t.message for t in first.tests]


def test_grade_seed_reaches_the_grader_and_results_json_names_it(tmp_path, monkeypatch):
    from lenet_course import cli, views

    asked = {}

    def graded(*args, **kwargs):
        asked.update(kwargs)
        return GradeReport("s", [TestResult("t.py::a", "ex1_lenet", "a", 5, status="passed",
                                            score=5)], grading_seed=kwargs["seed"])  # fmt: skip

    monkeypatch.setattr(views, "grade_with_progress", graded)
    out = tmp_path / "results.json"
    assert cli.main(["grade", str(tmp_path), "--fast", "--seed", "1234", "--out", str(out)]) == 0
    assert asked["seed"] == 1234
    results = json.loads(out.read_text())
    assert results["extra_data"] == {"grading_seed": 1234}
    assert "Grading seed: 1234" in results["output"] and "--seed 1234" in results["output"]
