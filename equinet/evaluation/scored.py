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


def train_rows(run: Path, split: str, device: str) -> Scored:
    """A train run: the rows its evaluation of the whole split kept, or its best checkpoint on every valid window
    of the split."""
    from equinet.inference.apply import apply
    from equinet.evaluation.evaluate import collect, selection_mask

    folder = rundir.Folder(run)
    cfg = read_json(folder.config)
    if not folder.best.is_file():
        raise ValueError(f"{run}: no finished epoch ({folder.best.name}) to score")
    if folder.eval_rows(split).is_file():  # the rows `equinet eval --split` scored, as a cv's folds keep theirs
        return Scored(load_rows(folder.eval_rows(split)), load_dates(folder.eval_rows(split)), Path(cfg["data"]), cfg,
                      [], [])
    app = apply(folder.best, device=device)
    return Scored(collect(app, selection_mask(app, split, None, None)), app.store.meta["dates"], app.store.path,
                  cfg, [], [])


def cv_rows(run: Path) -> Scored:
    """A finished cv: every fold's scored block and all of them pooled (nothing is recomputed)."""
    cv = read_json(rundir.Folder(run).cv)
    store = Path(cv["store"])
    folds = [(f, load_rows(rundir.Folder(run).fold(f["k"]).rows)) for f in cv["per_fold"]]
    starts = [np.datetime64(f["test_from"]) for f in cv["per_fold"][1:]]
    return Scored(concat([r for _, r in folds]), read_meta(store)["dates"], store, cv["config"], folds, starts)


def scored(run: Path, split: str = "test", device: str = "auto") -> Scored:
    """The rows of a run directory or a cv folder."""
    run = Path(run)
    folder = rundir.Folder(run)
    if not run.is_dir():
        raise FileNotFoundError(f"{run}: no such run directory")
    if folder.cv.is_file():
        return cv_rows(run)
    if folder.config.is_file():
        return train_rows(run, split, device)
    raise FileNotFoundError(f"{run}: not a finished run (no {rundir.CONFIG}) nor a finished cv (no {rundir.CV})")
