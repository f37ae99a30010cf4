"""The catalog: which graded tests exist, their exercise, title and points.

Collected from ``tests/graded`` by pytest itself (``--collect-only``), so the tests'
``@pytest.mark.points`` markers and docstrings are the one place where points and titles
are written. Collecting never imports a submission.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from functools import cache
from pathlib import Path

from lenet_course.files import atomic_write
from lenet_course.grading.blame import GraderError
from lenet_course.kit import THRESHOLDS, kit_root


def tests_dir() -> Path:
    path = kit_root() / "tests" / "graded"
    if not path.is_dir():
        raise GraderError(
            f"the graded tests are not at {path}; grading needs the kit's source tree "
            "(install it with `pip install -e .` from a checkout)."
        )
    return path


def short(nodeid: str) -> str:
    """``tests/graded/test_ex1_lenet.py::test_x`` -> ``test_ex1_lenet.py::test_x``."""
    return nodeid.split("tests/graded/", 1)[-1]


def _title(item) -> str:
    """The test's docstring's first line, with the course's thresholds filled in."""
    doc = (getattr(item.obj, "__doc__", None) or "").strip()
    if not doc:
        return item.name
    line = doc.splitlines()[0]
    try:
        return line.format(**THRESHOLDS)
    except (KeyError, IndexError, ValueError) as exc:
        raise GraderError(
            f"{item.nodeid}: its title {line!r} cannot be filled in ({type(exc).__name__}: "
            f"{exc}). A title may name {', '.join('{' + k + '}' for k in THRESHOLDS)}; write "
            "a literal brace as {{ or }}."
        ) from None


def describe(items) -> list[dict]:
    """The graded tests with their points: the grader's list of what can be earned."""
    out = []
    for item in items:
        marker = item.get_closest_marker("points")
        out.append(
            {
                "nodeid": short(item.nodeid),
                "exercise": Path(str(item.fspath)).stem.removeprefix("test_"),
                "title": _title(item),
                "points": int(marker.args[0]) if marker else 0,
                "slow": item.get_closest_marker("slow") is not None,
                "hidden": item.get_closest_marker("hidden") is not None,
            }
        )
    return out


HIDDEN_FILE = "hidden.json"
"""In a student release: the exercise and points of each hidden test it leaves out."""


def hidden_tests(items) -> list[dict]:
    """Each hidden test's exercise and points: from the catalog in the kit, from
    :data:`HIDDEN_FILE` in a student release (which holds none of the tests themselves)."""
    hidden = [{"exercise": i["exercise"], "points": i["points"]} for i in items if i.get("hidden")]
    if hidden:
        return hidden
    try:
        saved = json.loads((tests_dir() / HIDDEN_FILE).read_text())
        return [{"exercise": str(t["exercise"]), "points": int(t["points"])} for t in saved]
    except (OSError, ValueError, KeyError, TypeError):
        return []


def _cache_file() -> Path:
    """Where the catalog of this exact version of the graded tests (and of the course's
    declaration, whose thresholds their titles show) is kept."""
    h = hashlib.sha256()
    sources = [*tests_dir().glob("*.py"), Path(__file__), Path(__file__).with_name("plugin.py")]
    sources.append(Path(__file__).parents[2] / "kit.py")  # the thresholds the titles show
    for path in sorted(sources):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return cache_dir() / f"catalog-{h.hexdigest()[:16]}.json"


@cache
def catalog() -> tuple[dict, ...]:
    """The graded tests, in order (collected once per version of the tests, then cached)."""
    cached = _cache_file()
    try:
        return tuple(json.loads(cached.read_text()))
    except (OSError, ValueError):
        pass
    items = _collect()
    try:
        atomic_write(cached, json.dumps(items))
    except OSError:
        pass  # a read-only cache only costs the next run a collection
    return tuple(items)


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "lenet-course"


def _collect() -> list[dict]:
    with tempfile.TemporaryDirectory(prefix="lenet-catalog-") as tmp:
        out = Path(tmp) / "catalog.json"
        cmd = [
            sys.executable,
            "-m",
            "pytest",
            str(tests_dir()),
            "--collect-only",
            "-q",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(kit_root()),
            "-c",
            str(kit_root() / "pyproject.toml"),
            "--lenet-catalog",
            str(out),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp, timeout=300)
        if proc.returncode != 0 or not out.exists():
            raise GraderError(f"could not collect the graded tests:\n{proc.stdout}{proc.stderr}")
        return json.loads(out.read_text())


def points(items=None) -> dict:
    """What can be earned, summed from the graded tests' markers (the one place points are
    written): ``total``; ``fast``, without the 10-epoch training tests; ``visible_fast``,
    what a student's ``check`` can show; ``hidden``; and ``fast_by_exercise``."""
    items = catalog() if items is None else items
    fast = [i for i in items if not i["slow"]]
    by_exercise: dict[str, int] = {}
    for i in fast:
        by_exercise[i["exercise"]] = by_exercise.get(i["exercise"], 0) + i["points"]
    return {
        "total": sum(i["points"] for i in items),
        "fast": sum(i["points"] for i in fast),
        "visible_fast": sum(i["points"] for i in fast if not i["hidden"]),
        "hidden": sum(i["points"] for i in items if i["hidden"]),
        "fast_by_exercise": by_exercise,
    }
