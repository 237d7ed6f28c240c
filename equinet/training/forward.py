"""Batched, deterministic forward passes over every stock of many days: validation, eval and predict share them."""

from __future__ import annotations

import torch

from equinet.core.labels import LabelRule
from equinet.features.sampler import DeviceData, windows
from equinet.models.distribution import volatility_probabilities
from equinet.models.heads import Forecast, Head
from equinet.models.transformer import EquiNet
from equinet.training.device import autocast
from equinet.training.distributed import gather_rows

EVAL_BATCH = 512  # fastest on a 2-core CPU; larger batches fall out of cache


def universe(data: DeviceData, days: torch.Tensor, context: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Every stock with a clean window of `context` days on each of the days, in (day, stock) order: the set a
    day's location mean and attention run over (it needs no label, so it knows nothing of the future)."""
    days = days.sort().values
    slot, stock = torch.nonzero((data.clean_days[:, days] >= context).T, as_tuple=True)
    return stock, days[slot]


def chunks(day: torch.Tensor, limit: int, whole_days: bool) -> list[tuple[int, int]]:
    """(start, stop) row ranges of at most `limit` rows; with whole_days, ranges end at day boundaries (a day
    larger than the limit is one range)."""
    if not whole_days:
        return [(i, min(i + limit, len(day))) for i in range(0, len(day), limit)]
    bounds, start, last = [], 0, 0
    for end in torch.cumsum(torch.unique_consecutive(day, return_counts=True)[1], 0).tolist():
        if end - start > limit and last > start:
            bounds.append((start, last))
            start = last
        last = end
    return bounds + ([(start, last)] if last > start else [])


@torch.inference_mode()
def outputs(model: EquiNet, data: DeviceData, stock: torch.Tensor, day: torch.Tensor, context: int, precision: str,
            progress=None) -> torch.Tensor:
    """Raw outputs [members, N, n_out] (float32) for rows in day order; a model that attends across a day's
    stocks sees each day whole."""
    was_training = model.training
    model.eval()
    out = []
    for start, stop in chunks(day, EVAL_BATCH, model.cfg.cross):
        _, group = torch.unique_consecutive(day[start:stop], return_inverse=True)
        with autocast(data.device, precision):
            out.append(model(windows(data, stock[start:stop], day[start:stop], context), group,
                             int(group[-1]) + 1).float())
        if progress:
            progress(stop - start)
    model.train(was_training)
    return torch.cat(out, dim=1) if out else torch.zeros(model.cfg.members, 0, model.cfg.n_out, device=data.device)


def day_outputs(model: EquiNet, data: DeviceData, days: torch.Tensor, context: int, precision: str, progress=None,
                share: tuple[int, int] = (0, 1)):
    """Raw outputs over the universe of each day: (stock, day, group, groups, outputs [members, N, n_out]), by
    (day, stock). share = (rank, world): each rank runs every world-th day and every rank receives all rows."""
    rank, world = share
    stock, day = universe(data, days.sort().values[rank::world], context)
    out = outputs(model, data, stock, day, context, precision, progress)
    if world > 1:
        stock, day, out = gather_rows(stock, day, out.transpose(0, 1))  # out [N, members, n_out] while gathered
        order = torch.argsort(day * data.clean_days.shape[0] + stock)
        stock, day, out = stock[order], day[order], out[order].transpose(0, 1)
    _, group = torch.unique_consecutive(day, return_inverse=True)
    return stock, day, group, int(group[-1]) + 1 if len(group) else 0, out


def forecast(model: EquiNet, head: Head, data: DeviceData, days: torch.Tensor, context: int, precision: str,
             rule: LabelRule | None = None, progress=None,
             share: tuple[int, int] = (0, 1)) -> tuple[torch.Tensor, torch.Tensor, Forecast]:
    """The head's forecast for every stock of the universe of each day: (stock, day, Forecast), by (day, stock);
    with share, each rank runs its days and every rank receives all of them."""
    stock, day, group, groups, out = day_outputs(model, data, days, context, precision, progress, share)
    return stock, day, head.forecast(out, data.sigma[stock, day], group, groups, rule, data.anchor[stock, day])


def rows_of(stock: torch.Tensor, day: torch.Tensor, want_stock: torch.Tensor, want_day: torch.Tensor) -> torch.Tensor:
    """Positions in (stock, day), sorted by (day, stock), of the wanted points (each must be there)."""
    if len(want_stock) == 0:
        return want_stock
    width = int(max(stock.max(), want_stock.max())) + 1
    return torch.searchsorted(day * width + stock, want_day * width + want_stock)


def baseline_probabilities(data: DeviceData, stock: torch.Tensor, day: torch.Tensor, rule: LabelRule) -> torch.Tensor:
    """The volatility baseline's P(up, down, flat) [N, 3] at (stock, day)."""
    return volatility_probabilities(data.sigma[stock, day], rule)
