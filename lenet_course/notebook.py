"""What the exercise notebooks call: a student's exercise imported fresh, a slice of MNIST,
and one exercise's checks shown with points and hints.

A front end, like the CLI: it draws and prints into the notebook. The checks themselves run
in the grader (:func:`lenet_course.grading.judge.runner.grade`), in its own processes, never in
the notebook's kernel. ``LENET_TARGET`` (default ``exercises``) names the folder the
notebooks use; CI sets it to ``solutions`` and to ``exercises`` to run them both ways.
"""

from __future__ import annotations

import os
import types
from pathlib import Path

TARGET_VAR = "LENET_TARGET"


def _spec() -> str:
    return os.environ.get(TARGET_VAR, "exercises")


def target() -> Path:
    """The folder whose exercise files the notebooks import (``$LENET_TARGET``)."""
    from lenet_course.kit import resolve

    return resolve(_spec())


def exercise(name: str) -> types.ModuleType:
    """``exercises/NAME.py`` (of :func:`target`) imported afresh, so that edits made since
    the last call take effect."""
    from lenet_course.targets import load

    return load(_spec(), name, fresh=True)


def unfinished(exc: BaseException) -> str:
    """A sentence for a stub that is not written yet (NotImplementedError), else re-raise."""
    if isinstance(exc, NotImplementedError):
        return f"Not written yet: {exc} Fill it in, save the file and run this cell again."
    raise exc


def mnist(n_train: int = 6000, n_test: int = 2000, *, batch_size: int = 100, seed: int = 0):
    """Loaders over the first ``n_train`` training and ``n_test`` test images (MNIST is found,
    or downloaded where the web can be reached; ``LENET_DATA`` points at a copy)."""
    from lenet_course import data

    root = data.prepare(None, download=True)
    x, y = data.load_split(root, train=True)
    xt, yt = data.load_split(root, train=False)
    train = data.TensorLoader(
        data.to_inputs(x[:n_train]), y[:n_train], batch_size=batch_size, shuffle=True, seed=seed
    )
    test = data.TensorLoader(data.to_inputs(xt[:n_test]), yt[:n_test], batch_size=1000)
    return train, test


def lecture_lenet(seed: int = 0, *, log_softmax: bool = True):
    """A stand-in LeNet built from the lecture's spec, for notebooks whose exercise needs a
    net while Exercises 1-2 are unfinished."""
    from lenet_course.grading.judge.spec import lenet

    return lenet(seed, log_softmax=log_softmax)


def check(name: str, *, full: bool = False):
    """Grade one exercise of :func:`target` as ``lenet-course check`` does (hidden tests
    listed, not run) and show the table; returns the report."""
    from lenet_course import views
    from lenet_course.grading.judge.runner import grade

    data_root = None
    if full:
        from lenet_course import data

        data_root = data.prepare(None, download=True)
    report = grade(target(), full=full, data_root=data_root, hidden=False, exercises=(name,))
    views.print_report(views.console(), report)
    return report
