#!/usr/bin/env bash
# The whole-market input groups, left out in turn: one cv fold (the last 60 decision days) per variant, so model,
# linear, volatility and reversal are scored on the same rows (README, "What it achieves on the whole market").
# Usage: bash scripts/market_ablation.sh STORE OUT   (each variant: OUT/cv-<name>/cv.json; one summary line per variant)
set -euo pipefail
store=${1:?store} out=${2:?out}
cv_options=(--folds 1 --ema-epochs 0)  # the rows measured before the weight average was the default
source "$(dirname "$0")/cv_variant.sh"
run all-inputs
run prices-only --inputs ""
run without-turnover-size --inputs limits,ranks,breadth,market
run without-limits --inputs turnover,size,ranks,breadth,market
run without-ranks --inputs turnover,size,limits,breadth,market
run without-breadth-market --inputs turnover,size,limits,ranks
# the seed's spread, and the epoch chosen on every validation day instead of a sample of them
run all-inputs-seed1 --seed 1
run seed1-allval --seed 1 --val-windows 0
# the weight average (the default since): both seeds
run seed0-ema --seed 0 --ema-epochs 3.5
run seed1-ema --seed 1 --ema-epochs 3.5
