"""`lenet-course release student`: a student repository with no solution code in it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lenet_course import authoring, release
from lenet_course.errors import UserError
from lenet_course.grading.judge.catalog import catalog, points
from lenet_course.kit import kit_root


@pytest.fixture(scope="module")
def student_release(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("release") / "lenet-lab"
    release.write_student_release(out, repo_url="https://example.org/course/lenet-lab")
    return out


def texts(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): p.read_text() for p in folder.rglob("*") if p.is_file()}


def test_no_solution_line_the_markers_enclose_is_anywhere_in_the_release(student_release):
    files = {}  # each file's lines, stripped and without comments (notebooks: cell sources)
    for name, text in texts(student_release).items():
        if name.endswith(".ipynb"):
            text = "\n".join("".join(c["source"]) for c in json.loads(text)["cells"])
        files[name] = {line.split("#")[0].strip() for line in text.splitlines()}
    checked = 0
    for path in sorted((kit_root() / "solutions").glob("ex*.py")):
        lines = path.read_text().splitlines()
        for region in authoring.find_regions(path.read_text(), path):
            for line in lines[region.begin : region.end - 1]:
                code = line.split("#")[0].strip()
                if len(code) < release.MIN_LEAK_CHARS or code in release.IDIOMS:
                    continue
                checked += 1
                where = [name for name, lines in files.items() if code in lines]
                assert not where, f"solution line {code!r} ({path.name}) is in {where}"
    assert checked >= 30, f"only {checked} solution lines were looked for"
    assert not (student_release / "solutions").exists()
    for kit_only in ("model.py", "engine.py", "pipeline.py", "release.py", "authoring.py"):
        assert not (student_release / "lenet_course" / kit_only).exists(), kit_only


def test_hidden_tests_are_left_out_and_what_they_are_worth_is_kept(student_release):
    hidden = [i for i in catalog() if i["hidden"]]
    assert hidden, "the course holds hidden tests (the markers say which)"
    graded = texts(student_release / "tests" / "graded")
    for item in hidden:
        name = item["nodeid"].split("::")[-1]
        assert not any(name in text for text in graded.values()), f"{name} is in the release"
    assert "replays.py" not in graded and "replay(" not in graded["test_ex3_train.py"]
    saved = json.loads(graded["hidden.json"])
    assert sum(t["points"] for t in saved) == sum(i["points"] for i in hidden) > 0
    visible = [i for i in catalog() if not i["hidden"]]
    for item in visible:  # every visible test is still there
        test_file = item["nodeid"].split("::")[0]
        assert f"def {item['nodeid'].split('::')[-1].split('[')[0]}(" in graded[test_file]


def test_the_release_has_the_stubs_notebooks_and_a_student_cli(student_release):
    for name, text in authoring.render_exercises(kit_root() / "solutions").items():
        assert (student_release / "exercises" / name).read_text() == text
    notebooks = sorted(p.name for p in (student_release / "notebooks").glob("*.ipynb"))
    assert notebooks == [f"{e}.ipynb" for e in ("ex1_lenet", "ex2_log_softmax", "ex3_train",
                                                 "ex4_kernels")]  # fmt: skip
    first = json.loads((student_release / "notebooks" / "ex1_lenet.ipynb").read_text())
    assert "https://example.org/course/lenet-lab" in "".join(first["cells"][1]["source"])
    edition = (student_release / "lenet_course" / "edition.py").read_text()
    assert 'EDITION = "student"' in edition


def test_a_release_into_a_folder_that_is_not_empty_is_refused(tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(UserError, match="not empty"):
        release.write_student_release(tmp_path)
    assert (tmp_path / "keep.txt").read_text() == "mine"


@pytest.mark.validation
def test_a_fresh_venv_installs_the_release_and_checks_the_stubs_to_zero(student_release):
    venv = student_release.parent / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", "-e", str(student_release)],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert pip.returncode == 0, pip.stdout + pip.stderr
    env = dict(os.environ, COLUMNS="200")
    check = subprocess.run(
        [str(venv / "bin" / "lenet-course"), "check"], cwd=student_release, env=env,
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    # the stubs fail every test a student can run: check exits 1, as pytest does
    assert check.returncode == 1, check.stdout + check.stderr
    worth = points()
    assert f"Total: 0/{worth['total']}" in check.stdout, check.stdout
    hidden = [i for i in catalog() if i["hidden"]]
    said = f"hidden tests: {len(hidden)} tests worth {sum(i['points'] for i in hidden)} points"
    assert said in check.stdout, check.stdout
    answers = shutil.copytree(kit_root() / "solutions", student_release.parent / "answers")
    solved = subprocess.run(
        [str(venv / "bin" / "lenet-course"), "check", "--target", str(answers)],
        cwd=student_release, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    # Every visible fast-tier test passes: all but the training points and the hidden ones.
    assert f"Total: {worth['visible_fast']}/{worth['total']}" in solved.stdout, solved.stdout
    assert solved.returncode == 0, solved.stdout + solved.stderr
    train = subprocess.run(
        [str(venv / "bin" / "lenet-course"), "train"], cwd=student_release,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert train.returncode == 2 and "invalid choice" in train.stderr


def test_a_release_that_would_leak_a_solution_line_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(release, "IDIOMS", {})  # `with torch.no_grad():` now counts
    out = tmp_path / "lab"
    with pytest.raises(UserError, match=r"(?s)solution code.*with torch.no_grad\(\):"):
        release.write_student_release(out)
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_a_release_that_names_a_notebook_it_does_not_ship_writes_nothing(tmp_path, monkeypatch):
    """The student README lists a notebook per exercise: an exercise without one (a new
    exercise, its notebook not written yet) stops the release, naming the file and the fix."""
    from lenet_course import authoring

    made = authoring.make_notebooks

    def all_but_ex4(src, out, **kw):
        written = made(src, out, **kw)
        for path in written:
            if path.name.startswith("ex4_"):
                path.unlink()
        return [p for p in written if p.exists()]

    monkeypatch.setattr(authoring, "make_notebooks", all_but_ex4)
    out = tmp_path / "lab"
    with pytest.raises(UserError, match=r"names notebooks/ex4_kernels\.ipynb.*does not ship"):
        release.write_student_release(out)
    assert not out.exists() and list(tmp_path.iterdir()) == []
