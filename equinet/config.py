"""A training run's options, kept free of torch so the CLI can show their defaults without loading it."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime

from equinet.days import iso_day
from equinet.features import LabelRule

CHOICES = {"split_by": ("date", "stock"), "loss": ("focal", "ce"), "select": ("logloss", "score", "accuracy"),
           "precision": ("auto", "bf16", "fp32"), "head": ("dist", "softmax")}
SELECT = {"logloss": ("val_log_loss", -1), "score": ("val_score_per_1000", 1), "accuracy": ("val_accuracy", 1)}
AUX_TARGETS = ("vol", "momentum")
MULTISCALE = [5, 20, 0]  # --multiscale: heads restricted to the last 5 days, the last 20, or all


def best_line(history: list[dict], select: str) -> dict | None:
    """The metrics line of the epoch --select keeps in best.pt (None before the first epoch)."""
    key, sign = SELECT[select]
    return max(history, key=lambda r: sign * r[key]) if history else None


def check_rule(up: float, down: float) -> None:
    """Thresholds that leave every class possible: a fall beyond -100 % cannot happen and 稳 lies between."""
    if not -1 < down < up:
        raise ValueError(f"need -1 < --down < --up so that 涨, 跌 and 稳 can all occur; got --down {down:g}, "
                         f"--up {up:g}")


@dataclass
class TrainConfig:
    """Every option of a run; saved in config.json and in every checkpoint."""

    data: str = "data/parquet"
    out: str = "out"
    name: str | None = None
    epochs: int = 20
    d_model: int = 64
    layers: int = 2
    heads: int = 8
    dropout: float = 0.2
    min_context: int = 20
    max_context: int = 100
    context: int = 60
    horizon: int = 3
    up: float = 0.03
    down: float = -0.02
    val_from: str | None = None
    test_from: str | None = None
    split_by: str = "date"
    test_ratio: float = 0.1
    loss: str = "ce"
    gamma: float = 2.0
    class_weights: bool = False
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup: float = 0.05
    batch_size: int = 128
    samples_per_epoch: int = 6144
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    compile: bool = False
    select: str = "logloss"
    head: str = "dist"
    batch_days: int = 4
    demean: bool = True
    cross: bool = False
    multiscale: bool = False
    ensemble: int = 1
    ema: float = 0.0
    return_weight: float = 0.0
    shrink: float = 1.0
    aux: str = "vol"
    aux_weight: float = 0.1
    score_weight: float = 0.0

    def check(self) -> None:
        """Options that cannot work together are a ValueError with a one-line reason, before anything loads."""
        for option, allowed in CHOICES.items():
            if getattr(self, option) not in allowed:
                raise ValueError(f"--{option.replace('_', '-')} must be one of {', '.join(allowed)}, "
                                 f"not {getattr(self, option)!r}")
        if self.d_model % self.heads:
            raise ValueError(f"--heads {self.heads} must divide --d-model {self.d_model}")
        if not (self.min_context <= self.context and self.min_context <= self.max_context):
            raise ValueError("need --min-context <= --max-context and --min-context <= --context")
        check_rule(self.up, self.down)
        unknown = [a for a in self.aux_targets if a not in AUX_TARGETS]
        if unknown:
            raise ValueError(f"--aux takes a comma list of {', '.join(AUX_TARGETS)}, not {self.aux!r}")
        if self.cross and self.batch_days <= 0:
            raise ValueError("--cross attends across the stocks of a day: it needs whole-day batches (--batch-days > 0)")
        if not 0 <= self.ema < 1:
            raise ValueError(f"--ema is a decay in [0, 1) (0 = off), not {self.ema:g}")
        self.val_from, self.test_from = iso_day(self.val_from, "--val-from"), iso_day(self.test_from, "--test-from")

    def default_name(self) -> str:
        """A run directory name from the time and the main options."""
        return f"{datetime.now():%Y%m%d-%H%M%S}-d{self.d_model}-l{self.layers}-e{self.epochs}-{self.loss}"

    @property
    def aux_targets(self) -> tuple[str, ...]:
        return tuple(a.strip() for a in self.aux.split(",") if a.strip())

    @property
    def rule(self) -> LabelRule:
        return LabelRule(self.horizon, self.up, self.down)

    @classmethod
    def from_json(cls, d: dict) -> "TrainConfig":
        return cls(**{f.name: d[f.name] for f in fields(cls) if f.name in d})
