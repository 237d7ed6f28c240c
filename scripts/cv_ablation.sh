#!/usr/bin/env bash
# The walk-forward cv variants compared to choose `equinet train`'s defaults (README, "What it achieves").
# Usage: bash scripts/cv_ablation.sh STORE OUT   (each variant: OUT/cv-<name>/cv.json; one summary line per variant)
set -euo pipefail
store=${1:?store} out=${2:?out}
eq="${EQUINET:-equinet}"
run() { name=$1; shift; $eq cv --data "$store" --out "$out" --name "$name" --bootstrap 300 "$@" > /dev/null
        python3 "$(dirname "$0")/cv_summary.py" "$out/cv-$name/cv.json"; }
old=(--head softmax --batch-days 0 --d-model 128 --layers 4 --epochs 50 --samples-per-epoch 1024 --aux "")
run old-default "${old[@]}"
base=(--aux "" --shrink 0)
run dist-days "${base[@]}"
run softmax-days "${base[@]}" --head softmax
run dist-random "${base[@]}" --batch-days 0 --batch-size 1024
run cross "${base[@]}" --cross
run multiscale "${base[@]}" --multiscale
run return-nll "${base[@]}" --return-weight 0.5
run aux-vol "${base[@]}" --aux vol
run shrink "${base[@]}" --shrink 1
run score "${base[@]}" --score-weight 0.1
run ema "${base[@]}" --ema 0.98
run ensemble-3 "${base[@]}" --ensemble 3
run d128-e50 "${base[@]}" --d-model 128 --epochs 50 --samples-per-epoch 4096
run default
