"""TDX's native daily files, vipdoc/{sh,sz,bj}/lday/<market><code>.day: 32-byte records, one numpy read per file."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from equinet.core.findings import Finding

RECORD = np.dtype([("date", "<u4"), ("open", "<u4"), ("high", "<u4"), ("low", "<u4"), ("close", "<u4"),
                   ("amount", "<f4"), ("volume", "<u4"), ("reserved", "<u4")])
EXCHANGES = ("sh", "sz", "bj")
NAME = re.compile(r"^(sh|sz|bj)(\d{6})\.day$", re.IGNORECASE)
def lday_files(vipdoc: Path) -> list[Path]:
    """Every <exchange><code>.day file under vipdoc/{sh,sz,bj}/lday, sorted by name."""
    return sorted(p for ex in EXCHANGES for p in (vipdoc / ex / "lday").glob("*.day") if NAME.match(p.name))


def read_day(path: Path, name: str, unit: float) -> tuple[dict[str, np.ndarray] | None, list[Finding]]:
    """One file's bars as arrays (date as datetime64[D], prices in yuan, volume, amount), or the finding that
    stops it: a size that is not whole records, or an impossible date (named by record number)."""
    size = path.stat().st_size
    if size % RECORD.itemsize:
        return None, [Finding("error", name, f"the file is {size} bytes, not a whole number of "
                              f"{RECORD.itemsize}-byte records (truncated or not a .day file)",
                              row=size // RECORD.itemsize + 1)]
    rec = np.fromfile(path, dtype=RECORD)
    if not len(rec):
        return None, [Finding("error", name, "the file has no records")]
    ymd = rec["date"].astype(np.int64)
    y, m, d = ymd // 10000, ymd // 100 % 100, ymd % 100
    ok = (y >= 1970) & (y <= 2200) & (m >= 1) & (m <= 12) & (d >= 1) & (d <= 31)
    month = np.where(ok, (y - 1970) * 12 + m - 1, 0).astype("datetime64[M]")
    date = month.astype("datetime64[D]") + np.where(ok, d - 1, 0)
    ok &= date.astype("datetime64[M]") == month  # 20230230 would roll into March: impossible
    if not ok.all():
        first = int(np.argmin(ok))
        return None, [Finding("error", name, f"impossible date {int(ymd[first])} (YYYYMMDD)", row=first + 1,
                              column="date", count=int((~ok).sum()))]
    bars = {"date": date, "volume": rec["volume"].astype(np.float64), "amount": rec["amount"].astype(np.float64)}
    for field in ("open", "high", "low", "close"):
        bars[field] = np.round(rec[field] * unit, 4)
    return bars, []


def write_day(path: Path, bars: dict[str, np.ndarray], unit: float) -> None:
    """The inverse of read_day, for synthetic TDX trees: prices rounded to the file's unit."""
    rec = np.zeros(len(bars["date"]), dtype=RECORD)
    rec["date"] = np.char.replace(np.datetime_as_string(bars["date"], unit="D"), "-", "").astype(np.uint32)
    for field in ("open", "high", "low", "close"):
        rec[field] = np.round(np.asarray(bars[field]) / unit).astype(np.uint32)
    rec["amount"], rec["volume"] = bars["amount"], bars["volume"]
    path.parent.mkdir(parents=True, exist_ok=True)
    rec.tofile(path)
