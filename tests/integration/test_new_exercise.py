"""docs/instructors.md's recipe for a new exercise, run as an instructor runs it, on a copy of
the kit: `new-exercise`, a threshold and a point value changed in their one home, then
`make-exercises`, `check`, a fast grade of the stubs, the student release, the Gradescope
bundle, `verify-course` and the lint."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from lenet_course.grading.judge.catalog import points
from lenet_course.kit import EXERCISES, kit_root

pytestmark = [pytest.mark.validation, pytest.mark.mnist]  # about a minute: `nox -s validation`

MODULE = f"ex{len(EXERCISES) + 1}_double"


def kit_copy(tmp_path: Path) -> Path:
    """The kit's tracked files, as a clone holds them."""
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=kit_root(), capture_output=True, check=True
    ).stdout.decode()
    copy = tmp_path / "kit"
    for name in filter(None, listed.split("\0")):
        if (kit_root() / name).is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(kit_root() / name, copy / name)
    return copy


def test_a_new_exercise_from_the_recipe_is_checked_graded_released_and_bundled(
    tmp_path, mnist_root
):
    copy = kit_copy(tmp_path)
    # the copy's kit, with no jail: the chain is what is tested here, the jail elsewhere
    env = dict(os.environ, PYTHONPATH=str(copy), LENET_JAIL="none", COLUMNS="200")
    env["LENET_DATA"] = str(mnist_root)

    def cli(*args: str) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [sys.executable, "-m", "lenet_course.cli", *args],
            cwd=copy, env=env, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        return done

    made = cli("new-exercise", "double", "--function", "double_it", "--points", "6",
               "--task", "double a tensor", "--writes", "`double_it(x)`")  # fmt: skip
    assert made.returncode == 0, made.stdout + made.stderr
    total = points()["total"] + 6  # the kit's course, and the new exercise's test
    said = f"The course is now worth {total} points, 6 of them this exercise's"
    assert said in " ".join(made.stdout.split()), made.stdout
    for path in (f"solutions/{MODULE}.py", f"tests/graded/test_{MODULE}.py",
                 f"notebooks/{MODULE}.py", f"exercises/{MODULE}.py"):  # fmt: skip
        assert (copy / path).is_file(), f"new-exercise did not write {path}"

    # The one home of the course: a threshold in kit.py, a point value on the test.
    kit_py = copy / "lenet_course" / "kit.py"
    declared = kit_py.read_text().replace('"PASS_ACCURACY": 95.0', '"PASS_ACCURACY": 96.5')
    kit_py.write_text(declared.replace('"TEST_SECONDS": 60.0', '"TEST_SECONDS": 45.0'))
    test = copy / "tests" / "graded" / f"test_{MODULE}.py"
    test.write_text(test.read_text().replace("@pytest.mark.points(6)", "@pytest.mark.points(7)"))
    assert cli("make-exercises").returncode == 0
    readme = (copy / "README.md").read_text()
    assert f"| `{MODULE}.py` | `double_it(x)` | 7 |" in readme, "make-exercises writes the row"

    check = cli("check", "--target", "solutions")
    assert check.returncode == 0, check.stdout + check.stderr
    title = f"Exercise {len(EXERCISES) + 1}: double a tensor ({MODULE}.py): 7/7"
    assert title in check.stdout, check.stdout
    assert "more than 96.5% test accuracy" in check.stdout, "the threshold reaches the title"

    assert "seconds per test (default 45)" in cli("grade", "--help").stdout, "the time limit"
    graded = cli("grade", "exercises", "--fast", "--out", str(tmp_path / "stubs.json"))
    assert graded.returncode == 0, graded.stdout + graded.stderr
    stubs = json.loads((tmp_path / "stubs.json").read_text())
    mine = [t for t in stubs["tests"] if t["name"].startswith(MODULE)]
    assert stubs["score"] == 0 and [t["max_score"] for t in mine] == [7], mine
    assert "NotImplementedError" in mine[0]["output"], mine[0]["output"]

    release = cli("release", "student", str(tmp_path / "release"))
    assert release.returncode == 0, release.stdout + release.stderr
    stub = (tmp_path / "release" / "exercises" / f"{MODULE}.py").read_text()
    assert "NotImplementedError" in stub and "return 2 * x" not in stub
    assert (tmp_path / "release" / "notebooks" / f"{MODULE}.ipynb").is_file()
    assert "double a tensor" in (tmp_path / "release" / "README.md").read_text()

    bundle = cli("export", "gradescope", "--out", str(tmp_path / "autograder.zip"))
    assert bundle.returncode == 0, bundle.stdout + bundle.stderr
    names = zipfile.ZipFile(tmp_path / "autograder.zip").namelist()
    assert any(n.endswith(f"tests/graded/test_{MODULE}.py") for n in names), names
    assert not any(re.search(r"(^|/)solutions/", n) for n in names), "the bundle ships answers"

    # the docs' steps each end in verify-course: the changed course holds as a whole
    verified = cli("verify-course", "--fast", "--mutants", "none")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "The course holds" in verified.stdout, verified.stdout

    ruff = Path(sys.executable).with_name("ruff")
    for lint in ([str(ruff), "check", "."], [str(ruff), "format", "--check", "."]):
        done = subprocess.run(lint, cwd=copy, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
