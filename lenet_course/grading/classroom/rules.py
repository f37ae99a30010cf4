"""The course's rules for late work, extensions and overrides: read once, checked whole, then
applied to each student's raw grade by pure functions.

A rules file is TOML (``grade-all --rules FILE``)::

    due = 2026-03-01T23:59:00-05:00     # a TOML datetime with its offset
    late_due = 2026-03-03T23:59:00-05:00
    penalty_percent = 10                 # per started period
    per = "day"                          # or "hour"
    grace_minutes = 15
    max_penalty_percent = 50
    penalty_of = "earned"                # or "possible"
    extensions = "extensions.csv"        # CSV student,due,late_due (paths relative to this file)
    overrides = "overrides.csv"          # CSV student,test (or exercise),points,reason
    max_submissions = 3                  # Gradescope only: graded submissions per window
    window_hours = 24

Lateness is nbgrader's: seconds late = max(0, submitted - due), ``due`` being the student's
extended due date where they have one. Each started period (a day or an hour) after the due
date costs ``penalty_percent`` of the earned (or possible) points, up to
``max_penalty_percent``; work at most ``grace_minutes`` late costs nothing; work after
``late_due`` earns 0. The rules never regrade: they turn the raw grade into the final one on
every run. Each mistake in the files is a :class:`~lenet_course.errors.UserError` naming the
file, the line and the fix, raised before anything is graded or written.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path

from lenet_course.errors import UserError

PERIODS = {"day": timedelta(days=1), "hour": timedelta(hours=1)}
OF = ("earned", "possible")
TIMESTAMP = "timestamp.txt"  # nbgrader's: the submission time, in the student's folder
KEYS = (
    "due",
    "late_due",
    "penalty_percent",
    "per",
    "grace_minutes",
    "max_penalty_percent",
    "penalty_of",
    "extensions",
    "overrides",
    "max_submissions",
    "window_hours",
)


@dataclass(frozen=True)
class Extension:
    """One student's later due date (and late due date: None keeps the course's span)."""

    student: str
    due: datetime
    late_due: datetime | None = None
    where: str = field(default="", compare=False)  # the file and line it came from


@dataclass(frozen=True)
class Override:
    """Points an instructor adds (or removes) by hand, with why."""

    student: str
    target: str  # a test (its node id or name) or an exercise
    points: float
    reason: str
    where: str = field(default="", compare=False)  # the file and line it came from


@dataclass(frozen=True)
class Rules:
    """The course's rules for late work, as plain data."""

    due: datetime
    """The due date, with its offset."""
    late_due: datetime | None = None
    """After it, late work earns 0 (None: late work is always accepted, with the penalty)."""
    penalty_percent: float = 0.0
    """Of the points (``penalty_of``), per started ``per``."""
    per: str = "day"
    """``day`` or ``hour``."""
    grace_minutes: float = 0.0
    """Work at most this late costs nothing."""
    max_penalty_percent: float = 100.0
    """The most the penalty takes, in percent (before ``late_due``)."""
    penalty_of: str = "earned"
    """``earned``: a share of the points the student earned; ``possible``: of the maximum."""
    extensions: tuple[Extension, ...] = ()
    overrides: tuple[Override, ...] = ()
    max_submissions: int | None = None
    """Gradescope only: at most this many graded submissions per window (None: no limit)."""
    window_hours: float = 24.0
    """The window ``max_submissions`` counts in, ending at the submission."""

    def __post_init__(self) -> None:
        for name, value in (("due", self.due), ("late_due", self.late_due)):
            if value is not None and value.utcoffset() is None:
                raise UserError(
                    f"{name} = {value}: a date needs its offset. "
                    "Fix: write it like 2026-03-01T23:59:00-05:00."
                )
        if self.late_due is not None and self.late_due < self.due:
            raise UserError(
                f"late_due ({self.late_due}) is before due ({self.due}). Fix: "
                "put late_due on or after due."
            )
        if self.per not in PERIODS:
            raise UserError(f'per = "{self.per}": no such period. Fix: write "day" or "hour".')
        if self.penalty_of not in OF:
            raise UserError(
                f'penalty_of = "{self.penalty_of}": no such base. Fix: write "earned" or "possible".'
            )
        for name in ("penalty_percent", "max_penalty_percent"):
            if not 0 <= getattr(self, name) <= 100:
                raise UserError(
                    f"{name} = {getattr(self, name)}. Fix: write a percent from 0 to 100."
                )
        if not 0 <= self.grace_minutes < math.inf:
            raise UserError(f"grace_minutes = {self.grace_minutes}. Fix: write 0 or more minutes.")
        if self.max_submissions is not None and self.max_submissions < 1:
            raise UserError(f"max_submissions = {self.max_submissions}. Fix: write 1 or more.")
        if not 0 < self.window_hours < math.inf:
            raise UserError(f"window_hours = {self.window_hours}. Fix: write more than 0 hours.")

    def extension(self, student: str) -> Extension | None:
        return next((e for e in self.extensions if e.student == student), None)

    def overrides_of(self, student: str) -> tuple[Override, ...]:
        return tuple(o for o in self.overrides if o.student == student)


@dataclass(frozen=True)
class Penalty:
    """What lateness cost one student."""

    late_by: timedelta  # zero when on time or the time is unknown
    percent: float  # of the points penalised (100 after late_due)
    points: float  # taken from the earned points: never more than them
    closed: bool = False  # handed in after the late due date: earns 0


NONE = Penalty(timedelta(0), 0.0, 0.0)


def penalty(
    submitted: datetime | None,
    rules: Rules,
    extension: Extension | None,
    *,
    earned: float,
    possible: float,
) -> Penalty:
    """The penalty for work handed in at ``submitted`` (None: unknown, no penalty), under
    ``rules`` and the student's ``extension``. An extension only ever moves a date later."""
    if submitted is None:
        return NONE
    due, late_due = rules.due, rules.late_due
    if extension is not None:
        due = max(rules.due, extension.due)
        if late_due is not None:  # without its own, the extension keeps the course's span
            late_due = max(late_due, extension.late_due or late_due + (due - rules.due))
    late_by = max(timedelta(0), submitted - due)
    earned = max(0.0, earned)
    if late_due is not None and submitted > late_due:
        return Penalty(late_by, 100.0, earned, closed=True)
    if late_by <= timedelta(minutes=rules.grace_minutes):
        return Penalty(late_by, 0.0, 0.0)
    periods = math.ceil(late_by / PERIODS[rules.per])
    percent = min(rules.max_penalty_percent, periods * rules.penalty_percent)
    base = earned if rules.penalty_of == "earned" else max(0.0, possible)
    return Penalty(late_by, percent, min(earned, base * percent / 100))


@dataclass(frozen=True)
class Final:
    """One student's final grade, from the raw one."""

    raw: float
    penalty: Penalty
    override: float
    reasons: tuple[str, ...]
    final: float


def final_grade(
    raw: float, possible: float, submitted: datetime | None, rules: Rules | None, student: str
) -> Final:
    """The raw grade, less the late penalty (never below 0), plus the overrides' points."""
    if rules is None:
        return Final(raw, NONE, 0.0, (), raw)
    cost = penalty(submitted, rules, rules.extension(student), earned=raw, possible=possible)
    overrides = rules.overrides_of(student)
    added = sum(o.points for o in overrides)
    reasons = tuple(f"{o.target}: {o.points:+g} ({o.reason})" for o in overrides)
    return Final(raw, cost, added, reasons, max(0.0, raw - cost.points + added))


# --- reading the files ----------------------------------------------------------------------

LIKE = "write it like 2026-03-01T23:59:00-05:00"


def _datetime(text: str, where: str, *, empty_ok: bool = False) -> datetime | None:
    text = text.strip()
    if not text and empty_ok:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        value = None
    if value is None or value.utcoffset() is None:
        raise UserError(f"{where}: {text!r} is not an ISO 8601 time with its offset. Fix: {LIKE}.")
    return value


def _rows(path: Path, columns: tuple[str, ...], alternatives: dict[str, str] | None = None):
    """``(where, row)`` of each row of a CSV with these columns under a header row; ``where``
    names the file and line. ``alternatives``: column -> another name its header may use."""
    alternatives = alternatives or {}
    try:
        with open(path, newline="") as fh:
            lines = list(csv.reader(fh))
    except OSError as exc:
        raise UserError(f"{path}: cannot be read ({exc.strerror}). Fix: check the path.") from None
    except (csv.Error, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: not a CSV file ({exc}). Fix: save it as UTF-8 CSV.") from None
    header = [c.strip() for c in lines[0]] if lines else []
    header = [next((k for k, v in alternatives.items() if v == c), c) for c in header]
    if header != list(columns):
        raise UserError(
            f"{path}, line 1: the header must be {','.join(columns)} (it is "
            f"{','.join(header) or 'empty'}). Fix: put that header first."
        )
    for number, row in enumerate(lines[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        where = f"{path}, line {number}"
        if len(row) != len(columns):
            raise UserError(
                f"{where}: {len(row)} fields, expected {len(columns)} "
                f"({','.join(columns)}). Fix: quote a field that holds a comma."
            )
        yield where, dict(zip(columns, (c.strip() for c in row), strict=True))


def _in_class(where: str, student: str, roster: set[str] | None) -> str:
    if roster is not None and student not in roster:
        raise UserError(
            f"{where}: {student!r} is not a student of the class (no folder of that "
            "name). Fix: correct the name or remove the line."
        )
    return student


def read_extensions(path: Path, due: datetime, roster: set[str] | None = None):
    """``extensions``: a CSV of student,due,late_due (late_due may be empty)."""
    out, seen = [], set()
    for where, row in _rows(path, ("student", "due", "late_due")):
        student = _in_class(where, row["student"], roster)
        if student in seen:
            raise UserError(f"{where}: a second extension for {student}. Fix: keep one line.")
        seen.add(student)
        new_due = _datetime(row["due"], where)
        late = _datetime(row["late_due"], where, empty_ok=True)
        if new_due < due:
            raise UserError(
                f"{where}: the extension ends before the course's due date. Fix: "
                "an extension moves the due date later; correct or remove it."
            )
        if late is not None and late < new_due:
            raise UserError(f"{where}: late_due is before due. Fix: put it on or after due.")
        out.append(Extension(student, new_due, late, where))
    return tuple(out)


def read_overrides(path: Path, roster: set[str] | None = None) -> tuple[Override, ...]:
    """``overrides``: a CSV of student,test (or exercise),points,reason."""
    out = []
    for where, row in _rows(path, ("student", "test", "points", "reason"), {"test": "exercise"}):
        student = _in_class(where, row["student"], roster)
        try:
            points = float(row["points"])
        except ValueError:
            points = math.nan
        if not math.isfinite(points):
            raise UserError(
                f"{where}: points {row['points']!r} is not a number. Fix: write "
                "the points to add, e.g. 5 or -2.5."
            )
        if not row["test"] or not row["reason"]:
            raise UserError(
                f"{where}: an override needs the test or exercise it is for and "
                "a reason. Fix: fill in both."
            )
        out.append(Override(student, row["test"], points, row["reason"], where))
    return tuple(out)


def _load_toml(path: Path) -> dict:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: the same parser as a package (the [class] extra)
        import tomli as tomllib

    try:
        return tomllib.loads(path.read_text())
    except OSError as exc:
        raise UserError(
            f"--rules {path}: cannot be read ({exc.strerror}). Fix: check the path."
        ) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UserError(
            f"{path}: not valid TOML ({exc}). Fix: see docs/class-grading.md, 'The course's rules'."
        ) from None


def _settings(path: Path, data: dict) -> dict:
    """The TOML's values as :class:`Rules` takes them, each checked for its type."""
    unknown = sorted(set(data) - set(KEYS))
    if unknown:
        raise UserError(
            f"{path}: unknown key {', '.join(unknown)}. Fix: use only {', '.join(KEYS)}."
        )
    if "due" not in data:
        raise UserError(f"{path}: no due date. Fix: add a line due = 2026-03-01T23:59:00-05:00.")
    for name in ("due", "late_due"):
        value = data.get(name)
        if name in data and not (isinstance(value, datetime) and value.utcoffset() is not None):
            raise UserError(
                f"{path}: {name} = {value} is not a date and time with its offset. "
                f"Fix: {LIKE} (unquoted, a TOML date-time)."
            )
    settings = {"due": data["due"], "late_due": data.get("late_due")}
    for name in ("penalty_percent", "grace_minutes", "max_penalty_percent", "window_hours"):
        if name in data:
            value = data[name]
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise UserError(
                    f"{path}: {name} = {value!r} is not a number. Fix: write a number, e.g. 10."
                )
            settings[name] = float(value)
    if "max_submissions" in data:
        value = data["max_submissions"]
        if isinstance(value, bool) or not isinstance(value, int):
            raise UserError(
                f"{path}: max_submissions = {value!r} is not a whole number. Fix: write e.g. 3."
            )
        settings["max_submissions"] = value
    for name in ("per", "penalty_of", "extensions", "overrides"):
        if name in data and not isinstance(data[name], str):
            raise UserError(
                f"{path}: {name} = {data[name]!r} is not a string. Fix: put it in quotes."
            )
    return settings | {n: data[n] for n in ("per", "penalty_of") if n in data}


def read_rules(path: Path, roster: set[str] | None = None) -> Rules:
    """The rules in a TOML file; its CSV files are read relative to it, and each student they
    name must be in ``roster`` (when given)."""
    path = Path(path)
    data = _load_toml(path)
    try:
        rules = Rules(**_settings(path, data))
    except UserError as exc:
        raise UserError(f"{path}: {exc}") from None
    extensions = overrides = ()
    if "extensions" in data:
        extensions = read_extensions(path.parent / data["extensions"], rules.due, roster)
    if "overrides" in data:
        overrides = read_overrides(path.parent / data["overrides"], roster)
    return replace(rules, extensions=extensions, overrides=overrides)


def named_files(path: Path) -> tuple[str, ...]:
    """The CSV files a rules file names (``extensions``, ``overrides``), as written there:
    relative to it."""
    data = _load_toml(Path(path))
    return tuple(data[k] for k in ("extensions", "overrides") if isinstance(data.get(k), str))


def check_targets(rules: Rules, known) -> None:
    """Every override names an exercise or a graded test: ``known()`` lists those names
    (called only when an override names something other than an exercise)."""
    from lenet_course.kit import EXERCISES

    others = [o for o in rules.overrides if o.target not in EXERCISES]
    names = set(known()) if others else set()
    for o in others:
        if o.target not in names:
            raise UserError(
                f"{o.where}: {o.target!r} is neither an exercise nor a graded test. "
                f"Fix: name an exercise ({', '.join(EXERCISES)}) or a test as the "
                "report lists it (e.g. test_ex1_lenet.py::test_name)."
            )


def read_times(path: Path, roster: set[str] | None = None) -> dict[str, datetime]:
    """``--times``: a CSV of student,submitted_at."""
    times = {}
    for where, row in _rows(Path(path), ("student", "submitted_at")):
        times[_in_class(where, row["student"], roster)] = _datetime(row["submitted_at"], where)
    return times


def read_timestamp(folder: Path) -> datetime | None:
    """The time in a student's ``timestamp.txt`` (nbgrader's convention), None without one."""
    path = Path(folder) / TIMESTAMP
    if not path.is_file():
        return None
    try:
        lines = path.read_text().strip().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot be read ({exc}). Fix: {LIKE}.") from None
    return _datetime(lines[0] if lines else "", f"{path}, line 1")


def submission_times(
    folders: list[Path], times: dict[str, datetime] | None = None
) -> dict[str, datetime | None]:
    """Each student's submission time: from ``--times`` where it names them, else their
    ``timestamp.txt``, else None (unknown: no penalty, and the gradebook says so)."""
    times = times or {}
    return {f.name: times[f.name] if f.name in times else read_timestamp(f) for f in folders}
