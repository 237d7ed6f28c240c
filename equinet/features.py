"""Host-side preparation: per-day inputs, clean-history lengths and labels, from a store's arrays."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from equinet.adjust import event_cells
from equinet.baselines import ewma_sigma, reversal
from equinet.store import Store

UP, DOWN, FLAT = 0, 1, 2
CLASSES = ("up", "down", "flat")
CLASSES_ZH = ("涨", "跌", "稳")
FEATURES = (
    "log_open", "log_high", "log_low", "log_close",  # made relative to the decision day's close
    "log_volume",  # made relative to the window's mean
    "return",  # log close / previous close (0 after a break)
    "market_change", "log_market_volume", "log_market_range",  # the last two relative to the window's mean
    "market_known",  # 1 where the market series is known that day
)
PRICE_LOGS = slice(0, 4)
DECISION_CLOSE = 3
TOLERANCE = 1e-9  # two-decimal prices hit the thresholds exactly; float64 error is far below this


@dataclass(frozen=True)
class LabelRule:
    """UP if r >= up, DOWN if r <= down, else FLAT, for r = close[t+horizon] / close[t] - 1."""

    horizon: int = 3
    up: float = 0.03
    down: float = -0.02


@dataclass
class Prepared:
    """Everything windows need, per stock and day, before it moves to the device."""

    inputs: np.ndarray  # float32 [stocks, days, len(FEATURES)]
    run: np.ndarray  # int32 [stocks, days]: clean consecutive days ending here (0 = no bar)
    labels: np.ndarray  # int64 [stocks, days]: UP/DOWN/FLAT, -1 where the horizon leaves the data
    forward_return: np.ndarray  # float64 [stocks, days]: close[t+h]/close[t]-1, NaN where unknown
    sigma: np.ndarray  # float32 [stocks, days]: the volatility baseline's daily sigma up to each day
    reversal: np.ndarray  # float32 [stocks, days]: the reversal baseline's rank score at each day


def labels(close: np.ndarray, rule: LabelRule) -> tuple[np.ndarray, np.ndarray]:
    """Labels and forward returns from adjusted float64 closes (never from normalised values)."""
    h = rule.horizon
    r = np.full(close.shape, np.nan)
    r[:, :-h] = close[:, h:] / close[:, :-h] - 1
    y = np.full(close.shape, -1, dtype=np.int64)
    known = ~np.isnan(r)
    y[known] = FLAT
    y[known & (r >= rule.up - TOLERANCE)] = UP
    y[known & (r <= rule.down + TOLERANCE)] = DOWN
    return y, r


def clean_run(present: np.ndarray, breaks: np.ndarray) -> np.ndarray:
    """run[s, d]: consecutive days up to d with a bar and no break between them (a break at d cuts d-1|d)."""
    run = np.zeros(present.shape, dtype=np.int32)
    for d in range(present.shape[1]):
        before = run[:, d - 1] if d else 0
        run[:, d] = np.where(present[:, d], np.where(breaks[:, d], 1, before + 1), 0)
    return run


def _unadjusted_breaks(store: Store) -> np.ndarray:
    """Ex-rights days kept raw (--no-adjust): returns across them are not moves, so windows may not span them."""
    breaks = np.zeros(store.close.shape, dtype=bool)
    raw = [e for e in store.meta["events"] if not e["adjusted"]]
    breaks[event_cells(raw, store.codes, store.meta["dates"])] = True
    return breaks


def prepare(store: Store, rule: LabelRule) -> Prepared:
    """Per-day inputs (not yet window-normalised), clean-history lengths and labels."""
    panel = np.asarray(store.panel, dtype=np.float64)
    market = np.asarray(store.market, dtype=np.float64)
    close = np.asarray(store.close)
    present = ~np.isnan(close)
    logs = np.log(panel[:, :, :4])
    log_volume = np.log1p(panel[:, :, 4])
    ret = np.zeros(close.shape)
    ret[:, 1:] = np.log(close[:, 1:] / close[:, :-1])
    breaks = _unadjusted_breaks(store)
    ret[~np.isfinite(ret) | breaks] = 0.0
    known = ~np.isnan(market).any(axis=1)
    mkt = np.stack([market[:, 1], np.log1p(market[:, 0]), np.log1p(market[:, 2]), np.ones(len(market))], axis=1)
    mkt[~known] = 0.0
    S, D = close.shape
    inputs = np.concatenate(
        [logs, log_volume[:, :, None], ret[:, :, None], np.broadcast_to(mkt, (S, D, 4))], axis=2
    )
    inputs[~present] = 0.0
    y, r = labels(close, rule)
    return Prepared(inputs.astype(np.float32), clean_run(present, breaks), y, r,
                    ewma_sigma(close, breaks).astype(np.float32), reversal(ret).astype(np.float32))
