"""Helpers for grading tests: submissions built from the solutions, with edits."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lenet_course.grading.runner import Limits, grade
from lenet_course.targets import EXERCISES, kit_root

# The fast tier (no 10-epoch training) is worth 92 points: ex1 25, ex2 20, ex3 27, ex4 20.
FAST_MAX = 92
KERNEL_CHANGE = "    return {name: after[name] - before[name] for name in before}\n"
SMALL = Limits(test_seconds=20, train_seconds=60, submission_seconds=600, memory_mb=6144, jobs=2)


def make_submission(folder: Path, edits: dict[str, tuple[str, str]] | None = None,
                    drop: tuple[str, ...] = ()) -> Path:  # fmt: skip
    """Copy the reference solutions into ``folder``, replacing ``old`` by ``new`` per file."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in EXERCISES:
        if name in drop:
            continue
        text = (kit_root() / "solutions" / f"{name}.py").read_text()
        if edits and name in edits:
            old, new = edits[name]
            assert old in text, f"edit anchor not found in {name}"
            text = text.replace(old, new)
        (folder / f"{name}.py").write_text(text)
    return folder


@pytest.fixture
def submission(tmp_path):
    def build(edits=None, drop=()):
        return make_submission(tmp_path / "student", edits, drop)

    return build


def fast_grade(folder: Path, limits: Limits = SMALL):
    return grade(folder, limits, full=False)


def by_name(report) -> dict:
    return {t.nodeid.split("::")[-1]: t for t in report.tests}


def copy_solutions(dst: Path) -> Path:
    shutil.copytree(kit_root() / "solutions", dst, ignore=shutil.ignore_patterns("__pycache__"))
    return dst
