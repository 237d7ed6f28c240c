"""Every kind of bad input: exit code 2, a line naming file/row/column, and the old store untouched."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from conftest import run_cli, snapshot
from equinet.data.store import open_store
from equinet.data.synth import frame, write

CODE = "002000"  # stock 2 of the synthetic set; its file is the one we break
NAME = f"processed_{CODE}.xlsx"


def set_cell(df: pl.DataFrame, row: int, column: str, value) -> pl.DataFrame:
    """Excel row `row` (header = 1) of `column` set to value; the column becomes text if value is."""
    i = row - 2
    col = df[column]
    if isinstance(value, str) and col.dtype != pl.String:
        col = col.cast(pl.String)
    values = col.to_list()
    values[i] = value
    return df.with_columns(pl.Series(column, values, dtype=col.dtype))


CASES = {
    "missing column": (lambda df: df.drop("marketrange"), 1, "marketrange", "missing column(s) in the header"),
    "unparsable date": (lambda df: set_cell(df, 9, "time", " 2023/13/45"), 9, "time", "unparsable date"),
    "duplicate date": (lambda df: set_cell(df, 12, "time", df["time"][9]), 12, "time",
                       "duplicate date: the same day as row 11"),
    "date twice, far apart": (lambda df: set_cell(df, 12, "time", df["time"][2]), 12, "time",
                              "duplicate date: the same day as row 4"),  # rows are sorted by date: both are named
    "non-numeric": (lambda df: set_cell(df, 7, "end", "abc"), 7, "end", "not a number: 'abc'"),
    "empty cell": (lambda df: set_cell(df, 30, "volume", None), 30, "volume", "empty cell"),
    "price <= 0": (lambda df: set_cell(df, 20, "start", 0.0), 20, "start", "price <= 0"),
    "high too low": (lambda df: set_cell(df, 21, "max", 0.5), 21, "max", "high below open or close"),
    "low too high": (lambda df: set_cell(df, 22, "min", 999.0), 22, "min", "low above open or close"),
    "negative volume": (lambda df: set_cell(df, 23, "volume", -5), 23, "volume", "negative volume"),
    "empty file": (lambda df: df.head(0), None, None, "no data rows"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_fails_and_keeps_store(case: str, raw: Path, tmp_path: Path, sim: dict) -> None:
    store = tmp_path / "store"
    assert run_cli("ingest", raw, "--out", store).exit_code == 0
    before = snapshot(store)
    mutate, row, column, message = CASES[case]
    write(mutate(frame(sim, 2)), raw / NAME)

    result = run_cli("ingest", raw, "--out", store)

    assert result.exit_code == 2, result.output
    line = next(ln for ln in result.output.splitlines() if message in ln)
    assert NAME in line
    if row is not None:
        assert f"row {row}" in line
    if column is not None:
        assert f"column {column}" in line
    assert "nothing was written" in result.output
    assert snapshot(store) == before
    assert not list(tmp_path.glob(".store.*"))  # no temporary directory left behind


def test_duplicate_code_names_both_files(raw: Path, tmp_path: Path, sim: dict) -> None:
    write(frame(sim, 2), raw / f"copy_of_{CODE}.xlsx")
    result = run_cli("ingest", raw, "--out", tmp_path / "store")
    assert result.exit_code == 2
    assert f"stock code {CODE} also comes from" in result.output
    assert not (tmp_path / "store").exists()


def test_lenient_skips_bad_files_and_lists_them(raw: Path, tmp_path: Path, sim: dict) -> None:
    write(set_cell(frame(sim, 2), 7, "end", "abc"), raw / NAME)
    result = run_cli("ingest", raw, "--out", tmp_path / "store", "--lenient", "--json")
    assert result.exit_code == 0, result.output
    from equinet import open_store

    store = open_store(tmp_path / "store")
    assert CODE not in store.codes and len(store.codes) == 5
    assert store.meta["skipped"] == [NAME]


def test_non_data_files_are_ignored_with_a_note(raw: Path, tmp_path: Path) -> None:
    (raw / "readme.txt").write_text("not data")
    result = run_cli("ingest", raw, "--out", tmp_path / "store")
    assert result.exit_code == 0, result.output
    assert "readme.txt" in result.output and "ignored" in result.output


def test_refuses_to_replace_a_folder_that_is_not_a_store(raw: Path, tmp_path: Path) -> None:
    target = tmp_path / "precious"
    target.mkdir()
    (target / "thesis.txt").write_text("keep me")
    result = run_cli("ingest", raw, "--out", target)
    assert result.exit_code == 2
    assert "is not an EquiNet store" in result.output
    assert (target / "thesis.txt").read_text() == "keep me"


def test_missing_source_folder_is_one_line_error(tmp_path: Path) -> None:
    result = run_cli("ingest", tmp_path / "nope", "--out", tmp_path / "store")
    assert result.exit_code == 2
    assert "no such directory" in result.output


def test_a_short_history_is_kept_with_a_note_not_an_error(raw: Path, tmp_path: Path, sim: dict) -> None:
    """A new listing (22 rows, fewer than a window needs) stays in the store in strict mode and is noted."""
    write(frame(sim, 2).head(22), raw / "processed_002000.xlsx")
    result = run_cli("ingest", raw, "--out", tmp_path / "s")
    assert result.exit_code == 0 and "processed_002000.xlsx: only 22 data rows: kept in the store" in result.output
    assert "002000" in open_store(tmp_path / "s").codes
