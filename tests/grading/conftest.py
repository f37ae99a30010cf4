"""Helpers for grading tests: submissions built from the solutions, with edits."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from lenet_course.grading.jail.limits import Limits
from lenet_course.grading.judge.catalog import points
from lenet_course.grading.judge.runner import grade
from lenet_course.kit import EXERCISES, kit_root

# What the fast tier (no 10-epoch training) is worth, from the tests' markers
FAST_MAX = points()["fast"]
FAST = points()["fast_by_exercise"]  # exercise -> its fast-tier points
SMALL = Limits(test_seconds=20, train_seconds=300, submission_seconds=600, jobs=2)


def worker_can_start_or_skip(chosen: str) -> None:
    """Where a worker cannot start at level ``chosen`` (a venv in a folder its uid cannot
    enter), the grader must say so before grading: check its error, then skip with it; where
    CI asks for the jail (``LENET_REQUIRE_JAIL``), fail instead."""
    from lenet_course.grading.blame import GraderError
    from lenet_course.grading.jail import client

    try:
        client.check_worker_starts(chosen)
    except GraderError as exc:
        assert "Fix:" in str(exc), f"the grader's error must name the fix: {exc}"
        if os.environ.get("LENET_REQUIRE_JAIL"):  # CI's unprivileged run: it must start
            pytest.fail(f"LENET_REQUIRE_JAIL is set, but a jailed worker cannot start: {exc}")
        pytest.skip(f"a jailed worker cannot start here, and the grader says why: {exc}")


def make_submission(folder: Path, edits: dict[str, tuple[str, str]] | None = None,
                    drop: tuple[str, ...] = (), replace: dict[str, str] | None = None) -> Path:  # fmt: skip
    """Copy the reference solutions into ``folder``, replacing ``old`` by ``new`` per file,
    or a whole file's text through ``replace``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in EXERCISES:
        if name in drop:
            continue
        text = (kit_root() / "solutions" / f"{name}.py").read_text()
        if edits and name in edits:
            old, new = edits[name]
            assert old in text, f"edit anchor not found in {name}"
            text = text.replace(old, new)
        if replace and name in replace:
            text = replace[name]
        (folder / f"{name}.py").write_text(text)
    return folder


@pytest.fixture
def submission(tmp_path):
    def build(edits=None, drop=(), replace=None, name="student"):
        return make_submission(tmp_path / name, edits, drop, replace)

    return build


def fast_grade(folder: Path, limits: Limits = SMALL):
    return grade(folder, limits, full=False)


def by_name(report) -> dict:
    return {t.nodeid.split("::")[-1]: t for t in report.tests}


def copy_solutions(dst: Path) -> Path:
    shutil.copytree(kit_root() / "solutions", dst, ignore=shutil.ignore_patterns("__pycache__"))
    return dst


def tree_state(*roots: Path) -> dict[str, tuple[int, int]]:
    """(size, mtime) of every file under ``roots``, skipping caches and the git store."""
    state = {}
    for root in roots:
        if root.is_file():
            st = root.stat()
            state[str(root)] = (st.st_size, st.st_mtime_ns)
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if d not in ("__pycache__", ".git", ".nox")]
            for f in filenames:
                p = os.path.join(dirpath, f)
                try:
                    st = os.lstat(p)
                except OSError:
                    continue
                state[p] = (st.st_size, st.st_mtime_ns)
    return state


@pytest.fixture
def untouched(mnist_root):
    """Asserts, after the test, that the kit tree, the venv's site-packages and the data
    are exactly as before it."""
    site = Path(next(p for p in sys.path if p.endswith("site-packages")))
    kit = [p for p in kit_root().iterdir() if p.name not in (".venv", ".git")]
    roots = [*kit, Path(mnist_root)]
    before = tree_state(*roots)
    pth_before = sorted(p.name for p in site.glob("*.pth"))
    yield
    assert tree_state(*roots) == before, "something outside the jail's scratch changed"
    assert sorted(p.name for p in site.glob("*.pth")) == pth_before, "a .pth file appeared"


from tests.grading.fakeclass import a_class, grader  # noqa: E402, F401 - fixtures: a class of three
