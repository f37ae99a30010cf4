"""The library stays readable: the formatter is on, functions fit on a screen, names come
from their homes, and comments say why, not when."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from lenet_course.kit import kit_root

LIBRARY = kit_root() / "lenet_course"
MAX_FORMAT_SKIPS = 10  # only where a hand-aligned table reads better
MAX_FUNCTION_LINES = 60


def sources() -> dict[Path, str]:
    return {p: p.read_text() for p in sorted(LIBRARY.rglob("*.py"))}


def test_the_formatter_is_off_in_at_most_ten_places():
    skips = {p.name: t.count("# fmt: skip") for p, t in sources().items() if "# fmt: skip" in t}
    assert sum(skips.values()) <= MAX_FORMAT_SKIPS, skips


def test_no_function_is_longer_than_a_screen():
    long = []
    for path, text in sources().items():
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(LIBRARY)}:{node.lineno} {node.name} ({lines})")
    assert not long, f"split these into functions named for what they do: {long}"


def test_no_private_name_is_imported_across_modules():
    found = []
    for path in [*LIBRARY.rglob("*.py"), *(kit_root() / "tests").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("lenet_course"):
                found += [f"{path.name}: {a.name}" for a in node.names if a.name.startswith("_")]
    assert not found, found


def test_comments_name_no_issue_and_no_date():
    stale = re.compile(r"#.*(\bissue \d+|\(issue|\b20\d\d-\d\d-\d\d\b|\btoday\b)", re.IGNORECASE)
    hits = [
        f"{p.relative_to(LIBRARY)}:{n}"
        for p, text in sources().items()
        for n, line in enumerate(text.splitlines(), start=1)
        if stale.search(line)
    ]
    assert not hits, f"move measurements and their dates to docs/benchmarks.md: {hits}"
