"""The README, CI script, noxfile and Dockerfile agree with each other."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def quick_start() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Quick start", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [line for line in block.splitlines() if line.strip()]


def test_readme_quick_start_is_exactly_two_commands():
    assert len(quick_start()) == 2


def test_ci_runs_the_readme_test_command_after_the_readme_install():
    setup, test_cmd = quick_start()
    ci = (ROOT / ".ci" / "run").read_text()
    assert test_cmd in ci.splitlines()
    install = setup.split(" && ")[:2]
    for step in install:
        assert step in ci, f"CI does not run the README's setup step {step!r}"
