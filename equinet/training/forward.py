"""Batched, deterministic forward passes over every stock of many days: validation, eval and predict share them."""

from __future__ import annotations

import torch

from equinet.core.labels import LabelRule
from equinet.features.sampler import DeviceData, chunk
from equinet.models.distribution import volatility_probabilities
from equinet.models.heads import Forecast, Head
from equinet.models.transformer import EquiNet
from equinet.training.device import autocast
from equinet.training.distributed import gather_rows

EVAL_DAYS = 64  # days read out per chunk: with the warm-up before them, a chunk's masks stay in cache


def universe(data: DeviceData, days: torch.Tensor, context: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Every stock with a clean history of `context` days on each of the days, in (day, stock) order: the set a
    day's location mean and attention run over (it needs no label, so it knows nothing of the future)."""
    days = days.sort().values
    slot, stock = torch.nonzero((data.clean_days[:, days] >= context).T, as_tuple=True)
    return stock, days[slot]


def spans(day: torch.Tensor, width: int) -> list[tuple[int, int, int]]:
    """(first day, first row, last row + 1) of the chunks of at most `width` consecutive days that hold the rows
    (day ascending)."""
    out, row = [], 0
    while row < len(day):
        a = int(day[row])
        stop = int(torch.searchsorted(day, a + width))
        out.append((a, row, stop))
        row = stop
    return out


@torch.inference_mode()
def outputs(model: EquiNet, data: DeviceData, stock: torch.Tensor, day: torch.Tensor, precision: str,
            progress=None, share: tuple[int, int] = (0, 1)) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Raw outputs [members, N, n_out] (float32) of rows in (day, stock) order: each chunk of days runs every
    history once, from the warm-up the model's receptive field needs, so each day is computed once and its
    forecast does not depend on where its chunk starts. share = (rank, world): each rank runs every world-th
    chunk; returns (stock, day, outputs) of the rows it ran."""
    rank, world = share
    was_training = model.training
    model.eval()
    out, mine, first = [], [], model.cfg.warmup
    for a, start, stop in spans(day, EVAL_DAYS)[rank::world]:
        stocks, pos = torch.unique(stock[start:stop], return_inverse=True)
        b = int(day[stop - 1]) + 1
        cells = pos * (b - a) + day[start:stop] - a
        _, group = torch.unique_consecutive(day[start:stop], return_inverse=True)
        with autocast(data.device, precision):
            out.append(model(chunk(data, stocks, a - first, b, first, cells), group, int(group[-1]) + 1).float())
        mine.append(torch.arange(start, stop, device=day.device))
        if progress:
            progress(stop - start)
    model.train(was_training)
    rows = torch.cat(mine) if mine else day[:0]
    return stock[rows], day[rows], (torch.cat(out, dim=1) if out else
                                    torch.zeros(model.cfg.members, 0, model.cfg.n_out, device=data.device))


def day_outputs(model: EquiNet, data: DeviceData, days: torch.Tensor, context: int, precision: str, progress=None,
                share: tuple[int, int] = (0, 1)):
    """Raw outputs over the universe of each day: (stock, day, group, groups, outputs [members, N, n_out]), by
    (day, stock). share = (rank, world): each rank runs its chunks of days and every rank receives all rows."""
    stock, day = universe(data, days, context)
    stock, day, out = outputs(model, data, stock, day, precision, progress, share)
    if share[1] > 1:
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
