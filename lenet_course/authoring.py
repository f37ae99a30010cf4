"""Generate the student stubs in ``exercises/`` from the reference ``solutions/``.

A solution region is written between two markers, each on a line of its own::

    # BEGIN SOLUTION: Exercise 2: <what to do and a hint>
    ... the answer ...
    # END SOLUTION

In the exercise file the region becomes ``raise NotImplementedError("<what to do ...>")``
at the marker's indentation. Everything outside the regions (imports, signatures,
docstrings, comments) is kept as written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from lenet_course.errors import UserError
from lenet_course.files import atomic_write

BEGIN = re.compile(r"^(?P<indent>\s*)# BEGIN SOLUTION(?::\s*(?P<message>.*?))?\s*$")
END = re.compile(r"^\s*# END SOLUTION\s*$")
HEADER = (
    "# Exercise file generated from solutions/{name} by `lenet-course make-exercises`.\n"
    "# Replace each `raise NotImplementedError(...)` with your code.\n"
)


class MarkerError(UserError):
    """A solution file's markers are nested, unpaired or lack a message."""


@dataclass(frozen=True)
class Region:
    begin: int  # 1-based line of BEGIN
    end: int  # 1-based line of END
    message: str


def find_regions(text: str, path: Path | str = "<string>") -> list[Region]:
    """The solution regions of ``text``; raises :class:`MarkerError` naming file and line."""
    regions: list[Region] = []
    open_at: tuple[int, str] | None = None
    for lineno, line in enumerate(text.splitlines(), start=1):
        if m := BEGIN.match(line):
            if open_at is not None:
                raise MarkerError(
                    f"{path}:{lineno}: nested '# BEGIN SOLUTION' (the region opened on line "
                    f"{open_at[0]} is not closed). Fix: add '# END SOLUTION' before this line."
                )
            message = (m.group("message") or "").strip()
            if not message:
                raise MarkerError(
                    f"{path}:{lineno}: '# BEGIN SOLUTION' needs a message for the stub, as in "
                    f"'# BEGIN SOLUTION: Exercise 2: return log-probabilities ...'."
                )
            open_at = (lineno, message)
        elif END.match(line):
            if open_at is None:
                raise MarkerError(
                    f"{path}:{lineno}: '# END SOLUTION' without a matching '# BEGIN SOLUTION'."
                )
            regions.append(Region(open_at[0], lineno, open_at[1]))
            open_at = None
    if open_at is not None:
        raise MarkerError(
            f"{path}:{open_at[0]}: '# BEGIN SOLUTION' is never closed. Fix: add '# END SOLUTION'."
        )
    return regions


def strip_solutions(text: str, path: Path | str = "<string>") -> str:
    """The exercise version of one solution file's text."""
    regions = find_regions(text, path)
    if not regions:
        raise MarkerError(f"{path}: no '# BEGIN SOLUTION' region; nothing for a student to do.")
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    cursor = 0
    for region in regions:
        out.extend(lines[cursor : region.begin - 1])
        indent = BEGIN.match(lines[region.begin - 1]).group("indent")
        out.append(f"{indent}raise NotImplementedError({region.message!r})\n")
        cursor = region.end
    out.extend(lines[cursor:])
    return "".join(out)


def render_exercises(solutions: Path) -> dict[str, str]:
    """``{file name: exercise text}`` for every ``ex*.py`` in ``solutions``."""
    files = sorted(Path(solutions).glob("ex*.py"))
    if not files:
        raise UserError(f"no ex*.py files in {solutions}; is this the solutions folder?")
    return {f.name: HEADER.format(name=f.name) + strip_solutions(f.read_text(), f) for f in files}


def make_exercises(solutions: Path, exercises: Path) -> list[Path]:
    """Write the stubs into ``exercises`` (all files are rendered before any is written)."""
    rendered = render_exercises(solutions)
    exercises = Path(exercises)
    exercises.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in rendered.items():
        path = exercises / name
        if not path.exists() or path.read_text() != text:
            atomic_write(path, text)
        written.append(path)
    return written


def out_of_sync(solutions: Path, exercises: Path) -> list[str]:
    """Names of exercise files that differ from what the solutions generate."""
    return [
        name
        for name, text in render_exercises(solutions).items()
        if not (exercises / name).is_file() or (exercises / name).read_text() != text
    ]


# --- the README's table of exercises --------------------------------------------------------

TABLE_BEGIN = "<!-- BEGIN EXERCISES: `lenet-course make-exercises` writes this from COURSE (lenet_course/kit.py) and the tests' points -->"  # noqa: E501
TABLE_END = "<!-- END EXERCISES -->"
_COUNT = "zero one two three four five six seven eight nine ten".split()


def course_table(items, course=None, thresholds=None) -> str:
    """The README's table of exercises: each declared exercise, what a student writes in it,
    and its points as the graded tests' markers add up (``items``: the judge's catalog;
    hidden and training points said), then a paragraph of the course's totals and its pass
    accuracy, so that no README number is written by hand (:func:`stale_numbers`)."""
    from lenet_course.kit import COURSE, THRESHOLDS

    course = COURSE if course is None else course
    thresholds = THRESHOLDS if thresholds is None else thresholds
    epochs = thresholds["EPOCHS"]
    trains = f"need {epochs} epochs on MNIST"
    rows = []
    for e in course:
        mine = [i for i in items if i["exercise"] == e.module]
        parts = [
            f"{n} {what}"
            for n, what in (
                (sum(i["points"] for i in mine if i["hidden"]), "hidden"),
                (sum(i["points"] for i in mine if i["slow"]), trains),
            )
            if n
        ]
        said = f" ({'; '.join(parts)})" if parts else ""
        total = sum(i["points"] for i in mine)
        rows.append(f"| `{e.module}.py` | {e.writes} | {total}{said} |")
    count = _COUNT[len(course)] if len(course) < len(_COUNT) else str(len(course))
    mine = [i for i in items if any(i["exercise"] == e.module for e in course)]
    total = sum(i["points"] for i in mine)
    slow = sum(i["points"] for i in mine if i["slow"])
    hidden = sum(i["points"] for i in mine if i["hidden"])
    visible_fast = sum(i["points"] for i in mine if not i["slow"] and not i["hidden"])
    totals = [f"`check` runs the tests worth {visible_fast} of the {total} points"]
    if slow:
        totals.append(
            f"{slow} more need {epochs} epochs on real MNIST and a test accuracy above "
            f"{thresholds['PASS_ACCURACY']:g}% (`check --full` runs those tests)"
        )
    if hidden:
        totals.append(f"{hidden} are hidden until grading")
    return "\n".join(
        [
            f"`exercises/` holds {count} files to complete; each `raise NotImplementedError(...)`",
            "says what to write:",
            "",
            "| file | what you write | points |",
            "| --- | --- | --- |",
            *rows,
            "",
            "; ".join(totals) + ".",
        ]
    )


def readme_with_table(text: str, table: str, path: Path | str = "README.md") -> str:
    """``text`` with the block between :data:`TABLE_BEGIN` and :data:`TABLE_END` replaced."""
    begin, end = text.find(TABLE_BEGIN), text.find(TABLE_END)
    if begin < 0 or end < begin:
        raise UserError(
            f"{path} has no table of exercises to write: it needs the two lines "
            f"{TABLE_BEGIN!r} and {TABLE_END!r}. Fix: put them where the table belongs."
        )
    head = text[: begin + len(TABLE_BEGIN)]
    return f"{head}\n{table}\n{text[end:]}"


def write_readme_table(readme: Path, items, course=None) -> bool:
    """Rewrite the README's table of exercises from the course and the judge's catalog
    (``items``); True if it changed."""
    text = readme.read_text()
    new = readme_with_table(text, course_table(items, course), readme)
    if new != text:
        atomic_write(readme, new)
    return new != text


def stale_numbers(paths, *, accuracy: float, totals) -> list[str]:
    """Each line of ``paths`` that writes a course number by hand, as ``path:line: text``:
    the pass ``accuracy`` as a percentage (``f"{accuracy:g}%"``, with or without a space or
    a ".0"), or one of the point ``totals`` as "N points" or "N/<total>". Such a number goes stale when the instructor changes the
    course; the README's generated block (:data:`TABLE_BEGIN`) and code that formats the
    number from the course are what to write instead."""
    value = f"{accuracy:g}".replace(".", r"\.")
    percent = re.compile(rf"(?<![\d.]){value}(?:\.0+)?\s?%")
    points = re.compile(r"(?<![\d./])(\d+)(?:\s+points?\b|/(\d+)(?!\d|\.\d))")
    totals = set(totals)
    found = []
    for path in paths:
        generated = False
        for lineno, line in enumerate(Path(path).read_text().splitlines(), start=1):
            if TABLE_BEGIN in line or TABLE_END in line:
                generated = TABLE_BEGIN in line
                continue
            if generated:
                continue
            hits = [m.group(0) for m in percent.finditer(line)] + [
                m.group(0)
                for m in points.finditer(line)
                if int(m.group(1)) in totals and (m.group(2) is None or int(m.group(2)) in totals)
            ]
            if hits:
                found.append(f"{path}:{lineno}: {', '.join(hits)}: {line.strip()[:100]}")
    return found


# --- notebooks ---------------------------------------------------------------------------

NOTEBOOK_SETUP = "setup.py"  # the cells every notebook starts with
LECTURE_NOTEBOOK = "lecture.py"  # the kit's own API: not part of a student release
DEFAULT_REPO_URL = "https://github.com/YOUR-COURSE/lenet-course-student"


def render_notebooks(sources: Path, *, repo_url: str | None = None, lecture: bool = True) -> dict:
    """``{name.ipynb: notebook}`` from the jupytext ``py:percent`` sources in ``sources``,
    each opened by the setup cells (with ``repo_url`` for Colab). Needs jupytext."""
    try:
        import jupytext
    except ImportError:
        raise UserError("writing notebooks needs jupytext. Fix: pip install -e '.[dev]'") from None
    sources = Path(sources)
    setup = jupytext.reads(
        (sources / NOTEBOOK_SETUP).read_text().replace("{repo_url}", repo_url or DEFAULT_REPO_URL),
        fmt="py:percent",
    )
    names = sorted(p.name for p in sources.glob("*.py") if p.name != NOTEBOOK_SETUP)
    if not lecture:
        names = [n for n in names if n != LECTURE_NOTEBOOK]
    if not names:
        raise UserError(f"no notebook sources (*.py) in {sources}")
    out = {}
    for name in names:
        nb = jupytext.read(sources / name, fmt="py:percent")
        nb.cells = [*[c.copy() for c in setup.cells], *nb.cells]
        nb.metadata["kernelspec"] = {
            "name": "python3",
            "display_name": "Python 3",
            "language": "python",
        }
        nb.metadata.pop("jupytext", None)
        out[name.removesuffix(".py") + ".ipynb"] = nb
    return out


def make_notebooks(sources: Path, out: Path, **kw) -> list[Path]:
    """Write the notebooks :func:`render_notebooks` gives into ``out``."""
    import nbformat

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, nb in render_notebooks(sources, **kw).items():
        atomic_write(out / name, nbformat.writes(nb))
        written.append(out / name)
    return written
