"""A trained run applied to a store: its checkpoint found and loaded, the store's inputs on the device, and the
forecast of any days (the forward passes are training.forward's)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from equinet.core.labels import LabelRule
from equinet.core.metrics import class_shares
from equinet.data.store import Store, open_store
from equinet.features.inputs import Prepared, left_out, prepared
from equinet.features.sampler import DeviceData, labelled_context, to_device
from equinet.features.splits import Splits
from equinet.models.heads import Forecast, Head
from equinet.models.transformer import EquiNet
from equinet.training import checkpoint, distributed, rundir
from equinet.training.anchor import anchor_on
from equinet.training.checkpoint import Checkpoint
from equinet.training.config import check_rule
from equinet.training.device import pick_precision
from equinet.training.distributed import World
from equinet.training.forward import forecast

class MismatchError(ValueError):
    """A checkpoint that does not fit the store or the selection."""


@dataclass
class Applied:
    """A checkpoint applied to a store: the model and head, the store's inputs on the device and their clean
    histories."""

    saved: Checkpoint  # the run's options, rule, splits and store as the checkpoint holds them
    model: EquiNet
    head: Head
    store: Store
    prep: Prepared
    data: DeviceData  # the prepared arrays on the device (no pools: eval and predict choose their rows)
    splits: Splits
    rule: LabelRule  # the thresholds asked about (labels, baselines and the model's probabilities)
    prior: np.ndarray  # the training split's class shares under `rule`
    context: int
    precision: str
    checkpoint: Path
    world: World = World()  # under torchrun: the days are split between the ranks, the rows gathered

    @property
    def thresholds_note(self) -> str | None:
        """Said in every output when the thresholds are not the ones the model was trained on."""
        trained = self.saved.rule
        if self.rule == trained:
            return None
        return (f"thresholds up {self.rule.up:+g} / down {self.rule.down:+g}, not the training ones (up "
                f"{trained.up:+g} / down {trained.down:+g}): the dist head's CDF at the new thresholds; labels, "
                "baselines and the prior use them too")

    def forecast(self, days: torch.Tensor, progress=None) -> tuple[torch.Tensor, torch.Tensor, Forecast]:
        return forecast(self.model, self.head, self.data, days, self.context, self.precision, self.rule, progress,
                        self.world.share)


def resolve(run: Path | None, checkpoint: Path | None, out: Path = Path("out")) -> Path:
    """--checkpoint as given, else the run's best checkpoint, else the newest run's: a run that stopped before its
    last epoch is used only when named."""
    if checkpoint is not None:
        return checkpoint
    if run is not None:
        return rundir.Folder(run).best
    newest = rundir.newest_run(out)
    status = rundir.status(newest) if rundir.Folder(newest).config.is_file() else None
    if status is not None and not status.finished:
        raise MismatchError(f"the newest run, {newest}, was {status.text} (its best checkpoint is from epoch "
                            f"{status.best_epoch}); name it with --run {newest} to use it as it is, or finish it with "
                            f"`equinet train --resume {newest}`")
    return rundir.Folder(newest).best


def describe(checkpoint: Path) -> str:
    """Which checkpoint a forecast comes from, in words: the run, how far it got and the epoch kept."""
    run_dir = Path(checkpoint).parent
    if not rundir.Folder(run_dir).config.is_file():
        return f"using {checkpoint}"
    status = rundir.status(run_dir)
    kept = f"best epoch {status.best_epoch}" if Path(checkpoint) == rundir.Folder(run_dir).best else Path(checkpoint).name
    return f"using {checkpoint} (run {run_dir.name}: {status.text}, {kept} of {status.epochs})"


def trained_store(saved: Checkpoint) -> Path:
    """The store a checkpoint was trained on, found from anywhere: its absolute path at training time, else its
    --data as given, from here or from where the training ran relative to the run (a moved project folder)."""
    cfg = saved.config
    given = Path(cfg.data)
    candidates = [saved.store_path, given]
    run_dir, out = saved.path.resolve().parent, Path(cfg.out) / cfg.name
    if not given.is_absolute() and not out.is_absolute() and run_dir.parts[-len(out.parts):] == out.parts:
        candidates.append(Path(*run_dir.parts[:-len(out.parts)]) / given)
    for path in candidates:
        if (path / "meta.json").is_file():
            return path
    raise MismatchError(f"{saved.path}: trained on the store {candidates[0]} (fingerprint "
                        f"{saved.store_fingerprint[:12]}), which is not there; point --data at that store")


def training_prior(saved: Checkpoint, rule: LabelRule, reuse: Prepared | None = None) -> np.ndarray:
    """The training split's class shares: saved in the checkpoint, or, at other thresholds, recounted on the
    training days of the store the checkpoint was trained on (reusing what was prepared from it)."""
    if rule == saved.rule:
        return saved.prior
    store = open_store(trained_store(saved))
    if store.meta["fingerprint"] != saved.store_fingerprint:
        raise MismatchError(f"{store.path}: changed since training; the prior at other thresholds is counted on the "
                            "training store")
    prep = prepared(store, rule, reuse)
    train = saved.splits.masks(store.codes, store.meta["dates"])["train"]
    return class_shares(prep.labels[train & (labelled_context(prep, rule.horizon) >= saved.config.min_context)])


def apply(path: Path, data: str | Path | None = None, context: int | None = None,
          device: str = "auto", precision: str = "auto", up: float | None = None,
          down: float | None = None, reuse: Prepared | None = None) -> Applied:
    """Load a checkpoint and the store it should run on (default: the one it was trained on), checking they fit;
    up/down ask about other thresholds of the same horizon (dist head only); reuse: the store already prepared."""
    world, dev = distributed.join(device)
    saved = checkpoint.read(path, dev)
    cfg, trained = saved.config, saved.rule
    rule = LabelRule(trained.horizon, trained.up if up is None else up, trained.down if down is None else down)
    check_rule(rule.up, rule.down)
    if rule != trained and not saved.head.any_thresholds:
        raise MismatchError(f"{path}: a {cfg.head} head answers only for its training thresholds (up "
                            f"{trained.up:g}, down {trained.down:g}); a model trained with --head dist answers for any")
    store = open_store(data or trained_store(saved))
    names = [f["name"] for f in store.meta["features"]]
    if names != ["open", "high", "low", "close", "volume"]:
        raise MismatchError(f"{store.path}: store features {names} are not the open/high/low/close/volume the "
                            "model reads; re-ingest")
    context = context or cfg.context
    days = len(store.meta["dates"])
    if context + rule.horizon > days:
        raise MismatchError(f"{store.path}: {days} days cannot hold a window of {context} days plus the "
                            f"{rule.horizon}-day horizon of this checkpoint's label rule")
    prep = prepared(store, rule, reuse)
    data = to_device(prep, {}, rule.horizon, context, dev, left_out(cfg.inputs))
    anchor_on(data, cfg.anchor, saved.linear, prep)
    return Applied(saved, saved.model, saved.head, store, prep, data,
                   saved.splits, rule, training_prior(saved, rule, prep), context, pick_precision(precision, dev),
                   path, world)
