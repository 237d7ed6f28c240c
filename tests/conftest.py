"""Shared fixtures: synthetic TDX files written to disk, and a way to run the real CLI."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from equinet import ingest
from equinet.data.synth import frame, simulate, write
from equinet.cli.commands import app

os.environ.setdefault("EQUINET_CACHE", tempfile.mkdtemp(prefix="equinet-cache-"))  # never the user's own cache
ROOT = Path(__file__).resolve().parents[1]  # the checkout: tests/ sits in it, a folder per layer below
SHARED_DATA = ROOT.parent / "shared" / "data"  # the real data, beside the checkout (absent: its tests skip)
SHARED = SHARED_DATA / "a-share-319"
# A model small enough to train a few epochs in a second: TrainConfig fields, or CLI options via TINY_CLI.
TINY = dict(d_model=16, layers=1, heads=2, samples_per_epoch=256, stocks_per_day=6, min_context=20, max_context=40,
            context=30, precision="fp32")
TINY_CLI = [arg for k, v in TINY.items() for arg in (f"--{k.replace('_', '-')}", str(v))]


@pytest.fixture(scope="session")
def sim() -> dict:
    """Six stocks, 80 days: stock 0 has the ex-rights day, some stock a suspension."""
    return simulate(stocks=6, days=80, seed=7)


def write_sim(sim: dict, folder: Path, fmt: str = "xlsx") -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for s, code in enumerate(sim["codes"]):
        path = folder / f"processed_{code}.{fmt}"
        write(frame(sim, s), path)
        paths.append(path)
    return paths


def synthetic_store(root: Path, stocks: int, days: int, seed: int) -> Path:
    """Generated exports in root/raw, ingested into root/store (returned)."""
    write_sim(simulate(stocks=stocks, days=days, seed=seed), root / "raw")
    ingest(root / "raw", root / "store")
    return root / "store"


@pytest.fixture
def raw(tmp_path: Path, sim: dict) -> Path:
    write_sim(sim, tmp_path / "raw")
    return tmp_path / "raw"


def run_cli(*args: str):
    """The real Typer app, in process."""
    return CliRunner().invoke(app, [str(a) for a in args])


def snapshot(folder: Path) -> dict[str, str]:
    """Every file below folder by content hash: equal snapshots mean byte-identical trees."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def read_frame(path: Path) -> pl.DataFrame:
    return pl.read_excel(path, engine="calamine") if path.suffix == ".xlsx" else pl.read_csv(path)
