"""Ingest on files written here: alignment, market consensus, adjustment, idempotence, formats."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from conftest import SHARED, run_cli, snapshot, write_sim
from equinet import ingest, open_store
from equinet.data.synth import EX_RIGHTS_FACTOR, frame, simulate, synth, write


def bars(dates: list[str], closes: list[float], opens: list[float] | None = None, market=None) -> pl.DataFrame:
    """A hand-made TDX frame: text dates, highs/lows around open/close, a known market series."""
    opens = opens or closes
    n = len(dates)
    market = np.arange(n, dtype=float) if market is None else np.asarray(market, dtype=float)
    return pl.DataFrame({
        "time": [" " + d.replace("-", "/") for d in dates],
        "start": opens, "max": [max(o, c) + 0.05 for o, c in zip(opens, closes)],
        "min": [min(o, c) - 0.05 for o, c in zip(opens, closes)], "end": closes,
        "volume": [1000 + i for i in range(n)],
        "marketvolume": 1e8 + market, "marketlimit": market / 1000, "marketrange": 10 + market,
    })


def calendar(n: int) -> list[str]:
    return [str(d) for d in np.busday_offset(np.datetime64("2024-01-02"), np.arange(n))]


def test_alignment_across_gaps(tmp_path: Path) -> None:
    days = calendar(40)
    a_days = days[:10] + days[13:]  # suspended three days
    b_days = days[5:]  # listed later
    (tmp_path / "raw").mkdir()
    write(bars(a_days, [10.0 + i * 0.01 for i in range(37)]), tmp_path / "raw" / "x.xlsx")
    write(bars(b_days, [5.0 + i * 0.01 for i in range(35)]), tmp_path / "raw" / "processed_600001.xlsx")
    ingest(tmp_path / "raw", tmp_path / "store")
    store = open_store(tmp_path / "store")
    assert store.codes == ["600001", "x"]
    assert list(store.meta["dates"]) == days
    close = store.panel[:, :, 3]
    x, b = store.codes.index("x"), store.codes.index("600001")
    assert np.isnan(close[x, 10:13]).all() and not np.isnan(close[x, :10]).any()
    assert close[x, 13] == pytest.approx(10.10, abs=1e-5)  # 11th bar of x lands on the 14th day
    assert np.isnan(close[b, :5]).all() and close[b, 5] == pytest.approx(5.0)
    assert store.meta["summary"]["missing_bar_share"] == pytest.approx(8 / 80)


def write_market_files(raw: Path, days: list[str], truth: np.ndarray) -> None:
    """Four right files from day 5; from day 0 one right file, one right on days 0 and 1 only and one wrong on day
    1; one from day 0 pasted by row; one from day 5 wrong on day 25: each to the last of days."""
    raw.mkdir()
    n = len(days)
    for i in range(4):
        write(bars(days[5:], [10.0] * (n - 5), market=truth[5:n]), raw / f"processed_60000{i}.xlsx")
    for code, first, last, wrong in (("000011", 0, n, 1), ("000012", 0, n, None), ("000013", 0, min(2, n), None),
                                     ("000010", 5, n, 25)):
        values = truth[first:last].copy()
        if wrong is not None and wrong < last:
            values[wrong - first] += 1
        write(bars(days[first:last], [10.0] * (last - first), market=values), raw / f"processed_{code}.xlsx")
    # a file whose market columns were pasted by row, not by date
    write(bars(days, [10.0] * n, market=(truth[5:].tolist() + [0.0] * 5)[:n]), raw / "processed_000009.xlsx")


def test_market_consensus_is_causal_and_leaves_out_a_shifted_file(tmp_path: Path) -> None:
    """A file is left out on a date when it disagreed on more than 5 % of its earlier dates; a date's value needs
    two trusted files that agree. The same files cut after day 15 give the same series to day 15 (a rule over all
    of a file's dates, as before, trusted 000011 on days 2-4 of the full store, 1 wrong date in 60, and not in the
    cut store, 1 in 15: those days' values depended on later days)."""
    days = calendar(60)
    truth = np.round(np.sin(np.arange(60)) * 100, 2)
    write_market_files(tmp_path / "raw", days, truth)

    result = ingest(tmp_path / "raw", tmp_path / "store")

    market = open_store(tmp_path / "store").market
    np.testing.assert_allclose(market[[0, 1], 2], 10 + truth[:2], rtol=1e-6)  # 000012 and 000013 agree
    assert np.isnan(market[2:5]).all()  # 000011 is left out after its wrong day 1: 000012 alone is no consensus
    np.testing.assert_allclose(market[5:, 2], 10 + truth[5:], rtol=1e-6)
    report = {r["file"]: r for r in result.meta["market_disagreements"]}
    shifted = report.pop("processed_000009.xlsx")
    assert (shifted["trusted"], shifted["first_date"], shifted["untrusted_from"]) == (False, days[0], days[1])
    assert shifted["dates"] == 57  # every date with a consensus: all but days 2 to 4
    assert report == {"processed_000011.xlsx": {"file": "processed_000011.xlsx", "dates": 1, "first_date": days[1],
                                               "trusted": False, "untrusted_from": days[2]},
                      "processed_000010.xlsx": {"file": "processed_000010.xlsx", "dates": 1, "first_date": days[25],
                                               "trusted": True, "untrusted_from": None}}
    assert result.meta["market_unknown_days"] == days[2:5]
    write_market_files(tmp_path / "cut", days[:15], truth)
    ingest(tmp_path / "cut", tmp_path / "cut-store")
    np.testing.assert_array_equal(open_store(tmp_path / "cut-store").market, market[:15])


def test_ex_rights_gap_is_back_adjusted(tmp_path: Path) -> None:
    days = calendar(30)
    closes = [10.0] * 15 + [7.2] * 15
    opens = [10.0] * 15 + [7.0] + [7.2] * 14  # -30 % overnight on day 15: beyond the 10 % limit
    raw = tmp_path / "raw"
    raw.mkdir()
    write(bars(days, closes, opens), raw / "processed_600100.xlsx")
    write(bars(days, [3.0] * 15 + [2.5] * 15, [3.0] * 15 + [2.45] + [2.5] * 14), raw / "processed_300100.xlsx")

    meta = ingest(raw, tmp_path / "adj").meta
    store = open_store(tmp_path / "adj")

    assert [(e["code"], e["date"]) for e in meta["events"]] == [("600100", days[15])]  # ChiNext -18 % is a move
    event = meta["events"][0]
    assert event["factor"] == pytest.approx(0.7) and event["gap"] == pytest.approx(-0.3)
    s = store.codes.index("600100")
    np.testing.assert_allclose(store.close[s, :15], 10.0 * 0.7)
    np.testing.assert_allclose(store.close[s, 15:], 7.2)
    np.testing.assert_allclose(store.panel[s, :15, 4], (1000 + np.arange(15)) / 0.7, rtol=1e-6)
    assert store.close[s, 15] / store.close[s, 14] - 1 == pytest.approx(7.2 / 7.0 - 1)

    meta = ingest(raw, tmp_path / "raw_store", adjust=False).meta
    assert meta["events"][0]["adjusted"] is False
    np.testing.assert_allclose(open_store(tmp_path / "raw_store").close[s, :15], 10.0)


def test_rounded_limit_move_is_not_an_event(tmp_path: Path) -> None:
    days = calendar(30)
    raw = tmp_path / "raw"
    raw.mkdir()
    # 1.58 -> 1.42 is -10.1 %, but 1.42 is the limit-down price rounded to the fen
    write(bars(days, [1.58] * 15 + [1.42] * 15, [1.58] * 15 + [1.42] * 15), raw / "processed_600200.xlsx")
    assert ingest(raw, tmp_path / "store").meta["events"] == []


def test_synthetic_ex_rights_day_is_found(raw: Path, tmp_path: Path, sim: dict) -> None:
    meta = ingest(raw, tmp_path / "store").meta
    assert [e["code"] for e in meta["events"]] == ["600000"]
    assert meta["events"][0]["factor"] == pytest.approx(EX_RIGHTS_FACTOR, abs=0.02)
    assert meta["market_disagreements"] == [] and meta["market_unknown_days"] == []


def test_rerun_is_a_no_op_and_force_rebuilds(raw: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    assert run_cli("ingest", raw, "--out", store).exit_code == 0
    before = snapshot(store)
    again = run_cli("ingest", raw, "--out", store)
    assert again.exit_code == 0 and "unchanged" in again.output
    assert snapshot(store) == before
    forced = run_cli("ingest", raw, "--out", store, "--force", "--json")
    assert json.loads(forced.stdout)["status"] == "built"
    assert open_store(store).meta["created"] >= json.loads((tmp_path / "store" / "meta.json").read_text())["created"]


def test_bars_parquet_agrees_with_panel(raw: Path, tmp_path: Path) -> None:
    ingest(raw, tmp_path / "store")
    store = open_store(tmp_path / "store")
    long = pl.read_parquet(tmp_path / "store" / "bars.parquet")
    assert long.height == int((~np.isnan(store.panel[:, :, 3])).sum())
    wide = long.pivot(on="date", index="code", values="close").sort("code")
    assert wide["code"].to_list() == store.codes
    np.testing.assert_array_equal(wide.select(store.meta["dates"]).to_numpy().astype(np.float32), store.panel[:, :, 3])
    market = long.group_by("date").agg(pl.col("market_range").first()).sort("date")["market_range"].to_numpy()
    np.testing.assert_array_equal(market, store.market[:, 2])


def test_csv_and_real_excel_dates_read_like_text_dates(tmp_path: Path, sim: dict) -> None:
    write_sim(sim, tmp_path / "xlsx")
    write_sim(sim, tmp_path / "csv", fmt="csv")
    real = tmp_path / "dates"
    real.mkdir()
    for s, code in enumerate(sim["codes"]):
        df = frame(sim, s)
        write(df.with_columns(pl.col("time").str.strip_chars().str.to_date("%Y/%m/%d")), real / f"p_{code}.xlsx")
    panels = []
    for name in ("xlsx", "csv", "dates"):
        ingest(tmp_path / name, tmp_path / f"store_{name}")
        panels.append(np.asarray(open_store(tmp_path / f"store_{name}").panel))
    np.testing.assert_array_equal(panels[0], panels[1])
    np.testing.assert_array_equal(panels[0], panels[2])


def test_synth_is_deterministic_per_seed(tmp_path: Path) -> None:
    a = synth(tmp_path / "a", stocks=3, days=40, seed=5, fmt="csv")
    b = synth(tmp_path / "b", stocks=3, days=40, seed=5, fmt="csv")
    c = synth(tmp_path / "c", stocks=3, days=40, seed=6, fmt="csv")
    assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b]
    assert [p.read_bytes() for p in a] != [p.read_bytes() for p in c]
    header = a[0].read_text().splitlines()
    assert header[0] == "time,start,max,min,end,volume,marketvolume,marketlimit,marketrange"
    assert header[1].startswith(" 2020/01/02,")


def test_synthetic_returns_are_fat_tailed_and_clustered() -> None:
    sim = simulate(stocks=50, days=600, seed=3)
    r = np.diff(np.log(sim["end"][1:]), axis=1).ravel()  # stock 0 carries the ex-rights gap
    r = r[r != 0]
    kurtosis = ((r - r.mean()) ** 4).mean() / r.var() ** 2
    assert kurtosis > 4  # a normal distribution gives 3
    a = np.abs(np.diff(np.log(sim["end"][1:]), axis=1))
    lag1 = np.mean([np.corrcoef(x[1:], x[:-1])[0, 1] for x in a])
    assert lag1 > 0.05  # big moves follow big moves
    assert sim["off"].any()


def test_info_reads_the_summary_back(raw: Path, tmp_path: Path) -> None:
    run_cli("ingest", raw, "--out", tmp_path / "store")
    result = run_cli("info", tmp_path / "store", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["stocks"] == 6
    assert "date range" in run_cli("info", tmp_path / "store").stdout
    missing = run_cli("info", tmp_path / "nothing")
    assert missing.exit_code == 2 and "no EquiNet store" in missing.output


def test_interrupted_swap_is_recovered(raw: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    ingest(raw, store)
    before = snapshot(store)
    store.rename(tmp_path / ".store.old-999")  # as if killed between the two renames
    (tmp_path / ".store.tmp-998").mkdir()  # and a half-built directory of another killed run
    ingest(raw, store)
    assert snapshot(store).keys() == before.keys()
    assert not list(tmp_path.glob(".store.*"))


def test_ingest_does_not_import_torch(raw: Path, tmp_path: Path) -> None:
    code = (f"import sys, equinet; equinet.ingest({str(raw)!r}, {str(tmp_path / 's')!r}); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared A-share data not present")
def test_shared_data_ingests_strictly(tmp_path: Path) -> None:
    result = run_cli("ingest", SHARED, "--out", tmp_path / "store", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["stocks"], summary["days"]) == (319, 320)
    assert (summary["first"], summary["last"]) == ("2023-06-08", "2024-09-30")
    events = {(e["code"], e["date"]) for e in summary["events"]}
    assert ("600617", "2024-06-27") in events and len(events) == 6
    untrusted = [r for r in summary["market_disagreements"] if not r["trusted"]]
    assert len(untrusted) >= 30
    store = open_store(tmp_path / "store")
    assert not np.isnan(store.market[store.meta["dates"].index("2023-06-26"):]).any()
