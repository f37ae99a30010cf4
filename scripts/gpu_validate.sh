#!/usr/bin/env bash
# Instructors' GPU validation, one short run (about 5 minutes on an H200), on a CUDA machine
# that already has PyTorch and no internet. From the repository root, with the four MNIST
# files in ./data/MNIST/raw (copy them first: cp -r ../shared/data/MNIST data/):
#   bash scripts/gpu_validate.sh [OUTDIR]        (default OUTDIR: gpu-validation)
# It runs, each with its log in OUTDIR:
#   1. lenet-course validate   (solutions graded with the 10-epoch training, stubs failing,
#                               each timed path, the GPU targets, the benchmark suite)
#   2. the GPU unit tests      (tests/unit/test_gpu.py)
#   3. lenet-course train --cuda-graph   (the lecture, 10 epochs, through the CUDA graph)
#   4. lenet-course bench --json         (DataLoader vs tensor path)
#   5. optional, the image: where docker (with the NVIDIA container toolkit: --gpus all) or
#      podman (with its CDI spec: --device nvidia.com/gpu=all) is here, load IMAGE_TAR (a
#      `docker save` of the image) if given, else build the image, and run its default
#      command (nox -s validate) on the GPU. Where neither is here it says so and goes on;
#      SKIP_IMAGE=1 skips it.
# and exits non-zero if any of them failed. As root without a usable bubblewrap, the grading
# in step 1 runs at the jail's weaker level, and its report says which.
# ALLOW_CPU=1 rehearses the same steps on a machine without a GPU (1 epoch each).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-${OUT:-gpu-validation}}"
mkdir -p "$OUT"
export LENET_DATA="${LENET_DATA:-$PWD/data}"
export MPLBACKEND=Agg
PY="${PYTHON:-python3}"
CPU_FLAGS=()
TRAIN_FLAGS=()
if [ "${ALLOW_CPU:-0}" = 1 ]; then
    CPU_FLAGS=(--allow-cpu --epochs 1)
    TRAIN_FLAGS=(--epochs 1)
elif ! "$PY" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    echo "gpu_validate: PyTorch sees no CUDA GPU here. Fix: run on a GPU machine" \
         "(docker run --gpus all ...), or ALLOW_CPU=1 for a rehearsal on the CPU." >&2
    exit 2
fi

"$PY" -m pip install --quiet --no-deps --no-build-isolation -e . >"$OUT/install.log" 2>&1 \
    || { echo "gpu_validate: installing the kit failed; see $OUT/install.log" >&2; exit 2; }
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
  "$PY" -c "import platform, torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda, 'Python', platform.python_version())"
} >"$OUT/machine.txt" 2>&1
cat "$OUT/machine.txt"

failed=()
step() {  # step NAME COMMAND...: run it, keep its log, remember a failure, go on
    local name="$1"; shift
    local start=$SECONDS
    echo "== $name"
    if "$@" >"$OUT/$name.log" 2>&1; then
        echo "   ok ($((SECONDS - start)) s)"
    else
        echo "   FAILED, exit $? ($((SECONDS - start)) s); see $OUT/$name.log"
        failed+=("$name")
    fi
    tail -n 12 "$OUT/$name.log" | sed 's/^/   | /'
}

step validate "$PY" -m lenet_course.cli validate --out "$OUT/validate" "${CPU_FLAGS[@]}"
step gpu-unit-tests "$PY" -m pytest tests/unit/test_gpu.py -q -rs -p no:cacheprovider
step train-cuda-graph "$PY" -m lenet_course.cli train --cuda-graph --out "$OUT/train-cuda-graph" \
    "${TRAIN_FLAGS[@]}"
step bench sh -c "\"$PY\" -m lenet_course.cli bench --json > \"$OUT/bench.json\""

image_step() {  # the image's default command on this GPU, where an engine can give it one
    local engine="" gpu=()
    if command -v docker >/dev/null 2>&1 && docker info 2>/dev/null | grep -qi nvidia; then
        engine=docker; gpu=(--gpus all)
    elif command -v podman >/dev/null 2>&1 && command -v nvidia-ctk >/dev/null 2>&1 \
        && nvidia-ctk cdi list 2>/dev/null | grep -q "nvidia.com/gpu=all"; then
        engine=podman; gpu=(--device nvidia.com/gpu=all)
    fi
    if [ -z "$engine" ]; then
        echo "== image: skipped: no docker with the NVIDIA runtime and no podman with an NVIDIA" \
             "CDI spec here (install the NVIDIA container toolkit to run it)"
        return
    fi
    if [ -n "${IMAGE_TAR:-}" ]; then
        step image-load "$engine" load -i "$IMAGE_TAR"
    else
        step image-build "$engine" build -t lenet-course .
    fi
    mkdir -p "$OUT/image-validation"
    step image-validate "$engine" run --rm "${gpu[@]}" --network none --user "$(id -u):$(id -g)" \
        -v "$(cd "$OUT/image-validation" && pwd):/opt/lenet-course/validation" lenet-course
}
if [ "${SKIP_IMAGE:-0}" != 1 ] && [ "${ALLOW_CPU:-0}" != 1 ]; then
    image_step
fi

if [ ${#failed[@]} -gt 0 ]; then
    echo "gpu_validate: FAILED: ${failed[*]} (logs in $OUT)" >&2
    exit 1
fi
echo "gpu_validate: passed; everything is in $OUT"
