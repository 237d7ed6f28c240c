"""Forecast metrics on arrays of probabilities [N, 3] and labels [N] (0 up, 1 down, 2 flat)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from equinet.core.labels import CLASSES, DOWN, FLAT, PAYOFF, UP

EPS = 1e-12


@dataclass(frozen=True)
class Metric:
    """One figure, as every table, JSON file and page names and shows it: its key in an eval/cv block, its label
    (long and short), how it is formatted (tables.formatted), its key in an epoch's validation line and its column
    in `equinet runs` (None: not there)."""

    key: str
    label: str
    short: str
    kind: str  # num | signed | pct | int | ic | ret
    line: str | bool = True  # its key in a validation line: True = val_<key>, False = not in the line
    column: str | None = None  # its `equinet runs` column (val_/test_ + this): default the key

    @property
    def line_key(self) -> str | None:
        return f"val_{self.key}" if self.line is True else self.line or None

    @property
    def run_column(self) -> str:
        return self.column or self.key


METRICS = {m.key: m for m in (  # the one registry: a new metric is its function and one line here
    Metric("log_loss", "log loss", "log loss", "num"),
    Metric("log_loss_skill", "log-loss skill over the prior", "skill vs prior", "signed", column="skill_prior"),
    Metric("log_loss_skill_vs_volatility", "log-loss skill over volatility", "skill vs volatility", "signed",
           line="val_skill_vs_volatility", column="skill_volatility"),
    Metric("brier", "Brier", "Brier", "num"),
    Metric("auc_up", "AUC up", "AUC up", "num"),
    Metric("auc_down", "AUC down", "AUC down", "num"),
    Metric("accuracy", "accuracy", "accuracy", "pct"),
    Metric("macro_f1", "macro-F1", "F1", "num"),
    Metric("mcc", "MCC", "MCC", "num"),
    Metric("score_per_1000", "score/1000 (argmax)", "score/1000", "int"),
    Metric("score_per_1000_expected", "score/1000 (expected)", "score/1000 exp.", "int"),
    Metric("up_recall", "up recall", "up recall", "pct"),
    Metric("down_to_up_rate", "down->up rate", "down->up", "pct"),
    Metric("extreme_up_capture", "extreme-up capture", "extreme up", "pct"),
    Metric("rank_ic", "rank IC (mean daily)", "rank IC", "ic"),
    Metric("rank_ic_tradable", "rank IC, tradable return", "rank IC trad.", "ic"),
    Metric("rank_icir", "ICIR", "ICIR", "num"),
    Metric("ic_positive_days", "days with IC > 0", "IC > 0", "pct"),
    Metric("topk_excess", "top-k excess / 3 days", "top-k excess", "ret", line=False),
    Metric("top_decile_excess", "top-decile excess / 3 days", "top-decile excess", "ret", line=False),
    Metric("top_decile_excess_tradable", "top-decile excess, tradable", "top-decile trad.", "ret", line=False),
)}
FORECASTERS = ("model", "linear", "volatility", "prior", "majority", "reversal")  # every report, in this order
PROBABILISTIC = FORECASTERS[:5]  # reversal only ranks: it has no probabilities


def surprisal(p: np.ndarray, y: np.ndarray) -> np.ndarray:
    """-log P(true class) per row, clipped so that a certain miss stays finite."""
    return -np.log(np.clip(p[np.arange(len(y)), y], EPS, 1.0))


def log_loss(p: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(surprisal(p, y)))


def skill(ll: float, ll_reference: float) -> float:
    """1 - LL / LL of a reference forecaster on the same rows: above 0 beats it."""
    return 1 - ll / ll_reference


def accuracy(pred: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(pred == y))


def score_per_1000(pred: np.ndarray, y: np.ndarray) -> float:
    """The original EquiNet's score: +1 correct, -1 true UP called DOWN, -2 true DOWN called UP."""
    points = (pred == y).astype(float) - ((y == UP) & (pred == DOWN)) - 2.0 * ((y == DOWN) & (pred == UP))
    return float(1000 * points.mean())


def recall(pred: np.ndarray, y: np.ndarray) -> dict[str, float]:
    return {name: float(np.mean(pred[y == c] == c)) if (y == c).any() else float("nan")
            for c, name in enumerate(CLASSES)}


def class_shares(y: np.ndarray) -> np.ndarray:
    return np.bincount(y, minlength=len(CLASSES)) / max(len(y), 1)


def validation_line(p: np.ndarray, p_vol: np.ndarray, prior: np.ndarray, y: np.ndarray, forward_return: np.ndarray,
                    day: np.ndarray, loss: float, score: np.ndarray, tradable: np.ndarray) -> dict:
    """What each epoch reports on every validation window, beside the prior and volatility baselines (the rank IC
    against the close-to-close and the tradable return)."""
    pred, known = p.argmax(1), ~np.isnan(tradable)
    ll, ll_vol = log_loss(p, y), log_loss(p_vol, y)
    ll_prior = log_loss(np.broadcast_to(prior, p.shape), y)
    figures = {"accuracy": accuracy(pred, y), "log_loss": ll, "log_loss_skill": skill(ll, ll_prior),
               "log_loss_skill_vs_volatility": skill(ll, ll_vol), "auc_up": auc(p[:, UP], y == UP),
               "auc_down": auc(p[:, DOWN], y == DOWN),
               "rank_ic": rank_metrics(daily_rank_ic(score, forward_return, day))["rank_ic"],
               "rank_ic_tradable": rank_metrics(daily_rank_ic(score[known], tradable[known], day[known]))["rank_ic"],
               "score_per_1000": score_per_1000(pred, y)}
    return {"val_loss": loss, "val_rows": int(len(y)), "val_log_loss_volatility": ll_vol,
            **{METRICS[k].line_key: v for k, v in figures.items()},
            **{f"val_recall_{k}": v for k, v in recall(pred, y).items()}}


def confusion(pred: np.ndarray, y: np.ndarray) -> np.ndarray:
    """counts[true, predicted]."""
    return np.bincount(y * 3 + pred, minlength=9).reshape(3, 3)


def precision(pred: np.ndarray, y: np.ndarray) -> dict[str, float]:
    return {name: float(np.mean(y[pred == c] == c)) if (pred == c).any() else float("nan")
            for c, name in enumerate(CLASSES)}


def macro_f1(pred: np.ndarray, y: np.ndarray) -> float:
    """Mean over classes of 2PR/(P+R); a class never predicted nor present counts 0."""
    cm = confusion(pred, y).astype(float)
    tp = np.diag(cm)
    denom = cm.sum(0) + cm.sum(1)
    return float(np.mean(np.where(denom > 0, 2 * tp / np.maximum(denom, 1e-12), 0.0)))


def mcc(pred: np.ndarray, y: np.ndarray) -> float:
    """Multiclass Matthews correlation (Gorodkin's R_K); 0 when either side is constant."""
    cm = confusion(pred, y).astype(float)
    n, correct = cm.sum(), np.trace(cm)
    t, p = cm.sum(1), cm.sum(0)
    denom = np.sqrt((n**2 - p @ p) * (n**2 - t @ t))
    return float((correct * n - t @ p) / denom) if denom > 0 else 0.0


def brier(p: np.ndarray, y: np.ndarray) -> float:
    """Mean over rows of the squared distance between the probabilities and the one-hot outcome."""
    return float(np.mean(((p - np.eye(3)[y]) ** 2).sum(1)))


def auc(score: np.ndarray, positive: np.ndarray) -> float:
    """One-vs-rest ROC AUC by ranks (ties share their mean rank); NaN if a side is empty."""
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(score, kind="mergesort")
    ranks = np.empty(len(score))
    sorted_scores = score[order]
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    ranks[order] = np.repeat(first + (counts + 1) / 2, counts)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def expected_score_decision(p: np.ndarray) -> np.ndarray:
    """The class with the highest expected score under the probabilities."""
    return (p @ PAYOFF).argmax(1)


def gate_decision(p: np.ndarray, up: float, down: float) -> np.ndarray:
    """The original EquiNet's gate: UP only if P(up) > up and > 2 P(down); DOWN only if P(down) > down and
    > 3 P(up); otherwise FLAT."""
    pred = np.full(len(p), FLAT)
    pred[(p[:, UP] > up) & (p[:, UP] > 2 * p[:, DOWN])] = UP
    pred[(p[:, DOWN] > down) & (p[:, DOWN] > 3 * p[:, UP])] = DOWN
    return pred


def decision_metrics(pred: np.ndarray, y: np.ndarray, forward_return: np.ndarray) -> dict:
    """Everything that depends only on the decided class."""
    top = forward_return >= np.quantile(forward_return, 0.95)
    recalls = recall(pred, y)
    return {
        "accuracy": accuracy(pred, y),
        "macro_f1": macro_f1(pred, y),
        "mcc": mcc(pred, y),
        "score_per_1000": score_per_1000(pred, y),
        "up_recall": recalls["up"],
        "down_to_up_rate": float(np.mean(pred[y == DOWN] == UP)) if (y == DOWN).any() else float("nan"),
        "extreme_up_capture": float(np.mean(pred[top] == UP)),
        "precision": precision(pred, y),
        "recall": recalls,
        "confusion": confusion(pred, y).tolist(),
    }


def forecast_metrics(p: np.ndarray, y: np.ndarray, forward_return: np.ndarray, p_prior: np.ndarray,
                     p_vol: np.ndarray) -> dict:
    """All metrics of one forecaster's probabilities p [N, 3] on rows with labels y; skills against the prior's and
    the volatility baseline's probabilities on the same rows."""
    ll = log_loss(p, y)
    return {
        **decision_metrics(p.argmax(1), y, forward_return),
        "log_loss": ll,
        "log_loss_skill": skill(ll, log_loss(p_prior, y)),
        "log_loss_skill_vs_volatility": skill(ll, log_loss(p_vol, y)),
        "brier": brier(p, y),
        "auc_up": auc(p[:, UP], y == UP),
        "auc_down": auc(p[:, DOWN], y == DOWN),
        "score_per_1000_expected": score_per_1000(expected_score_decision(p), y),
    }


def group_ranks(group: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Rank (1..n) of each x within its group; ties share their mean rank."""
    n = len(x)
    order = np.lexsort((x, group))
    g, v = group[order], x[order]
    starts = np.r_[True, g[1:] != g[:-1]]
    position = np.arange(n) - np.maximum.accumulate(np.where(starts, np.arange(n), 0)) + 1
    tie = np.cumsum(np.r_[True, starts[1:] | (v[1:] != v[:-1])]) - 1
    ranks = np.empty(n)
    ranks[order] = (np.bincount(tie, weights=position) / np.bincount(tie))[tie]
    return ranks


def daily_rank_ic(score: np.ndarray, outcome: np.ndarray, day: np.ndarray,
                  ranked: np.ndarray | None = None) -> np.ndarray:
    """Spearman correlation of score and outcome across the stocks of each day [days, ascending]; NaN where a side
    is constant (a forecaster that ranks nothing). ranked: the outcome's ranks within each day, when known (many
    forecasters scored on the same rows rank it once)."""
    _, g = np.unique(day, return_inverse=True)
    if len(score) and score.min() == score.max():  # one score for every row (the prior): no day is ranked
        return np.full(int(g.max()) + 1, np.nan)
    a, b = group_ranks(g, score), group_ranks(g, outcome) if ranked is None else ranked
    s = lambda w: np.bincount(g, weights=w)  # noqa: E731
    n = s(np.ones(len(g)))
    cov = s(a * b) - s(a) * s(b) / n
    var = (s(a * a) - s(a) ** 2 / n) * (s(b * b) - s(b) ** 2 / n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(var > 1e-12, cov / np.sqrt(np.maximum(var, 1e-300)), np.nan)


def rank_metrics(ic: np.ndarray) -> dict:
    """Mean daily rank IC, ICIR (mean / std over days) and the share of days with IC > 0 (days with an IC)."""
    ic = ic[~np.isnan(ic)]
    if len(ic) == 0:
        return {"rank_ic": float("nan"), "rank_icir": float("nan"), "ic_positive_days": float("nan")}
    std = ic.std(ddof=1) if len(ic) > 1 else float("nan")
    return {"rank_ic": float(ic.mean()), "rank_icir": float(ic.mean() / std) if std > 0 else float("nan"),
            "ic_positive_days": float(np.mean(ic > 0))}
