"""A factor tear sheet in the spirit of alphalens, for any rank score on scored rows: how long its information
lasts (rank IC by horizon), whether it pays across its quintiles, how it holds up month by month, and how fast it
turns over (the rank autocorrelation from one decision day to the next)."""

from __future__ import annotations

import numpy as np

from equinet.core.labels import forward_return
from equinet.core.metrics import daily_rank_ic, group_ranks
from equinet.evaluation.scoring import Rows

HORIZONS = (1, 3, 5, 10)  # trading days ahead
QUANTILES = 5


def forward_returns(close: np.ndarray, rows: Rows, horizon: int) -> np.ndarray:
    """The forward return of each row (labels.forward_return at its stock and decision day)."""
    return forward_return(close, horizon)[rows.stock, rows.day]


def mean_ic(score: np.ndarray, outcome: np.ndarray, day: np.ndarray) -> float:
    """The mean daily rank IC over the rows whose outcome is known."""
    ok = ~np.isnan(outcome) & ~np.isnan(score)
    ic = daily_rank_ic(score[ok], outcome[ok], day[ok]) if ok.any() else np.zeros(0)
    return float(np.nanmean(ic)) if (~np.isnan(ic)).any() else float("nan")


def quantile_returns(score: np.ndarray, outcome: np.ndarray, day: np.ndarray, q: int = QUANTILES) -> list[float]:
    """Mean forward return of each score quantile (lowest first): each day's quantile means, averaged over days."""
    ok = ~np.isnan(outcome) & ~np.isnan(score)
    _, g = np.unique(day[ok], return_inverse=True)
    n = np.bincount(g)
    bucket = np.minimum(q - 1, ((group_ranks(g, score[ok]) - 0.5) / n[g] * q).astype(int))
    cell = g * q + bucket
    total = np.bincount(cell, weights=outcome[ok], minlength=len(n) * q).reshape(-1, q)
    count = np.bincount(cell, minlength=len(n) * q).reshape(-1, q)
    with np.errstate(invalid="ignore"):
        return [float(v) for v in np.nanmean(total / count, axis=0)]


def monthly_ic(score: np.ndarray, outcome: np.ndarray, day: np.ndarray, dates: list[str]) -> dict[str, float]:
    """Mean daily rank IC per calendar month (YYYY-MM)."""
    ok = ~np.isnan(outcome) & ~np.isnan(score)
    days = np.unique(day[ok])
    ic = daily_rank_ic(score[ok], outcome[ok], day[ok])
    month = np.array([dates[d][:7] for d in days])
    return {m: float(np.nanmean(ic[month == m])) if (~np.isnan(ic[month == m])).any() else float("nan")
            for m in np.unique(month)}


def rank_autocorrelation(score: np.ndarray, rows: Rows) -> float:
    """Mean Spearman correlation of the score between consecutive decision days, over the stocks scored on both:
    near 1, the picks change slowly (cheap to trade); near 0, they change every day."""
    days = np.unique(rows.day)
    grid = np.full((len(days), int(rows.stock.max()) + 1), np.nan)
    grid[np.searchsorted(days, rows.day), rows.stock] = score
    out = []
    for a, b in zip(grid[:-1], grid[1:]):
        ok = ~np.isnan(a) & ~np.isnan(b)
        if ok.sum() > 2:
            ra, rb = group_ranks(np.zeros(ok.sum(), int), a[ok]), group_ranks(np.zeros(ok.sum(), int), b[ok])
            if ra.std() > 0 and rb.std() > 0:
                out.append(np.corrcoef(ra, rb)[0, 1])
    return float(np.mean(out)) if out else float("nan")


def tear_sheet(rows: Rows, close: np.ndarray, dates: list[str], names: tuple[str, ...], horizon: int) -> dict:
    """Each named score's IC by horizon (and against the tradable return), quintile returns (at the run's
    horizon) and their top-minus-bottom spread, monthly IC and rank autocorrelation."""
    ahead = {h: forward_returns(close, rows, h) for h in sorted({*HORIZONS, horizon})}
    out = {"horizons": list(HORIZONS), "horizon": horizon}
    for name in names:
        score = rows.score[name]
        quintiles = quantile_returns(score, ahead[horizon], rows.day)
        out[name] = {"ic_by_horizon": {str(h): mean_ic(score, ahead[h], rows.day) for h in HORIZONS},
                     "ic_tradable": mean_ic(score, rows.outcome(), rows.day),
                     "quintile_returns": quintiles, "spread": quintiles[-1] - quintiles[0],
                     "monthly_ic": monthly_ic(score, ahead[horizon], rows.day, dates),
                     "rank_autocorrelation": rank_autocorrelation(score, rows)}
    return out
