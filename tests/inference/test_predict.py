"""`equinet predict` as a TDX user reads it: which run and days, names and exchanges, codes as users write them,
the order asked for, still stocks flagged; runs that work from any folder."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from conftest import TINY_CLI, run_cli

from equinet.core.days import next_trading_days, trading_days_between
from equinet.data.synth import synth

EQUINET = [sys.executable, "-m", "equinet"]
STILL = "SZ#002000.txt"  # its close stops moving for the last 40 days


def still_tail(path: Path, days: int = 40) -> None:
    """The file's last `days` bars all at the close before them (a stock that has stopped trading on price)."""
    lines = path.read_bytes().decode("gbk").split("\n")
    rows = [i for i, ln in enumerate(lines) if ln[:1].isdigit()]
    price = lines[rows[-days - 1]].split("\t")[4]
    for i in rows[-days:]:
        cells = lines[i].split("\t")
        lines[i] = "\t".join([cells[0], price, price, price, price, *cells[5:]])
    path.write_bytes("\n".join(lines).encode("gbk"))


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A project folder trained the way the README says, with relative paths: raw/, store/, out/r (finished) and
    out/stopped (interrupted after 1 of 3 epochs, newer)."""
    root = tmp_path_factory.mktemp("project")
    synth(root / "raw", stocks=6, days=160, seed=4, fmt="txt")
    still_tail(root / "raw" / STILL)
    assert run_cli("ingest", root / "raw", "--out", root / "store").exit_code == 0
    for name, extra in (("r", ["--epochs", "1"]), ("stopped", ["--epochs", "3", "--stop-after", "1"])):
        subprocess.run([*EQUINET, "train", "--data", "store", "--out", "out", "--name", name, *extra, *TINY_CLI],
                       cwd=root, check=True, capture_output=True)
    return root


@dataclass
class Done:
    returncode: int
    stdout: str
    stderr: str


def predict(cwd: Path, *args: str) -> Done:
    """The real CLI in this process, run from cwd (the way a user in that folder runs it)."""
    here = os.getcwd()
    os.chdir(cwd)
    try:
        result = run_cli("predict", *args)
    finally:
        os.chdir(here)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return Done(result.exit_code, result.stdout, result.stderr)


# 10. a run works from any folder, and from a moved project; a missing store names itself

def test_a_run_predicts_from_another_folder_and_from_a_moved_project(tmp_path: Path) -> None:
    first = tmp_path / "first"
    synth(first / "raw", stocks=4, days=120, seed=2, fmt="csv")
    for args in (["ingest", "raw", "--out", "store"],
                 ["train", "--data", "store", "--out", "out", "--name", "r", "--epochs", "1", *TINY_CLI]):
        subprocess.run([*EQUINET, *args], cwd=first, check=True, capture_output=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = predict(elsewhere, "--run", str(first / "out" / "r"), "--format", "json")
    assert done.returncode == 0, done.stderr
    moved = tmp_path / "moved"
    first.rename(moved)  # the absolute path saved at training is gone: the store is found from the run
    done = predict(elsewhere, "--run", str(moved / "out" / "r"), "--format", "json")
    assert done.returncode == 0, done.stderr
    shutil.rmtree(moved / "store")
    done = predict(elsewhere, "--run", str(moved / "out" / "r"))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"trained on the store {first / 'store'}" in done.stderr and "point --data at that store" in done.stderr


# 12. the run and checkpoint are named; the newest run, interrupted, is used only when named

def test_an_interrupted_newest_run_is_refused_unless_named(project: Path) -> None:
    done = predict(project)
    assert done.returncode == 2
    assert "the newest run, out/stopped, was interrupted at epoch 1 of 3" in done.stderr
    assert "--run out/stopped" in done.stderr
    done = predict(project, "--run", "out/stopped", "--top", "1")
    assert done.returncode == 0
    assert "using out/stopped/best.pt (run stopped: interrupted at epoch 1 of 3, best epoch 1 of 3)" in done.stderr
    done = predict(project, "--run", "out/r", "--top", "1")
    assert "using out/r/best.pt (run r: finished, best epoch 1 of 1)" in done.stderr


# 13. the decision day, the trading days it is about, and an old store said

def test_the_forecast_names_its_days_and_warns_of_an_old_store(project: Path) -> None:
    done = predict(project, "--run", "out/r", "--format", "json")
    out = json.loads(done.stdout)
    assert out["date"] == "2020-08-12" and out["days"] == ["2020-08-13", "2020-08-14", "2020-08-17"]
    assert "trading days before today: the store is old" in done.stderr
    table = predict(project, "--run", "out/r", "--top", "2").stdout
    assert "made after the close of 2020-08-12" in table and "2020-08-13, 2020-08-14, 2020-08-17" in table
    earlier = json.loads(predict(project, "--run", "out/r", "--format", "json", "--date", "2020-07-31").stdout)
    assert earlier["days"] == ["2020-08-03", "2020-08-04", "2020-08-05"]  # the store's own days


def test_trading_days_skip_weekends_and_mainland_holidays() -> None:
    assert next_trading_days("2024-09-30", 3, ["2024-09-27", "2024-09-30"]) == (
        ["2024-10-08", "2024-10-09", "2024-10-10"], True)  # National Day week
    assert next_trading_days("2023-01-20", 1, [])[0] == ["2023-01-30"]  # Spring Festival
    assert trading_days_between("2024-09-30", date(2024, 10, 10)) == 3


# 14. names and exchanges shown; codes as users write them

@pytest.mark.parametrize("code", ["600000", "SH600000", "sh600000", "600000.SH", "sh.600000"])
def test_codes_are_accepted_as_users_write_them(project: Path, code: str) -> None:
    out = json.loads(predict(project, code, "--run", "out/r", "--format", "json").stdout)
    assert [(r["code"], r["symbol"]) for r in out["rows"]] == [("600000", "SH600000")] and out["rows"][0]["name"]


def test_a_code_on_the_wrong_exchange_is_refused(project: Path) -> None:
    done = predict(project, "SZ600000", "--run", "out/r")
    assert done.returncode == 2 and "not in" in done.stderr and "SZ600000" in done.stderr


def test_the_table_shows_names_and_exchanges(project: Path) -> None:
    table = predict(project, "--run", "out/r").stdout
    assert "SH600000" in table and "name" in table


# 15. the order asked for, said in the header; a still stock flagged and last

@pytest.mark.parametrize("sort,key,words", [("up", "up", "P(涨)"), ("down", "down", "P(跌)"),
                                            ("up-down", "up_minus_down", "P(涨) - P(跌)"),
                                            ("score", "score", "rank score")])
def test_the_order_is_the_one_asked_for_and_said(project: Path, sort: str, key: str, words: str) -> None:
    out = json.loads(predict(project, "--run", "out/r", "--format", "json", "--sort", sort).stdout)
    moving = [r[key] for r in out["rows"] if not r["still"]]
    assert moving == sorted(moving, reverse=True) and out["sort"] == sort
    assert f"Sorted by {words}, highest first" in predict(project, "--run", "out/r", "--sort", sort).stdout


def test_a_stock_that_never_moved_in_the_window_is_flagged_and_last(project: Path) -> None:
    out = json.loads(predict(project, "--run", "out/r", "--format", "json").stdout)
    assert out["rows"][-1]["code"] == "002000" and out["rows"][-1]["still"]
    assert not any(r["still"] for r in out["rows"][:-1])
    csv = predict(project, "--run", "out/r", "--format", "csv").stdout.splitlines()
    assert csv[-1].split(",")[3] == "SZ002000" and csv[-1].split(",")[10] == "1"
