"""Synthetic TDX exports: realistic enough to exercise every path of ingest, train and eval."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from equinet.tdx import COLUMNS, daily_limits

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
    limit = daily_limits(codes)[:, 0]

    close = np.empty((stocks, days))
    opened = np.empty((stocks, days))
    prev = np.round(rng.uniform(2.0, 30.0, size=stocks), 2)
    for t in range(days):
        lo, hi = np.round(prev * (1 - limit), 2), np.round(prev * (1 + limit), 2)
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


def synth(
    out: str | Path, stocks: int = 20, days: int = 300, seed: int = 0, fmt: str = "xlsx",
    start: str = "2020-01-02", progress=None,
) -> list[Path]:
    """Write stocks files processed_<code>.<fmt> into out (never over a file); the same seed gives the same data."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    sim = simulate(stocks, days, seed, start)
    paths = [out / f"processed_{code}.{fmt}" for code in sim["codes"]]
    taken = [p.name for p in paths if p.exists()]
    if taken:
        raise FileExistsError(f"{out}: already holds {', '.join(taken[:3])}{' ...' if len(taken) > 3 else ''}; "
                              "synth never overwrites files, choose an empty folder")
    for s, path in enumerate(paths):
        write(frame(sim, s), path)
        if progress:
            progress()
    return paths
