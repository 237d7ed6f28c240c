"""The exchange a book trades on (as qlib's Exchange): what could be traded each day and at which quoted price, in
what lots, and what a trade costs (commission with its minimum, stamp duty and transfer fee by date, slippage)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from equinet.core.fields import option
from equinet.data.adjust import previous_close, price_scale
from equinet.data.limits import limit_flags
from equinet.data.store import Store

STAMP_CUT = np.datetime64("2023-08-28")  # the stamp duty on sells was halved on this day
STAMP = (0.001, 0.0005)  # before, from then
TRANSFER_CUT = np.datetime64("2022-04-29")  # the transfer fee (过户费, both sides, both exchanges) was halved
TRANSFER = (0.00002, 0.00001)  # before (Shanghai's per-share fee before 2015-08-01 taken at this rate), from then
LOT, STAR_FIRST = 100, 200  # a buy is whole lots of 100 shares; STAR (688) and Beijing: at least 200 / 100, then 1


def auto_rate(flag: str):
    """The parser of an option that is `auto` (None: by the date) or a fraction."""

    def parse(text: str) -> float | None:
        if text == "auto":
            return None
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"{flag} takes auto or a fraction such as 0.001, not {text!r}") from None

    return parse


@dataclass(frozen=True)
class Costs:
    """What trading costs: commission per side as a fraction of a trade's value with a minimum per trade, stamp duty
    on sells and the transfer fee on both sides (None: by the date), and slippage on both sides (in the fill)."""

    buy: float = option(0.00025, "Commission per buy, fraction of its value.", min=0.0, flag="--cost-buy")
    sell: float = option(0.00025, "Commission per sell, fraction of its value.", min=0.0, flag="--cost-sell")
    stamp: float | None = option(None, "Stamp duty on sells: auto (0.1 % before 2023-08-28, 0.05 % from then) or a "
                                 "fraction, e.g. 0.001.", flag="--stamp-duty", parse=auto_rate("--stamp-duty"),
                                 shown="auto")
    slippage: float = option(0.0005, "Slippage per side: buys fill this much above the open, sells below the "
                             "close.", min=0.0)
    min_commission: float = option(5.0, "The least commission of one trade, CNY (with --capital > 0).", min=0.0)
    transfer: float | None = option(None, "Transfer fee per side: auto (0.002 % of the value before 2022-04-29, "
                                    "0.001 % from then) or a fraction.", flag="--transfer-fee",
                                    parse=auto_rate("--transfer-fee"), shown="auto")


FREE = Costs(0.0, 0.0, 0.0, 0.0, 0.0, 0.0)


def by_date(dates: np.ndarray, rate: float | None, cut: np.datetime64, rates: tuple[float, float]) -> np.ndarray:
    """A dated rate on each day [days]: the one given, else the rule's before and from the cut."""
    return np.full(len(dates), rate) if rate is not None else np.where(dates < cut, *rates)


@dataclass
class Tape:
    """What could be traded [stocks, days]: back-adjusted open and close and their scale over the quoted prices
    (quoted = adjusted / scale), whether the stock had a bar, opened at its limit-up (nobody sells to a buyer
    there) or closed at its limit-down (nobody buys from a seller); the close carried over days without a bar (to
    value a position); each stock's first lot and step [stocks]; the market series' change [days]."""

    open: np.ndarray
    close: np.ndarray
    mark: np.ndarray
    scale: np.ndarray
    traded: np.ndarray
    up_open: np.ndarray
    down_close: np.ndarray
    first_lot: np.ndarray
    lot_step: np.ndarray
    market: np.ndarray
    dates: np.ndarray
    codes: list[str]


def tape(store: Store) -> Tape:
    """The store's prices, their scale and the limit hits ingest stored (data.limits)."""
    close = np.asarray(store.close, dtype=np.float64)
    scale = price_scale(store.meta, close.shape)
    opened = np.round(np.asarray(store.panel[:, :, 0], dtype=np.float64) / scale, 3) * scale  # the panel's float32
    # noise off the quoted open (quotes lie on the fen)
    traded = ~np.isnan(close) & ~np.isnan(opened)
    _, down_close, up_open = limit_flags(store)
    carried = np.where(np.isnan(close), previous_close(close), close)
    odd = np.array([c.startswith(("688", "689", "4", "8", "92")) for c in store.codes])  # STAR, Beijing
    first = np.where(np.array([c.startswith(("688", "689")) for c in store.codes]), STAR_FIRST, LOT)
    return Tape(opened, close, carried, scale, traded, up_open & traded,
                down_close & traded, first, np.where(odd, 1, LOT), np.asarray(store.market[:, 1], dtype=np.float64),
                store.dates, store.codes)


def lot_shares(budget: np.ndarray, price: np.ndarray, first: np.ndarray, step: np.ndarray, rate: float,
               fixed: float, least: float) -> np.ndarray:
    """The most shares each budget buys at the price, in the stock's lots (first, then steps of step), with the
    fee (rate x value, at least `least`, plus fixed x value) paid from the same budget; 0 where not one lot."""
    n = np.floor(budget / (price * (1 + rate + fixed)))
    n = np.where(n >= first, first + np.floor((n - first) / step) * step, 0)
    over = n * price + np.maximum(n * price * rate, least) + n * price * fixed > budget
    n = np.where(over & (n > 0), n - step, n)
    return np.where(n >= first, n, 0)


def fee(value: np.ndarray, rate: float, fixed: np.ndarray | float, least: float) -> np.ndarray:
    """What trades of these values cost: the commission (at least `least` a trade) and the fees by value."""
    return np.where(value > 0, np.maximum(value * rate, least) + value * fixed, 0.0)
