"""What the training and eval benchmarks share: their common options and a store to run on."""

from __future__ import annotations

import argparse
from pathlib import Path

from equinet import ingest, synth

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "a-share-319"


def parser(doc: str) -> argparse.ArgumentParser:
    """--data, --device and --json, which every model benchmark takes."""
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of TDX exports")
    p.add_argument("--device", default="auto")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    return p


def store_from(data: Path, tmp: Path) -> Path:
    """Ingest the shared data, or (saying so) 300 synthetic stocks when it is absent."""
    if not data.is_dir():
        print(f"{data} not found: benchmarking on 300 synthetic stocks x 320 days instead")
        data = synth(tmp / "raw", stocks=300, days=320)[0].parent
    ingest(data, tmp / "store")
    return tmp / "store"
