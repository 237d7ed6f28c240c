"""Rich tables for the terminal: the store summary, corporate actions, market disagreements, findings."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from equinet.features import CLASSES
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


def epoch_row(row: dict, loss: str) -> str:
    """One validation line per epoch: the training objective is named, so it is not read as the log loss."""
    return (f"epoch {row['epoch']:>3}  {loss} loss train {row['train_loss']:.4f} val {row['val_loss']:.4f}  "
            f"val log loss {row['val_log_loss']:.4f}  "
            f"acc {100 * row['val_accuracy']:.1f} %  log-loss skill {row['val_log_loss_skill']:+.4f}  "
            f"score {row['val_score_per_1000']:+.0f}/1000  recall up/down/flat "
            f"{100 * row['val_recall_up']:.0f}/{100 * row['val_recall_down']:.0f}/{100 * row['val_recall_flat']:.0f} %"
            f"  ({row['seconds']:.1f} s)")


def epochs_table(history: list[dict], best: dict) -> Table:
    """Validation per epoch; the best epoch is marked."""
    table = Table(title=f"Validation ({history[-1]['val_rows']:,} windows per epoch)")
    for col in ("epoch", "train loss (objective)", "val log loss", "skill", "accuracy", "score/1000", "recall up",
                "recall down"):
        table.add_column(col, justify="right")
    for r in history:
        mark = " *" if r["epoch"] == best.get("epoch") else ""
        table.add_row(f"{r['epoch']}{mark}", f"{r['train_loss']:.4f}", f"{r['val_log_loss']:.4f}",
                      f"{r['val_log_loss_skill']:+.4f}", f"{100 * r['val_accuracy']:.1f} %",
                      f"{r['val_score_per_1000']:+.0f}", f"{100 * r['val_recall_up']:.0f} %",
                      f"{100 * r['val_recall_down']:.0f} %")
    return table


EVAL_ROWS = [
    ("accuracy", "accuracy", "pct"), ("macro-F1", "macro_f1", "num"), ("MCC", "mcc", "num"),
    ("log loss", "log_loss", "num"), ("log-loss skill", "log_loss_skill", "signed"), ("Brier", "brier", "num"),
    ("AUC up", "auc_up", "num"), ("AUC down", "auc_down", "num"),
    ("score/1000 (argmax)", "score_per_1000", "int"), ("score/1000 (expected)", "score_per_1000_expected", "int"),
    ("up recall", "up_recall", "pct"), ("down->up rate", "down_to_up_rate", "pct"),
    ("extreme-up capture", "extreme_up_capture", "pct"),
]
FORECASTERS = ("model", "majority", "prior")


def _fmt(value: float, kind: str) -> str:
    if value is None or value != value:
        return "-"
    return {"pct": f"{100 * value:.1f} %", "num": f"{value:.4f}", "signed": f"{value:+.4f}",
            "int": f"{value:+.0f}"}[kind]


def _decision_table(title: str, block: dict, rows: list[tuple[str, str, str]], ci: dict | None = None) -> Table:
    """Metrics down, forecasters across; the model's bootstrap interval beside it where there is one."""
    table = Table(title=title)
    table.add_column("metric")
    for name in FORECASTERS:
        table.add_column(name, justify="right")
    if ci:
        table.add_column("model 95 % CI", justify="right")
    for label, key, kind in rows:
        if key in block["model"]:
            cells = [_fmt(block[f][key], kind) for f in FORECASTERS]
            if ci:
                cells.append(f"{_fmt(ci[key][0], kind)} .. {_fmt(ci[key][1], kind)}" if key in ci else "")
            table.add_row(label, *cells)
    return table


def eval_tables(r: dict) -> list:
    """The eval report: the model beside both baselines on the same rows, then the details."""
    shares = " / ".join(f"{100 * v:.1f} %" for v in r["class_share"].values())
    head = Table(show_header=False, title="Evaluation")
    for label, value in [("checkpoint", r["checkpoint"]), ("store", r["store"]), ("split", r["split"]),
                         ("decision days", f"{r['from']} .. {r['to']} ({r['days']} days, {r['stocks']} stocks)"),
                         ("rows (every valid window)", f"{r['rows']:,} at context {r['context']}"),
                         ("class share up/down/flat", shares)]:
        head.add_row(label, str(value))
    ci = r["ci"]
    main = _decision_table(f"Model and baselines on the same {r['rows']:,} rows", r, EVAL_ROWS, ci)
    per_class = Table(title="Precision / recall per class")
    per_class.add_column("forecaster")
    for c in CLASSES:
        per_class.add_column(f"{c} P", justify="right")
        per_class.add_column(f"{c} R", justify="right")
    for f in FORECASTERS:
        per_class.add_row(f, *[_fmt(r[f][m][c], "pct") for c in CLASSES for m in ("precision", "recall")])
    cm = Table(title="Model confusion matrix (rows: true, columns: predicted)")
    cm.add_column("true \\ predicted")
    for c in CLASSES:
        cm.add_column(c, justify="right")
    for c, row in zip(CLASSES, r["model"]["confusion"]):
        cm.add_row(c, *[f"{n:,}" for n in row])
    t = r["topk"]
    top = Table(title=f"Daily top {t['pct']:g} % by P(up) - P(down) (limit-up closes skipped), mean forward return")
    for col in ("days", "picks", "universe", "excess", "excess 95 % CI"):
        top.add_column(col, justify="right")
    top.add_row(str(t["days"]), f"{100 * t['picks_mean']:+.2f} %", f"{100 * t['universe_mean']:+.2f} %",
                f"{100 * t['excess']:+.2f} %",
                f"{100 * ci['topk_excess'][0]:+.2f} .. {100 * ci['topk_excess'][1]:+.2f} %" if ci else "-")
    tables = [head, main, per_class, cm, top]
    if "gate" in r:
        g = r["gate"]
        tables.append(_decision_table(f"With the confidence gate up={g['up']:g}, down={g['down']:g}", g, EVAL_ROWS))
    return tables


def predict_table(result: dict) -> Table:
    """Probabilities per stock, best P(up) - P(down) first."""
    table = Table(title=f"EquiNet forecast for the {result['context']}-day window ending {result['date']}")
    for col in ("#", "code", "涨 / 跌 / 稳", "P(up)", "P(down)", "P(flat)", "up - down"):
        table.add_column(col, justify="left" if col in ("code", "涨 / 跌 / 稳") else "right")
    for i, row in enumerate(result["rows"], 1):
        table.add_row(str(i), row["code"], row["zh"], f"{100 * row['up']:.1f} %", f"{100 * row['down']:.1f} %",
                      f"{100 * row['flat']:.1f} %", f"{100 * row['up_minus_down']:+.1f}")
    return table
