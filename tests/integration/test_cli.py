"""`lenet-course` end to end: the lecture on real MNIST, and the errors users see."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import matplotlib.image
import pytest

from lenet_course import data
from lenet_course.cli import main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
OUTPUTS = ["history.json", "loss.png", "accuracy.png", "conv1_kernels.png", "conv2_kernels.png"]


def _cli(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "lenet_course.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.mnist
def test_two_epochs_on_real_mnist_beat_95_percent_and_write_valid_plots(
    mnist_root, tmp_path, capsys
):
    out = tmp_path / "run"
    code = main(
        ["train", "--epochs", "2", "--device", "cpu", "--data", str(mnist_root), "--out", str(out)]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "Iteration: 1/2 ; Training Loss: " in printed
    assert "Iteration: 2/2 ; Training Loss: " in printed and "; Time consumed: 0m " in printed

    history = json.loads((out / "history.json").read_text())
    assert len(history["records"]) == 2
    assert history["records"][-1]["test_accuracy"] > 95.0
    for name in OUTPUTS[1:]:
        raw = (out / name).read_bytes()
        assert raw.startswith(PNG_MAGIC), f"{name} is not a PNG"
        pixels = matplotlib.image.imread(out / name)
        assert pixels.ndim == 3 and pixels.shape[0] > 100 and pixels.std() > 0, f"{name} is blank"


@pytest.mark.mnist
@pytest.mark.parametrize(
    "damage, expected",
    [
        ("truncate", "truncated"),
        ("magic", "magic number"),
        ("delete", "missing"),
    ],
)
def test_damaged_data_exits_2_naming_the_file_without_traceback(
    mnist_copy, tmp_path, damage, expected
):
    path = data.raw_folder(mnist_copy) / "train-labels-idx1-ubyte"
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:500])
    elif damage == "magic":
        path.write_bytes(b"\x00\x00\x08\x03" + path.read_bytes()[4:])
    else:
        path.unlink()
    result = _cli("train", "--epochs", "1", "--data", str(mnist_copy), "--out", str(tmp_path / "o"))
    assert result.returncode == 2
    assert "train-labels-idx1-ubyte" in result.stderr and expected in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_missing_data_folder_offline_exits_2_and_says_which_flag_to_set(tmp_path):
    result = _cli(
        "train", "--no-download", "--data", str(tmp_path / "none"), "--out", str(tmp_path / "o")
    )
    assert result.returncode == 2
    assert str(tmp_path / "none") in result.stderr and "LENET_DATA" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("flag, value", [("--epochs", "0"), ("--lr", "-1"), ("--device", "tpu")])
def test_bad_settings_exit_2_with_a_message(flag, value, tmp_path):
    result = _cli(
        "train", flag, value, "--no-download", "--data", str(tmp_path), "--out", str(tmp_path / "o")
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "lenet-course: error:" in result.stderr


@pytest.mark.mnist
@pytest.mark.validation  # two timed epochs (27 s): the README's test command stays under 8 min
def test_bench_reports_both_paths_and_their_ratio_as_json(mnist_root):
    result = _cli(
        "bench",
        "--device",
        "cpu",
        "--warmup",
        "5",
        "--repeats",
        "1",
        "--data",
        str(mnist_root),
        "--json",
    )
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["torchvision_seconds"] > 0 and figures["tensor_seconds"] > 0
    assert figures["ratio"] == pytest.approx(
        figures["tensor_seconds"] / figures["torchvision_seconds"]
    )
    # LeNet at batch 100: 151.7 MFLOP per step forward and backward, 600 steps per epoch
    assert figures["flops_per_epoch"] == pytest.approx(91.0e9, rel=0.01)
    assert figures["gflops"] == pytest.approx(
        figures["flops_per_epoch"] / figures["tensor_seconds"] / 1e9
    )
    assert 0 < figures["fraction_of_peak"] < 1.5 and figures["peak_gflops"] > 1


@pytest.mark.mnist
def test_train_with_the_solutions_implementation_writes_the_outputs(mnist_root, tmp_path):
    out = tmp_path / "impl"
    result = _cli("train", "--impl", "solutions", "--epochs", "1", "--device", "cpu",
                  "--data", str(mnist_root), "--out", str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Iteration: 1/1" in result.stdout
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUTS)
    assert json.loads((out / "history.json").read_text())["records"][0]["test_accuracy"] > 90


@pytest.mark.mnist
def test_train_with_unfinished_exercises_says_what_to_finish(mnist_root, tmp_path):
    result = _cli("train", "--impl", "exercises", "--epochs", "1", "--device", "cpu",
                  "--data", str(mnist_root), "--out", str(tmp_path / "o"))  # fmt: skip
    assert result.returncode == 2
    assert "not finished: Exercise 1" in result.stderr and "Traceback" not in result.stderr


def test_the_help_of_every_command_comes_without_importing_torch():
    """`--help` and argument errors should answer at once: building the parser reads
    the recipe and limit defaults from torch-free modules."""
    probe = (
        "import sys; from lenet_course.cli import build_parser; build_parser(); "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", "building the CLI parser imported torch"
