"""`equinet predict`: each stock's 涨/跌/稳 probabilities from the window ending on a day, for the trading days
after it."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date as Date

import numpy as np
import torch

from equinet.core.board import a_share_exchange, split_code, symbol
from equinet.core.days import next_trading_days, trading_days_between
from equinet.core.labels import CLASSES_ZH
from equinet.training.forward import baseline_probabilities, rows_of, universe
from equinet.inference.apply import Applied, MismatchError

SORTS = {"score": ("score", "rank score"), "up": ("up", "P(涨)"), "down": ("down", "P(跌)"),
         "up-down": ("up_minus_down", "P(涨) - P(跌)")}  # --sort: the row key, highest first, and its words
STALE_DAYS = 3  # trading days between the decision day and today past which the store is called old


def zh(p: np.ndarray) -> str:
    """'涨:21% 跌:54% 稳:25%'."""
    return " ".join(f"{name}:{100 * q:.0f}%" for name, q in zip(CLASSES_ZH, p))


def _skip_reason(app: Applied, s: int, t: int, date: str) -> str:
    if np.isnan(app.store.close[s, t]):
        bars = np.flatnonzero(~np.isnan(app.store.close[s]))
        if len(bars) and bars[-1] < t:
            return f"no bar on {date}: its data ends on {app.store.meta['dates'][bars[-1]]} (a stale file, or delisted)"
        return f"no bar on {date} (suspended or not listed)"
    return f"only {int(app.prep.clean_days[s, t])} consecutive clean days up to {date}; the window needs {app.context}"


def _row(code: str, q: np.ndarray, score: float | None = None) -> dict:
    row = {"code": code, "up": float(q[0]), "down": float(q[1]), "flat": float(q[2]),
           "up_minus_down": float(q[0] - q[1]), "zh": zh(q)}
    return row if score is None else {**row, "score": float(score)}


def exchange_of(app: Applied, code: str) -> str | None:
    """The exchange the store's source says a code trades on, else its board's."""
    return app.store.meta.get("exchanges", {}).get(code) or a_share_exchange(code)


def store_codes(app: Applied, wanted: list[str]) -> list[str]:
    """The store's codes for codes as users write them (600881, SH600881, 600881.SH, ...)."""
    row = set(app.store.codes)
    found, unknown = [], []
    for text in wanted:
        given, code = split_code(text)
        known = exchange_of(app, code)
        if code not in row or (given and known and given != known):
            unknown.append(text)
        found.append(code)
    if unknown:
        raise MismatchError(f"not in {app.store.path}: {', '.join(unknown)}")
    return found


def still_window(app: Applied, s: int, t: int) -> bool:
    """The close did not move on any day of the window: its forecast (all 稳) says nothing about the stock."""
    window = app.store.close[s, t - app.context + 1:t + 1]
    return bool(np.ptp(window) == 0)


def predict(app: Applied, date: str | None = None, codes: list[str] | None = None, baseline: bool = False,
            sort: str = "score", today: Date | None = None) -> dict:
    """Probabilities per stock, highest `sort` first (the model's rank score by default: its expected return
    from the next open to the horizon's close, relative to the day's stocks); stocks whose window never moved are
    flagged and listed last; the stocks without a valid window; the trading days the forecast is about; a warning
    when the store is old.
    With baseline, the volatility baseline's probabilities beside each (under "volatility")."""
    if sort not in SORTS:
        raise ValueError(f"--sort must be one of {', '.join(SORTS)}, not {sort!r}")
    dates = app.store.meta["dates"]
    date = date or dates[-1]
    if date not in dates:
        raise MismatchError(f"{date} is not a trading day of {app.store.path} ({dates[0]} .. {dates[-1]})")
    t = dates.index(date)
    wanted = store_codes(app, codes) if codes else app.store.codes
    row = {c: i for i, c in enumerate(app.store.codes)}
    idx = np.array([row[c] for c in wanted])
    days = torch.tensor([t], device=app.data.device)
    ok = np.isin(idx, universe(app.data, days, app.context)[0].cpu().numpy())  # eval's and the backtest's universe
    stock = torch.as_tensor(idx[ok], device=app.data.device)
    day = torch.full_like(stock, t)
    all_stock, all_day, fc = app.forecast(days)
    at = rows_of(all_stock, all_day, stock, day)  # the day's whole universe is forecast: its mean and attention
    names = app.store.meta.get("names", {})
    rows = []
    for s, q, z in zip(idx[ok], fc.p[at].cpu().numpy(), fc.score[at].cpu().numpy()):
        code = app.store.codes[s]
        rows.append({**_row(code, q, z), "symbol": symbol(code, exchange_of(app, code)), "name": names.get(code, ""),
                     "still": still_window(app, s, t)})
    if baseline:
        for row, q in zip(rows, baseline_probabilities(app.data, stock, day, app.rule).cpu().numpy()):
            row["volatility"] = {k: v for k, v in _row(row["code"], q).items() if k != "code"}
    key = SORTS[sort][0]
    rows.sort(key=lambda r: (r["still"], -r[key]))
    skipped = [{"code": app.store.codes[s], "reason": _skip_reason(app, s, t, date)} for s in idx[~ok]]
    days, sure = next_trading_days(date, app.rule.horizon, dates)
    behind = trading_days_between(date, today or Date.today())
    stale = (f"the decision day {date} is {behind} trading days before today: the store is old, so this is no "
             "forecast for the coming days (ingest newer exports first)") if behind > STALE_DAYS else None
    return {"date": date, "days": days, "days_sure": sure, "stale": stale, "context": app.context,
            "checkpoint": str(app.checkpoint), "head": app.saved.config.head, "sort": sort,
            "label_rule": asdict(app.rule), "thresholds_note": app.thresholds_note, "rows": rows, "skipped": skipped}
