"""`equinet train`: the store on the device, chunks of stock histories by indexing, a causal transformer,
checkpoints, resume."""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from equinet.core import files
from equinet.core.errors import TrainingDiverged
from equinet.core.metrics import class_shares, validation_line
from equinet.data.store import open_store
from equinet.features.inputs import FEATURES, Prepared, left_out, prepared
from equinet.features.sampler import Batch, DeviceData, Pool, distinct, sample, targets, to_device
from equinet.features.splits import Splits, by_date, by_stock, for_deploy
from equinet.models.heads import Head
from equinet.models.linear import Ridge
from equinet.models.transformer import EquiNet
from equinet.training import checkpoint, distributed, rundir
from equinet.training.anchor import fit_anchor
from equinet.training.checkpoint import FORMAT, build
from equinet.training.config import SELECT, TrainConfig
from equinet.training.device import attention_kernels, autocast, pick_precision, trim_host_memory
from equinet.training.distributed import World
from equinet.training.forward import EVAL_DAYS, baseline_probabilities, day_outputs, rows_of

NORM_SAMPLES = 500_000  # training points whose inputs fix the feature scales saved in the checkpoint


@dataclass
class Run:
    """A training run in memory: data on the device, model, optimiser and where it stands."""

    cfg: TrainConfig
    dir: Path
    data: DeviceData
    splits: Splits
    store_meta: dict
    model: EquiNet
    step_model: torch.nn.Module  # the model, or it wrapped by DDP (several ranks) and/or torch.compile
    head: Head
    opt: torch.optim.Optimizer
    sched: torch.optim.lr_scheduler.LambdaLR
    gen: torch.Generator
    prior: np.ndarray
    precision: str
    steps: int  # per epoch
    world: World = World()
    ema: AveragedModel | None = None  # the weight average that validates and is saved, with --ema-epochs
    epoch: int = 0
    saved: int = 0  # the epoch the last checkpoint holds (what --resume continues from)
    best: dict = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)
    val_all: dict | None = None  # the best checkpoint on every validation day, when epochs saw --val-windows
    linear: Ridge | None = None  # the linear baseline, fit on the training split

    def close(self) -> None:
        """Release the run directory for other processes, and leave the process group of several ranks."""
        if self.world.main:
            rundir.release(self.dir)
        distributed.leave()

    @property
    def predictor(self) -> EquiNet:
        """The weights that validate, are saved for eval/predict and are chosen by: the average, with --ema-epochs."""
        return self.ema.module if self.ema is not None else self.model


def make_splits(cfg: TrainConfig, codes: list[str], dates: list[str]) -> Splits:
    if cfg.split_by == "stock":
        return by_stock(codes, cfg.horizon, cfg.test_ratio, cfg.seed)
    if cfg.deploy:
        return for_deploy(dates, cfg.horizon, cfg.val_days)
    return by_date(dates, cfg.horizon, cfg.val_from, cfg.test_from)


def schedule(cfg: TrainConfig, steps: int) -> Callable[[int], float]:
    """Linear warm-up over cfg.warmup of all steps, then cosine decay to a tenth of the peak."""
    total = cfg.epochs * steps
    warm = max(1, int(cfg.warmup * total))

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        done = min(1.0, (step - warm) / max(1, total - warm))
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * done))

    return factor


def _feature_scales(data: DeviceData, cfg: TrainConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std of each input over training points only (a separate generator: no effect on the run)."""
    gen = torch.Generator(device=data.device).manual_seed(cfg.seed + 1)
    pool = data.pools["train"]
    pick = distinct(len(pool), NORM_SAMPLES, gen, data.device)
    flat = data.inputs[pool.stock[pick], pool.day[pick]]  # [n, F]
    std = flat.std(0)
    return flat.mean(0), torch.where(std < 1e-6, torch.ones_like(std), std)


def load_data(cfg: TrainConfig, device: torch.device, splits: Splits | None = None, reuse: Prepared | None = None):
    """Read the store once (memory-mapped), prepare on the host (or reuse what was prepared), move to the device."""
    store = open_store(cfg.data)
    splits = splits or make_splits(cfg, store.codes, store.meta["dates"])
    prep = prepared(store, cfg.rule, reuse)
    data = to_device(prep, splits.masks(store.codes, store.meta["dates"]), cfg.horizon, cfg.min_context, device,
                     left_out(cfg.inputs))
    refit = splits.val_from is not None and splits.val_from > store.meta["dates"][-1]  # --deploy's: no validation
    for name in ("train",) if refit else ("train", "val"):
        if len(data.pools[name]) == 0:
            raise ValueError(f"{cfg.data}: no valid {name} window of {cfg.min_context}+{cfg.horizon} days; "
                             "the store is too short for this split")
    if len(data.pools["val"]) and data.pools["val"].count(cfg.context) == 0:
        raise ValueError(f"{cfg.data}: no validation window of {cfg.context} days; lower --context or move --val-from")
    return store.meta, splits, data, prep


EPOCH_POINTS, EPOCH_SHARE = 20_000, 0.05  # --samples-per-epoch 0: this many points, or this share of them


def epoch_points(cfg: TrainConfig, data: DeviceData) -> int:
    """--samples-per-epoch, or (0) 20,000 labelled points or 5 % of the training points, whichever is more: the
    default 20 epochs then pass over the whole market's training points once (a 300-stock store's seven times)."""
    return cfg.samples_per_epoch or max(EPOCH_POINTS, round(EPOCH_SHARE * len(data.pools["train"])))


def points_per_step(cfg: TrainConfig, data: DeviceData) -> float:
    """The labelled points a training step holds on average: the training days' mean number of points (at most
    --stocks-per-day) times the mean span, times the chunks."""
    pool = data.pools["train"]
    per_day = len(pool) / max(1, len(torch.unique(pool.day)))
    if cfg.stocks_per_day:
        per_day = min(per_day, cfg.stocks_per_day)
    return cfg.chunks * per_day * (cfg.min_context + cfg.max_context) / 2


def steps_per_epoch(cfg: TrainConfig, data: DeviceData) -> int:
    """Steps that draw about epoch_points labelled points."""
    return max(1, round(epoch_points(cfg, data) / points_per_step(cfg, data)))


def ema_decay(epochs: float, steps: int) -> float:
    """The per-step decay whose time constant is --ema-epochs epochs of `steps` steps: the same span of training
    on 300 stocks (6 steps an epoch) as on the whole market (29)."""
    return 1 - 1 / max(1.0, epochs * steps)


def start(cfg: TrainConfig, resume: str | Path | None = None, overrides: dict | None = None,
          overwrite: bool = False, timeout: float = distributed.TIMEOUT, reuse: Prepared | None = None,
          splits: Splits | None = None) -> Run:
    """A new run, or one restored from the run's last checkpoint exactly as it stopped (config from the checkpoint).

    Under torchrun every rank calls this: each holds the whole dataset on its own device and the same initial
    weights; rank 0 alone claims and writes the run directory. The run directory is locked for this process
    until run.close() (or exit); a new run never replaces an existing one unless overwrite is set."""
    state = None
    if resume is not None:
        state = checkpoint.load(rundir.Folder(Path(resume)).last)
        cfg = TrainConfig.from_json({**state["config"], **(overrides or {})})
    cfg.check()
    world, device = distributed.join(cfg.device, timeout)
    if world.size > cfg.min_context:
        raise ValueError(f"{world.size} ranks share each step's span of days, which may hold only "
                         f"{cfg.min_context}; raise --min-context to at least {world.size}")
    cfg.name = distributed.broadcast(cfg.name or cfg.default_name())  # ranks may start in different seconds
    run_dir = Path(resume) if resume else Path(cfg.out) / cfg.name
    if state is None:
        distributed.on_main(lambda: rundir.check_new(run_dir, overwrite))
    splits = Splits.from_json(state["splits"]) if state else splits
    meta, splits, data, prep = load_data(cfg, device, splits, reuse)
    if state and state["store_fingerprint"] != meta["fingerprint"]:
        raise ValueError(f"{cfg.data}: the store changed since this run started; resume needs the same store")
    distributed.on_main(lambda: rundir.claim(run_dir, new=state is None and not overwrite, overwrite=overwrite))
    torch.manual_seed(cfg.seed)
    train_labels = data.labels[data.pools["train"].stock, data.pools["train"].day].cpu().numpy()
    prior = class_shares(train_labels)
    shape, head = build(cfg, cfg.rule, 1 / (3 * np.maximum(prior, 1e-6)) if cfg.class_weights else np.ones(3))
    head.weights = head.weights.to(device)
    model = EquiNet(shape).to(device)
    if state is None:
        model.feature_mean, model.feature_std = _feature_scales(data, cfg)
    else:
        model.load_state_dict(state.get("raw") or state["model"])
    step_model = model
    if world.size > 1:  # gradients are averaged across ranks after every backward pass
        step_model = DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)
        if world.rank:  # dropout differs between ranks; rank 0 keeps the one-process stream
            torch.manual_seed(cfg.seed + RANK_SEED * world.rank)
    steps = steps_per_epoch(cfg, data)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule(cfg, steps))
    gen = torch.Generator(device=device).manual_seed(cfg.seed)
    run = Run(cfg, run_dir, data, splits, meta, model, torch.compile(step_model) if cfg.compile else step_model,
              head, opt, sched, gen, prior, pick_precision(cfg.precision, device), steps, world)
    run.linear = fit_anchor(cfg, data, prep, state)
    if cfg.ema_epochs:
        run.ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(ema_decay(cfg.ema_epochs, steps)),
                                use_buffers=True)
    if state is not None:
        _restore(run, state)
    distributed.on_main(lambda: files.write_json(
        {**asdict(cfg), "world_size": world.size, "parameters": model.n_params(),
         "store_path": str(Path(cfg.data).resolve()), "store_fingerprint": meta["fingerprint"]}, rundir.Folder(run_dir).config))
    return run


RANK_SEED = 1_000_003  # dropout seed offset of each rank beyond 0 (when the checkpoint has no state for it)


def _restore(run: Run, state: dict) -> None:
    """Optimiser, schedule, random streams and progress as the checkpoint left them, on any number of ranks: the
    sampler's stream is global; a rank the saving run did not have seeds its dropout from the seed and epoch."""
    if run.ema is not None:
        run.ema.module.load_state_dict(state["model"])
        run.ema.n_averaged.fill_(state["ema_steps"])
    run.opt.load_state_dict(state["optimizer"])
    run.sched.load_state_dict(state["scheduler"])
    run.gen.set_state(state["rng"]["sampler"])
    ranks = state["rng"]["ranks"]
    if run.world.rank < len(ranks):
        torch.set_rng_state(ranks[run.world.rank]["torch"])
        if run.data.device.type == "cuda" and ranks[run.world.rank]["cuda"] is not None:
            torch.cuda.set_rng_state(ranks[run.world.rank]["cuda"], run.data.device)
    else:
        torch.manual_seed(run.cfg.seed + RANK_SEED * run.world.rank + state["epoch"])
    run.epoch, run.best = state["epoch"], state["best"]
    run.saved = run.epoch
    run.history = files.read_metrics(rundir.Folder(run.dir).metrics, upto=run.epoch)


def _rng_state(device: torch.device) -> dict:
    """This process's dropout streams (CPU, and its GPU's)."""
    return {"torch": torch.get_rng_state(), "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None}


def checkpoint_state(run: Run) -> dict:
    """Everything needed to resume exactly, or to evaluate and predict without the run directory; every rank
    calls it (each rank's dropout stream is gathered), rank 0 saves it."""
    ranks = distributed.gather_objects(_rng_state(run.data.device))
    return {
        "format": FORMAT,
        "model": run.predictor.state_dict(),
        "model_config": run.model.cfg.to_json(),
        **({"raw": run.model.state_dict(), "ema_steps": int(run.ema.n_averaged)} if run.ema is not None else {}),
        "optimizer": run.opt.state_dict(),
        "scheduler": run.sched.state_dict(),
        "rng": {"sampler": run.gen.get_state(), **ranks[0], "ranks": ranks},
        "epoch": run.epoch,
        "config": asdict(run.cfg),
        "label_rule": asdict(run.cfg.rule),
        "features": list(FEATURES),
        "splits": run.splits.to_json(),
        "store_fingerprint": run.store_meta["fingerprint"],
        "store_path": str(Path(run.cfg.data).resolve()),
        "prior": run.prior.tolist(),
        "linear": run.linear.to_json(),
        "best": run.best,
    }


def validation_days(run: Run, every: bool = False) -> torch.Tensor:
    """The validation days scored each epoch: random whole days drawn once from the seed (the same every epoch
    and on resume) until they hold --val-windows windows, or all (every, --val-windows 0, or fewer in all)."""
    pool = run.data.pools["val"].at_least(run.cfg.context)
    days, counts = torch.unique(pool.day, return_counts=True)
    if every or not 0 < run.cfg.val_windows < len(pool):
        return days
    gen = torch.Generator(device=days.device).manual_seed(run.cfg.seed + 2)
    order = torch.randperm(len(days), generator=gen, device=days.device)
    enough = int(torch.searchsorted(torch.cumsum(counts[order], 0), run.cfg.val_windows)) + 1
    return days[order[:enough]].sort().values


def validate(run: Run, every: bool = False, model: torch.nn.Module | None = None) -> dict:
    """The validation line on the valid validation windows at --context days of validation_days, beside the
    baselines; the model sees each such day's whole universe (its location mean and attention need it). A run
    without validation days (the deployed refit) has none."""
    if len(run.data.pools["val"]) == 0:
        return {}
    data, context, days = run.data, run.cfg.context, validation_days(run, every)
    pool = run.data.pools["val"].at_least(context)
    pool = Pool(*(t[torch.isin(pool.day, days)] for t in (pool.stock, pool.day, pool.longest)))
    stock, day, group, groups, out = day_outputs(model or run.predictor, data, days, context, run.precision,
                                                 share=run.world.share)
    rows = rows_of(stock, day, pool.stock, pool.day)
    y = torch.full_like(stock, -1).index_put((rows,), data.labels[pool.stock, pool.day])
    with torch.no_grad():
        loss = float(run.head.loss(out, targets(data, stock, day, y, group, groups))) / len(out)
    fc = run.head.forecast(out, data.sigma[stock, day], group, groups, anchor=data.anchor[stock, day])
    host = lambda t: t.cpu().numpy().astype(np.float64)  # noqa: E731
    return validation_line(host(fc.p[rows]), host(baseline_probabilities(data, pool.stock, pool.day, run.cfg.rule)),
                           run.prior, data.labels[pool.stock, pool.day].cpu().numpy(),
                           host(data.forward_return[pool.stock, pool.day]), pool.day.cpu().numpy(), loss,
                           host(fc.score[rows]), host(data.tradable[pool.stock, pool.day]))


def train_step(run: Run, batch: Batch, model: torch.nn.Module | None = None) -> torch.Tensor:
    """The objective on one batch, per member (so it reads the same whatever --ensemble), with gradients."""
    with autocast(run.data.device, run.precision), attention_kernels(run.data.device):
        out = (model or run.step_model)(batch, batch.group, batch.groups)
    return run.head.loss(out, batch) / run.model.cfg.members


def draw(run: Run, gen: torch.Generator | None = None) -> Batch:
    """This rank's share of the next global chunk: a random span of --min-context..--max-context days, then the
    chunk (the same draws on every rank)."""
    cfg, gen = run.cfg, gen or run.gen
    span = int(torch.randint(cfg.min_context, cfg.max_context + 1, (1,), generator=gen, device=run.data.device))
    return sample(run.data, "train", span, run.model.cfg.warmup, gen, cfg.stocks_per_day, run.world.share, cfg.chunks)


def backward(run: Run, loss: torch.Tensor) -> None:
    """Gradients, under the forward pass's attention kernels: activations recomputed for large batches must
    take the kernels they were first computed with."""
    with attention_kernels(run.data.device):
        loss.backward()


def global_loss(run: Run, loss: torch.Tensor, batch: Batch) -> tuple[torch.Tensor, float, int]:
    """(what to backpropagate, the global batch's loss, its cells). With several ranks each loss is weighted by
    the rank's share of the labelled rows, so that DDP's mean of the gradients is the gradient of the global
    batch's loss, however unevenly whole days split; with one rank the loss is returned as it is."""
    if run.world.size == 1:
        return loss, float(loss.detach()), len(batch.y)
    n = (batch.y >= 0).sum().float()
    stats = distributed.all_sum(torch.stack([loss.detach() * n, n, n.new_tensor(len(batch.y))]))
    return loss * (run.world.size * n / stats[1]), float(stats[0] / stats[1]), int(stats[2])


def estimate_epoch_seconds(run: Run) -> float:
    """Time two training steps on a copy of the model and the validation of a few days; touches no run state."""
    twin = copy.deepcopy(run.model)
    batch = draw(run, torch.Generator(device=run.data.device).manual_seed(12345))
    twin.eval()  # no dropout: the global RNG stays as it is
    t = time.perf_counter()
    for _ in range(2):
        backward(run, train_step(run, batch, twin))
    step = (time.perf_counter() - t) / 2 * points_per_step(run.cfg, run.data) / max(1, int((batch.y >= 0).sum()))
    days = validation_days(run)
    if len(days) == 0:  # the deployed refit: training only
        return step * run.steps
    some = torch.arange(int(days[0]), min(int(days[0]) + EVAL_DAYS, run.data.clean_days.shape[1]), device=days.device)
    t = time.perf_counter()
    n = len(day_outputs(twin, run.data, some, run.cfg.context, run.precision)[0])
    per_row = (time.perf_counter() - t) / max(n, 1)
    span = torch.arange(int(days[0]), int(days[-1]) + 1, device=days.device)
    return step * run.steps + per_row * int((run.data.clean_days[:, span] >= run.cfg.context).sum())


def _is_better(run: Run, row: dict) -> bool:
    """The epoch beats the best so far on --select (without validation: the latest is the best)."""
    key, sign = SELECT[run.cfg.select]
    return not run.best or key not in row or sign * row[key] > sign * run.best["value"]


def fit(run: Run, stop_after: int | None = None, on_epoch_start: Callable[[int, int], None] | None = None,
        on_step: Callable[[float, float, float], None] | None = None,
        on_epoch: Callable[[dict], None] | None = None) -> Run:
    """Train until cfg.epochs (or stop_after more epochs), validating and checkpointing every epoch."""
    cfg, last = run.cfg, _last_epoch(run, stop_after)
    run.model.train()
    for epoch in range(run.epoch, last):
        if on_epoch_start:
            on_epoch_start(epoch + 1, run.steps)
        t0, total, seen = time.perf_counter(), 0.0, 0
        for step in range(run.steps):
            batch = draw(run)
            loss, value, points = global_loss(run, train_step(run, batch), batch)
            if not math.isfinite(value):
                kept = f"{rundir.Folder(run.dir).last} (epoch {run.epoch})" if run.epoch else "none yet"
                raise TrainingDiverged(f"loss is {value} at epoch {epoch + 1}, step {step + 1}: training "
                                       f"stopped; the last good checkpoint is {kept}")
            run.opt.zero_grad(set_to_none=True)
            backward(run, loss)
            for member in run.model.members:  # each member is its own network: clip each on its own
                torch.nn.utils.clip_grad_norm_(member.parameters(), 1.0)
            run.opt.step()
            run.sched.step()
            if run.ema is not None:
                run.ema.update_parameters(run.model)
            total += value
            seen += points
            trim_host_memory(run.data.device)
            if on_step:
                on_step(value, run.sched.get_last_lr()[0], seen / (time.perf_counter() - t0))
        run.epoch = epoch + 1
        row = {"epoch": run.epoch, "train_loss": total / run.steps, "lr": run.sched.get_last_lr()[0],
               **validate(run), "seconds": time.perf_counter() - t0, "world_size": run.world.size}
        run.history.append(row)
        better = _is_better(run, row)
        if better:
            key = SELECT[cfg.select][0]
            run.best = {"metric": key, "value": row.get(key), "epoch": run.epoch}
        state = checkpoint_state(run)
        if run.world.main:
            folder = rundir.Folder(run.dir)
            files.write_metrics(run.history, folder.metrics)
            if better:
                checkpoint.save(state, folder.best)
            checkpoint.save(state, folder.last)
            run.saved = run.epoch
        distributed.barrier()
        if on_epoch:
            on_epoch(row)
    if run.epoch == cfg.epochs and len(validation_days(run)) < len(validation_days(run, every=True)):
        run.val_all = validate_best(run)
    return run


def validate_best(run: Run) -> dict:
    """The best checkpoint on every validation day (the epochs saw --val-windows of them), kept in val-all.json."""
    folder = rundir.Folder(run.dir)
    model = copy.deepcopy(run.predictor)
    model.load_state_dict(checkpoint.load(folder.best)["model"])
    model.eval()
    line = {"epoch": run.best["epoch"], **validate(run, every=True, model=model)}
    if run.world.main:
        files.write_json(line, folder.val_all)
    return line


def _last_epoch(run: Run, stop_after: int | None) -> int:
    """The epoch this invocation stops after: the run's end, or sooner with stop_after."""
    return run.cfg.epochs if stop_after is None else min(run.cfg.epochs, run.epoch + stop_after)
