"""The one head interface: a network's raw outputs -> class probabilities, a rank score, and the training loss.

softmax: the outputs are the 3 class logits. dist: the outputs are the location (in sqrt(horizon) sigmas) and a
log-scale correction of the horizon log return's Student-t, whose scale is anchored on the volatility baseline's
sigma: zero outputs ARE the volatility baseline. Its class probabilities are the CDF at log(1 + down) and
log(1 + up), so it answers for any thresholds of the same horizon. Every head then has one output for the
tradable return (from the next open to the horizon's close, relative to the day, in sqrt(horizon) sigmas): its
rank score. Auxiliary targets (realised volatility, momentum) take the outputs after it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from equinet.core.labels import PAYOFF, LabelRule
from equinet.features.sampler import Targets
from equinet.features.series import DOF
from equinet.models.distribution import class_probabilities, horizon_std, t_scale

MAX_LOC, MAX_CORRECTION = 3.0, 2.0  # bounds on the dist outputs: 3 sigmas of location, e^2 of scale


@dataclass
class Forecast:
    """What a head says about N rows: the members' averaged probabilities and rank score."""

    p: torch.Tensor  # [N, 3] P(up, down, flat)
    score: torch.Tensor  # [N] the expected tradable log return relative to the day


def group_mean(v: torch.Tensor, group: torch.Tensor, groups: int, weight: torch.Tensor | None = None) -> torch.Tensor:
    """The (weighted) mean of v [..., N] over each row's group, broadcast back to [..., N]."""
    weight = torch.ones_like(group, dtype=v.dtype) if weight is None else weight.to(v.dtype)
    sums = v.new_zeros(*v.shape[:-1], groups).index_add_(-1, group, v * weight)
    return (sums / v.new_zeros(groups).index_add_(0, group, weight).clamp(min=1e-12))[..., group]


def class_loss(logp: torch.Tensor, y: torch.Tensor, weights: torch.Tensor, gamma: float) -> torch.Tensor:
    """Focal loss -w_y (1-p_y)^gamma log p_y (cross-entropy at gamma 0), averaged over rows [..., N]."""
    logp_y = logp.gather(-1, y.expand(*logp.shape[:-1])[..., None])[..., 0]
    return (-weights[y] * (1 - logp_y.exp()) ** gamma * logp_y).mean(-1)


@dataclass
class Head:
    """The loss options every head shares; subclasses say how outputs become probabilities."""

    rule: LabelRule
    weights: torch.Tensor  # [3] class weights
    gamma: float = 0.0
    score_weight: float = 0.0  # the cost-sensitive term: minus the expected score under the probabilities
    aux: tuple[str, ...] = ()
    aux_weight: float = 0.1
    demean: bool = False  # the location's mean over each day is removed (dist)
    return_weight: float = 0.0  # dist: weight of the realised log return's NLL
    shrink: float = 0.0  # dist: penalty on the squared outputs, pulling them to the volatility baseline
    trade_weight: float = 3.0  # weight of the tradable return's loss
    own = 3  # outputs of the head's own (then the tradable return's, then the auxiliary targets')
    any_thresholds = False  # answers for thresholds other than the training ones
    can_demean = False  # its location can be demeaned by day
    terms: tuple[str, ...] = ()  # the TrainConfig weights of its own objective terms
    score_name = "tradable 3-day return"  # what the rank score is, in a table header
    score_meaning = ("the model's expected return from the next open to the close at the horizon, relative to the "
                     "day's other stocks (higher: expected to do better than the others)")  # and in words

    @property
    def n_out(self) -> int:
        return self.own + 1 + len(self.aux)

    def members(self, out: torch.Tensor, sigma: torch.Tensor, group: torch.Tensor, groups: int,
                rule: LabelRule | None = None, anchor: torch.Tensor | None = None) -> torch.Tensor:
        """Per member: probabilities [M, N, 3]."""
        raise NotImplementedError

    def tradable(self, out: torch.Tensor, group: torch.Tensor, groups: int,
                 anchor: torch.Tensor | None = None) -> torch.Tensor:
        """Per member: the tradable log return relative to its day (group), in sqrt(horizon) sigmas [M, N]: the
        output, added to the anchor's location when there is one (--anchor linear)."""
        z = out[..., self.own] if anchor is None else out[..., self.own] + anchor.to(out.dtype)
        return z - group_mean(z, group, groups)

    def forecast(self, out: torch.Tensor, sigma: torch.Tensor, group: torch.Tensor, groups: int,
                 rule: LabelRule | None = None, anchor: torch.Tensor | None = None) -> Forecast:
        out = out.float()
        score = self.tradable(out, group, groups, anchor) * horizon_std(sigma, self.rule.horizon)
        return Forecast(self.members(out, sigma, group, groups, rule, anchor).mean(0), score.mean(0))

    def extra(self, out: torch.Tensor, t: Targets, rows: torch.Tensor) -> torch.Tensor:
        """The head's own terms beyond the class loss, per member [M]."""
        return out.new_zeros(out.shape[0])

    def loss(self, out: torch.Tensor, t: Targets) -> torch.Tensor:
        """The training objective on rows with their targets, summed over members (each member learns on its own)."""
        out = out.float()
        p = self.members(out, t.sigma, t.group, t.groups, anchor=t.anchor)
        rows = t.y >= 0
        y, p = t.y[rows], p[:, rows]  # [n], [M, n, 3]
        total = class_loss(p.clamp_min(1e-12).log(), y, self.weights, self.gamma) + self.extra(out, t, rows)
        if self.trade_weight:
            known = rows & ~t.tradable.isnan()
            target = self._relative(torch.log1p(t.tradable.nan_to_num(0.0)) / horizon_std(t.sigma, self.rule.horizon),
                                    t, known)
            e = self.tradable(out, t.group, t.groups, t.anchor) - target  # [M, N], in horizon sigmas
            error = (DOF + 1) / 2 * torch.log1p(e * e / DOF)  # a Student-t's NLL at unit scale: robust to the tails
            total = total + self.trade_weight * (error * known).sum(-1) / known.sum().clamp(min=1)
        if self.score_weight:
            payoff = torch.as_tensor(PAYOFF, dtype=p.dtype, device=p.device)[y]  # [n, 3]
            total = total - self.score_weight * (p * payoff).sum(-1).mean(-1)
        for i, name in enumerate(self.aux):
            pred, target = out[:, rows, self.own + 1 + i], self._aux_target(name, t)[rows]
            total = total + self.aux_weight * ((pred - target) ** 2).mean(-1)
        return total.sum()

    def _aux_target(self, name: str, t: Targets) -> torch.Tensor:
        """vol: log(realised sigma over the horizon / sigma); momentum: the horizon log return in sqrt(h) sigmas,
        relative to its day's mean in whole-day batches; both clipped to +-5."""
        if name == "vol":
            return t.future_vol.nan_to_num(0.0).clamp(-5.0, 5.0)
        z = torch.log1p(t.forward_return.nan_to_num(0.0)) / horizon_std(t.sigma, self.rule.horizon)
        return self._relative(z, t, t.y >= 0) if t.groups < len(t.y) else z.nan_to_num(0.0).clamp(-5.0, 5.0)

    @staticmethod
    def _relative(z: torch.Tensor, t: Targets, known: torch.Tensor) -> torch.Tensor:
        """A return in sigmas clipped to +-5, less its day's (group's) mean over the known rows."""
        z = z.nan_to_num(0.0).clamp(-5.0, 5.0)
        return z - group_mean(z, t.group, t.groups, known)


@dataclass
class SoftmaxHead(Head):
    """Three logits, softmax: probabilities for the training thresholds only."""

    def members(self, out, sigma, group, groups, rule=None, anchor=None):
        if rule is not None and rule != self.rule:
            raise ValueError(f"a softmax head answers only for its training thresholds (up {self.rule.up:g}, "
                             f"down {self.rule.down:g}); train with --head dist to ask about others")
        return torch.softmax(out[..., :3], dim=-1)


@dataclass
class DistHead(Head):
    """Location and log-scale correction of a Student-t anchored on the volatility baseline's sigma."""

    own = 2
    any_thresholds = True
    can_demean = True
    terms = ("return_weight", "shrink")

    def params(self, out: torch.Tensor, sigma: torch.Tensor, group: torch.Tensor, groups: int,
               anchor: torch.Tensor | None = None):
        """Location and scale [M, N] of the horizon log return: the model's correction added to the anchor's
        location (horizon sigmas [N]; none: 0, the volatility baseline)."""
        std = horizon_std(sigma, self.rule.horizon)  # [N]
        mu = out[..., 0].clamp(-MAX_LOC, MAX_LOC)
        if anchor is not None:
            mu = mu + anchor.to(mu.dtype)
        if self.demean:
            mu = mu - group_mean(mu, group, groups)
        return mu * std, t_scale(std) * out[..., 1].clamp(-MAX_CORRECTION, MAX_CORRECTION).exp()

    def members(self, out, sigma, group, groups, rule=None, anchor=None):
        loc, scale = self.params(out, sigma, group, groups, anchor)
        return class_probabilities(loc, scale, rule or self.rule)

    def extra(self, out, t, rows):
        total = self.shrink * (out[:, rows, :2] ** 2).sum(-1).mean(-1)
        if self.return_weight:
            loc, scale = self.params(out, t.sigma, t.group, t.groups, t.anchor)
            r = torch.log1p(t.forward_return[rows])
            z = (r - loc[:, rows]) / scale[:, rows]
            nll = scale[:, rows].log() + (DOF + 1) / 2 * torch.log1p(z * z / DOF)  # up to a constant
            total = total + self.return_weight * nll.mean(-1)
        return total


HEADS = {"softmax": SoftmaxHead, "dist": DistHead}


def make_head(kind: str, rule: LabelRule, weights: torch.Tensor | np.ndarray, **options) -> Head:
    """The head of a run, from its config's options."""
    return HEADS[kind](rule, torch.as_tensor(weights, dtype=torch.float32), **options)
