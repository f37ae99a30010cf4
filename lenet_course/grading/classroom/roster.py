"""The class roster: one subfolder per student. Both the gradebook and the similarity screen
read it, so it sits below both."""

from __future__ import annotations

from pathlib import Path

from lenet_course.errors import UserError


def students(folder: Path) -> list[Path]:
    """The student subfolders of a class folder, sorted; hidden folders are left out."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(
            f"{folder} is not a folder. Fix: pass a folder with one subfolder per student."
        )
    subs = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not subs:
        raise UserError(f"{folder} has no student subfolders to grade.")
    return subs
