"""`lenet-course new-exercise NAME`: a working skeleton of the next exercise.

It writes the exercise's four files and declares it in the course:

* ``solutions/exN_NAME.py``: a function ``NAME`` with its answer between solution markers;
* ``tests/graded/test_exN_NAME.py``: the judge's reference and one graded test that calls
  the student's function through the jailed worker's declared probe (``call``);
* ``notebooks/exN_NAME.py``: a notebook that runs the function and the exercise's checks;
* an ``Exercise`` entry in :data:`lenet_course.kit.COURSE`;

then it writes the stub ``exercises/exN_NAME.py`` and the README's table of exercises.
Straight from the command, the skeleton grades in full on the solutions and 0 on the stub;
the instructor replaces the example (every ``TODO``) with the exercise.
"""

from __future__ import annotations

import json
import keyword
import re
from pathlib import Path

from lenet_course import authoring
from lenet_course.errors import UserError
from lenet_course.files import atomic_write
from lenet_course.grading.judge.catalog import catalog
from lenet_course.kit import COURSE, EXERCISES, Exercise

SOLUTION = '''"""Exercise {n}: TODO: one line on what the student writes.

TODO: the instructions, as the student reads them at the top of exercises/{module}.py.
"""

import torch


def {function}(x: torch.Tensor) -> torch.Tensor:
    """TODO: what ``{function}`` returns. The example: its input, doubled."""
    # BEGIN SOLUTION: Exercise {n}: TODO: what to write, and a hint (the stub raises this text).
    return 2 * x
    # END SOLUTION
'''

TESTS = '''"""Exercise {n}: TODO: what the graded tests check.

Each test sends the student's function plain inputs through the jailed worker (the declared
``call`` probe) and compares what comes back with the judge's reference, computed here. The
hint a student sees is the assertion's message.
"""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="session")
def ex{n}(worker_factory):
    return worker_factory("{module}")


def reference(x: torch.Tensor) -> torch.Tensor:
    """TODO: the judge's own answer. Write it apart from the solution's lines: a line of 12
    or more characters found in solutions/ and in a shipped file stops the release."""
    return x + x


@pytest.mark.points({points})
def test_{function}_matches_the_reference(ex{n}, rng):
    """{function}() gives the reference's values on random inputs"""
    x = torch.rand(4, 3, generator=rng)
    got = ex{n}.call("call", module="{module}", function="{function}", args=[x])["result"]
    want = reference(x)
    assert isinstance(got, torch.Tensor) and got.shape == want.shape, (
        f"{function}(x) should return a tensor of shape {{tuple(want.shape)}}; got "
        f"{{tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__}}."
    )
    assert torch.allclose(got, want), "{function}(x) returned other values. Hint: TODO."
'''

NOTEBOOK = """# %% [markdown]
# # Exercise {n}: TODO
#
# Write `{function}` in `exercises/{module}.py`. This notebook runs it, then Exercise {n}'s checks.

# %%
import torch

from lenet_course import notebook

ex{n} = notebook.exercise("{module}")
try:
    print(ex{n}.{function}(torch.ones(2, 3)))
except Exception as exc:  # noqa: BLE001 - a stub says what to write
    print(notebook.unfinished(exc))

# %% [markdown]
# ## Your checks

# %%
report = notebook.check("{module}")
"""


def new_exercise(
    root: Path,
    name: str,
    task: str = "",
    writes: str = "",
    *,
    function: str | None = None,
    points: int = 5,
) -> list[Path]:
    """Write the next exercise's skeleton into the kit at ``root``; the files written.
    ``name`` names the module (``exN_NAME``), ``function`` the function the student writes
    (``name`` when None), ``points`` the skeleton test's marker."""
    function = function or name
    for what, value in (("exercise name", name), ("--function", function)):
        if not re.fullmatch(r"[a-z][a-z0-9_]*", value) or keyword.iskeyword(value):
            raise UserError(
                f"{what} {value!r}: use lower-case letters, digits and underscores, starting "
                "with a letter, e.g. confusion or confusion_matrix."
            )
    if points < 1:
        raise UserError(f"--points {points}: a graded test is worth 1 point or more.")
    n = len(EXERCISES) + 1
    module = f"ex{n}_{name}"
    fields = {"n": n, "module": module, "name": name, "function": function, "points": points}
    files = {
        root / "solutions" / f"{module}.py": SOLUTION.format(**fields),
        root / "tests" / "graded" / f"test_{module}.py": TESTS.format(**fields),
        root / "notebooks" / f"{module}.py": NOTEBOOK.format(**fields),
    }
    taken = [str(p.relative_to(root)) for p in files if p.exists()]
    if taken or any(e.endswith(f"_{name}") for e in EXERCISES):
        raise UserError(
            f"an exercise named {name!r} exists already ({', '.join(taken) or 'in COURSE'}). "
            "Fix: choose another name."
        )
    declared = Exercise(module, task or "TODO: what the student does", writes or f"`{function}(x)`")
    kit_py = root / "lenet_course" / "kit.py"
    kit_text = _declare(kit_py.read_text(), declared)
    readme = root / "README.md"
    authoring.readme_with_table(readme.read_text(), "", readme)  # its table's lines, before writing
    for path, text in files.items():
        atomic_write(path, text)
    atomic_write(kit_py, kit_text)
    written = authoring.make_exercises(root / "solutions", root / "exercises")
    stub = [p for p in written if p.name == f"{module}.py"]
    authoring.write_readme_table(readme, catalog(), course=(*COURSE, declared))
    return [*files, kit_py, readme, *stub]


def _declare(text: str, exercise: Exercise) -> str:
    """``kit.py`` with the exercise appended to ``COURSE``."""
    match = re.search(r"^COURSE = \(\n(?:    .*\n)*?\)$", text, re.MULTILINE)
    if match is None:
        raise UserError(
            "lenet_course/kit.py: COURSE is not a tuple written one line per item, so the new "
            "exercise cannot be declared. Fix: add it by hand."
        )
    fields = (exercise.module, exercise.task, exercise.writes)
    entry = "    Exercise(\n" + "".join(f"        {json.dumps(f)},\n" for f in fields) + "    ),\n"
    return text[: match.end() - 1] + entry + text[match.end() - 1 :]
