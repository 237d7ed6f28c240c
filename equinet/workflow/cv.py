"""`equinet cv`: walk-forward evaluation - would this configuration have worked on days it had not seen?

Fold k validates on the k-th of the last `folds` blocks of `fold_days` decision days. It trains only on decision
days whose labels end before an inner validation block (the `fold_days` days before the fold's block, less the
horizon embargo), picks its epoch there, and is scored on its block. Each fold is a normal run directory.
With `until`, the folds are the last blocks whose labels end before that day: a cv of an earlier period, on which
defaults are chosen before a later cv reports (fold k's inner validation lies in fold k-1's block, so choosing on
a cv's pooled figures is choosing on its reported days).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path


from equinet.core import files
from equinet.data.store import open_store
from equinet.features.inputs import Prepared, prepared
from equinet.training import rundir
from equinet.training.config import TrainConfig
from equinet.training.train import Run, fit, start
from equinet.inference.apply import apply
from equinet.evaluation.evaluate import collect, selection_mask
from equinet.evaluation.backtest import Rules, backtest, traded
from equinet.evaluation.exchange import tape
from equinet.evaluation.scoring import BLOCK_DAYS, Rows, concat, load_rows, no_nan, save_rows, score_rows


@dataclass(frozen=True)
class Fold:
    """One walk-forward fold, as ISO dates: training ends before val_from; the block is test_from .. test_to."""

    k: int
    val_from: str
    test_from: str
    test_to: str


LONG, SHORT, YEAR = 60, 40, 250  # --fold-days 0: LONG days when a year of training precedes the folds, else SHORT


def auto_fold_days(days: int, horizon: int, folds: int) -> int:
    """The block length of --fold-days 0: 60 decision days where the store holds a year of training before the
    first fold's inner validation block (the whole market), else 40 (a store of a year or so)."""
    return LONG if days - horizon - (folds + 1) * LONG >= YEAR else SHORT


def make_folds(dates: list[str], horizon: int, folds: int, fold_days: int, min_context: int) -> list[Fold]:
    """The last `folds` blocks of `fold_days` labelled decision days, each with its inner validation block."""
    labelled = len(dates) - horizon  # decision days 0 .. labelled-1 have a label
    first = labelled - folds * fold_days - horizon - fold_days  # fold 1's inner validation starts here
    if first - horizon < min_context + 1:
        raise ValueError(f"{len(dates)} days cannot hold {folds} folds of {fold_days} days, their inner validation "
                         f"blocks and a training history of {min_context} days; lower --folds or --fold-days")
    out = []
    for k in range(folds):
        block = labelled - (folds - k) * fold_days
        out.append(Fold(k + 1, dates[block - horizon - fold_days], dates[block], dates[block + fold_days - 1]))
    return out


def fold_config(cfg: TrainConfig, fold: Fold, root: Path) -> TrainConfig:
    """The fold's own run: its splits and its directory."""
    return replace(cfg, out=str(root), name=rundir.Folder(root).fold(fold.k).path.name, val_from=fold.val_from,
                   test_from=fold.test_from, split_by="date")


def run_fold(cfg: TrainConfig, fold: Fold, root: Path, top_pct: float, on_start: Callable[[Run], None] | None,
             on_epoch: Callable[[dict], None] | None, note: Callable[[str], None], prep: Prepared) -> Rows:
    """Train (or resume) one fold, score its best epoch on its block, and keep the rows (the store prepared once
    for every fold)."""
    folder = rundir.Folder(root).fold(fold.k)
    run_dir = folder.path
    if folder.rows.is_file():
        note(f"fold {fold.k}: finished earlier, not retrained")
        return load_rows(folder.rows)
    t = time.perf_counter()
    if folder.last.is_file():
        run = start(cfg, resume=run_dir, reuse=prep)
    else:
        run = start(fold_config(cfg, fold, root), overwrite=run_dir.exists(), reuse=prep)
    try:
        if on_start:
            on_start(run)
        fit(run, on_epoch=on_epoch)
    finally:
        run.close()
    app = apply(folder.best, device=cfg.device, reuse=prep)
    rows = collect(app, selection_mask(app, "test", fold.test_from, fold.test_to))
    save_rows(rows, folder.rows)
    files.write_json({"fold": asdict(fold), "best": run.best, "seconds": time.perf_counter() - t,
                           **no_nan(score_rows(rows, top_pct, n_bootstrap=0))}, folder.fold_file)
    return rows


def book(rows: Rows, t, rules: Rules, n_bootstrap: int, block_days: int) -> dict:
    """The backtest of the scored rows' books (model, linear, reversal) beside the universe, without the daily
    series."""
    result = backtest(rows, t, traded(rows), rules, n_bootstrap, block_days)[0]
    return {k: v for k, v in result.items() if k != "series"}


def cross_validate(cfg: TrainConfig, folds: int = 4, fold_days: int = 0, name: str | None = None,
                   resume: bool = False, top_pct: float = 1.0, n_bootstrap: int = 1000, block_days: int = BLOCK_DAYS,
                   on_fold: Callable[[Fold], None] | None = None, on_start: Callable[[Run], None] | None = None,
                   on_epoch: Callable[[dict], None] | None = None, note: Callable[[str], None] = print,
                   rules: Rules = Rules(), until: str | None = None) -> dict:
    """Every fold, then the figures per fold and pooled over all folds, and the book (`equinet backtest`'s, at
    `rules`) on each fold's block and on all of them; written to the cv folder out/cv-<name>. until (ISO date):
    only days before it hold the folds and their labels."""
    cfg.check()
    store = open_store(cfg.data)
    prep = prepared(store, cfg.rule)
    dates = [d for d in store.meta["dates"] if until is None or d < until]
    fold_days = fold_days or auto_fold_days(len(dates), cfg.horizon, folds)
    plan = make_folds(dates, cfg.horizon, folds, fold_days, cfg.min_context)
    root = Path(cfg.out) / f"cv-{name or time.strftime('%Y%m%d-%H%M%S')}"
    if root.exists() and not resume:
        raise rundir.RunDirError(f"{root}: a cv of this name exists; --resume continues it, or choose another --name")
    if resume and not root.is_dir():
        raise FileNotFoundError(f"{root}: no cv to resume")
    root.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    parts, per_fold = [], []
    for fold in plan:
        if on_fold:
            on_fold(fold)
        rows = run_fold(cfg, fold, root, top_pct, on_start, on_epoch, note, prep)
        parts.append(rows)
        per_fold.append({**asdict(fold), **score_rows(rows, top_pct, n_bootstrap=0)})
    pooled = concat(parts)
    tradable = tape(store)
    for f, rows in zip(per_fold, parts):
        f["book"] = book(rows, tradable, rules, 0, block_days)
    result = no_nan({"cv": str(root), "store": str(store.path), "folds": folds, "fold_days": fold_days, "until": until,
                     "config": asdict(cfg), "seconds": time.perf_counter() - t, "per_fold": per_fold,
                     "pooled": score_rows(pooled, top_pct, n_bootstrap, block_days=block_days),
                     "book": book(pooled, tradable, rules, n_bootstrap, block_days)})
    files.write_json(result, rundir.Folder(root).cv)
    return result
