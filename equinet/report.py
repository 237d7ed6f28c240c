"""`equinet report`: a run's figures (PNG) and one self-contained index.html, in RUN/report/ (cv: per fold too)."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from equinet import figures, rundir
from equinet.files import read_json, read_metrics, replace_file
from equinet.config import best_line
from equinet.scoring import Rows, concat, load_dates, load_rows, no_nan, score_rows
from equinet.metrics import METRICS
from equinet.store import read_meta
from equinet.tables import formatted

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


def train_section(run: Path, cfg: dict, split: str, device: str) -> Section:
    """A train run: its best checkpoint applied to every valid window of the split (or the rows its evaluation of
    the whole split kept)."""
    from equinet.evaluate import collect, selection_mask
    from equinet.infer import apply

    folder = rundir.Folder(run)
    history = read_metrics(folder.metrics)
    if not history or not folder.best.is_file():
        raise ValueError(f"{run}: no finished epoch ({folder.metrics.name} and {folder.best.name}) to report on")
    if folder.eval_rows(split).is_file():  # the rows `equinet eval --split` scored, as a cv's folds keep theirs
        rows, dates = load_rows(folder.eval_rows(split)), load_dates(folder.eval_rows(split))
    else:
        app = apply(folder.best, device=device)
        rows, dates = collect(app, selection_mask(app, split, None, None)), app.store.meta["dates"]
    return Section(f"{run.name}: {split} split", "", rows, dates, cfg["horizon"],
                   {run.name: history}, {run.name: best_line(history, cfg["select"])["epoch"]})


def cv_sections(run: Path, cv: dict) -> list[Section]:
    """A cv run: every fold's scored block, then all folds pooled (the rows cv saved; nothing is recomputed)."""
    dates, horizon, select = read_meta(Path(cv["store"]))["dates"], cv["config"]["horizon"], cv["config"]["select"]
    folds = []
    for fold in cv["per_fold"]:
        folder = rundir.Folder(run).fold(fold["k"])
        name = folder.path.name
        history = read_metrics(folder.metrics)
        folds.append(Section(f"{run.name}, fold {fold['k']}: {fold['test_from']} .. {fold['test_to']}", name,
                             load_rows(folder.rows), dates, horizon, {name: history},
                             {name: best_line(history, select)["epoch"]}))
    starts = [np.datetime64(f["test_from"]) for f in cv["per_fold"][1:]]
    pooled = Section(f"{run.name}: {len(folds)} folds pooled", "", concat([f.rows for f in folds]), dates, horizon,
                     {k: v for f in folds for k, v in f.histories.items()},
                     {k: v for f in folds for k, v in f.best.items()}, starts)
    return [pooled, *folds]


def draw(section: Section, folder: Path, top_pct: float) -> list[Path]:
    """Every figure of a section into folder."""
    folder.mkdir(parents=True, exist_ok=True)
    r, d, b = section.rows, section.dates, section.boundaries
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
    for name in ("model", "volatility", "reversal", "prior"):
        cells = "".join(f"<td>{formatted(scored[name].get(m.key), m.kind)}</td>" for m in shown)
        body += f"<tr><th>{name}</th>{cells}</tr>"
    return (f"<p>{scored['rows']:,} windows, {scored['days']} decision days, {scored['stocks']} stocks.</p>"
            f"<table><tr><th>forecaster</th>{head}</tr>{body}</table>")


def page(run: Path, sections: list[Section], drawn: list[list[Path]], root: Path, top_pct: float, rule: str) -> str:
    """index.html with every image embedded: it opens anywhere, with no network and no other file."""
    parts = [f"<h1>EquiNet report: {html.escape(run.name)}</h1>",
             f"<p>Run directory <code>{html.escape(str(run))}</code>. {html.escape(rule)}</p>"]
    for section, paths in zip(sections, drawn):
        parts.append(f"<h2>{html.escape(section.title)}</h2>{_summary(section.rows, top_pct)}")
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


def report(run: Path, split: str = "test", device: str = "auto", top_pct: float = 1.0) -> Path:
    """Write RUN/report/ (replacing an earlier report whole) and return its index.html."""
    run = Path(run)
    if not run.is_dir():
        raise FileNotFoundError(f"{run}: no such run directory")
    folder = rundir.Folder(run)
    if folder.cv.is_file():
        cv = read_json(folder.cv)
        cfg, sections = cv["config"], cv_sections(run, cv)
    elif folder.config.is_file():
        cfg = read_json(folder.config)
        sections = [train_section(run, cfg, split, device)]
    else:
        raise FileNotFoundError(f"{run}: not a finished run (no {rundir.CONFIG}) nor a finished cv (no {rundir.CV})")
    def write(tmp: Path) -> None:
        drawn = [draw(s, tmp / s.folder, top_pct) for s in sections]
        (tmp / "index.html").write_text(page(run, sections, drawn, tmp, top_pct, label_rule(cfg)), encoding="utf-8")

    replace_file(folder.report, write)
    return folder.report / "index.html"
