"""One market series from many files: the per-date consensus of the files that can be trusted."""

from __future__ import annotations

import numpy as np
import polars as pl

from equinet.core.findings import Finding
from equinet.data.adjust import previous_close

KEYS = ("marketvolume", "marketlimit", "marketrange")
UNTRUSTED_SHARE = 0.05  # a file disagreeing on more than this share of its dates is trusted on none
QUORUM = 2  # trusted files that must agree before a date's market value is known


def _mode(votes: pl.DataFrame) -> pl.DataFrame:
    """The most common (volume, change, range) per date; ties go to the smallest values."""
    counted = votes.group_by("date", *KEYS).len()
    ordered = counted.sort(["date", "len", *KEYS], descending=[False, True, False, False, False])
    return ordered.group_by("date", maintain_order=True).first()


def _disagreements(votes: pl.DataFrame, mode: pl.DataFrame) -> pl.DataFrame:
    joined = votes.join(mode.drop("len"), on="date", how="inner", suffix="_c")
    differs = pl.any_horizontal([pl.col(k) != pl.col(f"{k}_c") for k in KEYS])
    return (
        joined.filter(differs)
        .group_by("file_id")
        .agg(pl.len().alias("dates"), pl.col("date").min().alias("first_date"))
        .sort("file_id")
    )


def stocks_market(panel: np.ndarray, float_value: np.ndarray) -> np.ndarray:
    """market[days, 3] built from the stocks themselves, each day from that day's bars and the float values known
    before it: the total traded amount (close x volume), the float-value-weighted mean daily return and high-low
    range (over the previous close); equal weights where no float value is known. NaN on a day with no return."""
    close, prev = panel[:, :, 3], previous_close(panel[:, :, 3])
    has = np.isfinite(prev) & np.isfinite(close)
    w = np.zeros(close.shape)
    w[:, 1:] = float_value[:, :-1]  # the day before's float value, 0 where unknown or the stock has no return
    w[~has | ~np.isfinite(w)] = 0.0
    equal = ~(w.sum(0) > 0)
    w[:, equal] = has[:, equal]  # equal weights on a day no float value is known
    total = w.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = lambda x: np.nansum(np.where(has, x, 0.0) * w, 0) / total  # noqa: E731
        change, spread = mean(close / prev - 1), mean((panel[:, :, 1] - panel[:, :, 2]) / prev)
    amount = np.nansum(np.where(np.isfinite(close), close * panel[:, :, 4], 0.0), 0)
    known = total > 0
    return np.where(known[:, None], np.column_stack([amount, change, spread]), np.nan).astype(np.float32)


def consensus_market(
    bars: pl.DataFrame, calendar: np.ndarray, names: list[str]
) -> tuple[np.ndarray, list[dict], list[Finding]]:
    """market[days, 3] where enough trusted files agree (else NaN, never a guess), and who disagreed."""
    votes = bars.select("file_id", "date", *[pl.col(k).round_sig_figs(9) for k in KEYS])
    rows = dict(votes.group_by("file_id").len().iter_rows())
    untrusted: set[int] = set()
    for _ in range(10):
        mode = _mode(votes.filter(~pl.col("file_id").is_in(list(untrusted))))
        bad = _disagreements(votes, mode)
        now = {f for f, n, _ in bad.iter_rows() if n > UNTRUSTED_SHARE * rows[f]}
        if now == untrusted:
            break
        untrusted = now
    market = np.full((len(calendar), len(KEYS)), np.nan, dtype=np.float32)
    known = mode.filter(pl.col("len") >= min(QUORUM, len(rows) - len(untrusted)))
    market[np.searchsorted(calendar, known["date"].to_numpy())] = known.select(KEYS).to_numpy()
    report, findings = [], []
    for fid, n, first in bad.iter_rows():
        trusted = fid not in untrusted
        report.append({"file": names[fid], "dates": n, "first_date": first.isoformat(), "trusted": trusted})
        what = "ignored on those dates" if trusted else "not trusted on any date"
        findings.append(
            Finding("warning", names[fid], f"market columns disagree with the other files on {n} date(s) "
                    f"from {first.isoformat()}; {what}", column="marketvolume/marketlimit/marketrange")
        )
    return market, report, findings
