"""One market series from many files: the per-date consensus of the files that can be trusted."""

from __future__ import annotations

import numpy as np
import polars as pl

from equinet.core.findings import Finding
from equinet.data.adjust import previous_close

KEYS = ("marketvolume", "marketlimit", "marketrange")
UNTRUSTED_SHARE = 0.05  # a file that disagreed on more than this share of its dates so far is not trusted today
QUORUM = 2  # trusted files that must agree before a date's market value is known


def _mode(votes: pl.DataFrame) -> pl.DataFrame:
    """The most common (volume, change, range) per date; ties go to the smallest values."""
    counted = votes.group_by("date", *KEYS).len()
    ordered = counted.sort(["date", "len", *KEYS], descending=[False, True, False, False, False])
    return ordered.group_by("date", maintain_order=True).first()


def _differs(votes: pl.DataFrame, mode: pl.DataFrame) -> pl.Series:
    """Whether each vote (in votes' order) differs from its date's consensus (none that date: it does not)."""
    joined = votes.join(mode.drop("len"), on="date", how="left", suffix="_c", maintain_order="left")
    return joined.select(pl.any_horizontal([pl.col(k) != pl.col(f"{k}_c") for k in KEYS]).fill_null(False)
                         ).to_series()


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
    """market[days, 3] where enough trusted files agree (else NaN, never a guess), and who disagreed. Trust is
    causal: a file is left out on a date when it disagreed on more than UNTRUSTED_SHARE of its earlier dates, so a
    date's value depends on nothing after it."""
    votes = bars.select("file_id", "date", *[pl.col(k).round_sig_figs(9) for k in KEYS]).sort("file_id", "date")
    seen = votes.select(pl.int_range(pl.len()).over("file_id")).to_series().to_numpy()  # the file's earlier dates
    files = votes["file_id"].to_numpy()
    untrusted = np.zeros(votes.height, bool)
    quorum = min(QUORUM, votes["file_id"].n_unique())  # a store of one file: its values stand
    for _ in range(10):
        mode = _mode(votes.filter(pl.Series(~untrusted)))
        known = mode.filter(pl.col("len") >= quorum)
        differs = _differs(votes, known).to_numpy()
        before = pl.DataFrame({"f": files, "d": differs.astype(np.int64)}).select(
            pl.col("d").cum_sum().over("f") - pl.col("d")).to_series().to_numpy()  # disagreements on earlier dates
        now = before > UNTRUSTED_SHARE * seen
        if (now == untrusted).all():
            break
        untrusted = now
    market = np.full((len(calendar), len(KEYS)), np.nan, dtype=np.float32)
    market[np.searchsorted(calendar, known["date"].to_numpy())] = known.select(KEYS).to_numpy()
    flagged = votes.select("file_id", "date").with_columns(differs=pl.Series(differs), out=pl.Series(untrusted))
    bad = (flagged.filter(pl.col("differs")).group_by("file_id")
           .agg(pl.len().alias("dates"), pl.col("date").min().alias("first_date")).sort("file_id"))
    since = dict(flagged.filter(pl.col("out")).group_by("file_id").agg(pl.col("date").min()).iter_rows())
    report, findings = [], []
    for fid, n, first in bad.iter_rows():
        out = since.get(fid)
        report.append({"file": names[fid], "dates": n, "first_date": first.isoformat(), "trusted": out is None,
                       "untrusted_from": out.isoformat() if out else None})
        what = "ignored on those dates" if out is None else \
            f"not trusted from {out.isoformat()} while its earlier dates disagree on more than 5 %"
        findings.append(
            Finding("warning", names[fid], f"market columns disagree with the other files on {n} date(s) "
                    f"from {first.isoformat()}; {what}", column="marketvolume/marketlimit/marketrange")
        )
    return market, report, findings
