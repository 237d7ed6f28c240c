"""The linear baseline a run fits and --anchor: where the dist head's location starts, set on the device data."""

from __future__ import annotations

import torch

from equinet.features.inputs import Prepared
from equinet.features.sampler import DeviceData
from equinet.models.linear import Ridge, fit_split, locations
from equinet.training.config import TrainConfig

AUTO_LINEAR = 500_000  # --anchor auto: training points from which the linear baseline is the anchor


def anchor_on(data: DeviceData, kind: str, ridge: Ridge, prep: Prepared) -> None:
    """With `linear` the dist head's location starts from the linear baseline's at every stock and day (else it
    stays 0, the volatility baseline's)."""
    if kind == "linear":
        data.anchor = torch.as_tensor(locations(ridge, prep.linear), device=data.device)


def fit_anchor(cfg: TrainConfig, data: DeviceData, prep: Prepared, state: dict | None) -> Ridge:
    """The linear baseline, fit on the training points alone as the model learns (or restored from a checkpoint's
    state), and the anchor: --anchor auto decided once from the training points (linear with at least AUTO_LINEAR)
    and saved as decided in cfg, then set on the device data."""
    pool = data.pools["train"]
    ridge = Ridge.from_json(state["linear"]) if state else fit_split(prep, pool.stock.cpu().numpy(),
                                                                     pool.day.cpu().numpy(), cfg.horizon)
    if cfg.anchor == "auto":
        cfg.anchor = "linear" if len(pool) >= AUTO_LINEAR else "volatility"
    anchor_on(data, cfg.anchor, ridge, prep)
    return ridge
