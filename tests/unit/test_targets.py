"""Loading implementations of the exercises."""

from __future__ import annotations

import pytest

from lenet_course import targets
from lenet_course.errors import UserError
from lenet_course.kit import kit_root


def test_two_targets_load_side_by_side_without_colliding():
    solved = targets.load("solutions", "ex2_log_softmax")
    stub = targets.load("exercises", "ex2_log_softmax")
    assert solved is not stub and solved.LeNetClassifier is not stub.LeNetClassifier
    assert solved.LeNet.__module__ != stub.LeNet.__module__
    solved.LeNetClassifier()  # the solution builds
    with pytest.raises(NotImplementedError, match="Exercise 1"):
        stub.LeNetClassifier()


def test_a_folder_target_is_loaded_from_its_own_files(tmp_path):
    for name in targets.EXERCISES:
        (tmp_path / f"{name}.py").write_text(f"WHO = {name!r}\n")
    assert targets.load(tmp_path, "ex3_train").WHO == "ex3_train"


def test_a_missing_target_folder_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="is not a folder"):
        targets.resolve(tmp_path / "nope")


def test_a_notebook_sees_an_exercise_edited_since_its_last_import(tmp_path, monkeypatch):
    from lenet_course import notebook

    for path in (kit_root() / "solutions").glob("ex*.py"):
        (tmp_path / path.name).write_text(path.read_text())
    monkeypatch.setenv(notebook.TARGET_VAR, str(tmp_path))
    assert not hasattr(notebook.exercise("ex4_kernels"), "EDITED")
    with open(tmp_path / "ex4_kernels.py", "a") as fh:
        fh.write("\nEDITED = True\n")
    assert notebook.exercise("ex4_kernels").EDITED is True
