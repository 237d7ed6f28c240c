"""The checkpoint format: its version, what it holds, saving (serialised in memory, then one atomic file write),
loading (weights-only, checked), and the model/head factory that training and inference share."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from equinet.core.files import write_bytes
from equinet.core.labels import LabelRule
from equinet.features.splits import Splits
from equinet.models.linear import Ridge
from equinet.training.config import MULTISCALE, TrainConfig

if TYPE_CHECKING:
    import torch

    from equinet.models.heads import Head
    from equinet.models.transformer import EquiNet, ModelConfig

FORMAT = 8  # 8: limit inputs from the quoted prices (store format 5), the return across a suspension kept; 7: the
# tradable return's output (the rank score), --trade-weight; 6: the causal encoder over each
# stock's history, day-invariant inputs; 5: --ema-epochs (the average's span in epochs) for --ema; 4: 34 inputs,
# --inputs, the linear baseline; 3: every rank's dropout stream, the store's path


def save(obj: dict, path: Path) -> None:
    """Serialised in memory first: a full disk is then an OS error on a plain write, not torch's short-write
    RuntimeError, and never a half checkpoint."""
    import torch  # here, not at the top: run tables and reports read the JSON files without loading torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    write_bytes(buffer.getvalue(), path)


KEYS = ("format", "model", "model_config", "config", "label_rule", "features", "splits", "prior", "linear")


def load(path: Path, device: torch.device | str = "cpu") -> dict:
    """A checkpoint EquiNet wrote; anything else (missing, empty, truncated, foreign) is a one-line error."""
    import torch

    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: no checkpoint here")
    try:
        state = torch.load(path, map_location=device, weights_only=True)  # loading never runs code from the file
    except Exception as exc:  # torch raises many kinds for a damaged file (EOFError, RuntimeError, pickle errors)
        reason = "empty" if Path(path).stat().st_size == 0 else f"{type(exc).__name__}: {exc}".splitlines()[0]
        raise ValueError(f"{path}: not a readable checkpoint ({reason}); it is truncated or not an EquiNet "
                         "checkpoint") from None
    if not isinstance(state, dict) or any(k not in state for k in KEYS):
        raise ValueError(f"{path}: not an EquiNet checkpoint (it lacks {', '.join(KEYS)})")
    from equinet.features.inputs import FEATURES

    if state["format"] != FORMAT:
        raise ValueError(f"{path}: written by an earlier EquiNet (checkpoint format {state['format']}, this version "
                         f"reads {FORMAT}); retrain")
    if state["features"] != list(FEATURES):
        raise ValueError(f"{path}: trained on features {state['features']}, but this version computes "
                         f"{list(FEATURES)}; retrain")
    return state


def build(cfg: TrainConfig, rule: LabelRule, weights) -> tuple[ModelConfig, Head]:
    """The model shape and head a config asks for (one place, for training and for loading)."""
    from equinet.features.inputs import FEATURES
    from equinet.models.heads import HEADS, make_head
    from equinet.models.transformer import ModelConfig

    head = make_head(cfg.head, rule, weights, gamma=cfg.gamma if cfg.loss == "focal" else 0.0,
                     score_weight=cfg.score_weight, aux=cfg.aux_targets, aux_weight=cfg.aux_weight,
                     demean=cfg.demean and HEADS[cfg.head].can_demean,
                     return_weight=cfg.return_weight, shrink=cfg.shrink, trade_weight=cfg.trade_weight)
    shape = ModelConfig(len(FEATURES), cfg.d_model, cfg.layers, cfg.heads, cfg.dropout, n_out=head.n_out,
                        members=cfg.ensemble, cross=cfg.cross, scales=MULTISCALE if cfg.multiscale else [],
                        context=cfg.max_context)
    return shape, head


@dataclass
class Checkpoint:
    """A checkpoint as inference reads it: the run's options, its label rule, splits, prior and store, and the
    model with its head (never the raw dict)."""

    path: Path
    config: TrainConfig
    rule: LabelRule  # the training thresholds
    splits: Splits
    prior: np.ndarray  # the training split's class shares under rule
    store_path: Path  # the store's absolute path at training time
    store_fingerprint: str
    model: EquiNet
    head: Head
    linear: Ridge  # the linear baseline, fit on the same training split


def read(path: Path, device: torch.device | str = "cpu") -> Checkpoint:
    """A checkpoint for eval and predict: loaded, checked, its model built and on the device, in eval mode."""
    from equinet.models.transformer import EquiNet, ModelConfig

    state = load(path)
    cfg = TrainConfig.from_json(state["config"])
    rule = LabelRule(**state["label_rule"])
    _, head = build(cfg, rule, np.ones(3))
    model = EquiNet(ModelConfig(**state["model_config"])).to(device)
    model.load_state_dict(state["model"])
    model.eval()
    return Checkpoint(Path(path), cfg, rule, Splits.from_json(state["splits"]), np.array(state["prior"]),
                      Path(state["store_path"]), state["store_fingerprint"], model, head, Ridge.from_json(state["linear"]))
