"""Per-stock CSV files as data vendors and libraries write them — the archive layout of ../a-share-market (邢不行),
akshare `stock_zh_a_hist`, tushare `daily`, baostock `query_history_k_data_plus` — read through one mapping table
into the common row layout, with the previous close, the float value and the stock's name where a layout has them."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import polars as pl

from equinet.core import board
from equinet.core.findings import Finding
from equinet.data.sources.rows import decode, head_lines, is_utf8, read_bytes

# the layout's column -> (the file's header, unit factor to the layout's unit); per vendor, in the order tried.
# change (close minus the exchange's previous close, CNY) and pct (the same in percent) give the previous close where
# a layout has no column for it; traded (0: suspended that day) and isst (1: special treatment) are baostock's.
MAPPING: dict[str, dict[str, tuple[str, float]]] = {
    "vendor archive (邢不行)": {"time": ("交易日期", 1), "code": ("股票代码", 1), "name": ("股票名称", 1),
                                "start": ("开盘价", 1), "max": ("最高价", 1), "min": ("最低价", 1), "end": ("收盘价", 1),
                                "preclose": ("前收盘价", 1), "volume": ("成交量", 1), "amount": ("成交额", 1),
                                "floatvalue": ("流通市值", 1)},
    "akshare stock_zh_a_hist": {"time": ("日期", 1), "code": ("股票代码", 1), "start": ("开盘", 1), "max": ("最高", 1),
                                "min": ("最低", 1), "end": ("收盘", 1), "volume": ("成交量", 100),  # lots of 100
                                "amount": ("成交额", 1), "change": ("涨跌额", 1), "pct": ("涨跌幅", 1)},
    "tushare daily": {"time": ("trade_date", 1), "code": ("ts_code", 1), "start": ("open", 1), "max": ("high", 1),
                      "min": ("low", 1), "end": ("close", 1), "preclose": ("pre_close", 1), "change": ("change", 1),
                      "pct": ("pct_chg", 1), "volume": ("vol", 100), "amount": ("amount", 1000)},  # lots, 1,000 CNY
    "baostock query_history_k_data_plus": {"time": ("date", 1), "code": ("code", 1), "start": ("open", 1),
                                           "max": ("high", 1), "min": ("low", 1), "end": ("close", 1),
                                           "preclose": ("preclose", 1), "volume": ("volume", 1),
                                           "amount": ("amount", 1), "pct": ("pctChg", 1),
                                           "traded": ("tradestatus", 1), "isst": ("isST", 1)},
}
REQUIRED = ("time", "start", "max", "min", "end", "volume")
COLUMNS = ("start", "max", "min", "end", "volume", "preclose", "floatvalue", "isst")  # numeric, as parse reads them
SUFFIXES = (".csv", ".csv.gz")
PRECLOSE = {"preclose": "the file's previous close", "change": "close - the file's change (涨跌额)",
            "pct": "close / (1 + the file's change in %), rounded to the fen"}  # the first the layout has is used
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
    """A .csv or .csv.gz whose header (line 1 or 2, in the file's encoding) is one of MAPPING's layouts."""
    if not path.name.lower().endswith(SUFFIXES) or path.name.startswith(("~$", ".")):
        return False
    try:
        lines = head_lines(read_bytes(path, PEEK))
    except OSError:
        return path.name.lower().endswith(".csv.gz")  # a damaged .gz: read (and refused by name) as a vendor file
    return _header(lines) is not None


@dataclass
class _Loaded:
    """A file's bytes (UTF-8) and its recognised header: what the one-parse fast path needs."""

    data: bytes
    at: int  # index of the header line
    vendor: str
    header: list[str]  # its cells, stripped
    body: int  # offset of the first data line
    rows: int  # its lines after the header (a last line without a line break counted), found while unpacking
    first: list[str]  # the cells of its first data line (the stock's code is read from them)


def _load(path: Path, name: str) -> _Loaded | list[Finding]:
    """The file unpacked, in UTF-8 whatever it was written in (GBK as Excel saves it, UTF-16), and its header
    found; or the finding that it cannot be read."""
    try:
        data = read_bytes(path)
        lines = head_lines(data[:PEEK])
        if not is_utf8(data[:PEEK]):
            data = decode(data).encode()
    except (OSError, ValueError) as exc:
        return [Finding("error", name, f"cannot read the file: {getattr(exc, 'strerror', None) or exc}")]
    found = _header(lines)
    if found is None:
        return [Finding("error", name, "no header of a known vendor layout in line 1 or 2", row=1)]
    at, vendor = found
    body = 0
    for _ in range(at + 1):
        body = data.find(b"\n", body) + 1 or len(data)
    rows = data.count(b"\n", body) + (not data.endswith(b"\n") and len(data) > body)
    end = data.find(b"\n", body)
    first = data[body:end if end >= 0 else len(data)].decode(errors="replace").split(",")
    return _Loaded(data, at, vendor, [c.strip().strip('"') for c in lines[at].split(",")], body, rows,
                   [c.strip().strip('"') for c in first])


NUMBERS = (*COLUMNS, "change", "pct", "traded")  # the columns read as numbers
UNUSED = ("code", "amount")  # not parsed: the code is read from a file's first line, the amount is not stored
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _typed(g: _Loaded) -> dict[str, pl.DataType]:
    """The columns of a file's header read typed while parsed: numbers, and ISO dates where its first row has one
    (as text only if a cell does not parse)."""
    mapping = MAPPING[g.vendor]
    day = g.first[g.header.index(mapping["time"][0])] if len(g.first) == len(g.header) else ""
    return {h: pl.Float64 for k, (h, _) in mapping.items() if k in NUMBERS and h in g.header} | (
        {mapping["time"][0]: pl.Date} if ISO_DATE.match(day) else {})


def _parse_many(group: list[_Loaded]) -> tuple[pl.DataFrame, np.ndarray] | None:
    """One CSV parse of many files of one header, with each file's row count; None where the rows cannot be told
    apart (a quoted line break, a ragged header): those files are parsed one by one."""
    header = group[0].header
    if len(set(header)) < len(header):
        return None
    ends = [b"" if g.data.endswith(b"\n") or len(g.data) == g.body else b"\n" for g in group]
    counts = np.array([g.rows for g in group])
    blob = b"".join(part for g, end in zip(group, ends) for part in (memoryview(g.data)[g.body:], end))  # no copies
    unused = {MAPPING[group[0].vendor][k][0] for k in UNUSED if k in MAPPING[group[0].vendor]}
    wanted = [i for i, h in enumerate(header) if h not in unused]
    for schema in (_typed(group[0]), {}):
        try:
            raw = pl.read_csv(blob, has_header=False, new_columns=header, columns=wanted,
                              schema_overrides=schema or None, infer_schema=False, truncate_ragged_lines=True)
        except (pl.exceptions.ComputeError, pl.exceptions.SchemaError):
            continue
        return (raw, counts) if raw.height == counts.sum() else None
    return None


def _parse_one(g: _Loaded) -> pl.DataFrame:
    """One file's rows by its own header."""
    return pl.read_csv(g.data, skip_rows=g.at, infer_schema=False, truncate_ragged_lines=True)


def _preclose(present: dict[str, str]) -> tuple[str | None, pl.Expr]:
    """Where the previous close comes from (a PRECLOSE key, None: nowhere) and the expression that gives it."""
    number = lambda k: pl.col(present[k]).cast(pl.Float64, strict=False)  # noqa: E731
    if "preclose" in present:
        return "preclose", number("preclose")
    if "change" in present:  # both in fen: the difference rounded off float noise (3 places keep a fund's 0.001)
        return "change", (number("end") - number("change")).round(3)
    if "pct" in present:  # the exchange's previous close is in fen
        return "pct", (number("end") / (1 + number("pct") / 100)).round(2)
    return None, pl.lit(None, pl.Float64)


def _layout(raw: pl.DataFrame, vendor: str, rows: np.ndarray) -> tuple[pl.DataFrame, str | None]:
    """The layout's columns of a parsed frame, each row's line in its file, whether the row lacks a date and
    whether it traded; and where its previous close came from."""
    by_header = {c.strip(): c for c in raw.columns}
    present = {k: by_header[h] for k, (h, _) in MAPPING[vendor].items() if h in by_header}
    source, preclose = _preclose(present)
    plain = [k for k in ("time", *COLUMNS, "name") if k != "preclose"]
    time = pl.col(present["time"])
    return raw.lazy().select(
        *[pl.col(present[k]).alias(k) for k in plain if k in present],
        *[pl.lit(None, pl.String).alias(k) for k in plain if k not in present],
        preclose.alias("preclose"),
        pl.Series("row", rows, dtype=pl.Int32),
        (time.is_null() if raw.schema[present["time"]] == pl.Date else
         time.cast(pl.String).str.strip_chars().fill_null("") == "").alias("no_date"),
        (pl.col(present["traded"]).cast(pl.Float64, strict=False) != 0).fill_null(True).alias("traded")
        if "traded" in present else pl.lit(True).alias("traded"),
    ).collect(), source  # one pass over the rows


def _declared(vendor: str, source: str | None) -> dict:
    """What every file of a layout declares: the vendor, its units, its columns' names, where its previous close
    comes from."""
    units = MAPPING[vendor]
    return {"vendor": vendor, "units": {k: units[k][1] for k in ("volume",) if units[k][1] != 1},
            "labels": {k: h for k, (h, _) in units.items()}, "preclose": source}


def _finish(frame: pl.DataFrame, vendor: str, name: str, code: str | None, empty: bool, idle: bool, declared: dict
            ) -> tuple[pl.DataFrame | None, list[Finding], dict]:
    """One file's rows without its empty and its untraded ones, its findings, and what it declares (declared, with
    the exchange and code of its code column); empty, idle: whether a row lacks its date, whether one did not
    trade (only then are those rows looked for)."""
    findings = []
    if empty:  # an empty row has no date: only then are all its cells looked at
        blank = frame["no_date"] & frame.select(pl.all_horizontal(
            pl.col(c).is_null() | (pl.col(c).cast(pl.String).str.strip_chars() == "") for c in COLUMNS)).to_series()
        if blank.any():
            rows = frame["row"].filter(blank)
            findings.append(Finding("note", name, "empty row left out", row=int(rows[0]), count=len(rows)))
            frame = frame.filter(~blank)
    if idle:
        rows = frame["row"].filter(~frame["traded"])
        findings.append(Finding("note", name, "suspended day (the source's trading status 0) left out: no bar",
                                row=int(rows[0]), column=MAPPING[vendor]["traded"][0], count=len(rows)))
        frame = frame.filter(frame["traded"])
    if frame.height == 0:
        return None, findings + [Finding("error", name, "the file has no data rows")], {"vendor": vendor}
    if code:
        try:
            declared = {**declared, **dict(zip(("exchange", "code"), board.split_code(code)))}
        except ValueError:
            pass
    return frame, findings, declared


def _split(raw: pl.DataFrame, files: list[_Loaded], counts: np.ndarray, vendor: str, names: list[str]
           ) -> list[tuple]:
    """The files' rows of one parse (counts: each file's rows, in order), in the layout and each finished: every
    row numbered by its line in its file, cut where each file's rows start; the first rows, the rows without a
    date and the untraded ones found for all files at once."""
    starts = np.cumsum(counts) - counts
    lines = np.arange(counts.sum()) - np.repeat(starts, counts) + np.repeat([g.at + 2 for g in files], counts)
    frame, source = _layout(raw, vendor, lines)
    column = MAPPING[vendor]["code"][0]
    code = [g.first[g.header.index(column)] if column in g.header and len(g.first) == len(g.header) else None
            for g in files]
    file_of = np.repeat(np.arange(len(counts)), counts)
    empty, idle = (np.bincount(file_of[~frame[c].to_numpy() if c == "traded" else frame[c].to_numpy()],
                               minlength=len(counts)) > 0 for c in ("no_date", "traded"))
    frame = frame.drop(*(() if empty.any() else ("no_date",)), *(() if empty.any() or idle.any() else ("traded",)))
    declared = _declared(vendor, source)
    return [_finish(frame.slice(s, n), vendor, name, c if n else None, e, i, declared)
            for s, n, name, c, e, i in zip(starts.tolist(), counts.tolist(), names, code, empty.tolist(),
                                           idle.tolist())]


def _read_group(loaded: list[_Loaded], vendor: str, names: list[str]) -> list[tuple]:
    """Files of one header in the common layout: one parse for all of them, else one by one."""
    parsed = _parse_many(loaded)
    if parsed is None:
        return [_split(raw, [g], np.array([raw.height]), vendor, [name])[0]
                for g, name in zip(loaded, names) for raw in (_parse_one(g),)]
    raw, counts = parsed
    return _split(raw, loaded, counts, vendor, names)


BATCH = 512  # files parsed together: the next batch unpacks on the pool while this one parses


def read_vendors(paths: list[Path], names: list[str], map_: Callable = map
                 ) -> list[tuple[pl.DataFrame | None, list[Finding], dict]]:
    """Many vendor files in the common layout (volumes in shares, amounts in CNY): unpacked in parallel (map_: a
    thread pool's map), and every BATCH files of one header parsed in one CSV parse while the next ones unpack."""
    out: list = [None] * len(paths)
    groups: dict[tuple, list[int]] = {}
    loaded: dict[int, _Loaded] = {}

    def parse(key: tuple, members: list[int]) -> None:
        for i, read in zip(members, _read_group([loaded.pop(i) for i in members], key[0], [names[i] for i in members])):
            out[i] = read

    for i, g in enumerate(map_(_load, paths, names)):
        if not isinstance(g, _Loaded):
            out[i] = (None, g, {})
            continue
        loaded[i] = g
        members = groups.setdefault((g.vendor, tuple(g.header)), [])
        members.append(i)
        if len(members) == BATCH:
            parse((g.vendor, tuple(g.header)), members)
            groups[(g.vendor, tuple(g.header))] = []
    for key, members in groups.items():
        if members:
            parse(key, members)
    return out
