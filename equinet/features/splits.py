"""Train / validation / test by decision date, with an embargo of the horizon between them."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

NAMES = ("train", "val", "test")
STOCK_SPLIT_WARNING = (
    "--split-by stock holds out stocks, not time: validation and test share the market period with "
    "training, so their figures are optimistic for forecasting"
)


@dataclass(frozen=True)
class Splits:
    """How decision days are split; saved in every checkpoint."""

    by: str  # "date" or "stock"
    horizon: int
    val_from: str | None = None  # ISO dates, for by="date"
    test_from: str | None = None
    val_stocks: tuple[str, ...] = ()  # for by="stock"
    test_stocks: tuple[str, ...] = ()

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> "Splits":
        return cls(**{**d, "val_stocks": tuple(d["val_stocks"]), "test_stocks": tuple(d["test_stocks"])})

    def masks(self, codes: list[str], dates: list[str]) -> dict[str, np.ndarray]:
        """Decision-day masks [stocks, days] per split; a train label never reaches a held-out day."""
        S, D = len(codes), len(dates)
        rows = lambda m: np.broadcast_to(m, (S, D)).copy()  # noqa: E731
        if self.by == "stock":
            val = rows(np.isin(codes, self.val_stocks)[:, None])
            test = rows(np.isin(codes, self.test_stocks)[:, None])
            return {"train": ~(val | test), "val": val, "test": test}
        day = np.arange(D)
        v = np.searchsorted(np.array(dates), self.val_from)
        te = np.searchsorted(np.array(dates), self.test_from)
        return {
            "train": rows(day + self.horizon < v),
            "val": rows((day >= v) & (day + self.horizon < te)),
            "test": rows(day >= te),
        }


def by_date(dates: list[str], horizon: int, val_from: str | None = None, test_from: str | None = None,
            share: float = 0.15) -> Splits:
    """Default: the last `share` of days for test, the `share` before it for validation."""
    n = max(1, round(share * len(dates)))
    test_from = test_from or dates[len(dates) - n]
    val_from = val_from or dates[max(0, np.searchsorted(np.array(dates), test_from) - n)]
    if not val_from < test_from:
        raise ValueError(f"--val-from {val_from} must come before --test-from {test_from}")
    return Splits("date", horizon, val_from=val_from, test_from=test_from)


def after(dates: list[str]) -> str:
    """The day after the store's last: a block starting there is empty (and every stored day came before it)."""
    return str(np.datetime64(dates[-1]) + 1)


def for_deploy(dates: list[str], horizon: int, val_days: int = 0, share: float = 0.15) -> Splits:
    """`train --deploy`: no test block (it starts after the store); validation is the last val_days labelled
    decision days (0: the `share` of days it has without --deploy)."""
    labelled = len(dates) - horizon
    n = val_days or max(1, round(share * len(dates)))
    if n >= labelled - horizon:
        raise ValueError(f"--val-days {n} leaves no training day before it in {len(dates)} days")
    return Splits("date", horizon, val_from=dates[labelled - n], test_from=after(dates))


def refit(dates: list[str], horizon: int) -> Splits:
    """The deployed refit: every labelled day trains; validation and test start after the store."""
    return Splits("date", horizon, val_from=after(dates), test_from=after(dates))


def by_stock(codes: list[str], horizon: int, ratio: float, seed: int) -> Splits:
    """The original EquiNet's hold-out: a random `ratio` of stocks each for test and validation."""
    order = np.random.default_rng(seed).permutation(sorted(codes))
    n = max(1, round(ratio * len(codes)))
    return Splits("stock", horizon, test_stocks=tuple(order[:n]), val_stocks=tuple(order[n:2 * n]))


def check_split(split: str) -> None:
    """--split of eval and report: the checkpoint's splits, or all days."""
    if split not in ("train", "val", "test", "all"):
        raise ValueError(f"--split must be train, val, test or all, not {split!r}")
