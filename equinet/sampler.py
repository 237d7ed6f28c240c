"""The dataset resident on the device; windows are gathered by tensor indexing, never by Python loops."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from equinet.features import DECISION_CLOSE, PRICE_LOGS, Prepared

VOLUME, MARKET_LOGS, KNOWN = 4, slice(7, 9), 9


@dataclass
class Pool:
    """Decision points of one split, ascending by room (the longest valid context at each)."""

    stock: torch.Tensor  # long [N]
    day: torch.Tensor  # long [N]
    room: torch.Tensor  # long [N], ascending

    def __len__(self) -> int:
        return len(self.day)

    def count(self, length: int) -> int:
        """How many points admit a window of `length` days (they are the last ones)."""
        return len(self) - int(torch.searchsorted(self.room, torch.tensor(length, device=self.room.device)))

    def at_least(self, length: int) -> "Pool":
        """The points that admit `length`, ordered by (day, stock): a deterministic evaluation order."""
        keep = slice(len(self) - self.count(length), None)
        order = torch.argsort(self.day[keep] * (int(self.stock.max()) + 1 if len(self) else 1) + self.stock[keep])
        return Pool(self.stock[keep][order], self.day[keep][order], self.room[keep][order])


@dataclass
class DeviceData:
    """Inputs, labels and baselines of every stock and day, on one device, plus the decision points per split."""

    inputs: torch.Tensor  # float32 [stocks, days, features]
    labels: torch.Tensor  # long [stocks, days], -1 = no label
    forward_return: torch.Tensor  # float32 [stocks, days], NaN = unknown
    sigma: torch.Tensor  # float32 [stocks, days]: the volatility baseline's daily sigma
    reversal: torch.Tensor  # float32 [stocks, days]: the reversal baseline's rank score
    pools: dict[str, Pool]
    device: torch.device


def room(prep: Prepared, horizon: int) -> np.ndarray:
    """Longest context whose window and horizon both lie in clean history (0 where there is no label)."""
    out = np.zeros_like(prep.run)
    out[:, :-horizon] = prep.run[:, horizon:] - horizon
    return np.where(prep.labels >= 0, out, 0)


def make_pool(space: np.ndarray, mask: np.ndarray, minimum: int, device: torch.device) -> Pool:
    """Points of mask with space >= minimum, as device tensors ascending by space."""
    s, d = np.nonzero(mask & (space >= minimum))
    r = space[s, d]
    order = np.argsort(r, kind="stable")
    t = lambda a: torch.as_tensor(a[order], dtype=torch.long, device=device)  # noqa: E731
    return Pool(t(s), t(d), t(r))


def to_device(prep: Prepared, masks: dict[str, np.ndarray], horizon: int, minimum: int,
              device: torch.device) -> DeviceData:
    """One copy of everything to the device; after this nothing reads the store again."""
    space = room(prep, horizon)
    t = lambda a: torch.as_tensor(a, device=device)  # noqa: E731
    return DeviceData(t(prep.inputs), t(prep.labels), t(prep.forward_return.astype(np.float32)), t(prep.sigma),
                      t(prep.reversal), {name: make_pool(space, m, minimum, device) for name, m in masks.items()},
                      device)


def windows(inputs: torch.Tensor, stock: torch.Tensor, day: torch.Tensor, length: int) -> torch.Tensor:
    """Windows [B, length, F] ending on each decision day, normalised from the window itself (causal)."""
    S, D, F = inputs.shape
    rows = (stock * D + day)[:, None] - (length - 1) + torch.arange(length, device=inputs.device)  # [B, L]
    x = inputs.reshape(S * D, F).index_select(0, rows.reshape(-1)).view(-1, length, F)  # [B, L, F]
    total = x.sum(1)  # [B, F]; market values are 0 on unknown days, so these are sums over known days
    shift = torch.zeros_like(total)  # subtracted on every day of the window
    shift[:, PRICE_LOGS] = x[:, -1, DECISION_CLOSE:DECISION_CLOSE + 1]
    shift[:, VOLUME] = total[:, VOLUME] / length
    per_known = torch.zeros_like(total)  # subtracted on the days the market series is known
    per_known[:, MARKET_LOGS] = total[:, MARKET_LOGS] / total[:, KNOWN:KNOWN + 1].clamp(min=1)
    return x - torch.addcmul(shift[:, None], per_known[:, None], x[..., KNOWN:KNOWN + 1])


def sample(data: DeviceData, split: str, batch: int, length: int, gen: torch.Generator):
    """A random batch of windows of `length` days and their labels, drawn on the device."""
    pool = data.pools[split]
    n = pool.count(length)
    pick = len(pool) - n + torch.randint(n, (batch,), generator=gen, device=data.device)
    stock, day = pool.stock[pick], pool.day[pick]
    return windows(data.inputs, stock, day, length), data.labels[stock, day]
