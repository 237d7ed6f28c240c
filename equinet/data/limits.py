"""The exchange's daily limits on a store. Each day's limit prices come from the quoted previous close (on an
ex-rights day the exchange's reference price: the last close x the action's factor), rounded to the fen by the
day's rates (board.limit_rates: board, date, name, listing day); a quoted open or close at them is a limit hit.
Ingest computes the flags once, from the quoted prices before any back-adjustment, and stores them (limits.npy),
so a corporate action years later never changes a day's flags; the inputs, eval's top-k, the tradable target and
the backtest all read them here."""

from __future__ import annotations

import numpy as np

from equinet.core.board import limit_prices, limit_rates, listing_age
from equinet.data.adjust import previous_close
from equinet.data.store import Store

UP_CLOSE, DOWN_CLOSE, UP_OPEN = 1, 2, 4  # the bits of limits.npy
HALF_TICK = 0.005  # quoted prices lie on the fen: at or above the limit price less half a fen is at it
ADJUSTED_TOLERANCE = 0.001  # an export of adjusted prices: a change within 0.1 % of the rate is a limit hit


def day_limits(store: Store) -> tuple[np.ndarray, np.ndarray]:
    """The limit-up and limit-down rates of every stock and day [stocks, days] (board.limit_rates; inf: none)."""
    close = np.asarray(store.close)
    marked = np.zeros(close.shape, bool)
    row, day = {c: i for i, c in enumerate(store.codes)}, {d: i for i, d in enumerate(store.meta["dates"])}
    for code, first in store.meta["listings"].items():
        marked[row[code], day[first]] = True
    return limit_rates(store.codes, store.meta["dates"], np.asarray(store.st), listing_age(marked, ~np.isnan(close)))


def quoted_limits(panel: np.ndarray, factor: np.ndarray, up: np.ndarray, down: np.ndarray,
                  adjusted: np.ndarray) -> np.ndarray:
    """uint8 [stocks, days]: UP_CLOSE | DOWN_CLOSE | UP_OPEN where the quoted close (open) is at the day's limit
    price. panel: quoted prices [stocks, days, 5]; factor: each day's corporate-action factor (1 on other days);
    up, down: the day's rates; adjusted [stocks]: the source declared adjusted prices (前复权/后复权), whose
    quoted prices are unknown, so a change within ADJUSTED_TOLERANCE of the rate counts."""
    close, opened = panel[:, :, 3], panel[:, :, 0]
    reference = previous_close(close) * factor
    up_price, down_price = limit_prices(reference, up, down)
    flags = np.zeros(close.shape, np.uint8)
    with np.errstate(invalid="ignore"):
        for price, at_up, at_down in ((close, UP_CLOSE, DOWN_CLOSE), (opened, UP_OPEN, 0)):
            change = price / reference - 1
            hit_up = np.where(adjusted[:, None], change >= up - ADJUSTED_TOLERANCE, price >= up_price - HALF_TICK)
            hit_down = np.where(adjusted[:, None], change <= -down + ADJUSTED_TOLERANCE,
                                price <= down_price + HALF_TICK)
            flags |= np.where(hit_up, at_up, 0).astype(np.uint8) | np.where(hit_down, at_down, 0).astype(np.uint8)
    return flags


def limit_flags(store: Store) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """[stocks, days] each, as ingest stored them: the close at the limit-up, the close at the limit-down, the
    open at the limit-up (nobody sells to a buyer there)."""
    flags = np.asarray(store.limits)
    return (flags & UP_CLOSE) > 0, (flags & DOWN_CLOSE) > 0, (flags & UP_OPEN) > 0


def entry_prices(opened: np.ndarray, up_open: np.ndarray) -> np.ndarray:
    """Each day's open where a buy at it fills [stocks, days]; NaN where the stock has no bar or opens at its
    limit-up."""
    return np.where(up_open, np.nan, opened)
