"""`equinet eval`: every valid window of a selection, the model beside the baselines on the same rows."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from equinet.features import CLASSES, DOWN, UP, limit_flags
from equinet.infer import Applied, MismatchError, baseline_probabilities, rows_of
from equinet.metrics import (FORECASTERS, class_shares, daily_rank_ic, decision_metrics, forecast_metrics, gate_decision, rank_metrics,
                             surprisal)
from equinet.sampler import Pool, make_pool, room


DECILE = 10.0


@dataclass
class Rows:
    """The evaluated windows, sorted by day: where they are, what happened, what each forecaster said."""

    stock: np.ndarray
    day: np.ndarray
    y: np.ndarray
    forward_return: np.ndarray
    limit_up: np.ndarray  # closed at the limit-up on the decision day: cannot be bought
    p: dict[str, np.ndarray]  # forecaster -> probabilities [N, 3] (every forecaster but reversal)
    score: dict[str, np.ndarray]  # forecaster -> rank score [N]: the model's own (dist: its location), P(up) -
    # P(down) for the probability baselines, the reversal score


def concat(parts: list[Rows]) -> Rows:
    """Rows of several selections (cv folds, in date order) as one."""
    cat = lambda get: np.concatenate([get(r) for r in parts])  # noqa: E731
    return Rows(cat(lambda r: r.stock), cat(lambda r: r.day), cat(lambda r: r.y), cat(lambda r: r.forward_return),
                cat(lambda r: r.limit_up), {k: cat(lambda r: r.p[k]) for k in parts[0].p},
                {k: cat(lambda r: r.score[k]) for k in parts[0].score})


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


def eval_pool(app: Applied, mask: np.ndarray) -> Pool:
    """Every valid window in mask, in (day, stock) order; an empty selection is an error."""
    pool = make_pool(room(app.prep, app.rule.horizon), mask, app.context, torch.device("cpu")).at_least(app.context)
    if len(pool) == 0:
        raise MismatchError(f"no valid window of {app.context} days (+{app.rule.horizon}-day horizon) in the "
                            "selection; widen --from/--to, choose another --split or lower --context")
    return pool


def collect(app: Applied, mask: np.ndarray, progress=None) -> Rows:
    """Every forecaster over every valid window in mask, in (day, stock) order; the model sees each day's whole
    universe (every stock with a window that day, labelled or not)."""
    pool = eval_pool(app, mask)
    s, d = pool.stock.numpy(), pool.day.numpy()
    stock, day = pool.stock.to(app.data.device), pool.day.to(app.data.device)
    f64 = lambda t: t.cpu().numpy().astype(np.float64)  # noqa: E731
    n = len(s)
    all_stock, all_day, fc = app.forecast(torch.unique(day), progress)
    rows = rows_of(all_stock, all_day, stock, day)
    p = {"model": f64(fc.p[rows]), "volatility": f64(baseline_probabilities(app.data, stock, day, app.rule)),
         "prior": np.tile(app.prior, (n, 1)), "majority": np.tile(np.eye(3)[app.prior.argmax()], (n, 1))}
    score = {name: q[:, UP] - q[:, DOWN] for name, q in p.items()}
    score["model"] = f64(fc.score[rows])
    score["reversal"] = f64(app.data.reversal[stock, day])
    limit_up = limit_flags(np.asarray(app.store.close), app.store.codes)[0]
    return Rows(s, d, app.prep.labels[s, d], app.prep.forward_return[s, d], limit_up[s, d], p, score)


def _day_groups(day: np.ndarray) -> tuple[int, np.ndarray]:
    """How many days, and the day index of every row."""
    _, group = np.unique(day, return_inverse=True)
    return int(group.max()) + 1 if len(group) else 0, group


def top_excess(rows: Rows, score: np.ndarray, pct: float) -> dict:
    """Each day: the top pct % of buyable stocks by score (at least one); their mean forward return against the
    equal-weighted universe. A day whose scores are all equal ranks nothing: no pick (the prior has no top-k)."""
    days, group = _day_groups(rows.day)
    order = np.lexsort((-score, group))  # by day, best score first
    start = np.searchsorted(group[order], np.arange(days))
    ranked = score[order[start]] > score[order[np.r_[start[1:], len(order)] - 1]]  # best > worst that day
    universe = np.bincount(group, weights=rows.forward_return, minlength=days) / np.bincount(group, minlength=days)
    buyable = order[~rows.limit_up[order]]
    g = group[buyable]
    first = np.searchsorted(g, np.arange(days))
    position = np.arange(len(buyable)) - first[g]
    k = np.maximum(1, np.floor(np.bincount(group, minlength=days) * pct / 100)).astype(int)
    chosen = buyable[position < k[g]]
    counts = np.bincount(group[chosen], minlength=days)
    with np.errstate(invalid="ignore"):
        picks = np.bincount(group[chosen], weights=rows.forward_return[chosen], minlength=days) / counts
    ok = (counts > 0) & ranked
    daily = np.where(ok, picks - universe, np.nan)

    def mean(x: np.ndarray) -> float:
        return float(x[ok].mean()) if ok.any() else float("nan")
    return {"pct": pct, "days": int(ok.sum()), "picks_mean": mean(picks), "universe_mean": mean(universe),
            "excess": mean(daily), "daily_excess": daily}


def bootstrap(daily: dict[str, tuple[np.ndarray, np.ndarray, bool]], n: int, seed: int = 0) -> dict:
    """95 % intervals from resampling whole days (rows of a day move together); each statistic is a ratio of daily
    sums (numerator, denominator), or 1 minus it (skill); every statistic sees the same resamples."""
    if n <= 0 or not daily:
        return {}
    days = len(next(iter(daily.values()))[0])
    weights = np.random.default_rng(seed).multinomial(days, np.full(days, 1 / days), size=n)  # [n, days]
    out = {}
    for key, (num, den, is_skill) in daily.items():
        value = (weights @ num) / np.maximum(weights @ den, 1e-300)
        value = 1 - value if is_skill else value
        out[key] = [float(np.quantile(value, 0.025)), float(np.quantile(value, 0.975))]
    return out


def _daily_sums(rows: Rows, name: str, ic: np.ndarray, tops: dict[str, dict]) -> dict:
    """The per-day numerators and denominators of one forecaster's bootstrapped statistics."""
    days, group = _day_groups(rows.day)
    per_day = lambda w: np.bincount(group, weights=w, minlength=days)  # noqa: E731
    out = {}
    if name in rows.p:
        count = per_day(np.ones(len(group)))
        loss = {k: per_day(surprisal(q, rows.y)) for k, q in rows.p.items()}
        out["accuracy"] = (per_day(rows.p[name].argmax(1) == rows.y), count, False)
        out["log_loss_skill"] = (loss[name], loss["prior"], True)
        out["log_loss_skill_vs_volatility"] = (loss[name], loss["volatility"], True)
    for key, daily in [(k, top["daily_excess"]) for k, top in tops.items()] + [("rank_ic", ic)]:
        if not np.isnan(daily).all():  # a forecaster that ranks nothing has no IC or picks to resample
            out[key] = (np.nan_to_num(daily), (~np.isnan(daily)).astype(float), False)
    return out


def score_rows(rows: Rows, top_pct: float = 1.0, n_bootstrap: int = 1000,
               gate: tuple[float, float] | None = None) -> dict:
    """Every forecaster's metrics on the same rows, with day-bootstrap intervals: the body of a report."""
    out = {"rows": int(len(rows.y)), "days": int(len(np.unique(rows.day))),
           "stocks": int(len(np.unique(rows.stock))), "class_share": dict(zip(CLASSES, class_shares(rows.y).tolist()))}
    for i, name in enumerate(FORECASTERS):  # the model first: a ranking-only forecaster gets its keys, as None
        if name in rows.p:
            block = forecast_metrics(rows.p[name], rows.y, rows.forward_return, rows.p["prior"], rows.p["volatility"])
        else:
            block = dict.fromkeys(out["model"])
        ic = daily_rank_ic(rows.score[name], rows.forward_return, rows.day)
        tops = {"topk_excess": top_excess(rows, rows.score[name], top_pct),
                "top_decile_excess": top_excess(rows, rows.score[name], DECILE)}
        block |= rank_metrics(ic) | {k: top["excess"] for k, top in tops.items()}
        block["ci"] = bootstrap(_daily_sums(rows, name, ic, tops), n_bootstrap, seed=i)
        if name == "model":
            out["topk"] = {k: v for k, v in tops["topk_excess"].items() if k != "daily_excess"}
        out[name] = block
    out["ci"] = out["model"]["ci"]
    out["bootstrap"] = n_bootstrap
    if gate:
        out["gate"] = {"up": gate[0], "down": gate[1], **{
            name: decision_metrics(gate_decision(p, *gate), rows.y, rows.forward_return) for name, p in rows.p.items()}}
    return out


def no_nan(obj):
    """NaN (a metric that is undefined here, e.g. the rank IC of a constant forecast) as None: valid JSON null."""
    if isinstance(obj, float) and obj != obj:
        return None
    if isinstance(obj, dict):
        return {k: no_nan(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [no_nan(v) for v in obj]
    return obj


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
    report = {
        "checkpoint": str(app.checkpoint), "store": str(app.store.path), "split": split,
        "context": app.context, "label_rule": asdict(app.rule), "trained_label_rule": app.state["label_rule"],
        "thresholds_note": app.thresholds_note, "head": app.state["config"]["head"],
        "from": str(dates[rows.day.min()]), "to": str(dates[rows.day.max()]),
        "train_prior": dict(zip(CLASSES, app.prior.tolist())),
        "warning": overlap_warning(app, rows.day),
        **score_rows(rows, top_pct, n_bootstrap, gate),
    }
    return no_nan(report)
