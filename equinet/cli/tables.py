"""Rich tables for the terminal, and each command's output formats beside its tables (JSON, CSV): the store, its
findings, training, evaluation, cv, forecasts and runs."""

from __future__ import annotations

import csv
import io
import json
import math
import sys

from rich.console import Console
from rich import box
from rich.table import Table

from equinet.core.findings import Finding
from equinet.core.labels import CLASSES
from equinet.core.metrics import FORECASTERS, METRICS, PROBABILISTIC


WHERE = {"preclose": "the previous close", "gbbq": "gbbq actions", "gap": "gap inference"}  # meta's factor_sources


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
        ("factors from", ", ".join(f"{WHERE[k]}: {n}" for k, n in meta["factor_sources"].items() if n) or "—"),
        ("market unknown days", len(meta["market_unknown_days"])),
        ("skipped files", s["skipped"]),
        ("findings", f"{s['errors']} errors, {s['warnings']} warnings, {s['notes']} notes"),
    ]
    for what, value in rows:
        table.add_row(what, str(value))
    return table


def events_table(events: list[dict], limit: int = 40) -> Table:
    table = Table(title="Corporate actions (preclose: the exchange's previous close; gbbq: declared; gap: overnight gap "
                        "beyond the daily limit)")
    for col in ("code", "date", "source", "prev close", "open", "factor", "detail", "treated as"):
        table.add_column(col, justify="left" if col in ("code", "date", "source", "detail", "treated as") else "right")
    for e in events[:limit]:
        source = e["source"]
        detail = {"gap": lambda: f"gap {100 * e['gap']:+.1f} %, limit ±{100 * e['limit']:.0f} %",
                  "preclose": lambda: f"exchange's previous close {e['preclose']:.2f}",
                  "gbbq": lambda: f"per 10: cash {e['cash']:g}, bonus {e['bonus']:g}, rights {e['rights']:g} at "
                                  f"{e['rights_price']:g}"}[source]()
        table.add_row(e["code"], e["date"], source, f"{e['prev_close']:.2f}", f"{e['open']:.2f}",
                      f"{e['factor']:.4f}", detail, "back-adjusted" if e["adjusted"] else "unusable day")
    if len(events) > limit:
        table.caption = f"... and {len(events) - limit} more (all are in meta.json)"
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


def objective(cfg) -> str:
    """The training objective's name, so that it is never read as the validation log loss."""
    from equinet.models.heads import HEADS

    parts = ["focal loss" if cfg.loss == "focal" else "log loss"]
    terms = HEADS[cfg.head].terms
    if "return_weight" in terms and cfg.return_weight:
        parts.append(f"{cfg.return_weight:g} return NLL")
    if "shrink" in terms and cfg.shrink:
        parts.append(f"{cfg.shrink:g} shrink")
    if cfg.trade_weight:
        parts.append(f"{cfg.trade_weight:g} tradable")
    if cfg.score_weight:
        parts.append(f"{cfg.score_weight:g} score")
    if cfg.aux:
        parts.append(f"{cfg.aux_weight:g} aux")
    return " + ".join(parts)


EPOCH_FIGURES = ("log_loss_skill", "log_loss_skill_vs_volatility", "auc_up", "auc_down", "rank_ic",
                 "rank_ic_tradable", "accuracy", "score_per_1000")  # after the log loss, in each epoch's line and table
EVAL_FIGURES = tuple(METRICS)  # every figure, in the registry's order
CV_FIGURES = ("log_loss", "log_loss_skill", "log_loss_skill_vs_volatility", "auc_up", "auc_down", "rank_ic",
              "rank_ic_tradable", "top_decile_excess", "top_decile_excess_tradable")
RUN_FIGURES = ("log_loss", "log_loss_skill_vs_volatility", "accuracy", "auc_up", "rank_ic", "rank_ic_tradable",
               "topk_excess")  # the validation (or pooled cv) figures `equinet runs` shows in the terminal


def epoch_row(row: dict, objective: str) -> str:
    """One validation line per epoch: the training objective is named, so it is not read as the log loss."""
    if "val_loss" not in row:  # the deployed refit: nothing to validate on
        return f"epoch {row['epoch']:>3}  {objective} train {row['train_loss']:.4f}  ({row['seconds']:.1f} s)"
    figures = "  ".join(f"{METRICS[k].short} {formatted(row[METRICS[k].line_key], METRICS[k].kind)}"
                        for k in EPOCH_FIGURES)
    return (f"epoch {row['epoch']:>3}  {objective} train {row['train_loss']:.4f} val {row['val_loss']:.4f}  "
            f"val log loss {row['val_log_loss']:.4f} (volatility {row['val_log_loss_volatility']:.4f})  {figures}  "
            f"({row['val_rows']:,} windows scored, {row['seconds']:.1f} s)")


def epochs_table(history: list[dict], best: dict) -> Table:
    """Validation per epoch, beside the volatility baseline; the best epoch is marked."""
    table = Table(title=f"Validation ({history[-1]['val_rows']:,} windows per epoch; volatility baseline log loss "
                        f"{history[-1]['val_log_loss_volatility']:.4f})")
    shown = [METRICS[k] for k in ("log_loss", *EPOCH_FIGURES)]
    for col in ("epoch", "train loss (objective)", *[m.short for m in shown]):
        table.add_column(col, justify="right")
    for r in history:
        mark = " *" if r["epoch"] == best.get("epoch") else ""
        table.add_row(f"{r['epoch']}{mark}", f"{r['train_loss']:.4f}",
                      *[formatted(r[m.line_key], m.kind) for m in shown])
    return table


def formatted(value: float | None, kind: str) -> str:
    """A figure as the tables show it (— where it is undefined)."""
    if value is None or value != value:
        return "—"
    return {"pct": f"{100 * value:.1f} %", "num": f"{value:.4f}", "signed": f"{value:+.4f}",
            "int": f"{value:+.0f}", "ic": f"{value:+.4f}", "ret": f"{100 * value:+.2f} %",
            "days": f"{value:.1f}", "count": f"{value:,.0f}"}[kind]


def _ci(ci: dict, key: str, kind: str) -> str:
    return f"{formatted(ci[key][0], kind)} .. {formatted(ci[key][1], kind)}" if key in ci else ""


def metrics_table(title: str, block: dict, keys: tuple[str, ...], names: tuple[str, ...] = FORECASTERS,
                  ci: dict | None = None) -> Table:
    """Metrics down, forecasters across (— where a forecaster has no such figure); the model's bootstrap interval
    beside it where there is one."""
    table = Table(title=title)
    table.add_column("metric")
    for name in names:
        table.add_column(name, justify="right")
        if name == "model" and ci:
            table.add_column("model 95 % CI", justify="right")
    for key in keys:
        label, kind = METRICS[key].label, METRICS[key].kind
        if key in block[names[0]]:
            cells = []
            for name in names:
                cells.append(formatted(block[name].get(key), kind))
                if name == "model" and ci:
                    cells.append(_ci(ci, key, kind))
            table.add_row(label, *cells)
    return table


def eval_tables(r: dict) -> list:
    """The eval report: the model beside every baseline on the same rows, then the details."""
    shares = " / ".join(f"{100 * v:.1f} %" for v in r["class_share"].values())
    head = Table(show_header=False, title="Evaluation")
    for label, value in [("checkpoint", r["checkpoint"]), ("store", r["store"]), ("split", r["split"]),
                         ("decision days", f"{r['from']} .. {r['to']} ({r['days']} days, {r['stocks']} stocks)"),
                         ("rows (every valid window)", f"{r['rows']:,} at context {r['context']}"),
                         ("class share up/down/flat", shares)]:
        head.add_row(label, str(value))
    ci = r["ci"]
    from equinet.models.heads import HEADS

    score = HEADS[r["head"]].score_name
    main = metrics_table(f"Model and baselines on the same {r['rows']:,} rows (top-k: each day's top "
                         f"{r['topk']['pct']:g} % by rank score, the model's {score}; limit-up closes skipped)", r,
                         EVAL_FIGURES, ci=ci)
    per_class = Table(title="Precision / recall per class")
    per_class.add_column("forecaster")
    for c in CLASSES:
        per_class.add_column(f"{c} P", justify="right")
        per_class.add_column(f"{c} R", justify="right")
    for f in PROBABILISTIC:
        per_class.add_row(f, *[formatted(r[f][m][c], "pct") for c in CLASSES for m in ("precision", "recall")])
    cm = Table(title="Model confusion matrix (rows: true, columns: predicted)")
    cm.add_column("true \\ predicted")
    for c in CLASSES:
        cm.add_column(c, justify="right")
    for c, row in zip(CLASSES, r["model"]["confusion"]):
        cm.add_row(c, *[f"{n:,}" for n in row])
    t = r["topk"]
    top = Table(title=f"Model: daily top {t['pct']:g} % by {score} (limit-up closes skipped), mean forward return")
    for col in ("days", "picks", "universe", "excess", "excess 95 % CI"):
        top.add_column(col, justify="right")
    top.add_row(str(t["days"]), f"{100 * t['picks_mean']:+.2f} %", f"{100 * t['universe_mean']:+.2f} %",
                f"{100 * t['excess']:+.2f} %", _ci(ci, "topk_excess", "ret") or "—")
    tables = [head, main, per_class, cm, top]
    if "gate" in r:
        g = r["gate"]
        tables.append(metrics_table(f"With the confidence gate up={g['up']:g}, down={g['down']:g}", g, EVAL_FIGURES,
                                    PROBABILISTIC))
    return tables


def cv_table(result: dict) -> Table:
    """Per fold and pooled, every forecaster on the same rows; the pooled figures with their 95 % intervals."""
    table = Table(title=f"Walk-forward cv: {result['folds']} folds of {result['fold_days']} decision days "
                        f"({result['cv']})")
    columns = [METRICS[k] for k in CV_FIGURES]
    for col in ("block", "forecaster", "rows") + tuple(m.short for m in columns):
        table.add_column(col, justify="left" if col in ("block", "forecaster") else "right")
    blocks = [([f"fold {f['k']}", f"{f['test_from']} ..", f"  {f['test_to']}"], f) for f in result["per_fold"]]
    for label, block in blocks + [(["pooled", f"{len(blocks)} folds"], result["pooled"])]:
        table.add_section()
        for i, name in enumerate(FORECASTERS):
            f = block[name]
            table.add_row(label[i] if i < len(label) else "", name, f"{block['rows']:,}" if i == 0 else "",
                          *[formatted(f.get(m.key), m.kind) for m in columns])
            if block is result["pooled"] and f.get("ci"):
                table.add_row("", "  95 % CI", "", *[_ci(f["ci"], m.key, m.kind) for m in columns])
    return table


def cv_book_table(result: dict) -> Table:
    """The book (`equinet backtest`'s default rules) on each fold's block and pooled: after costs, the universe
    without them."""
    from equinet.evaluation.backtest import picks_text

    pooled = result["book"]
    capital = pooled["rules"]["capital"]
    lots = f"{capital:,.0f} CNY in lots of 100 shares" if capital > 0 else "fractional shares"
    table = Table(title=f"The book on each block: {picks_text(pooled['rules'])}, bought at the next open, {lots}; "
                        "after costs (commission, stamp duty, transfer fee, slippage), beside the universe after "
                        "the costs of holding it (every scored stock, fractional shares)")
    shown = [f for f in BOOK_FIGURES if f[0] in ("annual_return", "annual_excess", "turnover", "cost_drag",
                                                 "holding_days", "cash_share")] + [("stuck", "stuck names", "count"),
                                                                                   ("stuck_share", "stuck value", "pct")]
    for col in ("block", "book", *(label for _, label, _ in shown), "excess 95 % CI / day"):
        table.add_column(col, justify="left" if col in ("block", "book") else "right")
    blocks = [(f"fold {f['k']}", f["book"]) for f in result["per_fold"]] + [("pooled", pooled)]
    for label, b in blocks:
        table.add_section()
        for i, (name, f) in enumerate([(n, t["after_costs"]) for n, t in b["forecasters"].items()]
                                      + [("universe", b["universe"]["after_costs"])]):
            ci = f.get("daily_excess_ci")
            table.add_row(label if i == 0 else "", name, *[formatted(f.get(k), kind) for k, _, kind in shown],
                          f"{formatted(ci[0], 'ret')} .. {formatted(ci[1], 'ret')}" if ci else "")
    return table


def forecast_days(result: dict) -> str:
    """'2024-10-08, 2024-10-09, 2024-10-10' (with a caveat when holidays were not known that far)."""
    days = ", ".join(result["days"])
    return days if result["days_sure"] else f"{days} (weekdays: the holiday calendar does not reach this far)"


def predict_table(result: dict) -> Table:
    """Probabilities per stock in the order asked for (and the volatility baseline's, when asked)."""
    from equinet.models.heads import HEADS
    from equinet.inference.predict import SORTS

    table = Table(title=f"EquiNet forecast made after the close of {result['date']} (the {result['context']}-day "
                        f"window ending then) for the next {len(result['days'])} trading days: "
                        f"{forecast_days(result)}")
    order = SORTS[result["sort"]][1]
    table.caption = (f"Sorted by {order}, highest first; rank score = {HEADS[result['head']].score_meaning}. "
                     "'still': the close did not move in the whole window, so the forecast says nothing; listed last.")
    baseline = bool(result["rows"]) and "volatility" in result["rows"][0]
    named = any(r["name"] for r in result["rows"])
    columns = ["#", "code", *(["name"] if named else []), "涨 / 跌 / 稳", "P(up)", "P(down)", "P(flat)",
               "up - down", HEADS[result["head"]].score_name, "flag"]
    for col in columns + (["volatility 涨 / 跌 / 稳", "vol. up - down"] if baseline else []):
        table.add_column(col, justify="left" if col in ("code", "name", "涨 / 跌 / 稳", "flag") else "right")
    for i, row in enumerate(result["rows"], 1):
        cells = [str(i), row["symbol"], *([row["name"]] if named else []), row["zh"], f"{100 * row['up']:.1f} %",
                 f"{100 * row['down']:.1f} %", f"{100 * row['flat']:.1f} %", f"{100 * row['up_minus_down']:+.1f}"]
        cells.append(f"{100 * math.expm1(row['score']):+.2f} %")
        cells.append("still" if row["still"] else "")
        if baseline:
            cells += [row["volatility"]["zh"], f"{100 * row['volatility']['up_minus_down']:+.1f}"]
        table.add_row(*cells)
    return table


RUN_COLUMNS = ((("name", "name", "text"), ("status", "status", "status"), ("date", "date", "day"),
                ("d", "d_model", "count"), ("L", "layers", "count"), ("head", "head", "text"),
                ("params", "parameters", "count"), ("min", "seconds", "minutes"), ("best", "best_epoch", "count"))
               + tuple((METRICS[k].short, f"val_{METRICS[k].run_column}", METRICS[k].kind) for k in RUN_FIGURES)
               + tuple((f"test {METRICS[k].short}", f"test_{METRICS[k].run_column}", METRICS[k].kind)
                       for k in ("log_loss_skill_vs_volatility", "rank_ic"))
               + (("backtest excess/yr", "backtest_excess", "ret"),))  # the model's, after costs


def runs_table(rows: list[dict], out) -> Table:
    """`equinet runs`: the main columns (validation or pooled cv figures; test where `equinet eval` ran), every
    number whole: on a narrow terminal the name and status fold instead."""
    table = Table(title=f"Runs under {out} (cv-*: pooled out-of-sample figures in the val columns; every column, "
                        "skill over the prior too: --format csv/json/xlsx)", box=box.SIMPLE_HEAD, pad_edge=False)
    cells = [[_cell(r[key], kind) for _, key, kind in RUN_COLUMNS] for r in rows]
    for i, (header, _, kind) in enumerate(RUN_COLUMNS):
        widest = max([len(c[i]) for c in cells] + [len(w) for w in header.split()])  # a header may wrap, no number
        if kind in ("text", "status"):
            table.add_column(header, overflow="fold")
        else:
            table.add_column(header, justify="right", min_width=widest)
    for c in cells:
        table.add_row(*c)
    return table


def _cell(value, kind: str) -> str:
    if kind == "text":
        return value or ""
    if kind == "status":
        return (value or "").replace("interrupted at epoch ", "stopped ").replace(" of ", "/")
    if kind == "day":
        return (value or "")[5:16].replace("T", " ")  # 11-26 07:03
    if value is None:
        return "—"
    if kind == "count":
        return f"{value:,}"
    return f"{value / 60:.1f}" if kind == "minutes" else formatted(value, kind)


def print_json(console: Console, obj) -> None:
    """JSON for programs: indented, written as it is (rich's highlighter takes seconds on a market's events)."""
    if not console.quiet:
        console.file.write(json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def print_ingest(console: Console, result, as_json: bool) -> None:
    """What `equinet ingest` prints: findings, corporate actions, market disagreements and the summary (or JSON)."""
    meta = result.meta
    if as_json:
        print_json(console, {"status": result.status, "out": str(result.out), **meta["summary"],
                             "events": meta["events"], "market_disagreements": meta["market_disagreements"],
                             "skipped": meta["skipped"]})
        return
    if result.status == "unchanged":
        console.print(f"{result.out}: sources unchanged since {meta['created']}; nothing to do (--force rebuilds)")
    else:
        print_findings(console, result.findings, ("error", "warning", "note"))
        if meta["events"]:
            console.print(events_table(meta["events"]))
        if meta["market_disagreements"]:
            console.print(disagreements_table(meta["market_disagreements"]))
    console.print(summary_table(meta, f"Store {result.out}"))


def print_store(console: Console, meta: dict, store, as_json: bool) -> None:
    """What `equinet info` prints."""
    if as_json:
        print_json(console, {**meta["summary"], "created": meta["created"], "events": meta["events"]})
        return
    if meta["events"]:
        console.print(events_table(meta["events"]))
    console.print(summary_table(meta, f"Store {store} (built {meta['created']})"))


def run_start(run, resumed: bool, per_epoch: float) -> str:
    """The lines a training run starts with: where it continues, the run, its windows, the time estimate."""
    cfg, pools = run.cfg, {k: len(v) for k, v in run.data.pools.items()}
    ranks = f"  ranks {run.world.size}" if run.world.size > 1 else ""
    lines = [f"resuming {run.dir} at epoch {run.epoch + 1} of {cfg.epochs}" if run.epoch < cfg.epochs else
             f"{run.dir} already finished its {cfg.epochs} epochs (--epochs N extends it)"] if resumed else []
    return "\n".join(lines + [
        f"run {run.dir}  device {run.data.device}{ranks}  precision {run.precision}  "
        f"parameters {run.model.n_params():,}",
        f"decision points with >= {cfg.min_context} clean days  train {pools['train']:,}  val {pools['val']:,}  "
        f"test {pools['test']:,}  (split by {cfg.split_by}; train prior up/down/flat "
        f"{' / '.join(f'{100 * p:.1f} %' for p in run.prior)})",
        f"estimated {per_epoch:.1f} s per epoch, {per_epoch * (cfg.epochs - run.epoch) / 60:.1f} min for epochs "
        f"{run.epoch + 1}..{cfg.epochs}"])


def print_eval(console: Console, err: Console, report: dict, saved, as_json: bool) -> None:
    """What `equinet eval` prints: its warning, the tables (or JSON), and where the evaluation was kept."""
    if report["warning"]:
        err.print(f"warning: {report['warning']}", style="yellow", markup=False)
    if as_json:
        print_json(console, report)
        return
    for table in eval_tables(report):
        console.print(table)
    console.print("The baselines are the bar: a model is only useful where it beats them on the same rows "
                  "(volatility for the probabilities, reversal for the ranking).", markup=False)
    if saved:
        console.print(f"saved {saved} (`equinet runs` shows its figures)", markup=False)


def forecast_csv(result: dict, rows: list[dict], baseline: bool) -> str:
    """One row per stock, with the decision day and the days it is about; units in the column names."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    keys = ("up", "down", "flat", "up_minus_down")
    writer.writerow(["date", "first_day", "last_day", "code", "name", *[f"p_{k}_pct" for k in keys],
                     "score_log_return", "still", "zh", *([f"volatility_p_{k}_pct" for k in keys] if baseline else [])])
    for r in rows:
        extra = [f"{100 * r['volatility'][k]:.4f}" for k in keys] if baseline else []
        writer.writerow([result["date"], result["days"][0], result["days"][-1], r["symbol"], r["name"],
                         *[f"{100 * r[k]:.4f}" for k in keys], f"{r['score']:.6f}", int(r["still"]), r["zh"], *extra])
    return out.getvalue()


def print_forecast(console: Console, err: Console, result: dict, top: int | None, fmt: str, baseline: bool) -> None:
    """What `equinet predict` prints: the stale-store warning, the forecast as a table, JSON or CSV, the skipped."""
    if result["stale"]:
        err.print(f"warning: {result['stale']}", style="yellow", markup=False)
    rows = result["rows"][:top] if top else result["rows"]
    if fmt == "json":
        print_json(console, {**result, "rows": rows})
    elif fmt == "csv":
        sys.stdout.write(forecast_csv(result, rows, baseline))
    else:
        console.print(predict_table({**result, "rows": rows}))
    for s in result["skipped"]:
        err.print(f"skipped {s['code']}: {s['reason']}", markup=False, highlight=False)


BOOK_FIGURES = (("annual_return", "annual return", "ret"), ("annual_excess", "excess vs universe / yr", "ret"),
                ("annual_excess_market", "excess vs market / yr", "ret"), ("information_ratio", "IR", "num"),
                ("max_drawdown", "max drawdown", "pct"), ("turnover", "turnover / day", "pct"),
                ("cost_drag", "cost drag / yr", "ret"), ("holding_days", "days held", "days"),
                ("hit_rate", "days beating universe", "pct"), ("daily_excess", "daily excess", "ret"),
                ("cash_share", "cash", "pct"))
COST_TAGS = ("after_costs", "before_costs")


def backtest_tables(r: dict) -> list:
    """The backtest (each forecaster's picks before and after costs, the universe on the same basis), the money
    (capital, lots, fees, cash, stuck names) and the tear sheet."""
    from equinet.evaluation.backtest import picks_text

    rules, c = r["rules"], r["rules"]["costs"]
    stamp = "0.1 % before 2023-08-28, 0.05 % from then" if rules["stamp_duty"] == "auto" else \
        formatted(rules["stamp_duty"], "pct")
    transfer = "0.002 % (0.001 % from 2022-04-29)" if rules["transfer_fee"] == "auto" else \
        formatted(rules["transfer_fee"], "pct")
    lots = (f"{rules['capital']:,.0f} CNY in lots of 100 shares (STAR 200, then 1), commission at least "
            f"{c['min_commission']:g} CNY" if rules["capital"] > 0 else "fractional shares (--capital 0)")
    book = Table(title=f"Backtest of {r['run']} ({r['split']}): {picks_text(rules)} by rank score, bought at the "
                       f"next open, sold at a close; decisions {r['first']} .. {r['last_decision']}, held to "
                       f"{r['end']}",
                 caption=f"{lots}; costs: commission {100 * c['buy']:.3f} % per buy, {100 * c['sell']:.3f} % per "
                         f"sell, stamp duty {stamp} on sells, transfer fee {transfer} per side, slippage "
                         f"{100 * c['slippage']:.3f} % per side. The universe holds every scored stock from the "
                         "first open to the same end, equal weights at each buy, fractional shares; each book's "
                         "excess is over the universe on its own cost basis")
    book.add_column("portfolio")
    for _, label, _ in BOOK_FIGURES:
        book.add_column(label, justify="right")
    book.add_column("daily excess 95 % CI", justify="right")
    for name, tags in list(r["forecasters"].items()) + [("universe", r["universe"])]:
        book.add_section()
        for tag in COST_TAGS:
            f = tags[tag]
            ci = f["daily_excess_ci"]
            book.add_row(f"{name}, {tag.replace('_', ' ')}",
                         *[formatted(f.get(k), kind) for k, _, kind in BOOK_FIGURES],
                         f"{formatted(ci[0], 'ret')} .. {formatted(ci[1], 'ret')}" if ci else "—")
    money = Table(title="The money (after costs): capital, what lots and fees cost, the cash they leave, the names "
                        "it could not sell",
                  caption="cash: its mean share of the value from the first open to the last decision day (cash "
                          "left over by whole lots, slots without a buyable pick); stuck: positions still unsold "
                          "at the end (no bar to the end, or a limit-down close), valued at their last close, "
                          "with their share of the final value (what the book loses if they are worth nothing)")
    for col in ("portfolio", "capital", "final value", "buys", "fees / capital", "cash", "stuck names",
                "stuck value", "stuck days held", "days without picks"):
        money.add_column(col, justify="left" if col == "portfolio" else "right")
    for name, tags in r["forecasters"].items():
        f = tags["after_costs"]
        money.add_row(name, f"{f['capital']:,.0f}", f"{f['final_value']:,.0f}", f"{f['buys']:,}",
                      formatted(f["fees"], "pct"), formatted(f["cash_share"], "pct"), f"{f['stuck']}",
                      formatted(f["stuck_share"], "pct"), formatted(f["stuck_days"], "days"),
                      f"{f['days_without_picks']}")
    t = r["tear_sheet"]
    names = list(r["forecasters"])
    sheet = Table(title=f"Tear sheet: mean daily rank IC by horizon (days), mean {t['horizon']}-day return per score "
                        f"quintile (Q1 lowest), and the score's rank autocorrelation from day to day")
    sheet.add_column("score")
    for col in [f"IC {h}d" for h in t["horizons"]] + ["IC trad."] + [f"Q{q + 1}" for q in range(5)] + \
            ["Q5 - Q1", "autocorr."]:
        sheet.add_column(col, justify="right")
    for name in names:
        s = t[name]
        sheet.add_row(name, *[formatted(s["ic_by_horizon"][str(h)], "ic") for h in t["horizons"]],
                      formatted(s.get("ic_tradable"), "ic"),
                      *[formatted(v, "ret") for v in s["quintile_returns"]], formatted(s["spread"], "ret"),
                      formatted(s["rank_autocorrelation"], "num"))
    monthly = Table(title=f"Mean daily rank IC by month ({t['horizon']}-day returns)")
    monthly.add_column("month")
    for name in names:
        monthly.add_column(name, justify="right")
    for month in t[names[0]]["monthly_ic"]:
        monthly.add_row(month, *[formatted(t[n]["monthly_ic"].get(month), "ic") for n in names])
    return [book, money, sheet, monthly]


def print_backtest(console: Console, err: Console, result: dict, saved, as_json: bool) -> None:
    """What `equinet backtest` prints: its warnings, the tables (or JSON) and where the result was kept."""
    for warning in result["warnings"]:
        err.print(f"warning: {warning}", style="yellow", markup=False)
    if as_json:
        print_json(console, result)
        return
    for table in backtest_tables(result):
        console.print(table)
    if saved:
        console.print(f"saved {saved} (`equinet report` draws it, `equinet runs` shows its excess after costs)",
                      markup=False)


def print_runs(console: Console, rows: list[dict], out, fmt: str, output) -> None:
    """What `equinet runs` prints: the table, or the rows as csv/json on stdout, or written to --output."""
    from equinet.workflow.runs import write

    if fmt == "table":
        console.print(runs_table(rows, out))
    elif output is None:
        sys.stdout.write(write(rows, fmt))
    else:
        write(rows, fmt, output)
        console.print(f"wrote {len(rows)} runs to {output}", markup=False)
