"""`lenet-course mutants` fails on what an instructor must fix: a survivor, a false alarm, and
a mutant only hidden tests catch with no reason given (a student's check cannot show it)."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from lenet_course import cli, mutation
from lenet_course.mutation import Case, Outcome


def mutant(name: str, *, in_check: bool, reason: str = "", killed: bool = True) -> Outcome:
    case = Case(name, "mutant", Path("."), "ex3_train", bug="a bug", hidden_only=reason)
    return Outcome(case, killed, ["tests/graded/test_ex3_train.py::test_x"], in_check=in_check)


def run_cli(monkeypatch, capsys, outcomes: list[Outcome]) -> tuple[int, str]:
    @contextmanager
    def load(_sets):
        yield [o.case for o in outcomes]

    monkeypatch.setattr(mutation, "load", load)
    monkeypatch.setattr(mutation, "run", lambda cases, **kw: outcomes)
    code = cli.main(["mutants", "--seeds", "1,2"])
    return code, capsys.readouterr().out


def test_a_hidden_only_mutant_without_a_reason_is_named_and_fails_the_run(monkeypatch, capsys):
    outcomes = [mutant("seen", in_check=True), mutant("silent", in_check=False)]
    assert mutation.summary(outcomes)["unexplained"] == ["silent"]
    code, out = run_cli(monkeypatch, capsys, outcomes)
    assert code == 1, f"a hidden-only mutant with no reason must fail the run:\n{out}"
    assert "silent" in out and "hidden_only" in " ".join(out.split()), out


def test_a_hidden_only_mutant_with_its_reason_passes(monkeypatch, capsys):
    outcomes = [
        mutant("seen", in_check=True),
        mutant("rare", in_check=False, reason="only a hidden case shows it"),
    ]
    assert mutation.summary(outcomes)["unexplained"] == []
    code, out = run_cli(monkeypatch, capsys, outcomes)
    assert code == 0, out
    assert "only a hidden case shows it" in " ".join(out.split()), out


def test_a_survivor_fails_the_run_whatever_its_reason(monkeypatch, capsys):
    outcomes = [mutant("lucky", in_check=False, reason="stated", killed=False)]
    code, out = run_cli(monkeypatch, capsys, outcomes)
    assert code == 1 and "SURVIVED" in out, out
