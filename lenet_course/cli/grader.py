"""The grader's commands: one submission, a class, its similarity screen, and the Gradescope
bundle."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from lenet_course import views
from lenet_course.cli import flags
from lenet_course.edition import EDITION
from lenet_course.errors import UserError
from lenet_course.kit import EXERCISES


def cmd_grade(args: argparse.Namespace) -> int:
    from lenet_course.grading.judge.reports import write_gradescope, write_junit

    rules, meta = _course_rules(args)
    if rules is not None and meta is None:  # over the submission limit: nothing to grade
        return 0
    console = views.console()
    report = views.grade_with_progress(
        console,
        Path(args.submission),
        flags.limits_from(args),
        full=not args.fast,
        data=flags.grading_data(args, not args.fast),
        seed=args.seed,
    )
    adjusted = None
    if rules is not None:
        from lenet_course.grading.classroom.gradescope import apply_rules

        adjusted = apply_rules(report, rules, meta)
        if "problem" in adjusted.details:  # for the instructor: Gradescope keeps stderr
            print(f"warning: no late penalty: {adjusted.details['problem']}", file=sys.stderr)
    write_gradescope(report, Path(args.out), adjusted)
    if args.junit:
        write_junit(report, Path(args.junit))
    views.print_report(console, report)
    console.print(f"Wrote {args.out}" + (f" and {args.junit}" if args.junit else ""))
    return views.grader_errors_exit(console, report)


def _course_rules(args: argparse.Namespace):
    """The rules (--rules) and Gradescope's metadata (or why it could not be read), both
    read before any submitted code runs; ``(rules, None)`` when the submission is over the
    rules' limit, and results.json then gives the latest graded submission's results back."""
    if not args.rules:
        return None, None
    from lenet_course.grading.classroom.gradescope import (
        metadata_or_error,
        over_limit,
        write_limited,
    )
    from lenet_course.grading.classroom.rules import read_rules

    rules = read_rules(Path(args.rules))  # its mistakes stop the command before grading
    meta = metadata_or_error(Path(args.submission_metadata))
    limited = None if isinstance(meta, UserError) else over_limit(rules, meta)
    if limited is not None:
        write_limited(limited, Path(args.out))
        print(limited["output"].splitlines()[0])
        return rules, None
    return rules, meta


def _cluster_executor(args: argparse.Namespace, out: Path):
    """None for threads here, else a submitit executor with the flags' resources."""
    if args.executor == "threads":
        if args.no_wait:
            raise UserError("--no-wait needs --executor slurm: threads here always wait.")
        return None
    if args.no_wait and args.executor != "slurm":
        raise UserError("--no-wait needs --executor slurm: local jobs end with this command.")
    from lenet_course.grading.classroom.cluster import ClusterConfig, make_executor

    sbatch = []
    for option in args.sbatch:
        name, sep, value = option.partition("=")
        if not sep or not name:
            raise UserError(f"--sbatch {option!r}: write NAME=VALUE, e.g. --sbatch qos=teaching")
        sbatch.append((name.lstrip("-"), value))
    config = ClusterConfig(
        kind=args.executor,
        max_running=args.max_running,
        gpus=args.gpus,
        cpus=args.cpus,
        mem_gb=args.mem_gb,
        time_min=args.time_min,
        partition=args.partition,
        account=args.account,
        sbatch=tuple(sbatch),
    )
    return make_executor(config, out.resolve() / ".submitit")


def cmd_grade_all(args: argparse.Namespace) -> int:
    from rich.progress import Progress

    from lenet_course.grading.classroom.gradebook import PartialGradebook, grade_all
    from lenet_course.grading.classroom.roster import students

    console = views.console()
    folder, out = Path(args.folder), Path(args.out)
    roster = students(folder)
    class_size = len(roster)
    rules, times = _rules_from(args, {s.name for s in roster})
    total = len(args.student) or class_size
    screen = _screen_from(args)
    executor = _cluster_executor(args, out)
    limits = flags.limits_from(args)
    if executor is not None:  # one exercise at a time inside each job: the measured memory
        limits = dataclasses.replace(limits, jobs=1, threads=args.cpus)
    with Progress(console=console) as progress:
        task = progress.add_task(f"grading ({args.executor})", total=total)

        def done(outcome) -> None:
            progress.advance(task)
            progress.console.print(f"{outcome.student}: {outcome.status}")

        refused = None  # the Canvas export of a partial gradebook, refused
        try:
            outcomes = grade_all(
                folder,
                out,
                limits,
                jobs=args.jobs,
                force=args.force,
                full=not args.fast,
                data_root=flags.grading_data(args, not args.fast),
                executor=executor,
                wait=not args.no_wait,
                only=tuple(args.student),
                on_done=done,
                screen=screen,
                allow_partial=args.allow_partial,
                rules=rules,
                times=times,
            )
        except PartialGradebook as exc:
            refused, outcomes = exc, exc.outcomes
    code = _summary(console, args, out, class_size, outcomes)
    if refused is not None and code != views.GRADER_FAILED:
        raise refused  # exit 2, with why and the two ways on
    return code


def _summary(console, args: argparse.Namespace, out: Path, class_size: int, outcomes) -> int:
    """Where the class files are, what needs another run; the exit code."""
    from lenet_course.grading.classroom.status import WAITING, Kind

    errors = [o for o in outcomes if o.status.kind in (Kind.ERROR, Kind.INCOMPLETE)]
    waiting = [o for o in outcomes if o.status.kind in WAITING]
    console.print(
        f"Gradebook: {out / 'gradebook.csv'}; class report: {out / 'report.html'} "
        f"({class_size} students, {len(errors)} errors)"
    )
    if not args.student:
        console.print(f"Similarity screen: {out / 'similarity.html'} and similarity.csv")
    if waiting:
        console.print(
            f"{len(waiting)} students still have jobs queued or running; run the same "
            "command again later to collect them."
        )
    if any(o.status.kind is Kind.INCOMPLETE for o in outcomes):
        console.print(
            "[red bold]Some grades are incomplete: the grader failed in their tests[/] (see "
            "each student's report.json for the tracebacks); fix it and run again to regrade them."
        )
        return views.GRADER_FAILED
    return 1 if errors else 0  # each student's status is in the gradebook either way


def _rules_from(args: argparse.Namespace, roster: set[str]):
    """The course's rules (--rules) and submission times (--times), checked against the
    class before anything is graded."""
    from lenet_course.grading.classroom.rules import read_rules, read_times

    if args.times and not args.rules:
        raise UserError("--times gives submission times for the late rules. Fix: add --rules FILE.")
    rules = read_rules(Path(args.rules), roster) if args.rules else None
    times = read_times(Path(args.times), roster) if args.times else None
    return rules, times


def _screen_from(args: argparse.Namespace):
    from lenet_course.grading.classroom.similarity import ScreenConfig, require

    require()
    return ScreenConfig(
        threshold=args.similarity_threshold,
        boilerplate=Path(args.boilerplate) if args.boilerplate else None,
        reference=Path(args.reference) if args.reference else None,
    )


def _add_screen_flags(p: argparse.ArgumentParser) -> None:
    if EDITION != "kit":  # no class grading, and no similarity module, in a release or bundle
        return
    from lenet_course.grading.classroom.similarity import ScreenConfig

    g = p.add_argument_group("similarity screen (copydetect; see docs/class-grading.md)")
    g.add_argument(
        "--similarity-threshold",
        type=float,
        default=ScreenConfig().threshold,
        help="flag a pair when either file has this share of its code in the other "
        f"(default {ScreenConfig().threshold})",
    )
    g.add_argument(
        "--boilerplate",
        default=None,
        metavar="DIR",
        help="the stub files the class started from (default: the kit's exercises/)",
    )
    g.add_argument(
        "--reference",
        default=None,
        metavar="DIR",
        help="also compare each submission with these solutions (default: the kit's solutions/)",
    )


def cmd_similarity(args: argparse.Namespace) -> int:
    from lenet_course.grading.classroom.similarity import HTML_NAME, screen_and_write

    screen = screen_and_write(Path(args.folder), Path(args.out), _screen_from(args))
    views.print_screen(views.console(), screen, Path(args.out) / HTML_NAME)
    return 0  # a flag is a reason to look, not a failure


def cmd_export(args: argparse.Namespace) -> int:
    from lenet_course.export import build_bundle

    path = build_bundle(Path(args.out), rules=Path(args.rules) if args.rules else None)
    with_rules = f" with the course's rules in {args.rules}" if args.rules else ""
    print(f"wrote {path}{with_rules}: upload it as the Gradescope autograder")
    return 0


def register(command) -> None:
    """Add this group's commands; ``command(name, **kw)`` makes each subparser."""
    _register_grade(command)
    _register_grade_all(command)
    _register_tools(command)


def _register_grade(command) -> None:
    p = command("grade", help="grade one submission folder into Gradescope's results.json")
    p.add_argument("submission", help=f"folder holding {EXERCISES[0]}.py ... {EXERCISES[-1]}.py")
    p.add_argument("--out", default="results.json", help="results.json to write")
    p.add_argument("--junit", default=None, help="also write JUnit XML here")
    flags.add_data_flags(p)
    p.add_argument("--fast", action="store_true", help="skip the 10-epoch training test (0 points)")
    p.add_argument(
        "--jobs",
        type=int,
        default=2,
        help="exercises graded at once (default 2; 1 keeps the memory peak lowest)",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=None,
        metavar="N",
        help="the grading seed that draws the test cases (default: a fresh one; a report's "
        "'Grading seed' replays that grade)",
    )
    flags.add_limit_flags(p)
    g = p.add_argument_group("the course's rules on Gradescope (docs/instructors.md)")
    g.add_argument(
        "--rules",
        default=None,
        metavar="FILE",
        help="the course's rules (TOML): results.json's score is the final one, less the late "
        "penalty (the bundle passes the rules `export gradescope --rules` put in it)",
    )
    g.add_argument(
        "--submission-metadata",
        default="/autograder/submission_metadata.json",
        metavar="FILE",
        help="Gradescope's submission metadata: the submission time and due dates (default: "
        "%(default)s)",
    )
    p.set_defaults(func=cmd_grade)


def _register_grade_all(command) -> None:
    p = command("grade-all", help="grade one subfolder per student into a gradebook")
    p.add_argument("folder", help="folder with one subfolder per student")
    p.add_argument("--out", default="grades", help="where results and gradebook.csv go")
    p.add_argument("--jobs", type=int, default=2, help="submissions graded at once")
    p.add_argument("--force", action="store_true", help="regrade students already graded")
    p.add_argument("--fast", action="store_true", help="skip the 10-epoch training test (0 points)")
    _add_course_flags(p)
    flags.add_data_flags(p)
    p.add_argument(
        "--student",
        action="append",
        default=[],
        metavar="NAME",
        help="grade only this student's subfolder (repeatable; e.g. one per Kubernetes pod)",
    )
    p.add_argument(
        "--executor",
        choices=("threads", "local", "slurm"),
        default="threads",
        help="where each student's grade runs: threads here (default), submitit's local "
        "executor, or Slurm (needs pip install 'lenet-course[slurm]')",
    )
    p.add_argument(
        "--max-running", type=int, default=8, help="local/slurm: jobs at once (default 8)"
    )
    p.add_argument(
        "--no-wait", action="store_true", help="slurm: submit and return; rerun to collect"
    )
    g = p.add_argument_group("resources per student job (local/slurm; see docs/benchmarks.md)")
    g.add_argument("--gpus", type=int, default=0, help="GPUs per job (default 0)")
    g.add_argument("--cpus", type=int, default=2, help="CPUs per job (default 2)")
    g.add_argument("--mem-gb", type=int, default=3, help="memory per job in GB (default 3)")
    g.add_argument(
        "--time-min", type=int, default=20, help="wall time per job in minutes (default 20)"
    )
    g.add_argument("--partition", default=None, help="Slurm partition")
    g.add_argument("--account", default=None, help="Slurm account")
    g.add_argument(
        "--sbatch",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="another sbatch option, repeatable (e.g. --sbatch qos=teaching)",
    )
    flags.add_limit_flags(p)
    _add_screen_flags(p)
    p.set_defaults(func=cmd_grade_all)


def _add_course_flags(p: argparse.ArgumentParser) -> None:
    """What the class's gradebook holds: partial grades, the course's rules."""
    p.add_argument(
        "--allow-partial",
        action="store_true",
        help="write the Canvas export even when some grades are fast-tier only (refused "
        "otherwise, exit 2)",
    )
    p.add_argument(
        "--rules",
        default=None,
        metavar="FILE",
        help="the course's rules (TOML): due dates, late penalty, extensions, overrides; "
        "applied to every final grade (docs/class-grading.md)",
    )
    p.add_argument(
        "--times",
        default=None,
        metavar="CSV",
        help="submission times, a CSV of student,submitted_at (default: each student's "
        "timestamp.txt)",
    )


def _register_tools(command) -> None:
    p = command(
        "similarity", help="instructors: the class's similarity screen alone, without grading"
    )
    p.add_argument("folder", help="folder with one subfolder per student")
    p.add_argument("--out", default="grades", help="where similarity.csv/.html go")
    _add_screen_flags(p)
    p.set_defaults(func=cmd_similarity)

    p = command("export", help="build a bundle for an autograding platform")
    p.add_argument("platform", choices=["gradescope"])
    p.add_argument("--out", default="autograder.zip", help="zip file to write")
    p.add_argument(
        "--rules",
        default=None,
        metavar="FILE",
        help="ship the course's rules (TOML) and the CSVs it names: the bundle grades with "
        "them, timed by Gradescope's submission metadata (docs/instructors.md)",
    )
    p.set_defaults(func=cmd_export)
