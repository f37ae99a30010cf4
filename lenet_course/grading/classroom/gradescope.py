"""The course's rules on Gradescope: the submission's time and dates from Gradescope's
``submission_metadata.json``, the policy from the rules file the bundle ships.

Which wins: the rules file gives the policy (penalty per period, grace, cap, of earned or
possible) and the course's dates (``due``, ``late_due``). Gradescope's assignment dates never
replace them. A member's own dates in the metadata (``users[].assignment``), when later than
the assignment's, are an extension given on Gradescope: that member's due date becomes the
later of it and the course's (likewise the late due date), as an extension in the rules'
``extensions`` CSV does; a group takes its members' latest dates. The submission time is
``created_at`` (Gradescope: time a policy from it, never from the clock).

A metadata file that cannot be read, or has no valid ``created_at``, is a
:class:`~lenet_course.errors.UserError` from :func:`read_metadata`; :func:`apply_rules` turns
it into a grade without a late penalty whose ``output`` says the time was unknown, with the
problem kept for the instructor (``extra_data`` and the command's stderr). A score of 0 for a
file Gradescope failed to write would punish the student for the platform.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

from lenet_course.errors import UserError
from lenet_course.files import atomic_write
from lenet_course.grading.classroom.rules import Extension, Final, Rules, final_grade
from lenet_course.grading.judge.reports import Adjusted
from lenet_course.grading.judge.runner import GradeReport

METADATA = Path("/autograder/submission_metadata.json")  # where Gradescope writes it
SUBMISSION = "this submission"  # the key the submission's own extension is filed under
FIX = "Fix: run the bundle on Gradescope, which writes it, or pass --submission-metadata FILE"


@dataclass(frozen=True)
class Member:
    """One submitter: the names a rules CSV may know them by, and their own dates."""

    names: tuple[str, ...]  # email, sid, name (those present)
    due: datetime | None = None
    late_due: datetime | None = None


@dataclass(frozen=True)
class Previous:
    """An earlier submission of the same assignment, as Gradescope keeps it."""

    time: datetime
    score: float
    results: dict  # its results.json ({} if Gradescope gives none)

    @property
    def graded(self) -> bool:
        """Not one turned away by the submission limit (those count for nothing)."""
        return not (self.results.get("extra_data") or {}).get("limited")


@dataclass(frozen=True)
class Metadata:
    """What decides lateness in ``submission_metadata.json``."""

    created_at: datetime
    due: datetime | None = None  # the assignment's (None if unset)
    late_due: datetime | None = None
    members: tuple[Member, ...] = ()
    previous: tuple[Previous, ...] = ()


def _time(value, path: Path, key: str, *, required: bool = False) -> datetime | None:
    if value is None and not required:
        return None
    try:  # Python 3.10's fromisoformat knows no "Z"
        parsed = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except ValueError:
        parsed = None
    if parsed is None or parsed.utcoffset() is None:
        raise UserError(
            f"{path}: {key} is {value!r}, not an ISO 8601 time with its offset "
            f"(like 2026-03-01T23:59:00.123456-05:00). {FIX}."
        )
    return parsed


def read_metadata(path: Path) -> Metadata:
    """The submission time, the assignment's dates and each member's own dates."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise UserError(f"{path}: cannot be read ({exc.strerror}). {FIX}.") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: not JSON ({exc}). {FIX} (Gradescope's own).") from None
    if not isinstance(data, dict) or "created_at" not in data:
        raise UserError(f"{path}: no created_at, the submission time. {FIX}.")
    assignment = data.get("assignment") if isinstance(data.get("assignment"), dict) else {}
    members = []
    for i, user in enumerate(u for u in data.get("users") or () if isinstance(u, dict)):
        own = user.get("assignment") if isinstance(user.get("assignment"), dict) else {}
        names = tuple(str(user[k]) for k in ("email", "sid", "name") if user.get(k))
        where = f"users[{i}].assignment"
        members.append(
            Member(
                names,
                _time(own.get("due_date"), path, f"{where}.due_date"),
                _time(own.get("late_due_date"), path, f"{where}.late_due_date"),
            )
        )
    return Metadata(
        _time(data["created_at"], path, "created_at", required=True),
        _time(assignment.get("due_date"), path, "assignment.due_date"),
        _time(assignment.get("late_due_date"), path, "assignment.late_due_date"),
        tuple(members),
        _previous(data.get("previous_submissions"), path),
    )


def _previous(entries, path: Path) -> tuple[Previous, ...]:
    out = []
    for i, entry in enumerate(e for e in entries or () if isinstance(e, dict)):
        where = f"previous_submissions[{i}]"
        results = entry.get("results") if isinstance(entry.get("results"), dict) else {}
        try:
            score = float(entry.get("score", results.get("score", 0)) or 0)
        except (TypeError, ValueError):
            raise UserError(f"{path}: {where}.score is not a number. {FIX}.") from None
        when = _time(entry.get("submission_time"), path, f"{where}.submission_time", required=True)
        out.append(Previous(when, score, results))
    return tuple(out)


def _later(*dates: datetime | None) -> datetime | None:
    known = [d for d in dates if d is not None]
    return max(known) if known else None


def for_submission(rules: Rules, meta: Metadata) -> Rules:
    """``rules`` with this submission's extension (the CSV's for any member, and the
    members' own later dates on Gradescope, the latest winning) and its members' overrides,
    filed under :data:`SUBMISSION`, so that :func:`~rules.final_grade` applies them."""
    names = {n for m in meta.members for n in m.names}
    dues, late_dues = [], []
    for e in (e for e in rules.extensions if e.student in names):
        dues.append(e.due)
        late_dues.append(e.late_due)
    for m in meta.members:  # an extension given on Gradescope: later than the assignment's
        if m.due is not None and m.due > (meta.due or rules.due):
            dues.append(m.due)
        if m.late_due is not None and meta.late_due is not None and m.late_due > meta.late_due:
            late_dues.append(m.late_due)
    extension = ()
    if _later(*dues) is not None and _later(*dues) > rules.due:
        extension = (Extension(SUBMISSION, _later(*dues), _later(*late_dues)),)
    overrides = {(o.target, o.points, o.reason): o for o in rules.overrides if o.student in names}
    found = tuple(replace(o, student=SUBMISSION) for o in overrides.values())
    return replace(rules, extensions=extension, overrides=found)


def _duration(span: timedelta) -> str:
    minutes = int(span.total_seconds() // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    parts = [f"{days} day{'s' if days != 1 else ''}"] if days else []
    parts += [f"{hours} h"] if hours else []
    parts += [f"{minutes} min"] if minutes and not days else []
    return " ".join(parts) or "under a minute"


def _when(t: datetime, tz) -> str:
    """2026-03-01 23:59 -05:00, in the due date's offset."""
    local = t.astimezone(tz)
    offset = local.strftime("%z")
    return f"{local:%Y-%m-%d %H:%M} {offset[:3]}:{offset[3:5]}"


def _line(final: Final, rules: Rules, submitted: datetime) -> tuple[str, bool]:
    """The sentence that states the penalty, with the dates that decided it; and whether the
    points changed (the caller adds ``raw -> final`` where students may see the total)."""
    due = rules.due
    extension = rules.extension(SUBMISSION)
    if extension is not None:
        due = max(due, extension.due)
    tz = due.tzinfo
    dates = f"due {_when(due, tz)}{' (extended)' if extension else ''}, submitted {_when(submitted, tz)}"
    cost = final.penalty
    if cost.closed:
        return f"Submitted after the late due date ({dates}): late work earns 0", True
    if cost.late_by <= timedelta(0):
        return f"On time ({dates}): no late penalty", bool(final.override)
    if cost.percent == 0:
        grace = cost.late_by <= timedelta(minutes=rules.grace_minutes)
        why = f" (a grace of {rules.grace_minutes:g} min)" if grace else ""
        return f"Late by {_duration(cost.late_by)} ({dates}): no penalty{why}", bool(final.override)
    return (
        f"Late by {_duration(cost.late_by)} ({dates}): -{cost.percent:g}% of the points "
        f"{rules.penalty_of}",
        True,
    )


def over_limit(rules: Rules, meta: Metadata) -> dict | None:
    """The results.json of a submission over ``rules.max_submissions`` graded submissions in
    ``window_hours``: the latest graded one's results, score and tests, under a line saying
    when the next submission will be graded. None when this one is to be graded."""
    if rules.max_submissions is None:
        return None
    window = timedelta(hours=rules.window_hours)
    graded = sorted((p for p in meta.previous if p.graded), key=lambda p: p.time)
    recent = [p for p in graded if meta.created_at - window < p.time <= meta.created_at]
    if len(recent) < rules.max_submissions:
        return None
    latest = graded[-1]
    opens = recent[len(recent) - rules.max_submissions].time + window
    tz = rules.due.tzinfo
    line = (
        f"Not graded: {len(recent)} submissions were graded in the {rules.window_hours:g} h "
        f"before this one (the course allows {rules.max_submissions}). Your next submission "
        f"will be graded if made after {_when(opens, tz)}. Shown below: your latest graded "
        f"submission's results (submitted {_when(latest.time, tz)})."
    )
    results = dict(latest.results) or {"tests": []}
    earlier = results.get("output", "")
    extra = dict(results.get("extra_data") or {})
    results |= {
        "score": latest.score,
        "output": line + (f"\n\n{earlier}" if earlier else ""),
        "extra_data": extra | {"limited": True, "graded_at": latest.time.isoformat()},
    }
    return results


def write_limited(results: dict, path: Path) -> None:
    atomic_write(Path(path), json.dumps(results, indent=1))


def metadata_or_error(path: Path) -> Metadata | UserError:
    """:func:`read_metadata`, its error returned rather than raised. Read it before any
    submitted code runs (a jail at the reduced level leaves ``/autograder`` writable), and
    apply it after."""
    try:
        return read_metadata(path)
    except UserError as exc:
        return exc


def apply_rules(report: GradeReport, rules: Rules, meta: Metadata | UserError) -> Adjusted:
    """The final score of ``report`` under ``rules``, timed by ``meta`` (from
    :func:`metadata_or_error`), and the line that says why. Metadata that could not be read
    grades without a penalty (see the module)."""
    raw, possible = report.score, report.max_score
    if isinstance(meta, UserError):
        final = final_grade(raw, possible, None, rules, SUBMISSION)
        line = (
            "Submission time unknown (Gradescope's submission metadata could not be read): "
            "no late penalty applied; your instructor has the details"
        )
        details = {"raw_score": raw, "problem": str(meta), "overrides": list(final.reasons)}
        return Adjusted(final.final, line, bool(final.override), details, final.reasons)
    mine = for_submission(rules, meta)
    final = final_grade(raw, possible, meta.created_at, mine, SUBMISSION)
    line, changed = _line(final, mine, meta.created_at)
    details = {
        "raw_score": raw,
        "submitted": meta.created_at.isoformat(),
        "due": (mine.extension(SUBMISSION) or rules).due.isoformat(),
        "late_seconds": final.penalty.late_by.total_seconds(),
        "penalty_percent": final.penalty.percent,
        "penalty_points": final.penalty.points,
        "overrides": list(final.reasons),
    }
    return Adjusted(final.final, line, changed, details, final.reasons)
