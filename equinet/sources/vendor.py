"""Per-stock CSV files as data vendors and libraries write them — the archive layout of ../a-share-market (邢不行),
akshare `stock_zh_a_hist`, tushare `daily`, baostock `query_history_k_data_plus` — read through one mapping table
into the common row layout, with the previous close, the float value and the stock's name where a layout has them."""

from __future__ import annotations

import io
from pathlib import Path

import polars as pl

from equinet import board
from equinet.findings import Finding
from equinet.sources.rows import decode, read_bytes

# the layout's column -> (the file's header, unit factor to the layout's unit); per vendor, in the order tried
MAPPING: dict[str, dict[str, tuple[str, float]]] = {
    "vendor archive (邢不行)": {"time": ("交易日期", 1), "code": ("股票代码", 1), "name": ("股票名称", 1),
                                "start": ("开盘价", 1), "max": ("最高价", 1), "min": ("最低价", 1), "end": ("收盘价", 1),
                                "preclose": ("前收盘价", 1), "volume": ("成交量", 1), "amount": ("成交额", 1),
                                "floatvalue": ("流通市值", 1)},
    "akshare stock_zh_a_hist": {"time": ("日期", 1), "code": ("股票代码", 1), "start": ("开盘", 1), "max": ("最高", 1),
                                "min": ("最低", 1), "end": ("收盘", 1), "volume": ("成交量", 100),  # lots of 100
                                "amount": ("成交额", 1)},
    "tushare daily": {"time": ("trade_date", 1), "code": ("ts_code", 1), "start": ("open", 1), "max": ("high", 1),
                      "min": ("low", 1), "end": ("close", 1), "preclose": ("pre_close", 1),
                      "volume": ("vol", 100), "amount": ("amount", 1000)},  # vol in lots, amount in thousand CNY
    "baostock query_history_k_data_plus": {"time": ("date", 1), "code": ("code", 1), "start": ("open", 1),
                                           "max": ("high", 1), "min": ("low", 1), "end": ("close", 1),
                                           "preclose": ("preclose", 1), "volume": ("volume", 1),
                                           "amount": ("amount", 1)},
}
REQUIRED = ("time", "start", "max", "min", "end", "volume")
COLUMNS = ("start", "max", "min", "end", "volume", "preclose", "floatvalue")  # numeric, as parse reads them
SUFFIXES = (".csv", ".csv.gz")
PEEK = 4096  # bytes read to recognise a header


def _header(lines: list[str]) -> tuple[int, str] | None:
    """(index of the header line, the vendor) among the first lines: a note line may stand before the header."""
    for i, line in enumerate(lines[:2]):
        cells = {c.strip().strip('"') for c in line.split(",")}
        for vendor, columns in MAPPING.items():
            if all(columns[k][0] in cells for k in REQUIRED):
                return i, vendor
    return None


def is_vendor_file(path: Path) -> bool:
    """A .csv or .csv.gz whose header (line 1 or 2) is one of MAPPING's layouts."""
    if not path.name.lower().endswith(SUFFIXES) or path.name.startswith(("~$", ".")):
        return False
    try:
        text = read_bytes(path, PEEK).decode("utf-8", errors="replace")
    except OSError:
        return path.name.lower().endswith(".csv.gz")  # a damaged .gz: read (and refused by name) as a vendor file
    return _header(text.splitlines()) is not None


def read_vendor(path: Path, name: str) -> tuple[pl.DataFrame | None, list[Finding], dict]:
    """One vendor file's rows in the common layout (volumes in shares, amounts in CNY), its findings, and what it
    declares: the vendor, the exchange and code of its code column, the stock's latest name."""
    try:
        data = read_bytes(path)
        head = data[:PEEK]
        found = _header(decode(head[:head.rfind(b"\n") + 1] or head).splitlines())  # whole lines only
    except (OSError, ValueError) as exc:
        return None, [Finding("error", name, f"cannot read the file: {getattr(exc, 'strerror', None) or exc}")], {}
    if found is None:
        return None, [Finding("error", name, "no header of a known vendor layout in line 1 or 2", row=1)], {}
    at, vendor = found
    columns = MAPPING[vendor]
    try:  # UTF-8 (as the vendors write it) goes to the CSV reader as bytes; GBK is decoded first
        raw = pl.read_csv(data, skip_rows=at, infer_schema=False, truncate_ragged_lines=True)
    except pl.exceptions.ComputeError:
        raw = pl.read_csv(io.StringIO(decode(data)), skip_rows=at, infer_schema=False, truncate_ragged_lines=True)
    by_header = {c.strip(): c for c in raw.columns}
    present = {k: by_header[h] for k, (h, _) in columns.items() if h in by_header}
    cells = [pl.col(present[k]).alias(k) for k in ("time", *COLUMNS, "name") if k in present]
    frame = raw.lazy().select(*cells, *[pl.lit(None, pl.String).alias(k) for k in (*COLUMNS, "name")
                                        if k not in present],
                              pl.int_range(at + 2, at + 2 + pl.len(), dtype=pl.Int32).alias("row"),
                              (pl.col(present["time"]).str.strip_chars().fill_null("") == "").alias("no_date")
                              ).collect()  # one pass over the file's rows
    findings = []
    no_date = frame["no_date"]
    if no_date.any():  # an empty row has no date: only then are all its cells looked at
        blank = no_date & frame.select(pl.all_horizontal(pl.col(c).is_null() | (pl.col(c).cast(pl.String)
                                                         .str.strip_chars() == "") for c in COLUMNS)).to_series()
        if blank.any():
            rows = frame["row"].filter(blank)
            findings.append(Finding("note", name, "empty row left out", row=int(rows[0]), count=len(rows)))
            frame = frame.filter(~blank)
    if frame.height == 0:
        return None, findings + [Finding("error", name, "the file has no data rows")], {"vendor": vendor}
    declared = {"vendor": vendor, "units": {k: columns[k][1] for k in ("volume",) if columns[k][1] != 1}}
    first = raw[present["code"]][0] if "code" in present else None
    if first:
        try:
            declared["exchange"], declared["code"] = board.split_code(str(first))
        except ValueError:
            pass
    if "name" in present:
        declared["name"] = raw[present["name"]][-1]
    return frame, findings, declared
