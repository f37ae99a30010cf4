"""What the CLI shows on the terminal: progress bars, the lecture's epoch lines and the
report tables. The library returns data; only the CLI (through this module) prints."""

from __future__ import annotations

from pathlib import Path

from lenet_course import kit


def console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def lecture_line(record, epochs: int) -> str:
    minutes, secs = divmod(round(record.seconds), 60)
    return (
        f"Iteration: {record.epoch}/{epochs} ; Training Loss: {record.train_loss:.4f} ; "
        f"Testing Acc: {record.test_accuracy:.2f} ; Time consumed: {minutes}m {secs}s"
    )


class ConsoleReport:
    """Engine callback: a progress bar inside each epoch and the lecture's line after it."""

    def __init__(self, console) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        self.console = console
        # No refresh thread: an extra runnable thread next to PyTorch's OpenMP workers slows
        # CPU training; the bar is redrawn from the training loop every few batches instead.
        self.progress = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
            auto_refresh=False,
        )
        self.task = None

    def on_epoch_start(self, epoch: int, epochs: int, steps: int) -> None:
        if not self.console.is_terminal:
            return  # a log file gets the per-epoch lines only
        self.progress.start()
        self.task = self.progress.add_task(f"epoch {epoch}/{epochs}", total=steps)

    def on_batch_end(self, epoch: int, step: int) -> None:
        if self.task is not None and step % 20 == 0:
            self.progress.update(self.task, completed=step)
            self.progress.refresh()

    def on_epoch_end(self, record, epochs: int) -> None:
        if self.task is not None:
            self.progress.remove_task(self.task)
            self.progress.stop()
            self.task = None
        self.console.print(lecture_line(record, epochs))


def print_report(console, report, *, hints: bool = True) -> None:
    """One table per exercise: test, points earned / possible, and the hint for failures."""
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    for exercise, tests in report.by_exercise().items():
        said = _grouped_hints(tests)
        earned, possible = sum(t.score for t in tests), sum(t.max_score for t in tests)
        ran = sum(t.max_score for t in tests if t.status != "skipped")
        declared = kit.exercise(exercise)
        name = f"{declared.title} ({exercise}.py)" if declared else exercise
        score = (
            f"{earned}/{possible}" if ran == possible else f"{earned}/{ran} run here, of {possible}"
        )
        table = Table(title=f"{name}: {score}", title_justify="left", expand=True)
        table.add_column("test", ratio=3)
        table.add_column("points", justify="right", no_wrap=True)
        table.add_column("what to fix" if hints else "result", ratio=5)
        for t in tests:
            mark = {
                "passed": "[green]PASS[/]",
                "skipped": "[yellow]SKIP[/]",
                "error": "[magenta]GRADER ERROR[/]",
            }.get(t.status, "[red]FAIL[/]")
            # a hint is shown literally: `conv1[i, 0]` is code, not markup
            hint = Text(said.get(t.nodeid, ""))
            table.add_row(f"{mark} {escape(t.title)}", f"{t.score}/{t.max_score}", hint)
        console.print(table)
    for note in report.notes:
        console.print(f"[yellow]note:[/] {escape(note)}")
    incomplete = " (incomplete: grader errors)" if report.grader_errors else ""
    console.print(f"[bold]Total: {report.score}/{report.max_score}{incomplete}[/]")
    said = what_ran(report.tests)
    if said:
        console.print(escape(said))


def what_ran(tests) -> str:
    """What passed, in a sentence, when some tests did not run here: the points run and
    passed, those that need ``--full``, and those hidden until grading ("" when all ran)."""
    ran = [t for t in tests if t.status != "skipped"]
    full = sum(t.max_score for t in tests if t.status == "skipped" and not t.hidden)
    hidden = sum(t.max_score for t in tests if t.status == "skipped" and t.hidden)
    if not full and not hidden:
        return ""
    runnable, earned = sum(t.max_score for t in ran), sum(t.score for t in ran)
    said = (
        f"All {runnable} points that check can run here passed."
        if earned == runnable
        else f"{earned} of the {runnable} points that check can run here passed."
    )
    more = []
    if full:
        epochs = kit.THRESHOLDS["EPOCHS"]
        more.append(f"{full} more need `--full` (the {epochs}-epoch training on MNIST)")
    if hidden:
        more.append(f"{hidden} are hidden until grading")
    return f"{said} {' and '.join(more)}."


def _grouped_hints(tests) -> dict[str, str]:
    """Each test's hint, one message per cause: a failure whose message an earlier test of
    the exercise already gave says so, and the first one names the other tests it costs."""
    first: dict[str, object] = {}
    also: dict[str, list[str]] = {}
    hints: dict[str, str] = {}
    for t in tests:
        if t.status == "passed":
            continue
        if t.status == "failed" and t.message in first:
            hints[t.nodeid] = f'the same cause as "{first[t.message].title}" above'
            also[t.message].append(t.title)
            continue
        if t.status == "failed":
            first[t.message], also[t.message] = t, []
        hints[t.nodeid] = t.message
    for message, t in first.items():
        if also[message]:
            hints[t.nodeid] += f"\n(it also costs: {'; '.join(also[message])})"
    return hints


TESTS_FAILED = 1  # check: a test the student can run failed (pytest's code for it)
GRADER_FAILED = 3  # the exit code when the grader, not the submission, failed


def check_exit(console, report) -> int:
    """check's exit code: :data:`GRADER_FAILED` on grader errors, else :data:`TESTS_FAILED`
    when a test that ran lost points, else 0 (tests not run here, skipped or hidden, count
    for nothing)."""
    code = grader_errors_exit(console, report)
    if code:
        return code
    return TESTS_FAILED if any(t.status == "failed" for t in report.tests) else 0


def grader_errors_exit(console, report) -> int:
    """0, or :data:`GRADER_FAILED` with each grader error's traceback for the instructor."""
    from rich.markup import escape

    if not report.grader_errors:
        return 0
    by_cause: dict[str, list[str]] = {}  # identical errors: one line, the tests it hit
    for t in report.grader_errors:
        by_cause.setdefault(t.trace or t.message, []).append(t.nodeid)
    for cause, nodeids in by_cause.items():
        where = nodeids[0] if len(nodeids) == 1 else f"{len(nodeids)} tests ({', '.join(nodeids)})"
        console.print(f"[magenta bold]grader error[/] in {escape(where)}:\n{escape(cause)}")
    console.print(
        f"[red bold]{len(report.grader_errors)} tests hit an error of the grader; the total is "
        "incomplete.[/] Fix the grading environment (the tracebacks above) and grade again."
    )
    return GRADER_FAILED


def grade_with_progress(
    console, submission: Path, limits, *, full: bool, data, hidden=True, seed=None
):
    """Grade with a progress bar over the four exercises (``hidden=False``: the hidden
    tests are listed, not run; ``seed``: the grading seed, else a fresh one)."""
    from rich.progress import Progress, SpinnerColumn, TimeElapsedColumn

    from lenet_course.grading.judge.runner import grade
    from lenet_course.kit import EXERCISES

    columns = (
        SpinnerColumn(),
        "{task.description}",
        "{task.completed}/{task.total}",
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("grading exercises", total=len(EXERCISES))
        return grade(
            submission,
            limits,
            full=full,
            data_root=data,
            hidden=hidden,
            seed=seed,
            on_exercise=lambda ex, results: progress.advance(task),
        )


def print_mutants(console, outcomes, summary: dict) -> None:
    """The mutation-testing table, then the two kill rates, the mutants only hidden tests
    catch (with why), and the false alarms."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title="Mutation testing (fast tier)", title_justify="left", expand=True)
    for col in ("case", "kind", "result", "tests that lost points"):
        table.add_column(col)
    for o in outcomes:
        under = f"\n[dim]seeds {', '.join(map(str, o.seeds))}[/]" if o.seeds else ""
        if o.case.kind == "mutant":
            seen = "in check" if o.in_check else "by hidden tests only"
            result = f"[green]killed[/]\n[dim]{seen}[/]" if o.ok else f"[red]SURVIVED[/]{under}"
        else:
            result = "[green]full marks[/]" if o.ok else f"[red]FALSE ALARM[/]{under}"
        lost = ", ".join(n.split("::")[-1] for n in o.lost) or "-"
        table.add_row(f"{o.case.name}\n[dim]{o.case.bug}[/]", o.case.kind, result, lost)
    console.print(table)
    seeds = len(summary["seeds"])
    console.print(
        f"Kill rate by the whole grade: {summary['killed']}/{summary['mutants']} "
        f"({100 * summary['kill_rate']:.0f}%) killed under all {seeds} seeds; false alarms: "
        f"{len(summary['false_alarms'])}/{summary['variants']}"
    )
    console.print(
        f"Kill rate in the student's view (the visible tests `check` runs): "
        f"{summary['killed_in_check']}/{summary['mutants']} "
        f"({100 * summary['check_kill_rate']:.0f}%)"
    )
    for name, reason in summary["hidden_only"].items():
        console.print(Text(f"  {name}: caught by hidden tests only: {reason}"))
    if summary["unexplained"]:
        console.print(
            Text(
                f"{len(summary['unexplained'])} mutant(s) only hidden tests catch, with no reason: "
                f"{', '.join(summary['unexplained'])}. A student's check cannot show these bugs: "
                'make a visible test catch each, or give it a "hidden_only" reason in its set.',
                style="red",
            )
        )
    for name, under in {**summary["survived_under"], **summary["false_alarm_under"]}.items():
        console.print(f"  {name}: went wrong under seeds {', '.join(map(str, under))}")


def print_bench(console, result, batch_size: int) -> None:
    """Both paths' epoch times, their ratio, and the fast path against the machine's peak."""
    console.print(f"One training epoch on {result.device} (batch {batch_size}, warm-up excluded):")
    console.print(f"  torchvision DataLoader (lecture): {result.torchvision_seconds:6.2f} s")
    console.print(f"  tensor loader (fast path):        {result.tensor_seconds:6.2f} s")
    console.print(f"  ratio fast / lecture:             {result.ratio:6.2f}")
    if result.plain_seconds is not None:
        console.print(
            f"  a plain PyTorch loop (yardstick, best of {len(result.plain_all)}): "
            f"{result.plain_seconds:6.2f} s; kit / plain: {result.over_plain:.2f}"
        )
    console.print(
        f"  fast path: {result.flops_per_epoch / 1e9:.1f} GFLOP per epoch (forward and "
        f"backward) at {result.gflops:.1f} GFLOP/s, {100 * result.fraction_of_peak:.0f}% of "
        f"this machine's matmul peak ({result.peak_gflops:.0f} GFLOP/s)"
    )


def print_validation(console, result) -> None:
    """Each timed path (or why it was skipped) and each check: pass, fail or not judged."""
    colour = {True: "[green]pass[/]", False: "[red]FAIL[/]", None: "[yellow]not judged here[/]"}
    for t in result.timings:
        if t.skipped:
            console.print(f"  {t.path}: skipped ({t.skipped})")
            continue
        acc = f", {t.accuracy:.2f}%" if t.accuracy is not None else ""
        console.print(f"  {t.path}: {t.seconds_per_epoch:.3f} s per epoch{acc}")
    for c in result.checks:
        console.print(f"  {colour[c.passed]} {c.name}: {c.detail}")


def print_checks(console, title: str, checks) -> None:
    """A table of checks (``verify-course``): each one's result and what it found."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, title_justify="left", expand=True)
    for col in ("check", "result", "detail"):
        table.add_column(col, ratio={"check": 3, "result": 1, "detail": 6}[col])
    colour = {True: "[green]pass[/]", False: "[red]FAIL[/]", None: "[yellow]not judged here[/]"}
    for c in checks:
        table.add_row(Text(c.name), colour[c.passed], Text(c.detail))
    console.print(table)


def print_screen(console, screen, html: Path) -> None:
    """The similarity screen's figures and where its report is."""
    console.print(
        f"Similarity screen: {len(screen.students)} students, {screen.pairs} pairs of files "
        f"compared in {screen.seconds:.1f} s; {len(screen.flagged)} pairs above the threshold "
        f"{screen.config.threshold:g}."
    )
    for m in screen.flagged:
        console.print(
            f"  [red]{m.student_a}[/] and [red]{m.student_b}[/], {m.exercise}: "
            f"{m.similarity_a:.0%} / {m.similarity_b:.0%}"
        )
    if screen.reference is None:
        console.print(screen.reference_note)
    for m in screen.reference_matches:
        console.print(f"  [red]{m.student_a}[/], {m.exercise}: matches the reference")
    console.print(f"Wrote {html} and similarity.csv (a flag is a reason to look, not a verdict)")
