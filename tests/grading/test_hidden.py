"""Hidden tests: graded on submission, listed (not run) by `check`, published later."""

from __future__ import annotations

import json

from lenet_course.grading.judge import catalog
from lenet_course.grading.judge.reports import gradescope, junit
from lenet_course.grading.judge.runner import grade
from tests.grading.conftest import FAST, SMALL, make_submission


def test_the_kit_holds_hidden_tests_worth_points_in_exercises_2_and_3():
    hidden = catalog.hidden_tests(catalog.catalog())
    assert {t["exercise"] for t in hidden} == {"ex2_log_softmax", "ex3_train"}
    total = sum(i["points"] for i in catalog.catalog())
    # enough to matter, and few enough that what `check` shows is most of the grade
    assert 0.05 * total <= sum(t["points"] for t in hidden) <= 0.15 * total


def test_check_lists_the_hidden_tests_without_running_them_and_grade_runs_them(tmp_path):
    sub = make_submission(tmp_path / "sub")
    kept = grade(sub, SMALL, full=False, hidden=False, exercises=("ex2_log_softmax",))
    hidden = [t for t in kept.tests if t.hidden]
    worth = [
        i["points"] for i in catalog.catalog() if i["hidden"] and i["exercise"] == "ex2_log_softmax"
    ]
    assert [(t.status, t.max_score, t.title) for t in hidden] == [
        ("skipped", worth[0], "a hidden test")
    ]
    ex2 = FAST["ex2_log_softmax"]
    assert kept.max_score == ex2 and kept.score == ex2 - worth[0]
    assert any(f"hidden tests: 1 tests worth {worth[0]} points" in n for n in kept.notes)

    graded = grade(sub, SMALL, full=False, exercises=("ex2_log_softmax",))
    ran = [t for t in graded.tests if t.hidden]
    assert [(t.status, t.score) for t in ran] == [("passed", worth[0])]
    assert "each_row_is_stabilised" in ran[0].nodeid
    assert graded.score == ex2 and not any("hidden tests" in n for n in graded.notes)

    entries = {e["number"]: e for e in gradescope(graded)["tests"]}
    assert entries[ran[0].nodeid]["visibility"] == "after_published"
    assert {e["visibility"] for n, e in entries.items() if n != ran[0].nodeid} == {"visible"}
    assert junit(graded).count('name="visibility" value="hidden"') == 1


def test_a_release_reads_what_its_hidden_tests_are_worth_from_hidden_json(tmp_path, monkeypatch):
    (tmp_path / catalog.HIDDEN_FILE).write_text(
        json.dumps([{"exercise": "ex3_train", "points": 4}])
    )
    monkeypatch.setattr(catalog, "tests_dir", lambda: tmp_path)
    visible = [i for i in catalog.catalog() if not i["hidden"]]
    assert catalog.hidden_tests(visible) == [{"exercise": "ex3_train", "points": 4}]
