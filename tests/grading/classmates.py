"""A synthetic class for the similarity screen: honest implementations, untouched stubs and
copies disguised the ways students disguise them (renamed, reordered, re-commented)."""

from __future__ import annotations

import ast
import io
import itertools
import keyword
import re
import tokenize
from pathlib import Path

from lenet_course.kit import EXERCISES, kit_root

VARIANTS = kit_root() / "tests" / "grading" / "variants"
# The honest implementations the kit holds: each written on its own.
HONEST = {
    "sol": kit_root() / "solutions",
    "dana": VARIANTS / "different",
    "moe": VARIANTS / "modules",
}
STUBS = kit_root() / "exercises"


def _spans(body: list[ast.stmt]) -> list[tuple[int, int]]:
    return [
        (min([d.lineno for d in n.decorator_list] + [n.lineno]), n.end_lineno)
        for n in body
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    ]


def _reverse(lines: list[str], spans: list[tuple[int, int]]) -> list[str]:
    """``lines`` with the blocks at ``spans`` (1-based, inclusive) in reverse order."""
    if len(spans) < 2:
        return lines
    blocks = [lines[a - 1 : b] for a, b in spans]
    first, last = spans[0][0] - 1, spans[-1][1]
    middle: list[str] = []
    for block in reversed(blocks):
        middle += [*block, "\n"]
    return lines[:first] + middle + lines[last:]


def reorder(text: str) -> str:
    """The top-level functions and classes, and each class's methods, in reverse order."""
    lines = text.splitlines(keepends=True)
    classes = [n for n in ast.parse(text).body if isinstance(n, ast.ClassDef)]
    for cls in reversed(classes):  # bottom-up, so earlier line numbers stay valid
        lines = _reverse(lines, _spans(cls.body))
    text = "".join(lines)
    return "".join(_reverse(text.splitlines(keepends=True), _spans(ast.parse(text).body)))


def rename(text: str, suffix: str = "_v") -> str:
    """Every local variable, parameter and loop name renamed (``self`` and the names the
    exercises' interface fixes stay): what a student does to a copied file first."""
    tree = ast.parse(text)
    names = {
        n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
    }
    names |= {a.arg for a in ast.walk(tree) if isinstance(a, ast.arg)}
    names -= {"self", *keyword.kwlist}
    for name in sorted(names, key=len, reverse=True):
        text = re.sub(rf"(?<![\w.]){re.escape(name)}\b", f"{name}{suffix}", text)
    return text


def recomment(text: str) -> str:
    """Comments removed, blank lines removed, new comments added above every def."""
    comments = [
        tok for tok in tokenize.generate_tokens(io.StringIO(text).readline)
        if tok.type == tokenize.COMMENT
    ]  # fmt: skip
    lines = text.splitlines()
    for tok in reversed(comments):
        row, col = tok.start
        lines[row - 1] = lines[row - 1][:col].rstrip()
    out = []
    for line in lines:
        if not line.strip():
            continue
        if line.lstrip().startswith(("def ", "class ")):
            indent = line[: len(line) - len(line.lstrip())]
            out.append(f"{indent}# my own helper, written after the lab session")
        out.append(line)
    return "\n".join(out) + "\n"


def write(folder: Path, files: dict[str, str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for exercise, text in files.items():
        (folder / f"{exercise}.py").write_text(text)


def read(source: Path) -> dict[str, str]:
    return {e: (source / f"{e}.py").read_text() for e in EXERCISES}


def build_class(folder: Path) -> dict[str, dict[str, str]]:
    """Write the class under ``folder``; return each student's origin per exercise (two
    students whose files share an origin copied; a student is their own origin)."""
    origins: dict[str, dict[str, str]] = {}

    def student(name: str, files: dict[str, str], origin: dict[str, str]) -> None:
        write(folder / name, files)
        origins[name] = origin

    for name, source in HONEST.items():
        student(name, read(source), dict.fromkeys(EXERCISES, name))
    for name in ("stubby", "stubbs"):  # untouched stubs: nothing of their own to compare
        student(name, read(STUBS), dict.fromkeys(EXERCISES, name))
    dana, moe = read(HONEST["dana"]), read(HONEST["moe"])
    student("exact", dana, dict.fromkeys(EXERCISES, "dana"))
    student("renamed", {e: rename(t) for e, t in moe.items()}, dict.fromkeys(EXERCISES, "moe"))
    student("reordered", {e: reorder(t) for e, t in dana.items()}, dict.fromkeys(EXERCISES, "dana"))
    student(
        "recommented", {e: recomment(t) for e, t in moe.items()}, dict.fromkeys(EXERCISES, "moe")
    )
    only3 = {**read(STUBS), "ex3_train": dana["ex3_train"]}
    student("only3", only3, {**dict.fromkeys(EXERCISES, "only3"), "ex3_train": "dana"})
    return origins


def expected_flags(origins: dict[str, dict[str, str]]) -> set[tuple[str, str, str]]:
    """(student_a, student_b, exercise) for every pair of students whose files share an
    origin, in the class's (sorted) order."""
    return {
        (a, b, e)
        for a, b in itertools.combinations(sorted(origins), 2)
        for e in EXERCISES
        if origins[a][e] == origins[b][e]
    }


DISGUISES = {
    "exact": lambda t: t,
    "renamed": rename,
    "reordered": reorder,
    "recommented": recomment,
}


def large_class(folder: Path, size: int, copiers: int, seed: int = 0) -> dict[str, dict[str, str]]:
    """A class of ``size``: the honest implementations, ``copiers`` students who each copy
    one of them on a random subset of the exercises (in a random disguise; their other
    files are the stubs), and the rest untouched or half-done stubs. Every file is a text of
    its own (a comment naming its student), as in a real class. Returns the origins, as
    :func:`build_class`."""
    import random

    rng = random.Random(seed)
    stubs = read(STUBS)
    honest = {name: read(source) for name, source in HONEST.items()}
    origins: dict[str, dict[str, str]] = {}
    for i in range(size):
        name = f"s{i:03d}"
        origin = dict.fromkeys(EXERCISES, name)
        if i < len(honest):
            base = list(honest)[i]
            files, origin = dict(honest[base]), dict.fromkeys(EXERCISES, base)
            name = base
        elif i < len(honest) + copiers:
            base = rng.choice(list(honest))
            disguise = DISGUISES[rng.choice(list(DISGUISES))]
            copied = rng.sample(EXERCISES, rng.randint(1, len(EXERCISES)))
            files = {e: disguise(honest[base][e]) if e in copied else stubs[e] for e in EXERCISES}
            origin.update(dict.fromkeys(copied, base))
        else:
            files = dict(stubs)
        files = {e: f"# {name}, {e}\n{t}" for e, t in files.items()}
        write(folder / name, files)
        origins[name] = origin
    return origins
