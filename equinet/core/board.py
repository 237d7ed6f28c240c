"""The A-share board rules by code: which exchange and kind of security a code is, its price unit in TDX files,
its daily price limit; and the ways users write a code (600881, sh600881, SH600881, 600881.SH, sh.600881)."""

from __future__ import annotations

import re

import numpy as np
import polars as pl

# (exchange, code prefixes, security type, price unit): prices are stored as integers in these units (public
# format notes: pytdx's reader, TDX forum posts); the first matching row wins.
TYPES = [
    ("sh", ("60", "68"), "a-share", 0.01),
    ("sz", ("00", "30"), "a-share", 0.01),
    ("bj", ("43", "83", "87", "92"), "a-share", 0.01),
    ("sh", ("000", "88", "99"), "index", 0.01),
    ("sz", ("399",), "index", 0.01),
    ("bj", ("899",), "index", 0.01),
    ("sh", ("50", "51", "52", "56", "58"), "fund", 0.001),
    ("sz", ("15", "16", "18"), "fund", 0.001),
    ("sh", ("900",), "b-share", 0.001),
    ("sz", ("200",), "b-share", 0.01),
    ("sh", ("11", "12", "13", "01", "10"), "bond", 0.001),
    ("sz", ("10", "11", "12", "13"), "bond", 0.001),
]
UNIVERSES = {"a-shares": ("a-share",), "all": ("a-share", "fund", "b-share", "bond")}


def security(exchange: str, code: str) -> tuple[str, float] | None:
    """(type, price unit) of a file by its exchange and code, or None for a type EquiNet does not know."""
    for ex, prefixes, kind, unit in TYPES:
        if ex == exchange and code.startswith(prefixes):
            return kind, unit
    return None


def a_share_exchange(code: str) -> str | None:
    """The exchange an A-share code trades on (sh 60/68, sz 00/30, bj 43/83/87/92), None for another code."""
    return next((ex for ex, prefixes, kind, _ in TYPES if kind == "a-share" and code.startswith(prefixes)), None)


CHINEXT_20 = np.datetime64("2020-08-24")  # ChiNext's registration reform: ±20 %, no limit in the first 5 days
MAIN_REGISTRATION = np.datetime64("2023-04-10")  # main-board listings under registration: no limit in the first 5 days
FIRST_DAY = (0.44, 0.36)  # a main-board listing's first day: within +44 % / -36 % of the issue price
NO_LIMIT = np.inf


def limit_rates(codes: list[str], dates: list[str], st: np.ndarray, listed: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
    """The daily limit up and down (fractions of the previous close) of each stock ON EACH DAY [stocks, days]: by
    its board, the date, its name that day (st: ST / *ST) and its listing day (listed: 0 on the first bar):
    main board ±10 % (ST ±5 %; first day +44 % / -36 %; listed from 2023-04-10 under the registration system:
    unlimited in the first 5 days); ChiNext the same until 2020-08-21, ±20 % from 2020-08-24 whatever the name,
    unlimited in the first 5 days; STAR ±20 % whatever the name, unlimited in the first 5 days; Beijing ±30 %,
    unlimited on the first day. NO_LIMIT where there is none."""
    day = np.array(dates, dtype="datetime64[D]")[None, :]
    kind = np.array([2 if c.startswith(("688", "689")) else 1 if c.startswith(("300", "301")) else
                     3 if c.startswith(("8", "4", "92")) else 0 for c in codes])[:, None]  # main, ChiNext, STAR, BJ
    reformed = (kind == 1) & (day >= CHINEXT_20)
    rate = np.where(kind == 3, 0.30, np.where((kind == 2) | reformed, 0.20, np.where(st, 0.05, 0.10)))
    up, down = rate.astype(float), rate.astype(float)
    listing = np.where((listed == 0).any(1), day[0, np.argmax(listed == 0, axis=1)], np.datetime64("NaT"))[:, None]
    registered = (kind == 0) & (listing >= MAIN_REGISTRATION)  # NaT (no known listing) compares False
    unlimited = (((kind == 2) | reformed | registered) & (listed < 5)) | ((kind == 3) & (listed == 0))
    first = ((kind == 0) | ((kind == 1) & ~reformed)) & (listed == 0)
    up, down = np.where(first, FIRST_DAY[0], up), np.where(first, FIRST_DAY[1], down)
    return np.where(unlimited, NO_LIMIT, up), np.where(unlimited, NO_LIMIT, down)


def listing_age(marked: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Trading days since each stock's listing [stocks, days]: 0 on the day its name starts with N (marked: the
    exchange's first-day mark), counted in the stock's own bars; a large number where no listing day is known."""
    bar = np.cumsum(present, axis=1) - 1  # the stock's bar count up to each day
    first = np.where(marked.any(1), np.argmax(marked, axis=1), -1)
    at = np.take_along_axis(bar, np.maximum(first, 0)[:, None], axis=1)
    return np.where((first[:, None] >= 0) & (bar >= at), bar - at, 10_000)


def limit_prices(prev_close: np.ndarray, up: np.ndarray, down: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The limit-up and limit-down prices: previous close x (1 ± rate), rounded half up to the fen (a 1.95 CNY ST
    stock may so move 5.1 %); infinite bounds where there is no limit."""
    half_up = lambda x: np.floor(x * 100 + 0.5 + 1e-7) / 100  # noqa: E731  (1e-7: 2.205 stored as 2.20499...)
    with np.errstate(invalid="ignore"):
        return (np.where(np.isinf(up), np.inf, half_up(prev_close * (1 + np.where(np.isinf(up), 0, up)))),
                np.where(np.isinf(down), -np.inf, half_up(prev_close * (1 - np.where(np.isinf(down), 0, down)))))


DAY_MARKS = ("XD", "XR", "DR", "N", "C")  # the exchange's prefixes for one day: ex-dividend, ex-rights, both, a
# listing's first day, its first days of free trading (C); ST stands after them (XDST康美, XR*ST厦)
ST_NAME = rf"(?i)^(?:{'|'.join(DAY_MARKS)})?S?\*?ST"  # a name that marks special treatment that day: ST, *ST, SST, S*ST


def special_treatment(names: pl.Series) -> pl.Series:
    """Whether each day's name marks special treatment (ST, *ST, SST, S*ST), the day's prefixes looked past (each
    distinct name tested once: a market has millions of days and thousands of names)."""
    distinct = names.unique().drop_nulls()
    return names.is_in(distinct.filter(distinct.str.strip_chars().str.contains(ST_NAME)).implode()).fill_null(False)


CODE = re.compile(r"^\s*(?:(sh|sz|bj)[.#]?)?(\d{6})(?:\.(sh|sz|bj|ss))?\s*$", re.IGNORECASE)


def split_code(text: str) -> tuple[str | None, str]:
    """(exchange or None, six digits) of a code as users write it; anything else is a ValueError."""
    m = CODE.match(text)
    if not m or (m.group(1) and m.group(3)):
        raise ValueError(f"{text!r} is not a stock code (write 600881, SH600881, sh600881 or 600881.SH)")
    given = (m.group(1) or m.group(3) or "").lower().replace("ss", "sh") or None
    return given, m.group(2)


def symbol(code: str, exchange: str | None) -> str:
    """SH600881: the exchange and the code, as TDX shows them (the bare code when the exchange is unknown)."""
    return f"{exchange.upper()}{code}" if exchange else code
