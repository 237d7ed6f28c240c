"""The rows a run scored, whatever the run: a train run's split (the rows `equinet eval` kept, else its best
checkpoint applied) or a cv's folds (the rows each fold kept). Report and backtest read them here."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from equinet.core.files import read_json
from equinet.data.store import read_meta
from equinet.training import rundir
from equinet.evaluation.scoring import Rows, concat, load_dates, load_rows


@dataclass
class Scored:
    """Rows and what they index: the store's dates (and the store), the run's config, and the cv's folds."""

    rows: Rows
    dates: list[str]
    store: Path
    config: dict
    folds: list[tuple[dict, Rows]]  # cv: (its per-fold entry, its rows); a train run: none
    boundaries: list[np.datetime64]  # first days of cv folds after the first
    warning: str | None = None  # scored days the checkpoint was trained or selected on (other days only)


@dataclass
class Days:
    """Another store and decision days to score a run's checkpoint on (backtest --data --from --to), checked as
    eval checks them; None: the run's own store and split."""

    data: Path | None = None
    date_from: str | None = None
    date_to: str | None = None


def train_rows(run: Path, split: str, device: str, days: Days | None = None) -> Scored:
    """A train run: the rows its evaluation of the whole split kept, or its best checkpoint on every valid window
    of the split; with days, the checkpoint applied to that store's days (every split's, from --from to --to)."""
    from equinet.inference.apply import apply
    from equinet.evaluation.evaluate import collect, overlap_warning, selection_mask

    folder = rundir.Folder(run)
    cfg = read_json(folder.config)
    if not folder.best.is_file():
        raise ValueError(f"{run}: no finished epoch ({folder.best.name}) to score")
    if days is None and folder.eval_rows(split).is_file():  # the rows `equinet eval --split` scored
        return Scored(load_rows(folder.eval_rows(split)), load_dates(folder.eval_rows(split)), Path(cfg["data"]), cfg,
                      [], [])
    app = apply(folder.best, data=days.data if days else None, device=device)
    mask = selection_mask(app, "all", days.date_from, days.date_to) if days else selection_mask(app, split, None, None)
    rows = collect(app, mask)
    return Scored(rows, app.store.meta["dates"], app.store.path, cfg, [], [],
                  overlap_warning(app, rows.day) if days else None)


def cv_rows(run: Path) -> Scored:
    """A finished cv: every fold's scored block and all of them pooled (nothing is recomputed)."""
    cv = read_json(rundir.Folder(run).cv)
    store = Path(cv["store"])
    folds = [(f, load_rows(rundir.Folder(run).fold(f["k"]).rows)) for f in cv["per_fold"]]
    starts = [np.datetime64(f["test_from"]) for f in cv["per_fold"][1:]]
    return Scored(concat([r for _, r in folds]), read_meta(store)["dates"], store, cv["config"], folds, starts)


def scored(run: Path, split: str = "test", device: str = "auto", days: Days | None = None) -> Scored:
    """The rows of a run directory or a cv folder (days: a train run's checkpoint on other days or another store)."""
    run = Path(run)
    folder = rundir.Folder(run)
    if not run.is_dir():
        raise FileNotFoundError(f"{run}: no such run directory")
    if folder.cv.is_file():
        if days is not None:
            raise ValueError(f"{run}: a cv trades its folds' blocks; to trade a checkpoint on other days, name a "
                             f"train run (or one fold's folder, {rundir.Folder(run).fold(1).path})")
        return cv_rows(run)
    if folder.config.is_file():
        return train_rows(run, split, device, days)
    raise FileNotFoundError(f"{run}: not a finished run (no {rundir.CONFIG}) nor a finished cv (no {rundir.CV})")
