"""EquiNet's transformer: pre-norm encoder over the window, read out at the decision day."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class ModelConfig:
    n_features: int = 10
    d_model: int = 128
    layers: int = 4
    heads: int = 8
    dropout: float = 0.1
    mlp_ratio: int = 2  # a narrower MLP than the usual 4: more samples seen in the same CPU budget
    n_classes: int = 3

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


class SelfAttention(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.heads = cfg.heads
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.dropout = cfg.dropout

    def forward(self, x: torch.Tensor, last_only: bool) -> torch.Tensor:
        B, L, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)  # each [B, L, C]
        if last_only:  # only the decision day's output is read: query it alone
            q = q[:, -1:]
        split = lambda t: t.view(B, t.shape[1], self.heads, C // self.heads).transpose(1, 2)  # noqa: E731
        y = F.scaled_dot_product_attention(split(q), split(k), split(v),
                                           dropout_p=self.dropout if self.training else 0.0)  # [B, H, Lq, C/H]
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


class EquiNet(nn.Module):
    """Window [B, L, F] -> logits [B, 3] (up, down, flat). Knows neither stock nor calendar date."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.register_buffer("feature_mean", torch.zeros(cfg.n_features))
        self.register_buffer("feature_std", torch.ones(cfg.n_features))
        self.inp = nn.Linear(cfg.n_features, cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList([Block(cfg) for _ in range(cfg.layers)])
        self.ln_f = nn.LayerNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, cfg.n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, L, _ = x.shape
        x = (x - self.feature_mean) / self.feature_std
        h = self.drop(self.inp(x) + positions(L, self.cfg.d_model, x.device))  # [B, L, d]
        for i, block in enumerate(self.blocks):
            h = block(h, last_only=i == len(self.blocks) - 1)  # the last block keeps the decision day only
        return self.head(self.ln_f(h[:, -1]))  # [B, 3]

    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())
