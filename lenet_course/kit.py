"""The course in one place: its exercises, the thresholds a course would change, where the
kit's files are, and the folder a target name stands for. Plain names and numbers: nothing
here imports a submission.

The points are written once, beside what they reward: on each graded test
(``@pytest.mark.points``); every total, an exercise's by tier included, is summed from them
(:func:`lenet_course.grading.judge.catalog.points`), and ``make-exercises`` writes them into the
README's table of exercises (:func:`lenet_course.authoring.course_table`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lenet_course.errors import UserError


@dataclass(frozen=True)
class Exercise:
    module: str  # the file a student writes, without .py; its tests: tests/graded/test_<module>.py
    task: str  # what the student does, in a few words (the release's README lists them)
    writes: str  # the names the student writes, as the README's table shows them (Markdown)

    @property
    def number(self) -> int:
        return int(self.module.split("_", 1)[0].removeprefix("ex"))

    @property
    def title(self) -> str:
        """How ``check``'s tables and the READMEs name the exercise."""
        return f"Exercise {self.number}: {self.task}"


COURSE = (
    Exercise(
        "ex1_lenet",
        "define the net",
        "`LeNet`: `conv1`, `conv2`, `fc1`, `fc2`, `fc3`, forward to raw scores (N, 10)",
    ),
    Exercise(
        "ex2_log_softmax",
        "add its log-softmax output",
        "`LeNetClassifier(LeNet)`: log-probabilities over dim 1",
    ),
    Exercise(
        "ex3_train",
        "write the training loop",
        "`evaluate(net, loader, device)` and "
        "`train(net, train_loader, test_loader, *, epochs, lr, device)`",
    ),
    Exercise(
        "ex4_kernels",
        "show the kernels it learns",
        "`snapshot_kernels`, `kernel_change`, `plot_kernels`",
    ),
)
EXERCISES = tuple(e.module for e in COURSE)


def exercise(module: str) -> Exercise | None:
    """The declared exercise of a module name (None for one the course does not declare)."""
    return next((e for e in COURSE if e.module == module), None)


THRESHOLDS = {
    # What the graded training must reach: the test accuracy (percent) after this many epochs
    # on MNIST. The graded tests read them, and their titles show them ({PASS_ACCURACY}).
    "PASS_ACCURACY": 95.0,
    "EPOCHS": 10,
    # Grading's time limits, in seconds (the defaults of `grade --test-timeout`,
    # `--train-timeout` and `--total-timeout`; lenet_course.grading.jail.limits.Limits).
    "TEST_SECONDS": 60.0,  # each graded test but the training's
    "TRAIN_SECONDS": 900.0,  # the {EPOCHS}-epoch training on MNIST (about 50 s on 2 CPU cores)
    "SUBMISSION_SECONDS": 1800.0,  # everything for one submission
}


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
