"""The Gradescope bundle: the grader and its tests, and no answer."""

from __future__ import annotations

import subprocess
import sys
import zipfile

import pytest

from lenet_course import export, release
from lenet_course.errors import UserError
from lenet_course.kit import kit_root

# The kit's files that answer an exercise, whole or in part; none may ship.
ANSWERS = ("lenet_course/model.py", "lenet_course/engine.py", "lenet_course/pipeline.py")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    out = export.build_bundle(tmp_path_factory.mktemp("bundle") / "autograder.zip")
    with zipfile.ZipFile(out) as zf:
        zf.extractall(out.parent / "tree")
        return zf.namelist(), out.parent / "tree"


def test_the_bundle_ships_no_reference_module_and_no_solution(bundle):
    names, _ = bundle
    shipped = [n for n in names if n in ANSWERS or n.startswith("solutions/")]
    assert not shipped, f"the Gradescope bundle ships answers: {shipped}"
    assert {"setup.sh", "run_autograder", "lenet_course/grading/sandbox/worker.py"} <= set(names)
    assert "tests/graded/test_ex3_train.py" in names, "the bundle must hold the graded tests"


def test_no_solution_line_is_anywhere_in_the_bundle(bundle):
    _, tree = bundle
    found = release.leaks(tree, kit_root() / "solutions")
    assert not found, f"the Gradescope bundle holds solution lines: {found[:5]}"


def test_a_bundle_that_would_leak_a_solution_line_is_not_written(tmp_path, monkeypatch):
    shipped = export.bundle_files
    monkeypatch.setattr(export, "bundle_files", lambda: [*shipped(), "solutions/ex1_lenet.py"])
    out = tmp_path / "autograder.zip"
    with pytest.raises(UserError, match="solution code"):
        export.build_bundle(out)
    assert not out.exists()


def test_the_bundle_imports_its_grader_and_collects_its_tests_from_its_own_files(bundle):
    """Nothing the grader needs was left out: its modules import and the judge's tests
    collect with only the bundle's files on the path."""
    _, tree = bundle
    code = (
        "import sys; sys.path[:0] = [sys.argv[1]];"
        "import lenet_course.cli, lenet_course.grading.judge.runner, lenet_course.grading.sandbox.worker;"
        "import lenet_course.grading.judge.plugin, lenet_course.grading.sandbox.landlock;"
        "assert lenet_course.__file__.startswith(sys.argv[1]), lenet_course.__file__;"
        "import pytest; sys.exit(pytest.main(['--collect-only', '-q', '-p', 'no:cacheprovider',"
        " '--rootdir', sys.argv[1], '-c', sys.argv[1] + '/pyproject.toml',"
        " sys.argv[1] + '/tests/graded']))"
    )
    run = subprocess.run([sys.executable, "-I", "-c", code, str(tree)], cwd=tree,
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]


def test_every_command_the_bundle_offers_starts_from_its_own_files(bundle):
    """The bundle's CLI offers what it has the code for (edition ``bundle``), and each such
    command parses with only the bundle on the path: none imports a module it left out
    (grade once crashed on the similarity screen's flags). tests/image/test_gradescope_stand_in.py
    runs run_autograder itself from a venv of the bundle alone."""
    from lenet_course.edition import COMMANDS

    _, tree = bundle
    for command in COMMANDS["bundle"]:
        code = (
            "import sys; sys.path[:0] = [sys.argv[1]]; from lenet_course import cli;"
            "assert cli.__file__.startswith(sys.argv[1]), cli.__file__;"
            "from lenet_course.edition import EDITION; assert EDITION == 'bundle', EDITION;"
            "sys.exit(cli.main([sys.argv[2], '--help']))"
        )
        run = subprocess.run([sys.executable, "-I", "-c", code, str(tree), command], cwd=tree,
                             capture_output=True, text=True, timeout=120)  # fmt: skip
        assert run.returncode == 0 and "usage:" in run.stdout, run.stderr[-2000:]
    run = subprocess.run([sys.executable, "-I", "-c", code, str(tree), "similarity"], cwd=tree,
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert run.returncode == 2 and "invalid choice" in run.stderr, run.stderr[-2000:]
