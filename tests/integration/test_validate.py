"""`lenet-course validate`: the instructors' report."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU refusal")
def test_validate_without_a_gpu_fails_loudly_unless_allowed(tmp_path):
    run = subprocess.run([sys.executable, "-m", "lenet_course.cli", "validate", "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert run.returncode == 2
    assert "no CUDA GPU is visible" in run.stderr and "--allow-cpu" in run.stderr
    assert "Traceback" not in run.stderr


# The whole `validate --allow-cpu` report is asserted where the instructor runs it: the
# documented docker line, in tests/image/test_documented_lines.py (nox -s image_test, in CI).
