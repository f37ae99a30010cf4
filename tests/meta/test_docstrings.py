"""Docstrings name real things: every dotted ``lenet_course...`` name in a docstring of the
kit (its modules, classes and functions) imports, or is an attribute of what imports. A
renamed or moved module otherwise leaves the docs pointing at nothing."""

from __future__ import annotations

import ast
import importlib
import re

from lenet_course.kit import kit_root

NAME = re.compile(r"lenet_course(?:\.[A-Za-z_]\w*)+")


def docstrings() -> list[tuple[str, str]]:
    found = []
    for path in sorted((kit_root() / "lenet_course").rglob("*.py")):
        tree = ast.parse(path.read_text())
        nodes = [tree, *ast.walk(tree)]
        for node in nodes:
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                doc = ast.get_docstring(node, clean=False)
                if doc:
                    where = f"{path.relative_to(kit_root())}:{getattr(node, 'lineno', 1)}"
                    found.append((where, doc))
    return found


def resolves(dotted: str) -> bool:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            if not hasattr(obj, attr):
                try:  # a submodule not imported by its package
                    obj = importlib.import_module(f"{obj.__name__}.{attr}")
                except (ModuleNotFoundError, AttributeError):
                    return False
            else:
                obj = getattr(obj, attr)
        return True
    return False


def test_every_dotted_kit_name_in_a_docstring_exists():
    named = [(where, name) for where, doc in docstrings() for name in NAME.findall(doc)]
    assert len(named) > 10, "the scan found too few names: the pattern or the walk is broken"
    missing = sorted({f"{where}: {name}" for where, name in named if not resolves(name)})
    assert not missing, "docstrings name what does not exist:\n" + "\n".join(missing)
