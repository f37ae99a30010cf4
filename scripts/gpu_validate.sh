#!/usr/bin/env bash
# Instructors' GPU validation on a bare CUDA machine that already has PyTorch (no internet).
# From the repository root, with the four MNIST files in ./data/MNIST/raw (copy them there
# first: cp -r ../shared/data/MNIST data/), run:
#   bash scripts/gpu_validate.sh [OUTDIR]
# It installs the kit without touching torch, then runs `lenet-course validate` (graded
# tests on solutions with 10-epoch training on the GPU, stubs failing, per-epoch times for
# each path, the pytest-benchmark suite) and writes OUTDIR/validation.{md,json}.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-${OUT:-validation}}"
export LENET_DATA="${LENET_DATA:-$PWD/data}"
export MPLBACKEND=Agg
python3 -m pip install --quiet --no-deps --no-build-isolation -e . 2>&1 | tail -2 || true
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
python3 -m lenet_course.cli validate --out "$OUT" 2>&1 | tee "$OUT.log"
python3 -m pytest tests/bench --target solutions -q -rs \
    --benchmark-json="$OUT/benchmarks-pytest.json" 2>&1 | tail -15
