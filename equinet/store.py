"""The aligned store on disk: written whole into a temporary directory, then swapped in by rename."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

FORMAT_VERSION = 1
FEATURES = [
    {"name": "open", "unit": "CNY, back-adjusted"},
    {"name": "high", "unit": "CNY, back-adjusted"},
    {"name": "low", "unit": "CNY, back-adjusted"},
    {"name": "close", "unit": "CNY, back-adjusted"},
    {"name": "volume", "unit": "shares, scaled inversely to the price adjustment"},
]
MARKET_FEATURES = [
    {"name": "market_volume", "unit": "whole-market volume, as exported"},
    {"name": "market_change", "unit": "index change that day, fraction (-0.0084 = -0.84 %)"},
    {"name": "market_range", "unit": "index intraday range, index points"},
]


@dataclass
class Store:
    """A store opened read-only: memory-mapped arrays plus its meta.json."""

    path: Path
    panel: np.ndarray  # float32 [stocks, days, 5]: open, high, low, close, volume; NaN = no bar
    market: np.ndarray  # float32 [days, 3]: market volume, change, range; NaN = unknown
    close: np.ndarray  # float64 [stocks, days]: adjusted close at full precision, for labels
    meta: dict

    @property
    def codes(self) -> list[str]:
        return self.meta["codes"]

    @property
    def dates(self) -> np.ndarray:
        return np.array(self.meta["dates"], dtype="datetime64[D]")


def read_meta(path: Path) -> dict | None:
    """The store's meta.json, or None when there is no store at path."""
    file = Path(path) / "meta.json"
    return json.loads(file.read_text(encoding="utf-8")) if file.is_file() else None


def open_store(path: str | Path) -> Store:
    """Memory-map a store written by ingest."""
    path = Path(path)
    meta = read_meta(path)
    if meta is None:
        raise FileNotFoundError(f"{path}: no EquiNet store here (no meta.json); run `equinet ingest` first")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{path}: store format {meta.get('format_version')} is not {FORMAT_VERSION}; re-ingest")
    load = lambda name: np.load(path / name, mmap_mode="r")  # noqa: E731
    return Store(path, load("panel.npy"), load("market.npy"), load("close.npy"), meta)


def _siblings(out: Path, kind: str) -> list[Path]:
    return sorted(out.parent.glob(f".{out.name}.{kind}-*"))


def recover(out: Path) -> None:
    """Undo a swap interrupted between its two renames, and drop leftovers of killed builds."""
    old = _siblings(out, "old")
    if old and not out.exists():
        os.rename(old[-1], out)
        old = old[:-1]
    for leftover in old + _siblings(out, "tmp"):
        shutil.rmtree(leftover, ignore_errors=True)


def check_target(out: Path) -> None:
    """Refuse to replace a directory that holds something other than a store."""
    if out.exists() and any(out.iterdir()) and read_meta(out) is None:
        raise FileExistsError(f"{out}: exists and is not an EquiNet store; choose another --out")


def write_store(out: Path, panel: np.ndarray, market: np.ndarray, bars: pl.DataFrame, meta: dict) -> None:
    """Build every file in a temporary sibling directory, then rename it over out."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    recover(out)
    check_target(out)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        np.save(tmp / "panel.npy", panel.astype(np.float32))
        np.save(tmp / "market.npy", market.astype(np.float32))
        np.save(tmp / "close.npy", panel[:, :, 3].astype(np.float64))
        bars.write_parquet(tmp / "bars.parquet")
        (tmp / "meta.json").write_text(json.dumps(meta, ensure_ascii=False, indent=1), encoding="utf-8")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    if out.exists():
        os.rename(out, old)
    os.rename(tmp, out)
    shutil.rmtree(old, ignore_errors=True)
