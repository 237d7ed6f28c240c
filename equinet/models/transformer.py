"""EquiNet's transformer: a causal pre-norm encoder over each stock's history that forecasts every day of it in one
pass (each day attends to the days before it, with ALiBi's distance penalty), optionally attending across the
stocks of each day; an ensemble of such members in one module."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from equinet.features.sampler import Chunk


ENCODE_ROWS = 64  # stock histories encoded at a time: their attention masks [rows, heads, T, T] stay small
RECOMPUTE_CELLS = 4_000_000  # a training chunk of more stocks x days x d-model than this keeps only each piece's
# output and recomputes its activations in the backward pass: a step's memory stays bounded, for ~30 % more compute


@dataclass
class ModelConfig:
    """The network's shape, built by the checkpoint from a run's options (training.checkpoint) and saved in it."""

    n_features: int
    d_model: int
    layers: int
    heads: int
    dropout: float
    n_out: int  # outputs per day: the head's own, then one per auxiliary target
    members: int  # ensemble members, each a whole network
    cross: bool  # attention across the stocks of a day after the per-stock encoder (as in MASTER)
    scales: list[int]  # multi-scale: heads see only the last N days (0 = all); [] for none
    context: int  # days a forecast may see (its receptive field through all layers)
    mlp_ratio: int = 2  # a narrower MLP than the usual 4: more samples seen in the same CPU budget

    def to_json(self) -> dict:
        return asdict(self)

    @property
    def reach(self) -> int:
        """Days back each layer's attention reaches: the layers together see `context` days at most."""
        return max(1, (self.context - 1) // self.layers)

    @property
    def warmup(self) -> int:
        """Days before a day that its forecast depends on: a chunk needs this many before its first read-out."""
        return self.reach * self.layers


def slopes(heads: int) -> torch.Tensor:
    """ALiBi's per-head penalty per day of distance, 2^(-8 (h + 1) / H): some heads look far back, some near."""
    return 2.0 ** (-8.0 * torch.arange(1, heads + 1) / heads)


def uncut(run: torch.Tensor, reach: torch.Tensor) -> torch.Tensor:
    """bool [B]: histories whose clean run covers every day of the chunk and the reach before its first."""
    return (run[:, 0] > reach.max()) & (run[:, -1] - run[:, 0] == run.shape[1] - 1)


def causal_bias(run: torch.Tensor, reach: torch.Tensor, heads: int) -> torch.Tensor:
    """Additive attention mask [B, H, T, T] of histories whose clean runs are run [B, T]: day i sees day j <= i
    when j is at most reach[h] days back and within i's clean run (a gap or unadjusted ex-rights day cuts it),
    penalised by ALiBi's slope times the distance; a day with no bar sees itself only. Where no history of the
    piece is cut within the reach (most of them), one mask [1, H, T, T] serves all."""
    T = run.shape[1]
    back = (torch.arange(T, device=run.device)[:, None] - torch.arange(T, device=run.device)[None, :]).float()
    bias = -slopes(heads).to(run.device)[:, None, None] * back  # [H, T, T]
    if bool(uncut(run, reach).all()):
        return torch.where((back >= 0) & (back <= reach[:, None, None]), bias, float("-inf"))[None]  # no cut: shared
    limit = torch.minimum(run.clamp(min=1)[:, None, :, None] - 1, reach[None, :, None, None])  # [B, H, T, 1]
    return torch.where((back >= 0) & (back <= limit), bias, float("-inf"))


class SelfAttention(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.heads = cfg.heads
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, first: int = 0) -> torch.Tensor:
        """x [B, L, C] -> [B, L - first, C] (the queries from `first` on); mask [B, H, L - first, L] (bool: True may
        attend; float, in x's dtype: added)."""
        B, L, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)  # each [B, L, C]
        q = q[:, first:]  # only the days read out need the last layer's queries
        split = lambda t: t.view(B, t.shape[1], self.heads, C // self.heads).transpose(1, 2)  # noqa: E731
        y = F.scaled_dot_product_attention(split(q), split(k), split(v), attn_mask=mask)
        # no dropout on the attention weights: its masks cost a third of a CPU step; the residual dropout stays
        return self.proj(y.transpose(1, 2).reshape(B, q.shape[1], C))


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.d_model)
        self.attn = SelfAttention(cfg)
        self.ln2 = nn.LayerNorm(cfg.d_model)
        self.mlp = nn.Sequential(
            nn.Linear(cfg.d_model, cfg.mlp_ratio * cfg.d_model), nn.GELU(),
            nn.Linear(cfg.mlp_ratio * cfg.d_model, cfg.d_model),
            nn.Dropout(cfg.dropout),
        )
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, bias: torch.Tensor, first: int = 0) -> torch.Tensor:
        h = x[:, first:]
        h = h + self.drop(self.attn(self.ln1(x), bias[:, :, first:], first))
        return h + self.mlp(self.ln2(h))


class DayAttention(nn.Module):
    """Each stock attends to every stock of the same decision day: [N, d] rows grouped by day -> [N, d]."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.ln = nn.LayerNorm(cfg.d_model)
        self.attn = SelfAttention(cfg)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, h: torch.Tensor, group: torch.Tensor, groups: int) -> torch.Tensor:
        N, C = h.shape
        count = torch.bincount(group, minlength=groups)  # [G]
        slot = torch.arange(N, device=h.device) - (torch.cumsum(count, 0) - count)[group]  # position in its day
        width = int(count.max())
        padded = h.new_zeros(groups, width, C).index_put((group, slot), self.ln(h))  # [G, M, d]
        seen = torch.zeros(groups, width, dtype=torch.bool, device=h.device).index_put(
            (group, slot), torch.ones(N, dtype=torch.bool, device=h.device))
        y = self.attn(padded, mask=seen[:, None, None, :])  # [G, M, d]
        return h + self.drop(y[group, slot])


class Member(nn.Module):
    """One network: histories [B, T, F] (normalised inputs) -> outputs [N, n_out] of the cells read out. Knows
    neither stock nor date."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.inp = nn.Linear(cfg.n_features, cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList([Block(cfg) for _ in range(cfg.layers)])
        self.across = DayAttention(cfg) if cfg.cross else None
        self.ln_f = nn.LayerNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, cfg.n_out)
        nn.init.zeros_(self.head.weight)  # untrained outputs are 0: the dist head starts as the volatility baseline
        nn.init.zeros_(self.head.bias)
        reach = [min(cfg.reach, s - 1 if s else cfg.reach) for s in cfg.scales] or [cfg.reach]  # --multiscale
        self.register_buffer("reach", torch.tensor([reach[h * len(reach) // cfg.heads] for h in range(cfg.heads)]),
                             persistent=False)

    def encode(self, x: torch.Tensor, run: torch.Tensor, first: int) -> torch.Tensor:
        """Histories [B, T, F] with their clean runs [B, T] -> every day's representation from `first` on
        [B, T - first, d], each from the days up to it."""
        h = self.drop(self.inp(x))  # [B, T, d]
        bias = causal_bias(run, self.reach, self.cfg.heads).to(h.dtype)  # [B or 1, H, T, T], autocast's dtype once
        start = 0  # h holds days start..T-1
        for i, block in enumerate(self.blocks):
            # block i's outputs are needed from the first read-out day back as far as the blocks after it reach
            needed = max(start, first - (len(self.blocks) - 1 - i) * self.cfg.reach)
            h = block(h, bias[:, :, start:, start:], needed - start)  # [B, T - needed, d]
            start = needed
        return h

    def forward(self, c: Chunk, group: torch.Tensor, groups: int) -> torch.Tensor:
        B, T, _ = c.x.shape
        recompute = self.training and torch.is_grad_enabled() and B * T * self.cfg.d_model > RECOMPUTE_CELLS
        encode = (lambda *a: checkpoint(self.encode, *a, use_reentrant=False)) if recompute else self.encode
        order = torch.argsort(~uncut(c.run, self.reach), stable=True)  # uncut first: their pieces share one mask
        x, run = c.x[order], c.run[order]
        h = torch.cat([encode(x[i:i + ENCODE_ROWS], run[i:i + ENCODE_ROWS], c.first)
                       for i in range(0, B, ENCODE_ROWS)])  # [B, T - first, d], in that order
        h = h[torch.argsort(order)].reshape(-1, self.cfg.d_model)[c.cells]  # [N, d]
        if self.across is not None:
            h = self.across(h, group, groups)
        return self.head(self.ln_f(h))  # [N, n_out]


class EquiNet(nn.Module):
    """A chunk of histories -> outputs [members, N, n_out] of its cells; cells of a group (one day) may see each
    other."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.register_buffer("feature_mean", torch.zeros(cfg.n_features))
        self.register_buffer("feature_std", torch.ones(cfg.n_features))
        self.members = nn.ModuleList([Member(cfg) for _ in range(cfg.members)])

    def forward(self, c: Chunk, group: torch.Tensor, groups: int) -> torch.Tensor:
        c = replace(c, x=(c.x - self.feature_mean) / self.feature_std)
        return torch.stack([m(c, group, groups) for m in self.members])

    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())
