"""The dataset resident on the device; chunks of stock histories are gathered by tensor indexing, never by Python
loops."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from equinet.features.inputs import Prepared


@dataclass
class Pool:
    """Decision points of one split, ascending by the longest valid context at each."""

    stock: torch.Tensor  # long [N]
    day: torch.Tensor  # long [N]
    longest: torch.Tensor  # long [N], ascending

    def __len__(self) -> int:
        return len(self.day)

    def count(self, length: int) -> int:
        """How many points have `length` clean days (they are the last ones)."""
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
    clean_days: torch.Tensor  # long [stocks, days]: clean days ending here (attention stays within them)
    labelled_context: torch.Tensor  # long [stocks, days]: longest clean history with a clean horizon (0: none)
    labels: torch.Tensor  # long [stocks, days], -1 = no label
    forward_return: torch.Tensor  # float32 [stocks, days], NaN = unknown
    tradable: torch.Tensor  # float32 [stocks, days]: next open to the horizon's close, NaN = unknown or unbuyable
    sigma: torch.Tensor  # float32 [stocks, days]: the volatility baseline's daily sigma
    reversal: torch.Tensor  # float32 [stocks, days]: the reversal baseline's rank score
    future_vol: torch.Tensor  # float32 [stocks, days]: the auxiliary volatility target, NaN = unknown
    anchor: torch.Tensor  # float32 [stocks, days]: the location (horizon sigmas) the dist head starts from: 0, or
    # the linear baseline's with --anchor linear (set once it is fit)
    pools: dict[str, Pool]
    masks: dict[str, torch.Tensor]  # bool [stocks, days]: decision points of each split with a labelled context >= the minimum
    device: torch.device
    minimum: int  # the clean days a day needs to be read out (trained on, or a context row of its day)


@dataclass
class Targets:
    """What a loss needs about N rows, without their inputs; rows of one group (a decision day) are contiguous."""

    stock: torch.Tensor  # long [N]
    day: torch.Tensor  # long [N]
    y: torch.Tensor  # long [N]: the label, or -1 where the row is context only (no label in the split)
    group: torch.Tensor  # long [N]: 0..groups-1; a whole-day batch's day, else every row its own group
    groups: int
    sigma: torch.Tensor  # float32 [N]: the volatility baseline's daily sigma
    forward_return: torch.Tensor  # float32 [N]: what happened over the horizon (NaN unknown)
    tradable: torch.Tensor  # float32 [N]: what a buyer at the next open got (NaN unknown or unbuyable)
    future_vol: torch.Tensor  # float32 [N]: the auxiliary volatility target (NaN unknown)
    anchor: torch.Tensor  # float32 [N]: the location the dist head starts from (horizon sigmas)


def targets(data: DeviceData, stock: torch.Tensor, day: torch.Tensor, y: torch.Tensor, group: torch.Tensor,
            groups: int) -> Targets:
    """The targets of rows (stock, day) with labels y (-1: context only)."""
    return Targets(stock, day, y, group, groups, data.sigma[stock, day], data.forward_return[stock, day],
                   data.tradable[stock, day], data.future_vol[stock, day], data.anchor[stock, day])


@dataclass
class Chunk:
    """B stocks' histories over T consecutive days and the cells read out of them: the model's input."""

    x: torch.Tensor  # float32 [B, T, F]: the days' inputs (0 where a stock has no bar)
    run: torch.Tensor  # long [B, T]: clean days ending at each day (0: no bar); attention stays within them
    cells: torch.Tensor  # long [N]: positions b * (T - first) + (t - first) of the cells read out, day by day
    first: int  # days before this are warm-up: context for the later days, never read out


@dataclass
class Batch(Targets, Chunk):
    """A chunk and the targets of its cells."""


def labelled_context(prep: Prepared, horizon: int) -> np.ndarray:
    """Longest clean history up to a day whose horizon is clean too (0 where there is no label)."""
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
                      t(prep.forward_return.astype(np.float32)), t(prep.tradable.astype(np.float32)), t(prep.sigma),
                      t(prep.reversal), t(prep.future_vol),
                      torch.zeros(prep.sigma.shape, device=device),
                      {name: make_pool(space, m, minimum, device) for name, m in masks.items()},
                      {name: t(m & (space >= minimum)) for name, m in masks.items()}, device, minimum)


def chunk(data: DeviceData, stock: torch.Tensor, start: int, stop: int, first: int, cells: torch.Tensor) -> Chunk:
    """The stocks' inputs over days start..stop-1 (days before start + first are warm-up; days before the store's
    first are padding: no bar, so no day attends to them)."""
    S, D, F = data.inputs.shape
    days = torch.arange(start, stop, device=stock.device)
    rows = (stock * D)[:, None] + days.clamp(min=0)  # [B, T]
    x = data.inputs.reshape(S * D, F).index_select(0, rows.reshape(-1)).view(len(stock), stop - start, F)
    run = data.clean_days.reshape(-1)[rows]
    if start < 0:
        x, run = x * (days >= 0)[None, :, None], run * (days >= 0)
    return Chunk(x, run, cells, first)


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


def sample(data: DeviceData, split: str, span: int, warmup: int, gen: torch.Generator, stocks: int = 0,
           share: tuple[int, int] = (0, 1), chunks: int = 1) -> Batch:
    """A random training batch drawn on the device: `chunks` random spans of `span` consecutive days holding
    labelled points of the split, each with a random `stocks` of the stocks with such a point in it (all with 0)
    and the `warmup` days before it, which carry no loss. Every cell of a span with the minimum clean history is
    read out, grouped by span and day (the day's mean and attention run over them); those without a label in the
    split are context. A step's cost does not grow with the universe.
    share = (rank, world): every rank draws the same global batch from the same generator state and keeps its own
    contiguous part of each span (whole days, so that a day's mean stays whole), with its own warm-up."""
    rank, world = share
    labelled = data.masks[split]  # [S, D]
    days = torch.nonzero(labelled.any(0))[:, 0]
    lo, hi = int(days[0]), int(days[-1])
    length = min(span, hi - lo + 1)
    begins = lo + torch.randint(hi - lo - length + 2, (chunks,), generator=gen, device=data.device)
    mine = length * rank // world  # this rank's part of each span: days mine .. mine + width - 1 of it
    width = length * (rank + 1) // world - mine
    parts, s, d, group, offset = [], [], [], [], 0
    for k, begin in enumerate(begins.tolist()):
        stock = torch.nonzero(labelled[:, begin:begin + length].any(1))[:, 0]
        if stocks > 0:
            stock = stock[distinct(len(stock), stocks, gen, data.device).sort().values]
        a = begin + mine
        slot, pos = torch.nonzero((data.clean_days[stock, a:a + width] >= data.minimum).T, as_tuple=True)
        parts.append(chunk(data, stock, a - warmup, a + width, warmup, (offset + pos) * width + slot))
        s.append(stock[pos])
        d.append(a + slot)
        group.append(k * width + slot)
        offset += len(stock)
    s, d, group = torch.cat(s), torch.cat(d), torch.cat(group)
    y = torch.where(labelled[s, d], data.labels[s, d], torch.full_like(s, -1))
    x, run, cells = (torch.cat([getattr(p, f) for p in parts]) for f in ("x", "run", "cells"))
    return Batch(**vars(targets(data, s, d, y, group, chunks * width)), **vars(Chunk(x, run, cells, warmup)))
