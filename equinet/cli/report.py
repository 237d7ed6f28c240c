"""`equinet report`: a run's figures (PNG) and one self-contained index.html, in RUN/report/ (cv: per fold too)."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path

from equinet.core.files import read_json, read_metrics, replace_file
from equinet.core.metrics import METRICS
from equinet.training import rundir
from equinet.training.config import best_line
from equinet.evaluation.scored import Scored, scored
from equinet.evaluation.scoring import Rows, no_nan, score_rows
from equinet.cli import figures
from equinet.cli.tables import BOOK_FIGURES, formatted

CAPTIONS = {
    "learning.png": "Learning curves: the training objective and the validation log loss per epoch (left), and the "
                    "validation skill over the class prior and over the volatility baseline (right; above 0 the "
                    f"model beats it). The dotted line is the epoch kept in {rundir.BEST}.",
    "reliability.png": "Reliability: windows binned by their predicted probability; a calibrated forecaster lies "
                       "on the diagonal. The bars below count the windows in each bin.",
    "confusion.png": "Confusion matrix of the most probable class: counts and the share of each true class.",
    "rank_ic.png": "Daily rank IC: how well the model's score orders the day's stocks by their 3-day return "
                   "(bars), and its running mean (line).",
    "cumulative.png": "Cumulative excess return of each day's top picks over the equal-weighted universe, the "
                      "model's score beside the reversal baseline's; stocks at limit-up are not bought.",
    "class_shares.png": "Class shares per day: the realised share of 涨 and 跌 (solid) against the model's mean "
                        "predicted probabilities (dashed). Gaps show regime shifts the model did not expect.",
    "backtest.png": "Backtest: the value of each book of top picks (bought at the next open, not at a limit-up "
                    "open; sold at a close, not a limit-down one), after costs (solid) and before "
                    "(dashed), beside the equal-weighted universe and the market series; below, each portfolio's "
                    "drawdown after costs. A curve above the universe's earns excess.",
    "quintiles.png": "Mean forward return of each score quintile (each day's stocks in five groups by score, Q1 "
                     "lowest): a useful score rises from Q1 to Q5; the legend gives the Q5 - Q1 spread.",
    "ic_horizon.png": "Mean daily rank IC against the return over 1, 3, 5 and 10 days: how long the score's "
                      "information lasts (a fast-decaying score needs frequent, costly trading).",
    "ic_monthly.png": "Mean daily rank IC per month (green: the score ordered the stocks well that month; red: "
                      "backwards): whether the edge is steady or comes from a few months.",
}
SUMMARY = ("log_loss", "log_loss_skill", "log_loss_skill_vs_volatility", "accuracy", "auc_up", "auc_down", "rank_ic",
           "top_decile_excess")  # the page's table: keys of the metric registry


@dataclass
class Section:
    """One set of figures: a train run's split, a cv fold, or the pooled cv folds."""

    title: str
    folder: str  # under report/ ("" for the main set)
    rows: Rows
    dates: list[str]
    horizon: int
    histories: dict[str, list[dict]]
    best: dict[str, int]
    boundaries: list = field(default_factory=list)  # first days of cv folds after the first


def sections(run: Path, s: Scored, split: str) -> list[Section]:
    """A train run: its split. A cv: all folds pooled, then every fold's block (the rows cv saved)."""
    horizon, select = s.config["horizon"], s.config["select"]
    if not s.folds:
        history = read_metrics(rundir.Folder(run).metrics)
        if not history:
            raise ValueError(f"{run}: no finished epoch ({rundir.METRICS}) to report on")
        return [Section(f"{run.name}: {split} split", "", s.rows, s.dates, horizon,
                        {run.name: history}, {run.name: best_line(history, select)["epoch"]})]
    folds = []
    for fold, rows in s.folds:
        folder = rundir.Folder(run).fold(fold["k"])
        name = folder.path.name
        history = read_metrics(folder.metrics)
        folds.append(Section(f"{run.name}, fold {fold['k']}: {fold['test_from']} .. {fold['test_to']}", name, rows,
                             s.dates, horizon, {name: history}, {name: best_line(history, select)["epoch"]}))
    pooled = Section(f"{run.name}: {len(folds)} folds pooled", "", s.rows, s.dates, horizon,
                     {k: v for f in folds for k, v in f.histories.items()},
                     {k: v for f in folds for k, v in f.best.items()}, s.boundaries)
    return [pooled, *folds]


def draw(section: Section, folder: Path, top_pct: float) -> list[Path]:
    """Every figure of a section into folder."""
    folder.mkdir(parents=True, exist_ok=True)
    r, d, b = section.rows.labelled(), section.dates, section.boundaries
    return [figures.learning_curves(section.histories, section.best, folder / "learning.png"),
            figures.reliability(r, folder / "reliability.png"),
            figures.confusion_matrix(r, folder / "confusion.png"),
            figures.rank_ic(r, d, folder / "rank_ic.png", b),
            figures.cumulative_excess(r, d, section.horizon, top_pct, folder / "cumulative.png", b),
            figures.class_shares(r, d, folder / "class_shares.png", b)]


def _summary(rows: Rows, top_pct: float) -> str:
    """The model beside every baseline on the section's rows, as an HTML table."""
    scored = no_nan(score_rows(rows, top_pct, n_bootstrap=0))
    shown = [METRICS[k] for k in SUMMARY]
    head = "".join(f"<th>{html.escape(m.short)}</th>" for m in shown)
    body = ""
    for name in [n for n in ("model", "linear", "volatility", "reversal", "prior") if n in scored]:
        cells = "".join(f"<td>{formatted(scored[name].get(m.key), m.kind)}</td>" for m in shown)
        body += f"<tr><th>{name}</th>{cells}</tr>"
    return (f"<p>{scored['rows']:,} windows, {scored['days']} decision days, {scored['stocks']} stocks.</p>"
            f"<table><tr><th>forecaster</th>{head}</tr>{body}</table>")


def page(run: Path, sections: list[Section], drawn: list[list[Path]], root: Path, top_pct: float, rule: str,
         trading: str = "") -> str:
    """index.html with every image embedded: it opens anywhere, with no network and no other file."""
    parts = [f"<h1>EquiNet report: {html.escape(run.name)}</h1>",
             f"<p>Run directory <code>{html.escape(str(run))}</code>. {html.escape(rule)}</p>"]
    for section, paths in zip(sections, drawn):
        parts.append(f"<h2>{html.escape(section.title)}</h2>{_summary(section.rows, top_pct)}")
        if section is sections[0] and trading:
            parts.append(trading)
        for p in paths:
            data = base64.b64encode(p.read_bytes()).decode()
            parts.append(f'<figure><img alt="{p.relative_to(root)}" src="data:image/png;base64,{data}">'
                         f"<figcaption>{html.escape(CAPTIONS[p.name])} ({p.relative_to(root)})</figcaption></figure>")
    style = ("body{font-family:sans-serif;max-width:960px;margin:auto}img{max-width:100%}table{border-collapse:"
             "collapse}td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}figcaption{font-size:90%}")
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>EquiNet report {html.escape(run.name)}'
            f"</title><style>{style}</style></head><body>{''.join(parts)}</body></html>\n")


def label_rule(cfg: dict) -> str:
    """The classes in words, from the run's own thresholds."""
    up, down, flat = figures.NAMES
    return (f"Classes over {cfg['horizon']} trading days: {up} = close rises >= {cfg['up']:+.0%}, {down} = falls "
            f"<= {cfg['down']:+.0%}, {flat} = in between.")


def trading(run: Path, s: Scored, split: str) -> dict:
    """The backtest and tear sheet `equinet backtest` saved for these rows, else one at its default rules."""
    from equinet.evaluation.backtest import backtest_scored

    saved = rundir.Folder(run).backtest_file(split)
    if saved.is_file():
        return read_json(saved) | {"saved": str(saved)}
    return no_nan(backtest_scored(s, n_bootstrap=0)[0])


def draw_trading(result: dict, folder: Path) -> list[Path]:
    """The backtest's and the tear sheet's figures into folder."""
    sheet = result["tear_sheet"]
    return [figures.equity_curves(result, folder / "backtest.png"),
            figures.quintile_returns(sheet, folder / "quintiles.png"),
            figures.ic_by_horizon(sheet, folder / "ic_horizon.png"),
            figures.monthly_ic(sheet, folder / "ic_monthly.png")]


def _trading_summary(result: dict) -> str:
    """The backtest's main figures per portfolio, as an HTML table."""
    from equinet.evaluation.backtest import picks_text

    shown = [f for f in BOOK_FIGURES if f[0] in ("annual_return", "annual_excess", "information_ratio",
                                                  "max_drawdown", "turnover")]
    head = "".join(f"<th>{html.escape(label)}</th>" for _, label, _ in shown)
    body = ""
    for name, tags in result["forecasters"].items():
        for tag, f in tags.items():
            cells = "".join(f"<td>{formatted(f.get(k), kind)}</td>" for k, _, kind in shown)
            body += f"<tr><th>{name}, {tag.replace('_', ' ')}</th>{cells}</tr>"
    for tag, f in result["universe"].items():
        cells = "".join(f"<td>{formatted(f.get(k), kind)}</td>" for k, _, kind in shown)
        body += f"<tr><th>universe, {tag.replace('_', ' ')}</th>{cells}</tr>"
    r, c = result["rules"], result["rules"]["costs"]
    where = f"from {html.escape(Path(result['saved']).name)}" if "saved" in result else \
        "at the default rules (`equinet backtest` keeps another)"
    return (f"<p>Backtest {where}: {picks_text(r)}, bought at the next open; decisions "
            f"{result['first']} .. {result['last_decision']}, commission {100 * c['buy']:.3f} "
            f"% / {100 * c['sell']:.3f} %, stamp duty {r['stamp_duty']}, transfer fee {r['transfer_fee']}, slippage "
            f"{100 * c['slippage']:.3f} % per side, capital {r['capital']:,.0f} CNY (0: fractional shares).</p><table><tr><th>portfolio</th>{head}</tr>{body}</table>")


def report(run: Path, split: str = "test", device: str = "auto", top_pct: float = 1.0) -> Path:
    """Write RUN/report/ (replacing an earlier report whole) and return its index.html."""
    run = Path(run)
    s = scored(run, split, device)
    parts, trade = sections(run, s, split), trading(run, s, split)

    def write(tmp: Path) -> None:
        drawn = [draw(p, tmp / p.folder, top_pct) for p in parts]
        drawn[0] += draw_trading(trade, tmp)
        text = page(run, parts, drawn, tmp, top_pct, label_rule(s.config), _trading_summary(trade))
        (tmp / "index.html").write_text(text, encoding="utf-8")

    replace_file(rundir.Folder(run).report, write)
    return rundir.Folder(run).report / "index.html"
