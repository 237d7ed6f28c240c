#!/usr/bin/env bash
# One-off: the training variants compared on the validation split to choose `equinet train`'s defaults.
# Usage: bash scripts/tune_train.sh STORE OUT [EPOCHS]   (each variant's best val log loss is in OUT/*/metrics.jsonl)
set -euo pipefail
store=${1:?store} out=${2:?out} epochs=${3:-20}
eq="${EQUINET:-equinet}"
# The variants were measured against dropout 0.1 (the default then); a variant's own --dropout comes later and wins.
run() { name=$1; shift; $eq train --data "$store" --out "$out" --name "$name" --epochs "$epochs" --d-model 128 --json \
          --dropout 0.1 "$@" \
          | python3 -c "import json,sys; d=json.load(sys.stdin); print('$name', d['best'])"; }
run focal-weighted --class-weights
run ce-plain --loss ce --no-class-weights
run focal-plain --no-class-weights
run ce-plain-lr3e-4 --loss ce --no-class-weights --lr 3e-4
run ce-plain-drop0.2-wd0.1 --loss ce --no-class-weights --dropout 0.2 --weight-decay 0.1
run ce-plain-2048 --loss ce --no-class-weights --samples-per-epoch 2048 --batch-size 256
run focal-plain-drop0.2 --no-class-weights --dropout 0.2
run focal-plain-lr3e-4 --no-class-weights --lr 3e-4
run focal-plain-1536 --no-class-weights --samples-per-epoch 1536
