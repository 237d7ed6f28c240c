"""Each library's per-stock CSV exactly as a user gets it, made from real prices of the whole-market archive:
akshare `stock_zh_a_hist` saved by pandas (index column, lots, 涨跌额 but no previous close), tushare `daily` (newest
first, YYYYMMDD, lots and thousand CNY), baostock `query_history_k_data_plus` (a row for every suspended day with
tradestatus 0, isST, written as its docs do: GBK, no index) and the archive itself re-saved in GBK. Every stored
return is the source's close / previous close - 1 to 1e-9, no suspended day is a bar, ST is where the source says."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from conftest import SHARED_DATA, run_cli

from equinet.data.store import open_store

REAL = SHARED_DATA / "a-share-market"
# an ex-rights day mis-sized by gap inference (sz300290 2015-09-21), XDST康美, XR*ST厦, 408 suspended days
# (sz300149), a listing inside the archive (N美芝), DR/XD days of a large bank
PICKED = ("sz300290", "sh600518", "sh600815", "sz300149", "sz002856", "sh600000")
pytestmark = pytest.mark.skipif(not REAL.is_dir(), reason="the whole-market archive is not here")
PRICES = ("开盘价", "最高价", "最低价", "收盘价", "前收盘价")


def archive(name: str) -> pl.DataFrame:
    """One real file of the archive, numbers as floats."""
    frame = pl.read_csv(REAL / f"{name}.csv.gz", skip_rows=1, infer_schema_length=0)
    return frame.with_columns(pl.col(*PRICES, "成交量", "成交额", "流通市值").cast(pl.Float64))


def pandas_csv(frame: pl.DataFrame, index: bool) -> str:
    """The text pandas' DataFrame.to_csv writes: with index, an unnamed first column counting the rows."""
    return (frame.with_row_index("") if index else frame).write_csv()


def akshare(a: pl.DataFrame, code: str) -> str:
    """ak.stock_zh_a_hist(symbol, period="daily", adjust="") then df.to_csv(path): 12 columns, volume in lots,
    oldest first, no row for a suspended day."""
    pre, close = pl.col("前收盘价"), pl.col("收盘价")
    return pandas_csv(a.select(
        pl.col("交易日期").alias("日期"), pl.lit(code).alias("股票代码"), pl.col("开盘价").alias("开盘"), close.alias("收盘"),
        pl.col("最高价").alias("最高"), pl.col("最低价").alias("最低"), (pl.col("成交量") / 100).round(0).cast(pl.Int64).alias("成交量"),
        pl.col("成交额"), ((pl.col("最高价") - pl.col("最低价")) / pre * 100).round(2).alias("振幅"),
        ((close / pre - 1) * 100).round(2).alias("涨跌幅"), (close - pre).round(2).alias("涨跌额"),
        (pl.col("成交量") / (pl.col("流通市值") / close) * 100).round(2).alias("换手率")), index=True)


def tushare(a: pl.DataFrame, code: str, fields: tuple[str, ...] | None = None) -> str:
    """pro.daily(ts_code=...) then df.to_csv(path): newest first, trade_date YYYYMMDD, vol in lots, amount in
    thousand CNY; fields: the columns a user asked for."""
    pre, close = pl.col("前收盘价"), pl.col("收盘价")
    frame = a.select(
        pl.lit(f"{code}.{'SH' if code.startswith('6') else 'SZ'}").alias("ts_code"),
        pl.col("交易日期").str.replace_all("-", "").alias("trade_date"), pl.col("开盘价").alias("open"),
        pl.col("最高价").alias("high"), pl.col("最低价").alias("low"), close.alias("close"), pre.alias("pre_close"),
        (close - pre).round(2).alias("change"), ((close / pre - 1) * 100).round(4).alias("pct_chg"),
        (pl.col("成交量") / 100).round(2).alias("vol"), (pl.col("成交额") / 1000).round(3).alias("amount"),
    ).reverse()
    return pandas_csv(frame.select(fields) if fields else frame, index=True)


def baostock(a: pl.DataFrame, calendar: np.ndarray, empty_suspended: bool) -> str:
    """query_history_k_data_plus(code, "date,code,open,high,low,close,preclose,volume,amount,adjustflag,turn,
    tradestatus,pctChg,isST", adjustflag="3") then result.to_csv(path, encoding="gbk", index=False): every cell
    text, prices to 4 places; a suspended day of the stock's span is a row with tradestatus 0, volume 0 and the
    last close as every price (or, empty_suspended, empty prices)."""
    code = a["股票代码"][0]
    days = calendar[(calendar >= a["交易日期"][0]) & (calendar <= a["交易日期"][-1])]
    full = pl.DataFrame({"交易日期": days}).join(a, on="交易日期", how="left")
    last = full["收盘价"].fill_null(strategy="forward")
    traded = full["收盘价"].is_not_null()
    money = lambda s, places: pl.Series([f"{v:.{places}f}" for v in s])  # noqa: E731
    rows = {"date": full["交易日期"], "code": pl.Series([f"{code[:2]}.{code[2:]}"] * len(full))}
    for field, column in (("open", "开盘价"), ("high", "最高价"), ("low", "最低价"), ("close", "收盘价")):
        rows[field] = money(full[column].fill_null(last), 4)
    rows["preclose"] = money(full["前收盘价"].fill_null(last), 4)
    rows["volume"] = pl.Series([str(int(v)) for v in full["成交量"].fill_null(0)])
    rows["amount"] = money(full["成交额"].fill_null(0), 4)
    rows["adjustflag"] = pl.Series(["3"] * len(full))
    turn = full["成交量"] / (full["流通市值"] / full["收盘价"]) * 100
    rows["turn"] = pl.Series([f"{v:.6f}" if t else "" for v, t in zip(turn.fill_null(0), traded)])
    rows["tradestatus"] = traded.cast(pl.Int8).cast(pl.String)
    pct = (full["收盘价"] / full["前收盘价"] - 1) * 100
    rows["pctChg"] = pl.Series([f"{v:.6f}" if t else "" for v, t in zip(pct.fill_null(0), traded)])
    rows["isST"] = full["股票名称"].fill_null(strategy="forward").str.contains("ST").cast(pl.Int8).cast(pl.String)
    frame = pl.DataFrame(rows)
    if empty_suspended:
        frame = frame.with_columns(pl.when(traded).then(pl.col(c)).otherwise(pl.lit(""))
                                   for c in ("open", "high", "low", "close", "preclose", "amount"))
    return frame.write_csv()


def gbk_archive(name: str, excel: bool, note: bool = True) -> bytes:
    """The archive's file as Excel on Chinese Windows saves it: GBK; excel: also its dates as Excel writes them
    (2015/1/5); without its note line when not note."""
    text = gzip.decompress((REAL / f"{name}.csv.gz").read_bytes()).decode("utf-8")
    if not note:
        text = text.split("\n", 1)[1]
    if excel:
        text = "\n".join(ln if i < 1 + note else ln.replace(ln.split(",")[2], excel_date(ln.split(",")[2]))
                         for i, ln in enumerate(text.splitlines()))
    return text.encode("gbk", errors="replace")


def excel_date(day: str) -> str:
    y, m, d = day.split("-")
    return f"{y}/{int(m)}/{int(d)}"


def check(store_path: Path, sources: dict[str, tuple[pl.DataFrame, np.ndarray, np.ndarray]]) -> None:
    """For each stock (code -> its traded days, the source's close / previous close - 1 on them, its ST days):
    bars on exactly those days, each return equal to the source's to 1e-9 (a listing's first day aside), ST
    exactly there."""
    store = open_store(store_path)
    assert sorted(store.codes) == sorted(sources)
    for code, (days, returns, st) in sources.items():
        row = store.codes.index(code)
        at = np.searchsorted(store.dates, days.astype("datetime64[D]"))
        assert np.array_equal(np.flatnonzero(np.isfinite(store.close[row])), at), code  # no suspended day is a bar
        close = np.asarray(store.close[row, at])
        np.testing.assert_allclose(close[1:] / close[:-1] - 1, returns[1:], rtol=0, atol=1e-9, err_msg=code)
        np.testing.assert_array_equal(np.asarray(store.st)[row, at], st, err_msg=code)


def real_returns(a: pl.DataFrame) -> dict[str, tuple]:
    return {a["股票代码"][0][2:]: (np.array(a["交易日期"], dtype="datetime64[D]"),
                                 (a["收盘价"] / a["前收盘价"] - 1).to_numpy(), a["股票名称"].str.contains("ST").to_numpy())}


@pytest.fixture(scope="module")
def frames() -> dict[str, pl.DataFrame]:
    return {name: archive(name) for name in PICKED}


def ingest(folder: Path, out: Path, *args: str) -> str:
    result = run_cli("ingest", folder, "--out", out, *args)
    assert result.exit_code == 0, result.output
    return result.output


def test_akshare_as_saved_by_pandas(tmp_path: Path, frames: dict) -> None:
    """涨跌额 gives the exchange's previous close: every ex-rights day exact (sz300290 2015-09-21: +4.90 %, not the
    +8.58 % gap inference gave), no warning about inference; no names, so ST is never claimed."""
    (tmp_path / "raw").mkdir()
    for name, a in frames.items():
        (tmp_path / "raw" / f"{name[2:]}.csv").write_text(akshare(a, name[2:]), encoding="utf-8")
    output = ingest(tmp_path / "raw", tmp_path / "s")
    assert "inferred from overnight gaps" not in output
    check(tmp_path / "s", {c: (d, r, np.zeros(len(d), bool)) for a in frames.values()
                           for c, (d, r, _) in real_returns(a).items()})
    meta = open_store(tmp_path / "s").meta
    assert meta["preclose_sources"] == {"close - the file's change (涨跌额)": len(PICKED)}
    assert meta["factor_sources"]["gap"] == 0 and meta["factor_sources"]["preclose"] > 0
    day = meta["dates"].index("2015-09-21")
    close = open_store(tmp_path / "s").close[meta["codes"].index("300290")]
    assert abs(close[day] / close[day - 1] - 1 - 0.0490) < 5e-4


@pytest.mark.parametrize("fields", [None, ("ts_code", "trade_date", "open", "high", "low", "close", "pct_chg", "vol",
                                           "amount")])
def test_tushare_newest_first(tmp_path: Path, frames: dict, fields: tuple | None) -> None:
    """Rows newest first are sorted on read; fields without pre_close and change: the previous close from pct_chg
    (4 places), rounded to the fen."""
    (tmp_path / "raw").mkdir()
    for name, a in frames.items():
        (tmp_path / "raw" / f"{name[2:]}.{name[:2].upper()}.csv").write_text(tushare(a, name[2:], fields))
    ingest(tmp_path / "raw", tmp_path / "s")
    check(tmp_path / "s", {c: (d, r, np.zeros(len(d), bool)) for a in frames.values()
                           for c, (d, r, _) in real_returns(a).items()})
    how = "close / (1 + the file's change in %), rounded to the fen" if fields else "the file's previous close"
    assert open_store(tmp_path / "s").meta["preclose_sources"] == {how: len(PICKED)}


@pytest.mark.parametrize("empty", [False, True])
def test_baostock_suspended_rows_are_no_bars(tmp_path: Path, frames: dict, empty: bool) -> None:
    """Every suspended day's row (tradestatus 0: the last close repeated, or empty prices) is left out with one
    note per file, strict and --lenient; isST gives the ST days."""
    calendar = np.unique(np.concatenate([a["交易日期"].to_numpy() for a in frames.values()]))
    (tmp_path / "raw").mkdir()
    suspended = {}
    for name, a in frames.items():
        text = baostock(a, calendar, empty)
        suspended[name] = sum(ln.split(",")[11] == "0" for ln in text.splitlines()[1:])  # tradestatus
        (tmp_path / "raw" / f"{name[:2]}.{name[2:]}.csv").write_bytes(text.encode("gbk"))
    assert suspended["sz300149"] > 300  # the test has what it checks
    for mode in ((), ("--lenient",)):
        output = ingest(tmp_path / "raw", tmp_path / f"s{len(mode)}", *mode)
        check(tmp_path / f"s{len(mode)}", {c: v for a in frames.values() for c, v in real_returns(a).items()})
    notes = [f for f in open_store(tmp_path / "s0").meta["findings"] if "suspended day" in f["message"]]
    assert sorted((f["file"], f["count"], f["column"]) for f in notes) == sorted(
        (f"{n[:2]}.{n[2:]}.csv", k, "tradestatus") for n, k in suspended.items() if k)
    assert "Traceback" not in output


@pytest.mark.parametrize("gz,excel,note", [(False, True, True), (True, False, True), (False, False, False)])
def test_the_archive_saved_in_gbk(tmp_path: Path, frames: dict, gz: bool, excel: bool, note: bool) -> None:
    """GBK, plain (with Excel's dates, or without the note line) or .gz, reads exactly as the UTF-8 original: same
    returns, and ST where the day's name says, behind XD/XR/DR prefixes too (XDST康美 2019-08-28, XR*ST厦
    2019-12-23)."""
    (tmp_path / "raw").mkdir()
    for name in PICKED:
        data = gbk_archive(name, excel, note)
        (tmp_path / "raw" / f"{name}.csv{'.gz' if gz else ''}").write_bytes(gzip.compress(data) if gz else data)
    ingest(tmp_path / "raw", tmp_path / "s")
    sources = {c: v for a in frames.values() for c, v in real_returns(a).items()}
    check(tmp_path / "s", sources)
    store = open_store(tmp_path / "s")
    for code, day in (("600518", "2019-08-28"), ("600815", "2019-12-23")):
        assert store.st[store.codes.index(code), store.meta["dates"].index(day)]
    assert store.meta["names"]["600518"] == frames["sh600518"]["股票名称"][-1]
