"""grade-all reuses a grade only under the same key (files, tier, graded tests, thresholds,
limits), says why it regrades, and always writes the whole class's files. Through the CLI,
on a class of three, with a stand-in for the grader: these tests are about the class's
bookkeeping, not about grading one submission."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

from lenet_course.files import atomic_path, atomic_write
from lenet_course.grading.classroom import gradebook, reuse
from lenet_course.grading.judge import catalog
from lenet_course.kit import EXERCISES
from tests.grading.fakeclass import (  # the fixtures a_class and grader: conftest.py
    CLASS,
    FAST_POINTS,
    FULL_TOTAL,
    grade_all,
    rows,
)


def test_a_full_run_after_a_fast_one_regrades_everyone_and_says_the_tier_changed(
    grader, a_class, capsys
):
    folder, out = a_class
    code, said, err = grade_all(capsys, folder, out, "--fast")
    assert code == 2 and "is partial" in err, said + err  # no Canvas export of fast grades
    assert {r["tier"] for r in rows(out).values()} == {"fast"}
    assert not (out / gradebook.CANVAS).exists()
    report = json.loads((out / "ada" / gradebook.REPORT).read_text())
    assert report["tier"] == "fast" and report["key"]["tier"] == "fast"
    assert report["complete"] is False, "a fast-tier total is not the whole grade"

    code, said, err = grade_all(capsys, folder, out)
    assert code == 0, said + err
    assert grader.students() == sorted(CLASS * 2), "the full run reused a fast grade"
    assert [full for _, full in grader.graded[3:]] == [True] * 3
    for name in CLASS:
        assert f"{name}: regraded: the tier changed" in said, said
    book = rows(out)
    assert {s: (r["tier"], int(r["total"])) for s, r in book.items()} == dict.fromkeys(
        CLASS, ("full", FULL_TOTAL)
    )
    report = json.loads((out / "ada" / gradebook.REPORT).read_text())
    assert report["tier"] == "full" and report["complete"] is True
    assert "Partial gradebook" not in (out / "report.html").read_text()
    with open(out / gradebook.CANVAS) as fh:
        assert [float(r[5]) for r in list(csv.reader(fh))[2:]] == [FULL_TOTAL] * 3

    code, said, _ = grade_all(capsys, folder, out)
    assert code == 0 and len(grader.graded) == 6, "the same key must reuse the grade"
    assert "ada: skipped" in said


def test_each_changed_part_of_the_key_regrades_with_its_reason(
    grader, a_class, capsys, monkeypatch, tmp_path
):
    folder, out = a_class
    assert grade_all(capsys, folder, out)[0] == 0

    (folder / "bob" / f"{EXERCISES[0]}.py").write_text("BUG = 1\n")
    code, said, _ = grade_all(capsys, folder, out)
    assert code == 0 and "bob: regraded: the submission changed" in said, said
    assert "ada: skipped" in said and "cy: skipped" in said
    assert int(rows(out)["bob"]["total"]) == FULL_TOTAL - FAST_POINTS

    tests = shutil.copytree(catalog.tests_dir(), tmp_path / "graded",
                            ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    monkeypatch.setattr(catalog, "tests_dir", lambda: tests)
    code, said, _ = grade_all(capsys, folder, out)
    assert "ada: skipped" in said, "a copy of the same tests is the same tests"
    first = sorted(tests.glob("test_*.py"))[0]
    first.write_text(first.read_text() + "\n# a changed tolerance\n")
    code, said, _ = grade_all(capsys, folder, out)
    for name in CLASS:
        assert f"{name}: regraded: the graded tests changed" in said, said

    code, said, _ = grade_all(capsys, folder, out, "--test-timeout", "7")
    for name in CLASS:
        assert f"{name}: regraded: the limits changed" in said, said
    code, said, _ = grade_all(capsys, folder, out, "--test-timeout", "7", "--jobs", "1")
    assert "ada: skipped" in said, "how the cores are shared does not change a verdict"

    monkeypatch.setitem(reuse.THRESHOLDS, "PASS_ACCURACY", 99.0)
    code, said, _ = grade_all(capsys, folder, out, "--test-timeout", "7")
    assert "ada: regraded: the thresholds changed" in said, said


def test_a_canvas_export_of_a_partial_gradebook_is_refused_unless_allowed(grader, a_class, capsys):
    folder, out = a_class
    assert grade_all(capsys, folder, out)[0] == 0
    assert (out / gradebook.CANVAS).is_file()

    code, said, err = grade_all(capsys, folder, out, "--fast", "--student", "cy")
    assert code == 2, said + err
    assert "is partial" in err and "--allow-partial" in err and "without --fast" in err, err
    assert "cy" in err and "Traceback" not in err
    assert not (out / gradebook.CANVAS).exists(), "a Canvas export that no longer matches"
    book = rows(out)
    assert {s: r["tier"] for s, r in book.items()} == {"ada": "full", "bob": "full", "cy": "fast"}
    page = (out / "report.html").read_text()
    assert 'id="partial"' in page and "cy" in page

    code, said, err = grade_all(capsys, folder, out, "--fast", "--student", "cy", "--allow-partial")
    assert code == 0, said + err
    with open(out / gradebook.CANVAS) as fh:
        canvas = list(csv.reader(fh))
    assert [r[3] for r in canvas[2:]] == list(CLASS)


def test_a_run_for_one_student_keeps_the_whole_class_in_its_files(grader, a_class, capsys):
    folder, out = a_class
    code, said, err = grade_all(capsys, folder, out, "--student", "bob")
    assert code == 0, said + err
    assert grader.students() == ["bob"]
    book = rows(out)
    assert list(book) == list(CLASS), "every student of the class has a row"
    assert book["ada"]["status"] == "not graded" and book["ada"]["total"] == ""
    assert "3 students" in said

    assert grade_all(capsys, folder, out)[0] == 0
    assert grader.students() == ["ada", "bob", "cy"], "bob's grade is reused"
    (folder / "ada" / f"{EXERCISES[0]}.py").write_text("BUG = 1\n")
    code, said, _ = grade_all(capsys, folder, out, "--student", "ada")
    assert "ada: regraded: the submission changed" in said, said
    book = rows(out)
    assert list(book) == list(CLASS)
    assert {s: int(r["total"]) for s, r in book.items()} == {
        "ada": FULL_TOTAL - FAST_POINTS, "bob": FULL_TOTAL, "cy": FULL_TOTAL
    }  # fmt: skip
    assert book["bob"]["status"] == "graded (earlier run)"
    with open(out / gradebook.CANVAS) as fh:
        assert [r[3] for r in list(csv.reader(fh))[2:]] == list(CLASS)
    page = (out / "report.html").read_text()
    assert "3 students; 3 graded" in page


def test_an_interrupted_run_leaves_each_class_file_as_it_was_or_complete(
    grader, a_class, capsys, monkeypatch
):
    folder, out = a_class
    assert grade_all(capsys, folder, out)[0] == 0
    canvas_before = (out / gradebook.CANVAS).read_bytes()
    (folder / "ada" / f"{EXERCISES[0]}.py").write_text("BUG = 1\n")

    def interrupted(path, text):  # stopped half-way through writing the Canvas export
        if Path(path).name == gradebook.CANVAS:
            with atomic_path(path) as tmp:
                tmp.write_text(text[: len(text) // 2])
                raise KeyboardInterrupt
        return atomic_write(path, text)

    monkeypatch.setattr(gradebook, "atomic_write", interrupted)
    assert grade_all(capsys, folder, out)[0] == 130
    assert (out / gradebook.CANVAS).read_bytes() == canvas_before, "half a Canvas export"
    book = rows(out)
    assert list(book) == list(CLASS) and int(book["ada"]["total"]) == FULL_TOTAL - FAST_POINTS
    assert not [p.name for p in out.iterdir() if p.name.startswith(".") and p.is_file()], (
        "a half-written file was left beside the class files"
    )
