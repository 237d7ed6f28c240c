"""`equinet runs` (the experiment table) and `equinet report` (figures and one HTML page) on real runs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from conftest import TINY_CLI, run_cli, synthetic_store
from equinet.workflow.runs import COLUMNS

PNG = b"\x89PNG\r\n\x1a\n"
FIGURES = ("learning.png", "reliability.png", "confusion.png", "rank_ic.png", "cumulative.png", "class_shares.png")
TRADING = ("backtest.png", "quintiles.png", "ic_horizon.png", "ic_monthly.png")  # once per report: all rows


@pytest.fixture(scope="module")
def out(tmp_path_factory) -> Path:
    """Two finished runs (one evaluated), one interrupted run, a finished and an interrupted cv, a junk folder and a
    broken run."""
    root = tmp_path_factory.mktemp("runs")
    store = synthetic_store(root, stocks=8, days=200, seed=31)
    out = root / "out"
    common = ["--data", store, "--out", out, *TINY_CLI]
    for args in (["--name", "a", "--epochs", "2"], ["--name", "b", "--epochs", "2", "--d-model", "32"],
                 ["--name", "c", "--epochs", "3", "--stop-after", "1"]):
        assert run_cli("train", *common, *args).exit_code == 0
    assert run_cli("eval", "--run", out / "a", "--bootstrap", "0").exit_code == 0
    assert run_cli("cv", *common, "--name", "k", "--folds", "2", "--fold-days", "15", "--epochs", "2",
                   "--bootstrap", "0").exit_code == 0
    (out / "cv-half" / "fold-1").mkdir(parents=True)  # a cv stopped during its first fold
    (out / "cv-half" / "fold-1" / "config.json").write_bytes((out / "cv-k" / "fold-1" / "config.json").read_bytes())
    (out / "junk").mkdir()
    (out / "junk" / "notes.txt").write_text("not a run")
    (out / "broken").mkdir()
    (out / "broken" / "config.json").write_text('{"epochs": 2, "d_model"')  # cut short
    return out


def test_runs_lists_every_folder_in_every_format(out: Path, tmp_path: Path) -> None:
    result = run_cli("runs", "--out", out, "--format", "json")
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert set(rows) == {"a", "b", "c", "cv-k", "cv-half", "junk", "broken"}
    assert rows["cv-half"]["status"] == "interrupted: 0 of 1 folds finished"
    assert all(list(r) == list(COLUMNS) for r in rows.values())
    a, b, c, k = rows["a"], rows["b"], rows["c"], rows["cv-k"]
    assert (a["status"], a["kind"], a["epochs"], a["d_model"], b["d_model"]) == ("finished", "train", 2, 16, 32)
    assert a["parameters"] > 0 and b["parameters"] > a["parameters"] and a["seconds"] > 0
    assert a["best_epoch"] in (1, 2) and 0 < a["val_log_loss"] < 2 and a["val_topk_excess"] is None
    evaluated = json.loads((out / "a" / "eval-test.json").read_text())["model"]
    assert a["test_log_loss"] == evaluated["log_loss"] and a["test_rank_ic"] == evaluated["rank_ic"]
    assert b["test_log_loss"] is None  # never evaluated
    assert c["status"] == "interrupted at epoch 1 of 3" and c["best_epoch"] == 1
    cv = json.loads((out / "cv-k" / "cv.json").read_text())["pooled"]["model"]
    assert (k["kind"], k["status"], k["val_log_loss"], k["val_topk_excess"]) == \
        ("cv", "finished", cv["log_loss"], cv["topk_excess"])
    assert rows["junk"]["status"].startswith("not a run") and rows["broken"]["status"].startswith("unreadable")

    ordered = json.loads(run_cli("runs", "--out", out, "--format", "json", "--sort", "-val_log_loss").stdout)
    losses = [r["val_log_loss"] for r in ordered if r["val_log_loss"] is not None]
    assert losses == sorted(losses, reverse=True) and ordered[-1]["val_log_loss"] is None

    csv = run_cli("runs", "--out", out, "--format", "csv")
    frame = pl.read_csv(csv.stdout.encode())
    assert frame.columns == list(COLUMNS) and frame.height == 7

    table = run_cli("runs", "--out", out)
    assert table.exit_code == 0 and all(name in table.stdout for name in ("cv-k", "junk", "broken"))
    assert "…" not in table.stdout and max(len(ln) for ln in table.stdout.splitlines()) <= 200  # numbers whole

    assert run_cli("runs", "--out", out, "--format", "xlsx", "-o", tmp_path / "runs.xlsx").exit_code == 0
    sheet = pl.read_excel(tmp_path / "runs.xlsx", engine="calamine")
    assert sheet.columns == list(COLUMNS) and sheet.height == 7
    assert sheet.schema["d_model"].is_integer() and sheet.schema["val_log_loss"] == pl.Float64
    assert sheet.schema["name"] == pl.String

    bad = run_cli("runs", "--out", out, "--sort", "nonsense")
    assert bad.exit_code == 2 and "--sort takes one of" in bad.output


def test_report_writes_every_figure_and_a_page_that_holds_them(out: Path) -> None:
    result = run_cli("report", out / "a")
    assert result.exit_code == 0, result.output
    folder = out / "a" / "report"
    assert result.stdout.strip() == str(folder / "index.html")
    first = {name: (folder / name).read_bytes() for name in FIGURES + TRADING}
    page = (folder / "index.html").read_text(encoding="utf-8")
    for name, data in first.items():
        assert data.startswith(PNG) and len(data) > 5000, name
        assert f'alt="{name}"' in page
    assert len(re.findall(r'src="data:image/png;base64,', page)) == len(FIGURES + TRADING)
    assert "Backtest at the default rules" in page and "model, after costs" in page
    assert "http" not in page.replace(str(out), "")  # nothing to fetch: the page opens offline
    assert run_cli("report", out / "a").exit_code == 0  # the same run draws the same bytes
    assert {name: (folder / name).read_bytes() for name in FIGURES + TRADING} == first
    assert (folder / "index.html").read_text(encoding="utf-8") == page


def test_report_of_a_cv_has_the_pooled_figures_and_each_fold(out: Path) -> None:
    assert run_cli("report", out / "cv-k").exit_code == 0
    folder = out / "cv-k" / "report"
    page = (folder / "index.html").read_text(encoding="utf-8")
    for sub in ("", "fold-1/", "fold-2/"):
        for name in FIGURES:
            assert (folder / sub / name).read_bytes().startswith(PNG)
            assert f'alt="{sub}{name}"' in page
    for name in TRADING:  # the backtest and tear sheet of the pooled folds, on the main page only
        assert (folder / name).read_bytes().startswith(PNG) and not (folder / "fold-1" / name).exists()
    assert run_cli("report", out / "junk").exit_code == 2


def test_backtest_of_a_cv_trades_at_the_next_open_and_is_kept_for_runs(out: Path, tmp_path: Path) -> None:
    from equinet.data.store import open_store

    result = run_cli("backtest", out / "cv-k", "--top", "3", "--json", "--bootstrap", "50", "--trades",
                     tmp_path / "trades.csv", "-o", tmp_path / "bt.json")
    assert result.exit_code == 0, result.output
    got = json.loads(result.stdout)
    assert got == json.loads((out / "cv-k" / "backtest-test.json").read_text()) == \
        json.loads((tmp_path / "bt.json").read_text())
    assert set(got["forecasters"]) == {"model", "linear", "reversal"} and got["split"] == "cv folds"
    model = got["forecasters"]["model"]
    assert model["after_costs"]["annual_return"] < model["before_costs"]["annual_return"]
    assert model["after_costs"]["fees"] > 0 == model["before_costs"]["fees"]
    sheet = got["tear_sheet"]["model"]
    assert set(sheet["ic_by_horizon"]) == {"1", "3", "5", "10"} and len(sheet["quintile_returns"]) == 5
    cv = json.loads((out / "cv-k" / "cv.json").read_text())
    folds = [np.load(out / "cv-k" / f"fold-{f['k']}" / "rows.npz") for f in cv["per_fold"]]
    for key, outcome in ((("ic_by_horizon", "3"), "forward_return"), (("ic_tradable",), "tradable")):
        ics = []  # by hand: each day's Spearman correlation of score and outcome, averaged over the days
        for z in folds:
            for d in np.unique(z["day"]):
                on = (z["day"] == d) & np.isfinite(z[outcome])
                ranks = [np.argsort(np.argsort(v)) for v in (z["score_model"][on], z[outcome][on])]
                if on.sum() > 1 and ranks[0].std() > 0 and ranks[1].std() > 0:
                    ics.append(np.corrcoef(*ranks)[0, 1])
        value = sheet[key[0]][key[1]] if len(key) == 2 else sheet[key[0]]
        assert value == pytest.approx(np.mean(ics), abs=1e-9)
    trades = pl.read_csv(tmp_path / "trades.csv", schema_overrides={"code": pl.String})
    store = open_store(cv["store"])
    dates = {d: i for i, d in enumerate(store.meta["dates"])}
    buys = trades.filter((pl.col("side") == "buy") & (pl.col("book") == "model/after_costs"))
    assert len(buys) > 0 and set(buys["sleeve"]) == {0}  # the holding book: one sleeve
    opened = np.array([store.panel[store.codes.index(c), dates[d], 0] for c, d in zip(buys["code"], buys["date"])],
                      dtype=float)
    # the quoted open (the panel's float32 to the fen; no corporate action after these days), plus slippage
    np.testing.assert_allclose(buys["price"].to_numpy(), np.round(opened, 2) * 1.0005, atol=5e-7)
    assert (buys["shares"].to_numpy() % 100 == 0).all() and (buys["value"] > 1000).all()  # lots of 1,000,000 CNY
    again = run_cli("backtest", out / "cv-k", "--top", "3", "--json", "--bootstrap", "50")
    assert json.loads(again.stdout) == got  # a second run gives the same numbers
    listed = {r["name"]: r for r in json.loads(run_cli("runs", "--out", out, "--format", "json").stdout)}
    assert listed["cv-k"]["backtest_excess"] == model["after_costs"]["annual_excess"]
    assert listed["b"]["backtest_excess"] is None
    bad = run_cli("backtest", out / "cv-k", "--stamp-duty", "lots")
    assert bad.exit_code == 2 and "--stamp-duty" in bad.output


def test_backtest_of_a_train_run_uses_the_rows_its_evaluation_kept(out: Path) -> None:
    result = run_cli("backtest", out / "a", "--top-pct", "25", "--json", "--bootstrap", "0")
    assert result.exit_code == 0, result.output
    got = json.loads(result.stdout)
    assert got["split"] == "test" and got["rules"]["top_pct"] == 25 and (out / "a" / "backtest-test.json").is_file()
    evaluated = json.loads((out / "a" / "eval-test.json").read_text())
    assert got["first"] == evaluated["from"]
