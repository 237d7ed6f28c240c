"""`equinet eval`: every valid window of a selection, the model beside the baselines on the same rows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from equinet.adjust import previous_close
from equinet.features import CLASSES
from equinet.infer import Applied, MismatchError, probabilities
from equinet.metrics import class_shares, decision_metrics, forecast_metrics, gate_decision, surprisal
from equinet.sampler import Pool, make_pool, room
from equinet.tdx import daily_limits


@dataclass
class Rows:
    """The evaluated windows: where they are, what happened, what each forecaster said."""

    stock: np.ndarray
    day: np.ndarray
    y: np.ndarray
    forward_return: np.ndarray
    limit_up: np.ndarray  # closed at the limit-up on the decision day: cannot be bought
    p: dict[str, np.ndarray]  # forecaster -> probabilities [N, 3]


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


def limit_up(app: Applied) -> np.ndarray:
    """[stocks, days]: the close is at the limit-up price (within a fen) of the previous close."""
    close = np.asarray(app.store.close)
    prev = previous_close(close)
    limit = daily_limits(app.store.codes)
    with np.errstate(invalid="ignore"):
        return close / prev - 1 >= limit - 0.01 / prev


def eval_pool(app: Applied, mask: np.ndarray) -> Pool:
    """Every valid window in mask, in (day, stock) order; an empty selection is an error."""
    pool = make_pool(room(app.prep, app.rule.horizon), mask, app.context, torch.device("cpu")).at_least(app.context)
    if len(pool) == 0:
        raise MismatchError(f"no valid window of {app.context} days (+{app.rule.horizon}-day horizon) in the "
                            "selection; widen --from/--to, choose another --split or lower --context")
    return pool


def collect(app: Applied, mask: np.ndarray, progress=None) -> Rows:
    """Run the model over every valid window in mask, in (day, stock) order."""
    pool = eval_pool(app, mask)
    s, d = pool.stock.numpy(), pool.day.numpy()
    dev = app.inputs.device
    p = probabilities(app.model, app.inputs, pool.stock.to(dev), pool.day.to(dev), app.context, app.precision,
                      progress).cpu().numpy().astype(np.float64)
    y = app.prep.labels[s, d]
    prior = np.array(app.state["prior"])
    majority = np.eye(3)[prior.argmax()]
    n = len(y)
    return Rows(s, d, y, app.prep.forward_return[s, d], limit_up(app)[s, d],
                {"model": p, "majority": np.tile(majority, (n, 1)), "prior": np.tile(prior, (n, 1))})


def _day_groups(day: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows are sorted by day: each day's start and the day index of every row."""
    _, start, inverse = np.unique(day, return_index=True, return_inverse=True)
    return start, inverse


def topk(rows: Rows, pct: float) -> dict:
    """Each day: the top pct % of buyable stocks by P(up) - P(down); mean forward return against the universe."""
    rank = rows.p["model"][:, 0] - rows.p["model"][:, 1]
    start, group = _day_groups(rows.day)
    picks, universe = [], []
    for g, first in enumerate(start):
        idx = np.nonzero(group == g)[0]
        universe.append(rows.forward_return[idx].mean())
        buyable = idx[~rows.limit_up[idx]]
        k = max(1, int(np.floor(len(idx) * pct / 100)))
        chosen = buyable[np.argsort(-rank[buyable], kind="stable")[:k]]
        picks.append(rows.forward_return[chosen].mean() if len(chosen) else np.nan)
    picks, universe = np.array(picks), np.array(universe)
    ok = ~np.isnan(picks)
    return {"pct": pct, "days": int(ok.sum()), "picks_mean": float(picks[ok].mean()),
            "universe_mean": float(universe[ok].mean()), "excess": float((picks - universe)[ok].mean()),
            "daily_excess": np.where(ok, picks - universe, np.nan)}


def bootstrap(rows: Rows, daily_excess: np.ndarray, n: int, seed: int = 0) -> dict:
    """95 % intervals from resampling whole days (rows of a day move together)."""
    if n <= 0:
        return {}
    start, group = _day_groups(rows.day)
    days = len(start)
    p = rows.p["model"]
    correct = np.bincount(group, weights=(p.argmax(1) == rows.y), minlength=days)
    count = np.bincount(group, minlength=days).astype(float)
    ll_model = np.bincount(group, weights=surprisal(p, rows.y), minlength=days)
    ll_prior = np.bincount(group, weights=surprisal(rows.p["prior"], rows.y), minlength=days)
    weights = np.random.default_rng(seed).multinomial(days, np.full(days, 1 / days), size=n)  # [n, days]
    excess = np.nan_to_num(daily_excess)
    valid = (~np.isnan(daily_excess)).astype(float)
    stats = {
        "accuracy": weights @ correct / (weights @ count),
        "log_loss_skill": 1 - (weights @ ll_model) / (weights @ ll_prior),
        "topk_excess": (weights @ excess) / np.maximum(weights @ valid, 1),
    }
    return {k: [float(np.quantile(v, 0.025)), float(np.quantile(v, 0.975))] for k, v in stats.items()}


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
             progress=None) -> dict:
    """All figures of the report, as one JSON-ready dict."""
    rows = collect(app, selection_mask(app, split, date_from, date_to), progress)
    dates = np.array(app.store.meta["dates"])
    prior = np.array(app.state["prior"])
    report = {
        "checkpoint": str(app.checkpoint), "store": str(app.store.path), "split": split,
        "context": app.context, "label_rule": app.state["label_rule"],
        "rows": int(len(rows.y)), "days": int(len(np.unique(rows.day))), "stocks": int(len(np.unique(rows.stock))),
        "from": str(dates[rows.day.min()]), "to": str(dates[rows.day.max()]),
        "class_share": dict(zip(CLASSES, class_shares(rows.y).tolist())),
        "train_prior": dict(zip(CLASSES, prior.tolist())),
        "warning": overlap_warning(app, rows.day),
    }
    for name, p in rows.p.items():
        report[name] = forecast_metrics(p, rows.y, rows.forward_return, prior)
    top = topk(rows, top_pct)
    report["topk"] = {k: v for k, v in top.items() if k != "daily_excess"}
    report["ci"] = bootstrap(rows, top["daily_excess"], n_bootstrap)
    report["bootstrap"] = n_bootstrap
    if gate:
        report["gate"] = {"up": gate[0], "down": gate[1], **{
            name: decision_metrics(gate_decision(p, *gate), rows.y, rows.forward_return)
            for name, p in rows.p.items()}}
    return report
