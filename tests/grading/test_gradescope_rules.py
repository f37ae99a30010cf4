"""The course's rules on Gradescope: times from submission_metadata.json, the final score in
results.json with the raw one kept, and the bundle's run_autograder grading with the rules
`export gradescope --rules` shipped (a stand-in for the grader: these tests are about the
dates and the score, not about grading)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from lenet_course import export
from lenet_course.errors import UserError
from lenet_course.grading.classroom.gradescope import (
    SUBMISSION,
    apply_rules,
    for_submission,
    metadata_or_error,
    read_metadata,
)
from lenet_course.grading.classroom.rules import Rules, read_rules
from lenet_course.grading.judge.reports import gradescope
from lenet_course.grading.judge.runner import GradeReport, TestResult

EST = timezone(timedelta(hours=-5))
DUE = datetime(2026, 3, 1, 23, 59, tzinfo=EST)
RULES = """\
due = 2026-03-01T23:59:00-05:00
late_due = 2026-03-08T23:59:00-05:00
penalty_percent = 10
per = "day"
grace_minutes = 15
max_penalty_percent = 50
penalty_of = "earned"
"""


def user(email: str, due: str | None, late_due: str | None = None) -> dict:
    return {
        "email": email,
        "id": 1234,
        "name": email.split("@")[0].title(),
        "sid": None,
        "assignment": {"due_date": due, "late_due_date": late_due, "release_date": None},
    }


def metadata(created_at: str | None, *users: dict, due: str = "2026-03-01T23:59:00.000000-05:00"):
    """submission_metadata.json as Gradescope writes it (fields this kit ignores included)."""
    data = {
        "id": 123456,
        "assignment": {
            "id": 25828,
            "title": "LeNet lab",
            "due_date": due,
            "late_due_date": None,
            "release_date": "2026-02-01T00:00:00.000000-05:00",
            "group_submission": len(users) > 1,
            "total_points": "100.0",
        },
        "submission_method": "upload",
        "users": list(users) or [user("ada@uni.edu", due)],
        "previous_submissions": [],
    }
    if created_at is not None:
        data["created_at"] = created_at
    return data


def write(path: Path, data) -> Path:
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return path


def report(earned: int = 80, possible: int = 100, hidden: int = 0) -> GradeReport:
    """A graded report: ``earned`` of ``possible`` points, the last ``hidden`` of them hidden."""
    shown = TestResult("t.py::shown", "ex1_lenet", "shown", possible - hidden, earned, "passed")
    tests = [shown]
    if hidden:
        shown.score = earned - hidden
        tests.append(TestResult("t.py::h", "ex1_lenet", "h", hidden, hidden, "passed", hidden=True))
    return GradeReport("sub", tests)


def test_metadata_gives_the_submission_time_and_each_members_own_dates(tmp_path):
    path = write(
        tmp_path / "m.json",
        metadata("2026-03-03T10:59:00.365935Z", user("ada@uni.edu", "2026-03-04T23:59:00-05:00")),
    )
    meta = read_metadata(path)
    assert meta.created_at == datetime(2026, 3, 3, 10, 59, 0, 365935, tzinfo=timezone.utc)
    assert meta.due == DUE and meta.late_due is None
    assert meta.members[0].names == ("ada@uni.edu", "Ada")
    assert meta.members[0].due == datetime(2026, 3, 4, 23, 59, tzinfo=EST)


@pytest.mark.parametrize(
    "text, problem",
    [
        (json.dumps(metadata(None)), "no created_at"),
        (json.dumps(metadata("yesterday")), "'yesterday', not an ISO 8601 time"),
        (json.dumps(metadata("2026-03-03T10:59:00")), "not an ISO 8601 time with its offset"),
        ("{not json", "not JSON"),
    ],
)
def test_metadata_without_a_valid_created_at_is_an_error_naming_the_file_and_the_fix(
    tmp_path, text, problem
):
    path = write(tmp_path / "submission_metadata.json", text)
    with pytest.raises(UserError) as caught:
        read_metadata(path)
    assert str(path) in str(caught.value) and problem in str(caught.value)
    assert "Fix:" in str(caught.value)


def test_a_members_later_date_on_gradescope_is_their_extension_and_a_group_takes_the_latest():
    rules = Rules(due=DUE, penalty_percent=10)
    meta = read_metadata_of(
        "2026-03-05T00:00:00-05:00",
        user("ada@uni.edu", "2026-03-01T23:59:00-05:00"),
        user("bob@uni.edu", "2026-03-04T23:59:00-05:00"),
        user("cy@uni.edu", "2026-03-03T23:59:00-05:00"),
    )
    assert for_submission(rules, meta).extension(SUBMISSION).due == datetime(
        2026, 3, 4, 23, 59, tzinfo=EST
    )


def test_the_assignments_own_gradescope_date_is_no_extension():
    """An instructor who set Gradescope's due date later than the rules' (to keep it open)
    gives no one an extension: only a member's date later than the assignment's is one."""
    late = "2026-03-08T23:59:00-05:00"
    meta = read_metadata_of("2026-03-03T00:00:00-05:00", user("ada@uni.edu", late), due=late)
    assert for_submission(Rules(due=DUE), meta).extension(SUBMISSION) is None


def read_metadata_of(created_at, *users, **kw):
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        return read_metadata(write(Path(tmp) / "m.json", metadata(created_at, *users, **kw)))


def rules_file(tmp_path: Path, text: str = RULES) -> Rules:
    (tmp_path / "rules.toml").write_text(text)
    return read_rules(tmp_path / "rules.toml")


def test_results_json_scores_the_final_grade_keeps_the_raw_and_states_the_penalty(tmp_path):
    path = write(tmp_path / "m.json", metadata("2026-03-03T05:59:00-05:00"))
    results = gradescope(
        report(80), apply_rules(report(80), rules_file(tmp_path), metadata_or_error(path))
    )
    assert results["score"] == 64
    assert results["extra_data"]["raw_score"] == 80
    assert results["extra_data"]["rules"]["penalty_percent"] == 20
    assert results["output"].splitlines()[:2] == [
        "Score: 64/100",
        "Late by 1 day 6 h (due 2026-03-01 23:59 -05:00, submitted 2026-03-03 05:59 -05:00): "
        "-20% of the points earned, 80 -> 64.",
    ]


def test_with_hidden_tests_the_penalty_line_gives_the_percent_and_never_the_total(tmp_path):
    path = write(tmp_path / "m.json", metadata("2026-03-03T05:59:00-05:00"))
    graded = report(80, hidden=30)
    results = gradescope(graded, apply_rules(graded, rules_file(tmp_path), metadata_or_error(path)))
    assert results["score"] == 64 and results["extra_data"]["raw_score"] == 80
    assert "-20% of the points earned" in results["output"]
    for total in ("80", "64"):
        assert total not in results["output"], results["output"]


def test_on_time_and_within_grace_cost_nothing_and_say_so(tmp_path):
    rules = rules_file(tmp_path)
    for created, says in (
        ("2026-03-01T20:00:00-05:00", "On time (due 2026-03-01 23:59 -05:00"),
        ("2026-03-02T00:10:00-05:00", "): no penalty (a grace of 15 min)"),
    ):
        path = write(tmp_path / "m.json", metadata(created))
        results = gradescope(report(80), apply_rules(report(80), rules, metadata_or_error(path)))
        assert results["score"] == 80 and says in results["output"], results["output"]
        assert " -> " not in results["output"]


def test_an_extension_given_on_gradescope_moves_the_due_date_and_the_line_says_so(tmp_path):
    path = write(
        tmp_path / "m.json",
        metadata("2026-03-03T05:59:00-05:00", user("ada@uni.edu", "2026-03-03T23:59:00-05:00")),
    )
    results = gradescope(
        report(80), apply_rules(report(80), rules_file(tmp_path), metadata_or_error(path))
    )
    assert results["score"] == 80
    assert "On time (due 2026-03-03 23:59 -05:00 (extended)" in results["output"]


def test_an_extension_in_the_rules_csv_for_one_member_of_a_group_covers_the_group(tmp_path):
    rules = read_rules(course(tmp_path))
    path = write(
        tmp_path / "m.json",
        metadata(
            "2026-03-03T05:59:00-05:00",
            user("ada@uni.edu", "2026-03-01T23:59:00-05:00"),
            user("bob@uni.edu", "2026-03-01T23:59:00-05:00"),
        ),
    )
    results = gradescope(report(80), apply_rules(report(80), rules, metadata_or_error(path)))
    assert results["score"] == 80
    assert "On time (due 2026-03-05 23:59 -05:00 (extended)" in results["output"]


def test_work_after_the_late_due_date_earns_nothing(tmp_path):
    path = write(tmp_path / "m.json", metadata("2026-03-09T00:30:00-05:00"))
    results = gradescope(
        report(80), apply_rules(report(80), rules_file(tmp_path), metadata_or_error(path))
    )
    assert results["score"] == 0 and results["extra_data"]["raw_score"] == 80
    assert "after the late due date" in results["output"] and "80 -> 0." in results["output"]


def test_an_unknown_submission_time_grades_without_a_penalty_and_keeps_the_problem(tmp_path):
    path = write(tmp_path / "submission_metadata.json", metadata(None))
    results = gradescope(
        report(80), apply_rules(report(80), rules_file(tmp_path), metadata_or_error(path))
    )
    assert results["score"] == 80
    assert "Submission time unknown" in results["output"]
    assert "no created_at" in results["extra_data"]["rules"]["problem"]


def test_overrides_for_a_member_apply_and_are_listed(tmp_path):
    (tmp_path / "overrides.csv").write_text(
        "student,test,points,reason\nada@uni.edu,ex1_lenet,5,regrade request\n"
    )
    rules = rules_file(tmp_path, RULES + 'overrides = "overrides.csv"\n')
    path = write(tmp_path / "m.json", metadata("2026-03-01T20:00:00-05:00"))
    results = gradescope(report(80), apply_rules(report(80), rules, metadata_or_error(path)))
    assert results["score"] == 85
    assert "Adjusted by your instructor: ex1_lenet: +5 (regrade request)" in results["output"]


# --- the bundle -----------------------------------------------------------------------------


def course(tmp_path: Path) -> Path:
    folder = tmp_path / "course"
    folder.mkdir()
    (folder / "extensions.csv").write_text(
        "student,due,late_due\nbob@uni.edu,2026-03-05T23:59:00-05:00,\n"
    )
    (folder / "rules.toml").write_text(RULES + 'extensions = "extensions.csv"\n')
    return folder / "rules.toml"


def test_export_with_rules_ships_them_and_the_csvs_they_name(tmp_path):
    out = export.build_bundle(tmp_path / "autograder.zip", rules=course(tmp_path))
    with zipfile.ZipFile(out) as zf:
        names = set(zf.namelist())
        assert {"course_rules/rules.toml", "course_rules/extensions.csv"} <= names
        assert "lenet_course/grading/classroom/gradescope.py" in names
        assert "course_rules/rules.toml" in zf.read("run_autograder").decode()


def test_export_refuses_rules_with_a_mistake_and_writes_nothing(tmp_path):
    rules = course(tmp_path)
    rules.write_text(RULES.replace('per = "day"', 'per = "week"'))
    out = tmp_path / "autograder.zip"
    with pytest.raises(UserError, match="week"):
        export.build_bundle(out, rules=rules)
    rules.write_text(RULES + 'extensions = "../elsewhere.csv"\n')
    (tmp_path / "elsewhere.csv").write_text("student,due,late_due\n")
    with pytest.raises(UserError, match="outside the rules' folder"):
        export.build_bundle(out, rules=rules)
    assert not list(tmp_path.glob("*.zip*"))


# The venv's lenet-course, as setup.sh makes it, but from the bundle's files alone and with a
# stand-in for the grader: 80 of 100 points (grading itself is tested in test_export.py and on
# the image).
SHIM = """#!/usr/bin/env bash
exec {python} -I -c '
import sys
sys.path[:0] = [sys.argv[1]]
import lenet_course
assert lenet_course.__file__.startswith(sys.argv[1]), lenet_course.__file__
from lenet_course.grading.judge import runner
def grade(sub, limits, **kw):
    return runner.GradeReport(str(sub), [runner.TestResult("t.py::x", "ex1_lenet", "x", 100, 80, "passed")])
runner.grade = grade
from lenet_course import cli
sys.exit(cli.main(sys.argv[2:]))
' {source} "$@"
"""


def test_the_bundles_run_autograder_grades_late_work_with_the_shipped_rules(tmp_path):
    """Gradescope's layout in a tmp folder: the bundle in source/, submission_metadata.json
    beside it; run_autograder writes results/results.json with the final score."""
    root = tmp_path / "autograder"
    with zipfile.ZipFile(export.build_bundle(tmp_path / "a.zip", rules=course(tmp_path))) as zf:
        zf.extractall(root / "source")
    (root / "submission").mkdir()
    (root / "venv" / "bin").mkdir(parents=True)
    shim = root / "venv" / "bin" / "lenet-course"
    shim.write_text(textwrap.dedent(SHIM).format(python=sys.executable, source=root / "source"))
    shim.chmod(0o755)
    results = root / "results" / "results.json"
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "LENET_DATA": str(tmp_path)}
    for created, members, score, says in (
        ("2026-03-03T05:59:00.123456-05:00", ["ada@uni.edu"], 64, "Late by 1 day 6 h"),
        (None, ["ada@uni.edu"], 80, "Submission time unknown"),
    ):  # each run starts Python and imports torch (~10 s here): two cases, the rest above
        users = [user(m, "2026-03-01T23:59:00.000000-05:00") for m in members]
        write(root / "submission_metadata.json", metadata(created, *users))
        run = subprocess.run(["bash", str(root / "source" / "run_autograder"), "--fast"],
                             env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
        assert results.is_file(), run.stdout[-2000:] + run.stderr[-2000:]
        out = json.loads(results.read_text())
        assert out["score"] == score and out["extra_data"]["raw_score"] == 80, out["output"]
        assert says in out["output"], out["output"]
    assert "warning: no late penalty" in run.stderr and "no created_at" in run.stderr


# --- submission limits ----------------------------------------------------------------------

LIMITED = RULES + "max_submissions = 2\nwindow_hours = 24\n"


def previous(time: str, score: float, limited: bool = False) -> dict:
    extra = {"grading_seed": 7} | ({"limited": True} if limited else {})
    results = {"score": score, "output": f"Score: {score:g}/100", "extra_data": extra,
               "tests": [{"name": "ex1_lenet: x", "score": score, "max_score": 100}]}  # fmt: skip
    return {"submission_time": time, "score": score, "results": results}


def limited_metadata(*earlier: dict) -> dict:
    data = metadata("2026-03-01T12:00:00.000000-05:00")
    data["previous_submissions"] = list(earlier)
    return data


def test_over_the_limit_the_latest_graded_results_come_back_with_when_the_next_is_graded(
    tmp_path, monkeypatch
):
    from lenet_course import cli
    from lenet_course.grading.judge import runner

    rules = tmp_path / "rules.toml"
    rules.write_text(LIMITED)
    meta = write(tmp_path / "m.json", limited_metadata(
        previous("2026-02-28T09:00:00-05:00", 10),  # outside the window
        previous("2026-03-01T01:00:00-05:00", 40),
        previous("2026-03-01T09:00:00-05:00", 70),
    ))  # fmt: skip
    monkeypatch.setattr(runner, "grade", lambda *a, **kw: pytest.fail("graded over the limit"))
    out = tmp_path / "results.json"
    code = cli.main(["grade", str(tmp_path), "--out", str(out), "--rules", str(rules),
                     "--submission-metadata", str(meta)])  # fmt: skip
    results = json.loads(out.read_text())
    assert code == 0 and results["score"] == 70 and results["tests"][0]["score"] == 70
    assert results["extra_data"]["limited"] is True
    first = results["output"].splitlines()[0]
    assert "Not graded: 2 submissions were graded in the 24 h" in first
    assert "graded if made after 2026-03-02 01:00 -05:00" in first
    assert "submitted 2026-03-01 09:00 -05:00" in first


def test_submissions_turned_away_by_the_limit_do_not_count_towards_it(tmp_path):
    rules = Rules(due=DUE, max_submissions=2)
    meta = read_metadata(write(tmp_path / "m.json", limited_metadata(
        previous("2026-03-01T01:00:00-05:00", 40),
        previous("2026-03-01T09:00:00-05:00", 40, limited=True),
    )))  # fmt: skip
    from lenet_course.grading.classroom.gradescope import over_limit

    assert over_limit(rules, meta) is None
    assert over_limit(Rules(due=DUE), meta) is None  # no limit in the rules


@pytest.mark.parametrize(
    "line", ["max_submissions = 0", "max_submissions = 2.5", "window_hours = 0"]
)
def test_a_bad_submission_limit_is_an_error_naming_the_key(tmp_path, line):
    (tmp_path / "rules.toml").write_text(RULES + line + "\n")
    with pytest.raises(UserError, match=line.split()[0]):
        read_rules(tmp_path / "rules.toml")


def test_the_submission_time_is_read_before_any_submitted_code_runs(tmp_path, monkeypatch):
    """A submission that rewrites submission_metadata.json while it is graded (a jail at the
    reduced level leaves /autograder writable) changes nothing: the time was read first."""
    from lenet_course import cli
    from lenet_course.grading.judge import runner

    rules = tmp_path / "rules.toml"
    rules.write_text(RULES)
    meta = write(tmp_path / "m.json", metadata("2026-03-03T05:59:00-05:00"))

    def grade(sub, limits, **kw):  # the submission runs here, and backdates itself
        write(meta, metadata("2026-03-01T12:00:00-05:00"))
        return report(80)

    monkeypatch.setattr(runner, "grade", grade)
    out = tmp_path / "results.json"
    cli.main(["grade", str(tmp_path), "--fast", "--out", str(out), "--rules", str(rules),
              "--submission-metadata", str(meta)])  # fmt: skip
    results = json.loads(out.read_text())
    assert results["score"] == 64 and "Late by 1 day 6 h" in results["output"]
