#!/usr/bin/env bash
# Install (if needed), then ingest data/raw; with no files there, a demo on generated data in data/demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
eq=.venv/bin/equinet
if ls data/raw/*.xlsx data/raw/*.csv >/dev/null 2>&1; then
  raw=data/raw store=data/parquet
else
  echo "data/raw has no .xlsx/.csv files: running the demo on generated data in data/demo"
  raw=data/demo/raw store=data/demo/parquet
  $eq synth "$raw" --stocks 40 --days 400 --seed 0
fi
$eq ingest "$raw" --out "$store"
$eq info "$store"
