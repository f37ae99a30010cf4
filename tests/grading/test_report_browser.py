"""The class report and the similarity report, opened in a real browser (headless
Chromium): screenshots kept as artifacts, not blank, every image loaded, and the flagged
pairs and the commonest failure messages on the rendered page. Plus the screen's figure
at class scale: 300 students in a minute."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import time
from pathlib import Path

import matplotlib.image
import pytest

from lenet_course.grading.classroom.classreport import write_class_report
from lenet_course.grading.classroom.gradebook import REPORT, write_gradebook
from lenet_course.grading.classroom.similarity import read_csv, screen_and_write
from lenet_course.grading.classroom.status import Kind, Status
from lenet_course.grading.judge.catalog import catalog
from lenet_course.kit import kit_root
from tests.grading.classmates import expected_flags, large_class

pytestmark = pytest.mark.validation
pytest.importorskip(
    "copydetect", reason="copydetect is in [class] and [dev]; install the kit with it"
)

ARTIFACTS = (
    Path(os.environ.get("LENET_ARTIFACTS") or kit_root() / "tests" / "artifacts") / "browser"
)
# What a copy of the solutions' Exercise 2 cannot show: its one line is every honest answer.
UNFLAGGABLE = {("sol", "ex2_log_softmax")}
# The wrapper page: opens a report in a frame, then writes what the browser rendered (its
# visible text and whether each image loaded) into its own DOM for --dump-dom to print.
PROBE = """<!doctype html><iframe id="f" src="{page}" width="1280" height="900"></iframe>
<pre id="probe">pending</pre><script>
document.getElementById("f").addEventListener("load", () => {{
  const d = document.getElementById("f").contentDocument;
  const images = [...d.images].map(i => [i.getAttribute("src"), i.complete && i.naturalWidth > 0]);
  const ms = performance.now();  // from the wrapper's start to the report's load: its opening
  document.getElementById("probe").textContent = JSON.stringify({{images, text: d.body.innerText, ms}});
}});
</script>"""


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:  # CI installs it (.ci/run): a missing browser is a failure, not a skip
        pytest.fail(
            "headless Chromium is needed to check the class report in a browser: "
            "apt-get install -y --no-install-recommends chromium",
            pytrace=False,
        )
    return path


def browse(page: Path, profile: Path, *args: str) -> str:
    flags = [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--hide-scrollbars", f"--user-data-dir={profile}",
    ]  # fmt: skip
    run = subprocess.run(
        [chromium(), *flags, *args, page.resolve().as_uri()],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    return run.stdout


def rendered(page: Path, profile: Path) -> dict:
    """The page's visible text and each image's load state, as Chromium rendered them."""
    probe = page.with_name(f".probe-{page.stem}.html")
    probe.write_text(PROBE.format(page=page.name))
    dom = browse(
        probe, profile, "--allow-file-access-from-files", "--virtual-time-budget=10000",
        "--dump-dom",
    )  # fmt: skip
    probe.unlink()
    start = dom.index('<pre id="probe">') + len('<pre id="probe">')
    import html

    text = html.unescape(dom[start : dom.index("</pre>", start)])
    assert text != "pending", f"{page.name} did not finish loading in the browser"
    return json.loads(text)


def screenshot(page: Path, profile: Path, height: int) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / f"{page.stem}.png"
    shot.unlink(missing_ok=True)
    browse(page, profile, f"--screenshot={shot}", f"--window-size=1280,{height}")
    image = matplotlib.image.imread(shot)[..., :3]
    assert image.shape[0] >= height * 0.9, image.shape
    assert image.std() > 0.05 and (image < 0.5).mean() > 0.01, f"{shot} is blank"
    return shot


def synthetic_grades(out: Path, students: list[str], seed: int = 1) -> tuple[dict, dict]:
    """report.json and results.json for each student over the kit's real graded tests:
    a few common mistakes, a grader error, a time limit and a student the grader failed."""
    rng = random.Random(seed)
    common = {
        "ex1_lenet": "conv1 must map 1 input channel to 6 with 5x5 kernels; got Conv2d(1, 6, 3)",
        "ex2_log_softmax": "the rows of exp(output) must sum to 1; got sums up to 3.7",
        "ex3_train": "evaluate() returned 0.98: return a percentage (0-100), not a fraction",
        "ex4_kernels": "snapshot_kernels must return copies on the CPU; got views of the weights",
    }
    tests = [t for t in catalog() if not t["slow"]]
    statuses, rows = {}, {}
    for i, student in enumerate(students):
        if i == len(students) - 1:
            unreadable = Status(Kind.ERROR, "the submission folder is unreadable")
            statuses[student], rows[student] = unreadable, None
            continue
        results = []
        for t in tests:
            passed = rng.random() < 0.75
            message = "" if passed else rng.choice([common[t["exercise"]]] * 3 + ["wrong shape"])
            status = "passed" if passed else "failed"
            if i == 0 and t is tests[0]:
                status, message = "error", "the judge could not start (a grader bug)"
            if i == 1 and t is tests[-1]:
                message = "not run: the submission's time limit was reached"
            results.append({
                "nodeid": t["nodeid"], "exercise": t["exercise"], "title": t["title"],
                "score": t["points"] if passed else 0, "max_score": t["points"], "status": status,
                "message": message,
            })  # fmt: skip
        report = {
            "tests": results,
            "max_score": sum(t["points"] for t in tests),
            "fingerprint": "x",
        }
        (out / student).mkdir(parents=True, exist_ok=True)
        (out / student / REPORT).write_text(json.dumps(report))
        (out / student / "results.json").write_text(json.dumps({"score": 0, "tests": []}))
        statuses[student], rows[student] = Status(Kind.GRADED), report
    return statuses, rows


def test_class_report_of_30_students_renders_every_part_in_chromium(tmp_path):
    folder, out = tmp_path / "class", tmp_path / "grades"
    large_class(folder, 30, copiers=6, seed=3)
    screen = screen_and_write(folder, out)
    students = sorted(p.name for p in folder.iterdir())
    statuses, rows = synthetic_grades(out, students)
    write_gradebook(out, statuses, rows)
    report = write_class_report(out, statuses, rows, screen)
    assert screen.flagged, "the synthetic class should hold flagged pairs"

    page = rendered(report, tmp_path / "profile")
    assert page["images"] and all(ok for _, ok in page["images"]), page["images"]
    assert {src for src, _ in page["images"]} == {
        "scores.png", "exercise-scores.png", "pass-rates.png", "similarity.png"
    }  # fmt: skip
    text = page["text"]
    for part in ("Score distribution", "Tests: pass rates and the most common failures",
                 "Students", "Grader errors and time limits", "Similarity screen"):  # fmt: skip
        assert part in text, f"the section {part!r} is not on the rendered page"
    assert catalog()[0]["title"] in text, "tests are shown by their title"
    assert "× conv1 must map 1 input channel to 6" in text, "the commonest failure is missing"
    assert "grader error: " in text and "hit a time limit" in text
    assert "results.json" in text and students[0] in text
    for m in screen.flagged:
        assert f"{m.student_a}\t{m.student_b}\t{m.exercise}" in text, m
    screenshot(report, tmp_path / "profile", 7200)

    similar = rendered(out / "similarity.html", tmp_path / "profile")
    assert [ok for _, ok in similar["images"]] == [True], similar["images"]
    for m in screen.flagged:
        assert f"{m.student_a} and {m.student_b}: {m.exercise}.py" in similar["text"], m
    screenshot(out / "similarity.html", tmp_path / "profile", 2400)


def test_a_class_of_300_is_screened_in_a_minute_with_every_planted_copy_flagged(tmp_path):
    origins = large_class(tmp_path / "class", 300, copiers=60, seed=7)
    start = time.perf_counter()
    screen = screen_and_write(tmp_path / "class", tmp_path / "out")
    seconds = time.perf_counter() - start
    expected = {
        f for f in expected_flags(origins) if (origins[f[0]][f[2]], f[2]) not in UNFLAGGABLE
    }
    got = {(m.student_a, m.student_b, m.exercise) for m in screen.flagged}
    assert got == expected, (
        f"missed {sorted(expected - got)[:5]}; false {sorted(got - expected)[:5]}"
    )
    assert seconds <= 60, f"the screen of 300 students took {seconds:.1f} s (goal: 60 s)"
    page = tmp_path / "out" / "similarity.html"
    size = page.stat().st_size
    assert size < 5e6, f"similarity.html is {size / 1e6:.1f} MB at 300 students (goal: under 5)"
    opened = rendered(page, tmp_path / "profile")
    print(f"similarity.html at 300 students: {size / 1e6:.2f} MB, opened in {opened['ms']:.0f} ms")
    assert opened["ms"] < 2000, f"similarity.html took {opened['ms']:.0f} ms to open (goal: 2 s)"
    shown = screen.config.table_rows
    flagged_rows = [m for m in read_csv(tmp_path / "out" / "similarity.csv") if m.flagged]
    assert len(flagged_rows) == len(screen.flagged) + len(screen.reference_matches)
    listed = opened["text"]
    if len(flagged_rows) > shown:  # cut: the page says so, and the CSV has the rest
        assert f"first {shown} of the {len(flagged_rows)} flagged pairs" in listed
    else:
        for m in screen.flagged:
            assert m.student_a in listed and m.student_b in listed, m
