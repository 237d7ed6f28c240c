"""Corporate actions: an overnight gap beyond the board's daily limit is an ex-rights day, not a move."""

from __future__ import annotations

import numpy as np

from equinet.core.board import limit_prices, limit_rates

OPEN, CLOSE, VOLUME = 0, 3, 4  # panel features: open, high, low, close, volume
TICK = 0.01  # A-share prices move in fen; limit prices are rounded to it


def previous_close(close: np.ndarray) -> np.ndarray:
    """close[s, d] of the stock's last bar before day d (NaN if none): suspensions are skipped."""
    days = np.arange(close.shape[1])
    last = np.maximum.accumulate(np.where(np.isnan(close), -1, days), axis=1)
    before = np.concatenate([np.full((close.shape[0], 1), -1), last[:, :-1]], axis=1)
    prev = np.take_along_axis(close, np.maximum(before, 0), axis=1)
    return np.where(before >= 0, prev, np.nan)


def find_events(panel: np.ndarray, codes: list[str], dates: list[str], st: np.ndarray | None = None,
                listed: np.ndarray | None = None) -> list[dict]:
    """Days whose open lies beyond that day's limit price (board, name, date, listing day) by more than one tick."""
    prev = previous_close(panel[:, :, CLOSE])
    shape = panel.shape[:2]
    up_rate, down_rate = limit_rates(codes, dates, np.zeros(shape, bool) if st is None else st,
                                     np.full(shape, 10_000) if listed is None else listed)
    up, down = limit_prices(prev, up_rate, down_rate)
    up, down = up + TICK + 1e-9, down - TICK - 1e-9
    limit = up_rate
    opened = panel[:, :, OPEN]
    with np.errstate(invalid="ignore"):
        hit = (opened > up) | (opened < down)
    events = []
    for s, d in zip(*np.nonzero(hit)):
        factor = float(opened[s, d] / prev[s, d])
        events.append({
            "code": codes[s], "date": dates[d], "source": "gap", "gap": round(factor - 1, 6), "factor": factor,
            "limit": float(limit[s, d]), "prev_close": float(prev[s, d]), "open": float(opened[s, d]),
        })
    return events


def ex_rights_factor(prev_close: np.ndarray, cash: np.ndarray, rights_price: np.ndarray, bonus: np.ndarray,
                     rights: np.ndarray) -> np.ndarray:
    """The exchange's ex-rights reference price over the last close (all amounts per 10 shares):
    (close - cash/10 + rights_price x rights/10) / (1 + bonus/10 + rights/10) / close."""
    ex = (prev_close - cash / 10 + rights_price * rights / 10) / (1 + bonus / 10 + rights / 10)
    return ex / prev_close


def action_events(panel: np.ndarray, codes: list[str], dates: list[str], actions: dict[str, list[dict]]
                  ) -> list[dict]:
    """Ex-rights events from declared corporate actions (gbbq): on the first bar on or after each ex-date, the
    exact factor from the last close before it and the per-10-share cash, bonus and rights."""
    prev = previous_close(panel[:, :, CLOSE])
    calendar = np.array(dates, dtype="datetime64[D]")
    events = []
    for s, code in enumerate(codes):
        present = np.flatnonzero(~np.isnan(panel[s, :, CLOSE]))
        for a in actions.get(code, []):
            i = np.searchsorted(calendar[present], np.datetime64(a["date"]))
            if i == len(present) or np.isnan(prev[s, present[i]]):
                continue  # after the stock's last bar, or on or before its first: nothing to adjust
            d = present[i]
            factor = float(ex_rights_factor(prev[s, d], a["cash"], a["rights_price"], a["bonus"], a["rights"]))
            events.append({"code": code, "date": dates[d], "source": "gbbq", "factor": factor,
                           "prev_close": float(prev[s, d]), "open": float(panel[s, d, OPEN]),
                           **{k: a[k] for k in ("cash", "rights_price", "bonus", "rights")}})
    return events


def preclose_events(panel: np.ndarray, preclose: np.ndarray, codes: list[str], dates: list[str],
                    tolerance: float = 1e-9) -> list[dict]:
    """Ex-rights events from the exchange's previous close (前收盘价, pre_close): on every day whose previous close
    is not the stock's last close, the exact factor previous close / last close (a listing day has no last close)."""
    prev = previous_close(panel[:, :, CLOSE])
    with np.errstate(invalid="ignore", divide="ignore"):
        factor = preclose / prev
    s_, d_ = np.nonzero(np.isfinite(factor) & (np.abs(factor - 1) > tolerance))
    return [{"code": codes[s], "date": dates[d], "source": "preclose", "factor": float(factor[s, d]),
             "prev_close": float(prev[s, d]), "open": float(panel[s, d, OPEN]), "preclose": float(preclose[s, d])}
            for s, d in zip(s_, d_)]


def disagreements(gaps: list[dict], declared: list[dict], tolerance: float = 0.03) -> list[dict]:
    """Gap-inferred events that the declared actions do not explain: no action that day, or a factor off by more
    than the tolerance (the gap also holds the day's opening move)."""
    by_day = {(e["code"], e["date"]): e["factor"] for e in declared}
    out = []
    for g in gaps:
        factor = by_day.get((g["code"], g["date"]))
        if factor is None or abs(g["factor"] / factor - 1) > tolerance:
            out.append({"code": g["code"], "date": g["date"], "gap_factor": g["factor"], "gbbq_factor": factor})
    return out


def event_cells(events: list[dict], codes: list[str], dates: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(stock, day) index arrays of the events, for indexing [stocks, days] arrays."""
    row, col = {c: i for i, c in enumerate(codes)}, {d: i for i, d in enumerate(dates)}
    return (np.array([row[e["code"]] for e in events], dtype=np.intp),
            np.array([col[e["date"]] for e in events], dtype=np.intp))


def day_factors(events: list[dict], codes: list[str], dates: list[str], shape: tuple[int, int]) -> np.ndarray:
    """factor[s, d]: the product of the stock's event factors on day d (1 on a day without one) [stocks, days]."""
    factor = np.ones(shape)
    np.multiply.at(factor, event_cells(events, codes, dates), [e["factor"] for e in events])
    return factor


def later_factors(factor: np.ndarray) -> np.ndarray:
    """after[s, d]: the product of the factors of the events strictly after day d, so that a back-adjusted price
    is the quoted one x after [stocks, days]."""
    return np.flip(np.cumprod(np.flip(factor, 1), 1), 1) / factor


def price_scale(meta: dict, shape: tuple[int, int]) -> np.ndarray:
    """A store's back-adjusted prices over the quoted ones [stocks, days] (1 where nothing was adjusted: a
    --no-adjust store, an export that declared adjusted prices): quoted = stored / scale."""
    return later_factors(day_factors([e for e in meta["events"] if e.get("adjusted", True)], meta["codes"],
                                     meta["dates"], shape))


def back_adjust(panel: np.ndarray, events: list[dict], codes: list[str], dates: list[str]) -> np.ndarray:
    """Scale prices before each event by its factor (volume inversely), so returns across it are continuous: in
    place (a market's panel is not copied), and returned."""
    after = later_factors(day_factors(events, codes, dates, panel.shape[:2]))
    panel[:, :, :VOLUME] *= after[:, :, None]
    panel[:, :, VOLUME] /= after
    return panel
