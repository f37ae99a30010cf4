"""The course's rules: the late penalty as one pure function (property tests), and
grade-all --rules on a class of three through the CLI, with a stand-in for the grader."""

from __future__ import annotations

import csv
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lenet_course.errors import UserError
from lenet_course.grading.classroom import gradebook
from lenet_course.grading.classroom.rules import Extension, Rules, final_grade, penalty, read_rules
from tests.grading.fakeclass import (  # the fixtures a_class and grader: conftest.py
    CLASS,
    FULL_TOTAL,
    grade_all,
    rows,
)

DUE = datetime(2026, 3, 1, 23, 59, tzinfo=timezone(timedelta(hours=-5)))


@st.composite
def course_rules(draw) -> Rules:
    late = draw(st.none() | st.integers(0, 10 * 24 * 60))  # minutes after the due date
    return Rules(
        due=DUE,
        late_due=None if late is None else DUE + timedelta(minutes=late),
        penalty_percent=draw(st.floats(0, 100)),
        per=draw(st.sampled_from(["day", "hour"])),
        grace_minutes=draw(st.floats(0, 180)),
        max_penalty_percent=draw(st.floats(0, 100)),
        penalty_of=draw(st.sampled_from(["earned", "possible"])),
    )


times = st.integers(-5 * 24 * 3600, 20 * 24 * 3600).map(lambda s: DUE + timedelta(seconds=s))
points = st.tuples(st.integers(0, 100), st.integers(0, 100)).map(sorted)  # (earned, possible)
extensions = st.none() | st.integers(0, 5 * 24 * 60).map(
    lambda m: Extension("ada", DUE + timedelta(minutes=m))
)


def cost(when, rules, extension=None, earned=50, possible=100):
    return penalty(when, rules, extension, earned=earned, possible=possible)


@given(course_rules(), times, points, extensions)
def test_no_score_goes_below_zero(rules, when, score, extension):
    earned, possible = score
    taken = cost(when, rules, extension, earned, possible)
    assert 0 <= taken.points <= earned
    assert final_grade(earned, possible, when, rules, "ada").final >= 0


@given(course_rules(), times, times, points)
def test_the_penalty_grows_with_lateness(rules, a, b, score):
    early, late = sorted([a, b])
    assert cost(early, rules, None, *score).points <= cost(late, rules, None, *score).points


@given(course_rules(), st.integers(0, 30 * 24 * 3600), points)
def test_no_penalty_at_or_before_the_due_date(rules, early_by, score):
    assert cost(DUE - timedelta(seconds=early_by), rules, None, *score).points == 0


@given(course_rules(), times, points, extensions)
def test_an_extension_never_lowers_a_grade(rules, when, score, extension):
    assert cost(when, rules, extension, *score).points <= cost(when, rules, None, *score).points


@given(course_rules(), times, points)
def test_the_cap_holds_until_the_late_due_date(rules, when, score):
    taken = cost(when, rules, None, *score)
    if rules.late_due is None or when <= rules.late_due:
        assert taken.percent <= rules.max_penalty_percent and not taken.closed


@given(course_rules(), st.integers(1, 30 * 24 * 3600), points)
def test_work_after_the_late_due_date_earns_zero(rules, after, score):
    if rules.late_due is None:
        return
    when = rules.late_due + timedelta(seconds=after)
    assert final_grade(score[0], score[1], when, rules, "ada").final == 0


def test_each_started_period_costs_its_percent_and_grace_forgives_minutes():
    rules = Rules(DUE, DUE + timedelta(days=2), 10, "day", 15, 50, "earned")
    late = {timedelta(minutes=15): 0, timedelta(minutes=16): 10, timedelta(hours=24): 10,
            timedelta(hours=30): 20, timedelta(days=2): 20}  # fmt: skip
    for by, percent in late.items():
        assert cost(DUE + by, rules).percent == percent, by
    assert cost(DUE + timedelta(days=2, seconds=1), rules).closed
    assert cost(None, rules).points == 0, "no time known: no penalty"


# --- grade-all --rules through the CLI ------------------------------------------------------

RULES = """\
due = 2026-03-01T23:59:00-05:00
late_due = 2026-03-03T23:59:00-05:00
penalty_percent = 10
per = "day"
grace_minutes = 15
max_penalty_percent = 50
penalty_of = "earned"
extensions = "extensions.csv"
overrides = "overrides.csv"
"""


@pytest.fixture
def course(a_class, tmp_path):
    """ada 30 hours late with an override, bob 3 days late, cy 30 hours late with a 2-day
    extension."""
    folder, out = a_class
    for name, late in (("ada", timedelta(hours=30)), ("bob", timedelta(days=3)),
                       ("cy", timedelta(hours=30))):  # fmt: skip
        (folder / name / "timestamp.txt").write_text((DUE + late).isoformat() + "\n")
    rules = tmp_path / "rules" / "rules.toml"
    rules.parent.mkdir()
    rules.write_text(RULES)
    (rules.parent / "extensions.csv").write_text(
        f"student,due,late_due\ncy,{(DUE + timedelta(days=2)).isoformat()},\n"
    )
    (rules.parent / "overrides.csv").write_text(
        "student,test,points,reason\nada,ex3_train,3,regrade request: the loader was right\n"
    )
    return folder, out, rules


def test_late_work_costs_its_started_days_and_extensions_and_overrides_apply(
    grader, course, capsys
):
    folder, out, rules = course
    code, said, err = grade_all(capsys, folder, out, "--rules", str(rules))
    assert code == 0, said + err
    book = rows(out)
    assert {s: int(r["total"]) for s, r in book.items()} == dict.fromkeys(CLASS, FULL_TOTAL)
    ada, bob, cy = book["ada"], book["bob"], book["cy"]
    assert ada["late_by"] == "1d 06:00:00" and float(ada["penalty"]) == pytest.approx(
        0.2 * FULL_TOTAL
    )
    assert float(ada["override"]) == 3 and "regrade request" in ada["override_reason"]
    assert float(ada["final"]) == pytest.approx(0.8 * FULL_TOTAL + 3)
    assert float(bob["final"]) == 0, "three days late, after the late due date: 0"
    assert float(cy["penalty"]) == 0 and float(cy["final"]) == FULL_TOTAL, "the extension"
    assert ada["submitted_at"] == (DUE + timedelta(hours=30)).isoformat()
    with open(out / gradebook.CANVAS) as fh:
        canvas = {r[3]: float(r[5]) for r in list(csv.reader(fh))[2:]}
    assert canvas == {s: float(book[s]["final"]) for s in CLASS}, "Canvas carries the final"
    page = (out / "report.html").read_text()
    assert "<th>final</th>" in page and f'<td class="num">{ada["final"]}</td>' in page

    (rules).write_text(RULES.replace("penalty_percent = 10", "penalty_percent = 5"))
    code, said, _ = grade_all(capsys, folder, out, "--rules", str(rules))
    assert said.count("skipped") == 3 and len(grader.graded) == 3, "new rules regrade nothing"
    assert float(rows(out)["ada"]["final"]) == pytest.approx(0.9 * FULL_TOTAL + 3), "new finals"


def test_a_submission_with_no_known_time_has_no_penalty_and_says_so(grader, course, capsys):
    folder, out, rules = course
    (folder / "bob" / "timestamp.txt").unlink()
    assert grade_all(capsys, folder, out, "--rules", str(rules))[0] == 0
    bob = rows(out)["bob"]
    assert bob["submitted_at"] == "unknown" and float(bob["final"]) == FULL_TOTAL

    times = out.parent / "times.csv"
    times.write_text(f"student,submitted_at\nbob,{(DUE + timedelta(hours=1)).isoformat()}\n")
    assert grade_all(capsys, folder, out, "--rules", str(rules), "--times", str(times))[0] == 0
    assert float(rows(out)["bob"]["penalty"]) == pytest.approx(0.1 * FULL_TOTAL), "--times"


NO_OFFSET = RULES.replace("due = 2026-03-01T23:59:00-05:00", "due = 2026-03-01T23:59:00")
MISTAKES = {  # what is wrong: (the file, as the test names it; its text; what the error says)
    "a date without its offset": ("rules.toml", NO_OFFSET, ["offset"]),
    "late_due before due": (
        "rules.toml", RULES.replace("late_due = 2026-03-03", "late_due = 2026-02-03"),
        ["late_due", "before due"],
    ),
    "an extension for a student not in the class": (
        "extensions.csv", "student,due,late_due\nzed,2026-03-05T00:00:00+00:00,\n",
        ["line 2", "'zed'"],
    ),
    "an override for a student not in the class": (
        "overrides.csv", "student,test,points,reason\nzed,ex1_lenet,1,x\n", ["line 2", "'zed'"],
    ),
    "malformed CSV": (
        "overrides.csv", "student,test,points,reason\nada,ex1_lenet,1\n", ["line 2", "3 fields"],
    ),
    "points that are not a number": (
        "overrides.csv", "student,test,points,reason\nada,ex1_lenet,five,x\n",
        ["line 2", "'five'"],
    ),
    "an override for no exercise or test": (
        "overrides.csv", "student,exercise,points,reason\nada,ex9,1,x\n", ["line 2", "'ex9'"],
    ),
    "a timestamp.txt without its offset": (
        "ada/timestamp.txt", "2026-03-02 10:00:00\n", ["line 1", "offset"],
    ),
    "a submission time for a student not in the class": (
        "times.csv", "student,submitted_at\nada,2026-03-02T10:00:00+00:00\nzed,2026-03-02T10:00:00+00:00\n",
        ["line 3", "'zed'"],
    ),
}  # fmt: skip


@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_bad_rules_are_refused_naming_the_file_and_line_and_nothing_is_written(
    mistake, grader, course, capsys, monkeypatch
):
    folder, out, rules = course
    monkeypatch.setattr(gradebook, "_test_names", lambda: {"test_ex1_lenet.py::fast"})
    name, text, says = MISTAKES[mistake]
    path = folder / name if name.startswith("ada/") else rules.parent / name
    path.write_text(text)
    times = ["--times", str(path)] if name == "times.csv" else []
    code, said, err = grade_all(capsys, folder, out, "--rules", str(rules), *times)
    assert code == 2, said + err
    for words in [str(path), *says, "Fix:"]:
        assert words in err, f"{mistake}: {words!r} not in {err!r}"
    assert "Traceback" not in err
    assert not grader.graded and not out.exists(), "something was graded or written"


def test_an_extension_before_the_due_date_is_refused(tmp_path):
    rules = tmp_path / "rules.toml"
    rules.write_text('due = 2026-03-01T23:59:00-05:00\nextensions = "e.csv"\n')
    (tmp_path / "e.csv").write_text("student,due,late_due\nada,2026-02-01T00:00:00+00:00,\n")
    with pytest.raises(UserError, match=r"e\.csv, line 2: .*before the course's due date"):
        read_rules(rules, {"ada"})
