"""`verify-course` on a copy of the kit: what it finds and what it remembers. The grades,
the mutants and the release are stood in for here (each is tested where it is built; the
whole command runs on a changed course in tests/integration/test_new_exercise.py)."""

from __future__ import annotations

import shutil
import subprocess
from types import SimpleNamespace

import pytest

from lenet_course import cli, verify
from lenet_course.kit import THRESHOLDS, kit_root


@pytest.fixture
def kit(tmp_path, monkeypatch):
    """The kit's tracked sources, as a clone holds them; every heavy step a stand-in that
    passes and records which exercises it was asked to mutate."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=kit_root(), capture_output=True,
                            check=True).stdout.decode()  # fmt: skip
    copy = tmp_path / "kit"
    for name in filter(None, listed.split("\0")):
        if name.split("/")[0] in ("README.md", "docs", "lenet_course", "solutions", "exercises",
                                  "notebooks", "tests") and (kit_root() / name).is_file():  # fmt: skip
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(kit_root() / name, copy / name)
    mutated = []
    monkeypatch.setattr(verify, "_solutions", lambda root, full, data: (True, "100/100"))
    monkeypatch.setattr(verify, "_stubs", lambda root: (True, "0/100"))
    monkeypatch.setattr(verify, "_no_leaks", lambda root: (True, "no solution line"))
    monkeypatch.setattr(
        verify, "_mutants", lambda root, ex, seeds, jobs: (mutated.append(ex) or True, "killed")
    )
    return SimpleNamespace(root=copy, mutated=mutated)


def by_name(checks) -> dict:
    return {c.name.split(" (")[0]: c for c in checks}


def test_a_stale_percentage_in_a_graded_docstring_fails_the_run_naming_file_and_line(kit):
    test = kit.root / "tests" / "graded" / "test_ex2_log_softmax.py"
    lines = test.read_text().splitlines()
    at = next(n for n, line in enumerate(lines) if '"""' in line and n > 5)
    lines.insert(at + 1, "    Training reaches 95% here.")
    test.write_text("\n".join(lines) + "\n")
    checks = verify.verify_course(kit.root, mutants="none")
    stale = [c for c in checks if c.name.startswith("no pass accuracy")]
    assert stale and stale[0].passed is False, [(c.name, c.passed) for c in checks]
    assert f"{test}:{at + 2}: 95%" in stale[0].detail, stale[0].detail
    assert not (kit.root / verify.RECORD).exists(), "a failed run must not be recorded as verified"


def test_a_verified_run_is_remembered_and_the_next_mutates_only_what_changed(kit, monkeypatch):
    first = verify.verify_course(kit.root)
    assert all(c.passed for c in first), [(c.name, c.passed, c.detail) for c in first]
    assert len(kit.mutated[-1]) == 4, "with no earlier run, every exercise is mutated"
    verify.verify_course(kit.root)
    assert kit.mutated[-1] == [], "nothing changed: no mutant to grade"
    solution = kit.root / "solutions" / "ex3_train.py"
    solution.write_text(solution.read_text() + "\n# a comment\n")
    checks = verify.verify_course(kit.root)
    assert kit.mutated[-1] == ["ex3_train"], kit.mutated[-1]
    assert "ex3_train" in [c.name for c in checks][4]
    monkeypatch.setitem(THRESHOLDS, "PASS_ACCURACY", 96.0)  # every test reads it
    verify.verify_course(kit.root)
    assert len(kit.mutated[-1]) == 4, "a threshold changed: every exercise is mutated again"


def test_stubs_out_of_date_are_regenerated_and_said(kit):
    stub = kit.root / "exercises" / "ex1_lenet.py"
    stub.write_text(
        stub.read_text().replace("NotImplementedError", "NotImplementedError  # old", 1)
    )
    checks = verify.verify_course(kit.root, mutants="none")
    assert "rewrote exercises/ex1_lenet.py" in checks[0].detail, checks[0].detail
    assert "# old" not in stub.read_text()


def test_the_command_prints_the_table_and_exits_1_on_a_failure(kit, monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "200")  # one table row a line, as a wide terminal shows it
    monkeypatch.setattr(verify, "_stubs", lambda root: (False, "12/100"))
    monkeypatch.setattr("lenet_course.kit.kit_root", lambda: kit.root)
    code = cli.main(["verify-course", "--fast", "--mutants", "none"])
    out = " ".join(capsys.readouterr().out.split())
    assert code == 1, out
    assert "the stubs earn nothing" in out and "FAIL" in out and "12/100" in out, out
