#!/usr/bin/env bash
# Instructors' GPU validation, one short run (designed to fit 5 minutes on an H200; see
# docs/benchmarks.md for the estimate), on a CUDA machine that already has PyTorch and no
# internet. From the repository root, with the four MNIST files in ./data/MNIST/raw (copy
# them first: cp -r ../shared/data/MNIST data/):
#   bash scripts/gpu_validate.sh [OUTDIR]        (default OUTDIR: gpu-validation)
# It runs, each with its log in OUTDIR:
#   1. lenet-course bench --levers --json   (the lever matrix, alone on the machine: CUDA graph
#                               steps per replay, torch.compile, cudnn.benchmark, channels-last;
#                               levers.json, its table in levers.log; which graph cell won is
#                               its "graph_default")
#   2. lenet-course validate --no-bench-suite  (the solutions graded with LENET_JAIL unset, the
#                               strongest level this machine gives; stubs failing; eager and
#                               graph paths for 10 epochs against the targets)
#   3. lenet-course grade solutions with LENET_JAIL=landlock  (the Landlock level's GPU rules),
#      beside 4. the GPU unit tests (tests/unit/test_gpu.py, CUDA cases)
# then checks that both grades are full marks and names each one's level, and exits non-zero if
# anything failed. ALLOW_CPU=1 rehearses the same steps on a machine without a GPU (one epoch
# where it can, the CUDA-only cells and tests skipped with their reasons).
# LEVER_BUDGET (seconds, default 90) is when the matrix stops starting new cells.
# Optional, 5. the image on this GPU: with IMAGE_TAR (a `docker save` of the image) or
# BUILD_IMAGE=1, and docker (NVIDIA container toolkit: --gpus all) or podman (its CDI spec:
# --device nvidia.com/gpu=all), load or build the image and run its default command
# (nox -s validate) on the GPU. Off by default: a build does not fit a short device run.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-${OUT:-gpu-validation}}"
mkdir -p "$OUT"
rm -f "$OUT"/*.failed
export LENET_DATA="${LENET_DATA:-$PWD/data}"
export MPLBACKEND=Agg
PY="${PYTHON:-python3}"
BUDGET="${LEVER_BUDGET:-90}"
CPU_FLAGS=()
LEVER_FLAGS=(--budget "$BUDGET")
UNIT_SELECT=(-k "not cpu-rerun")  # the CPU cases run in CI; here only what needs the GPU
if [ "${ALLOW_CPU:-0}" = 1 ]; then
    CPU_FLAGS=(--allow-cpu --epochs 1)
    LEVER_FLAGS+=(--quick)
    # A rehearsal often shares its cores: idle OpenMP threads that sleep instead of spinning
    # kept a batch-100 step at 34 ms, not 1.4 s, on 2 cores at load 10 (measured 2026-12-03)
    export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
    UNIT_SELECT=(-m "not validation")  # the CPU cases, less the compiled one (CI runs it)
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

step() {  # step NAME COMMAND...: run it, keep its log, mark a failure, go on
    local name="$1"; shift
    local start=$SECONDS
    echo "== $name"
    if "$@" >"$OUT/$name.log" 2>&1; then
        echo "   ok ($((SECONDS - start)) s)"
    else
        echo "   FAILED, exit $? ($((SECONDS - start)) s); see $OUT/$name.log"
        touch "$OUT/$name.failed"
    fi
    tail -n 20 "$OUT/$name.log" | grep -v -e '^USDT' -e 'gpuGetDeviceCount' | sed 's/^/   | /'
}

step levers sh -c "\"$PY\" -m lenet_course.cli bench --levers --json ${LEVER_FLAGS[*]} \
    > \"$OUT/levers.json\""
step validate env -u LENET_JAIL "$PY" -m lenet_course.cli validate --no-bench-suite \
    --out "$OUT/validate" "${CPU_FLAGS[@]}"
step gpu-unit-tests "$PY" -m pytest tests/unit/test_gpu.py -q -rs -p no:cacheprovider \
    "${UNIT_SELECT[@]}" >"$OUT/gpu-unit-tests.step" 2>&1 &  # beside the grade: neither is timed
rm -f "$OUT/grade-landlock.json" "$OUT/grade-landlock.skipped"
if "$PY" -c "import sys; from lenet_course.grading.sandbox.landlock import abi; sys.exit(abi() < 1)"
then
    step grade-landlock env LENET_JAIL=landlock "$PY" -m lenet_course.cli grade solutions \
        --out "$OUT/grade-landlock.json"
else  # gVisor, say: the level cannot be forced here, and the grades step says so
    echo "this kernel ($(uname -r)) offers no Landlock" | tee "$OUT/grade-landlock.skipped"
fi
wait
cat "$OUT/gpu-unit-tests.step"

# Both grades of the solutions must be full marks; each names the jail level it ran at.
step grades "$PY" - "$OUT" <<'PY'
import json, sys
from pathlib import Path

out, ok = Path(sys.argv[1]), True
checks = json.loads((out / "validate/validation.json").read_text())["checks"]
first = next(c for c in checks if c["name"] == "solutions pass every graded test")
print(f"LENET_JAIL unset (validate): {first['detail']}")
ok &= bool(first["passed"]) and ", isolation " in first["detail"]
skipped = out / "grade-landlock.skipped"
if skipped.is_file():  # not a pass: not judged on this machine, and said so
    print(f"LENET_JAIL=landlock (grade): not judged here: {skipped.read_text().strip()}")
else:
    r = json.loads((out / "grade-landlock.json").read_text())
    top = sum(t["max_score"] for t in r["tests"])
    level = next((line.removeprefix("Note: ") for line in r["output"].splitlines()
                  if "isolation:" in line), "isolation not named")
    print(f"LENET_JAIL=landlock (grade): {r['score']}/{top}, {level}")
    ok &= r["score"] == top and level.startswith("isolation: landlock")
sys.exit(0 if ok else 1)
PY

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
if [ -n "${IMAGE_TAR:-}" ] || [ "${BUILD_IMAGE:-0}" = 1 ]; then
    if [ "${ALLOW_CPU:-0}" = 1 ]; then
        echo "== image: skipped: ALLOW_CPU=1 (the image's validation needs a GPU)"
    else
        image_step
    fi
fi

failed=$(cd "$OUT" && ls -- *.failed 2>/dev/null | sed 's/\.failed$//' | tr '\n' ' ')
if [ -n "$failed" ]; then
    echo "gpu_validate: FAILED: $failed(logs in $OUT)" >&2
    exit 1
fi
echo "gpu_validate: passed; everything is in $OUT"
