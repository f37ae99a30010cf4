"""Hidden tests: graded on submission, listed (not run) by `check`, published later."""

from __future__ import annotations

import json

from lenet_course.grading.judge import catalog
from lenet_course.grading.judge.reports import gradescope, junit
from lenet_course.grading.judge.runner import grade
from lenet_course.kit import EXERCISES
from tests.grading.conftest import FAST, SMALL, make_submission


def test_the_course_holds_hidden_tests_worth_points_in_its_own_exercises():
    hidden = catalog.hidden_tests(catalog.catalog())
    assert hidden, "the course's markers hide some tests"
    assert {t["exercise"] for t in hidden} <= set(EXERCISES)
    assert all(t["points"] > 0 for t in hidden)
    total = sum(i["points"] for i in catalog.catalog())
    # what `check` shows is most of the grade
    assert sum(t["points"] for t in hidden) < total / 2


def test_check_lists_the_hidden_tests_without_running_them_and_grade_runs_them(tmp_path):
    hidden_by_exercise: dict[str, list[dict]] = {}
    for i in catalog.catalog():
        if i["hidden"]:
            hidden_by_exercise.setdefault(i["exercise"], []).append(i)
    # the exercise with the fewest hidden tests: the quickest to grade twice
    ex = min(hidden_by_exercise, key=lambda e: (len(hidden_by_exercise[e]), EXERCISES.index(e)))
    worth = [i["points"] for i in hidden_by_exercise[ex]]
    sub = make_submission(tmp_path / "sub")
    kept = grade(sub, SMALL, full=False, hidden=False, exercises=(ex,))
    hidden = [t for t in kept.tests if t.hidden]
    assert [(t.status, t.max_score, t.title) for t in hidden] == [
        ("skipped", w, "a hidden test") for w in worth
    ]
    assert kept.max_score == FAST[ex] and kept.score == FAST[ex] - sum(worth)
    said = f"hidden tests: {len(worth)} tests worth {sum(worth)} points"
    assert any(said in n for n in kept.notes)

    graded = grade(sub, SMALL, full=False, exercises=(ex,))
    ran = [t for t in graded.tests if t.hidden]
    assert [(t.status, t.score) for t in ran] == [("passed", w) for w in worth]
    assert {t.nodeid for t in ran} == {i["nodeid"] for i in hidden_by_exercise[ex]}
    assert graded.score == FAST[ex] and not any("hidden tests" in n for n in graded.notes)

    entries = {e["number"]: e for e in gradescope(graded)["tests"]}
    hidden_ids = {t.nodeid for t in ran}
    assert {entries[n]["visibility"] for n in hidden_ids} == {"after_published"}
    assert {e["visibility"] for n, e in entries.items() if n not in hidden_ids} == {"visible"}
    assert junit(graded).count('name="visibility" value="hidden"') == len(worth)


def test_a_release_reads_what_its_hidden_tests_are_worth_from_hidden_json(tmp_path, monkeypatch):
    (tmp_path / catalog.HIDDEN_FILE).write_text(
        json.dumps([{"exercise": "ex3_train", "points": 4}])
    )
    monkeypatch.setattr(catalog, "tests_dir", lambda: tmp_path)
    visible = [i for i in catalog.catalog() if not i["hidden"]]
    assert catalog.hidden_tests(visible) == [{"exercise": "ex3_train", "points": 4}]
