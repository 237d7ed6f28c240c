"""The A-share board rules by code: which exchange and kind of security a code is, its price unit in TDX files,
its daily price limit; and the ways users write a code (600881, sh600881, SH600881, 600881.SH, sh.600881)."""

from __future__ import annotations

import re

import numpy as np

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


def daily_limit(code: str) -> float:
    """The board's daily price limit, by code prefix."""
    if code.startswith(("300", "301", "688", "689")):
        return 0.20
    if code.startswith(("8", "4", "92")):
        return 0.30
    return 0.10


def daily_limits(codes: list[str]) -> np.ndarray:
    """daily_limit of each code [stocks, 1], ready to broadcast over days."""
    return np.array([daily_limit(c) for c in codes])[:, None]


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
