"""Where the kit's files are: its source tree, the four exercises, and the folder a target
name stands for. Plain paths and names: nothing here imports a submission."""

from __future__ import annotations

from pathlib import Path

from lenet_course.errors import UserError

EXERCISES = ("ex1_lenet", "ex2_log_softmax", "ex3_train", "ex4_kernels")


def kit_root() -> Path:
    """The kit's source tree: the folder holding ``solutions/``, ``exercises/`` and ``tests/``."""
    return Path(__file__).resolve().parent.parent


def resolve(spec: str | Path) -> Path:
    """``exercises`` / ``solutions`` name the kit's folders; anything else is a path."""
    if str(spec) in ("exercises", "solutions"):
        folder = kit_root() / str(spec)
    else:
        folder = Path(spec).expanduser()
    if not folder.is_dir():
        raise UserError(
            f"target {spec!r}: {folder} is not a folder. Fix: pass exercises, solutions, or a "
            f"folder holding {', '.join(e + '.py' for e in EXERCISES)}."
        )
    return folder.resolve()
