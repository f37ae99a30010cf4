"""Load an implementation of the course's exercises (``exercises``, ``solutions`` or a folder)
into this process. Only the student's own tools do that; the judge never imports this module
(``lint-imports`` checks it) and reaches submitted code only through the jail.

Each target is imported as its own synthetic package (``_lenet_target_N``), so two targets
never collide in one process and the exercise files can import each other relatively
(``from .ex1_lenet import LeNet``).
"""

from __future__ import annotations

import importlib
import itertools
import sys
import types
from pathlib import Path

from lenet_course.errors import UserError
from lenet_course.kit import EXERCISES, resolve

_counter = itertools.count()
_loaded: dict[Path, str] = {}


def package_for(spec: str | Path) -> str:
    """The synthetic package name under which ``spec``'s files are imported."""
    folder = resolve(spec)
    if folder not in _loaded:
        name = f"_lenet_target_{next(_counter)}"
        pkg = types.ModuleType(name)
        pkg.__path__ = [str(folder)]
        pkg.__file__ = None
        sys.modules[name] = pkg
        _loaded[folder] = name
    return _loaded[folder]


def load(spec: str | Path, exercise: str, *, fresh: bool = False) -> types.ModuleType:
    """Import one exercise module (e.g. ``ex2_log_softmax``) of the target ``spec``;
    ``fresh`` imports the folder's files anew (a notebook re-run after an edit)."""
    if exercise not in EXERCISES:
        raise ValueError(f"unknown exercise {exercise!r}")
    folder = resolve(spec)
    if fresh and folder in _loaded:
        name = _loaded.pop(folder)
        for loaded in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
            del sys.modules[loaded]
    if not (folder / f"{exercise}.py").is_file():
        raise FileNotFoundError(f"{folder / (exercise + '.py')} is missing")
    return importlib.import_module(f"{package_for(spec)}.{exercise}")


def train_with_target(spec, train_loader, test_loader, config, device, callbacks=()):
    """Run the lecture with a target's model, train loop and kernel snapshots.

    Returns a :class:`~lenet_course.engine.History` like :func:`~lenet_course.engine.fit`.
    """
    try:
        net = load(spec, "ex2_log_softmax").LeNetClassifier()
        ex3, ex4 = load(spec, "ex3_train"), load(spec, "ex4_kernels")
        return _train(net, ex3, ex4, spec, train_loader, test_loader, config, device, callbacks)
    except NotImplementedError as exc:
        raise UserError(
            f"the implementation in {resolve(spec)} is not finished: {exc}\n"
            "Fix: complete the exercise, check it with `lenet-course check`, then train again."
        ) from exc


def _train(net, ex3, ex4, spec, train_loader, test_loader, config, device, callbacks):
    from dataclasses import asdict

    from lenet_course.engine import History

    history = History(config=asdict(config), device=str(device))
    history.snapshots["before"] = ex4.snapshot_kernels(net)
    records = ex3.train(
        net, train_loader, test_loader, epochs=config.epochs, lr=config.lr, device=str(device)
    )
    for record in records:
        history.records.append(record)
        for cb in callbacks:
            cb.on_epoch_end(record, config.epochs)
    history.snapshots["after"] = ex4.snapshot_kernels(net)
    history.notes.append(f"trained with the implementation in {resolve(spec)}")
    return history
