"""The instructor's commands: validate the kit, time it, write the student release, generate
the exercises, and test the graded tests with mutants."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from lenet_course import views
from lenet_course.cli import flags
from lenet_course.config import TrainConfig
from lenet_course.errors import UserError


def cmd_validate(args: argparse.Namespace) -> int:
    from lenet_course.validate import validate

    console = views.console()
    config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed)
    result = validate(
        Path(args.out),
        allow_cpu=args.allow_cpu,
        data_root=args.data,
        config=config,
        download=not args.no_download,
        bench_suite=not args.no_bench_suite,
        on_step=lambda msg: console.print(f"[bold]validate:[/] {msg}"),
    )
    views.print_validation(console, result)
    console.print(f"Wrote {Path(args.out) / 'validation.md'} and validation.json")
    if not result.passed:
        console.print("[red bold]Validation FAILED[/]")
        return 1
    console.print("[green bold]Validation passed[/]")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from lenet_course import data
    from lenet_course.bench import compare_loaders

    config = flags.config_from(args)
    root = data.prepare(args.data, download=not args.no_download)
    if args.levers:
        return _bench_levers(args, root, config)
    if args.repeats < 1:
        raise UserError(f"--repeats must be at least 1, got {args.repeats}")
    result = compare_loaders(root, config, warmup_batches=args.warmup, repeats=args.repeats)
    if args.json:
        print(json.dumps(result.to_dict(), indent=1))
        return 0
    views.print_bench(views.console(), result, config.batch_size)
    return 0


def _bench_levers(args: argparse.Namespace, root: Path, config) -> int:
    from lenet_course.bench import lever_matrix

    if args.budget <= 0:
        raise UserError(f"--budget must be a positive number of seconds, got {args.budget}")
    console = views.console(stderr=True) if args.json else views.console()
    matrix = lever_matrix(
        root,
        config,
        timed_epochs=1 if args.quick else 3,
        accuracy_epochs=1 if args.quick else 10,
        budget_seconds=args.budget,
        on_step=lambda msg: console.print(f"[dim]{msg}[/]"),
    )
    if args.json:  # the JSON on stdout, the table on stderr beside the progress
        print(json.dumps(matrix.to_dict(), indent=1))
    console.print(matrix.to_markdown())
    return 0 if matrix.passed else 1


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


def cmd_make_exercises(args: argparse.Namespace) -> int:
    from lenet_course.authoring import make_exercises
    from lenet_course.kit import kit_root

    root = kit_root()
    solutions = Path(args.solutions) if args.solutions else root / "solutions"
    exercises = Path(args.exercises) if args.exercises else root / "exercises"
    for path in make_exercises(solutions, exercises):
        print(f"wrote {path}")
    if not args.solutions and not args.exercises:  # the kit's own: its README's table too
        from lenet_course.authoring import write_readme_table
        from lenet_course.grading.judge.catalog import catalog

        readme = root / "README.md"
        changed = write_readme_table(readme, catalog())
        print(f"{'wrote' if changed else 'kept'} the table of exercises in {readme}")
    return 0


def cmd_mutants(args: argparse.Namespace) -> int:
    import json

    from rich.progress import Progress

    from lenet_course import mutation
    from lenet_course.kit import kit_root

    console = views.console()
    sets = [Path(s) for s in args.sets] or [
        kit_root() / "tests" / "mutants" / "kit.json",
        kit_root() / "tests" / "grading" / "variants",
    ]
    seeds = _seed_list(args.seeds)
    console.print(f"Grading seeds: {', '.join(map(str, seeds))}")
    with mutation.load(sets) as cases, Progress(console=console, transient=True) as progress:
        task = progress.add_task("grading mutants and variants", total=len(cases))
        outcomes = mutation.run(
            cases, seeds=seeds, jobs=args.jobs, on_done=lambda o: progress.advance(task)
        )
    s = mutation.summary(outcomes, seeds)
    views.print_mutants(console, outcomes, s)
    if args.json_out:
        from lenet_course.files import atomic_write

        atomic_write(Path(args.json_out), json.dumps(s, indent=1))
    return 0 if not (s["survivors"] or s["false_alarms"] or s["unexplained"]) else 1


def cmd_verify_course(args: argparse.Namespace) -> int:
    from lenet_course import data
    from lenet_course.kit import kit_root
    from lenet_course.verify import verify_course

    console = views.console()
    root = data.prepare(args.data, download=not args.no_download) if not args.fast else None
    with console.status("verify-course") as status:
        checks = verify_course(
            kit_root(),
            full=not args.fast,
            mutants=args.mutants,
            seeds=args.seeds,
            jobs=args.jobs,
            data_root=root,
            on_step=lambda msg: status.update(f"{msg} ..."),
        )
    views.print_checks(console, f"verify-course: {kit_root()}", checks)
    failed = [c.name for c in checks if c.passed is False]
    if failed:
        console.print(f"[red bold]The course does not hold:[/] {len(failed)} check(s) failed.")
        return 1
    console.print("[green bold]The course holds.[/] Next runs grade only what changed.")
    return 0


def _seed_list(text: str) -> tuple[int, ...]:
    """``--seeds``: a count of fresh seeds (``5``) or the seeds themselves (``3,141,59``)."""
    from lenet_course.mutation import draw_seeds

    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values or any(v < 0 for v in values):
        raise UserError(f"--seeds {text!r}: give a count (5) or seeds separated by commas (1,2,3).")
    return draw_seeds(values[0]) if len(values) == 1 and "," not in text else tuple(values)


def register(command) -> None:
    """Add this group's commands; ``command(name, **kw)`` makes each subparser."""
    _register_validate_and_bench(command)
    _register_authoring(command)
    _register_verify(command)


def _register_validate_and_bench(command) -> None:
    p = command("validate", help="instructors: validate the kit on a GPU and write a report")
    p.add_argument("--out", default="validation", help="folder for validation.json/.md")
    p.add_argument("--allow-cpu", action="store_true", help="run without a GPU (CPU report)")
    p.add_argument(
        "--no-bench-suite",
        action="store_true",
        help="leave out the pytest-benchmark suite (gpu_validate.sh times the paths in bench --levers)",
    )
    flags.add_recipe_flags(p)
    flags.add_data_flags(p)
    p.set_defaults(func=cmd_validate)

    p = command("bench", help="time one epoch: torchvision DataLoader vs the tensor loader")
    flags.add_training_flags(p, epochs=False)
    p.add_argument("--warmup", type=int, default=20, help="batches run before the clock starts")
    p.add_argument(
        "--repeats", type=int, default=3, help="epochs timed per path; the median counts"
    )
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.add_argument(
        "--levers",
        action="store_true",
        help="time the lever matrix (CUDA graph steps, torch.compile, cudnn.benchmark, "
        "channels-last): a warm-up and 3 timed epochs per cell, 10-epoch accuracy of the fastest",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="with --levers: one timed epoch per cell and one epoch for the accuracy (CI)",
    )
    p.add_argument(
        "--budget",
        type=float,
        default=180.0,
        help="with --levers: seconds after which the remaining cells are skipped (default 180)",
    )
    p.set_defaults(func=cmd_bench)


def cmd_new_exercise(args: argparse.Namespace) -> int:
    from lenet_course.grading.judge.catalog import points
    from lenet_course.kit import kit_root
    from lenet_course.scaffold import new_exercise

    root = kit_root()
    written = new_exercise(
        root, args.name, args.task, args.writes, function=args.function, points=args.points
    )
    console = views.console()
    for path in written:
        console.print(f"wrote {path.relative_to(root)}")
    console.print(
        f"The course is now worth {points()['total']} points, {args.points} of them this "
        "exercise's (move points with the tests' @pytest.mark.points markers)."
    )
    console.print(
        "Next: replace each TODO (docs/instructors.md, 'A new exercise'); then "
        "`lenet-course verify-course --fast`."
    )
    return 0


def _register_authoring(command) -> None:
    p = command("new-exercise", help="instructors: write the next exercise's working skeleton")
    p.add_argument("name", help="the exercise's name: its module is exN_NAME, e.g. confusion")
    p.add_argument(
        "--function",
        default=None,
        help="the function the student writes, e.g. confusion_matrix (default: NAME)",
    )
    p.add_argument(
        "--points", type=int, default=5, help="what the skeleton's graded test is worth (5)"
    )
    p.add_argument("--task", default="", help="what the student does, in a few words")
    p.add_argument(
        "--writes",
        default="",
        help="Markdown for the README's table: the names the student writes, e.g. "
        "'`confusion_matrix(net, loader)`' (default: `FUNCTION(x)`)",
    )
    p.set_defaults(func=cmd_new_exercise)

    p = command("release", help="instructors: write a student repository (no solutions)")
    p.add_argument("edition", choices=["student"], help="which release (student)")
    p.add_argument("out", help="folder to write; must be new or empty (or use --force)")
    p.add_argument(
        "--repo-url",
        default=None,
        help="where students will clone the release from (the notebooks' Colab cell)",
    )
    p.add_argument("--force", action="store_true", help="replace what OUT holds")
    p.set_defaults(func=cmd_release)

    p = command(
        "make-exercises",
        help="generate exercises/ from solutions/, and the README's table of exercises",
    )
    p.add_argument("--solutions", default=None, help="folder of solutions (default: the kit's)")
    p.add_argument("--exercises", default=None, help="folder to write (default: the kit's)")
    p.set_defaults(func=cmd_make_exercises)

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
        "--seeds",
        default="5",
        help="grading seeds: a count of fresh ones (default 5) or a list such as 1,2,3; a "
        "mutant counts as killed only if it loses points under every one",
    )
    p.add_argument("--json", dest="json_out", default=None, help="also write the summary here")
    p.set_defaults(func=cmd_mutants)


def _register_verify(command) -> None:
    p = command(
        "verify-course",
        help="instructors: after any change, check that the course still holds (a table; exit 1 "
        "on a failure)",
    )
    p.add_argument(
        "--fast", action="store_true", help="grade the solutions without the 10-epoch training"
    )
    p.add_argument(
        "--mutants",
        choices=["changed", "all", "none"],
        default="changed",
        help="the mutants of the exercises changed since the last verified run (default), of "
        "all, or none",
    )
    p.add_argument("--seeds", type=int, default=3, help="fresh grading seeds per mutant (3)")
    p.add_argument("--jobs", type=int, default=2, help="mutants graded at once (default 2)")
    flags.add_data_flags(p)
    p.set_defaults(func=cmd_verify_course)
