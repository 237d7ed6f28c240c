"""A horizon log return as a Student-t: class probabilities from its CDF, on the device and differentiable."""

from __future__ import annotations

import math

import torch

from equinet.core.labels import LabelRule
from equinet.features.series import DOF, floored


def horizon_std(sigma: torch.Tensor, horizon: int) -> torch.Tensor:
    """The horizon log return's standard deviation under a daily sigma: sqrt(horizon) x the floored sigma."""
    return math.sqrt(horizon) * floored(sigma)


def t_cdf(x: torch.Tensor, dof: int = DOF) -> torch.Tensor:
    """Student-t CDF for odd dof, in closed form: 1/2 + (theta + sin cos (1 + 2/3 cos^2 + 8/15 cos^4 ...)) / pi."""
    theta = torch.atan(x / math.sqrt(dof))
    cos2 = torch.cos(theta) ** 2
    term, series = torch.ones_like(x), torch.ones_like(x)
    for k in range(1, (dof - 1) // 2):
        term = term * cos2 * (2 * k) / (2 * k + 1)
        series = series + term
    tail = torch.sin(theta) * torch.cos(theta) * series if dof > 1 else 0.0
    return (0.5 + (theta + tail) / math.pi).clamp(0.0, 1.0)


def t_scale(std: torch.Tensor, dof: int = DOF) -> torch.Tensor:
    """The Student-t scale whose standard deviation is std."""
    return std * math.sqrt((dof - 2) / dof)


def class_probabilities(loc: torch.Tensor, scale: torch.Tensor, rule: LabelRule) -> torch.Tensor:
    """P(up, down, flat) [N, 3] of a horizon log return ~ loc + scale * t(DOF)."""
    up = t_cdf((loc - math.log1p(rule.up)) / scale)  # P(X >= log(1+up)) = F((loc - a) / scale), by symmetry
    down = t_cdf((math.log1p(rule.down) - loc) / scale)
    return torch.stack([up, down, (1 - up - down).clamp_min(0.0)], dim=-1)


def volatility_probabilities(sigma: torch.Tensor, rule: LabelRule, location: torch.Tensor | None = None
                             ) -> torch.Tensor:
    """The volatility baseline's P(up, down, flat) [N, 3] from the daily sigma [N] of each row; with a location
    (in horizon sigmas, e.g. the linear baseline's) the same Student-t moved by it."""
    std = horizon_std(sigma, rule.horizon)
    loc = torch.zeros_like(std) if location is None else location.to(std.dtype) * std
    return class_probabilities(loc, t_scale(std), rule)
