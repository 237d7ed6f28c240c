"""Nothing lost, nothing silent: a user's files survive, runs are not overwritten, bad input is one clear line."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import polars as pl
import pytest
import torch
import xlsxwriter
from conftest import ROOT, TINY, TINY_CLI, run_cli, snapshot, synthetic_store, write_sim

from equinet.data.synth import frame
from equinet.training.train import TrainConfig, fit, start

EQUINET = [sys.executable, "-m", "equinet"]
NAME = "processed_002000.xlsx"  # stock 2 of the synthetic set: the file each case breaks


def one_line_error(result, *needles: str) -> str:
    """Exit 2, no traceback, and the error line holding every needle."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    line = next((ln for ln in result.output.splitlines() if ln.startswith("error:")), "")
    for needle in needles:
        assert needle in line, result.output
    return line


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("safety")
    synthetic_store(root, stocks=6, days=140, seed=5)
    run = fit(start(TrainConfig(**TINY, data=str(root / "store"), out=str(root / "out"), name="run", epochs=1)))
    run.close()
    return {"root": root, "store": root / "store", "out": root / "out", "run": root / "out" / "run"}


# 1. a folder is replaced only when it is a store and holds nothing EquiNet did not write

@pytest.mark.parametrize("meta", ["{}", '{"format_version": 1}', "not json"])
def test_a_folder_with_a_forged_meta_json_is_not_replaced(raw: Path, tmp_path: Path, meta: str) -> None:
    target = tmp_path / "u"
    target.mkdir()
    (target / "meta.json").write_text(meta)
    (target / "thesis.docx").write_text("years of work")
    result = run_cli("ingest", raw, "--out", target)
    one_line_error(result, str(target))
    assert (target / "thesis.docx").read_text() == "years of work"
    assert (target / "meta.json").read_text() == meta


def test_a_store_with_a_users_file_in_it_is_not_replaced(raw: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    assert run_cli("ingest", raw, "--out", store).exit_code == 0
    (store / "notes.txt").write_text("mine")
    before = snapshot(store)
    one_line_error(run_cli("ingest", raw, "--out", store, "--force"), str(store), "notes.txt")
    assert snapshot(store) == before


def test_invalid_meta_json_is_one_line_for_info_and_train(tmp_path: Path) -> None:
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "meta.json").write_text("{broken")
    one_line_error(run_cli("info", tmp_path / "s"), "meta.json", "not a valid meta.json")
    one_line_error(run_cli("train", "--data", tmp_path / "s", *TINY_CLI, "--epochs", "1"), "not a valid meta.json")


def test_out_that_is_a_file_or_unwritable_is_one_line(raw: Path, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    one_line_error(run_cli("ingest", raw, "--out", tmp_path / "file"), "is a file")
    assert (tmp_path / "file").read_text() == "x"
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    target = locked / "store" if not os.access(locked, os.W_OK) else Path("/sys/equinet-test-store")  # root writes
    one_line_error(run_cli("ingest", raw, "--out", target), str(target), "cannot write the store")


# 2. a run directory is created exclusively and locked while training

def test_a_run_name_is_not_reused_without_resume_or_overwrite(trained, tmp_path: Path) -> None:
    args = ["train", "--data", trained["store"], "--out", tmp_path, "--name", "r", "--epochs", "1", *TINY_CLI]
    assert run_cli(*args).exit_code == 0
    kept = (tmp_path / "r" / "best.pt").read_bytes()
    one_line_error(run_cli(*args, "--seed", "3"), "a run of this name exists", "--resume", "--overwrite")
    assert (tmp_path / "r" / "best.pt").read_bytes() == kept
    (tmp_path / "r" / "mine.txt").write_text("kept")
    assert run_cli(*args, "--seed", "3", "--overwrite").exit_code == 0
    assert (tmp_path / "r" / "best.pt").read_bytes() != kept
    assert (tmp_path / "r" / "mine.txt").read_text() == "kept"
    assert json.loads((tmp_path / "r" / "config.json").read_text())["seed"] == 3
    assert not (tmp_path / "r" / ".lock").exists()  # released when the run ends


def test_a_run_being_trained_by_another_process_is_refused(trained, tmp_path: Path) -> None:
    args = ["train", "--data", trained["store"], "--out", tmp_path, "--name", "busy", "--epochs", "2", *TINY_CLI]
    assert run_cli(*args, "--stop-after", "1").exit_code == 0
    other = subprocess.Popen(["sleep", "60"])
    try:
        import socket

        (tmp_path / "busy" / ".lock").write_text(json.dumps({"pid": other.pid, "host": socket.gethostname(),
                                                             "since": "2026-01-01T00:00:00"}))
        one_line_error(run_cli("train", "--resume", tmp_path / "busy"), f"pid {other.pid}", "training into it")
        one_line_error(run_cli(*args, "--overwrite"), f"pid {other.pid}")
    finally:
        other.send_signal(signal.SIGKILL)
        other.wait()
    resumed = run_cli("train", "--resume", tmp_path / "busy", "--json")  # the lock is stale now
    assert resumed.exit_code == 0, resumed.output
    assert json.loads(resumed.stdout)["epochs"] == 2


# 3. the demo runs on the user's files whenever there are any

@pytest.mark.parametrize("files,expected", [(["a.xlsx", "b.xlsx"], "YOUR data: 2"), (["a.CSV"], "YOUR data: 1"),
                                            (["SH#600000.txt", "notes.txt"], "YOUR data: 1"),
                                            (["vipdoc/sh/lday/sh600000.day", "vipdoc/sz/lday/sz000001.day"],
                                             "YOUR data: 2"), ([], "DEMO on generated data"),
                                            (["sh600000.csv.gz", "sz000001.csv.gz"], "YOUR data: 2"),
                                            (["SH#600000.txt.gz"], "YOUR data: 1"),
                                            (["archive.zip"], "YOUR data: 1")])
def test_demo_detects_the_users_exports(tmp_path: Path, files: list[str], expected: str) -> None:
    for name in files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    out = subprocess.run(["bash", str(ROOT / "scripts" / "demo.sh"), "--plan"], capture_output=True, text=True,
                         env={**os.environ, "EQUINET_RAW": str(tmp_path)}, check=True).stdout
    assert expected in out
    assert (f"ingest {tmp_path}" in out) == bool(files)
    assert (f"ingest {tmp_path}/archive.zip " in out) == (files == ["archive.zip"])  # a lone archive is passed itself


# 4. non-finite and error cells are errors that say what they are

def write_with_cell(sim: dict, path: Path, row: int, column: str, value, formula: str | None = None) -> None:
    """Stock 2's file with Excel row `row` of `column` replaced: a text cell, or a formula whose cached result
    is the error value (what Excel stores for =1/0)."""
    df = frame(sim, 2)
    book = xlsxwriter.Workbook(path)
    sheet = book.add_worksheet("Sheet1")
    sheet.write_row(0, 0, df.columns)
    for i, values in enumerate(df.iter_rows(), start=1):
        sheet.write_row(i, 0, values)
    col = df.columns.index(column)
    if formula:
        sheet.write_formula(row - 1, col, formula, None, value)
    else:
        sheet.write_string(row - 1, col, value)
    book.close()


@pytest.mark.parametrize("text,column,message", [
    ("NaN", "end", "NaN (not a number)"), ("nan", "start", "NaN (not a number)"),
    ("inf", "volume", "infinite value: 'inf'"), ("-inf", "max", "infinite value: '-inf'"),
    ("#NUM!", "end", "Excel error value '#NUM!'"), ("#DIV/0!", "marketlimit", "Excel error value '#DIV/0!'"),
    ("#N/A", "min", "Excel error value '#N/A'"),
])
def test_non_finite_text_cells_are_errors(raw: Path, tmp_path: Path, sim: dict, text, column, message) -> None:
    write_with_cell(sim, raw / NAME, 9, column, text)
    one_line_error(run_cli("ingest", raw, "--out", tmp_path / "s"), NAME, "row 9", f"column {column}", message)
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("formula,value", [("=SQRT(-1)", "#NUM!"), ("=1/0", "#DIV/0!"), ("=NA()", "#N/A")])
def test_excel_error_cells_are_named_not_called_empty(raw: Path, tmp_path: Path, sim: dict, formula, value) -> None:
    write_with_cell(sim, raw / NAME, 12, "volume", value, formula)
    one_line_error(run_cli("ingest", raw, "--out", tmp_path / "s"), NAME, "row 12", "column volume",
                   f"Excel error value {value!r}")


def test_non_finite_csv_cells_are_errors(tmp_path: Path, sim: dict) -> None:
    write_sim(sim, tmp_path / "raw", fmt="csv")
    df = frame(sim, 2).with_columns(pl.col("volume").cast(pl.String))
    df = df.with_columns(pl.when(pl.int_range(pl.len()) == 3).then(pl.lit("inf")).otherwise("volume").alias("volume"))
    df.write_csv(tmp_path / "raw" / "processed_002000.csv")
    one_line_error(run_cli("ingest", tmp_path / "raw", "--out", tmp_path / "s"), "row 5", "column volume",
                   "infinite value: 'inf'")


# 5. thresholds that leave a class impossible, probabilities above 1

@pytest.mark.parametrize("up,down", [("0.01", "0.02"), ("0.02", "0.02"), ("0.03", "-1.5")])
def test_impossible_thresholds_are_refused(trained, tmp_path: Path, up: str, down: str) -> None:
    result = run_cli("train", "--data", trained["store"], "--out", tmp_path, "--epochs", "1", *TINY_CLI,
                     "--up", up, "--down", down)
    one_line_error(result, "need -1 < --down < --up")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("gate", ["up=2,down=0.7", "up=0.6,down=-0.1"])
def test_gate_probabilities_must_lie_in_0_1(trained, gate: str) -> None:
    one_line_error(run_cli("eval", "--run", trained["run"], "--gate", gate), "between 0 and 1")


# 6. GBK (and BOM) text exports with the TDX footer

@pytest.mark.parametrize("encoding", ["gbk", "gb18030", "utf-8-sig"])
def test_csv_in_gbk_with_the_tdx_footer_reads(tmp_path: Path, sim: dict, encoding: str) -> None:
    raw = tmp_path / "raw"
    write_sim(sim, raw, fmt="csv")
    for path in raw.iterdir():
        path.write_bytes((path.read_text() + "数据来源:通达信\n").encode(encoding))
    result = run_cli("ingest", raw, "--out", tmp_path / "s", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["stocks"] == 6


# 7. a file is screened before it is read whole

def test_junk_and_oversized_files_are_rejected_before_reading(raw: Path, tmp_path: Path) -> None:
    for name, size in (("x.xlsx", 2**30), ("big.csv", 100 * 2**20)):  # sparse: instant to write
        with open(raw / name, "wb") as f:
            f.truncate(size)
        one_line_error(run_cli("ingest", raw, "--out", tmp_path / "s"), name, f"{size // 2**20:,} MiB",
                       "up to 64 MiB")
        (raw / name).unlink()
    (raw / "junk.xlsx").write_bytes(bytes(2**20))
    one_line_error(run_cli("ingest", raw, "--out", tmp_path / "s"), "junk.xlsx", "does not start with the zip signature")
    (raw / "junk.xlsx").unlink()
    with zipfile.ZipFile(raw / "bomb.xlsx", "w", zipfile.ZIP_DEFLATED) as z, z.open("xl/sheet.xml", "w") as f:
        for _ in range(260):
            f.write(bytes(2**20))
    one_line_error(run_cli("ingest", raw, "--out", tmp_path / "s"), "bomb.xlsx", "unpacks to 260 MiB")


# 8. tracebacks that became one line

def test_workers_below_zero_is_refused(raw: Path, tmp_path: Path) -> None:
    result = run_cli("ingest", raw, "--out", tmp_path / "s", "--workers", "-1")
    assert result.exit_code == 2 and "--workers" in result.output


@pytest.mark.parametrize("damage", ["truncated", "empty", "text", "foreign"])
def test_damaged_checkpoints_are_one_line(trained, tmp_path: Path, damage: str) -> None:
    run = tmp_path / "copy"
    run.mkdir()
    good = (trained["run"] / "last.pt").read_bytes()
    bad = {"truncated": good[: len(good) // 2], "empty": b"", "text": b"hello"}.get(damage)
    for name in ("last.pt", "best.pt"):
        if bad is None:
            torch.save({"weights": torch.zeros(2)}, run / name)
        else:
            (run / name).write_bytes(bad)
    reason = "not an EquiNet checkpoint" if damage == "foreign" else "not a readable checkpoint"
    one_line_error(run_cli("train", "--resume", run), "last.pt", reason)
    one_line_error(run_cli("eval", "--checkpoint", run / "best.pt"), "best.pt", reason)
    one_line_error(run_cli("predict", "--run", run), "best.pt", reason)


def test_synth_refuses_a_bad_start_and_existing_files(tmp_path: Path) -> None:
    one_line_error(run_cli("synth", tmp_path / "a", "--start", "notadate"), "--start 'notadate' is not a date")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "processed_600000.xlsx").write_text("the user's own")
    one_line_error(run_cli("synth", tmp_path / "b", "--stocks", "2", "--days", "30"), "never overwrites")
    assert (tmp_path / "b" / "processed_600000.xlsx").read_text() == "the user's own"


# 9. messages that say what is wrong

def test_unparsable_dates_say_so(trained, tmp_path: Path) -> None:
    one_line_error(run_cli("train", "--data", trained["store"], "--out", tmp_path, *TINY_CLI, "--epochs", "1",
                           "--val-from", "notadate"), "--val-from 'notadate' is not a date")
    one_line_error(run_cli("predict", "--run", trained["run"], "--date", "notadate"), "--date 'notadate' is not a date")
    one_line_error(run_cli("eval", "--run", trained["run"], "--from", "notadate"), "--from 'notadate' is not a date")


def test_a_symlink_loop_is_noted_as_a_broken_link(raw: Path, tmp_path: Path) -> None:
    os.symlink(raw / "loop.xlsx", raw / "loop.xlsx")
    result = run_cli("ingest", raw, "--out", tmp_path / "s")
    assert result.exit_code == 0, result.output
    assert "loop.xlsx: a broken symbolic link" in result.output


# 10. output: labelled losses, full headers when piped, quiet exit on a closed pipe

def test_training_output_names_its_losses_and_keeps_headers(trained, tmp_path: Path) -> None:
    result = run_cli("train", "--data", trained["store"], "--out", tmp_path, "--name", "o", "--epochs", "1",
                     *TINY_CLI, "--loss", "focal", "--return-weight", "0.5")
    assert result.exit_code == 0, result.output
    epoch = next(ln for ln in result.output.splitlines() if ln.startswith("epoch"))
    assert "focal loss + 0.5 return NLL + 1 shrink + 3 tradable + 0.1 aux train" in epoch and "val log loss" in epoch
    assert "train loss (objective)" in result.output and "accuracy" in result.output and "…" not in result.output


def test_a_closed_pipe_ends_quietly_with_0(trained) -> None:
    for args in (["predict", "--run", str(trained["run"]), "--format", "csv"], ["info", str(trained["store"])]):
        read, write_end = os.pipe()
        os.close(read)  # like `| head` that has already exited
        proc = subprocess.run([*EQUINET, *args], stdout=write_end, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        os.close(write_end)
        assert proc.returncode == 0, proc.stderr
        assert "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr


def test_a_store_of_another_format_version_says_to_ingest_again(trained, tmp_path: Path) -> None:
    old = tmp_path / "old"
    shutil.copytree(trained["store"], old)
    meta = json.loads((old / "meta.json").read_text())
    (old / "meta.json").write_text(json.dumps({**meta, "format_version": 1}))
    for args in (["info", old], ["train", "--data", old, "--out", tmp_path, "--epochs", "1", *TINY_CLI]):
        one_line_error(run_cli(*args), str(old), "store format 1 is not 5", "ingest again")
