"""The forecasters with no fitted parameter that a model must beat: volatility (probabilities) and reversal (ranks).

volatility: the horizon log return is a Student-t with DOF degrees of freedom, location 0 and standard deviation
sqrt(horizon) * sigma, where sigma^2 is the exponentially weighted mean (half-life HALF_LIFE of the stock's own
trading days) of its squared daily log returns up to the decision day; the class probabilities are its CDF at
log(1 + down) and log(1 + up). reversal: rank score = minus the log return over the last REVERSAL_DAYS days.
The constants are fixed here, never fitted on the evaluated days; the probabilities are in distribution.py.
"""

from __future__ import annotations

import numpy as np

from equinet.adjust import previous_close

HALF_LIFE = 10  # trading days of the stock
DOF = 5  # Student-t degrees of freedom (odd: its CDF has a closed form)
REVERSAL_DAYS = 20
SIGMA_FLOOR = 1e-4  # a daily volatility below 0.01 % (a price that never moved) is taken as this


def ewma_sigma(close: np.ndarray, breaks: np.ndarray, half_life: float = HALF_LIFE) -> np.ndarray:
    """sigma[s, d] from the daily log returns up to d (NaN before the first); a suspension's days are skipped and
    the return across it counts once; a break (an unadjusted ex-rights day) is no observation."""
    r2 = np.log(close / previous_close(close)) ** 2
    seen = np.isfinite(r2) & ~breaks
    decay = 0.5 ** (1 / half_life)
    num, den = np.zeros(close.shape[0]), np.zeros(close.shape[0])
    out = np.full(close.shape, np.nan)
    for d in range(close.shape[1]):  # decays only on the stock's own observations
        o = seen[:, d]
        num = np.where(o, decay * num + np.where(o, r2[:, d], 0.0), num)
        den = np.where(o, decay * den + 1.0, den)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[:, d] = np.sqrt(num / den)
    return out


def reversal(daily_return: np.ndarray, days: int = REVERSAL_DAYS) -> np.ndarray:
    """score[s, d] = -(sum of the daily log returns over the last `days` days up to d)."""
    total = np.cumsum(daily_return, axis=1)
    before = np.zeros_like(total)
    before[:, days:] = total[:, :-days]
    return -(total - before)
