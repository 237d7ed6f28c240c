"""The dataset resident on the device; windows are gathered by tensor indexing, never by Python loops."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from equinet.features.inputs import DECISION_CLOSE, FEATURES, IN_SIGMAS, PRICE_LOGS, Prepared
from equinet.features.series import floored

VOLUME = FEATURES.index("log_volume")  # relative to the window's mean
MARKET_LOGS = slice(FEATURES.index("log_market_volume"), FEATURES.index("log_market_range") + 1)  # to known days' mean
KNOWN = FEATURES.index("market_known")


@dataclass
class Pool:
    """Decision points of one split, ascending by the longest valid context at each."""

    stock: torch.Tensor  # long [N]
    day: torch.Tensor  # long [N]
    longest: torch.Tensor  # long [N], ascending

    def __len__(self) -> int:
        return len(self.day)

    def count(self, length: int) -> int:
        """How many points admit a window of `length` days (they are the last ones)."""
        return len(self) - int(torch.searchsorted(self.longest, torch.tensor(length, device=self.longest.device)))

    def at_least(self, length: int) -> "Pool":
        """The points that admit `length`, ordered by (day, stock): a deterministic evaluation order."""
        keep = slice(len(self) - self.count(length), None)
        order = torch.argsort(self.day[keep] * (int(self.stock.max()) + 1 if len(self) else 1) + self.stock[keep])
        return Pool(self.stock[keep][order], self.day[keep][order], self.longest[keep][order])


@dataclass
class DeviceData:
    """Inputs, labels and baselines of every stock and day, on one device, plus the decision points per split."""

    inputs: torch.Tensor  # float32 [stocks, days, features]
    clean_days: torch.Tensor  # long [stocks, days]: clean days ending here; a window of L days fits where >= L
    labelled_context: torch.Tensor  # long [stocks, days]: longest context with a clean window and horizon (0: none)
    labels: torch.Tensor  # long [stocks, days], -1 = no label
    forward_return: torch.Tensor  # float32 [stocks, days], NaN = unknown
    sigma: torch.Tensor  # float32 [stocks, days]: the volatility baseline's daily sigma
    reversal: torch.Tensor  # float32 [stocks, days]: the reversal baseline's rank score
    future_vol: torch.Tensor  # float32 [stocks, days]: the auxiliary volatility target, NaN = unknown
    anchor: torch.Tensor  # float32 [stocks, days]: the location (horizon sigmas) the dist head starts from: 0, or
    # the linear baseline's with --anchor linear (set once it is fit)
    pools: dict[str, Pool]
    masks: dict[str, torch.Tensor]  # bool [stocks, days]: decision points of each split with a labelled context >= the minimum
    device: torch.device


@dataclass
class Targets:
    """What a loss needs about N rows, without their windows; rows of one group (a decision day) are contiguous."""

    stock: torch.Tensor  # long [N]
    day: torch.Tensor  # long [N]
    y: torch.Tensor  # long [N]: the label, or -1 where the row is context only (no label in the split)
    group: torch.Tensor  # long [N]: 0..groups-1; a whole-day batch's day, else every row its own group
    groups: int
    sigma: torch.Tensor  # float32 [N]: the volatility baseline's daily sigma
    forward_return: torch.Tensor  # float32 [N]: what happened over the horizon (NaN unknown)
    future_vol: torch.Tensor  # float32 [N]: the auxiliary volatility target (NaN unknown)
    anchor: torch.Tensor  # float32 [N]: the location the dist head starts from (horizon sigmas)


def targets(data: DeviceData, stock: torch.Tensor, day: torch.Tensor, y: torch.Tensor, group: torch.Tensor,
            groups: int) -> Targets:
    """The targets of rows (stock, day) with labels y (-1: context only)."""
    return Targets(stock, day, y, group, groups, data.sigma[stock, day], data.forward_return[stock, day],
                   data.future_vol[stock, day], data.anchor[stock, day])


@dataclass
class Batch(Targets):
    """Windows and their targets."""

    x: torch.Tensor  # float32 [N, L, F]


def labelled_context(prep: Prepared, horizon: int) -> np.ndarray:
    """Longest context whose window and horizon both lie in clean history (0 where there is no label)."""
    out = np.zeros_like(prep.clean_days)
    out[:, :-horizon] = prep.clean_days[:, horizon:] - horizon
    return np.where(prep.labels >= 0, out, 0)


def make_pool(space: np.ndarray, mask: np.ndarray, minimum: int, device: torch.device) -> Pool:
    """Points of mask with space >= minimum, as device tensors ascending by space."""
    s, d = np.nonzero(mask & (space >= minimum))
    r = space[s, d]
    order = np.argsort(r, kind="stable")
    t = lambda a: torch.as_tensor(a[order], dtype=torch.long, device=device)  # noqa: E731
    return Pool(t(s), t(d), t(r))


def to_device(prep: Prepared, masks: dict[str, np.ndarray], horizon: int, minimum: int,
              device: torch.device, off: list[int] = ()) -> DeviceData:
    """One copy of everything to the device, the inputs at positions `off` left out (0); after this nothing reads
    the store again."""
    space = labelled_context(prep, horizon)
    t = lambda a: torch.as_tensor(a, device=device)  # noqa: E731
    inputs = t(prep.inputs)
    if len(off):
        inputs = inputs.clone()  # the prepared arrays stay whole (a cv reuses them for every fold)
        inputs[:, :, list(off)] = 0.0
    return DeviceData(inputs, t(prep.clean_days.astype(np.int64)), t(space.astype(np.int64)), t(prep.labels),
                      t(prep.forward_return.astype(np.float32)), t(prep.sigma), t(prep.reversal), t(prep.future_vol),
                      torch.zeros(prep.sigma.shape, device=device),
                      {name: make_pool(space, m, minimum, device) for name, m in masks.items()},
                      {name: t(m & (space >= minimum)) for name, m in masks.items()}, device)


def windows(data: DeviceData, stock: torch.Tensor, day: torch.Tensor, length: int) -> torch.Tensor:
    """Windows [B, length, F] ending on each decision day, normalised from the window itself (causal): prices
    relative to the decision day's close, price-like features in its sigmas, volume relative to the window's mean."""
    S, D, F = data.inputs.shape
    rows = (stock * D + day)[:, None] - (length - 1) + torch.arange(length, device=stock.device)  # [B, L]
    x = data.inputs.reshape(S * D, F).index_select(0, rows.reshape(-1)).view(-1, length, F)  # [B, L, F]
    total = x.sum(1)  # [B, F]; market values are 0 on unknown days, so these are sums over known days
    shift = torch.zeros_like(total)  # subtracted on every day of the window
    shift[:, PRICE_LOGS] = x[:, -1, DECISION_CLOSE:DECISION_CLOSE + 1]
    shift[:, VOLUME] = total[:, VOLUME] / length
    per_known = torch.zeros_like(total)  # subtracted on the days the market series is known
    per_known[:, MARKET_LOGS] = total[:, MARKET_LOGS] / total[:, KNOWN:KNOWN + 1].clamp(min=1)
    scale = torch.ones_like(total)  # multiplies every day of the window
    scale[:, IN_SIGMAS] = 1 / floored(data.sigma[stock, day])[:, None]
    return (x - torch.addcmul(shift[:, None], per_known[:, None], x[..., KNOWN:KNOWN + 1])) * scale[:, None]


def batch_of(data: DeviceData, stock: torch.Tensor, day: torch.Tensor, length: int, target: torch.Tensor,
             group: torch.Tensor, groups: int) -> Batch:
    """The windows at (stock, day) with their labels where target holds."""
    y = torch.where(target, data.labels[stock, day], torch.full_like(stock, -1))
    return Batch(**vars(targets(data, stock, day, y, group, groups)), x=windows(data, stock, day, length))


def distinct(n: int, k: int, gen: torch.Generator, device: torch.device) -> torch.Tensor:
    """min(k, n) different integers in [0, n) drawn with gen: repeats of a draw are drawn again (a permutation of
    all n would cost O(n) per step at the size of the whole market)."""
    k = min(k, n)
    if 2 * k > n:
        return torch.randperm(n, generator=gen, device=device)[:k]
    pick = torch.randint(n, (k,), generator=gen, device=device).unique()
    while len(pick) < k:
        pick = torch.cat([pick, torch.randint(n, (k - len(pick),), generator=gen, device=device)]).unique()
    return pick


def at_most(group: torch.Tensor, cap: int, gen: torch.Generator) -> torch.Tensor:
    """A random subset of at most `cap` rows of each group (group: ascending ids), as a mask in the rows' order."""
    order = torch.argsort(group + torch.rand(len(group), generator=gen, device=group.device, dtype=torch.float64))
    counts = torch.bincount(group)
    start = torch.cumsum(counts, 0) - counts  # [groups]: where each group begins
    keep = torch.zeros(len(group), dtype=torch.bool, device=group.device)
    keep[order[torch.arange(len(group), device=group.device) - start[group[order]] < cap]] = True
    return keep


def sample(data: DeviceData, split: str, length: int, gen: torch.Generator, batch: int = 0, days: int = 0,
           share: tuple[int, int] = (0, 1), stocks: int = 0) -> Batch:
    """A random training batch drawn on the device: `batch` different random windows of `length` days, or
    (days > 0) the stocks with a window of `length` days on `days` random decision days of the split (a random
    `stocks` of each day's, all with 0), labelled where the split has the point (stocks without a label that day
    are context: they enter the day's mean and attention, not the loss): a step's cost does not grow with the
    universe.
    share = (rank, world): every rank draws the same global batch from the same generator state and keeps its own
    disjoint part, every world-th window (or whole day, so that a day's mean stays whole)."""
    rank, world = share
    if days <= 0:
        pool = data.pools[split]
        n = pool.count(length)
        pick = (len(pool) - n + distinct(n, batch, gen, data.device))[rank::world]
        stock, day = pool.stock[pick], pool.day[pick]
        rows = torch.arange(len(pick), device=data.device)
        return batch_of(data, stock, day, length, torch.ones_like(stock, dtype=torch.bool), rows, len(pick))
    labelled = data.masks[split] & (data.labelled_context >= length)  # [S, D]
    eligible = torch.nonzero(labelled.any(0))[:, 0]  # days with at least one labelled point
    chosen = eligible[torch.randperm(len(eligible), generator=gen, device=data.device)[:days]].sort().values
    slot, stock = torch.nonzero((data.clean_days[:, chosen] >= length).T, as_tuple=True)  # rows grouped by day
    if stocks > 0:  # drawn for the global batch, so that every rank's generator stays in step
        keep = at_most(slot, stocks, gen)
        slot, stock = slot[keep], stock[keep]
    mine = slot % world == rank
    slot, stock = slot[mine] // world, stock[mine]
    day = chosen[rank::world][slot]
    return batch_of(data, stock, day, length, labelled[stock, day], slot, len(chosen[rank::world]))
