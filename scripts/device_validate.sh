#!/usr/bin/env bash
# scripts/gpu_validate.sh on the workplace's lent GPU machine (the `device` tool), in one call.
#
# That machine starts bare, reaches nothing, and keeps at most 8 files of what a command
# writes under $OUT. So, once, here (a developer's checkout, with ../shared/data beside it):
#   bash scripts/device_validate.sh --prepare
# packs the four MNIST files, gzipped (about 11 MB), into .mnist/ (ignored by git, carried
# by the call). Then the device call is:
#   run(command="bash scripts/device_validate.sh", carry=[".mnist"], timeout_s=540)
# There it unpacks MNIST into data/, runs scripts/gpu_validate.sh into /tmp/gpu-validation,
# and copies back the files to commit (levers.json and levers.log, validation.md and .json,
# grade-landlock.json, machine.txt, the script's own log) and a tarball of everything.
set -uo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = --prepare ]; then
    src="${LENET_DATA:-../shared/data}/MNIST/raw"
    mkdir -p .mnist/MNIST/raw
    for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte \
             t10k-labels-idx1-ubyte; do
        [ -f "$src/$f" ] || { echo "device_validate: $src/$f is missing." \
            "Fix: set LENET_DATA to the folder holding MNIST/raw." >&2; exit 2; }
        gzip -c "$src/$f" > ".mnist/MNIST/raw/$f.gz"
    done
    grep -qx '/.mnist/' .git/info/exclude 2>/dev/null || echo '/.mnist/' >> .git/info/exclude
    du -sh .mnist
    echo "next: run(command=\"bash scripts/device_validate.sh\", carry=[\".mnist\"], timeout_s=540)"
    exit 0
fi

if [ -z "${OUT:-}" ]; then
    echo "device_validate: \$OUT is not set: this runs on the device machine (see its header)." >&2
    exit 2
fi
mkdir -p data/MNIST/raw
for gz in .mnist/MNIST/raw/*.gz; do
    [ -f "$gz" ] || { echo "device_validate: no .mnist/ here. Fix: run --prepare, carry .mnist." >&2
                      exit 2; }
    gunzip -c "$gz" > "data/MNIST/raw/$(basename "$gz" .gz)"
done
export LENET_DATA="$PWD/data" PYTHONUNBUFFERED=1
run_dir=/tmp/gpu-validation
bash scripts/gpu_validate.sh "$run_dir" 2>&1 | tee "$OUT/gpu_validate.log"
rc=${PIPESTATUS[0]}
for f in levers.json levers.log validate/validation.md validate/validation.json \
         grade-landlock.json machine.txt; do
    [ -f "$run_dir/$f" ] && cp "$run_dir/$f" "$OUT/"
done
tar czf "$OUT/gpu-validation.tgz" -C /tmp gpu-validation
echo "device_validate: gpu_validate.sh exited $rc"
exit "$rc"
