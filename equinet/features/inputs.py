"""Host-side preparation: per-day inputs, clean-history lengths and labels, from a store's arrays."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from equinet.core.labels import LabelRule, labels, tradable_return
from equinet.core import board
from equinet.data import adjust, limits
from equinet.data.adjust import event_cells, previous_close
from equinet.data.limits import day_limits, entry_prices, limit_flags
from equinet.data.store import Store, store_build
from equinet.features import series
from equinet.features.cache import cached, key
from equinet.features.series import SIGMA_FLOOR, ewma, ewma_sigma, reversal, squared_returns, trailing_sum

# Every input of a day is the same in every window that holds the day: nothing is relative to a decision day.
FEATURES = (
    "log_open", "log_high", "log_low", "log_close",  # log ratio to the previous close (own close without), in sigmas
    "log_volume",  # log volume minus its EWMA (half-life 60)
    "return",  # log close / previous close (0 after a break or gap), in sigmas
    "market_change", "log_market_volume", "log_market_range",  # the last two: logs minus their EWMA (half-life 20)
    "market_known",  # 1 where the market series is known that day
    "log_range",  # log high / low, in sigmas
    "log_sigma",  # log of the volatility baseline's daily sigma that day
    "vol_short", "vol_long", "vol_range",  # log ratios to sigma: EWMA sigmas of half-life 3 and 60, Parkinson's
    "volume_surprise",  # log volume minus its EWMA (half-life 20)
    "limit_up", "limit_down",  # closed at the board's daily limit
    # the stock's rank among all stocks with a bar that day, in [-0.5, 0.5]
    "rank_return_5", "rank_return_20", "rank_sigma", "rank_volume_surprise", "rank_amount", "rank_range",
    # what a store with float values adds (0 without): turnover and size, their ranks
    "log_turnover", "turnover_trend", "log_size", "rank_turnover", "rank_size",
    "room_up", "room_down",  # how far the close is from the day's limit-up / limit-down price, fraction (0.5: none)
    "breadth_up", "breadth_limit_up", "breadth_limit_down",  # shares of the day's stocks: up, at limit-up, -down
    "return_5", "return_20", "return_60",  # log returns over the last 5 / 20 / 60 days in sqrt(days) day's sigmas
)
# the inputs a run may leave out (--inputs): each group's features are then 0 on every day
INPUT_GROUPS = {"turnover": ("log_turnover", "turnover_trend", "rank_turnover"), "size": ("log_size", "rank_size"),
                "limits": ("limit_up", "limit_down", "room_up", "room_down"),
                "ranks": tuple(f for f in FEATURES if f.startswith("rank_")),
                "breadth": ("breadth_up", "breadth_limit_up", "breadth_limit_down"),
                "market": ("market_change", "log_market_volume", "log_market_range", "market_known")}


def left_out(inputs: str) -> list[int]:
    """Positions of the features of the INPUT_GROUPS not in the comma list `inputs` (they are 0 for the model)."""
    chosen = {g.strip() for g in inputs.split(",") if g.strip()}
    unknown = chosen - set(INPUT_GROUPS)
    if unknown:
        raise ValueError(f"--inputs takes a comma list of {', '.join(INPUT_GROUPS)}, not {', '.join(sorted(unknown))}")
    return sorted({FEATURES.index(f) for g, names in INPUT_GROUPS.items() if g not in chosen for f in names})


# the linear baseline's inputs, at the decision day only: the classic causal factors
LINEAR = ("return_1", "return_5", "return_20", "return_60",  # log returns over 1..60 days, in the day's sigmas
          "log_sigma", "vol_short", "vol_long", "vol_range", "volume_surprise", "log_turnover", "turnover_trend",
          "log_size", "limit_up", "limit_down", "market_change", "breadth_up",
          "rank_return_5", "rank_return_20", "rank_sigma", "rank_turnover", "rank_size")
SHORT_HALF_LIFE, LONG_HALF_LIFE, VOLUME_HALF_LIFE = 3, 60, 20
MAX_SIGMAS = 20.0  # a price-like input beyond this many of the day's sigmas is clipped (a stock that never moved)


@dataclass
class Prepared:
    """Everything the model and the baselines need, per stock and day, before it moves to the device."""

    inputs: np.ndarray  # float32 [stocks, days, len(FEATURES)]: each day's own, whatever the decision day
    clean_days: np.ndarray  # int32 [stocks, days]: clean consecutive days ending here (0 = no bar)
    labels: np.ndarray  # int64 [stocks, days]: UP/DOWN/FLAT, -1 where the horizon leaves the data
    forward_return: np.ndarray  # float64 [stocks, days]: close[t+h]/close[t]-1, NaN where unknown
    tradable: np.ndarray  # float64 [stocks, days]: close[t+h]/open[t+1]-1 (labels.tradable_return), NaN unknown
    sigma: np.ndarray  # float32 [stocks, days]: the volatility baseline's daily sigma up to each day
    reversal: np.ndarray  # float32 [stocks, days]: the reversal baseline's rank score at each day
    future_vol: np.ndarray  # float32 [stocks, days]: log(realised daily sigma over the horizon / sigma), NaN unknown
    linear: np.ndarray  # float32 [stocks, days, len(LINEAR)]: the linear baseline's inputs (0 unknown)
    rule: LabelRule  # the labels' rule
    build: str  # the store build it was prepared from


def prepared(store: Store, rule: LabelRule, reuse: Prepared | None = None) -> Prepared:
    """prepare(store, rule), or reuse when it was prepared from the same build of the store with the same rule (a
    cv prepares once for all its folds)."""
    if reuse is not None and reuse.rule == rule and reuse.build == store_build(store):
        return reuse
    return prepare(store, rule)


def clean_run(present: np.ndarray, breaks: np.ndarray) -> np.ndarray:
    """run[s, d]: consecutive days up to d with a bar and no break between them (a break at d cuts d-1|d)."""
    days = np.arange(present.shape[1])
    before = np.zeros_like(present)
    before[:, 1:] = present[:, :-1]
    start = present & (breaks | ~before)  # a run starts after a missing bar or at a break
    last = np.maximum.accumulate(np.where(start, days, -1), axis=1)
    return np.where(present, days - last + 1, 0).astype(np.int32)


def _unadjusted_breaks(store: Store) -> np.ndarray:
    """Ex-rights days kept raw (--no-adjust): returns across them are not moves, so no history spans them."""
    breaks = np.zeros(store.close.shape, dtype=bool)
    raw = [e for e in store.meta["events"] if not e["adjusted"]]
    breaks[event_cells(raw, store.codes, store.meta["dates"])] = True
    return breaks


def cross_rank(x: np.ndarray) -> np.ndarray:
    """Each stock's rank among the stocks with a finite value that day, scaled to [-0.5, 0.5]; 0 where unknown."""
    known = np.isfinite(x)
    order = np.argsort(np.where(known, x, np.inf).T.copy(), axis=1, kind="stable").T  # rows contiguous: faster
    rank = np.empty(x.shape)
    np.put_along_axis(rank, order, np.arange(x.shape[0], dtype=float)[:, None], axis=0)
    n = known.sum(0)
    return np.where(known, rank / np.maximum(n - 1, 1) - 0.5, 0.0)


def future_vol(r2: np.ndarray, sigma: np.ndarray, horizon: int) -> np.ndarray:
    """log(sqrt(mean squared daily log return over days t+1..t+h) / sigma_t): the auxiliary volatility target."""
    ahead = np.full(r2.shape, np.nan)
    ahead[:, :-horizon] = trailing_sum(np.nan_to_num(r2), horizon)[:, horizon:] / horizon
    with np.errstate(invalid="ignore", divide="ignore"):
        return 0.5 * np.log(np.maximum(ahead, SIGMA_FLOOR**2)) - np.log(np.maximum(sigma, SIGMA_FLOOR))


def _float32(columns: list[np.ndarray], present: np.ndarray, block: int = 16) -> np.ndarray:
    """Per-day columns ([stocks, days], or [days] for the whole market) as one float32 array [stocks, days, n],
    written a block of stocks at a time (the interleaved writes stay in cache; no float64 copy of the whole);
    unknown (NaN, inf) and days without a bar are 0."""
    out = np.empty((*present.shape, len(columns)), dtype=np.float32)
    for s in range(0, present.shape[0], block):
        part = out[s:s + block]
        for i, column in enumerate(columns):
            part[:, :, i] = column if column.ndim == 1 else column[s:s + block]
        part[~np.isfinite(part) | ~present[s:s + block, :, None]] = 0.0
    return out


def in_sigmas(x: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """A price-like series in the day's own sigma (the floor where unknown), clipped to +-MAX_SIGMAS."""
    return np.clip(x / np.nan_to_num(np.maximum(sigma, SIGMA_FLOOR), nan=SIGMA_FLOOR), -MAX_SIGMAS, MAX_SIGMAS)


def prepare(store: Store, rule: LabelRule) -> Prepared:
    """Per-day inputs (each day's own, causal), clean-history lengths, labels and the baselines' arrays; what does
    not depend on the rule comes from the cache when this build of the store was prepared before."""
    sources = [__file__, series.__file__, limits.__file__, adjust.__file__, board.__file__]
    days = cached(key([str(Path(store.path).resolve()), store_build(store)], sources), lambda: day_arrays(store))
    close = np.asarray(store.close)
    r2, _ = squared_returns(close, _unadjusted_breaks(store))
    y, r = labels(close, rule)
    return Prepared(days["inputs"], days["clean_days"], y, r, tradable_return(days["entry"], close, rule.horizon),
                    days["sigma"], days["reversal"],
                    future_vol(r2, days["sigma"].astype(np.float64), rule.horizon).astype(np.float32),
                    days["linear"], rule, store_build(store))


def day_arrays(store: Store) -> dict[str, np.ndarray]:
    """What prepare computes whatever the label rule: inputs, clean-history lengths, sigma, reversal, the linear
    baseline's inputs and the opens a buy fills at."""
    panel = np.asarray(store.panel, dtype=np.float64)
    market = np.asarray(store.market, dtype=np.float64)
    close = np.asarray(store.close)
    present = ~np.isnan(close)
    logs = np.log(panel[:, :, :4])
    log_volume = np.log1p(panel[:, :, 4])
    breaks = _unadjusted_breaks(store)
    prev = previous_close(close)
    r2, seen = squared_returns(close, breaks, prev)
    with np.errstate(invalid="ignore", divide="ignore"):
        ret = np.log(close / prev)  # after a suspension: the whole move since the last bar, as the price inputs
    ret[~np.isfinite(ret) | breaks] = 0.0  # no bar, the first bar, an unadjusted ex-rights day: no return
    sigma = ewma_sigma(close, breaks, squared=(r2, seen))
    with np.errstate(invalid="ignore", divide="ignore"):
        reference = np.log(prev)
    reference = np.where(np.isfinite(reference) & ~breaks, reference, logs[:, :, 3])  # first bar, break: own close
    prices = [in_sigmas(logs[:, :, i] - reference, sigma) for i in range(4)]
    vol = lambda half_life: np.log(np.sqrt(ewma(r2, seen, half_life)) / sigma)  # noqa: E731
    log_range = logs[:, :, 1] - logs[:, :, 2]
    parkinson = np.sqrt(ewma(log_range**2 / (4 * np.log(2)), present, 10))
    surprise = log_volume - ewma(log_volume, present, VOLUME_HALF_LIFE)
    up_rate, down_rate = day_limits(store)
    limit_up, limit_down, up_open = limit_flags(store)
    with np.errstate(invalid="ignore", divide="ignore"):
        change = close / prev - 1
        room_up = np.clip(np.where(np.isinf(up_rate), 0.5, up_rate - change), 0, 0.5)
        room_down = np.clip(np.where(np.isinf(down_rate), 0.5, change + down_rate), 0, 0.5)
        turnover = np.log(panel[:, :, 3] * panel[:, :, 4] / np.asarray(store.float_value))  # amount / float value
        turnover[~np.isfinite(turnover)] = np.nan
        size = np.log(np.asarray(store.float_value))
    has, filled = np.isfinite(turnover), np.nan_to_num(turnover)
    trend = ewma(filled, has, 5) - ewma(filled, has, 60)
    counted = np.maximum(present.sum(0), 1)  # the day's stocks
    breadth = np.stack([((ret > 0) & present).sum(0), (limit_up & present).sum(0), (limit_down & present).sum(0)],
                       axis=1) / counted[:, None]
    known = ~np.isnan(market).any(axis=1)
    levels = np.log1p(np.nan_to_num(market[:, [0, 2]].T))  # [2, days]
    levels = levels - ewma(levels, np.broadcast_to(known, levels.shape), VOLUME_HALF_LIFE)
    mkt = np.stack([market[:, 1], *levels, np.ones(len(market))], axis=1)
    mkt[~known] = 0.0
    with np.errstate(invalid="ignore", divide="ignore"):
        own = [in_sigmas(log_range, sigma), np.log(sigma), vol(SHORT_HALF_LIFE), vol(LONG_HALF_LIFE), np.log(parkinson / sigma),
               surprise, limit_up, limit_down]
        ranks = [trailing_sum(ret, 5), trailing_sum(ret, 20), sigma, surprise, logs[:, :, 3] + log_volume, parkinson]
        rank = [cross_rank(np.where(present, x, np.nan)) for x in ranks]
        more = [turnover, trend, size, cross_rank(turnover), cross_rank(size), room_up, room_down]
        volume = log_volume - ewma(log_volume, present, LONG_HALF_LIFE)
        trailing = [in_sigmas(trailing_sum(ret, n) / np.sqrt(n), sigma) for n in (5, 20, 60)]
        columns = [*prices, volume, in_sigmas(ret, sigma), *mkt.T, *own, *rank, *more, *breadth.T, *trailing]
        inputs = _float32(columns, present)
        moves = [trailing_sum(ret, n) / np.maximum(sigma, SIGMA_FLOOR) for n in (1, 5, 20, 60)]
    linear = np.concatenate([_float32(moves, present), inputs[:, :, [FEATURES.index(f) for f in LINEAR[4:]]]], axis=2)
    return {"inputs": inputs, "clean_days": clean_run(present, breaks), "sigma": sigma.astype(np.float32),
            "reversal": reversal(ret).astype(np.float32), "linear": linear,
            "entry": entry_prices(panel[:, :, 0], up_open)}
