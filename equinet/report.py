"""Rich tables for the terminal: the store summary, corporate actions, market disagreements, findings."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from equinet.findings import Finding


def summary_table(meta: dict, title: str) -> Table:
    """The table that ends every ingest and that `equinet info` reads back."""
    s = meta["summary"]
    table = Table(title=title, show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value", justify="right")
    rows = [
        ("stocks", s["stocks"]),
        ("days", s["days"]),
        ("date range", f"{s['first']} .. {s['last']}"),
        ("missing bars", f"{100 * s['missing_bar_share']:.2f} %"),
        ("corporate actions", f"{s['events']} ({'back-adjusted' if meta['options']['adjust'] else 'days unusable'})"),
        ("market unknown days", len(meta["market_unknown_days"])),
        ("skipped files", s["skipped"]),
        ("findings", f"{s['errors']} errors, {s['warnings']} warnings, {s['notes']} notes"),
    ]
    for what, value in rows:
        table.add_row(what, str(value))
    return table


def events_table(events: list[dict]) -> Table:
    table = Table(title="Corporate actions (overnight gap beyond the daily limit)")
    for col in ("code", "date", "prev close", "open", "gap", "limit", "treated as"):
        table.add_column(col, justify="right" if col not in ("code", "date", "treated as") else "left")
    for e in events:
        table.add_row(e["code"], e["date"], f"{e['prev_close']:.2f}", f"{e['open']:.2f}", f"{100 * e['gap']:+.1f} %",
                      f"±{100 * e['limit']:.0f} %", "back-adjusted" if e["adjusted"] else "unusable day")
    return table


def disagreements_table(rows: list[dict]) -> Table:
    table = Table(title="Files whose market columns disagree with the consensus")
    for col in ("file", "dates", "first date", "trusted elsewhere"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["file"], str(r["dates"]), r["first_date"], "yes" if r["trusted"] else "no")
    return table


def print_findings(console: Console, findings: list[Finding], levels: tuple[str, ...], limit: int = 40) -> None:
    """One line per finding, the first `limit` of them."""
    chosen = [f for f in findings if f.level in levels]
    for f in chosen[:limit]:
        console.print(str(f), style={"error": "red", "warning": "yellow"}.get(f.level, "dim"), markup=False,
                      highlight=False, soft_wrap=True)
    if len(chosen) > limit:
        console.print(f"... and {len(chosen) - limit} more (all are in meta.json)", markup=False)


def epoch_row(row: dict) -> str:
    """One validation line per epoch."""
    return (f"epoch {row['epoch']:>3}  train loss {row['train_loss']:.4f}  val loss {row['val_loss']:.4f}  "
            f"acc {100 * row['val_accuracy']:.1f} %  log-loss skill {row['val_log_loss_skill']:+.4f}  "
            f"score {row['val_score_per_1000']:+.0f}/1000  recall up/down/flat "
            f"{100 * row['val_recall_up']:.0f}/{100 * row['val_recall_down']:.0f}/{100 * row['val_recall_flat']:.0f} %"
            f"  ({row['seconds']:.1f} s)")


def epochs_table(history: list[dict], best: dict) -> Table:
    """Validation per epoch; the best epoch is marked."""
    table = Table(title=f"Validation ({history[-1]['val_rows']:,} windows per epoch)")
    for col in ("epoch", "train loss", "val log loss", "skill", "accuracy", "score/1000", "recall up", "recall down"):
        table.add_column(col, justify="right")
    for r in history:
        mark = " *" if r["epoch"] == best.get("epoch") else ""
        table.add_row(f"{r['epoch']}{mark}", f"{r['train_loss']:.4f}", f"{r['val_log_loss']:.4f}",
                      f"{r['val_log_loss_skill']:+.4f}", f"{100 * r['val_accuracy']:.1f} %",
                      f"{r['val_score_per_1000']:+.0f}", f"{100 * r['val_recall_up']:.0f} %",
                      f"{100 * r['val_recall_down']:.0f} %")
    return table
