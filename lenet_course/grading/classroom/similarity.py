"""The class's similarity screen: every pair of students, exercise file by exercise file,
compared with copydetect's winnowing (MOSS's algorithm), with the class's stub files as
boilerplate and, where the kit has them, the reference solutions as one more "student".

copydetect tokenises each file with pygments and replaces every name by one letter (a
variable by ``V``, a function by ``F``, a class by ``O``, a string by ``S``) and drops
comments and white space, so renaming, re-commenting and re-spacing a copied file does not
hide it. What is left is cut into overlapping 25-character k-grams; a pair's similarity,
each way, is the share of one file's code (after the stub's k-grams are removed) found in
the other. A flag is a reason to look at two files, never a verdict
(docs/class-grading.md).

The screen reads the students' files as plain text on the instructor's side and never
runs them. Nothing here prints; the CLI reports.
"""

from __future__ import annotations

import bisect
import csv
import hashlib
import io
import itertools
import os
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path

from lenet_course.errors import ConfigError, UserError
from lenet_course.files import atomic_write
from lenet_course.kit import EXERCISES, kit_root

REFERENCE = "(reference)"  # student_b of a comparison with the reference solution
CSV_NAME, HTML_NAME, PLOT_NAME = "similarity.csv", "similarity.html", "similarity.png"
CSV_FIELDS = (
    "student_a",
    "student_b",
    "exercise",
    "similarity_a",
    "similarity_b",
    "overlap_chars",
    "lines_a",
    "lines_b",
    "flagged",
)
EXTRA = "pip install 'lenet-course[class]'"
MAX_FILE_BYTES = 64 * 1024  # as the grader: the solutions are ~3 KB each


def require() -> None:
    """Raise a :class:`UserError` naming the extra when copydetect or jinja2 is missing."""
    try:
        import copydetect.detector  # noqa: F401
        import jinja2  # noqa: F401
    except ImportError as exc:
        raise UserError(
            f"the class report and its similarity screen need copydetect and jinja2 ({exc}). "
            f"Fix: {EXTRA} (the [dev] install has them)."
        ) from None


@dataclass(frozen=True)
class ScreenConfig:
    """How the screen compares files and which pairs it flags."""

    threshold: float = 0.6
    """A pair is flagged when the share of either file's code found in the other reaches
    this (0-1). Measured: honest pairs reach 0.40 at most, disguised copies 0.9 or more
    (docs/class-grading.md)."""
    min_chars: int = 75
    """...and the code they share is at least this many normalised characters. The
    one-line answer to Exercise 2 that its docstring spells out is 50: every honest class
    shares it, so it alone must never flag."""
    noise: int = 25
    """copydetect's noise threshold: the k-gram length, in normalised characters."""
    side_by_side: int = 100
    """similarity.html shows this many flagged pairs side by side, the most similar first
    (each costs a few kB of marked code); the rest are rows of its table."""
    table_rows: int = 2000
    """...and lists this many flagged pairs in its table; similarity.csv has every one. The
    page stays a few MB at any class size, and opens in a browser."""
    boilerplate: Path | None = None
    """The stub files students started from (None: the kit's ``exercises/``)."""
    reference: Path | None = None
    """The reference solutions (None: the kit's ``solutions/``, where the kit has them)."""

    def __post_init__(self) -> None:
        if not 0 < self.threshold <= 1:
            raise ConfigError(
                f"--similarity-threshold must be above 0 and at most 1, got {self.threshold}"
            )
        if self.min_chars < 0 or self.noise < 5:
            raise ConfigError(
                f"min_chars must be >= 0 and noise >= 5, got {self.min_chars}, {self.noise}"
            )

    def boilerplate_dir(self) -> Path:
        folder = Path(self.boilerplate) if self.boilerplate else kit_root() / "exercises"
        missing = [e for e in EXERCISES if not (folder / f"{e}.py").is_file()]
        if missing:
            raise UserError(
                f"--boilerplate {folder}: {', '.join(m + '.py' for m in missing)} missing. Fix: "
                "pass the stub files the class started from (the kit's exercises/, or the "
                "exercises/ folder of the student release you handed out)."
            )
        return folder

    def reference_dir(self) -> tuple[Path | None, str]:
        """The folder of reference solutions, or None and the reason why there is none."""
        if self.reference is not None:
            folder = Path(self.reference)
            if not all((folder / f"{e}.py").is_file() for e in EXERCISES):
                raise UserError(
                    f"--reference {folder} does not hold {', '.join(e + '.py' for e in EXERCISES)}."
                    " Fix: pass the folder of reference solutions (the kit's solutions/)."
                )
            return folder, ""
        from lenet_course.edition import EDITION

        folder = kit_root() / "solutions"
        if EDITION == "student" or not folder.is_dir():
            return None, (
                "This is a student release: it has no reference solutions, so the comparison "
                "with the reference does not apply."
            )
        return folder, ""


@dataclass(frozen=True)
class Match:
    """Two files that share code: one row of ``similarity.csv``."""

    student_a: str
    student_b: str  # REFERENCE for the reference solution
    exercise: str
    similarity_a: float  # share of A's code (beyond the stub) found in B
    similarity_b: float  # share of B's code found in A
    overlap_chars: int  # normalised characters the two share
    lines_a: str  # the lines of A that match, e.g. "12-30, 41"
    lines_b: str
    flagged: bool

    @property
    def score(self) -> float:
        return max(self.similarity_a, self.similarity_b)

    @property
    def reference(self) -> bool:
        return self.student_b == REFERENCE

    def row(self) -> dict[str, str]:
        return {
            "student_a": self.student_a,
            "student_b": self.student_b,
            "exercise": self.exercise,
            "similarity_a": f"{self.similarity_a:.3f}",
            "similarity_b": f"{self.similarity_b:.3f}",
            "overlap_chars": str(self.overlap_chars),
            "lines_a": self.lines_a,
            "lines_b": self.lines_b,
            "flagged": str(self.flagged).lower(),
        }


@dataclass
class Screen:
    """The whole screen: every pair that shares code, and what the report needs."""

    config: ScreenConfig
    students: list[str]
    matches: list[Match]  # pairs of students and student-reference pairs sharing any code
    pairs: int  # student pairs compared, over every exercise
    boilerplate: str
    reference: str | None
    reference_note: str  # why there is no reference comparison ("" when there is one)
    seconds: float
    highlights: dict[tuple[str, str, str], tuple[str, str]] = field(default_factory=dict)
    """(student_a, student_b, exercise) -> both files as HTML, matching code in <mark>:
    for the flagged matches shown side by side only."""

    @property
    def flagged(self) -> list[Match]:
        return [m for m in self.matches if m.flagged and not m.reference]

    @property
    def reference_matches(self) -> list[Match]:
        return [m for m in self.matches if m.flagged and m.reference]

    def scores(self) -> list[float]:
        """The larger similarity of every student pair compared, zeros included."""
        shared = [m.score for m in self.matches if not m.reference]
        return shared + [0.0] * (self.pairs - len(shared))


def read_code(path: Path) -> str | None:
    """A student's file as text: None when absent, a link, not a plain file, or too big."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_FILE_BYTES:
            return None
        return fh.read().decode("utf-8", errors="replace")


def _line_ranges(text: str, slices) -> str:
    """The 1-based line ranges that copydetect's character slices cover: "3-9, 14"."""
    starts = [0] + [i + 1 for i, ch in enumerate(text) if ch == "\n"]
    ranges: list[list[int]] = []
    for begin, end in zip(slices[0], slices[1], strict=True):
        first = bisect.bisect_right(starts, int(begin))
        last = bisect.bisect_right(starts, max(int(begin), int(end) - 1))
        if ranges and first <= ranges[-1][1] + 1:
            ranges[-1][1] = max(ranges[-1][1], last)
        else:
            ranges.append([first, last])
    return ", ".join(f"{a}-{b}" if b > a else f"{a}" for a, b in ranges)


def _highlight(text: str, slices) -> str:
    from copydetect.utils import highlight_overlap

    html, _ = highlight_overlap(text, slices, "<mark>", "</mark>", escape_html=True)
    return html


class _Exercise:
    """One exercise's fingerprints, one per distinct text, with the stub's k-grams removed."""

    def __init__(self, exercise: str, stub: str, config: ScreenConfig) -> None:
        import numpy as np
        from copydetect.detector import CodeFingerprint

        self.name, self.config = exercise, config
        self._make = CodeFingerprint
        stub_print = CodeFingerprint(f"{exercise}.py", config.noise, 1, fp=io.StringIO(stub))
        self.boilerplate = np.unique(np.array(sorted(stub_print.hashes), dtype=np.int64))
        self.prints: dict[str, object] = {}  # sha256 of the text -> CodeFingerprint
        self._done: dict[tuple[str, str], tuple] = {}

    def fingerprint(self, text: str) -> str:
        key = hashlib.sha256(text.encode()).hexdigest()
        if key not in self.prints:
            self.prints[key] = self._make(
                f"{self.name}.py", self.config.noise, 1, self.boilerplate, fp=io.StringIO(text)
            )
        return key

    def compare(self, a: str, b: str):
        """(overlap, similarity each way, slices each way) of two fingerprinted texts;
        each distinct pair of texts is compared once."""
        from copydetect.detector import compare_files

        if (a, b) not in self._done:
            overlap, sims, slices = compare_files(self.prints[a], self.prints[b])
            self._done[a, b] = (int(overlap), *(round(min(float(s), 1.0), 3) for s in sims), slices)
        return self._done[a, b]


def screen_class(folder: Path, config: ScreenConfig | None = None) -> Screen:
    """Compare every pair of student subfolders of ``folder``, per exercise file, and each
    submission with the reference solutions where there are some. The matching code is
    marked only for the pairs the page shows side by side (``config.side_by_side``)."""
    require()
    from lenet_course.grading.classroom.roster import students

    config = config or ScreenConfig()
    start = time.perf_counter()
    boilerplate = config.boilerplate_dir()
    reference, note = config.reference_dir()
    names = [s.name for s in students(folder)]
    found: list[tuple[Match, tuple, tuple]] = []  # the match, and (text, slices) of each side
    pairs = 0
    for exercise in EXERCISES:
        compared, matched = _screen_exercise(
            exercise, names, Path(folder), boilerplate, reference, config
        )
        pairs += compared
        found += matched
    matches = sorted(
        (m for m, _, _ in found),
        key=lambda m: (-m.flagged, -m.score, m.student_a, m.student_b, m.exercise),
    )
    sides = {(m.student_a, m.student_b, m.exercise): (a, b) for m, a, b in found}
    shown = sorted(
        (m for m in matches if m.flagged),
        key=lambda m: (-m.score, m.student_a, m.student_b, m.exercise),
    )[: config.side_by_side]
    highlights = {}
    for m in shown:
        (text_a, slices_a), (text_b, slices_b) = sides[m.student_a, m.student_b, m.exercise]
        highlights[m.student_a, m.student_b, m.exercise] = (
            _highlight(text_a, slices_a),
            _highlight(text_b, slices_b),
        )
    return Screen(
        config, names, matches, pairs, str(boilerplate),
        None if reference is None else str(reference), note, time.perf_counter() - start,
        highlights,
    )  # fmt: skip


def _screen_exercise(
    exercise: str, names: list[str], folder: Path, boilerplate: Path, reference, config
) -> tuple[int, list[tuple[Match, tuple, tuple]]]:
    """One exercise file across the class: the student pairs compared, and each match with
    the text and matching slices of both sides."""
    ex = _Exercise(exercise, (boilerplate / f"{exercise}.py").read_text(), config)
    texts = {n: read_code(folder / n / f"{exercise}.py") for n in names}
    texts = {n: t for n, t in texts.items() if t is not None}
    if reference is not None:
        texts[REFERENCE] = (reference / f"{exercise}.py").read_text()
    keys = {n: ex.fingerprint(t) for n, t in texts.items()}
    present = [n for n in names if n in texts]
    todo = _sharing_pairs(present, {n: ex.prints[keys[n]].hashes for n in present})
    if reference is not None:
        todo += [(n, REFERENCE) for n in present]
    found = []
    for a, b in todo:
        overlap, sim_a, sim_b, slices = ex.compare(keys[a], keys[b])
        if not overlap:
            continue
        flagged = max(sim_a, sim_b) >= config.threshold and overlap >= config.min_chars
        lines_a, lines_b = _line_ranges(texts[a], slices[0]), _line_ranges(texts[b], slices[1])
        match = Match(a, b, exercise, sim_a, sim_b, overlap, lines_a, lines_b, flagged)
        found.append((match, (texts[a], slices[0]), (texts[b], slices[1])))
    return len(present) * (len(present) - 1) // 2, found


def _sharing_pairs(names: list[str], hashes: dict[str, set]) -> list[tuple[str, str]]:
    """The pairs (in ``names``' order) that share at least one k-gram, the only ones
    winnowing can find similar (a set test in C, so a class of 300 costs its overlaps)."""
    return [
        (a, b) for a, b in itertools.combinations(names, 2) if not hashes[a].isdisjoint(hashes[b])
    ]


# --- the files the screen writes ------------------------------------------------------------


def write_csv(screen: Screen, path: Path) -> Path:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS)
    writer.writeheader()
    writer.writerows(m.row() for m in screen.matches)
    return atomic_write(path, buf.getvalue())


def read_csv(path: Path) -> list[Match]:
    """The rows :func:`write_csv` wrote, as :class:`Match` values."""
    with open(path, newline="") as fh:
        return [
            Match(
                r["student_a"],
                r["student_b"],
                r["exercise"],
                float(r["similarity_a"]),
                float(r["similarity_b"]),
                int(r["overlap_chars"]),
                r["lines_a"],
                r["lines_b"],
                r["flagged"] == "true",
            )
            for r in csv.DictReader(fh)
        ]


def write_screen(screen: Screen, out: Path) -> list[Path]:
    """``similarity.csv``, ``similarity.png`` (the distribution, threshold marked) and
    ``similarity.html`` (each flagged pair side by side, the matching code marked)."""
    from lenet_course.grading.classroom.templates import render
    from lenet_course.plots import save_figure, similarity_figure

    out = Path(out)
    paths = [write_csv(screen, out / CSV_NAME)]
    paths.append(
        save_figure(similarity_figure(screen.scores(), screen.config.threshold), out / PLOT_NAME)
    )
    flagged = sorted(
        [*screen.flagged, *screen.reference_matches],
        key=lambda m: (-m.score, m.student_a, m.student_b, m.exercise),
    )
    shown = flagged[: screen.config.side_by_side]
    page = render(
        "similarity.html",
        screen=screen,
        plot=PLOT_NAME,
        csv=CSV_NAME,
        flagged=len(flagged),
        rows=flagged[: screen.config.table_rows],
        pairs=[(m, *screen.highlights[m.student_a, m.student_b, m.exercise]) for m in shown],
    )
    paths.append(atomic_write(out / HTML_NAME, page))
    return paths


def screen_and_write(folder: Path, out: Path, config: ScreenConfig | None = None) -> Screen:
    screen = screen_class(folder, config)
    write_screen(screen, out)
    return screen
