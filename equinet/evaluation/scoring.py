"""Scoring on numpy arrays: the rows a forecast was judged on, every forecaster's metrics on the same rows, the
daily top picks and the day-bootstrap intervals. No model and no torch here: eval, cv and report all score
rows the same way."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from equinet.core.files import replace_file, write_json
from equinet.core.labels import CLASSES
from equinet.core.metrics import (FORECASTERS, class_shares, daily_rank_ic, decision_metrics, forecast_metrics,
                                  gate_decision, group_ranks, rank_metrics, surprisal)
from equinet.training.rundir import Folder

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
    score: dict[str, np.ndarray]  # forecaster -> rank score [N]: the model's own (its tradable return), P(up) -
    # P(down) for the probability baselines, the linear baseline's location, the reversal score
    tradable: np.ndarray | None = None  # from the next open to the horizon's close, NaN where a buyer could not
    # buy (no bar, limit-up open) or it is unknown; None in rows saved before it was kept

    def outcome(self) -> np.ndarray:
        """The tradable return, NaN everywhere in rows saved without it."""
        return np.full(len(self.day), np.nan) if self.tradable is None else self.tradable

    def take(self, index: np.ndarray) -> "Rows":
        """The rows at index (positions or a mask), in that order."""
        return Rows(self.stock[index], self.day[index], self.y[index], self.forward_return[index],
                    self.limit_up[index], {k: v[index] for k, v in self.p.items()},
                    {k: v[index] for k, v in self.score.items()}, self.outcome()[index])

    def labelled(self) -> "Rows":
        """The rows the label metrics count: those with a label and a clean horizon (the universe's others are
        traded by the backtest only)."""
        return self if (self.y >= 0).all() else self.take(self.y >= 0)


def concat(parts: list[Rows]) -> Rows:
    """Rows of several selections (cv folds, in date order) as one."""
    cat = lambda get: np.concatenate([get(r) for r in parts])  # noqa: E731
    return Rows(cat(lambda r: r.stock), cat(lambda r: r.day), cat(lambda r: r.y), cat(lambda r: r.forward_return),
                cat(lambda r: r.limit_up), {k: cat(lambda r: r.p[k]) for k in parts[0].p},
                {k: cat(lambda r: r.score[k]) for k in parts[0].score}, cat(lambda r: r.outcome()))


def save_rows(rows: Rows, path: Path, dates: list[str] | None = None) -> None:
    """The scored rows as one .npz (written atomically): cv pooling, --resume and `equinet report` read them;
    with the store's dates, the file alone says which day each row is."""
    arrays = {"stock": rows.stock, "day": rows.day, "y": rows.y, "forward_return": rows.forward_return,
              "limit_up": rows.limit_up, "tradable": rows.outcome(), **{f"p_{k}": v for k, v in rows.p.items()},
              **{f"score_{k}": v for k, v in rows.score.items()}, **({"dates": np.array(dates)} if dates else {})}

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)

    replace_file(path, write)


def load_dates(path: Path) -> list[str]:
    """The store's dates saved beside rows (the day indices refer to them)."""
    with np.load(path) as z:
        return [str(d) for d in z["dates"]]


def load_rows(path: Path) -> Rows:
    """Rows that save_rows wrote."""
    with np.load(path) as z:
        get = {k: z[k] for k in z.files}
    pick = lambda prefix: {k[len(prefix):]: v for k, v in get.items() if k.startswith(prefix)}  # noqa: E731
    return Rows(get["stock"], get["day"], get["y"], get["forward_return"], get["limit_up"], pick("p_"),
                pick("score_"), get.get("tradable"))


def _day_groups(day: np.ndarray) -> tuple[int, np.ndarray]:
    """How many days, and the day index of every row."""
    _, group = np.unique(day, return_inverse=True)
    return int(group.max()) + 1 if len(group) else 0, group


def pickable(rows: Rows, skip_limit_up: bool = True) -> np.ndarray:
    """The rows a top-k may pick: all, or (skip_limit_up) those not closed at the limit-up that day."""
    return ~rows.limit_up if skip_limit_up else np.ones(len(rows.day), bool)


def by_score(rows: Rows, score: np.ndarray, skip_limit_up: bool = True) -> tuple[np.ndarray, ...]:
    """The rows a top-k may pick with a score, by day and best score first (ties: row order): (order, each day's
    first position, its count, whether its scores differ); sorted once for every k."""
    order = np.flatnonzero(pickable(rows, skip_limit_up) & ~np.isnan(score))
    order = order[np.lexsort((-score[order], rows.day[order]))]
    _, first, counts = np.unique(rows.day[order], return_index=True, return_counts=True)
    return order, first, counts, score[order[first]] > score[order[first + counts - 1]]  # best > worst that day


def top_picks(rows: Rows, score: np.ndarray, top: int = 0, pct: float = 0.0, skip_limit_up: bool = True,
              sorted_rows: tuple[np.ndarray, ...] | None = None) -> np.ndarray:
    """The one top-k rule of eval, cv, report and the backtest: each decision day's best rows by score among the
    stocks that can be picked (with a score; not closed at the limit-up that day, with skip_limit_up), `top` of
    them, or pct % of the day's pickable stocks (at least one); a day whose pickable scores are all equal picks
    nothing. Row indices, by day, best first (sorted_rows: by_score's, when known)."""
    order, first, counts, ranked = sorted_rows or by_score(rows, score, skip_limit_up)
    k = np.full(len(counts), top) if pct <= 0 else np.maximum(1, np.floor(counts * pct / 100)).astype(int)
    position = np.arange(len(order)) - np.repeat(first, counts)
    return order[(position < np.repeat(k, counts)) & np.repeat(ranked, counts)]


def top_excess(rows: Rows, score: np.ndarray, pct: float, sorted_rows: tuple[np.ndarray, ...] | None = None,
               outcome: np.ndarray | None = None) -> dict:
    """Each day: the top pct % of the stocks that can be picked, by score (top_picks); their mean forward return
    (or another outcome; rows where it is NaN count for neither side) against the equal-weighted universe. A day
    whose scores are all equal has no pick (the prior has no top-k)."""
    days, group = _day_groups(rows.day)
    outcome = rows.forward_return if outcome is None else outcome
    known = ~np.isnan(outcome)
    value = np.where(known, outcome, 0.0)
    with np.errstate(invalid="ignore"):
        universe = np.bincount(group, weights=value, minlength=days) / np.bincount(group, weights=known, minlength=days)
    chosen = top_picks(rows, score, pct=pct, sorted_rows=sorted_rows)
    counts = np.bincount(group[chosen], weights=known[chosen], minlength=days)
    with np.errstate(invalid="ignore"):
        picks = np.bincount(group[chosen], weights=value[chosen], minlength=days) / counts
    ok = counts > 0
    daily = np.where(ok, picks - universe, np.nan)

    def mean(x: np.ndarray) -> float:
        return float(x[ok].mean()) if ok.any() else float("nan")
    return {"pct": pct, "days": int(ok.sum()), "picks_mean": mean(picks), "universe_mean": mean(universe),
            "excess": mean(daily), "daily_excess": daily}


BLOCK_DAYS = 5  # --block-days: the 3-day returns of neighbouring days overlap, so days are resampled in blocks


def block_weights(days: int, n: int, block: int, seed: int = 0) -> np.ndarray:
    """[n, days]: how often each day enters each of n moving-block resamples (blocks of `block` consecutive days
    drawn with replacement until the resample holds `days` days; block 1 is the plain day bootstrap)."""
    block = max(1, min(block, days))
    starts = np.random.default_rng(seed).integers(0, days - block + 1, size=(n, -(-days // block)))
    picked = (starts[:, :, None] + np.arange(block)).reshape(n, -1)[:, :days]  # [n, days]
    return np.bincount((np.arange(n)[:, None] * days + picked).ravel(), minlength=n * days).reshape(n, days)


def bootstrap(daily: dict[str, tuple[np.ndarray, np.ndarray, bool]], n: int, seed: int = 0,
              block: int = BLOCK_DAYS) -> dict:
    """95 % intervals from resampling moving blocks of `block` whole days (rows of a day, and days of a block, move
    together); each statistic is a ratio of daily sums (numerator, denominator), or 1 minus it (skill); every
    statistic sees the same resamples."""
    if n <= 0 or not daily:
        return {}
    weights = block_weights(len(next(iter(daily.values()))[0]), n, block, seed)  # [n, days]
    out = {}
    for key, (num, den, is_skill) in daily.items():
        value = (weights @ num) / np.maximum(weights @ den, 1e-300)
        value = 1 - value if is_skill else value
        out[key] = [float(np.quantile(value, 0.025)), float(np.quantile(value, 0.975))]
    return out


def _daily_sums(rows: Rows, name: str, ics: dict[str, np.ndarray], tops: dict[str, dict]) -> dict:
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
    for key, daily in [(k, top["daily_excess"]) for k, top in tops.items()] + list(ics.items()):
        if not np.isnan(daily).all():  # a forecaster that ranks nothing has no IC or picks to resample
            out[key] = (np.nan_to_num(daily), (~np.isnan(daily)).astype(float), False)
    return out


def score_rows(rows: Rows, top_pct: float = 1.0, n_bootstrap: int = 1000,
               gate: tuple[float, float] | None = None, block_days: int = BLOCK_DAYS) -> dict:
    """Every forecaster's metrics on the same labelled rows, with block-bootstrap intervals: the body of a report."""
    rows = rows.labelled()
    out = {"rows": int(len(rows.y)), "days": int(len(np.unique(rows.day))),
           "stocks": int(len(np.unique(rows.stock))), "class_share": dict(zip(CLASSES, class_shares(rows.y).tolist()))}
    days, day_group = np.unique(rows.day, return_inverse=True)
    outcome = group_ranks(day_group, rows.forward_return)  # ranked once for every forecaster
    tradable = rows.outcome()
    buyable = ~np.isnan(tradable)
    tradable_ranks = group_ranks(day_group[buyable], tradable[buyable]) if buyable.any() else None
    at = np.searchsorted(days, np.unique(rows.day[buyable]))  # the days with a tradable return
    for i, name in enumerate(FORECASTERS):  # the model first: a ranking-only forecaster gets its keys, as None
        if name not in rows.score:  # rows scored before it existed (the linear baseline)
            continue
        if name in rows.p:
            block = forecast_metrics(rows.p[name], rows.y, rows.forward_return, rows.p["prior"], rows.p["volatility"])
        else:
            block = dict.fromkeys(out["model"])
        ics = {"rank_ic": daily_rank_ic(rows.score[name], rows.forward_return, rows.day, outcome),
               "rank_ic_tradable": np.full(len(days), np.nan)}
        if buyable.any():
            ics["rank_ic_tradable"][at] = daily_rank_ic(rows.score[name][buyable], tradable[buyable], rows.day[buyable],
                                                        tradable_ranks)
        ranked = by_score(rows, rows.score[name])
        tops = {"topk_excess": top_excess(rows, rows.score[name], top_pct, ranked),
                "top_decile_excess": top_excess(rows, rows.score[name], DECILE, ranked),
                "top_decile_excess_tradable": top_excess(rows, rows.score[name], DECILE, ranked, tradable)}
        block |= rank_metrics(ics["rank_ic"]) | {k: top["excess"] for k, top in tops.items()}
        block["rank_ic_tradable"] = rank_metrics(ics["rank_ic_tradable"])["rank_ic"]
        block["ci"] = bootstrap(_daily_sums(rows, name, ics, tops), n_bootstrap, seed=i, block=block_days)
        if name == "model":
            out["topk"] = {k: v for k, v in tops["topk_excess"].items() if k != "daily_excess"}
        out[name] = block
    out["ci"] = out["model"]["ci"]
    out["bootstrap"], out["block_days"] = n_bootstrap, block_days
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


def save_eval(report: dict, rows, dates: list[str], checkpoint: Path, split: str) -> Path | None:
    """An evaluation of a run's checkpoint is kept in the run: eval-<split>.json (the latest one) and, when it
    scored the whole split at the training thresholds (rows given), its rows beside it for `equinet report`."""
    folder = Folder(Path(checkpoint).parent)
    if not folder.config.is_file():
        return None
    write_json(report, folder.eval_file(split))
    if rows is not None:
        save_rows(rows, folder.eval_rows(split), dates)
    else:
        folder.eval_rows(split).unlink(missing_ok=True)  # rows of an earlier, whole evaluation no longer match
    return folder.eval_file(split)
