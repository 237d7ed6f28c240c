"""Reading one TDX export (.xlsx or .csv) into the common row layout, with the per-cell findings."""

from __future__ import annotations

import io
import logging
import re
from pathlib import Path

import fastexcel
import polars as pl

from equinet.core.findings import Finding
from equinet.data.sources import xlsx
from equinet.data.sources.rows import COLUMNS, DATE_FORMATS, FOOTER_PREFIX, MAX_FILE_BYTES, NUMERIC, decode, \
    drop_blank_rows, numbers, read_bytes

SUFFIXES = (".xlsx", ".csv", ".csv.gz")
logging.getLogger("fastexcel").setLevel(logging.ERROR)  # its dtype guesses are not the user's business: we name cells


def stock_code(path: Path) -> str:
    """The digits of the file name (processed_000008.xlsx -> 000008), else the stem."""
    digits = re.findall(r"\d+", path.stem)
    return max(digits, key=len) if digits else path.stem


def is_source(path: Path) -> bool:
    """A data file ingest reads (Excel's ~$ lock files are not)."""
    return path.name.lower().endswith(SUFFIXES) and not path.name.startswith(("~$", "."))


def screen(path: Path) -> str | None:
    """Why a file cannot be an export, judged before it is read whole (size, then the format's own signs)."""
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        return (f"the file is {size / 2**20:,.0f} MiB; ingest reads files up to {MAX_FILE_BYTES // 2**20} MiB "
                "(one stock's daily bars take well under 1 MiB)")
    return xlsx.screen(path) if path.suffix.lower() == ".xlsx" else None


def _sheet_index(reader: fastexcel.ExcelReader) -> tuple[int, list[Finding]]:
    """The first sheet whose header has every export column (sheet 1 when none has: its header is reported)."""
    for i, sheet_name in enumerate(reader.sheet_names):
        header = reader.load_sheet(i, n_rows=0).to_polars().columns
        if all(c in {h.strip() for h in header} for c in COLUMNS):
            notes = [] if i == 0 else [f"read sheet {sheet_name!r}: the export columns are not on the first sheet"]
            return i, notes
    return 0, []


def _read_xlsx(path: Path) -> tuple[pl.DataFrame, list[str]]:
    """The export's sheet, typed; where the typed read left a cell empty, the text it could not use, the Excel
    error or the formula with no saved value. Notes say which sheet was read when it is not the first."""
    reader = fastexcel.read_excel(str(path))
    index, notes = _sheet_index(reader) if len(reader.sheet_names) > 1 else (0, [])
    sheet = reader.load_sheet(index, schema_sample_rows=None)
    frame = sheet.to_polars()
    holed = [c for c in frame.columns if frame[c].null_count()]
    if not holed:
        return frame, notes
    text = reader.load_sheet(index, dtypes="string").to_polars()  # the slow path: files with empty-looking cells
    unread = xlsx.unread_cells(path, index)
    at = {info.name: info.absolute_index for info in sheet.available_columns()}
    for c in holed:
        col = frame[c]
        values = (col.dt.strftime(DATE_FORMATS[0]) if col.dtype.is_temporal() else col.cast(pl.String))
        values = values.fill_null(text[c]).to_list()
        for (row, column), value in unread.items():
            if column == at[c] and row - 2 < len(values):
                values[row - 2] = value
        frame = frame.with_columns(pl.Series(c, values, dtype=pl.String))
    return frame, notes


def _read_raw(path: Path) -> tuple[pl.DataFrame, list[str]]:
    if not path.name.lower().endswith(".xlsx"):  # .csv, .csv.gz
        return pl.read_csv(io.BytesIO(decode(read_bytes(path)).encode()), infer_schema=False), []
    return _read_xlsx(path)


def read_raw(path: Path, name: str) -> tuple[pl.DataFrame | None, list[Finding]]:
    """One file's nine columns as the reader typed them (header whitespace stripped, TDX footer dropped)."""
    problem = screen(path)
    if problem:
        return None, [Finding("error", name, problem)]
    try:
        raw, notes = _read_raw(path)
    except Exception as exc:  # calamine/polars name the cause; we name the file
        return None, [Finding("error", name, f"cannot read the file: {exc}".splitlines()[0])]
    findings = [Finding("note", name, note) for note in notes]
    raw = raw.rename({c: c.strip() for c in raw.columns})
    missing = [c for c in COLUMNS if c not in raw.columns]
    if missing:
        sheets = "" if path.suffix.lower() == ".csv" else " (of the first sheet; no sheet of the workbook has them)"
        return None, [Finding("error", name, f"missing column(s) in the header{sheets}", row=1,
                              column=", ".join(missing))]
    raw, blank = drop_blank_rows(raw.select(COLUMNS), name, first_row=2)
    findings += blank
    if raw.height and raw["time"].dtype == pl.String:
        last = raw["time"][-1]
        if last is not None and last.strip().lstrip("#").strip().startswith(FOOTER_PREFIX):
            findings.append(Finding("note", name, f"footer line {last.strip()!r} ignored", row=int(raw["row"][-1])))
            raw = raw.head(-1)
    if raw.height == 0:
        return None, findings + [Finding("error", name, "the file has no data rows")]
    return numbers(raw, NUMERIC), findings
