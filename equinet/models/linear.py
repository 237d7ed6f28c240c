"""The fitted linear baseline: ridge regression of the horizon log return (in the volatility baseline's horizon
sigmas, demeaned per day) on the decision day's classic causal factors (features.LINEAR), fit on the training
split only; its location goes through the volatility baseline's Student-t, so it has probabilities and a rank
score. A model that cannot beat it on its own inputs has not earned its cost."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from equinet.features.series import SIGMA_FLOOR

if TYPE_CHECKING:
    from equinet.features.inputs import Prepared

ALPHA = 1.0  # ridge penalty per training row, on standardised inputs (fixed: never tuned on evaluated days)
CLIP = 5.0  # standardised inputs are clipped to ±CLIP: one extreme day must not steer a linear fit
CHUNK = 1 << 18  # rows per block of the normal equations (bounds the memory of a whole-market fit)


@dataclass
class Ridge:
    """Standardisation and coefficients of the fitted linear baseline."""

    mean: np.ndarray  # [K]
    std: np.ndarray  # [K]
    coef: np.ndarray  # [K]
    rows: int  # training rows it was fit on

    def to_json(self) -> dict:
        return {"mean": self.mean.tolist(), "std": self.std.tolist(), "coef": self.coef.tolist(), "rows": self.rows}

    @classmethod
    def from_json(cls, d: dict) -> "Ridge":
        return cls(np.array(d["mean"]), np.array(d["std"]), np.array(d["coef"]), int(d["rows"]))

    def standard(self, x: np.ndarray) -> np.ndarray:
        return np.clip((x - self.mean) / self.std, -CLIP, CLIP)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The forecast location [N] in horizon sigmas, from inputs x [N, K]."""
        return self.standard(x) @ self.coef


def target(forward_return: np.ndarray, sigma: np.ndarray, horizon: int) -> np.ndarray:
    """The horizon log return in horizon sigmas (the volatility baseline's scale)."""
    return np.log1p(forward_return) / (math.sqrt(horizon) * np.maximum(np.nan_to_num(sigma, nan=SIGMA_FLOOR),
                                                                         SIGMA_FLOOR))


def demeaned(z: np.ndarray, day: np.ndarray) -> np.ndarray:
    """z minus its day's mean: the baseline ranks stocks; the market's drift is not its job."""
    _, group = np.unique(day, return_inverse=True)
    return z - (np.bincount(group, weights=z) / np.bincount(group))[group]


def fit(x: np.ndarray, z: np.ndarray, alpha: float = ALPHA) -> Ridge:
    """Ridge of z [N] on x [N, K] (float32 is fine: the normal equations accumulate in float64 by blocks):
    coef = (X'X + alpha N I)^-1 X'z on inputs standardised with the training rows' own mean and std."""
    mean = x.mean(0, dtype=np.float64)
    std = x.std(0, dtype=np.float64)
    std = np.where(std < 1e-9, 1.0, std)
    shape = Ridge(mean, std, np.zeros(x.shape[1]), len(z))
    gram, moment = np.zeros((x.shape[1], x.shape[1])), np.zeros(x.shape[1])
    for at in range(0, len(z), CHUNK):
        block = shape.standard(x[at:at + CHUNK].astype(np.float64))
        gram += block.T @ block
        moment += block.T @ z[at:at + CHUNK]
    shape.coef = np.linalg.solve(gram + alpha * len(z) * np.eye(x.shape[1]), moment)
    return shape


def fit_split(prep: Prepared, stock: np.ndarray, day: np.ndarray, horizon: int) -> Ridge:
    """The ridge on the training points (stock, day) of a run, its target demeaned per day."""
    z = target(prep.forward_return[stock, day], prep.sigma[stock, day], horizon)
    return fit(prep.linear[stock, day], demeaned(z, day))


def locations(ridge: Ridge, inputs: np.ndarray) -> np.ndarray:
    """The linear baseline's location (horizon sigmas) at every stock and day [stocks, days], from the prepared
    inputs [stocks, days, K], a block of stocks at a time (bounded memory on the whole market)."""
    out = np.empty(inputs.shape[:2], dtype=np.float32)
    step = max(1, CHUNK // max(inputs.shape[1], 1))
    for at in range(0, inputs.shape[0], step):
        block = inputs[at:at + step]
        out[at:at + step] = ridge.predict(block.reshape(-1, block.shape[2])).reshape(block.shape[:2])
    return out
