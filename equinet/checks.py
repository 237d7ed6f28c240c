"""Value rules checked once over all files' rows together (vectorised, so 5,000 files cost one pass)."""

from __future__ import annotations

import polars as pl

from equinet.findings import Finding

MIN_ROWS = 23  # shortest context (20) + horizon (3)

_prev_date = pl.col("date").shift(1).over("file_id")
RULES: list[tuple[str, pl.Expr, str]] = [
    ("time", pl.col("date") == _prev_date, "duplicate date"),
    ("time", pl.col("date") < _prev_date, "date earlier than the row above (dates must ascend)"),
    ("start", pl.col("start") <= 0, "price <= 0"),
    ("max", pl.col("max") <= 0, "price <= 0"),
    ("min", pl.col("min") <= 0, "price <= 0"),
    ("end", pl.col("end") <= 0, "price <= 0"),
    ("max", pl.col("max") < pl.max_horizontal("start", "end"), "high below open or close"),
    ("min", pl.col("min") > pl.min_horizontal("start", "end"), "low above open or close"),
    ("volume", pl.col("volume") < 0, "negative volume"),
]


def check_values(bars: pl.DataFrame, names: list[str]) -> list[Finding]:
    """Findings for every rule, one per (file, rule): the first row and how many rows break it."""
    hits = bars.select(
        "file_id", "row", *[expr.fill_null(False).alias(f"r{i}") for i, (_, expr, _) in enumerate(RULES)]
    )
    findings = []
    for i, (column, _, message) in enumerate(RULES):
        broken = hits.filter(pl.col(f"r{i}")).group_by("file_id").agg(pl.col("row").min(), pl.len())
        for fid, row, n in broken.sort("file_id").iter_rows():
            findings.append(Finding("error", names[fid], message, row=row, column=column, count=n))
    counts = bars.group_by("file_id").len().filter(pl.col("len") < MIN_ROWS).sort("file_id")
    for fid, n in counts.iter_rows():
        findings.append(Finding("error", names[fid], f"only {n} data rows; at least {MIN_ROWS} are needed"))
    return findings
