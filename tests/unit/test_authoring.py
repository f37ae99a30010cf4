"""Generating exercise stubs from the solutions."""

from __future__ import annotations

import pytest

from lenet_course import authoring
from lenet_course.authoring import MarkerError, make_exercises, out_of_sync, strip_solutions
from lenet_course.errors import UserError
from lenet_course.kit import kit_root

SOLUTION = '''"""Module docstring kept."""

import torch


def f(x: torch.Tensor) -> torch.Tensor:
    """Double x: (N,) -> (N,)."""
    # BEGIN SOLUTION: Exercise 9: return 2 * x; see the doubling step
    y = x * 2
    return y
    # END SOLUTION


def g():
    return 1
'''


def test_stub_keeps_imports_signatures_and_docstrings():
    stub = strip_solutions(SOLUTION)
    for kept in ('"""Module docstring kept."""', "import torch", "def f(x: torch.Tensor) -> torch.Tensor:",
                 '"""Double x: (N,) -> (N,)."""', "def g():\n    return 1"):  # fmt: skip
        assert kept in stub
    assert "y = x * 2" not in stub and "BEGIN SOLUTION" not in stub


def test_stub_raises_not_implemented_with_the_marker_message():
    namespace: dict = {}
    exec(compile(strip_solutions(SOLUTION), "stub", "exec"), namespace)
    with pytest.raises(
        NotImplementedError, match="Exercise 9: return 2 \\* x; see the doubling step"
    ):
        namespace["f"](1)


@pytest.mark.parametrize(
    "text, where, what",
    [
        ("# BEGIN SOLUTION: a\n# BEGIN SOLUTION: b\n# END SOLUTION\n", ":2:", "nested"),
        ("x = 1\n# END SOLUTION\n", ":2:", "without a matching"),
        ("# BEGIN SOLUTION: a\nx = 1\n", ":1:", "never closed"),
        ("# BEGIN SOLUTION\n# END SOLUTION\n", ":1:", "needs a message"),
    ],
)
def test_bad_markers_are_rejected_naming_file_and_line(text, where, what):
    with pytest.raises(MarkerError, match=f"sol.py{where}.*{what}"):
        strip_solutions(text, "sol.py")


def test_make_exercises_writes_one_stub_per_solution(tmp_path):
    (tmp_path / "sol").mkdir()
    (tmp_path / "sol" / "ex9_double.py").write_text(SOLUTION)
    written = make_exercises(tmp_path / "sol", tmp_path / "ex")
    assert [p.name for p in written] == ["ex9_double.py"]
    assert "raise NotImplementedError" in written[0].read_text()
    assert out_of_sync(tmp_path / "sol", tmp_path / "ex") == []


def test_committed_exercises_are_in_sync_with_the_solutions():
    stale = out_of_sync(kit_root() / "solutions", kit_root() / "exercises")
    assert not stale, f"exercises/ is stale for {stale}: run `lenet-course make-exercises`."


def test_the_table_of_exercises_sums_each_exercises_points_and_says_hidden_and_slow_ones():
    from lenet_course.kit import Exercise

    course = (Exercise("ex1_a", "do a", "`a`"), Exercise("ex2_b", "do b", "`b(x)`"))
    items = [
        {"exercise": "ex1_a", "points": 3, "hidden": False, "slow": False},
        {"exercise": "ex1_a", "points": 2, "hidden": False, "slow": False},
        {"exercise": "ex2_b", "points": 4, "hidden": True, "slow": False},
        {"exercise": "ex2_b", "points": 5, "hidden": False, "slow": True},
    ]
    table = authoring.course_table(items, course)
    assert "holds two files" in table
    assert "| `ex1_a.py` | `a` | 5 |" in table
    assert "| `ex2_b.py` | `b(x)` | 9 (4 hidden; 5 need 10 epochs on MNIST) |" in table
    assert table.endswith(
        "`check` runs the tests worth 5 of the 14 points; 5 more need 10 epochs on real MNIST "
        "and a test accuracy above 95% (`check --full` runs those tests); 4 are hidden until "
        "grading."
    ), table.splitlines()[-1]


def test_the_table_follows_the_courses_thresholds():
    from lenet_course.kit import Exercise

    course = (Exercise("ex1_a", "do a", "`a`"),)
    items = [{"exercise": "ex1_a", "points": 5, "hidden": False, "slow": True}]
    table = authoring.course_table(items, course, {"EPOCHS": 4, "PASS_ACCURACY": 96.5})
    assert "5 need 4 epochs on MNIST" in table and "above 96.5%" in table, table


def test_a_stale_pass_accuracy_or_point_total_is_named_with_its_file_and_line(tmp_path):
    """What an instructor who raised the bar to 96% and moved points would miss: a graded
    test's docstring still saying 95%, a README still saying 35 points or 83/100; the
    README's generated block and other numbers pass."""
    test = tmp_path / "test_ex9.py"
    test.write_text('def test_x():\n    """Training reaches 95 % accuracy"""\n')
    readme = tmp_path / "README.md"
    readme.write_text(
        f"{authoring.TABLE_BEGIN}\n| `ex3.py` | train | 35 |\n95% and 35 points\n"
        f"{authoring.TABLE_END}\nExercise 3 (35 points), a score of 83/100.\n"
        "Epoch 95, 3 points, 97.4% and 0.95 stay; so does 195%.\n"
    )
    found = authoring.stale_numbers([test, readme], accuracy=95.0, totals={35, 83, 100})
    assert found == [
        f'{test}:2: 95 %: """Training reaches 95 % accuracy"""',
        f"{readme}:5: 35 points, 83/100: Exercise 3 (35 points), a score of 83/100.",
    ], found


def test_a_readme_without_the_tables_lines_is_refused_with_the_lines_to_add():
    text = f"# Kit\n\n{authoring.TABLE_BEGIN}\nold\n{authoring.TABLE_END}\nafter\n"
    assert authoring.readme_with_table(text, "new") == (
        f"# Kit\n\n{authoring.TABLE_BEGIN}\nnew\n{authoring.TABLE_END}\nafter\n"
    )
    with pytest.raises(UserError, match="END EXERCISES"):
        authoring.readme_with_table("# Kit\n", "new")
