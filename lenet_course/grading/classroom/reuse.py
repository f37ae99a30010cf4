"""When ``grade-all`` may reuse a student's earlier grade: only when everything that decided
it is the same.

A grade depends on the submission's files, the tier (fast or full), the graded tests and the
judge's reference code, the course's thresholds and the grading limits. Each is hashed into
one field of a :class:`GradeKey`; ``report.json`` records the key it was graded under, and a
later run regrades a student whose recorded key differs in any field, saying which.
Plain data throughout: the key is computed from files and settings, never from student code.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from lenet_course.grading.jail.limits import Limits
from lenet_course.grading.judge import catalog
from lenet_course.kit import THRESHOLDS

FAST, FULL = "fast", "full"  # the tiers: without and with the 10-epoch training tests

# The limits that can change a verdict (a time or memory cap a test hits). How the cores are
# shared (jobs, threads) changes only the speed, so a run with other --jobs reuses grades.
VERDICT_LIMITS = (
    "test_seconds",
    "train_seconds",
    "submission_seconds",
    "memory_mb",
    "file_mb",
    "processes",
)

# The judge's reference code beside the graded tests, relative to lenet_course/grading/.
REFERENCE_CODE = ("judge/spec.py", "sandbox/probes.py")

REASONS = {  # field -> why a student is regraded when that field differs
    "submission": "the submission changed",
    "tier": "the tier changed",
    "tests": "the graded tests changed",
    "thresholds": "the thresholds changed",
    "limits": "the limits changed",
}


def tier(full: bool) -> str:
    return FULL if full else FAST


@dataclass(frozen=True)
class GradeKey:
    """Everything that decided a grade, each part as a digest (the tier as its name)."""

    submission: str
    """SHA-256 over the exercise files (:func:`lenet_course.grading.judge.runner.fingerprint`)."""
    tier: str
    """``fast`` or ``full``."""
    tests: str
    """SHA-256 over the graded tests' source and the judge's reference code."""
    thresholds: str
    """SHA-256 over the course's thresholds (:data:`lenet_course.kit.THRESHOLDS`)."""
    limits: str
    """SHA-256 over the limits that can change a verdict (:data:`VERDICT_LIMITS`)."""

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data) -> GradeKey | None:
        """The key a report.json recorded, or None when it has none in this form."""
        if not isinstance(data, dict):
            return None
        values = {f.name: data.get(f.name) for f in fields(cls)}
        if not all(isinstance(v, str) for v in values.values()):
            return None
        return cls(**values)


def _digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(hashlib.sha256(part).digest())
    return h.hexdigest()


def tests_digest() -> str:
    """SHA-256 over the source of the graded tests (every ``*.py`` where
    :func:`~lenet_course.grading.judge.catalog.tests_dir` points) and of the judge's reference
    code (:data:`REFERENCE_CODE`), each file with its name."""
    grading = Path(__file__).resolve().parents[1]
    files = sorted(catalog.tests_dir().glob("*.py")) + [grading / p for p in REFERENCE_CODE]
    return _digest(*(p.name.encode() + b"\0" + p.read_bytes() for p in files))


def thresholds_digest() -> str:
    return _digest(json.dumps(THRESHOLDS, sort_keys=True).encode())


def limits_digest(limits: Limits) -> str:
    return _digest(json.dumps({n: getattr(limits, n) for n in VERDICT_LIMITS}).encode())


@dataclass(frozen=True)
class RunKey:
    """The parts of the key one ``grade-all`` run shares across its students."""

    tier: str
    tests: str
    thresholds: str
    limits: str

    @classmethod
    def now(cls, limits: Limits, full: bool) -> RunKey:
        return cls(tier(full), tests_digest(), thresholds_digest(), limits_digest(limits))

    def of(self, submission_fingerprint: str) -> GradeKey:
        return GradeKey(submission_fingerprint, **asdict(self))


def why_regrade(recorded: GradeKey | None, key: GradeKey) -> str:
    """Why a grade recorded under ``recorded`` cannot stand for ``key`` ("" when it can):
    each part that differs, in words, or that the report recorded no key."""
    if recorded is None:
        return "its report records no grading key (an earlier version of the grader)"
    changed = [
        REASONS[f.name]
        for f in fields(GradeKey)
        if getattr(recorded, f.name) != getattr(key, f.name)
    ]
    return ", ".join(changed)
