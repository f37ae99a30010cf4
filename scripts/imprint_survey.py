"""Measure the imprint check of Exercise 3 (weights must descend from the judge's init):
do correct submissions keep every point under many grading seeds, and how far from the threshold do they stay?

Grades Exercise 3 in full (the 10-epoch MNIST run included) of the kit's solutions and of
every variant under ``tests/grading/variants/`` (a variant's missing files come from the
solutions), once per grading seed, and reads the per-layer cosines the judge reports in
its note. Then measures the other side: the cosine between one set of trained weights and
many fresh inits (what weights brought along show). One JSON line per grade goes to
``OUT/grades.jsonl`` as it finishes, so an interrupted survey keeps what it measured and
a rerun skips it; ``OUT/summary.json`` and ``OUT/imprint.png`` come at the end.

    python scripts/imprint_survey.py OUT --data ../shared/data --seeds 20 [--part 0/2]

``--part i/n`` grades every n-th (submission, seed) pair from the i-th: run n of them at
once, each on its own cores, then once more without ``--part`` to summarise.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

MNIST_TESTS = (
    "test_training_on_mnist_exceeds_the_pass_accuracy",
    "test_your_own_pipeline_exceeds_the_pass_accuracy",
)
NOTE = re.compile(r"(conv1|conv2|fc1|fc2|fc3) (-?[\d.]+)")


def submissions(root: Path) -> dict[str, Path]:
    variants = root / "tests" / "grading" / "variants"
    return {
        "solutions": root / "solutions",
        **{p.name: p for p in sorted(variants.iterdir()) if p.is_dir()},
    }


def assemble(root: Path, variant: Path, into: Path) -> Path:
    shutil.copytree(root / "solutions", into, ignore=shutil.ignore_patterns("__pycache__"))
    for f in variant.glob("ex*.py"):
        shutil.copyfile(f, into / f.name)
    return into


def grade_one(root: Path, name: str, folder: Path, seed: int, data: Path, threads: int) -> dict:
    from lenet_course.grading.jail.limits import Limits
    from lenet_course.grading.judge import runner

    limits = Limits(jobs=1, threads=threads)
    with tempfile.TemporaryDirectory(prefix="imprint-") as tmp:
        sub = assemble(root, folder, Path(tmp) / "sub")
        start = time.monotonic()
        report = runner.grade(
            sub, limits, full=True, data_root=data, seed=seed, exercises=("ex3_train",)
        )
    tests = {t.nodeid.split("::")[-1]: t for t in report.tests}
    note = tests[MNIST_TESTS[0]].message
    return {
        "submission": name, "seed": seed, "score": report.score, "max": report.max_score,
        "test_seconds": {k: round(t.seconds, 1) for k, t in tests.items()},
        "lost": {k: t.message for k, t in tests.items() if t.score < t.max_score},
        "imprint": {k: float(v) for k, v in NOTE.findall(note)},
        "accuracy": float(m.group(1)) if (m := re.search(r"([\d.]+)% test accuracy", note)) else None,
        "alone": float(m.group(1)) if (m := re.search(r"without it: ([\d.]+)%", note)) else None,
        "growth": float(m.group(1)) if (m := re.search(r"test loss x([\d.]+)", note)) else None,
        "seconds": round(time.monotonic() - start, 1),
    }  # fmt: skip


def cheats(data: Path, inits: int, blends: int) -> dict:
    """The other side, on weights trained elsewhere (10 epochs from seed 0, true labels):
    per layer, the largest |cosine| with ``inits`` fresh inits (what weights brought along
    show), and ``blends`` of them with fresh inits, just over the imprint threshold in every
    layer: their accuracy, and the accuracy of what is not the init (the judge's
    ``without_init``)."""
    import torch
    import torch.nn.functional as F

    from lenet_course import data as mnist
    from lenet_course.grading.judge.spec import (
        IMPRINT_MIN,
        accuracy,
        imprint,
        lenet,
        mean_nll,
        without_init,
    )
    from lenet_course.grading.sandbox.probes import named_weights

    net = lenet(0)
    adam = torch.optim.Adam(net.parameters(), lr=1e-3)
    train, _ = mnist.tensor_loaders(data, batch_size=100)
    for _ in range(10):
        for x, y in train:
            adam.zero_grad()
            F.nll_loss(net(x), y).backward()
            adam.step()
    theirs = {
        k: {p: v.detach().clone() for p, v in d.items()} for k, d in named_weights(net).items()
    }
    images, labels = mnist.load_split(data, train=False)
    x = mnist.to_inputs(images)
    worst: dict[str, float] = {}
    for s in range(1, inits + 1):
        for k, v in imprint(named_weights(lenet(s)), theirs).items():
            worst[k] = max(worst.get(k, 0.0), abs(v))
    blended = []
    for s in range(1, blends + 1):
        start = named_weights(lenet(10_000 + s))
        mixed = {}
        for k, d in theirs.items():
            a, b = d["weight"].double(), start[k]["weight"].double()
            low, high = 0.0, 100.0
            for _ in range(60):
                mid = (low + high) / 2
                v = a + mid * b
                low, high = (
                    (mid, high)
                    if float((v * b).sum() / (v.norm() * b.norm())) < IMPRINT_MIN[k] + 0.02
                    else (low, mid)
                )
            mixed[k] = {"weight": (a + high * b).float(), "bias": d["bias"]}
        net, rest = lenet(weights=mixed), lenet(weights=without_init(start, mixed))
        blended.append({
            "accuracy": accuracy(net, x, labels), "alone": accuracy(rest, x, labels),
            "growth": mean_nll(rest, x, labels) / mean_nll(net, x, labels),
        })  # fmt: skip
    return {"trained_accuracy": accuracy(lenet(weights=theirs), x, labels),
            "chance_largest": worst, "inits": inits, "blends": blended}  # fmt: skip


def plot(rows: list[dict], other: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from lenet_course.grading.judge.spec import IMPRINT_MIN, INIT_LOSS_GROWTH_MIN

    layers = list(IMPRINT_MIN)
    names = sorted({r["submission"] for r in rows})
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), width_ratios=[3, 2])
    for j, name in enumerate(names):
        for i, layer in enumerate(layers):
            ys = [
                r["imprint"][layer]
                for r in rows
                if r["submission"] == name and layer in r["imprint"]
            ]
            xs = [i + (j - (len(names) - 1) / 2) * 0.15] * len(ys)
            left.scatter(xs, ys, s=12, alpha=0.7, color=f"C{j}", label=name if i == 0 else None)
    left.bar(range(len(layers)), [other["chance_largest"][k] for k in layers], width=0.7,
             color="0.85", label=f"weights from elsewhere (largest of {other['inits']} inits)",
             zorder=0)  # fmt: skip
    for i, layer in enumerate(layers):
        left.hlines(IMPRINT_MIN[layer], i - 0.4, i + 0.4, color="crimson", lw=1.5,
                    label="threshold" if i == 0 else None)  # fmt: skip
    left.set_xticks(range(len(layers)), layers)
    left.set_ylim(0, 1)
    left.set_ylabel("cosine(final weights, this run's init)")
    left.set_title(f"Imprint of the init after 10 epochs ({len(rows)} grades)")
    left.legend(fontsize=7, loc="upper left", ncol=2)
    honest = [r["growth"] for r in rows if r.get("growth") is not None]
    cheats = [b["growth"] for b in other["blends"]]
    right.scatter([0] * len(honest), honest, s=12, alpha=0.6, color="C0", label="trained here")
    right.scatter([1] * len(cheats), cheats, s=12, alpha=0.6, color="black",
                  label="blended into the init")  # fmt: skip
    right.axhline(INIT_LOSS_GROWTH_MIN, color="crimson", lw=1,
                  label=f"at least x{INIT_LOSS_GROWTH_MIN:.0f}")  # fmt: skip
    right.set_xticks([0, 1], ["honest", "cheat"])
    right.set_xlim(-0.6, 1.6)
    right.set_yscale("log")
    right.set_ylabel("test loss without the init's share / with it")
    right.set_title("What the init's share is worth to the rest")
    right.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--first-seed", type=int, default=1)
    ap.add_argument("--part", default="0/1")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--inits", type=int, default=2000)
    ap.add_argument("--blends", type=int, default=20)
    ap.add_argument("--only", nargs="*", help="grade only these submissions (default: all)")
    args = ap.parse_args()
    root = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(root))
    from lenet_course.grading.judge.spec import IMPRINT_MIN, INIT_LOSS_GROWTH_MIN

    args.out.mkdir(parents=True, exist_ok=True)
    log = args.out / "grades.jsonl"
    done = (
        {(r["submission"], r["seed"]) for r in map(json.loads, log.read_text().splitlines())}
        if log.exists()
        else set()
    )
    i, n = map(int, args.part.split("/"))
    chosen = {k: v for k, v in submissions(root).items() if not args.only or k in args.only}
    pairs = [(name, folder, s) for name, folder in chosen.items()
             for s in range(args.first_seed, args.first_seed + args.seeds)]  # fmt: skip
    mine = [p for k, p in enumerate(pairs) if k % n == i and (p[0], p[2]) not in done]
    for k, (name, folder, seed) in enumerate(mine, 1):
        row = grade_one(root, name, folder, seed, args.data, args.threads)
        with log.open("a") as fh:
            fh.write(json.dumps(row) + "\n")
        print(f"[{k}/{len(mine)}] {name} seed {seed}: {row['score']}/{row['max']} "
              f"imprint {row['imprint']} {row['seconds']} s", flush=True)  # fmt: skip
    if args.part != "0/1":
        return 0
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    other = cheats(args.data, args.inits, args.blends)
    layers = list(IMPRINT_MIN)
    honest = [r for r in rows if len(r["imprint"]) == len(layers)]
    summary = {
        "grades": len(rows), "seeds": sorted({r["seed"] for r in rows}),
        "submissions": sorted({r["submission"] for r in rows}),
        "lost_points": [r for r in rows if r["score"] < r["max"]],
        "imprint_min": IMPRINT_MIN, "init_loss_growth_min": INIT_LOSS_GROWTH_MIN,
        "honest_imprint_lowest": {k: min(r["imprint"][k] for r in honest) for k in layers},
        "honest_imprint_mean": {k: round(statistics.mean(r["imprint"][k] for r in honest), 3) for k in layers},
        "honest_imprint_sd": {k: round(statistics.stdev(r["imprint"][k] for r in honest), 3) for k in layers},
        "honest_alone_highest": max(r["alone"] for r in honest),
        "honest_loss_growth_lowest": min(r["growth"] for r in honest),
        "honest_loss_growth_highest": max(r["growth"] for r in honest),
        "accuracy_range": [min(r["accuracy"] for r in honest), max(r["accuracy"] for r in honest)],
        **other,
        "blends_above_95": sum(b["accuracy"] > 95.0 for b in other["blends"]),
        "blends_caught": sum(
            b["growth"] < INIT_LOSS_GROWTH_MIN for b in other["blends"] if b["accuracy"] > 95.0
        ),
        "blends_loss_growth_highest": max(b["growth"] for b in other["blends"]),
    }  # fmt: skip
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    plot(rows, other, args.out / "imprint.png")
    print(
        json.dumps(
            {k: v for k, v in summary.items() if k not in ("lost_points", "blends")}, indent=2
        )
    )
    print(f"grades that lost a point: {len(summary['lost_points'])}")
    return 1 if summary["lost_points"] else 0


if __name__ == "__main__":
    sys.exit(main())
