#!/usr/bin/env bash
# The whole-market input groups, left out in turn: one cv fold (the last 60 decision days) per variant, so model,
# linear, volatility and reversal are scored on the same rows (README, "What it achieves on the whole market").
# Usage: bash scripts/market_ablation.sh STORE OUT   (each variant: OUT/cv-<name>/cv.json; one summary line per variant)
set -euo pipefail
store=${1:?store} out=${2:?out}
eq="${EQUINET:-equinet}"
run() { name=$1; shift; [ -f "$out/cv-$name/cv.json" ] || $eq cv --data "$store" --out "$out" --name "$name" --folds 1 "$@" > /dev/null
        python3 "$(dirname "$0")/cv_summary.py" "$out/cv-$name/cv.json"; }
run all-inputs
run prices-only --inputs ""
run without-turnover-size --inputs limits,ranks,breadth,market
run without-limits --inputs turnover,size,ranks,breadth,market
run without-ranks --inputs turnover,size,limits,breadth,market
run without-breadth-market --inputs turnover,size,limits,ranks
