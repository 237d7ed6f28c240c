#!/usr/bin/env bash
# Install (if needed), ingest, train, evaluate and predict. With no files in data/raw, all of it runs on
# generated data in data/demo with a short training; with your files there, on them with the defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
eq=.venv/bin/equinet
if ls data/raw/*.xlsx data/raw/*.csv >/dev/null 2>&1; then
  raw=data/raw store=data/parquet out=out train=(--epochs 50 --d-model 128)
else
  echo "data/raw has no .xlsx/.csv files: running the demo on generated data in data/demo"
  raw=data/demo/raw store=data/demo/parquet out=data/demo/out
  train=(--epochs 5 --d-model 32 --layers 2 --heads 4 --samples-per-epoch 1024)
  [ -d "$raw" ] || $eq synth "$raw" --stocks 40 --days 400 --seed 0
fi
$eq ingest "$raw" --out "$store"
$eq train --data "$store" --out "$out" "${train[@]}"
$eq eval --out "$out" --split test
$eq predict --out "$out" --top 10
