"""The forecasters with no fitted parameter that a model must beat: volatility (probabilities) and reversal (ranks).

volatility: the horizon log return is a Student-t with DOF degrees of freedom, location 0 and standard deviation
sqrt(horizon) * sigma, where sigma^2 is the exponentially weighted mean (half-life HALF_LIFE of the stock's own
trading days) of its squared daily log returns up to the decision day; the class probabilities are its CDF at
log(1 + down) and log(1 + up). reversal: rank score = minus the log return over the last REVERSAL_DAYS days.
The constants are fixed here, never fitted on the evaluated days; the probabilities are in distribution.py.
"""

from __future__ import annotations

import numpy as np
import torch

from equinet.data.adjust import previous_close

HALF_LIFE = 10  # trading days of the stock
DOF = 5  # Student-t degrees of freedom (odd: its CDF has a closed form)
REVERSAL_DAYS = 20
SIGMA_FLOOR = 1e-4  # a daily volatility below 0.01 % (a price that never moved) is taken as this


def ewma(x: np.ndarray, seen: np.ndarray, half_life: float) -> np.ndarray:
    """Exponentially weighted mean of x[s, :d] over the days seen (time on axis 1), decaying only on those days;
    NaN before the first."""
    decay = 0.5 ** (1 / half_life)
    num, den = np.zeros(x.shape[0]), np.zeros(x.shape[0])
    out = np.full(x.shape, np.nan)
    for d in range(x.shape[1]):
        o = seen[:, d]
        num = np.where(o, decay * num + np.where(o, x[:, d], 0.0), num)
        den = np.where(o, decay * den + 1.0, den)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[:, d] = num / den
    return out


def squared_returns(close: np.ndarray, breaks: np.ndarray, prev: np.ndarray | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Squared daily log returns and where they are observations: a suspension's days are skipped and the return
    across it counts once; a break (an unadjusted ex-rights day) is no observation (prev: the previous closes,
    when known)."""
    r2 = np.log(close / (previous_close(close) if prev is None else prev)) ** 2
    return r2, np.isfinite(r2) & ~breaks


def ewma_sigma(close: np.ndarray, breaks: np.ndarray, half_life: float = HALF_LIFE,
               squared: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """sigma[s, d] from the daily log returns up to d (NaN before the first), in the stock's own trading days
    (squared: squared_returns(close, breaks), when known)."""
    return np.sqrt(ewma(*(squared or squared_returns(close, breaks)), half_life))


def trailing_sum(x: np.ndarray, days: int) -> np.ndarray:
    """Sum of x[s, d-days+1 .. d] (fewer at the start)."""
    total = np.cumsum(x, axis=1)
    before = np.zeros_like(total)
    before[:, days:] = total[:, :-days]
    return total - before


def reversal(daily_return: np.ndarray, days: int = REVERSAL_DAYS) -> np.ndarray:
    """score[s, d] = -(sum of the daily log returns over the last `days` days up to d)."""
    return -trailing_sum(daily_return, days)


def floored(sigma: torch.Tensor) -> torch.Tensor:
    """A daily sigma as every forecast uses it: unknown or below the floor (a price that never moved) is the floor."""
    return sigma.nan_to_num(SIGMA_FLOOR).clamp_min(SIGMA_FLOOR)
