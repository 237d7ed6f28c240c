"""Batched, deterministic forward passes over many windows (validation, eval, predict)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from equinet.checkpoint import load
from equinet.device import autocast, pick_device, pick_precision
from equinet.features import FEATURES, LabelRule, Prepared, prepare
from equinet.model import EquiNet, ModelConfig
from equinet.distribution import volatility_probabilities
from equinet.sampler import DeviceData, to_device, windows
from equinet.splits import Splits
from equinet.store import Store, open_store

EVAL_BATCH = 512  # fastest on a 2-core CPU; larger batches fall out of cache


class MismatchError(ValueError):
    """A checkpoint that does not fit the store or the selection."""


@torch.inference_mode()
def probabilities(model: EquiNet, data: DeviceData, stock: torch.Tensor, day: torch.Tensor, context: int,
                  precision: str, progress=None) -> torch.Tensor:
    """P(up, down, flat) [N, 3] (float32) for the windows of `context` days ending at (stock, day)."""
    was_training = model.training
    model.eval()
    out = []
    for i in range(0, len(day), EVAL_BATCH):
        x = windows(data.inputs, stock[i:i + EVAL_BATCH], day[i:i + EVAL_BATCH], context)
        with autocast(data.device, precision):
            logits = model(x)
        out.append(torch.softmax(logits.float(), dim=-1))
        if progress:
            progress(len(x))
    model.train(was_training)
    return torch.cat(out) if out else torch.zeros(0, 3, device=data.device)


def baseline_probabilities(data: DeviceData, stock: torch.Tensor, day: torch.Tensor, rule: LabelRule) -> torch.Tensor:
    """The volatility baseline's P(up, down, flat) [N, 3] at (stock, day)."""
    return volatility_probabilities(data.sigma[stock, day], rule)


@dataclass
class Applied:
    """A checkpoint applied to a store: the model, the store's inputs on the device and where windows fit."""

    state: dict
    model: EquiNet
    store: Store
    prep: Prepared
    data: DeviceData  # the prepared arrays on the device (no pools: eval and predict choose their rows)
    splits: Splits
    rule: LabelRule
    context: int
    precision: str
    checkpoint: Path


def newest_run(out: Path) -> Path:
    """The run directory under out whose best.pt is newest."""
    found = sorted(out.glob("*/best.pt"), key=lambda p: p.stat().st_mtime)
    if not found:
        raise FileNotFoundError(f"{out}: no run with a best.pt; train one with `equinet train` or pass --checkpoint")
    return found[-1].parent


def resolve(run: Path | None, checkpoint: Path | None, out: Path = Path("out")) -> Path:
    """--checkpoint as given, else RUN/best.pt, else the newest run's best.pt."""
    if checkpoint is not None:
        return checkpoint
    return (run or newest_run(out)) / "best.pt"


def apply(checkpoint: Path, data: str | Path | None = None, context: int | None = None,
          device: str = "auto", precision: str = "auto") -> Applied:
    """Load a checkpoint and the store it should run on (default: the one it was trained on), checking they fit."""
    state = load(checkpoint)
    if state.get("features") != list(FEATURES):
        raise MismatchError(f"{checkpoint}: trained on features {state.get('features')}, but this version computes "
                            f"{list(FEATURES)}; retrain")
    store = open_store(data or state["config"]["data"])
    names = [f["name"] for f in store.meta["features"]]
    if names != ["open", "high", "low", "close", "volume"]:
        raise MismatchError(f"{store.path}: store features {names} are not the open/high/low/close/volume the "
                            "model reads; re-ingest")
    rule = LabelRule(**state["label_rule"])
    context = context or state["config"]["context"]
    days = len(store.meta["dates"])
    if context + rule.horizon > days:
        raise MismatchError(f"{store.path}: {days} days cannot hold a window of {context} days plus the "
                            f"{rule.horizon}-day horizon of this checkpoint's label rule")
    dev = pick_device(device)
    model = EquiNet(ModelConfig(**state["model_config"])).to(dev)
    model.load_state_dict(state["model"])
    model.eval()
    prep = prepare(store, rule)
    splits = Splits.from_json(state["splits"])
    return Applied(state, model, store, prep, to_device(prep, {}, rule.horizon, context, dev), splits, rule, context,
                   pick_precision(precision, dev), checkpoint)
