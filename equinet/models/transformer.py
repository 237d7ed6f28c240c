"""EquiNet's transformer: pre-norm encoder over each stock's window, read out at the decision day, optionally
attending across the stocks of the same day; an ensemble of such members in one module."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint


ENCODE_ROWS = 128  # windows encoded at a time: on a CPU, larger pieces fall out of cache (2x slower per window)
RECOMPUTE_CELLS = 8_000_000  # a training batch of more windows x days x d-model than this (1,024 windows of 61+ days
# at d-model 128; none at 64 under the 1,024-window default) keeps only each piece's output and recomputes its
# activations in the backward pass: a step's memory stays bounded whatever its shape, for ~30 % more compute


@dataclass
class ModelConfig:
    """The network's shape, built by the checkpoint from a run's options (training.checkpoint) and saved in it."""

    n_features: int
    d_model: int
    layers: int
    heads: int
    dropout: float
    n_out: int  # outputs per window: the head's own, then one per auxiliary target
    members: int  # ensemble members, each a whole network
    cross: bool  # attention across the stocks of a day after the per-stock encoder (as in MASTER)
    scales: list[int]  # multi-scale: heads see only the last N days (0 = all); [] for none
    mlp_ratio: int = 2  # a narrower MLP than the usual 4: more samples seen in the same CPU budget

    def to_json(self) -> dict:
        return asdict(self)


def positions(length: int, d_model: int, device: torch.device) -> torch.Tensor:
    """Sinusoidal encoding [L, d] of days before the decision day (the last row is day 0)."""
    back = torch.arange(length - 1, -1, -1, device=device, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, d_model, 2, device=device) * (-math.log(10000.0) / d_model))
    pe = torch.zeros(length, d_model, device=device)
    pe[:, 0::2] = torch.sin(back * freq)
    pe[:, 1::2] = torch.cos(back * freq)
    return pe


def scale_mask(scales: list[int], heads: int, length: int, last_only: bool, device: torch.device):
    """bool [1, H, Lq, L]: head h attends only to days within scales[h * len(scales) // H] of its query (0: all);
    None without scales."""
    if not scales:
        return None
    reach = torch.tensor([scales[h * len(scales) // heads] or length for h in range(heads)], device=device)
    keys = torch.arange(length, device=device)
    queries = keys[-1:] if last_only else keys
    apart = (queries[:, None] - keys[None, :]).abs()  # [Lq, L]
    return (apart[None] < reach[:, None, None])[None]


class SelfAttention(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.heads = cfg.heads
        self.scales = cfg.scales
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)

    def forward(self, x: torch.Tensor, last_only: bool = False, mask: torch.Tensor | None = None) -> torch.Tensor:
        """x [B, L, C] -> [B, Lq, C]; mask (bool, True = may attend) replaces the multi-scale one."""
        B, L, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)  # each [B, L, C]
        if last_only:  # only the decision day's output is read: query it alone
            q = q[:, -1:]
        split = lambda t: t.view(B, t.shape[1], self.heads, C // self.heads).transpose(1, 2)  # noqa: E731
        y = F.scaled_dot_product_attention(split(q), split(k), split(v),
                                           attn_mask=mask if mask is not None else
                                           scale_mask(self.scales, self.heads, L, last_only, x.device))  # [B, H, Lq, C/H]
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

    def forward(self, x: torch.Tensor, last_only: bool = False) -> torch.Tensor:
        h = x[:, -1:] if last_only else x
        h = h + self.drop(self.attn(self.ln1(x), last_only))
        return h + self.mlp(self.ln2(h))


class DayAttention(nn.Module):
    """Each stock attends to every stock of the same decision day: [N, d] rows grouped by day -> [N, d]."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.ln = nn.LayerNorm(cfg.d_model)
        self.attn = SelfAttention(replace(cfg, scales=[]))  # every stock of the day, no day masks
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
    """One network: window [B, L, F] (already scaled) -> outputs [B, n_out]. Knows neither stock nor date."""

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

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Window [B, L, F] -> its decision day's representation [B, d]."""
        B, L, _ = x.shape
        h = self.drop(self.inp(x) + positions(L, self.cfg.d_model, x.device))  # [B, L, d]
        for i, block in enumerate(self.blocks):
            h = block(h, last_only=i == len(self.blocks) - 1)  # the last block keeps the decision day only
        return h[:, -1]

    def forward(self, x: torch.Tensor, group: torch.Tensor, groups: int) -> torch.Tensor:
        recompute = self.training and torch.is_grad_enabled() and x.shape[0] * x.shape[1] * self.cfg.d_model > \
            RECOMPUTE_CELLS
        encode = (lambda piece: checkpoint(self.encode, piece, use_reentrant=False)) if recompute else self.encode
        h = torch.cat([encode(x[i:i + ENCODE_ROWS]) for i in range(0, len(x), ENCODE_ROWS)])  # [B, d]
        if self.across is not None:
            h = self.across(h, group, groups)
        return self.head(self.ln_f(h))  # [B, n_out]


class EquiNet(nn.Module):
    """Windows [B, L, F] -> outputs [members, B, n_out]; rows of a group (one decision day) may see each other."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.register_buffer("feature_mean", torch.zeros(cfg.n_features))
        self.register_buffer("feature_std", torch.ones(cfg.n_features))
        self.members = nn.ModuleList([Member(cfg) for _ in range(cfg.members)])

    def forward(self, x: torch.Tensor, group: torch.Tensor, groups: int) -> torch.Tensor:
        x = (x - self.feature_mean) / self.feature_std
        return torch.stack([m(x, group, groups) for m in self.members])

    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())
