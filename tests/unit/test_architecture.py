"""The trust boundary is a folder boundary, and a wrong import fails CI (docs/architecture.md).

The contracts live in pyproject.toml (`lint-imports`, run by the lint session); these tests
show that they bind, and tie the sandbox to the files a jailed worker can read.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

from lenet_course.grading.jail.paths import RUNTIME_FILES
from lenet_course.kit import kit_root

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _module(path: str) -> str:
    dotted = "lenet_course." + path.removesuffix(".py").replace("/", ".")
    return dotted.removesuffix(".__init__")


def test_the_sandbox_imports_only_files_a_jailed_worker_can_read():
    graph = grimp.build_graph("lenet_course")
    needed = graph.find_upstream_modules("lenet_course.grading.sandbox", as_package=True)
    sandbox = {m for m in graph.modules if m.startswith("lenet_course.grading.sandbox")}
    readable = {_module(f) for f in RUNTIME_FILES}
    missing = sorted((needed | sandbox) - readable - {"lenet_course.grading.sandbox"})
    assert not missing, (
        f"the sandbox needs {missing}, which a jailed worker cannot read: add the file to "
        "RUNTIME_FILES (grading/jail/paths.py) only if it answers no exercise, else move the "
        "code the worker needs into the sandbox"
    )


def _lint_copy(tmp_path: Path, module: str, line: str) -> subprocess.CompletedProcess:
    """``lint-imports`` on a copy of the package with ``line`` added to ``module``."""
    root = kit_root()
    shutil.copytree(root / "lenet_course", tmp_path / "lenet_course",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    shutil.copy(root / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / "lenet_course" / module
    target.write_text(target.read_text() + f"\n{line}\n")
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=tmp_path, capture_output=True, text=True,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tmp_path)},
    )  # fmt: skip


def test_the_import_contracts_hold_on_the_kit():
    done = subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=kit_root(),
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:]


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        ("grading/sandbox/probes.py", "from lenet_course.grading.judge import spec", "Layers"),
        ("grading/sandbox/worker.py", "import lenet_course.grading.classroom.roster", "Layers"),
        ("grading/jail/client.py", "from lenet_course.grading.judge import catalog", "Layers"),
        ("grading/judge/runner.py", "from lenet_course.targets import load", "never imports"),
        ("grading/classroom/roster.py", "from lenet_course.grading.classroom import gradebook",
         "No circles"),
        ("grading/judge/reports.py", "from lenet_course.grading.sandbox import protocol", None),
        ("engine.py", "from lenet_course.levers import lever_for", "never imports the speed"),
    ],
    ids=["sandbox-imports-judge", "sandbox-imports-classroom", "jail-imports-judge",
         "judge-imports-a-submission-loader", "a-circle-in-the-classroom",
         "judge-imports-the-protocol-below-it", "the-lecture-loop-imports-the-levers"],
)  # fmt: skip
def test_an_import_across_the_boundary_breaks_a_contract(tmp_path, module, line, broken):
    done = _lint_copy(tmp_path, module, line)
    if broken is None:  # a control: an import down the layers is allowed
        assert done.returncode == 0, done.stdout[-2000:]
        return
    assert done.returncode != 0, f"`{line}` in {module} broke no contract:\n{done.stdout[-1500:]}"
    kept_or_broken = [ln for ln in done.stdout.splitlines() if "BROKEN" in ln or broken in ln]
    assert any(broken in ln for ln in kept_or_broken), done.stdout[-2000:]


def test_every_path_the_architecture_page_names_exists():
    page = (kit_root() / "docs" / "architecture.md").read_text()
    named = set(re.findall(r"`((?:lenet_course|tests|solutions|docs)/[\w/.]*)`", page))
    named |= set(re.findall(r"^ \w+ +(lenet_course/[\w/.]+)", page, flags=re.M))
    named = {n for n in named if "NAME" not in n}
    assert len(named) > 15, f"the page should name the kit's folders and files; found {named}"
    missing = sorted(n for n in named if not (kit_root() / n).exists())
    assert not missing, f"docs/architecture.md names paths that do not exist: {missing}"


def test_the_release_and_the_bundle_ship_every_module_their_modules_import():
    from lenet_course.release import STUDENT_MODULES, unshipped_imports

    assert unshipped_imports(STUDENT_MODULES) == [], (
        "the student release and the Gradescope bundle would crash on import: add the module "
        "to STUDENT_MODULES in lenet_course/release.py"
    )


@pytest.mark.parametrize("left_out", ["grading/jail/reaper.py", "grading/sandbox/protocol.py"])
def test_a_module_left_out_of_the_release_stops_the_bundle_before_it_is_written(
    tmp_path, monkeypatch, left_out
):
    from lenet_course import export, release
    from lenet_course.errors import UserError

    monkeypatch.setattr(release, "STUDENT_MODULES",
                        tuple(m for m in release.STUDENT_MODULES if m != left_out))  # fmt: skip
    with pytest.raises(UserError, match=re.escape(f"imports lenet_course/{left_out}")):
        export.build_bundle(tmp_path / "autograder.zip")
    assert not (tmp_path / "autograder.zip").exists()


def _kit_imports() -> list[tuple[str, str, str]]:
    """Every ``from lenet_course... import name`` in the package, inside functions too, as
    (file, module, name)."""
    import ast

    found = []
    for path in sorted((kit_root() / "lenet_course").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if (
                isinstance(node, ast.ImportFrom)
                and node.level == 0
                and node.module
                and (node.module == "lenet_course" or node.module.startswith("lenet_course."))
            ):
                rel = path.relative_to(kit_root()).as_posix()
                found += [(rel, node.module, a.name) for a in node.names]
    return found


def test_every_import_inside_the_kit_names_something_that_exists():
    """A lazy import inside a function runs only when that function does: after a module
    moves, a stale one fails in the one command that reaches it (validate's benchmark suite
    once imported kit_root from targets.py after it had moved to kit.py)."""
    import importlib

    stale = []
    for rel, module, name in _kit_imports():
        try:
            imported = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            stale.append(f"{rel}: from {module} import {name} ({exc})")
            continue
        if not hasattr(imported, name):
            try:
                importlib.import_module(f"{module}.{name}")
            except ModuleNotFoundError:
                stale.append(f"{rel}: from {module} import {name}: {module} has no {name}")
    assert not stale, "imports of names that do not exist:\n" + "\n".join(stale)
