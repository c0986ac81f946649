#!/usr/bin/env bash
# The GPU measurement of issue 24 on a machine without network (about 8 minutes).
#
#   bash benchmarks/gpu/run.sh BUNDLE OUT [SECONDS [BENCH_GPU_OPTIONS...]]
#
# BUNDLE is the data, packed in the checkout (git ignores /.gpu_*/) by
#   NNZIP_DATA_DIR=../shared/data python -m experiments.device_bundle pack-texts .gpu_texts ag_news 20news imdb r8
# (28 MB). Python packages nnzip needs that the GPU machine's image lacks (zstandard) travel as
# wheels in .whl/ beside it (benchmarks/gpu.md says how to fetch them); they are installed into
# /tmp/site first. Then one device call: command "bash benchmarks/gpu/run.sh .gpu_texts $OUT 480",
# carry [".gpu_texts", ".whl"], timeout_s 570. SECONDS (default 480) is the time for everything;
# bench_gpu.py skips, and records, a part that would overrun it. OUT gets results.json,
# results.md, log.txt and nvidia-smi.txt: copy the first two to benchmarks/gpu/ and commit them.
# Options after SECONDS go to bench_gpu.py (a dry run here: NUMBA_ENABLE_CUDASIM=1 ... 900 --tiny 3).
set -uo pipefail
bundle=$1 out=$2 budget=${3:-480}
shift $(($# < 3 ? $# : 3))
start=$(date +%s)
export PYTHONUNBUFFERED=1
mkdir -p "$out"
if compgen -G ".whl/*.whl" > /dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        && export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH} || exit 1
fi
if ! python3 -m pip install -q --no-deps --no-build-isolation --no-index -e . ; then
    # no build backend there: import the checkout in place (nnzip.baselines lives in baselines/)
    ln -sfn ../baselines nnzip/baselines && export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
fi
python3 -c "import nnzip, numba.cuda; print('nnzip', nnzip.__version__, 'numba', __import__('numba').__version__)" \
    || exit 1
python3 -m experiments.device_bundle unpack "$bundle" /tmp/nnzip_gpu || exit 1
export NNZIP_DATA_DIR=/tmp/nnzip_gpu/data
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv > "$out/nvidia-smi.txt" 2>&1
cat "$out/nvidia-smi.txt"
left=$((budget - ($(date +%s) - start)))
python3 benchmarks/gpu/bench_gpu.py --seconds "$left" --output "$out/results.json" "$@" 2>&1 | tee "$out/log.txt"
exit "${PIPESTATUS[0]}"
