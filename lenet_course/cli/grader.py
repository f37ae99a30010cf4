"""``lenet-course``: the one entry point. Each subcommand is a thin wrapper over a library call."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from pathlib import Path

from lenet_course import views
from lenet_course.config import LOADERS, TrainConfig
from lenet_course.edition import EDITION, STUDENT_COMMANDS
from lenet_course.errors import UserError

log = logging.getLogger("lenet_course")


def cmd_train(args: argparse.Namespace) -> int:
    from lenet_course.pipeline import run_lecture

    console = views.console()
    console.print(
        f"[bold]lenet-course train[/]: data from {args.data or 'default'}, out {args.out}"
    )
    result = run_lecture(
        config=_config_from(args),
        data=args.data,
        out=Path(args.out),
        impl=args.impl,
        download=not args.no_download,
        callbacks=[views.ConsoleReport(console)],
    )
    h = result.history
    for note in h.notes:
        console.print(f"[yellow]note:[/] {note}")
    console.print(
        f"\nDone: {len(h.records)} epochs on {h.device}, final test accuracy "
        f"{h.final_accuracy:.2f}%, training time {h.total_seconds:.1f} s "
        f"({h.total_seconds / max(len(h.records), 1):.2f} s per epoch)."
    )
    console.print("Wrote: " + ", ".join(str(p) for p in result.files))
    return 0


def _config_from(args: argparse.Namespace):
    return TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        device=args.device,
        loader=getattr(args, "loader", "tensor"),
        cuda_graph=getattr(args, "cuda_graph", False),
    )


def cmd_bench(args: argparse.Namespace) -> int:
    from lenet_course import data
    from lenet_course.bench import compare_loaders

    config = _config_from(args)
    root = data.prepare(args.data, download=not args.no_download)
    if args.repeats < 1:
        raise UserError(f"--repeats must be at least 1, got {args.repeats}")
    result = compare_loaders(root, config, warmup_batches=args.warmup, repeats=args.repeats)
    if args.json:
        print(json.dumps(result.to_dict(), indent=1))
        return 0
    views.print_bench(views.console(), result, config.batch_size)
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    from lenet_course import data

    root = data.prepare(args.data, download=not args.no_download)
    print(f"MNIST ready and verified: {data.raw_folder(root)}")
    return 0


def cmd_make_exercises(args: argparse.Namespace) -> int:
    from lenet_course.authoring import make_exercises
    from lenet_course.targets import kit_root

    root = kit_root()
    solutions = Path(args.solutions) if args.solutions else root / "solutions"
    exercises = Path(args.exercises) if args.exercises else root / "exercises"
    for path in make_exercises(solutions, exercises):
        print(f"wrote {path}")
    return 0


def cmd_make_notebooks(args: argparse.Namespace) -> int:
    from lenet_course.authoring import make_notebooks
    from lenet_course.targets import kit_root

    out = Path(args.out) if args.out else kit_root() / "notebooks"
    for path in make_notebooks(kit_root() / "notebooks", out, repo_url=args.repo_url):
        print(f"wrote {path}")
    return 0


def cmd_release(args: argparse.Namespace) -> int:
    from lenet_course.release import write_student_release

    summary = write_student_release(Path(args.out), repo_url=args.repo_url, force=args.force)
    print(
        f"wrote the student release to {args.out}: {summary['files']} files, "
        f"{summary['visible_tests']} visible tests ({summary['visible_points']} points), "
        f"{summary['hidden_tests']} hidden tests ({summary['hidden_points']} points) left out"
    )
    print(f"next: cd {args.out} && git init && git add -A && git commit -m 'LeNet lab', then push")
    return 0


def _limits_from(args: argparse.Namespace):
    from lenet_course.grading.runner import Limits

    return Limits(
        test_seconds=args.test_timeout,
        train_seconds=args.train_timeout,
        submission_seconds=args.total_timeout,
        memory_mb=args.memory_mb,
        jobs=getattr(args, "jobs", 2),
    )


def _grading_data(args: argparse.Namespace, full: bool) -> str | None:
    """MNIST for a full grade, found or downloaded here (--no-download forbids it); the fast
    tier reads no MNIST."""
    if not full:
        return args.data
    from lenet_course import data

    return str(data.prepare(args.data, download=not args.no_download))


def cmd_check(args: argparse.Namespace) -> int:
    console = views.console()
    tier = "full (with the 10-epoch training)" if args.full else "fast (no 10-epoch training)"
    console.print(f"Checking {args.target}: {tier} tier. Use --full for everything.")
    report = views.grade_with_progress(
        console, _target_folder(args.target), _limits_from(args), full=args.full,
        data=_grading_data(args, args.full), hidden=False,
    )  # fmt: skip
    views.print_report(console, report)
    return views.grader_errors_exit(console, report)


def _target_folder(spec: str) -> Path:
    from lenet_course.targets import resolve

    return resolve(spec)


def cmd_grade(args: argparse.Namespace) -> int:
    from lenet_course.grading.reports import write_gradescope, write_junit

    console = views.console()
    report = views.grade_with_progress(
        console, Path(args.submission), _limits_from(args), full=not args.fast,
        data=_grading_data(args, not args.fast),
    )  # fmt: skip
    write_gradescope(report, Path(args.out))
    if args.junit:
        write_junit(report, Path(args.junit))
    views.print_report(console, report)
    console.print(f"Wrote {args.out}" + (f" and {args.junit}" if args.junit else ""))
    return views.grader_errors_exit(console, report)


def _cluster_executor(args: argparse.Namespace, out: Path):
    """None for threads here, else a submitit executor with the flags' resources."""
    if args.executor == "threads":
        if args.no_wait:
            raise UserError("--no-wait needs --executor slurm: threads here always wait.")
        return None
    if args.no_wait and args.executor != "slurm":
        raise UserError("--no-wait needs --executor slurm: local jobs end with this command.")
    from lenet_course.grading.cluster import ClusterConfig, make_executor

    sbatch = []
    for option in args.sbatch:
        name, sep, value = option.partition("=")
        if not sep or not name:
            raise UserError(f"--sbatch {option!r}: write NAME=VALUE, e.g. --sbatch qos=teaching")
        sbatch.append((name.lstrip("-"), value))
    config = ClusterConfig(
        kind=args.executor, max_running=args.max_running, gpus=args.gpus, cpus=args.cpus,
        mem_gb=args.mem_gb, time_min=args.time_min, partition=args.partition,
        account=args.account, sbatch=tuple(sbatch),
    )  # fmt: skip
    return make_executor(config, out.resolve() / ".submitit")


def cmd_grade_all(args: argparse.Namespace) -> int:
    from rich.progress import Progress

    from lenet_course.grading.gradebook import grade_all, students

    console = views.console()
    folder, out = Path(args.folder), Path(args.out)
    total = len(args.student) or len(students(folder))
    screen = _screen_from(args)
    executor = _cluster_executor(args, out)
    limits = _limits_from(args)
    if executor is not None:  # one exercise at a time inside each job: the measured memory
        limits = dataclasses.replace(limits, jobs=1, threads=args.cpus)
    with Progress(console=console) as progress:
        task = progress.add_task(f"grading ({args.executor})", total=total)

        def done(outcome) -> None:
            progress.advance(task)
            progress.console.print(f"{outcome.student}: {outcome.status}")

        outcomes = grade_all(
            folder, out, limits, jobs=args.jobs, force=args.force, full=not args.fast,
            data_root=_grading_data(args, not args.fast), executor=executor, wait=not args.no_wait,
            only=tuple(args.student), on_done=done, screen=screen,
        )  # fmt: skip
    errors = [o for o in outcomes if o.status.startswith(("error", "incomplete"))]
    waiting = [o for o in outcomes if o.status.startswith(("submitted", "pending"))]
    console.print(
        f"Gradebook: {out / 'gradebook.csv'}; class report: {out / 'report.html'} "
        f"({total} students, {len(errors)} errors)"
    )
    if not args.student:
        console.print(f"Similarity screen: {out / 'similarity.html'} and similarity.csv")
    if waiting:
        console.print(
            f"{len(waiting)} students still have jobs queued or running; run the same "
            "command again later to collect them."
        )
    if any(o.status.startswith("incomplete") for o in outcomes):
        console.print(
            "[red bold]Some grades are incomplete: the grader failed in their tests[/] (see "
            "each student's report.json for the tracebacks); fix it and run again to regrade them."
        )
        return views.GRADER_FAILED
    return 1 if errors else 0  # each student's status is in the gradebook either way


def _screen_from(args: argparse.Namespace):
    from lenet_course.grading.similarity import ScreenConfig, require

    require()
    return ScreenConfig(
        threshold=args.similarity_threshold,
        boilerplate=Path(args.boilerplate) if args.boilerplate else None,
        reference=Path(args.reference) if args.reference else None,
    )


def cmd_similarity(args: argparse.Namespace) -> int:
    from lenet_course.grading.similarity import HTML_NAME, screen_and_write

    screen = screen_and_write(Path(args.folder), Path(args.out), _screen_from(args))
    views.print_screen(views.console(), screen, Path(args.out) / HTML_NAME)
    return 0  # a flag is a reason to look, not a failure


def cmd_export(args: argparse.Namespace) -> int:
    from lenet_course.grading.export import build_bundle

    path = build_bundle(Path(args.out))
    print(f"wrote {path}: upload it as the Gradescope autograder")
    return 0


def cmd_mutants(args: argparse.Namespace) -> int:
    import json

    from rich.progress import Progress

    from lenet_course.grading import mutation
    from lenet_course.targets import kit_root

    console = views.console()
    sets = [Path(s) for s in args.sets] or [
        kit_root() / "tests" / "mutants" / "kit.json",
        kit_root() / "tests" / "grading" / "variants",
    ]
    seeds = _seed_list(args.seeds)
    console.print(f"Grading seeds: {', '.join(map(str, seeds))}")
    with mutation.load(sets) as cases, Progress(console=console, transient=True) as progress:
        task = progress.add_task("grading mutants and variants", total=len(cases))
        outcomes = mutation.run(cases, seeds=seeds, jobs=args.jobs,
                                on_done=lambda o: progress.advance(task))  # fmt: skip
    s = mutation.summary(outcomes, seeds)
    views.print_mutants(console, outcomes, s)
    if args.json_out:
        from lenet_course.files import atomic_write

        atomic_write(Path(args.json_out), json.dumps(s, indent=1))
    return 0 if not s["survivors"] and not s["false_alarms"] else 1


def _seed_list(text: str) -> tuple[int, ...]:
    """``--seeds``: a count of fresh seeds (``5``) or the seeds themselves (``3,141,59``)."""
    from lenet_course.grading.mutation import draw_seeds

    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values or any(v < 0 for v in values):
        raise UserError(f"--seeds {text!r}: give a count (5) or seeds separated by commas (1,2,3).")
    return draw_seeds(values[0]) if len(values) == 1 and "," not in text else tuple(values)


def cmd_validate(args: argparse.Namespace) -> int:
    from lenet_course.validate import validate

    console = views.console()
    config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed)
    result = validate(
        Path(args.out), allow_cpu=args.allow_cpu, data_root=args.data, config=config,
        download=not args.no_download, on_step=lambda msg: console.print(f"[bold]validate:[/] {msg}"),
    )  # fmt: skip
    views.print_validation(console, result)
    console.print(f"Wrote {Path(args.out) / 'validation.md'} and validation.json")
    if not result.passed:
        console.print("[red bold]Validation FAILED[/]")
        return 1
    console.print("[green bold]Validation passed[/]")
    return 0


def _add_limit_flags(p: argparse.ArgumentParser) -> None:
    from lenet_course.grading.limits import Limits

    d = Limits()
    p.add_argument(
        "--test-timeout",
        type=float,
        default=d.test_seconds,
        help=f"seconds per test (default {d.test_seconds:.0f})",
    )
    p.add_argument(
        "--train-timeout",
        type=float,
        default=d.train_seconds,
        help=f"seconds for the 10-epoch test (default {d.train_seconds:.0f})",
    )
    p.add_argument(
        "--total-timeout",
        type=float,
        default=d.submission_seconds,
        help=f"seconds per submission (default {d.submission_seconds:.0f})",
    )
    p.add_argument(
        "--memory-mb",
        type=int,
        default=d.memory_mb,
        help=f"memory cap per test process, 0 for none (default {d.memory_mb})",
    )


def _add_screen_flags(p: argparse.ArgumentParser) -> None:
    if EDITION == "student":  # no class grading, and no similarity module, in a release
        return
    from lenet_course.grading.similarity import ScreenConfig

    g = p.add_argument_group("similarity screen (copydetect; see docs/class-grading.md)")
    g.add_argument(
        "--similarity-threshold", type=float, default=ScreenConfig().threshold,
        help="flag a pair when either file has this share of its code in the other "
        f"(default {ScreenConfig().threshold})",
    )  # fmt: skip
    g.add_argument(
        "--boilerplate", default=None, metavar="DIR",
        help="the stub files the class started from (default: the kit's exercises/)",
    )  # fmt: skip
    g.add_argument(
        "--reference", default=None, metavar="DIR",
        help="also compare each submission with these solutions (default: the kit's solutions/)",
    )  # fmt: skip


def _add_data_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data",
        default=None,
        help="folder holding MNIST/raw/*-ubyte (default: $LENET_DATA, else ~/.cache/lenet-course/data)",
    )
    p.add_argument(
        "--no-download", action="store_true", help="never download MNIST; fail if it is absent"
    )


def _add_recipe_flags(p: argparse.ArgumentParser, *, epochs: bool = True) -> None:
    """The lecture's recipe, each default taken from :class:`TrainConfig`; ``epochs=False``
    for commands that time single epochs (no --epochs for them to ignore)."""
    d = TrainConfig()
    if epochs:
        p.add_argument(
            "--epochs",
            type=int,
            default=d.epochs,
            help=f"passes over the training set (default {d.epochs})",
        )
    else:
        p.set_defaults(epochs=1)
    p.add_argument(
        "--batch-size",
        type=int,
        default=d.batch_size,
        help=f"samples per step (default {d.batch_size})",
    )
    p.add_argument("--lr", type=float, default=d.lr, help=f"Adam learning rate (default {d.lr:g})")
    p.add_argument(
        "--seed",
        type=int,
        default=d.seed,
        help=f"seed for weights and shuffling (default {d.seed})",
    )


def _add_training_flags(p: argparse.ArgumentParser, *, epochs: bool = True) -> None:
    """Recipe, device and data flags."""
    _add_recipe_flags(p, epochs=epochs)
    p.add_argument(
        "--device", default=TrainConfig().device, help="auto (cuda if present), cpu, cuda, cuda:N"
    )
    _add_data_flags(p)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lenet-course",
        description="Train LeNet on MNIST as in the lecture, and grade the exercises.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="show library log messages")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    student = EDITION == "student"

    def command(name: str, **kw) -> argparse.ArgumentParser:
        if student and name not in STUDENT_COMMANDS:  # its code is not in a student release
            return argparse.ArgumentParser(add_help=False)
        return sub.add_parser(name, **kw)

    p = command("train", help="replay the lecture: train, report each epoch, plot")
    _add_training_flags(p)
    p.add_argument("--out", default="runs/lecture", help="folder for history.json and the plots")
    p.add_argument(
        "--loader",
        choices=LOADERS,
        default=TrainConfig().loader,
        help="tensor: data held on the device (fast, default); torchvision: the lecture's DataLoader",
    )
    p.add_argument(
        "--cuda-graph", action="store_true", help="capture the train step in a CUDA graph"
    )
    p.add_argument(
        "--impl",
        default=None,
        help="train with an implementation's model, loop and plots: exercises, solutions or a folder",
    )
    p.set_defaults(func=cmd_train)

    p = command("bench", help="time one epoch: torchvision DataLoader vs the tensor loader")
    _add_training_flags(p, epochs=False)
    p.add_argument("--warmup", type=int, default=20, help="batches run before the clock starts")
    p.add_argument(
        "--repeats", type=int, default=3, help="epochs timed per path; the median counts"
    )
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.set_defaults(func=cmd_bench)

    p = command("make-exercises", help="generate exercises/ from solutions/")
    p.add_argument("--solutions", default=None, help="folder of solutions (default: the kit's)")
    p.add_argument("--exercises", default=None, help="folder to write (default: the kit's)")
    p.set_defaults(func=cmd_make_exercises)

    p = command("make-notebooks", help="write the notebooks (.ipynb) from notebooks/*.py")
    p.add_argument("--out", default=None, help="folder to write (default: the kit's notebooks/)")
    p.add_argument("--repo-url", default=None, help="the repository Colab clones (first cell)")
    p.set_defaults(func=cmd_make_notebooks)

    p = command("release", help="instructors: write a student repository (no solutions)")
    p.add_argument("edition", choices=["student"], help="which release (student)")
    p.add_argument("out", help="folder to write; must be new or empty (or use --force)")
    p.add_argument(
        "--repo-url", default=None,
        help="where students will clone the release from (the notebooks' Colab cell)",
    )  # fmt: skip
    p.add_argument("--force", action="store_true", help="replace what OUT holds")
    p.set_defaults(func=cmd_release)

    p = command("check", help="grade your exercises locally, with hints")
    p.add_argument(
        "--target", default="exercises", help="exercises (default), solutions or a folder"
    )
    p.add_argument("--full", action="store_true", help="also run the 10-epoch MNIST training test")
    _add_data_flags(p)
    _add_limit_flags(p)
    p.set_defaults(func=cmd_check)

    p = command("grade", help="grade one submission folder into Gradescope's results.json")
    p.add_argument("submission", help="folder holding ex1_lenet.py ... ex4_kernels.py")
    p.add_argument("--out", default="results.json", help="results.json to write")
    p.add_argument("--junit", default=None, help="also write JUnit XML here")
    _add_data_flags(p)
    p.add_argument("--fast", action="store_true", help="skip the 10-epoch training test (0 points)")
    p.add_argument(
        "--jobs", type=int, default=2,
        help="exercises graded at once (default 2; 1 keeps the memory peak lowest)",
    )  # fmt: skip
    _add_limit_flags(p)
    p.set_defaults(func=cmd_grade)

    p = command("grade-all", help="grade one subfolder per student into a gradebook")
    p.add_argument("folder", help="folder with one subfolder per student")
    p.add_argument("--out", default="grades", help="where results and gradebook.csv go")
    p.add_argument("--jobs", type=int, default=2, help="submissions graded at once")
    p.add_argument("--force", action="store_true", help="regrade students already graded")
    p.add_argument("--fast", action="store_true", help="skip the 10-epoch training test (0 points)")
    _add_data_flags(p)
    p.add_argument(
        "--student", action="append", default=[], metavar="NAME",
        help="grade only this student's subfolder (repeatable; e.g. one per Kubernetes pod)",
    )  # fmt: skip
    p.add_argument(
        "--executor", choices=("threads", "local", "slurm"), default="threads",
        help="where each student's grade runs: threads here (default), submitit's local "
        "executor, or Slurm (needs pip install 'lenet-course[slurm]')",
    )  # fmt: skip
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
        "--sbatch", action="append", default=[], metavar="NAME=VALUE",
        help="another sbatch option, repeatable (e.g. --sbatch qos=teaching)",
    )  # fmt: skip
    _add_limit_flags(p)
    _add_screen_flags(p)
    p.set_defaults(func=cmd_grade_all)

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
    p.set_defaults(func=cmd_export)

    p = command(
        "mutants",
        help="instructors: do the graded tests catch realistic bugs and spare correct code?",
    )
    p.add_argument(
        "sets",
        nargs="*",
        help="JSON patch files or folders of submissions (default: the kit's set)",
    )
    p.add_argument("--jobs", type=int, default=2, help="cases graded at once (default 2)")
    p.add_argument(
        "--seeds", default="5",
        help="grading seeds: a count of fresh ones (default 5) or a list such as 1,2,3; a "
        "mutant counts as killed only if it loses points under every one",
    )  # fmt: skip
    p.add_argument("--json", dest="json_out", default=None, help="also write the summary here")
    p.set_defaults(func=cmd_mutants)

    p = command("validate", help="instructors: validate the kit on a GPU and write a report")
    p.add_argument("--out", default="validation", help="folder for validation.json/.md")
    p.add_argument("--allow-cpu", action="store_true", help="run without a GPU (CPU report)")
    _add_recipe_flags(p)
    _add_data_flags(p)
    p.set_defaults(func=cmd_validate)

    p = command("data", help="download MNIST if absent and verify the four files")
    _add_data_flags(p)
    p.set_defaults(func=cmd_data)

    return parser


def _grader_error():
    from lenet_course.grading.runner import GraderError

    return GraderError


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return args.func(args)
    except UserError as exc:
        print(f"lenet-course: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except _grader_error() as exc:
        print(f"lenet-course: the grader itself failed: {exc}", file=sys.stderr)
        return views.GRADER_FAILED
    except KeyboardInterrupt:
        print("lenet-course: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
