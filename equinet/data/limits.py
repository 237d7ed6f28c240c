"""The exchange's daily limits on a store: each stock's limit rates on each day (board.limit_rates by board, date,
name and listing day) and whether a price is at them; what the inputs, eval's top-k and the backtest all use."""

from __future__ import annotations

import numpy as np

from equinet.core.board import limit_rates, listing_age
from equinet.data.adjust import previous_close
from equinet.data.store import Store


def day_limits(store: Store) -> tuple[np.ndarray, np.ndarray]:
    """The limit-up and limit-down rates of every stock and day [stocks, days] (board.limit_rates; inf: none)."""
    close = np.asarray(store.close)
    marked = np.zeros(close.shape, bool)
    row, day = {c: i for i, c in enumerate(store.codes)}, {d: i for i, d in enumerate(store.meta["dates"])}
    for code, first in store.meta["listings"].items():
        marked[row[code], day[first]] = True
    return limit_rates(store.codes, store.meta["dates"], np.asarray(store.st), listing_age(marked, ~np.isnan(close)))


def limit_flags(store: Store) -> tuple[np.ndarray, np.ndarray]:
    """[stocks, days] each: the close is at that day's limit-up (limit-down) price, by the board, date, ST and
    listing rules of board.limit_rates."""
    return at_limits(np.asarray(store.close), *day_limits(store))


def at_limits(close: np.ndarray, up: np.ndarray, down: np.ndarray, prev: np.ndarray | None = None
              ) -> tuple[np.ndarray, np.ndarray]:
    """[stocks, days] each: the close (or another price of the day, given the previous closes) is at the limit-up
    (limit-down) price of the previous close, within a fen (up, down: the day's limit rates; infinite where there
    is none)."""
    prev = previous_close(close) if prev is None else prev
    with np.errstate(invalid="ignore"):
        change = close / prev - 1
        return change >= up - 0.01 / prev, change <= -down + 0.01 / prev


def entry_prices(opened: np.ndarray, up: np.ndarray, down: np.ndarray, prev: np.ndarray) -> np.ndarray:
    """Each day's open where a buy at it fills [stocks, days]; NaN where the stock has no bar or opens at its
    limit-up (nobody sells to a buyer there)."""
    return np.where(at_limits(opened, up, down, prev)[0], np.nan, opened)
