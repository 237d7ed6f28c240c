#!/usr/bin/env bash
# Install (if needed), ingest, train, evaluate, predict, draw the report and list the runs. With your exports in data/raw, all of it runs on them
# with the defaults; with none there, on generated data in data/demo with a short training.
# Usage: bash scripts/demo.sh [--plan]   (--plan: say which data and commands it would run, and stop)
# EQUINET_RAW=DIR reads the exports from DIR instead of data/raw.
set -euo pipefail
cd "$(dirname "$0")/.."
raw=${EQUINET_RAW:-data/raw}
exports=$({ find -L "$raw" -maxdepth 1 -type f \( -iname '*.xlsx' -o -iname '*.csv' -o -iname '*.csv.gz' \
             -o -iname '*#*.txt' -o -iname '*#*.txt.gz' -o -iname '*.zip' \) \
           ! -name '~$*' ! -name '.*' 2>/dev/null || true; } | wc -l)
days=$({ find -L "$raw" -maxdepth 4 -type f -iname '*.day' -path '*lday*' 2>/dev/null || true; } | wc -l)
found=$((exports + days))
zips=$({ find -L "$raw" -maxdepth 1 -type f -iname '*.zip' ! -name '.*' 2>/dev/null || true; } | sort)
if [ "$exports" -eq 1 ] && [ -n "$zips" ]; then raw=$zips; fi  # one archive alone: ingest reads the .zip itself
if [ "$found" -gt 0 ]; then
  echo "Running on YOUR data: $found file(s) (.xlsx/.csv/.csv.gz/TDX text exports, .zip archives or vipdoc .day files) in $raw" \
       "-> store data/parquet, runs under out/"
  store=data/parquet out=out train=() top=50 keep=50  # the defaults, chosen by equinet cv
else
  echo "No exports or TDX files in $raw: running the DEMO on generated data in data/demo" \
       "(put your TDX exports, or link your TDX folder, in $raw to run on them)"
  raw=data/demo/raw store=data/demo/parquet out=data/demo/out
  train=(--epochs 5 --d-model 32 --layers 2 --heads 4 --samples-per-epoch 1024) top=5 keep=10  # 40 stocks: the top 5, kept within the best 10
fi
eq=.venv/bin/equinet
plan=${1:-}
step() { if [ "$plan" = --plan ]; then echo "  $*"; else "$@"; fi; }
[ "$plan" = --plan ] || bash scripts/setup.sh
if [ "$raw" = data/demo/raw ] && [ ! -d "$raw" ]; then
  step "$eq" synth "$raw" --stocks 40 --days 400 --seed 0
fi
step "$eq" ingest "$raw" --out "$store"
step "$eq" train --data "$store" --out "$out" ${train[@]+"${train[@]}"}
step "$eq" eval --out "$out" --split test
step "$eq" backtest --out "$out" --top "$top" --keep "$keep"
step "$eq" predict --out "$out" --top 10
step "$eq" report --out "$out"
step "$eq" runs --out "$out"
echo "To run equinet yourself in this shell: source .venv/bin/activate  (then: equinet --help), or call .venv/bin/equinet"
