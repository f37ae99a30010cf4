"""The similarity screen on a synthetic class, and the class report that shows it. No
grading here: the screen reads files, and the report reads synthetic report.json data."""

from __future__ import annotations

import dataclasses
import json
import sys

import matplotlib.image
import pytest

from lenet_course import cli
from lenet_course.errors import ConfigError, UserError
from lenet_course.grading.classroom import gradebook
from lenet_course.grading.classroom.classreport import write_class_report
from lenet_course.grading.classroom.similarity import (
    REFERENCE,
    ScreenConfig,
    read_csv,
    screen_and_write,
    screen_class,
    write_screen,
)
from lenet_course.grading.classroom.status import Kind, Status
from lenet_course.kit import EXERCISES
from lenet_course.plots import pass_rate_figure
from tests.grading.classmates import HONEST, build_class, expected_flags

pytest.importorskip(
    "copydetect", reason="copydetect is in [class] and [dev]; install the kit with it"
)

COPIERS = {"exact": "dana", "renamed": "moe", "reordered": "dana", "recommented": "moe"}


@pytest.fixture(scope="module")
def screened(tmp_path_factory):
    """The synthetic class of tests/grading/classmates.py, screened with the defaults."""
    folder = tmp_path_factory.mktemp("class")
    origins = build_class(folder)
    out = folder.parent / "screen"
    return origins, screen_and_write(folder, out), out


def flags(screen) -> set[tuple[str, str, str]]:
    return {(m.student_a, m.student_b, m.exercise) for m in screen.flagged}


@pytest.mark.parametrize("copier", sorted(COPIERS))
def test_a_disguised_copy_is_flagged_on_every_exercise_it_copied(screened, copier):
    _, screen, _ = screened
    original = COPIERS[copier]
    pair = tuple(sorted((copier, original)))
    missed = [e for e in EXERCISES if (*pair, e) not in flags(screen)]
    assert not missed, f"{copier} copied {original}'s files, yet {missed} were not flagged"


def test_a_student_who_copied_only_exercise_3_is_flagged_on_exercise_3_alone(screened):
    _, screen, _ = screened
    mine = {f for f in flags(screen) if "only3" in f[:2]}
    assert {f[2] for f in mine} == {"ex3_train"}, mine
    assert ("dana", "only3", "ex3_train") in mine


def test_the_screen_flags_exactly_the_copied_pairs(screened):
    origins, screen, _ = screened
    expected = expected_flags(origins)
    assert flags(screen) == expected, (
        f"missed: {sorted(expected - flags(screen))}; false flags: {sorted(flags(screen) - expected)}"
    )


def test_honest_implementations_and_stubs_stay_below_the_default_threshold(screened):
    _, screen, _ = screened
    honest = {*HONEST, "stubby", "stubbs"}
    pairs = [m for m in screen.matches if {m.student_a, m.student_b} <= honest]
    assert pairs, "the honest variants should share some code (the lecture's idioms)"
    top = max(pairs, key=lambda m: m.score)
    assert top.score < ScreenConfig().threshold and not any(m.flagged for m in pairs), top
    assert not [m for m in screen.matches if {"stubby", "stubbs"} & {m.student_a, m.student_b}], (
        "untouched stubs share only the stub, which is boilerplate"
    )


def test_a_submission_of_the_reference_solutions_matches_the_reference(screened):
    _, screen, _ = screened
    found = {(m.student_a, m.exercise) for m in screen.reference_matches}
    # Exercise 2's answer is the one line its docstring spells out: every honest student
    # writes it, so it is below the minimum overlap and never flags, alone.
    assert found == {("sol", e) for e in EXERCISES if e != "ex2_log_softmax"}, found


def test_the_csv_reads_back_as_the_screen_and_the_html_shows_each_flagged_pair(screened):
    _, screen, out = screened
    assert read_csv(out / "similarity.csv") == screen.matches
    page = (out / "similarity.html").read_text()
    for m in screen.flagged:
        assert f'{m.student_a}</span> and <span class="flag">{m.student_b}' in page, m
    assert page.count("<mark>") >= len(screen.flagged), "the matching code is not marked"
    assert "matches the reference" in page and "http" not in page, "the page must stay offline"
    image = matplotlib.image.imread(out / "similarity.png")
    assert image[..., :3].std() > 0.05, "the similarity plot is blank"


def test_a_student_release_has_no_reference_and_says_so(monkeypatch, tmp_path):
    monkeypatch.setattr("lenet_course.edition.EDITION", "student")
    build_class(tmp_path / "class")
    screen = screen_class(tmp_path / "class")
    assert screen.reference is None and not screen.reference_matches
    assert "does not apply" in screen.reference_note
    page = write_class_report(
        tmp_path, {"sol": Status(Kind.GRADED)}, {"sol": None}, screen
    ).read_text()
    assert "does not apply" in page


def test_wrong_screen_settings_are_user_errors(tmp_path):
    with pytest.raises(ConfigError, match="similarity-threshold"):
        ScreenConfig(threshold=1.5)
    with pytest.raises(UserError, match="--boilerplate"):
        ScreenConfig(boilerplate=tmp_path).boilerplate_dir()
    with pytest.raises(UserError, match="--reference"):
        ScreenConfig(reference=tmp_path).reference_dir()


def test_without_copydetect_grade_all_names_the_extra_before_grading(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "copydetect", None)
    monkeypatch.setitem(sys.modules, "copydetect.detector", None)
    (tmp_path / "class" / "ada").mkdir(parents=True)
    graded = []
    monkeypatch.setattr(gradebook, "grade_one", lambda task: graded.append(task))
    with pytest.raises(UserError, match=r"pip install 'lenet-course\[class\]'"):
        gradebook.grade_all(tmp_path / "class", tmp_path / "out")
    assert not graded, "grade-all graded the class before finding the report cannot be written"
    code = cli.main(["grade-all", str(tmp_path / "class"), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and "lenet-course[class]" in err and "Traceback" not in err, err


# --- the class report ---------------------------------------------------------------------


def a_report(student_scores: dict[str, tuple[int, str, str]]) -> dict:
    """report.json as the grader writes it: test name -> (score, status, message)."""
    tests = [
        {"nodeid": f"tests/graded/test_ex1_lenet.py::{name}", "exercise": "ex1_lenet",
         "title": f"LeNet's {name} match the lecture's architecture, layer by layer, in order",
         "score": score, "max_score": 5, "status": status, "message": message}
        for name, (score, status, message) in student_scores.items()
    ]  # fmt: skip
    return {"tests": tests, "max_score": 10, "fingerprint": "x"}


def a_class_of_reports() -> tuple[dict, dict]:
    shapes = "conv1 must map 1 channel to 6: got 3"
    rows = {
        "ada": a_report({"shapes": (5, "passed", ""), "params": (5, "passed", "")}),
        "bob": a_report({"shapes": (0, "failed", shapes), "params": (0, "failed", "too many")}),
        "cy": a_report({"shapes": (0, "failed", shapes), "params": (5, "passed", "")}),
        "dan": a_report(
            {
                "shapes": (0, "failed", "not run: the submission's time limit was reached"),
                "params": (0, "error", "the judge crashed"),
            }
        ),  # fmt: skip
        "eve": None,
    }
    graded = Status(Kind.GRADED)
    statuses = {"ada": graded, "bob": graded, "cy": Status(Kind.SKIPPED), "dan": graded,
                "eve": Status(Kind.ERROR, "no MNIST")}  # fmt: skip
    return statuses, rows


def test_class_report_shows_failures_students_errors_and_the_screen(screened, tmp_path):
    _, screen, out = screened
    statuses, rows = a_class_of_reports()
    (tmp_path / "ada").mkdir()
    (tmp_path / "ada" / "results.json").write_text(json.dumps({"score": 10}))
    page = write_class_report(tmp_path, statuses, rows, screen).read_text()
    assert "4 graded" in page and "mean total 3.8 of 10" in page
    assert "<b>2×</b> conv1 must map 1 channel to 6: got 3" in page, "the commonest failure"
    assert "LeNet&#39;s shapes match the lecture&#39;s architecture" in page, "tests by title"
    assert "1/3 (33%)" in page, "shapes: 1 pass of 3 run (dan's time limit is not a failure)"
    assert '<a href="ada/results.json">' in page and 'href="bob/results.json"' not in page
    assert "<b>eve</b>: grader error: no MNIST" in page
    assert "<b>dan</b>: grader error: LeNet" in page and "the judge crashed" in page
    assert "<b>dan</b>: 1 test(s) hit a time limit" in page
    assert '<a href="similarity.html">' in page and 'src="similarity.png"' in page
    for m in screen.flagged:
        assert f'<td class="flag">{m.student_a}</td><td class="flag">{m.student_b}</td>' in page
    for name in ("scores.png", "exercise-scores.png", "pass-rates.png"):
        image = matplotlib.image.imread(tmp_path / name)
        assert image[..., :3].std() > 0.05, f"{name} is blank"
        assert f'src="{name}"' in page
    assert "http" not in page, "the report must open offline"


def test_pass_rate_labels_fit_inside_the_figure():
    long = "a test title as long as the longest docstring a student reads in the report: " * 3
    fig = pass_rate_figure({long + str(i): i / 10 for i in range(10)} | {"short": 1.0})
    fig.canvas.draw()
    box = fig.bbox
    for label in fig.axes[0].get_yticklabels():
        extent = label.get_window_extent()
        assert extent.x0 >= box.x0 and extent.x1 <= box.x1, f"label cut off: {label.get_text()!r}"


def test_grade_all_on_a_class_without_copies_writes_an_empty_screen(monkeypatch, tmp_path):
    folder = tmp_path / "class"
    for name, source in HONEST.items():
        if name != "sol":
            (folder / name).mkdir(parents=True)
            for e in EXERCISES:
                (folder / name / f"{e}.py").write_text((source / f"{e}.py").read_text())

    def fake_grade(task):  # a synthetic report.json: this test is about the screen
        dest = tmp_path / "out" / task.submission.rsplit("/", 1)[-1]
        dest.mkdir(parents=True)
        (dest / gradebook.REPORT).write_text(json.dumps(a_report({"shapes": (5, "passed", "")})))
        return gradebook.Outcome(dest.name, Status(Kind.GRADED))

    monkeypatch.setattr(gradebook, "grade_one", fake_grade)
    gradebook.grade_all(folder, tmp_path / "out", full=False)
    rows = read_csv(tmp_path / "out" / "similarity.csv")
    assert not [m for m in rows if m.flagged], rows
    assert all(m.student_b != REFERENCE or not m.flagged for m in rows)
    page = (tmp_path / "out" / "report.html").read_text()
    assert 'id="no-flags"' in page and "No submission matches the reference" in page
    assert 'id="no-flags"' in (tmp_path / "out" / "similarity.html").read_text()


def test_a_large_screen_keeps_its_page_small_and_every_flagged_pair_in_the_csv(screened):
    """At class scale the side-by-side views are the page's weight: similarity.html shows
    the most similar pairs side by side and lists the others, with a note of what it left
    out; similarity.csv still has every pair."""
    _, screen, out = screened
    small = dataclasses.replace(screen, config=dataclasses.replace(
        screen.config, side_by_side=1, table_rows=2))  # fmt: skip
    write_screen(small, out / "cut")
    page = (out / "cut" / "similarity.html").read_text()
    flagged = [*screen.flagged, *screen.reference_matches]
    assert len(flagged) > 2, "the fixture's class must flag more pairs than the page keeps"
    assert page.count('<section class="pair"') == 1 and page.count("<mark>") >= 1
    assert 'id="cut-rows"' in page and f"first 2 of the {len(flagged)} flagged pairs" in page
    assert 'id="cut-pairs"' in page
    top = max(flagged, key=lambda m: m.score)
    assert f"{top.student_a}</span> and" in page, "the most similar pair is the one shown"
    assert read_csv(out / "cut" / "similarity.csv") == screen.matches, "the CSV keeps them all"
    full = (out / "similarity.html").read_text()
    assert 'id="cut-rows"' not in full and 'id="cut-pairs"' not in full
