"""The vocabulary at the bottom: the three classes, the label rule, labels from adjusted closes, and the score
payoff that grades a decision."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

UP, DOWN, FLAT = 0, 1, 2
CLASSES = ("up", "down", "flat")
CLASSES_ZH = ("涨", "跌", "稳")
TOLERANCE = 1e-9  # two-decimal prices hit the thresholds exactly; float64 error is far below this
# The score rule as a payoff matrix [true, predicted]: +1 correct, -1 UP called DOWN, -2 DOWN called UP.
PAYOFF = np.array([[1.0, -1.0, 0.0], [-2.0, 1.0, 0.0], [0.0, 0.0, 1.0]])


@dataclass(frozen=True)
class LabelRule:
    """UP if r >= up, DOWN if r <= down, else FLAT, for r = close[t+horizon] / close[t] - 1."""

    horizon: int = 3
    up: float = 0.03
    down: float = -0.02


def forward_return(close: np.ndarray, horizon: int) -> np.ndarray:
    """r[s, d] = close[s, d + horizon] / close[s, d] - 1 from adjusted float64 closes; NaN past the store's end or
    where either day has no bar."""
    r = np.full(close.shape, np.nan)
    r[:, :-horizon] = close[:, horizon:] / close[:, :-horizon] - 1
    return r


def tradable_return(entry: np.ndarray, close: np.ndarray, horizon: int) -> np.ndarray:
    """r[s, d] = close[s, d + horizon] / entry[s, d + 1] - 1: what a buyer at the open after decision day d gets at
    the horizon's close (entry: each day's open where a buy fills, NaN where it cannot: no bar, or a limit-up open);
    NaN where he cannot buy or the horizon's close is unknown. Adjusted prices, so an ex-rights day between is no
    move."""
    r = np.full(close.shape, np.nan)
    r[:, :-horizon] = close[:, horizon:] / entry[:, 1:close.shape[1] - horizon + 1] - 1
    return r


def labels(close: np.ndarray, rule: LabelRule) -> tuple[np.ndarray, np.ndarray]:
    """Labels and forward returns from adjusted float64 closes (never from normalised values)."""
    r = forward_return(close, rule.horizon)
    y = np.full(close.shape, -1, dtype=np.int64)
    known = ~np.isnan(r)
    y[known] = FLAT
    y[known & (r >= rule.up - TOLERANCE)] = UP
    y[known & (r <= rule.down + TOLERANCE)] = DOWN
    return y, r
