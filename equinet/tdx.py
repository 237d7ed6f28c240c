"""Reading one TDX export (.xlsx or .csv) into a typed frame, with the per-cell findings."""

from __future__ import annotations

import re
from pathlib import Path

import fastexcel
import numpy as np
import polars as pl

from equinet.findings import Finding

COLUMNS = ("time", "start", "max", "min", "end", "volume", "marketvolume", "marketlimit", "marketrange")
NUMERIC = COLUMNS[1:]
DATE_FORMATS = ("%Y/%m/%d", "%Y-%m-%d", "%Y%m%d")
FOOTER_PREFIX = "数据来源"  # TDX text exports end with a "数据来源:通达信" line
SUFFIXES = (".xlsx", ".csv")


def stock_code(path: Path) -> str:
    """The digits of the file name (processed_000008.xlsx -> 000008), else the stem."""
    digits = re.findall(r"\d+", path.stem)
    return max(digits, key=len) if digits else path.stem


def daily_limit(code: str) -> float:
    """The board's daily price limit, by code prefix."""
    if code.startswith(("300", "301", "688", "689")):
        return 0.20
    if code.startswith(("8", "4", "92")):
        return 0.30
    return 0.10


def daily_limits(codes: list[str]) -> np.ndarray:
    """daily_limit of each code [stocks, 1], ready to broadcast over days."""
    return np.array([daily_limit(c) for c in codes])[:, None]


def is_source(path: Path) -> bool:
    """A data file ingest reads (Excel's ~$ lock files are not)."""
    return path.suffix.lower() in SUFFIXES and not path.name.startswith(("~$", "."))


def _read_raw(path: Path) -> pl.DataFrame:
    if path.suffix.lower() == ".csv":
        return pl.read_csv(path, infer_schema=False)
    sheet = fastexcel.read_excel(str(path)).load_sheet(0, schema_sample_rows=None)
    return sheet.to_polars()


def _date_expr(dtype: pl.DataType) -> pl.Expr:
    """Text dates (' 2023/06/26', stripped) or real Excel dates; anything else is unparsable."""
    col = pl.col("time")
    if dtype == pl.Date:
        return col
    if dtype == pl.Datetime:
        return col.dt.date()
    if dtype == pl.String:
        return pl.coalesce([col.str.strip_chars().str.to_date(fmt, strict=False) for fmt in DATE_FORMATS])
    return pl.lit(None, pl.Date)


def _cell_findings(raw: pl.DataFrame, parsed: pl.DataFrame, name: str) -> list[Finding]:
    """The slow path, for a file with empty, non-numeric or unparsable cells: name the first of each."""
    findings = []
    for c in COLUMNS:
        target = "date" if c == "time" else c
        empty = raw[c].is_null()
        wrong = parsed[target].is_null() & ~empty
        for mask, message in ((wrong, "unparsable date" if c == "time" else "not a number"), (empty, "empty cell")):
            if mask.any():
                rows = parsed["row"].filter(mask)
                text = "" if mask is empty else f": {str(raw[c].filter(mask)[0])!r}"
                findings.append(Finding("error", name, message + text, row=int(rows[0]), column=c, count=len(rows)))
    return findings


def read_raw(path: Path, name: str) -> tuple[pl.DataFrame | None, list[Finding]]:
    """One file's nine columns as the reader typed them (header whitespace stripped, TDX footer dropped)."""
    try:
        raw = _read_raw(path)
    except Exception as exc:  # calamine/polars name the cause; we name the file
        return None, [Finding("error", name, f"cannot read the file: {exc}".splitlines()[0])]
    raw = raw.rename({c: c.strip() for c in raw.columns})
    missing = [c for c in COLUMNS if c not in raw.columns]
    if missing:
        return None, [Finding("error", name, "missing column(s) in the header", row=1, column=", ".join(missing))]
    raw = raw.select(COLUMNS)
    findings: list[Finding] = []
    if raw.height and raw["time"].dtype == pl.String:
        last = raw["time"][-1]
        if last is not None and last.strip().startswith(FOOTER_PREFIX):
            raw = raw.head(-1)
            findings.append(Finding("note", name, f"footer line {last.strip()!r} ignored", row=raw.height + 2))
    if raw.height == 0:
        return None, findings + [Finding("error", name, "the file has no data rows")]
    return raw, findings


def parse(raws: dict[int, pl.DataFrame], names: list[str]) -> tuple[pl.DataFrame, list[Finding]]:
    """All files' rows as file_id, row, date and the eight numeric fields (float64), in one pass per schema."""
    groups: dict[tuple, list[int]] = {}
    for fid, raw in raws.items():
        groups.setdefault(tuple(raw.dtypes), []).append(fid)
    parts, findings = [], []
    for dtypes, fids in groups.items():
        heights = np.array([raws[f].height for f in fids])
        starts = np.repeat(np.cumsum(heights) - heights, heights)
        raw = pl.concat([raws[f] for f in fids], rechunk=False)
        parsed = raw.select(
            pl.Series("file_id", np.repeat(np.array(fids, dtype=np.int32), heights)),
            pl.Series("row", (np.arange(heights.sum()) - starts + 2).astype(np.int32)),
            _date_expr(dtypes[0]).alias("date"),
            *[pl.col(c).cast(pl.Float64, strict=False) for c in NUMERIC],
        )
        if parsed.null_count().sum_horizontal().item():
            nulls = parsed.filter(pl.any_horizontal(pl.all().is_null()))["file_id"].unique().sort()
            for f in nulls:
                mine = parsed.filter(pl.col("file_id") == f)
                findings += _cell_findings(raws[f], mine, names[f])
        parts.append(parsed)
    return pl.concat(parts).sort("file_id", maintain_order=True), findings
