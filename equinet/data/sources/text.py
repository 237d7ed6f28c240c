"""TDX text exports (盘后数据导出 / 批量导出, e.g. SH#600519.txt): a title line, a header, rows and a footer."""

from __future__ import annotations

import io
import re
from pathlib import Path

import polars as pl

from equinet.core.findings import Finding
from equinet.data.sources.rows import FOOTER_PREFIX, MAX_FILE_BYTES, TIME_OF_DAY, decode, drop_blank_rows, read_bytes

NAME = re.compile(r"^(SH|SZ|BJ)#(\d{6})\.txt(?:\.gz)?$", re.IGNORECASE)  # plain or gzip-compressed
HEADER = {"日期": "time", "开盘": "start", "最高": "max", "最低": "min", "收盘": "end", "成交量": "volume",
          "成交额": "amount"}
ADJUSTMENTS = {"不复权": "none", "前复权": "front", "后复权": "back"}
DATE_PATTERNS = (r"^\d{4}/\d{1,2}/\d{1,2}$", r"^\d{4}-\d{1,2}-\d{1,2}$", r"^\d{8}$")  # year first


def exchange_code(path: Path) -> tuple[str, str] | None:
    """('sh', '600519') from SH#600519.txt; None for any other name."""
    m = NAME.match(path.name)
    return (m.group(1).lower(), m.group(2)) if m else None


def _year_first(date: str) -> bool:
    """The date is YYYY/MM/DD, YYYY-MM-DD or YYYYMMDD; any other order (01/02/2024) cannot be told apart."""
    day = re.sub(TIME_OF_DAY, "", date.strip())
    return any(re.match(pattern, day) for pattern in DATE_PATTERNS)


def read_text(path: Path, name: str) -> tuple[pl.DataFrame | None, list[Finding], dict]:
    """One export's rows in the ingest layout (text cells, header mapped), its findings, and what its title line
    declares (code, name, period, adjustment)."""
    if path.stat().st_size > MAX_FILE_BYTES:
        return None, [Finding("error", name, f"the file is over {MAX_FILE_BYTES // 2**20} MiB")], {}
    try:
        lines = decode(read_bytes(path)).splitlines()
    except (OSError, ValueError) as exc:
        return None, [Finding("error", name, getattr(exc, "strerror", None) or str(exc))], {}
    while lines and not lines[-1].strip():
        lines.pop()
    if len(lines) < 2:
        return None, [Finding("error", name, "not a TDX text export: no title and header lines", row=1)], {}
    title = lines[0].split()
    declared = {"code": title[0] if title else "", "name": " ".join(title[1:-2]),
                "period": title[-2] if len(title) >= 3 else "", "adjustment": ADJUSTMENTS.get(title[-1], "unknown")
                if title else "unknown"}
    findings = []
    if lines[-1].strip().lstrip("#").strip().startswith(FOOTER_PREFIX):
        findings.append(Finding("note", name, f"footer line {lines[-1].strip()!r} ignored", row=len(lines)))
        lines = lines[:-1]
    separator = "\t" if "\t" in lines[1] else ","
    header = [cell.strip() for cell in lines[1].split(separator)]
    missing = [h for h in HEADER if h not in header]
    if missing:
        return None, [Finding("error", name, "missing column(s) in the header line", row=2,
                              column=", ".join(missing))], declared
    if len(lines) == 2:
        return None, findings + [Finding("error", name, "the file has no data rows")], declared
    raw = pl.read_csv(io.StringIO("\n".join(lines[1:])), separator=separator, infer_schema=False,
                      truncate_ragged_lines=True)
    raw = raw.rename({c: c.strip() for c in raw.columns}).rename(HEADER).select(list(HEADER.values()))
    raw, blank = drop_blank_rows(raw.with_columns(pl.all().str.strip_chars()), name, first_row=3)
    findings += blank
    if raw.height == 0:
        return None, findings + [Finding("error", name, "the file has no data rows")], declared
    first = raw["time"][0] or ""
    if not _year_first(first):
        return None, findings + [Finding("error", name, f"date {first!r} is not YYYY/MM/DD, YYYY-MM-DD or "
                                         "YYYYMMDD (a day/month order cannot be told apart)", row=3,
                                         column="日期")], declared
    return raw, findings, declared
