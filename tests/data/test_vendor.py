"""Per-stock vendor CSV files (the archive layout, akshare, tushare, baostock), plain and gzip-compressed: the same
bars after ingest, exact factors from the previous close, new listings kept, a market series from the stocks."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from conftest import SHARED_DATA, run_cli

from equinet.core.labels import LabelRule
from equinet.data.limits import limit_flags
from equinet.data.store import open_store
from equinet.data.synth import bars, simulate
from equinet.features.inputs import FEATURES, prepare

SIM = simulate(stocks=4, days=60, seed=9)
SHARED = SHARED_DATA / "a-share-market"


def vendor_frame(b: dict, code: str, layout: str, ex_day: int | None = None, factor: float = 0.9) -> pl.DataFrame:
    """Stock bars as a vendor writes them; on ex_day the exchange's previous close is the last close x factor."""
    close = b["close"]
    prev = np.concatenate([[close[0]], close[:-1]])
    if ex_day is not None:
        prev[ex_day] = round(prev[ex_day] * factor, 2)
    day = [str(d) for d in b["date"].astype("datetime64[D]")]
    ex = "sh" if code.startswith("6") else "sz"
    if layout == "vendor":
        return pl.DataFrame({"股票代码": f"{ex}{code}", "股票名称": "股票", "交易日期": day, "开盘价": b["open"],
                             "最高价": b["high"], "最低价": b["low"], "收盘价": close, "前收盘价": prev,
                             "成交量": b["volume"].astype(float), "成交额": b["amount"],
                             "流通市值": close * 1e8, "总市值": close * 2e8})
    if layout == "akshare":  # no previous close: the change (涨跌额) gives it
        return pl.DataFrame({"日期": day, "股票代码": code, "开盘": b["open"], "收盘": close, "最高": b["high"],
                             "最低": b["low"], "成交量": b["volume"] / 100, "成交额": b["amount"],
                             "涨跌幅": np.round((close / prev - 1) * 100, 2), "涨跌额": np.round(close - prev, 2)})
    if layout == "tushare":  # newest first, as pro.daily returns it
        return pl.DataFrame({"ts_code": f"{code}.{ex.upper()}", "trade_date": [d.replace("-", "") for d in day],
                             "open": b["open"], "high": b["high"], "low": b["low"], "close": close, "pre_close": prev,
                             "change": np.round(close - prev, 2), "pct_chg": np.round((close / prev - 1) * 100, 4),
                             "vol": b["volume"] / 100, "amount": b["amount"] / 1000}).reverse()
    return pl.DataFrame({"date": day, "code": f"{ex}.{code}", "open": b["open"], "high": b["high"], "low": b["low"],
                         "close": close, "preclose": prev, "volume": b["volume"], "amount": b["amount"]})


def write(folder: Path, layout: str, gz: bool, ex: dict[int, int] | None = None, rows: dict[int, int] | None = None
          ) -> Path:
    """One file per stock in the layout; the archive layout with its note line; .gz when asked."""
    folder.mkdir(parents=True, exist_ok=True)
    for s, code in enumerate(SIM["codes"]):
        b = bars(SIM, s)
        if rows and s in rows:
            b = {k: v[-rows[s]:] for k, v in b.items()}
        text = vendor_frame(b, code, layout, (ex or {}).get(s)).write_csv()
        if layout == "vendor":
            text = "数据由邢不行整理\n" + text
        name = f"{'sh' if code.startswith('6') else 'sz'}{code}.csv"
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(text.encode()))
        else:
            (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("layout", ["vendor", "akshare", "tushare", "baostock"])
def test_every_layout_plain_or_gzip_gives_the_same_bars(tmp_path: Path, layout: str, gz: bool) -> None:
    result = run_cli("ingest", write(tmp_path / "raw", layout, gz), "--out", tmp_path / "s")
    assert result.exit_code == 0, result.output
    store = open_store(tmp_path / "s")
    assert store.codes == sorted(SIM["codes"]) and store.meta["source"]["kind"] == "vendor"
    for s, code in enumerate(SIM["codes"]):
        b, row = bars(SIM, s), store.codes.index(code)
        days = np.searchsorted(store.dates, b["date"].astype("datetime64[D]"))
        last = max([store.meta["dates"].index(e["date"]) for e in store.meta["events"] if e["code"] == code],
                   default=0)  # back-adjusted: from the stock's last event on, the prices are the file's
        after = days >= last
        np.testing.assert_allclose(store.close[row, days[after]], b["close"][after], rtol=1e-9)
        np.testing.assert_allclose(store.panel[row, days[after], 4], b["volume"][after], rtol=1e-6)  # shares
    # every layout gives the previous close (akshare through its change): nothing is inferred from gaps
    assert store.meta["factor_sources"]["gap"] == 0 and not store.meta["gap_inferred"]
    assert store.meta["market_source"].startswith("the stocks")


def test_the_previous_close_gives_exact_factors(tmp_path: Path) -> None:
    raw = write(tmp_path / "raw", "vendor", gz=True, ex={0: 30, 2: 45})
    assert run_cli("ingest", raw, "--out", tmp_path / "s").exit_code == 0
    store = open_store(tmp_path / "s")
    assert store.meta["factor_sources"] == {"preclose": 2, "gbbq": 0, "gap": 0}
    for s, code in enumerate(SIM["codes"]):
        f = vendor_frame(bars(SIM, s), code, "vendor", {0: 30, 2: 45}.get(s))
        row, days = store.codes.index(code), np.searchsorted(store.dates, np.array(f["交易日期"], dtype="datetime64[D]"))
        mine = store.close[row, days[1:]] / store.close[row, days[:-1]] - 1
        np.testing.assert_allclose(mine, (f["收盘价"] / f["前收盘价"] - 1).to_numpy()[1:], atol=1e-6)


def test_a_new_listing_with_three_rows_is_kept_in_strict_mode(tmp_path: Path) -> None:
    result = run_cli("ingest", write(tmp_path / "raw", "tushare", gz=False, rows={1: 3}), "--out", tmp_path / "s")
    assert result.exit_code == 0, result.output
    assert "only 3 data rows: kept in the store" in result.output
    store = open_store(tmp_path / "s")
    row = store.codes.index(SIM["codes"][1])
    assert np.isfinite(store.close[row]).sum() == 3 and np.isnan(store.close[row, :-3]).all()


def test_a_truncated_gzip_is_one_line_and_the_old_store_stays(tmp_path: Path) -> None:
    raw = write(tmp_path / "raw", "vendor", gz=True)
    assert run_cli("ingest", raw, "--out", tmp_path / "s").exit_code == 0
    before = (tmp_path / "s" / "close.npy").read_bytes()
    victim = sorted(raw.iterdir())[0]
    victim.write_bytes(victim.read_bytes()[:200])
    result = run_cli("ingest", raw, "--out", tmp_path / "s")
    assert result.exit_code == 2 and "Traceback" not in result.output
    line = next(ln for ln in result.output.splitlines() if victim.name in ln)
    assert "damaged or truncated gzip" in line
    assert (tmp_path / "s" / "close.npy").read_bytes() == before


def test_the_market_series_from_the_stocks_equals_a_hand_computation(tmp_path: Path) -> None:
    """3 stocks x 4 days: float-value-weighted (the day before) mean return and range, total amount."""
    close = np.array([[10.0, 11.0, 10.0, 10.5], [20.0, 19.0, 19.0, 20.0], [5.0, 5.5, 5.0, 5.0]])
    high, low, volume = close * 1.02, close * 0.97, np.array([[100.0] * 4, [200.0] * 4, [300.0] * 4])
    floats = np.array([[1e9] * 4, [3e9] * 4, [np.nan] * 4])  # the third stock has no float value
    folder = tmp_path / "raw"
    folder.mkdir()
    for s, code in enumerate(("600000", "600001", "000002")):
        prev = np.concatenate([[close[s, 0]], close[s, :-1]])
        pl.DataFrame({"股票代码": code, "股票名称": "x", "交易日期": ["2024-01-02", "2024-01-03", "2024-01-04",
                                                            "2024-01-05"], "开盘价": close[s], "最高价": high[s],
                      "最低价": low[s], "收盘价": close[s], "前收盘价": prev, "成交量": volume[s],
                      "成交额": volume[s] * close[s], "流通市值": floats[s]}).write_csv(folder / f"x{code}.csv")
    assert run_cli("ingest", folder, "--out", tmp_path / "s").exit_code == 0
    store = open_store(tmp_path / "s")
    market = np.asarray(store.market)
    for d in (1, 2, 3):
        w = np.array([1e9, 3e9, 0.0])  # the day before's float values; none known counts 0
        r = close[:, d] / close[:, d - 1] - 1
        spread = (high[:, d] - low[:, d]) / close[:, d - 1]
        np.testing.assert_allclose(market[d, 1], (w * r).sum() / w.sum(), rtol=1e-5)
        np.testing.assert_allclose(market[d, 2], (w * spread).sum() / w.sum(), rtol=1e-5)
        np.testing.assert_allclose(market[d, 0], (close[:, d] * volume[:, d]).sum(), rtol=1e-5)
    assert np.isnan(market[0]).all()  # the first day has no previous close: no return, no market value


@pytest.mark.skipif(not SHARED.is_dir(), reason="the whole-market archive is not here")
def test_the_real_archive_factors_are_exact(tmp_path: Path) -> None:
    files = sorted(SHARED.glob("*.csv.gz"))[:40]
    folder = tmp_path / "raw"
    folder.mkdir()
    for f in files:
        (folder / f.name).symlink_to(f)
    assert run_cli("ingest", folder, "--out", tmp_path / "s").exit_code == 0
    store = open_store(tmp_path / "s")
    worst = 0.0
    for f in files:
        raw = pl.read_csv(f, skip_rows=1)
        row = store.codes.index(f.name[2:8])
        days = np.searchsorted(store.dates, np.array(raw["交易日期"], dtype="datetime64[D]"))
        mine = store.close[row, days[1:]] / store.close[row, days[:-1]] - 1
        theirs = (raw["收盘价"] / raw["前收盘价"] - 1).to_numpy()[1:]
        worst = max(worst, float(np.abs(mine - theirs).max()))
    assert worst < 1e-6


def test_a_zip_of_the_files_gives_the_same_arrays_as_the_folder(tmp_path: Path) -> None:
    import zipfile

    folder = write(tmp_path / "raw", "vendor", gz=True, ex={0: 30})
    plain = write(tmp_path / "plain", "vendor", gz=False, ex={0: 30})
    with zipfile.ZipFile(tmp_path / "archive.zip", "w") as z:
        for p in sorted(folder.iterdir()):
            z.write(p, f"daily/{p.name}")
    stores = {}
    for name, src in (("folder", folder), ("plain", plain), ("zip", tmp_path / "archive.zip")):
        result = run_cli("ingest", src, "--out", tmp_path / f"store-{name}")
        assert result.exit_code == 0, result.output
        stores[name] = open_store(tmp_path / f"store-{name}")
    for name in ("plain", "zip"):
        np.testing.assert_array_equal(stores[name].panel, stores["folder"].panel)
        np.testing.assert_array_equal(stores[name].market, stores["folder"].market)
    assert [s["file"] for s in stores["zip"].meta["sources"]][0] == "archive.zip/daily/sh600000.csv.gz"


def test_a_damaged_zip_and_a_zip_bomb_member_are_one_line(tmp_path: Path) -> None:
    import zipfile

    folder = write(tmp_path / "raw", "vendor", gz=False)
    assert run_cli("ingest", folder, "--out", tmp_path / "s").exit_code == 0
    before = (tmp_path / "s" / "close.npy").read_bytes()
    (tmp_path / "bad.zip").write_bytes(b"PK\x03\x04 not really a zip")
    result = run_cli("ingest", tmp_path / "bad.zip", "--out", tmp_path / "s")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "bad.zip" in result.output and "not a readable .zip archive" in result.output
    with zipfile.ZipFile(tmp_path / "bomb.zip", "w", zipfile.ZIP_DEFLATED) as z:
        for p in sorted(folder.iterdir()):
            z.write(p, p.name)
        z.writestr("sh600999.csv", "数据由邢不行整理\n" + "交易日期,开盘价,最高价,最低价,收盘价,成交量\n" + "," * (70 * 2**20))
    result = run_cli("ingest", tmp_path / "bomb.zip", "--out", tmp_path / "s")
    assert result.exit_code == 2 and "bomb.zip/sh600999.csv" in result.output and "MiB" in result.output
    assert (tmp_path / "s" / "close.npy").read_bytes() == before


def test_the_name_of_each_day_and_the_st_flag_are_kept(tmp_path: Path) -> None:
    folder = write(tmp_path / "raw", "vendor", gz=False)
    path = folder / f"sh{SIM['codes'][3]}.csv" if SIM["codes"][3].startswith("6") else folder / f"sz{SIM['codes'][3]}.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[12:17] = [ln.replace(",股票,", ",*ST股票,") for ln in lines[12:17]]  # five days under special treatment
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert run_cli("ingest", folder, "--out", tmp_path / "s").exit_code == 0
    store = open_store(tmp_path / "s")
    row = store.codes.index(SIM["codes"][3])
    assert int(np.asarray(store.st).sum()) == 5 and np.asarray(store.st)[row].sum() == 5
    names = pl.read_parquet(tmp_path / "s" / "bars.parquet").filter(pl.col("code") == SIM["codes"][3])["name"]
    assert (names == "*ST股票").sum() == 5 and (names == "股票").sum() == len(names) - 5


def test_the_limit_flags_of_the_inputs_follow_each_day_s_rules(tmp_path: Path) -> None:
    """An ST stock closing +5 % and a ChiNext stock closing +10 % in 2019 are at their limit-up; a STAR listing's
    +30 % on its second day is not (no limit in its first 5 days), nor is it taken for a corporate action."""
    days = [str(d) for d in np.arange("2019-07-22", "2019-08-31", dtype="datetime64[D]")
            if np.is_busday(d)][:25]
    header = "数据由邢不行整理\n股票代码,股票名称,交易日期,开盘价,最高价,最低价,收盘价,前收盘价,成交量,成交额,流通市值\n"
    moves = {"sh600001": ("*ST甲", {5: 0.05}), "sz300001": ("乙", {6: 0.10}), "sh688001": ("丙", {1: 0.30})}
    (tmp_path / "raw").mkdir()
    for code, (name, jumps) in moves.items():
        close, rows = 10.0, []
        for i, day in enumerate(days):
            prev, close = close, round(close * (1 + jumps.get(i, 0.002)), 2)
            shown = ("N" + name) if code == "sh688001" and i == 0 else name
            rows.append(f"{code},{shown},{day},{prev},{max(prev, close)},{min(prev, close)},{close},{prev},1e6,1e7,"
                        f"{close * 1e8}")
        (tmp_path / "raw" / f"{code}.csv").write_text(header + "\n".join(rows) + "\n", encoding="utf-8")
    assert run_cli("ingest", tmp_path / "raw", "--out", tmp_path / "s").exit_code == 0
    store = open_store(tmp_path / "s")
    up, down, _ = limit_flags(store)
    at = {c: set(np.flatnonzero(up[store.codes.index(c)]).tolist()) for c in ("600001", "300001", "688001")}
    assert at == {"600001": {5}, "300001": {6}, "688001": set()} and not down.any()
    assert store.meta["listings"] == {"688001": days[0]} and store.meta["factor_sources"]["gap"] == 0
    inputs = prepare(store, LabelRule()).inputs
    np.testing.assert_array_equal(inputs[:, :, FEATURES.index("limit_up")] == 1, up)


def write_vendor(folder: Path, series: dict[str, list[tuple[float, float, float]]], days: list[str]) -> Path:
    """One vendor CSV per stock from (previous close, open, close) per day, ingested into folder/s."""
    header = "数据由邢不行整理\n股票代码,股票名称,交易日期,开盘价,最高价,最低价,收盘价,前收盘价,成交量,成交额,流通市值\n"
    (folder / "raw").mkdir(parents=True)
    for code, bars_ in series.items():
        rows = [f"{code},股,{day},{o},{max(o, c)},{min(o, c)},{c},{p},1e6,1e7,{c * 1e8}" for day, (p, o, c) in
                zip(days, bars_)]
        (folder / "raw" / f"{code}.csv").write_text(header + "\n".join(rows) + "\n", encoding="utf-8")
    assert run_cli("ingest", folder / "raw", "--out", folder / "s").exit_code == 0
    return folder / "s"


def test_limit_flags_come_from_the_quoted_prices_and_no_later_action_moves_them(tmp_path: Path) -> None:
    """A 0.85 CNY stock's limit-up is 0.94 (0.935 rounds up): 0.94 is at it, 0.93 is not. A 3 CNY stock closes at its
    limit-up (3.30) and later +9.1 % (3.60 below 3.63); a 10-for-10 bonus and a 4-for-1 later (factors 0.5 and 0.2)
    back-adjust those days to cents, where a fen's tolerance of the adjusted price flagged the +9.1 % day too; the
    flags equal those of a store cut before the actions. An open at the limit-up is flagged on its own."""
    days = [str(d) for d in np.arange("2019-03-01", "2019-04-30", dtype="datetime64[D]") if np.is_busday(d)][:30]
    cheap = [(0.85, 0.85, 0.85)] * 5 + [(0.85, 0.86, 0.94), (0.94, 0.94, 0.94), (0.94, 0.90, 0.85),
                                        (0.85, 0.86, 0.93)] + [(0.93, 0.93, 0.93)] * 21
    dear, close = [], 3.0
    for i in range(30):
        prev = close
        close = {5: 3.30, 8: 3.60}.get(i, round(prev * 1.001, 2))
        opened = 3.63 if i == 8 else prev  # day 8 opens at its limit-up, closes below it
        factor = {20: 0.5, 25: 0.2}.get(i, 1.0)
        quoted_prev = round(prev * factor, 2)
        if factor != 1.0:
            close = opened = quoted_prev
        dear.append((quoted_prev, opened, close))
    full = open_store(write_vendor(tmp_path / "full", {"sh600001": cheap, "sh600002": dear}, days))
    cut = open_store(write_vendor(tmp_path / "cut", {"sh600001": cheap[:15], "sh600002": dear[:15]}, days[:15]))
    up, down, up_open = limit_flags(full)
    assert [set(np.flatnonzero(up[i]).tolist()) for i in (0, 1)] == [{5}, {5}]
    assert set(np.flatnonzero(up_open[1]).tolist()) == {8} and not down[1].any()
    assert full.meta["factor_sources"]["preclose"] == 2 and np.asarray(full.close)[1, 5] < 0.4  # adjusted to cents
    for got, want in zip(limit_flags(full), limit_flags(cut)):
        np.testing.assert_array_equal(got[:, :15], want)


def test_every_input_is_causal_with_float_values(tmp_path: Path) -> None:
    """Turnover, size, limit room, breadth and every other input (and the linear baseline's) up to day T are the
    same on a store cut after T: changing what happens later changes nothing before it, an ex-rights day after T
    (which back-adjusts every earlier price of the full store) included."""
    cut = 45
    last = np.unique(np.concatenate([bars(SIM, s)["date"] for s in range(len(SIM["codes"]))]))[cut]
    for name, until in (("full", None), ("cut", last)):
        folder = tmp_path / name
        folder.mkdir()
        for s, code in enumerate(SIM["codes"]):
            b = bars(SIM, s)
            b = {k: v[b["date"] <= until] for k, v in b.items()} if until is not None else b
            ex = {1: 30, 2: cut + 5}.get(s)  # one ex-rights day before the cut, one after it
            ex = ex if ex is not None and ex < len(b["close"]) else None
            text = "数据由邢不行整理\n" + vendor_frame(b, code, "vendor", ex_day=ex).write_csv()
            (folder / f"{'sh' if code.startswith('6') else 'sz'}{code}.csv").write_text(text, encoding="utf-8")
        assert run_cli("ingest", folder, "--out", tmp_path / f"s-{name}").exit_code == 0
    full, short = (prepare(open_store(tmp_path / f"s-{n}"), LabelRule()) for n in ("full", "cut"))
    assert [e["code"] for e in open_store(tmp_path / "s-full").meta["events"]] == SIM["codes"][1:3]  # both events
    assert [e["code"] for e in open_store(tmp_path / "s-cut").meta["events"]] == SIM["codes"][1:2]
    for f in ("log_turnover", "log_size", "room_up", "breadth_up"):
        assert np.abs(full.inputs[:, :cut, FEATURES.index(f)]).sum() > 0, f  # the store's float values are used
    # a later adjustment moves the earlier prices, but no input: each day's inputs are ratios within its history
    np.testing.assert_allclose(full.inputs[:, :cut + 1], short.inputs, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(full.linear[:, :cut + 1], short.linear, rtol=1e-5, atol=1e-6)
    prices = [open_store(tmp_path / f"s-{n}").close[:, :cut + 1] for n in ("full", "cut")]
    moved = ~np.isclose(*prices, equal_nan=True).all(axis=1)
    assert moved.tolist() == [c == SIM["codes"][2] for c in open_store(tmp_path / "s-full").codes]  # the test bites


def test_two_files_of_one_stock_keep_the_later_then_the_exact_one(tmp_path: Path) -> None:
    """Strict: an error naming both files and which one is used; --lenient keeps that one, with the reason."""
    folder = write(tmp_path / "raw", "vendor", gz=False)
    code = SIM["codes"][0]
    ex = "sh" if code.startswith("6") else "sz"
    b = bars(SIM, 0)
    old = {k: v[:-5] for k, v in b.items()}  # an older export: it ends 5 days before
    (folder / f"old_{ex}{code}.csv").write_text("数据由邢不行整理\n" + vendor_frame(old, code, "vendor").write_csv())
    result = run_cli("ingest", folder, "--out", tmp_path / "s")
    assert result.exit_code == 2
    line = next(ln for ln in result.output.splitlines() if f"old_{ex}{code}.csv" in ln)
    assert f"also comes from {ex}{code}.csv, which covers later days" in line
    result = run_cli("ingest", folder, "--out", tmp_path / "s", "--lenient")
    assert result.exit_code == 0, result.output
    store = open_store(tmp_path / "s")
    assert np.isfinite(store.close[store.codes.index(code), -1])  # the later file's last day is there
    used = {s["file"]: s["used"] for s in store.meta["sources"] if s["code"] == code}
    assert used == {f"{ex}{code}.csv": True, f"old_{ex}{code}.csv": False}
    (folder / f"old_{ex}{code}.csv").unlink()  # the same days, one without the previous close (akshare, bare)
    bare = vendor_frame(b, code, "akshare").drop("涨跌额", "涨跌幅")
    bare.write_csv(folder / f"a_{code}.csv")
    result = run_cli("ingest", folder, "--out", tmp_path / "s2", "--lenient")
    assert "which has the exchange's previous close" in result.output
    assert {s["file"]: s["used"] for s in open_store(tmp_path / "s2").meta["sources"] if s["code"] == code} == \
        {f"{ex}{code}.csv": True, f"a_{code}.csv": False}


def test_an_evening_update_that_missed_some_files_is_named(tmp_path: Path) -> None:
    """Two of four stocks miss the last day: a warning with the count, and predict's reason says where they end."""
    from types import SimpleNamespace

    from equinet.inference.predict import _skip_reason

    folder = write(tmp_path / "raw", "vendor", gz=False)
    for path in sorted(folder.iterdir())[:2]:
        path.write_text("".join(path.read_text(encoding="utf-8").splitlines(keepends=True)[:-1]), encoding="utf-8")
    result = run_cli("ingest", folder, "--out", tmp_path / "s")
    assert result.exit_code == 0
    store = open_store(tmp_path / "s")
    dates = store.meta["dates"]
    assert len(store.meta["stale"]) == 2
    assert f"2 of 4 stocks end before {dates[-1]}" in result.output and "stale files?" in " ".join(result.output.split())
    s = store.codes.index(store.meta["stale"][0])
    reason = _skip_reason(SimpleNamespace(store=store), s, len(dates) - 1, dates[-1])
    assert reason == f"no bar on {dates[-1]}: its data ends on {dates[-2]} (a stale file, or delisted)"


def test_a_layout_without_any_previous_close_warns_once_that_gaps_are_inferred(tmp_path: Path) -> None:
    folder = tmp_path / "raw"
    folder.mkdir()
    for s, code in enumerate(SIM["codes"]):
        vendor_frame(bars(SIM, s), code, "akshare").drop("涨跌额", "涨跌幅").write_csv(folder / f"{code}.csv")
    result = run_cli("ingest", folder, "--out", tmp_path / "s")
    assert result.exit_code == 0
    warned = [ln for ln in result.output.splitlines() if "inferred from overnight gaps" in ln]
    assert len(warned) == 1 and "4 of 4 stocks have no previous close" in warned[0]
    assert "a dividend inside the limit is not seen" in " ".join(result.output.split())


def test_errors_name_the_file_s_own_columns(tmp_path: Path) -> None:
    """A tushare file with a bad open names trade_date's file, its row and column open; an akshare one 开盘."""
    for layout, column, header in (("tushare", "open", "open"), ("akshare", "开盘", "开盘")):
        folder = tmp_path / layout
        folder.mkdir()
        for s, code in enumerate(SIM["codes"]):
            frame = vendor_frame(bars(SIM, s), code, layout)
            if s == 1:
                frame = frame.with_columns(pl.when(pl.int_range(pl.len()) == 4).then(-1.0).otherwise(pl.col(header))
                                           .alias(header))
            frame.write_csv(folder / f"{code}.csv")
        result = run_cli("ingest", folder, "--out", tmp_path / f"s-{layout}")
        assert result.exit_code == 2
        line = next(ln for ln in result.output.splitlines() if "price <= 0" in ln)
        assert f"{SIM['codes'][1]}.csv, row 6, column {column}:" in line


def test_a_folder_holding_only_a_zip_names_it(tmp_path: Path) -> None:
    import zipfile

    folder = write(tmp_path / "raw", "vendor", gz=True)
    (tmp_path / "only").mkdir()
    with zipfile.ZipFile(tmp_path / "only" / "archive.zip", "w") as z:
        for p in sorted(folder.iterdir()):
            z.write(p, p.name)
    result = run_cli("ingest", tmp_path / "only", "--out", tmp_path / "s")
    assert result.exit_code == 2
    assert f"1 .zip archive(s) (archive.zip), which are read when passed themselves: equinet ingest " \
           f"{tmp_path / 'only' / 'archive.zip'}" in " ".join(result.output.split())


def test_a_zero_volume_row_at_the_previous_close_is_a_suspended_day(tmp_path: Path) -> None:
    """Any layout that writes a suspension as a zero-volume row whose prices all equal the previous close: no bar,
    one note; a zero-volume row that moved stays."""
    folder = write(tmp_path / "raw", "tushare", gz=False)
    code = SIM["codes"][1]
    path = folder / f"{'sh' if code.startswith('6') else 'sz'}{code}.csv"
    frame = pl.read_csv(path, infer_schema_length=0)
    i = 10  # newest first: the 11th row is 11 days before the last
    prev = frame["pre_close"][i]
    frame = frame.with_columns(*[pl.when(pl.int_range(pl.len()) == i).then(pl.lit(v)).otherwise(pl.col(c)).alias(c)
                                 for c, v in (("open", prev), ("high", prev), ("low", prev), ("close", prev),
                                              ("vol", "0"), ("change", "0"), ("pct_chg", "0"))])
    frame = frame.with_columns(pl.when(pl.int_range(pl.len()) == i - 1).then(pl.lit(prev)).otherwise(
        pl.col("pre_close")).alias("pre_close"))  # the next day's previous close is the last real close
    frame.write_csv(path)
    result = run_cli("ingest", folder, "--out", tmp_path / "s")
    assert result.exit_code == 0, result.output
    store = open_store(tmp_path / "s")
    day = store.meta["dates"].index(str(np.datetime64(frame["trade_date"][i][:4] + "-" + frame["trade_date"][i][4:6]
                                                      + "-" + frame["trade_date"][i][6:])))
    assert np.isnan(store.close[store.codes.index(code), day])
    note = [f for f in store.meta["findings"] if "suspended day" in f["message"]]
    assert len(note) == 1 and note[0]["row"] == i + 2 and note[0]["count"] == 1
