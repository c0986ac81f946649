#!/usr/bin/env bash
# The transformer rows of the experiments on a GPU machine that has no network.
#
#   bash experiments/run_on_gpu.sh BUNDLE OUT SECONDS PHASE...
#
# BUNDLE is made here by `python -m experiments.device_bundle pack BUNDLE fewshot full_data`;
# phases run in the order given, each stopped when SECONDS (all phases together) are spent:
#   fewshot-small  few-shot, 5 and 10 shots    full  full training sets    fewshot-large  50 and 100 shots
# Finished runs are result files as usual (a rerun skips them); after each phase they are
# tarred to OUT/runs.tgz, so a phase cut short still brings back the runs it finished.
set -uo pipefail
bundle=$1 out=$2 budget=$3
shift 3
start=$(date +%s)
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
if ! python3 -m pip install -q --no-deps --no-build-isolation --no-index -e . ; then
    # no build backend there: import the checkout in place (nnzip.baselines lives in baselines/)
    ln -sfn ../baselines nnzip/baselines && export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
fi
python3 -c "import nnzip.baselines.transformer, experiments.runner" || exit 1
python3 -m experiments.device_bundle unpack "$bundle" /tmp/nnzip || exit 1
export NNZIP_DATA_DIR=/tmp/nnzip/data HF_HOME=/tmp/nnzip/hf
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"
save() {
    tar czf "$out/runs.tgz.part" experiments/results/*/runs/*_transformer_* 2>/dev/null && mv "$out/runs.tgz.part" "$out/runs.tgz"
}
for phase in "$@"; do
    left=$((budget - ($(date +%s) - start)))
    if [ "$left" -lt 15 ]; then echo "no time left for $phase"; break; fi
    echo "== $phase ($left s left) $(date -u +%T)"
    case $phase in
        fewshot-small) timeout "$left" python3 -m experiments run fewshot --model transformer --shots 5 --shots 10 ;;
        full) timeout "$left" python3 -m experiments run full_data --model transformer ;;
        fewshot-large) timeout "$left" python3 -m experiments run fewshot --model transformer --shots 50 --shots 100 ;;
        *) echo "unknown phase $phase"; exit 2 ;;
    esac
    echo "== $phase ended with status $? after $(($(date +%s) - start)) s"
    save
done
