"""Synthetic TDX exports: realistic enough to exercise every path of ingest, train and eval."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from equinet.core.board import limit_rates
from equinet.data.sources import gbbq
from equinet.data.sources.rows import COLUMNS
from equinet.data.sources.vipdoc import write_day

FORMATS = ("xlsx", "csv", "txt", "vipdoc")
GBBQ = Path("T0002") / "hq_cache" / "gbbq"  # under a TDX root
PREFIXES = ("600", "000", "002", "300", "601", "603")
EX_RIGHTS_FACTOR = 0.7  # stock 0 pays a bonus issue: its raw price gaps down 30 % overnight


def _garch(rng: np.random.Generator, shape: tuple[int, int], vol: float) -> np.ndarray:
    """Fat-tailed (Student-t, 4 dof) returns with GARCH(1,1) volatility clustering; time on axis 1."""
    z = rng.standard_t(4, size=shape) / np.sqrt(2.0)
    omega, alpha, beta = vol**2 * 0.05, 0.08, 0.87
    out, var = np.empty(shape), np.full(shape[0], vol**2)
    for t in range(shape[1]):
        out[:, t] = np.sqrt(var) * z[:, t]
        var = np.minimum(omega + alpha * out[:, t] ** 2 + beta * var, (5 * vol) ** 2)
    return out


def _ar1(rng: np.random.Generator, shape: tuple[int, int], phi: float, sigma: float) -> np.ndarray:
    """A mean-reverting log level: volume regimes that persist for weeks."""
    shocks = rng.normal(0, sigma, size=shape)
    out = np.empty(shape)
    out[:, 0] = shocks[:, 0] / np.sqrt(1 - phi**2)
    for t in range(1, shape[1]):
        out[:, t] = phi * out[:, t - 1] + shocks[:, t]
    return out


def _codes(n: int) -> list[str]:
    return [f"{PREFIXES[i % len(PREFIXES)]}{i // len(PREFIXES):03d}" for i in range(n)]


def _suspensions(rng: np.random.Generator, stocks: int, days: int) -> np.ndarray:
    """True where a stock is suspended: a few stocks, one spell of 1-10 days each."""
    off = np.zeros((stocks, days), dtype=bool)
    for s in rng.choice(np.arange(1, stocks), size=min(stocks - 1, max(1, stocks // 10)), replace=False):
        start = int(rng.integers(days // 4, max(days // 4 + 1, days - 30)))
        off[s, start:start + int(rng.integers(1, min(11, days // 4)))] = True
    return off


def simulate(stocks: int, days: int, seed: int, start: str = "2020-01-02") -> dict:
    """Bars for every stock on a shared business-day calendar, as arrays [stocks, days]."""
    rng = np.random.default_rng(seed)
    first = np.busday_offset(np.datetime64(start, "D"), 0, roll="forward")
    dates = np.busday_offset(first, np.arange(days))
    market = _garch(rng, (1, days), 0.011)[0]
    idio = _garch(rng, (stocks, days), 0.018)
    beta = rng.uniform(0.6, 1.4, size=(stocks, 1))
    ret = beta * market + idio
    off = _suspensions(rng, stocks, days)
    codes = _codes(stocks)
    limit = limit_rates(codes, [str(d) for d in dates], np.zeros((stocks, days), bool),
                        np.full((stocks, days), 10_000))[0]  # each day's limit, as the exchange sets it

    close = np.empty((stocks, days))
    opened = np.empty((stocks, days))
    prev = np.round(rng.uniform(2.0, 30.0, size=stocks), 2)
    for t in range(days):
        lo, hi = np.round(prev * (1 - limit[:, t]), 2), np.round(prev * (1 + limit[:, t]), 2)
        c = np.clip(np.round(prev * np.exp(ret[:, t]), 2), np.maximum(lo, 0.01), hi)
        o = np.clip(np.round(prev * np.exp(0.3 * ret[:, t] + rng.normal(0, 0.004, stocks)), 2),
                    np.maximum(lo, 0.01), hi)
        close[:, t] = np.where(off[:, t], prev, c)
        opened[:, t] = np.where(off[:, t], prev, o)
        prev = close[:, t]
    wick = np.abs(rng.normal(0, 0.008, size=(2, stocks, days)))
    high = np.maximum(np.round(np.maximum(opened, close) * (1 + wick[0]), 2), np.maximum(opened, close))
    low = np.minimum(np.round(np.minimum(opened, close) * (1 - wick[1]), 2), np.minimum(opened, close))
    low = np.maximum(low, 0.01)

    moved = np.abs(np.diff(np.log(close), axis=1, prepend=np.log(close[:, :1])))
    volume = np.round(np.exp(rng.uniform(14, 18, size=(stocks, 1)) + _ar1(rng, (stocks, days), 0.97, 0.1)
                             + 12 * moved))

    if stocks > 0 and days > 40:  # one ex-rights day on stock 0: raw prices before it are higher
        event = days * 2 // 3
        for a in (opened, high, low, close):
            a[0, :event] = np.round(a[0, :event] / EX_RIGHTS_FACTOR, 2)
        volume[0, :event] = np.round(volume[0, :event] * EX_RIGHTS_FACTOR)

    level = 3000 * np.exp(np.cumsum(market))
    return {
        "codes": codes, "dates": dates, "off": off,
        "start": opened, "max": high, "min": low, "end": close, "volume": volume,
        "marketvolume": np.round(3e8 * np.exp(_ar1(rng, (1, days), 0.97, 0.08)[0] + 20 * np.abs(market))),
        "marketlimit": np.round(np.expm1(market), 6),
        "marketrange": np.round(level * (np.abs(market) + np.abs(rng.normal(0, 0.006, days))), 2),
    }


def frame(sim: dict, s: int) -> pl.DataFrame:
    """Stock s's rows in the TDX layout (text dates with their leading space), suspended days left out."""
    keep = ~sim["off"][s]
    text = np.char.replace(np.datetime_as_string(sim["dates"][keep], unit="D"), "-", "/")
    columns = {"time": np.char.add(" ", text)}
    for c in COLUMNS[1:5]:
        columns[c] = sim[c][s, keep]
    columns["volume"] = sim["volume"][s, keep].astype(np.int64)
    columns["marketvolume"] = sim["marketvolume"][keep].astype(np.int64)
    columns["marketlimit"] = sim["marketlimit"][keep]
    columns["marketrange"] = sim["marketrange"][keep]
    return pl.DataFrame(columns)


def write(df: pl.DataFrame, path: Path) -> None:
    """One file, .xlsx or .csv by its suffix."""
    if path.suffix == ".csv":
        df.write_csv(path)
    else:
        df.write_excel(path, worksheet="Sheet1", autofit=False)


def exchange(code: str) -> str:
    """The exchange a synthetic code trades on (6xx Shanghai, else Shenzhen)."""
    return "sh" if code.startswith("6") else "sz"


def bars(sim: dict, s: int | None) -> dict[str, np.ndarray]:
    """Stock s's bars on its trading days, or (s=None) the market index's: level 3000 moved by the market factor,
    volume and range from the market columns."""
    if s is None:
        close = np.round(3000 * np.cumprod(1 + sim["marketlimit"]), 2)
        prev = np.concatenate([[3000.0], close[:-1]])
        opened = np.round(prev * (1 + sim["marketlimit"] / 3), 2)
        half = sim["marketrange"] / 2
        mid = (np.maximum(opened, close) + np.minimum(opened, close)) / 2
        high = np.maximum(np.round(mid + half, 2), np.maximum(opened, close))
        low = np.minimum(np.round(mid - half, 2), np.minimum(opened, close))
        return {"date": sim["dates"], "open": opened, "high": high, "low": low, "close": close,
                "volume": sim["marketvolume"], "amount": np.round(sim["marketvolume"] * close, 2)}
    keep = ~sim["off"][s]
    out = {"date": sim["dates"][keep], "volume": sim["volume"][s, keep]}
    out |= {k: sim[c][s, keep] for k, c in zip(("open", "high", "low", "close"), COLUMNS[1:5])}
    out["amount"] = np.round(out["volume"] * out["close"], 2)
    return out


def text_export(b: dict[str, np.ndarray], code: str, name: str, adjustment: str = "不复权", separator: str = "\t",
                date_format: str = "%Y/%m/%d") -> str:
    """A TDX text export of these bars: title line, header, rows, footer."""
    dates = [d.item().strftime(date_format) for d in b["date"]]
    rows = [separator.join([d, *(f"{b[k][i]:.2f}" for k in ("open", "high", "low", "close")),
                            f"{b['volume'][i]:.0f}", f"{b['amount'][i]:.2f}"]) for i, d in enumerate(dates)]
    header = separator.join(["      日期", "    开盘", "    最高", "    最低", "    收盘", "    成交量", "    成交额"])
    return "\n".join([f"{code} {name} 日线 {adjustment}", header, *rows, "数据来源:通达信", ""])


def _targets(codes: list[str], fmt: str, out: Path) -> list[Path]:
    """Every file synth writes for these codes, the market index's last."""
    if fmt == "txt":
        return [out / f"{exchange(c).upper()}#{c}.txt" for c in codes] + [out / "SH#000001.txt"]
    if fmt == "vipdoc":
        return [out / "vipdoc" / exchange(c) / "lday" / f"{exchange(c)}{c}.day" for c in codes] + [
            out / "vipdoc" / "sh" / "lday" / "sh000001.day", out / GBBQ]
    return [out / f"processed_{c}.{fmt}" for c in codes]


def actions(sim: dict) -> np.ndarray:
    """The gbbq records of a synthetic tree: stock 0's bonus issue (the 30 % gap), a cash dividend of 2 yuan and
    3 bonus shares per 10 on stock 1 (its prices do not show it: only the factor tells), and two records ingest
    must skip (a share-capital change, a code not in the tree)."""
    days = len(sim["dates"])
    rows = [(sim["codes"][0], days * 2 // 3, 1, 0.0, 10 / EX_RIGHTS_FACTOR - 10),
            (sim["codes"][min(1, len(sim["codes"]) - 1)], days // 2, 1, 2.0, 3.0),
            (sim["codes"][0], days // 3, 5, 0.0, 0.0), ("688999", days // 2, 1, 5.0, 0.0)]
    rec = np.zeros(len(rows), dtype=gbbq.RECORD)
    for i, (code, day, category, cash, bonus) in enumerate(rows):
        date = str(sim["dates"][day]).replace("-", "")
        rec[i] = ({"sh": 1, "sz": 0}[exchange(code)], code.encode(), int(date), category, cash, 0.0, bonus, 0.0)
    return rec


def _write(sim: dict, s: int | None, path: Path) -> None:
    """Stock s (None: the index) in the format the path's suffix names; the gbbq file by its name."""
    if path.name == "gbbq":
        gbbq.write_gbbq(path, actions(sim))
        return
    code, name = (sim["codes"][s], f"股票{s}") if s is not None else ("000001", "上证指数")
    if path.suffix == ".txt":
        path.write_bytes(text_export(bars(sim, s), code, name).encode("gbk"))
    elif path.suffix == ".day":
        write_day(path, bars(sim, s), 0.01)
    else:
        write(frame(sim, s), path)


def synth(
    out: str | Path, stocks: int = 20, days: int = 300, seed: int = 0, fmt: str = "xlsx",
    start: str = "2020-01-02", progress=None,
) -> list[Path]:
    """Write stocks files into out (never over a file): processed_<code>.xlsx/.csv, TDX text exports SH#<code>.txt
    (GBK, with the index SH#000001.txt), or a vipdoc tree of .day files (with sh000001.day); the same seed gives
    the same data."""
    if fmt not in FORMATS:
        raise ValueError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    sim = simulate(stocks, days, seed, start)
    paths = _targets(sim["codes"], fmt, out)
    taken = [str(p.relative_to(out)) for p in paths if p.exists()]
    if taken:
        raise FileExistsError(f"{out}: already holds {', '.join(taken[:3])}{' ...' if len(taken) > 3 else ''}; "
                              "synth never overwrites files, choose an empty folder")
    for s, path in enumerate(paths):
        _write(sim, s if s < stocks else None, path)
        if progress and s < stocks:
            progress()
    return paths[:stocks]
