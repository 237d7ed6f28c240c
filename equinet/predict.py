"""`equinet predict`: each stock's 涨/跌/稳 probabilities from the window ending on a day."""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import torch

from equinet.features import CLASSES_ZH
from equinet.infer import Applied, MismatchError, baseline_probabilities, rows_of


def zh(p: np.ndarray) -> str:
    """'涨:21% 跌:54% 稳:25%'."""
    return " ".join(f"{name}:{100 * q:.0f}%" for name, q in zip(CLASSES_ZH, p))


def _skip_reason(app: Applied, s: int, t: int, date: str) -> str:
    if np.isnan(app.store.close[s, t]):
        return f"no bar on {date} (suspended or not listed)"
    return f"only {int(app.prep.run[s, t])} consecutive clean days up to {date}; the window needs {app.context}"


def _row(code: str, q: np.ndarray, score: float | None = None) -> dict:
    row = {"code": code, "up": float(q[0]), "down": float(q[1]), "flat": float(q[2]),
           "up_minus_down": float(q[0] - q[1]), "zh": zh(q)}
    return row if score is None else {**row, "score": float(score)}


def predict(app: Applied, date: str | None = None, codes: list[str] | None = None, baseline: bool = False) -> dict:
    """Probabilities per stock, best rank score first (the model's own: its location for the dist head, P(up) -
    P(down) for softmax), and the stocks without a valid window; with baseline, the volatility baseline's
    probabilities beside each (under "volatility")."""
    dates = app.store.meta["dates"]
    date = date or dates[-1]
    if date not in dates:
        raise MismatchError(f"{date} is not a trading day of {app.store.path} ({dates[0]} .. {dates[-1]})")
    t = dates.index(date)
    wanted = codes or app.store.codes
    row = {c: i for i, c in enumerate(app.store.codes)}
    unknown = [c for c in wanted if c not in row]
    if unknown:
        raise MismatchError(f"not in {app.store.path}: {', '.join(unknown)}")
    idx = np.array([row[c] for c in wanted])
    ok = app.prep.run[idx, t] >= app.context
    stock = torch.as_tensor(idx[ok], device=app.data.device)
    day = torch.full_like(stock, t)
    all_stock, all_day, fc = app.forecast(torch.tensor([t], device=app.data.device))
    at = rows_of(all_stock, all_day, stock, day)  # the day's whole universe is forecast: its mean and attention
    rows = [_row(app.store.codes[s], q, z) for s, q, z in zip(idx[ok], fc.p[at].cpu().numpy(),
                                                              fc.score[at].cpu().numpy())]
    if baseline:
        for row, q in zip(rows, baseline_probabilities(app.data, stock, day, app.rule).cpu().numpy()):
            row["volatility"] = {k: v for k, v in _row(row["code"], q).items() if k != "code"}
    rows.sort(key=lambda r: -r["score"])
    skipped = [{"code": app.store.codes[s], "reason": _skip_reason(app, s, t, date)} for s in idx[~ok]]
    return {"date": date, "context": app.context, "checkpoint": str(app.checkpoint), "head": app.state["config"]["head"],
            "label_rule": asdict(app.rule), "thresholds_note": app.thresholds_note, "rows": rows, "skipped": skipped}
