"""`equinet train`: the store on the device, random windows by indexing, a transformer, checkpoints, resume."""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from equinet import checkpoint, rundir
from equinet.config import TrainConfig
from equinet.device import autocast, pick_device, pick_precision
from equinet.features import FEATURES, prepare
from equinet.infer import EVAL_BATCH, baseline_probabilities, probabilities
from equinet.metrics import class_shares, validation_line
from equinet.model import EquiNet, ModelConfig
from equinet.sampler import DeviceData, room, sample, to_device
from equinet.splits import Splits, by_date, by_stock
from equinet.store import Store, open_store

SELECT = {"logloss": ("val_log_loss", -1), "score": ("val_score_per_1000", 1), "accuracy": ("val_accuracy", 1)}
NORM_SAMPLES = 8192  # training windows used to fix the feature scales saved in the checkpoint


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


@dataclass
class Run:
    """A training run in memory: data on the device, model, optimiser and where it stands."""

    cfg: TrainConfig
    dir: Path
    data: DeviceData
    splits: Splits
    store_meta: dict
    model: EquiNet
    step_model: torch.nn.Module  # the model or its torch.compile'd twin
    opt: torch.optim.Optimizer
    sched: torch.optim.lr_scheduler.LambdaLR
    gen: torch.Generator
    prior: np.ndarray
    weights: torch.Tensor
    precision: str
    epoch: int = 0
    best: dict = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)

    def close(self) -> None:
        """Release the run directory for other processes."""
        rundir.release(self.dir)


def default_name(cfg: TrainConfig) -> str:
    return f"{datetime.now():%Y%m%d-%H%M%S}-d{cfg.d_model}-l{cfg.layers}-e{cfg.epochs}-{cfg.loss}"


def make_splits(cfg: TrainConfig, codes: list[str], dates: list[str]) -> Splits:
    if cfg.split_by == "stock":
        return by_stock(codes, cfg.horizon, cfg.test_ratio, cfg.seed)
    return by_date(dates, cfg.horizon, cfg.val_from, cfg.test_from)


def schedule(cfg: TrainConfig) -> Callable[[int], float]:
    """Linear warm-up over cfg.warmup of all steps, then cosine decay to a tenth of the peak."""
    total = cfg.epochs * cfg.steps_per_epoch
    warm = max(1, int(cfg.warmup * total))

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        done = min(1.0, (step - warm) / max(1, total - warm))
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * done))

    return factor


def loss_from_logp(logp: torch.Tensor, y: torch.Tensor, weights: torch.Tensor, cfg: TrainConfig) -> torch.Tensor:
    """Focal loss -w_y (1-p_y)^gamma log p_y, or weighted cross-entropy (gamma 0), averaged over the batch."""
    logp_y = logp.gather(1, y[:, None])[:, 0]
    gamma = cfg.gamma if cfg.loss == "focal" else 0.0
    return (-weights[y] * (1 - logp_y.exp()) ** gamma * logp_y).mean()


def _feature_scales(data: DeviceData, cfg: TrainConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std of each input over training windows only (a separate generator: no effect on the run)."""
    gen = torch.Generator(device=data.device).manual_seed(cfg.seed + 1)
    length = min(cfg.context, int(data.pools["train"].room[-1]))
    x, _ = sample(data, "train", NORM_SAMPLES, length, gen)
    flat = x.reshape(-1, x.shape[-1])
    std = flat.std(0)
    return flat.mean(0), torch.where(std < 1e-6, torch.ones_like(std), std)


def longest_history(cfg: TrainConfig, store: Store, val_from: str) -> int:
    """The longest clean history (days) of a training decision point when validation starts at val_from."""
    prep = prepare(store, cfg.rule)
    train_days = by_date(store.meta["dates"], cfg.horizon, val_from, store.meta["dates"][-1]).masks(
        store.codes, store.meta["dates"])["train"]
    return int(room(prep, cfg.horizon)[train_days].max(initial=0))


def load_data(cfg: TrainConfig, device: torch.device, splits: Splits | None = None):
    """Read the store once (memory-mapped), prepare on the host, move to the device."""
    store = open_store(cfg.data)
    splits = splits or make_splits(cfg, store.codes, store.meta["dates"])
    prep = prepare(store, cfg.rule)
    data = to_device(prep, splits.masks(store.codes, store.meta["dates"]), cfg.horizon, cfg.min_context, device)
    for name in ("train", "val"):
        if len(data.pools[name]) == 0:
            raise ValueError(f"{cfg.data}: no valid {name} window of {cfg.min_context}+{cfg.horizon} days; "
                             "the store is too short for this split")
    longest = int(data.pools["train"].room[-1])
    if longest < cfg.max_context:
        raise ValueError(f"{cfg.data}: the longest clean training history is {longest} days, shorter than "
                         f"--max-context {cfg.max_context}; lower --max-context to {longest} or less")
    if data.pools["val"].count(cfg.context) == 0:
        raise ValueError(f"{cfg.data}: no validation window of {cfg.context} days; lower --context or move --val-from")
    return store.meta, splits, data


def start(cfg: TrainConfig, resume: str | Path | None = None, overrides: dict | None = None,
          overwrite: bool = False) -> Run:
    """A new run, or one restored from RUN/last.pt exactly as it stopped (config from the checkpoint).

    The run directory is locked for this process until run.close() (or exit); a new run never replaces an
    existing one unless overwrite is set."""
    state = None
    if resume is not None:
        state = checkpoint.load(Path(resume) / "last.pt")
        cfg = TrainConfig.from_json({**state["config"], **(overrides or {})})
    cfg.check()
    cfg.name = cfg.name or default_name(cfg)
    run_dir = Path(resume) if resume else Path(cfg.out) / cfg.name
    if state is None:
        rundir.check_new(run_dir, overwrite)
    device = pick_device(cfg.device)
    splits = Splits.from_json(state["splits"]) if state else None
    meta, splits, data = load_data(cfg, device, splits)
    if state and state["store_fingerprint"] != meta["fingerprint"]:
        raise ValueError(f"{cfg.data}: the store changed since this run started; resume needs the same store")
    rundir.claim(run_dir, new=state is None and not overwrite, overwrite=overwrite)
    torch.manual_seed(cfg.seed)
    model = EquiNet(ModelConfig(len(FEATURES), cfg.d_model, cfg.layers, cfg.heads, cfg.dropout)).to(device)
    train_labels = data.labels[data.pools["train"].stock, data.pools["train"].day].cpu().numpy()
    prior = class_shares(train_labels)
    weights = torch.tensor(1 / (3 * np.maximum(prior, 1e-6)) if cfg.class_weights else np.ones(3),
                           dtype=torch.float32, device=device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule(cfg))
    gen = torch.Generator(device=device).manual_seed(cfg.seed)
    run = Run(cfg, run_dir, data, splits, meta, model, torch.compile(model) if cfg.compile else model, opt,
              sched, gen, prior, weights, pick_precision(cfg.precision, device))
    if state is None:
        model.feature_mean, model.feature_std = _feature_scales(data, cfg)
        checkpoint.write_json(asdict(cfg), run_dir / "config.json")
        return run
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    sched.load_state_dict(state["scheduler"])
    gen.set_state(state["rng"]["sampler"])
    torch.set_rng_state(state["rng"]["torch"])
    if device.type == "cuda" and state["rng"].get("cuda") is not None:
        torch.cuda.set_rng_state(state["rng"]["cuda"])
    run.epoch, run.best = state["epoch"], state["best"]
    run.history = checkpoint.read_metrics(run_dir / "metrics.jsonl", upto=run.epoch)
    return run


def checkpoint_state(run: Run) -> dict:
    """Everything needed to resume exactly, or to evaluate and predict without the run directory."""
    return {
        "format": 1,
        "model": run.model.state_dict(),
        "model_config": run.model.cfg.to_json(),
        "optimizer": run.opt.state_dict(),
        "scheduler": run.sched.state_dict(),
        "rng": {"sampler": run.gen.get_state(), "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state() if run.data.device.type == "cuda" else None},
        "epoch": run.epoch,
        "config": asdict(run.cfg),
        "label_rule": asdict(run.cfg.rule),
        "features": list(FEATURES),
        "splits": run.splits.to_json(),
        "store_fingerprint": run.store_meta["fingerprint"],
        "store_path": str(Path(run.cfg.data).resolve()),
        "prior": run.prior.tolist(),
        "best": run.best,
    }


def validate(run: Run) -> dict:
    """The validation line, on every valid validation window at --context days, beside the baselines."""
    pool = run.data.pools["val"].at_least(run.cfg.context)
    p = probabilities(run.model, run.data, pool.stock, pool.day, run.cfg.context, run.precision)
    y = run.data.labels[pool.stock, pool.day]
    loss = float(loss_from_logp(p.clamp_min(1e-12).log(), y, run.weights, run.cfg))
    host = lambda t: t.cpu().numpy().astype(np.float64)  # noqa: E731
    return validation_line(host(p), host(baseline_probabilities(run.data, pool.stock, pool.day, run.cfg.rule)),
                           run.prior, y.cpu().numpy(), host(run.data.forward_return[pool.stock, pool.day]),
                           pool.day.cpu().numpy(), loss)


def estimate_epoch_seconds(run: Run) -> float:
    """Time two training steps on a copy of the model and one validation batch; touches no run state."""
    twin = copy.deepcopy(run.model)
    gen = torch.Generator(device=run.data.device).manual_seed(12345)
    mid = (run.cfg.min_context + run.cfg.max_context) // 2
    x, y = sample(run.data, "train", run.cfg.batch_size, mid, gen)
    twin.eval()  # no dropout: the global RNG stays as it is
    t = time.perf_counter()
    for _ in range(2):
        with autocast(run.data.device, run.precision):
            logits = twin(x)
        F.cross_entropy(logits.float(), y).backward()
    step = (time.perf_counter() - t) / 2
    pool = run.data.pools["val"].at_least(run.cfg.context)
    n = min(len(pool), EVAL_BATCH)
    t = time.perf_counter()
    probabilities(twin, run.data, pool.stock[:n], pool.day[:n], run.cfg.context, run.precision)
    per_window = (time.perf_counter() - t) / max(n, 1)
    return step * run.cfg.steps_per_epoch + per_window * len(pool)


def _is_better(run: Run, row: dict) -> bool:
    key, sign = SELECT[run.cfg.select]
    return not run.best or sign * row[key] > sign * run.best["value"]


def fit(run: Run, stop_after: int | None = None, on_epoch_start: Callable[[int, int], None] | None = None,
        on_step: Callable[[float, float, float], None] | None = None,
        on_epoch: Callable[[dict], None] | None = None) -> Run:
    """Train until cfg.epochs (or stop_after more epochs), validating and checkpointing every epoch."""
    cfg, last = run.cfg, _last_epoch(run, stop_after)
    run.model.train()
    for epoch in range(run.epoch, last):
        if on_epoch_start:
            on_epoch_start(epoch + 1, cfg.steps_per_epoch)
        t0, total = time.perf_counter(), 0.0
        for step in range(cfg.steps_per_epoch):
            length = int(torch.randint(cfg.min_context, cfg.max_context + 1, (1,), generator=run.gen,
                                       device=run.data.device))
            x, y = sample(run.data, "train", cfg.batch_size, length, run.gen)
            with autocast(run.data.device, run.precision):
                logits = run.step_model(x)
            loss = loss_from_logp(F.log_softmax(logits.float(), dim=-1), y, run.weights, cfg)
            if not torch.isfinite(loss):
                kept = f"{run.dir / 'last.pt'} (epoch {run.epoch})" if run.epoch else "none yet"
                raise TrainingDiverged(f"loss is {float(loss.detach())} at epoch {epoch + 1}, step {step + 1}: training "
                                       f"stopped; the last good checkpoint is {kept}")
            run.opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(run.model.parameters(), 1.0)
            run.opt.step()
            run.sched.step()
            value = float(loss.detach())
            total += value
            if on_step:
                on_step(value, run.sched.get_last_lr()[0],
                        (step + 1) * cfg.batch_size / (time.perf_counter() - t0))
        run.epoch = epoch + 1
        row = {"epoch": run.epoch, "train_loss": total / cfg.steps_per_epoch, "lr": run.sched.get_last_lr()[0],
               **validate(run), "seconds": time.perf_counter() - t0}
        run.history.append(row)
        checkpoint.write_metrics(run.history, run.dir / "metrics.jsonl")
        if _is_better(run, row):
            key = SELECT[cfg.select][0]
            run.best = {"metric": key, "value": row[key], "epoch": run.epoch}
            checkpoint.save(checkpoint_state(run), run.dir / "best.pt")
        checkpoint.save(checkpoint_state(run), run.dir / "last.pt")
        if on_epoch:
            on_epoch(row)
    return run


def _last_epoch(run: Run, stop_after: int | None) -> int:
    """The epoch this invocation stops after: the run's end, or sooner with stop_after."""
    return run.cfg.epochs if stop_after is None else min(run.cfg.epochs, run.epoch + stop_after)
