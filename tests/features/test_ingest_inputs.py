"""What real exports hold and a strict ingest must take or name: empty rows, times of day, formulas without a
saved value, data on another sheet, workbooks in formats it cannot read, exports in subfolders."""

from __future__ import annotations

import subprocess
from datetime import datetime
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import xlsxwriter
from conftest import run_cli, write_sim

from equinet.data.store import open_store
from equinet.data.synth import frame

NAME = "processed_002000"  # stock 2 of the synthetic set: the file each case changes


def ingested(raw: Path, out: Path, *options: str):
    result = run_cli("ingest", raw, "--out", out, *options)
    assert result.exit_code == 0, result.output
    return result, open_store(out)


def same_bars(a, b) -> None:
    assert a.codes == b.codes and a.meta["dates"] == b.meta["dates"]
    np.testing.assert_array_equal(a.panel, b.panel)


def error_line(result, *needles: str) -> str:
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    line = next(ln for ln in result.output.splitlines() if ln.startswith("error:"))
    assert all(n in line for n in needles), result.output
    return line


@pytest.fixture
def csv_raw(tmp_path: Path, sim: dict) -> Path:
    write_sim(sim, tmp_path / "raw", fmt="csv")
    return tmp_path / "raw"


def book(path: Path, df: pl.DataFrame, cells=None, before: list[str] = ()) -> None:
    """An xlsx of df on a sheet after the sheets named in `before`; cells(sheet, row, values) may write a row
    itself (returning True)."""
    wb = xlsxwriter.Workbook(path)
    for name in before:
        wb.add_worksheet(name).write(0, 0, "notes, not data")
    sheet = wb.add_worksheet("Data")
    sheet.write_row(0, 0, df.columns)
    for i, values in enumerate(df.iter_rows(), start=1):
        if not (cells and cells(sheet, i, values)):
            sheet.write_row(i, 0, values)
    wb.close()


# 4. rows that are entirely empty are left out with a note, wherever they are; a partly empty row is an error

@pytest.mark.parametrize("tail", ["\n", ",,,,,,,,\n,,,,,,,,\n", " , ,,,,,,,\n"])
def test_empty_csv_rows_are_left_out_with_a_note(csv_raw: Path, tmp_path: Path, tail: str) -> None:
    _, clean = ingested(csv_raw, tmp_path / "clean")
    path = csv_raw / f"{NAME}.csv"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:10]) + tail + "".join(lines[10:]) + tail)
    result, store = ingested(csv_raw, tmp_path / "s")
    assert f"{NAME}.csv, row 11: empty row left out (and" in result.output
    same_bars(store, clean)


def test_a_partly_empty_csv_row_stays_an_error_with_its_own_row(csv_raw: Path, tmp_path: Path) -> None:
    path = csv_raw / f"{NAME}.csv"
    lines = path.read_text().splitlines(keepends=True)
    cells = lines[20].split(",")
    cells[4] = ""
    path.write_text("".join(lines[:5]) + "\n" + "".join(lines[5:20]) + ",".join(cells) + "".join(lines[21:]))
    error_line(run_cli("ingest", csv_raw, "--out", tmp_path / "s"), f"{NAME}.csv", "row 22", "column end",
               "empty cell")


def test_xlsx_rows_of_empty_strings_are_left_out(raw: Path, tmp_path: Path, sim: dict) -> None:
    _, clean = ingested(raw, tmp_path / "clean")
    df = frame(sim, 2)
    blank = pl.DataFrame({c: [" "] * 3 for c in df.columns})  # xlsxwriter leaves "" out: spaces are empty too
    book(raw / f"{NAME}.xlsx", pl.concat([df.cast(pl.String), blank]))
    result, store = ingested(raw, tmp_path / "s")
    assert "empty row left out" in result.output
    same_bars(store, clean)


# 5. a time of day on a daily bar, as text or as an Excel datetime; two rows of one day are refused

def test_dates_with_a_time_of_day_are_read_as_text_and_as_excel_datetimes(raw: Path, tmp_path: Path,
                                                                          sim: dict) -> None:
    _, clean = ingested(raw, tmp_path / "clean")
    df = frame(sim, 2)
    book(raw / f"{NAME}.xlsx", df.with_columns(pl.col("time") + " 15:00:00"))
    same_bars(ingested(raw, tmp_path / "text")[1], clean)
    wb = xlsxwriter.Workbook(raw / f"{NAME}.xlsx")  # real Excel date-times, 15:00 on each day
    stamp = wb.add_format({"num_format": "yyyy/mm/dd hh:mm:ss"})
    sheet = wb.add_worksheet("Sheet1")
    sheet.write_row(0, 0, df.columns)
    for i, values in enumerate(df.iter_rows(), start=1):
        sheet.write_row(i, 1, values[1:])
        sheet.write_datetime(i, 0, datetime.strptime(values[0].strip(), "%Y/%m/%d").replace(hour=15), stamp)
    wb.close()
    same_bars(ingested(raw, tmp_path / "datetime")[1], clean)


def test_two_rows_of_one_day_at_different_times_are_refused(raw: Path, tmp_path: Path, sim: dict) -> None:
    df = frame(sim, 2)
    times = pl.when(pl.int_range(pl.len()) == 6).then(pl.col("time").shift(1) + " 15:00").otherwise(pl.col("time"))
    book(raw / f"{NAME}.xlsx", df.with_columns(times.alias("time")))
    error_line(run_cli("ingest", raw, "--out", tmp_path / "s"), f"{NAME}.xlsx", "row 8")


# 6. formulas without a saved value are named as such, and the Excel reader's own noise stays off stderr

def test_formulas_without_a_saved_value_say_how_to_fix_them(raw: Path, tmp_path: Path, sim: dict) -> None:
    def formulas(sheet, i, values) -> bool:  # every close a formula, saved by a script that computes nothing
        sheet.write_row(i, 0, values)
        sheet.write_formula(i, 4, f"=B{i + 1}*1.01", None, "")
        return True

    book(raw / f"{NAME}.xlsx", frame(sim, 2), formulas)
    done = subprocess.run([sys.executable, "-m", "equinet", "ingest", str(raw), "--out", str(tmp_path / "s")],
                          capture_output=True, text=True)
    assert done.returncode == 2
    assert "Could not determine dtype" not in done.stderr + done.stdout
    first = next(ln for ln in done.stderr.splitlines() if NAME in ln)
    assert "row 2, column end: formula '=B2*1.01' without a saved value: open and save the file in Excel" in first


# 7. the export on the second sheet is found, and said; no sheet with the header names the first sheet

def test_data_on_the_second_sheet_is_read_and_said(raw: Path, tmp_path: Path, sim: dict) -> None:
    _, clean = ingested(raw, tmp_path / "clean")
    book(raw / f"{NAME}.xlsx", frame(sim, 2), before=["Notes"])
    result, store = ingested(raw, tmp_path / "s")
    assert f"{NAME}.xlsx: read sheet 'Data': the export columns are not on the first sheet" in result.output
    same_bars(store, clean)


def test_no_sheet_with_the_header_says_so(raw: Path, tmp_path: Path, sim: dict) -> None:
    book(raw / f"{NAME}.xlsx", frame(sim, 2).rename({"end": "close"}), before=["Notes"])
    error_line(run_cli("ingest", raw, "--out", tmp_path / "s"), f"{NAME}.xlsx", "row 1", "column time",
               "no sheet of the workbook has them")


# 8. an .xls beside the exports is an error in strict mode (a warning when lenient)

def test_an_xls_workbook_is_an_error_when_strict_and_a_warning_when_lenient(raw: Path, tmp_path: Path) -> None:
    (raw / "processed_600999.xls").write_bytes(b"\xd0\xcf\x11\xe0" + b"\0" * 508)
    error_line(run_cli("ingest", raw, "--out", tmp_path / "s"))
    result = run_cli("ingest", raw, "--out", tmp_path / "s")
    assert "error: processed_600999.xls: a Excel 97-2003 workbook (.xls)" in result.output.replace("an Excel", "a Excel")
    result = run_cli("ingest", raw, "--out", tmp_path / "s", "--lenient")
    assert result.exit_code == 0 and "warning: processed_600999.xls" in result.output
    assert len(open_store(tmp_path / "s").codes) == 6


# 9. exports only in subfolders: one path, and where they are

def test_exports_in_subfolders_are_named_with_one_path(raw: Path, tmp_path: Path) -> None:
    top = tmp_path / "top"
    (top / "2024").mkdir(parents=True)
    raw.rename(top / "2024" / "raw")
    for p in (top / "2024" / "raw").iterdir():
        p.rename(top / "2024" / p.name)
    line = error_line(run_cli("ingest", top, "--out", tmp_path / "s"), "subfolders are not searched", "2024/ (6)")
    assert line.count(str(top)) == 1 + line.count(str(top / "2024")), line


def test_tdx_text_exports_take_empty_lines_and_times_of_day(tmp_path: Path) -> None:
    from equinet.data.synth import synth

    synth(tmp_path / "txt", stocks=4, days=60, seed=3, fmt="txt")
    _, clean = ingested(tmp_path / "txt", tmp_path / "clean")
    path = next(p for p in sorted((tmp_path / "txt").glob("S*#*.txt")) if "000001" not in p.name)
    lines = path.read_bytes().decode("gbk").splitlines()
    rows = [ln.replace("\t", " 15:00\t", 1) for ln in lines[2:-1]]
    path.write_bytes("\r\n".join(lines[:2] + rows[:5] + ["", "\t\t"] + rows[5:] + lines[-1:] + [""]).encode("gbk"))
    result, store = ingested(tmp_path / "txt", tmp_path / "s")
    assert f"{path.name}, row 8: empty row left out (and 1 more rows)" in result.output
    same_bars(store, clean)


def test_a_one_file_store_knows_its_market_values_as_the_readme_says(raw: Path, tmp_path: Path) -> None:
    one = tmp_path / "one"
    one.mkdir()
    (raw / f"{NAME}.xlsx").rename(one / f"{NAME}.xlsx")
    _, store = ingested(one, tmp_path / "s")
    assert store.meta["market_unknown_days"] == [] and not np.isnan(store.market).any()
