"""`equinet eval`: every valid window of a selection, the model beside the baselines on the same rows."""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import torch

from equinet.core.labels import CLASSES, DOWN, UP
from equinet.data.limits import limit_flags
from equinet.models.distribution import volatility_probabilities
from equinet.training.forward import baseline_probabilities, rows_of, universe
from equinet.inference.apply import Applied, MismatchError
from equinet.evaluation.scoring import BLOCK_DAYS, Rows, no_nan, score_rows


def selection_mask(app: Applied, split: str, date_from: str | None, date_to: str | None) -> np.ndarray:
    """Decision days [stocks, days] of the split (or all) within --from/--to."""
    dates = app.store.meta["dates"]
    mask = np.ones(app.prep.labels.shape, dtype=bool) if split == "all" else \
        app.splits.masks(app.store.codes, dates)[split]
    day = np.array(dates)
    if date_from:
        mask &= (day >= date_from)[None, :]
    if date_to:
        mask &= (day <= date_to)[None, :]
    return mask


def overlap_warning(app: Applied, days: np.ndarray) -> str | None:
    """Say so when evaluated days are days the checkpoint was trained or selected on."""
    s = app.splits
    if s.by == "stock":
        return "the checkpoint was split by stock: every date was seen in training (for other stocks)"
    dates = np.array(app.store.meta["dates"])[days]
    seen = dates < s.test_from
    if not seen.any():
        return None
    return (f"{int(seen.sum()):,} of {len(dates):,} rows have decision days before {s.test_from}, inside the "
            "checkpoint's training or validation period: these figures are not out-of-sample")


def selected(app: Applied, mask: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """The universe (forward.universe) of the days of mask, the stocks mask holds on them, in (day, stock) order;
    a selection without a labelled row is an error."""
    if not (torch.as_tensor(mask, device=app.data.device) & (app.data.labelled_context >= app.context)).any():
        raise MismatchError(f"no valid window of {app.context} days (+{app.rule.horizon}-day horizon) in the "
                            "selection; widen --from/--to, choose another --split or lower --context")
    stock, day = universe(app.data, torch.as_tensor(np.flatnonzero(mask.any(0)), device=app.data.device),
                          app.context)
    keep = torch.as_tensor(mask, device=app.data.device)[stock, day]
    return stock[keep], day[keep]


def collect(app: Applied, mask: np.ndarray, progress=None) -> Rows:
    """Every forecaster on the universe of each day in mask (every stock with a bar and a clean history of
    --context days: forward.universe), in (day, stock) order. Rows whose horizon is not clean (a suspension or the
    store's end inside it) have no label (y -1, forward return NaN): the backtest trades them, the label
    metrics leave them out."""
    stock, day = selected(app, mask)
    s, d = stock.cpu().numpy(), day.cpu().numpy()
    f64 = lambda t: t.cpu().numpy().astype(np.float64)  # noqa: E731
    n = len(s)
    all_stock, all_day, fc = app.forecast(torch.unique(day), progress)
    rows = rows_of(all_stock, all_day, stock, day)
    located = app.saved.linear.predict(app.prep.linear[s, d])  # the linear baseline's location, horizon sigmas
    p = {"model": f64(fc.p[rows]), "linear": f64(volatility_probabilities(app.data.sigma[stock, day], app.rule,
                                                                         torch.as_tensor(located, device=stock.device))),
         "volatility": f64(baseline_probabilities(app.data, stock, day, app.rule)),
         "prior": np.tile(app.prior, (n, 1)), "majority": np.tile(np.eye(3)[app.prior.argmax()], (n, 1))}
    score = {name: q[:, UP] - q[:, DOWN] for name, q in p.items()}
    score["model"], score["linear"] = f64(fc.score[rows]), located
    score["reversal"] = f64(app.data.reversal[stock, day])
    limit_up = limit_flags(app.store)[0]
    clean = (app.data.labelled_context[stock, day] >= app.context).cpu().numpy()
    return Rows(s, d, np.where(clean, app.prep.labels[s, d], -1),
                np.where(clean, app.prep.forward_return[s, d], np.nan), limit_up[s, d], p, score,
                app.prep.tradable[s, d])


def parse_gate(text: str) -> tuple[float, float]:
    """'up=0.6,down=0.7' -> (0.6, 0.7); both are probabilities."""
    try:
        parts = dict(item.split("=") for item in text.split(","))
        gate = float(parts["up"]), float(parts["down"])
    except (KeyError, ValueError):
        raise ValueError(f"--gate takes up=P,down=P (e.g. up=0.6,down=0.7), not {text!r}") from None
    if not all(0 <= q <= 1 for q in gate):
        raise ValueError(f"--gate thresholds are probabilities between 0 and 1, not {text!r}")
    return gate


def evaluate(app: Applied, split: str = "test", date_from: str | None = None, date_to: str | None = None,
             n_bootstrap: int = 1000, top_pct: float = 1.0, gate: tuple[float, float] | None = None,
             progress=None, block_days: int = BLOCK_DAYS) -> dict:
    """All figures of the report, as one JSON-ready dict."""
    return evaluate_rows(app, split, date_from, date_to, n_bootstrap, top_pct, gate, progress, block_days)[0]


def evaluate_rows(app: Applied, split: str = "test", date_from: str | None = None, date_to: str | None = None,
                  n_bootstrap: int = 1000, top_pct: float = 1.0, gate: tuple[float, float] | None = None,
                  progress=None, block_days: int = BLOCK_DAYS) -> tuple[dict, Rows]:
    """evaluate's report and the rows it scored."""
    rows = collect(app, selection_mask(app, split, date_from, date_to), progress)
    dates = np.array(app.store.meta["dates"])
    report = {
        "checkpoint": str(app.checkpoint), "store": str(app.store.path), "split": split,
        "context": app.context, "label_rule": asdict(app.rule), "trained_label_rule": asdict(app.saved.rule),
        "thresholds_note": app.thresholds_note, "head": app.saved.config.head,
        "from": str(dates[rows.day.min()]), "to": str(dates[rows.day.max()]),
        "train_prior": dict(zip(CLASSES, app.prior.tolist())),
        "warning": overlap_warning(app, rows.day), "universe_rows": int(len(rows.y)),
        **score_rows(rows, top_pct, n_bootstrap, gate, block_days),
    }
    return no_nan(report), rows

