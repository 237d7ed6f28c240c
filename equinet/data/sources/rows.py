"""The common row layout every source reader produces (the export's nine columns), and the one parser that types
all files' rows at once and names every bad cell by file, row and column."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import polars as pl
from isal import isal_zlib  # zlib's interface, twice its speed at unpacking (ISA-L)

from equinet.core.findings import Finding
from equinet.data.sources import xlsx

COLUMNS = ("time", "start", "max", "min", "end", "volume", "marketvolume", "marketlimit", "marketrange")
NUMERIC = COLUMNS[1:]
DATE_FORMATS = ("%Y/%m/%d", "%Y-%m-%d", "%Y%m%d")
TIME_OF_DAY = r"(?:[ T]+\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)$"  # ' 2023/06/26 15:00:00': a daily bar's close time
FOOTER_PREFIX = "数据来源"  # TDX text exports end with a "数据来源:通达信" line
MAX_FILE_BYTES = 64 * 2**20  # what one file may cost: checked before it is read
PEEK_PACKED = 2**11  # compressed bytes read to see a .gz file's first lines


def is_compressed(path: Path) -> bool:
    return path.name.lower().endswith(".gz")


def read_bytes(path: Path, limit: int | None = None) -> bytes:
    """The file's bytes, a .gz decompressed (at most limit bytes; past MAX_FILE_BYTES unpacked is refused, as a
    zip bomb); a damaged gzip is an OSError naming why."""
    if limit is None and path.stat().st_size > MAX_FILE_BYTES:  # a zip member's size is its unpacked size
        raise OSError(f"it is {path.stat().st_size / 2**20:,.0f} MiB; ingest reads files up to "
                      f"{MAX_FILE_BYTES // 2**20} MiB (one stock's daily bars take well under 1 MiB)")
    compressed, most = is_compressed(path), (limit or MAX_FILE_BYTES + 1)
    try:
        with path.open("rb") as f:  # a file, or a member of a .zip SRC (sources.archive.Member)
            if not compressed:
                return f.read(limit) if limit else f.read()
            packed = f.read(PEEK_PACKED) if limit else f.read()  # its size is checked above
        data, unpacker = b"", None
        while packed and len(data) < most:  # one call per gzip member, off the interpreter's lock
            unpacker = isal_zlib.decompressobj(wbits=31)
            data += unpacker.decompress(packed, most - len(data))
            packed = unpacker.unused_data if unpacker.eof else b""
    except (EOFError, isal_zlib.error, zipfile.BadZipFile) as exc:
        raise OSError(f"a damaged or truncated {'gzip file' if compressed else 'file'} ({exc})") from None
    if limit is None and len(data) >= most:
        raise OSError(f"it unpacks to more than {MAX_FILE_BYTES // 2**20} MiB (one stock's daily bars take well "
                      "under 1 MiB)")
    if limit is None and (unpacker is None or not unpacker.eof):
        raise OSError("a damaged or truncated gzip file (it ends before its compressed data does)")
    return data[:most]


def decode(data: bytes) -> str:
    """Text as TDX and Excel write it: UTF-8 (with or without BOM), UTF-16 with BOM, else GBK/GB18030."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if "\0" in text:
            break
        return text
    raise ValueError("not a text file in UTF-8, UTF-16 or GBK/GB18030")


def whole_lines(head: bytes) -> bytes:
    """The first bytes of a file up to its last line break: a character cut in two at the end is not read."""
    return head[:head.rfind(b"\n") + 1] or head


def is_utf8(head: bytes) -> bool:
    """Whether a file's first bytes are UTF-8 (a BOM allowed), so that its rows parse as they are."""
    try:
        whole_lines(head).decode("utf-8")
    except UnicodeDecodeError:  # a UTF-16 BOM is not UTF-8 either
        return False
    return True


def head_lines(head: bytes) -> list[str]:
    """A file's first lines in its own encoding (decode's), for finding its header: the whole head where it decodes,
    else its whole lines (a character cut at the end), else with undecodable bytes replaced."""
    for part in (head, whole_lines(head)):
        try:
            return decode(part).splitlines()
        except ValueError:
            pass
    return whole_lines(head).decode("utf-8", errors="replace").splitlines()


def drop_blank_rows(raw: pl.DataFrame, name: str, first_row: int) -> tuple[pl.DataFrame, list[Finding]]:
    """The rows with at least one cell, each with the row number findings give it; rows that are entirely empty
    (a blank line, ',,,,', cells of spaces) are left out with a note. A partly empty row stays (and is an error)."""
    blank = raw.select(pl.all_horizontal(pl.col(c).is_null() | (pl.col(c).cast(pl.String).str.strip_chars() == "")
                                         for c in raw.columns)).to_series()
    raw = raw.with_columns(pl.Series("row", np.arange(first_row, first_row + raw.height, dtype=np.int32)))
    if not blank.any():  # the common case costs one pass
        return raw, []
    rows = raw["row"].filter(blank)
    return raw.filter(~blank), [Finding("note", name, "empty row left out", row=int(rows[0]), count=len(rows))]


def _dates(time: pl.Series) -> pl.Series:
    """Text dates (' 2023/06/26', stripped, a time of day after it dropped) or real Excel dates; anything else is
    unparsable (null). Plain dates in one format, the common case, cost one pass."""
    if time.dtype == pl.Date:
        return time
    if time.dtype == pl.Datetime:
        return time.dt.date()
    if time.dtype != pl.String:
        return pl.Series(time.name, [None] * len(time), pl.Date)
    for fmt in DATE_FORMATS:
        plain = time.str.to_date(fmt, strict=False)
        if plain.null_count() == time.null_count():
            return plain
    day = time.str.strip_chars().str.replace(TIME_OF_DAY, "")
    return pl.select(pl.coalesce([day.str.to_date(fmt, strict=False) for fmt in DATE_FORMATS])).to_series()


def _what(text: str) -> str:
    """A bad numeric cell, described as what it is."""
    if text.startswith("="):
        return f"formula {text!r} without a saved value: open and save the file in Excel (or LibreOffice)"
    if text.strip().upper() in xlsx.ERROR_VALUES:
        return f"Excel error value {text.strip()!r}, not a number"
    return f"not a number: {text!r}" if text.strip() else f"empty cell (only spaces: {text!r})"


def _cell_findings(raw: pl.DataFrame, parsed: pl.DataFrame, name: str, columns: tuple[str, ...]) -> list[Finding]:
    """The slow path, for a file with empty, non-numeric, non-finite or unparsable cells: name the first of each."""
    findings = []
    for c in ("time", *columns):
        target = "date" if c == "time" else c
        empty = raw[c].is_null()
        wrong = parsed[target].is_null() & ~empty
        masks = [(wrong, lambda text: f"unparsable date: {text!r}" if c == "time" else _what(text)),
                 (empty, lambda text: "empty cell")]
        if c != "time":
            value = parsed[target]
            masks += [(value.is_nan().fill_null(False), lambda text: f"NaN (not a number): {text!r}"),
                      (value.is_infinite().fill_null(False), lambda text: f"infinite value: {text!r}")]
        for mask, describe in masks:
            if mask.any():
                rows = parsed["row"].filter(mask)
                findings.append(Finding("error", name, describe(str(raw[c].filter(mask)[0])), row=int(rows[0]),
                                        column=c, count=len(rows)))
    return findings


def numbers(raw: pl.DataFrame, columns: tuple[str, ...]) -> pl.DataFrame:
    """Text columns cast to float64 while the file is read, as parse would cast them; the text stays only where a
    cell does not convert (parse then names it). A market of CSV files then never holds all its cells as text."""
    text = [c for c in columns if raw[c].dtype == pl.String]
    if not text:
        return raw
    typed = raw.with_columns(pl.col(c).cast(pl.Float64, strict=False) for c in text)
    converted = typed.select(pl.all_horizontal(pl.col(c).is_finite().fill_null(False).all() for c in text)).item()
    return typed if converted else raw


def parse(raws: dict[int, pl.DataFrame], names: list[str], first_row: int = 2, columns: tuple[str, ...] = NUMERIC,
          optional: tuple[str, ...] = (), texts: tuple[str, ...] = ()) -> tuple[pl.DataFrame, list[Finding]]:
    """All files' rows as file_id, row, date and the numeric fields the source has (float64), each file's rows in
    date order whatever order the file has (tushare writes the newest first), in one pass per schema; row is the
    reader's own (its "row" column), else counted from the files' first data row (Excel: 2).
    Optional fields (a previous close, a float value) may be empty: NaN, never a finding."""
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
            pl.col("row") if "row" in raw.columns else
            pl.Series("row", (np.arange(heights.sum()) - starts + first_row).astype(np.int32)),
            _dates(raw["time"]).alias("date"),
            *[pl.col(c).cast(pl.Float64, strict=False) for c in columns],
            *[pl.col(c).cast(pl.Float64, strict=False).fill_null(np.nan) for c in optional],
            *[pl.col(c).cast(pl.String) for c in texts],
        )
        bad = pl.any_horizontal(*[pl.col(c).is_null() for c in ("row", "date", *columns)],
                                *[~pl.col(c).is_finite() for c in columns])
        if parsed.select(bad.any()).item():
            for f in parsed.filter(bad)["file_id"].unique().sort():
                mine = parsed.filter(pl.col("file_id") == f)
                findings += _cell_findings(raws[f], mine, names[f], columns)
        parts.append(parsed)
    return in_order(pl.concat(parts)), findings


def in_order(bars: pl.DataFrame) -> pl.DataFrame:
    """Bars by file, each file's by date (tushare writes the newest first); sorted only where they are not."""
    step = pl.col("file_id").diff().fill_null(0)
    back = (step < 0) | ((step == 0) & (pl.col("date") < pl.col("date").shift(1)))
    return bars.sort("file_id", "date", maintain_order=True) if bars.select(back.any()).item() else bars
