"""Batched, deterministic forward passes over many windows (validation, eval, predict)."""

from __future__ import annotations

import torch

from equinet.device import autocast
from equinet.model import EquiNet
from equinet.sampler import windows

EVAL_BATCH = 512  # fastest on a 2-core CPU; larger batches fall out of cache


@torch.inference_mode()
def probabilities(model: EquiNet, inputs: torch.Tensor, stock: torch.Tensor, day: torch.Tensor, context: int,
                  precision: str, progress=None) -> torch.Tensor:
    """P(up, down, flat) [N, 3] (float32) for the windows of `context` days ending at (stock, day)."""
    was_training = model.training
    model.eval()
    out = []
    for i in range(0, len(day), EVAL_BATCH):
        x = windows(inputs, stock[i:i + EVAL_BATCH], day[i:i + EVAL_BATCH], context)
        with autocast(inputs.device, precision):
            logits = model(x)
        out.append(torch.softmax(logits.float(), dim=-1))
        if progress:
            progress(len(x))
    model.train(was_training)
    return torch.cat(out) if out else torch.zeros(0, 3, device=inputs.device)
