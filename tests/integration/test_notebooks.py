"""The notebooks run headless, cell by cell, against the solutions and against the stubs."""

from __future__ import annotations

import re

import pytest

from lenet_course.authoring import render_notebooks
from lenet_course.kit import kit_root

pytestmark = pytest.mark.validation
NOTEBOOKS = render_notebooks(kit_root() / "notebooks")
EXERCISE_NOTEBOOKS = sorted(n for n in NOTEBOOKS if n.startswith("ex"))
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def run(name: str, target: str, monkeypatch) -> list[str]:
    """Execute one notebook (a cell error fails the test); each cell's output as text."""
    import nbclient

    monkeypatch.setenv("LENET_TARGET", target)
    monkeypatch.setenv("LENET_EPOCHS", "1")
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the notebooks draw inline
    nb = NOTEBOOKS[name].copy()
    nbclient.NotebookClient(
        nb, timeout=600, kernel_name="python3",
        resources={"metadata": {"path": str(kit_root() / "notebooks")}},
    ).execute()  # fmt: skip
    outputs = []
    for cell in nb.cells:
        text = ""
        for out in cell.get("outputs", []):
            text += out.get("text", "") + str(out.get("data", {}).get("text/plain", ""))
            text += "[image/png]" * ("image/png" in out.get("data", {}))
        outputs.append(ANSI.sub("", text))
    return outputs


@pytest.mark.parametrize("name", EXERCISE_NOTEBOOKS)
def test_exercise_notebooks_run_on_the_solutions_and_every_check_they_run_passes(
    name, mnist_root, monkeypatch
):
    outputs = run(name, "solutions", monkeypatch)
    last = outputs[-1]
    earned, possible = map(int, re.search(r"Total: (\d+)/(\d+)", last).groups())
    assert "FAIL" not in last, last
    assert earned > 0 and earned <= possible
    assert not any("Not written yet" in o for o in outputs)
    assert any("[image/png]" in o for o in outputs), "the notebook drew nothing"


@pytest.mark.parametrize("name", EXERCISE_NOTEBOOKS)
def test_exercise_notebooks_on_the_stubs_end_with_zero_points_not_a_crash(
    name, mnist_root, monkeypatch
):
    outputs = run(name, "exercises", monkeypatch)
    assert re.search(r"Total: 0/\d+", outputs[-1]), outputs[-1]
    assert any("Not written yet" in o for o in outputs)


def test_the_lecture_notebook_replays_the_lecture_with_its_plots(mnist_root, monkeypatch):
    outputs = run("lecture.ipynb", "solutions", monkeypatch)
    text = "\n".join(outputs)
    assert "Iteration: 1/1 ; Training Loss:" in text
    accuracy = float(re.search(r"final test accuracy: ([\d.]+)%", text).group(1))
    assert accuracy > 90.0, f"one epoch reached only {accuracy}%"
    assert text.count("[image/png]") >= 4, "the loss, accuracy and two kernel figures"
