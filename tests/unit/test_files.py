"""Atomic writes: all or nothing, with the file mode a plain open() would give."""

from __future__ import annotations

import os

import pytest

from lenet_course.files import atomic_path, atomic_write


def test_a_new_file_gets_the_umask_mode_not_a_private_one(tmp_path):
    umask = os.umask(0o022)
    os.umask(umask)
    path = atomic_write(tmp_path / "sub" / "report.json", "{}")
    assert path.read_text() == "{}"
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask, "other users (the jail) cannot read it"


def test_rewriting_keeps_the_mode_the_file_had(tmp_path):
    path = tmp_path / "x.txt"
    path.write_text("old")
    path.chmod(0o640)
    atomic_write(path, "new")
    assert path.read_text() == "new" and path.stat().st_mode & 0o777 == 0o640


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "x.txt"
    path.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(path) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash")
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["x.txt"]
