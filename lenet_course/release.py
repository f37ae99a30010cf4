"""``lenet-course release student OUT``: a repository to hand students, with no solutions.

It holds the stubs (generated from ``solutions/``), the visible graded tests, the kit code
that ``check`` and the notebooks need, the exercise notebooks, a student README and a
``pyproject.toml`` that installs with one command. It leaves out ``solutions/``, the hidden
tests (and the judge's reference training loop only they use), and the kit's own model,
engine, lecture pipeline, benchmarks, validation and class grading. Before anything is
written the release is scanned for every solution line; one found stops the release.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
from pathlib import Path

from lenet_course import authoring
from lenet_course.errors import UserError
from lenet_course.files import atomic_write
from lenet_course.kit import COURSE, kit_root

# The kit code a student release ships: what `check` (the grader, its jail and its reports),
# `data` and the notebooks import. None of it answers an exercise; `leaks` checks that.
STUDENT_MODULES = (
    "__init__.py",
    "cli/__init__.py",
    "cli/flags.py",
    "cli/grader.py",
    "cli/instructor.py",
    "cli/student.py",
    "config.py",
    "data.py",
    "edition.py",
    "errors.py",
    "files.py",
    "kit.py",
    "metrics.py",
    "notebook.py",
    "runtime.py",
    "targets.py",
    "views.py",
    "grading/__init__.py",
    "grading/blame.py",
    "grading/sandbox/__init__.py",
    "grading/sandbox/landlock.py",
    "grading/sandbox/probes.py",
    "grading/sandbox/protocol.py",
    "grading/sandbox/worker.py",
    "grading/jail/__init__.py",
    "grading/jail/bwrap.py",
    "grading/jail/client.py",
    "grading/jail/levels.py",
    "grading/jail/limits.py",
    "grading/jail/paths.py",
    "grading/jail/reaper.py",
    "grading/judge/__init__.py",
    "grading/judge/catalog.py",
    "grading/judge/plugin.py",
    "grading/judge/reports.py",
    "grading/judge/runner.py",
    "grading/judge/spec.py",
)
JUDGE_ONLY = ("replays.py",)  # graded-test helpers only hidden tests use
MIN_LEAK_CHARS = 12  # shorter solution lines (`net.eval()`) are idioms any code may hold
# Solution lines that other code in a release needs word for word, each with its reason.
IDIOMS = {
    "with torch.no_grad():": "every evaluation without gradients (the judge, the notebooks)",
    "records = []": "an empty list (the notebooks' records before a run)",
    "start = time.perf_counter()": "reading a clock (the judge times the call to train())",
    "x = torch.flatten(x, 1)": "the ['flatten'] step of the spec interpreter the jailed "
    "worker builds its stand-in nets with (grading/sandbox/probes.py)",
}


def _load_time_imports(tree: ast.Module) -> set[str]:
    """The ``lenet_course`` modules a module imports when it is loaded: its top-level imports
    (inside ``if`` and ``try`` too), not those inside functions or under ``TYPE_CHECKING``."""
    found: set[str] = set()
    todo: list[ast.AST] = list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            todo.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
        todo.extend(ast.iter_child_nodes(node))
    return {m for m in found if m == "lenet_course" or m.startswith("lenet_course.")}


def unshipped_imports(modules: tuple[str, ...] | list[str], root: Path | None = None) -> list[str]:
    """Each ``lenet_course`` module that one of ``modules`` (paths under ``lenet_course/``)
    imports when loaded but that is not among them: a release or bundle that ships such a
    module fails on its first import (``ModuleNotFoundError``), so nothing is built."""
    package = (root or kit_root()) / "lenet_course"
    shipped = set(modules)
    missing = []
    for module in modules:
        tree = ast.parse((package / module).read_text(), filename=module)
        for dotted in sorted(_load_time_imports(tree)):
            rel = dotted.removeprefix("lenet_course").lstrip(".").replace(".", "/")
            candidates = [f"{rel}.py", f"{rel}/__init__.py"] if rel else ["__init__.py"]
            existing = [c for c in candidates if (package / c).is_file()]
            if existing and not set(existing) & shipped:  # absent: a name, not a module
                missing.append(f"lenet_course/{module} imports lenet_course/{existing[0]}")
    return missing


def check_ships_its_imports(modules: tuple[str, ...] | list[str], what: str) -> None:
    """Stop with a :class:`UserError` before anything is written if :func:`unshipped_imports`
    finds a module ``what`` would need but leaves out."""
    missing = unshipped_imports(modules)
    if missing:
        raise UserError(
            f"the {what} would crash on import, so nothing was written: "
            + "; ".join(missing)
            + ". Fix: add the module to STUDENT_MODULES in lenet_course/release.py (if it "
            "answers no exercise), or import it inside the function that needs it."
        )


def strip_hidden(text: str, path: Path | str = "<string>") -> str:
    """A graded test file without its ``@pytest.mark.hidden`` tests, the judge-only helpers
    they call, and the imports of :data:`JUDGE_ONLY` modules."""
    tree = ast.parse(text, filename=str(path))
    judge_only = {m.removesuffix(".py") for m in JUDGE_ONLY}
    removed: set[str] = set()
    cut: list[tuple[int, int]] = []
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[-1] in judge_only:
            removed |= {a.asname or a.name for a in node.names}
            cut.append((node.lineno, node.end_lineno))
    changed = True
    while changed:  # hidden tests, then every function that needs something removed
        changed = False
        for node in tree.body:
            if not isinstance(node, ast.FunctionDef) or node.name in removed:
                continue
            hidden = any("hidden" in ast.unparse(d) for d in node.decorator_list)
            uses = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
            if hidden or uses & removed:
                removed.add(node.name)
                start = min([d.lineno for d in node.decorator_list] + [node.lineno])
                cut.append((start, node.end_lineno))
                changed = True
    lines = text.splitlines(keepends=True)
    for start, end in sorted(cut, reverse=True):
        del lines[start - 1 : end]
    out = "".join(lines)
    while "\n\n\n\n" in out:
        out = out.replace("\n\n\n\n", "\n\n\n")
    left = {n.id for n in ast.walk(ast.parse(out)) if isinstance(n, ast.Name)} & removed
    if left:
        raise UserError(f"{path}: visible code still uses {sorted(left)}, which the release drops")
    return out


def solution_lines(solutions: Path) -> set[str]:
    """Every line of code between the solution markers, stripped, comments removed; less
    the short lines and the :data:`IDIOMS`."""
    found = set()
    for path in sorted(Path(solutions).glob("ex*.py")):
        text = path.read_text()
        lines = text.splitlines()
        for region in authoring.find_regions(text, path):
            for line in lines[region.begin : region.end - 1]:
                code = line.split("#")[0].strip()
                if len(code) >= MIN_LEAK_CHARS and code not in IDIOMS:
                    found.add(code)
    return found


def leaks(folder: Path, solutions: Path) -> list[str]:
    """``file:line: code`` for each solution line found in any text file under ``folder``."""
    wanted = solution_lines(solutions)
    hits = []
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        try:
            text = path.read_text()
        except (UnicodeDecodeError, OSError):
            continue
        if path.suffix == ".ipynb":  # code cells as JSON strings: compare their source lines
            cells = json.loads(text)["cells"]
            text = "\n".join("".join(c["source"]) for c in cells)
        for n, line in enumerate(text.splitlines(), start=1):
            if line.split("#")[0].strip() in wanted:
                hits.append(f"{path.relative_to(folder)}:{n}: {line.strip()}")
    return hits


def _pyproject(kit: dict) -> str:
    project = kit["project"]
    deps = [*project["dependencies"], "pytest>=8"]
    markers = [
        m for m in kit["tool"]["pytest"]["ini_options"]["markers"] if not m.startswith("validation")
    ]
    quote = json.dumps
    return f"""[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "lenet-course"
version = "{project["version"]}"
description = "The LeNet lab: exercises, their checks and notebooks (student release)."
readme = "README.md"
requires-python = "{project["requires-python"]}"
dependencies = [{", ".join(quote(d) for d in deps)}]

[project.optional-dependencies]
notebooks = ["notebook>=7"]

[project.scripts]
lenet-course = "lenet_course.cli:main"

[tool.setuptools.packages.find]
include = ["lenet_course*"]

[tool.pytest.ini_options]
addopts = ["-ra", "--strict-markers", "-p", "no:cacheprovider"]
markers = [{", ".join(quote(m) for m in markers)}]
"""


def _readme(visible: list[dict], hidden: list[dict], notebooks: list[str]) -> str:
    rows = []
    for e in COURSE:
        ex = e.module
        shown = sum(i["points"] for i in visible if i["exercise"] == ex)
        held = sum(t["points"] for t in hidden if t["exercise"] == ex)
        extra = f" + {held} hidden" if held else ""
        rows.append(
            f"| {e.title} | `exercises/{ex}.py`: {e.writes} | `notebooks/{ex}.ipynb` "
            f"| {shown}{extra} |"
        )
    total = sum(i["points"] for i in visible) + sum(t["points"] for t in hidden)
    tasks = [e.task for e in COURSE]
    steps = ", ".join(tasks[:-1]) + f", and {tasks[-1]}" if len(tasks) > 1 else tasks[0]
    return f"""# The LeNet lab

Train a LeNet to classify MNIST digits in PyTorch, one piece at a time: {steps}.

## Set up (once)

```bash
python3 -m venv .venv && .venv/bin/pip install -e .
```

MNIST (about 55 MB) is downloaded into `~/.cache/lenet-course/data` the first time it is
needed. Offline, put the four `*-ubyte` files in `DIR/MNIST/raw/` and set `LENET_DATA=DIR`.

## Work

| exercise | write | explore in | points |
| --- | --- | --- | --- |
{chr(10).join(rows)}

Each file says what to write. Each notebook imports your file, draws what it produces and
ends with that exercise's checks. Open them with `.venv/bin/pip install -e '.[notebooks]'`
and `.venv/bin/jupyter notebook notebooks/`, or on Colab (the first cell installs the lab).

## Check

```bash
.venv/bin/lenet-course check          # every exercise, a hint for each failed test
.venv/bin/lenet-course check --full   # also the 10-epoch training on MNIST (a few minutes)
```

The checks are the ones your submission is graded with, out of {total} points, except the
hidden tests ({sum(t["points"] for t in hidden)} points), which are graded when you submit:
`check` lists them and their points. Your code runs in a separate, locked-down process;
a check passes on what your code computes, never on what it claims.

Notebooks here: {", ".join(notebooks)}.
"""


def _write_tests(staging: Path, hidden: list[dict]) -> None:
    """The visible graded tests (hidden ones and judge-only helpers left out), what the
    hidden ones are worth, and the tests' conftest."""
    from lenet_course.grading.judge.catalog import HIDDEN_FILE, tests_dir

    graded = staging / "tests" / "graded"
    for path in sorted(tests_dir().glob("*.py")):
        if path.name in JUDGE_ONLY:
            continue
        text = path.read_text()
        atomic_write(
            graded / path.name, strip_hidden(text, path) if path.name.startswith("test_") else text
        )
    atomic_write(graded / HIDDEN_FILE, json.dumps(hidden, indent=1) + "\n")
    for name in ("__init__.py", "conftest.py"):
        atomic_write(staging / "tests" / name, (kit_root() / "tests" / name).read_text())


def _kit_pyproject(root: Path) -> dict:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        raise UserError(
            "writing a release reads pyproject.toml: use Python 3.11 or later"
        ) from None
    return tomllib.loads((root / "pyproject.toml").read_text())


def _check_notebooks_shipped(readme: str, staging: Path) -> None:
    """Refuse a README that names a notebook the release does not ship."""
    named = set(re.findall(r"notebooks/[\w.-]+\.ipynb", readme))
    missing = sorted(n for n in named if not (staging / n).is_file())
    if missing:
        raise UserError(
            f"the release's README names {', '.join(missing)}, which the release does not "
            "ship, so nothing was written. Fix: add the exercise's jupytext source "
            "notebooks/<exercise>.py (docs/instructors.md), then release again."
        )


def write_student_release(out: Path, *, repo_url: str | None = None, force: bool = False) -> dict:
    """Write the student repository into ``out`` (new or empty, or replaced with ``force``);
    returns counts of what it holds."""
    from lenet_course.grading.judge.catalog import catalog, hidden_tests

    out = Path(out)
    if out.exists() and any(out.iterdir()) and not force:
        raise UserError(f"{out} is not empty. Fix: choose a new folder, or pass --force.")
    check_ships_its_imports(STUDENT_MODULES, "student release")
    root = kit_root()
    items = list(catalog())
    visible = [i for i in items if not i.get("hidden")]
    hidden = hidden_tests(items)
    staging = out.with_name(f".{out.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        authoring.make_exercises(root / "solutions", staging / "exercises")
        for module in STUDENT_MODULES:
            text = (root / "lenet_course" / module).read_text()
            if module == "edition.py":
                text = text.replace('EDITION = "kit"', 'EDITION = "student"')
            atomic_write(staging / "lenet_course" / module, text)
        _write_tests(staging, hidden)
        notebooks = authoring.make_notebooks(
            root / "notebooks", staging / "notebooks", repo_url=repo_url, lecture=False
        )
        atomic_write(staging / "pyproject.toml", _pyproject(_kit_pyproject(root)))
        readme = _readme(visible, hidden, sorted(p.name for p in notebooks))
        _check_notebooks_shipped(readme, staging)
        atomic_write(staging / "README.md", readme)
        atomic_write(
            staging / ".gitignore",
            ".venv/\n__pycache__/\n*.egg-info/\nruns/\n.ipynb_checkpoints/\n",
        )
        found = leaks(staging, root / "solutions")
        if found:
            raise UserError(
                "the release would hold solution code, so nothing was written:\n  "
                + "\n  ".join(found[:10])
            )
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return {
        "files": sum(1 for p in out.rglob("*") if p.is_file()),
        "visible_tests": len(visible),
        "visible_points": sum(i["points"] for i in visible),
        "hidden_tests": len(hidden),
        "hidden_points": sum(t["points"] for t in hidden),
    }
