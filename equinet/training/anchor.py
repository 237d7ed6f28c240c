"""--anchor: where the dist head's location starts, set on the device data once the linear baseline is fit."""

from __future__ import annotations

import torch

from equinet.features.inputs import Prepared
from equinet.features.sampler import DeviceData
from equinet.models.linear import Ridge, locations


def anchor_on(data: DeviceData, kind: str, ridge: Ridge, prep: Prepared) -> None:
    """With `linear` the dist head's location starts from the linear baseline's at every stock and day (else it
    stays 0, the volatility baseline's)."""
    if kind == "linear":
        data.anchor = torch.as_tensor(locations(ridge, prep.linear), device=data.device)
