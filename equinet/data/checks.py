"""Value rules checked once over all files' rows together (vectorised, so 5,000 files cost one pass)."""

from __future__ import annotations

import polars as pl

from equinet.core.findings import Finding

MIN_ROWS = 23  # shortest context (20) + horizon (3)

_above = pl.col("row").shift(1).over("file_id")  # bars come in date order (sources.rows.parse): a twin is adjacent
RULES: list[tuple[str, pl.Expr, str]] = [
    ("time", pl.col("date") == pl.col("date").shift(1).over("file_id"), "duplicate date: the same day as row {}"),
    ("start", pl.col("start") <= 0, "price <= 0"),
    ("max", pl.col("max") <= 0, "price <= 0"),
    ("min", pl.col("min") <= 0, "price <= 0"),
    ("end", pl.col("end") <= 0, "price <= 0"),
    ("max", pl.col("max") < pl.max_horizontal("start", "end"), "high below open or close"),
    ("min", pl.col("min") > pl.min_horizontal("start", "end"), "low above open or close"),
    ("volume", pl.col("volume") < 0, "negative volume"),
]


def check_values(bars: pl.DataFrame, names: list[str], min_rows: int = MIN_ROWS) -> list[Finding]:
    """Findings for every rule, one per (file, rule): the first row and how many rows break it."""
    hits = bars.select(
        "file_id", "row", _above.alias("above"),
        *[expr.fill_null(False).alias(f"r{i}") for i, (_, expr, _) in enumerate(RULES)]
    ).filter(pl.any_horizontal(f"r{i}" for i in range(len(RULES))))  # the few rows that break a rule
    findings = []
    for i, (column, _, message) in enumerate(RULES):
        broken = hits.filter(pl.col(f"r{i}")).group_by("file_id").agg(pl.col("row", "above").sort_by("row").first(),
                                                                        pl.len())
        for fid, row, above, n in broken.sort("file_id").iter_rows():
            findings.append(Finding("error", names[fid], message.format(above), row=row, column=column, count=n))
    counts = bars.group_by("file_id").len().filter(pl.col("len") < min_rows).sort("file_id")
    for fid, n in counts.iter_rows():  # a new listing: kept, it gets windows once it has the history
        findings.append(Finding("note", names[fid], f"only {n} data rows: kept in the store; it has no window of "
                                f"{min_rows} days yet (a new listing or a short history)"))
    return findings


def drop_nonpositive_history(bars: pl.DataFrame, names: list[str], adjusted: list[int]
                             ) -> tuple[pl.DataFrame, list[Finding]]:
    """A front-adjusted export may carry prices <= 0 far back (dividends larger than the old price): its rows up
    to the last such one leave the store (no window or label reaches them), with a warning; never an error."""
    if not adjusted:
        return bars, []
    hit = pl.col("file_id").is_in(adjusted) & (pl.min_horizontal("start", "max", "min", "end") <= 0)
    last = (bars.filter(hit).group_by("file_id").agg(pl.col("row").max().alias("last"), pl.len()).sort("file_id"))
    findings = [Finding("warning", names[fid], f"adjusted prices <= 0 in {n} row(s): the rows up to this one are "
                        "left out (no window or label uses them)", row=row, column="price")
                for fid, row, n in last.iter_rows()]
    cut = pl.when(hit).then(pl.col("row")).max().over("file_id")
    return bars.filter(cut.is_null() | (pl.col("row") > cut)), findings


def drop_suspended(bars: pl.DataFrame, names: list[str]) -> tuple[pl.DataFrame, list[Finding]]:
    """A row with no volume whose prices all equal the previous close (the exchange's where the source gives it,
    else the file's last close) is a suspended day as some sources write one: no bar, one note per file."""
    reference = pl.col("end").shift(1).over("file_id")
    if "preclose" in bars.columns:
        reference = pl.when(pl.col("preclose").is_finite()).then(pl.col("preclose")).otherwise(reference)
    idle = (pl.col("volume") == 0) & pl.all_horizontal(pl.col(c) == reference for c in ("start", "max", "min", "end"))
    hit = bars.select(idle.fill_null(False)).to_series()
    if not hit.any():
        return bars, []
    found = bars.filter(hit).group_by("file_id").agg(pl.col("row").min(), pl.len()).sort("file_id")
    return bars.filter(~hit), [Finding("note", names[fid], "suspended day (no volume, every price the previous "
                                       "close) left out: no bar", row=row, count=n)
                               for fid, row, n in found.iter_rows()]
