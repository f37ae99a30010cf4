"""pytest plugin for the graded tests: ``--target``, points, and a tamper-evident result log.

Loaded by ``tests/conftest.py``. In a plain ``pytest`` run it only adds ``--target`` and the
``target`` fixtures. When the grader runs a child with ``--lenet-report FILE``, it also:

* reads a one-time key from a pipe at start-up, before any student code is imported;
* writes one HMAC-signed JSON line per test event (start, result) to FILE, so that lines
  forged by student code are rejected by the grader;
* wraps each test function at collection time, so a test passes only if its own body ran to
  the end (patching pytest's runner to skip or swallow failures does not produce a pass);
* checks after every test that key pytest internals are the objects it saw at start-up,
  and reports the test as tampered with otherwise.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import os
import sys
from pathlib import Path

import pytest

REPORT_KEY = pytest.StashKey[dict]()

# (module, dotted attribute) pairs whose identity must not change while tests run.
_CRITICAL = (
    ("_pytest.runner", "call_and_report"),
    ("_pytest.runner", "CallInfo.from_call"),
    ("_pytest.runner", "runtestprotocol"),
    ("_pytest.python", "Function.runtest"),
    ("_pytest.python", "pytest_pyfunc_call"),
    ("_pytest.reports", "TestReport.from_item_and_call"),
    ("_pytest.outcomes", "fail"),
    ("pluggy._callers", "_multicall"),
    ("builtins", "__import__"),
    ("sys", "exit"),
)


def _lookup(module: str, dotted: str):
    obj = sys.modules.get(module) or __import__(module)
    for part in dotted.split("."):
        obj = obj.__dict__[part] if isinstance(obj, type) else getattr(obj, part)
    return obj


def _snapshot() -> dict:
    return {f"{m}:{a}": _lookup(m, a) for m, a in _CRITICAL}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("lenet-course")
    group.addoption(
        "--target",
        default="exercises",
        help="what the graded tests check: exercises (default), solutions, or a folder "
        "holding ex1_lenet.py ... ex4_kernels.py",
    )
    group.addoption("--lenet-report", default=None, help="grader use: signed JSON-lines results")
    group.addoption(
        "--lenet-artifacts", default=None, help="grader use: folder for trained weights"
    )
    group.addoption("--lenet-key-fd", type=int, default=None, help="grader use: key pipe")
    group.addoption("--lenet-catalog", default=None, help="grader use: write the graded tests here")


def _make_writer(path: str, key: bytes):
    fh = open(path, "a", buffering=1)  # noqa: SIM115 - kept open for the whole run
    new, dumps, sha = hmac.new, json.dumps, hashlib.sha256

    def write(record: dict) -> None:
        body = dumps(record, sort_keys=True)
        fh.write(dumps({"body": body, "sig": new(key, body.encode(), sha).hexdigest()}) + "\n")
        fh.flush()

    return write


def pytest_configure(config: pytest.Config) -> None:
    path = config.getoption("lenet_report", None)
    if not path:
        return
    fd = config.getoption("lenet_key_fd")
    if fd is None:
        raise pytest.UsageError("--lenet-report needs --lenet-key-fd (the grader's key pipe)")
    with os.fdopen(fd, "rb") as pipe:
        key = pipe.readline().strip()
    if not key:
        raise pytest.UsageError("the grader's key pipe was empty")
    state = {
        "write": _make_writer(path, key),
        "done": {},
        "snapshot": _snapshot(),
        "tampered": None,
    }
    config.stash[REPORT_KEY] = state


def _points(item: pytest.Item) -> int:
    marker = item.get_closest_marker("points")
    return int(marker.args[0]) if marker else 0


def _title(item: pytest.Item) -> str:
    doc = getattr(item.obj, "__doc__", None) or ""
    first = doc.strip().splitlines()[0] if doc.strip() else item.name
    return first


def _exercise(item: pytest.Item) -> str:
    stem = Path(str(item.fspath)).stem  # test_ex1_lenet
    return stem.removeprefix("test_")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    state = config.stash.get(REPORT_KEY, None)
    for item in items:
        if "graded" in Path(str(item.fspath)).parts and item.get_closest_marker("points") is None:
            raise pytest.UsageError(f"graded test {item.nodeid} has no @pytest.mark.points(n)")
        if state is not None and isinstance(item, pytest.Function):
            item.obj = _completion_probe(item.obj, state["done"], item.nodeid)


def _completion_probe(fn, done: dict, nodeid: str):
    @functools.wraps(fn)
    def probe(*args, **kwargs):
        done[nodeid] = False
        result = fn(*args, **kwargs)
        done[nodeid] = True
        return result

    return probe


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    state = item.config.stash.get(REPORT_KEY, None)
    if state is not None:
        state["write"]({"event": "start", "nodeid": item.nodeid})


def _student_message(item: pytest.Item, excinfo) -> str:
    """What went wrong, in words for a student: the assertion message or the exception,
    with the file and line in the student's code where Python gives one."""
    exc = excinfo.value
    if isinstance(exc, AssertionError):
        text = str(exc).split("\nassert ")[0].strip() or "an assertion failed"
        return text
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, NotImplementedError):
        return text
    if isinstance(exc, SyntaxError) and exc.filename:
        return f"{Path(exc.filename).name} line {exc.lineno}: SyntaxError: {exc.msg}"
    for entry in reversed(excinfo.traceback):  # the innermost frame in an exercise file
        name = Path(str(entry.path)).name
        if name.startswith("ex") and name.endswith(".py"):
            return f"{name} line {entry.lineno + 1}: {text}"
    return text


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    if call.excinfo is not None:
        report.student_message = _student_message(item, call.excinfo)
    state = item.config.stash.get(REPORT_KEY, None)
    if state is None:
        return
    if state["tampered"] is None:
        changed = [k for k, v in _snapshot().items() if state["snapshot"][k] is not v]
        if changed:
            state["tampered"] = "student code replaced test machinery: " + ", ".join(changed)
    failed_setup = call.when == "setup" and call.excinfo is not None
    if call.when != "call" and not failed_setup:
        return
    passed = (
        call.when == "call"
        and call.excinfo is None
        and state["done"].get(item.nodeid) is True
        and state["tampered"] is None
    )
    if passed:
        message = ""
    elif state["tampered"]:
        message = state["tampered"]
    elif call.excinfo is not None:
        message = getattr(report, "student_message", str(call.excinfo.value))
    else:
        message = "the test body did not run to its end"
    state["write"](
        {
            "event": "result",
            "nodeid": item.nodeid,
            "passed": passed,
            "message": message,
            "seconds": round(call.duration, 3),
        }
    )


def pytest_collection_finish(session: pytest.Session) -> None:
    path = session.config.getoption("lenet_catalog", None)
    if path:
        Path(path).write_text(json.dumps(collect_catalog(session.items), indent=1))


def collect_catalog(items: list[pytest.Item]) -> list[dict]:
    """The graded tests with their points: the grader's list of what can be earned."""
    return [
        {
            "nodeid": item.nodeid,
            "exercise": _exercise(item),
            "title": _title(item),
            "points": _points(item),
            "slow": item.get_closest_marker("slow") is not None,
        }
        for item in items
    ]


@pytest.fixture
def target(request: pytest.FixtureRequest) -> str:
    """The implementation under test: ``exercises``, ``solutions`` or a folder."""
    return str(request.config.getoption("target"))


@pytest.fixture
def artifacts(request: pytest.FixtureRequest) -> Path | None:
    """Where tests leave trained weights for the grader to check itself (None outside grading)."""
    path = request.config.getoption("lenet_artifacts")
    return Path(path) if path else None
