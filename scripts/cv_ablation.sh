#!/usr/bin/env bash
# The walk-forward cv variants compared to choose `equinet train`'s defaults (README, "What it achieves").
# Usage: bash scripts/cv_ablation.sh STORE OUT   (each variant: OUT/cv-<name>/cv.json; one summary line per variant)
# The rows of docs/results.md measured before issue 34 ran these options on the window encoder; the chunk rows are
# the causal encoder's (docs/results.md, "The causal encoder").
set -euo pipefail
store=${1:?store} out=${2:?out}
cv_options=(--bootstrap 300)
source "$(dirname "$0")/cv_variant.sh"
old=(--head softmax --d-model 128 --layers 4 --epochs 50 --samples-per-epoch 1024 --aux "" --ema-epochs 0)
run old-default "${old[@]}"
base=(--aux "" --shrink 0 --epochs 15 --samples-per-epoch 8192 --ema-epochs 0)  # the rows: 15 x 8,192 unless noted
run dist-days "${base[@]}"
run dist-days-seed1 "${base[@]}" --seed 1
run softmax-days "${base[@]}" --head softmax
run one-chunk "${base[@]}" --chunks 1 --stocks-per-day 256
run eight-chunks "${base[@]}" --chunks 8 --stocks-per-day 32
run cross "${base[@]}" --cross
run multiscale "${base[@]}" --multiscale
run return-nll "${base[@]}" --return-weight 0.5
run aux-vol "${base[@]}" --aux vol
run shrink "${base[@]}" --shrink 1
run shrink-lr3e-4 "${base[@]}" --shrink 1 --lr 3e-4
run score "${base[@]}" --score-weight 0.1
run ema "${base[@]}" --ema-epochs 6.25  # 50 steps: a decay of 0.98 at 8 steps an epoch
run ensemble-3 "${base[@]}" --ensemble 3
run d128-e50 "${base[@]}" --d-model 128 --epochs 50 --samples-per-epoch 4096
run lr1e-4 "${base[@]}" --lr 1e-4
run aux-vol-seed1 "${base[@]}" --aux vol --seed 1
run aux-vol-shrink "${base[@]}" --aux vol --shrink 1
run aux-vol-shrink-seed1 "${base[@]}" --aux vol --shrink 1 --seed 1
# the README's "tried, dropped" rows (a shrink of the scale only, a per-day demeaned scale) have no option left
run default
run default-seed1 --seed 1
