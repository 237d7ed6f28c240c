"""The other sources a TDX install has: text exports, native vipdoc .day files, the index as the market series."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import run_cli, snapshot
from equinet.data.ingest import ingest
from equinet.data.sources.gbbq import read_gbbq, write_gbbq
from equinet.data.sources.vipdoc import RECORD, read_day, write_day
from equinet.data.store import open_store
from equinet.data.synth import EX_RIGHTS_FACTOR, bars, simulate, synth, text_export
from equinet.data.synth import actions as synth_actions

STOCKS, DAYS, SEED = 5, 80, 7


@pytest.fixture(scope="module")
def sim() -> dict:
    return simulate(STOCKS, DAYS, SEED)


def written(sim: dict, store, adjusted: tuple[int, ...] = (0,)) -> None:
    """The store holds exactly the simulated bars (suspended days missing) but for the adjusted stocks."""
    for s, code in enumerate(sim["codes"]):
        row = store.codes.index(code)
        keep = ~sim["off"][s]
        assert np.isnan(store.panel[row, ~keep, 3]).all()
        if s in adjusted:
            continue  # back-adjusted across an ex-rights day
        got = store.panel[row, keep]
        for i, key in enumerate(("start", "max", "min", "end")):
            np.testing.assert_allclose(got[:, i], sim[key][s, keep], rtol=1e-6)
        np.testing.assert_allclose(got[:, 4], sim["volume"][s, keep], rtol=1e-6)
    assert [str(d) for d in sim["dates"]] == [str(d) for d in store.dates]


@pytest.mark.parametrize("fmt", ["txt", "vipdoc"])
def test_values_equal_what_was_written(fmt: str, sim: dict, tmp_path: Path) -> None:
    synth(tmp_path / "src", STOCKS, DAYS, SEED, fmt=fmt)
    result = ingest(tmp_path / "src", tmp_path / "store")
    store = open_store(tmp_path / "store")
    written(sim, store, (0, 1) if fmt == "vipdoc" else (0,))  # the vipdoc tree's gbbq adjusts stock 1 too
    assert result.meta["source"] == {"kind": "text" if fmt == "txt" else "vipdoc", "universe": "a-shares",
                                     "market_index": "sh000001"}
    assert {e["code"] for e in result.meta["events"]} == {sim["codes"][0]} | ({sim["codes"][1]} if fmt == "vipdoc"
                                                                            else set())


def test_index_is_the_market_series(sim: dict, tmp_path: Path) -> None:
    synth(tmp_path / "src", STOCKS, DAYS, SEED, fmt="vipdoc")
    ingest(tmp_path / "src", tmp_path / "store")
    market = open_store(tmp_path / "store").market
    index = bars(sim, None)
    np.testing.assert_allclose(market[:, 0], index["volume"], rtol=1e-6)
    np.testing.assert_allclose(market[1:, 1], index["close"][1:] / index["close"][:-1] - 1, rtol=1e-5)
    assert np.isnan(market[0, 1])  # no bar before the first: its change is unknown, not 0
    np.testing.assert_allclose(market[:, 2], index["high"] - index["low"], rtol=1e-5)
    (tmp_path / "src" / "vipdoc" / "sh" / "lday" / "sh000001.day").unlink()
    result = ingest(tmp_path / "src", tmp_path / "store2")  # no index: the series is built from the stocks
    built = open_store(tmp_path / "store2")
    assert built.meta["market_source"].startswith("the stocks: equal-weighted") and np.isfinite(built.market[1:]).all()
    assert any("no market index file sh000001" in f.message and "from the stocks" in f.message
               for f in result.findings)


def test_another_index_and_the_universe(sim: dict, tmp_path: Path) -> None:
    src = tmp_path / "src"
    synth(src, STOCKS, DAYS, SEED, fmt="vipdoc")
    lday = src / "vipdoc" / "sz" / "lday"
    write_day(lday / "sz399001.day", bars(sim, None), 0.01)  # Shenzhen component index
    fund = bars(sim, 1)
    write_day(lday / "sz159915.day", fund, 0.001)  # an ETF: prices in 1/1000 yuan
    write_day(src / "vipdoc" / "sh" / "lday" / "sh204001.day", fund, 0.001)  # a repo: no known unit, ignored
    result = ingest(src, tmp_path / "a", market_index="sz399001")
    assert "159915" not in result.meta["codes"] and "399001" not in result.meta["codes"]
    assert len(result.meta["codes"]) == STOCKS  # the indexes sh000001 and sz399001 are not stocks
    assert result.meta["source"]["market_index"] == "sz399001"
    assert any("price unit" in f.message for f in result.findings)
    everything = ingest(src, tmp_path / "b", universe="all")
    etf = open_store(tmp_path / "b")
    row = etf.codes.index("159915")
    keep = ~sim["off"][1]
    np.testing.assert_allclose(etf.panel[row, keep, 3], sim["end"][1, keep], rtol=1e-6)
    assert len(everything.meta["codes"]) == len(result.meta["codes"]) + 1


@pytest.mark.parametrize("separator,encoding,date_format", [("\t", "gbk", "%Y/%m/%d"), (",", "gb18030", "%Y-%m-%d")])
def test_text_export_separators_and_encodings(separator: str, encoding: str, date_format: str, sim: dict,
                                              tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for s, code in enumerate(sim["codes"]):
        ex = "SH" if code.startswith("6") else "SZ"
        text = text_export(bars(sim, s), code, f"股票{s}", separator=separator, date_format=date_format)
        (src / f"{ex}#{code}.txt").write_bytes(text.encode(encoding))
    ingest(src, tmp_path / "store")
    written(sim, open_store(tmp_path / "store"))


def test_front_adjusted_export_with_negative_prices(sim: dict, tmp_path: Path) -> None:
    src = tmp_path / "src"
    synth(src, STOCKS, DAYS, SEED, fmt="txt")
    b = bars(sim, 3)
    b["open"][:5] -= b["open"][5] + 1  # a large dividend, front-adjusted: the first 5 rows go to or below zero
    for k in ("high", "low", "close"):
        b[k][:5] = b["open"][:5]
    code = sim["codes"][3]
    path = src / f"{'SH' if code.startswith('6') else 'SZ'}#{code}.txt"
    path.write_bytes(text_export(b, code, "股票3", adjustment="前复权").encode("gbk"))
    result = ingest(src, tmp_path / "store")
    store = open_store(tmp_path / "store")
    row = store.codes.index(code)
    first = np.flatnonzero(~sim["off"][3])[5]
    assert np.isnan(store.panel[row, :first, 3]).all() and not np.isnan(store.panel[row, first, 3])
    warning = next(f for f in result.findings if f.level == "warning" and f.file == path.name)
    assert warning.row == 3 + 4 and "<= 0" in warning.message
    source = next(s for s in result.meta["sources"] if s["code"] == code)
    assert source["adjustment"] == "front"


def test_day_file_reads_as_one_array(tmp_path: Path) -> None:
    path = tmp_path / "sh600000.day"
    b = {"date": np.array(["2024-02-28", "2024-02-29"], dtype="datetime64[D]"), "open": [10.01, 10.2],
         "high": [10.5, 10.3], "low": [9.9, 10.0], "close": [10.2, 10.1], "amount": [1e6, 2e6], "volume": [1e3, 2e3]}
    write_day(path, b, 0.01)
    assert path.stat().st_size == 2 * RECORD.itemsize
    got, findings = read_day(path, path.name, 0.01)
    assert not findings and list(got["date"]) == list(b["date"])
    np.testing.assert_allclose(got["open"], b["open"])
    np.testing.assert_allclose(got["volume"], b["volume"])


def day_file(src: Path, sim: dict) -> Path:
    code = sim["codes"][2]
    return src / "vipdoc" / ("sh" if code.startswith("6") else "sz") / "lday" / \
        f"{'sh' if code.startswith('6') else 'sz'}{code}.day"


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-7])


def bad_date(path: Path) -> None:
    rec = np.fromfile(path, dtype=RECORD)
    rec["date"][9] = 20230230
    rec.tofile(path)


def high_below_close(path: Path) -> None:
    rec = np.fromfile(path, dtype=RECORD)
    rec["high"][14] = rec["close"][14] - 5
    rec.tofile(path)


@pytest.mark.parametrize("mutate,needles", [
    (truncate, ("not a whole number of 32-byte records",)),
    (bad_date, ("record 10", "column date", "impossible date 20230230")),
    (high_below_close, ("record 15", "column high", "high below open or close")),
])
def test_malformed_day_file_fails_and_keeps_store(mutate, needles, sim: dict, tmp_path: Path) -> None:
    src, store = tmp_path / "src", tmp_path / "store"
    synth(src, STOCKS, DAYS, SEED, fmt="vipdoc")
    assert run_cli("ingest", src, "--out", store).exit_code == 0
    before = snapshot(store)
    path = day_file(src, sim)
    mutate(path)
    result = run_cli("ingest", src, "--out", store)
    assert result.exit_code == 2, result.output
    line = next(ln for ln in result.output.splitlines() if needles[0] in ln)
    assert path.name in line and all(n in line for n in needles), line
    assert snapshot(store) == before


def test_mixed_folder_and_ambiguous_dates_are_errors(sim: dict, tmp_path: Path) -> None:
    src = tmp_path / "src"
    synth(src, STOCKS, DAYS, SEED, fmt="txt")
    synth(src, 2, DAYS, SEED, fmt="csv")
    result = run_cli("ingest", src, "--out", tmp_path / "store")
    assert result.exit_code == 2 and "more than one kind of source" in result.output
    assert ".xlsx/.csv exports" in result.output and "TDX text exports" in result.output
    other = tmp_path / "dates"
    other.mkdir()
    code = sim["codes"][1]
    text = text_export(bars(sim, 1), code, "x", date_format="%m/%d/%Y")
    (other / f"SZ#{code}.txt").write_bytes(text.encode("gbk"))
    result = run_cli("ingest", other, "--out", tmp_path / "store")
    assert result.exit_code == 2 and "row 3" in result.output and "column 日期" in result.output
    assert "cannot be told apart" in result.output


def test_gbbq_round_trip_and_hand_computed_factors(sim: dict, tmp_path: Path) -> None:
    records = synth_actions(sim)
    write_gbbq(tmp_path / "gbbq", records)
    assert (tmp_path / "gbbq").read_bytes()[4:28] != records.tobytes()[:24]  # encrypted on disk
    got, findings = read_gbbq(tmp_path / "gbbq")
    assert not findings and got.tobytes() == records.tobytes()

    src = tmp_path / "src"
    synth(src, STOCKS, DAYS, SEED, fmt="vipdoc")
    result = ingest(src, tmp_path / "store")
    store = open_store(tmp_path / "store")
    assert result.meta["gbbq"] == str((src / "T0002" / "hq_cache" / "gbbq").resolve())
    event = next(e for e in result.meta["events"] if e["code"] == sim["codes"][1])
    day = DAYS // 2  # stock 1 pays 2 yuan cash and 3 bonus shares per 10 on this day
    keep = ~sim["off"][1]
    prev = sim["end"][1, :day][keep[:day]][-1]
    factor = (prev - 0.2) / 1.3 / prev
    assert event["source"] == "gbbq" and event["date"] == str(sim["dates"][day]) and event["factor"] == pytest.approx(factor)
    row = store.codes.index(sim["codes"][1])
    before, after = np.arange(DAYS) < day, np.arange(DAYS) >= day
    np.testing.assert_allclose(store.panel[row, before & keep, 3], sim["end"][1, before & keep] * factor, rtol=1e-6)
    np.testing.assert_allclose(store.panel[row, after & keep, 3], sim["end"][1, after & keep], rtol=1e-6)
    bonus = next(e for e in result.meta["events"] if e["code"] == sim["codes"][0])
    assert bonus["factor"] == pytest.approx(EX_RIGHTS_FACTOR)  # 4.2857 bonus shares per 10: exactly 1/1.42857
    assert len(result.meta["events"]) == 2 and result.meta["action_disagreements"] == []


def test_gaps_the_gbbq_does_not_explain_are_reported(sim: dict, tmp_path: Path) -> None:
    src = tmp_path / "src"
    synth(src, STOCKS, DAYS, SEED, fmt="vipdoc")
    records = synth_actions(sim)
    records["date"][0] = int(str(sim["dates"][10]).replace("-", ""))  # stock 0's bonus declared on the wrong day
    write_gbbq(src / "T0002" / "hq_cache" / "gbbq", records)
    result = ingest(src, tmp_path / "store")
    (gap,) = result.meta["action_disagreements"]
    assert gap["code"] == sim["codes"][0] and gap["gbbq_factor"] is None
    assert any("do not explain" in f.message for f in result.findings if f.level == "warning")


def test_truncated_gbbq_fails_and_keeps_store(sim: dict, tmp_path: Path) -> None:
    src, store = tmp_path / "src", tmp_path / "store"
    synth(src, STOCKS, DAYS, SEED, fmt="vipdoc")
    assert run_cli("ingest", src, "--out", store).exit_code == 0
    before = snapshot(store)
    path = src / "T0002" / "hq_cache" / "gbbq"
    path.write_bytes(path.read_bytes()[:-10])
    result = run_cli("ingest", src, "--out", store)
    assert result.exit_code == 2 and "truncated or not a gbbq file" in result.output, result.output
    assert "gbbq" in result.output and "record 4" in result.output
    assert snapshot(store) == before


def test_cli_synth_and_ingest_a_tdx_tree(tmp_path: Path) -> None:
    assert run_cli("synth", tmp_path / "tdx", "--stocks", "4", "--days", "60", "--format", "vipdoc").exit_code == 0
    result = run_cli("ingest", tmp_path / "tdx", "--out", tmp_path / "store", "--json")
    assert result.exit_code == 0, result.output
    assert '"stocks": 4' in result.output and '"source": "gbbq"' in result.output
    result = run_cli("synth", tmp_path / "x", "--format", "parquet")
    assert result.exit_code == 2 and "--format must be one of xlsx, csv, txt, vipdoc" in result.output
