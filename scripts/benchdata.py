"""What the benchmarks share: their common options, a store to run on, and how they print."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from equinet import ingest, synth

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "a-share-319"


def parser(doc: str, device: bool = True) -> argparse.ArgumentParser:
    """--data and --json, which every benchmark takes, and --device for those that run the model."""
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of TDX exports")
    if device:
        p.add_argument("--device", default="auto")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    return p


def emit(result: dict, as_json: bool, lines: list[str]) -> None:
    """The figures as one JSON object (--json), else as the lines for a reader."""
    print(json.dumps(result, indent=1) if as_json else "\n".join(lines))


def store_from(data: Path, tmp: Path) -> Path:
    """Ingest the shared data, or (saying so) 300 synthetic stocks when it is absent."""
    if not data.is_dir():
        print(f"{data} not found: benchmarking on 300 synthetic stocks x 320 days instead")
        data = synth(tmp / "raw", stocks=300, days=320)[0].parent
    ingest(data, tmp / "store")
    return tmp / "store"


def default_run(data: Path, device: str, tmp: Path):
    """The store and a fresh `equinet train` run at its defaults on it: what the model benchmarks time."""
    from equinet.training.train import TrainConfig, start

    store = store_from(data, tmp)
    return store, start(TrainConfig(data=str(store), out=str(tmp / "out"), name="bench", device=device))
