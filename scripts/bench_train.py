"""Training speed, side by side in one run: the device sampler against a per-sample Python sampler.

    python scripts/bench_train.py [--data ../shared/data/a-share-319] [--steps 10] [--json]
    python scripts/bench_train.py --scale [--size 5000x2500] [--scale-store STORE] [--json]
    python scripts/bench_train.py --market STORE [--steps 5] [--json]

Figures: windows per second of both samplers over the same arrays (batch 256, context 60); whole-day batches
(every stock of --batch-days days) per second; training windows per second of `equinet train` at its defaults
(model size, whole-day batches, ensemble) and the sampler's share of a step.

--scale: a synthetic market of --size stocks x days (a vipdoc tree, ingested in child processes, or an existing
--scale-store): the start of a run (prepare on the host + move to the device + feature scales) and this process's
peak host memory, then training windows per second at d-model 128 with whole-day batches and with random windows,
each with the sampler's share of a step.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from benchdata import default_run, emit, encoder_flops, matmul_rate, parser
from equinet.data.store import open_store
from equinet.features.inputs import IN_SIGMAS, prepare
from equinet.features.sampler import labelled_context, sample, windows
from equinet.features.series import SIGMA_FLOOR
from equinet.training.train import TrainConfig, backward, draw, start, train_step

BATCH, CONTEXT = 256, 60


def python_window(prep, s: int, t: int, length: int) -> np.ndarray:
    """One window sliced from the host arrays and normalised on its own, as the original EquiNet did."""
    x = prep.inputs[s, t - length + 1:t + 1].copy()
    x[:, :4] -= x[-1, 3]
    x[:, 4] -= x[:, 4].mean()
    known = x[:, 9:10]
    x[:, 7:9] = (x[:, 7:9] - (x[:, 7:9] * known).sum(0) / max(known.sum(), 1)) * known
    x[:, IN_SIGMAS] /= max(float(np.nan_to_num(prep.sigma[s, t], nan=SIGMA_FLOOR)), SIGMA_FLOOR)
    return x


def python_batch(prep, points: np.ndarray, rng: np.random.Generator, batch: int, length: int):
    """The original EquiNet's way: pick a stock, slice its window, normalise it, append, stack."""
    xs, ys = [], []
    for _ in range(batch):
        s, t = points[rng.integers(len(points))]
        xs.append(python_window(prep, s, t, length))
        ys.append(prep.labels[s, t])
    return torch.tensor(np.stack(xs)), torch.tensor(ys)


def same_windows(data, prep, points: np.ndarray) -> bool:
    """Both samplers cut the same normalised windows, so their speeds are comparable."""
    picked = points[::len(points) // BATCH][:BATCH]
    s, t = (torch.as_tensor(picked[:, i], device=data.device) for i in (0, 1))
    fast = windows(data, s, t, CONTEXT).cpu().numpy()
    slow = np.stack([python_window(prep, a, b, CONTEXT) for a, b in picked])
    return bool(np.allclose(fast, slow, rtol=1e-4, atol=1e-4))


def rate(fn, repeat: int) -> float:
    """Calls per second, after one warm-up call."""
    fn()
    t = time.perf_counter()
    for _ in range(repeat):
        fn()
    return repeat / (time.perf_counter() - t)


def timed_steps(run, steps: int) -> dict:
    """Training windows per second over `steps` optimiser steps as `equinet train` takes them (after one
    warm-up step), and the shares of that time spent drawing batches, in the model's forward and backward pass,
    and in the optimiser's step."""
    sync = torch.cuda.synchronize if run.data.device.type == "cuda" else (lambda: None)
    timing = {"sample": 0.0, "model": 0.0, "step": 0.0, "windows": 0}
    for i in range(steps + 1):
        t = time.perf_counter()
        batch = draw(run)
        sync()
        drawn = time.perf_counter() - t
        loss = train_step(run, batch)
        run.opt.zero_grad(set_to_none=True)
        backward(run, loss)
        sync()
        model = time.perf_counter() - t - drawn
        run.opt.step()
        sync()
        if i:  # the first step warms up
            timing["sample"] += drawn
            timing["model"] += model
            timing["step"] += time.perf_counter() - t
            timing["windows"] += len(batch.y)
    return {"windows_per_s": timing["windows"] / timing["step"], "sampler_share": timing["sample"] / timing["step"],
            "model_share": timing["model"] / timing["step"], "windows_per_step": timing["windows"] / steps}


def build_scale_store(stocks: int, days: int, tmp: Path) -> Path:
    """A synthetic vipdoc tree ingested into a store, each in a child process (this process's memory stays its
    own)."""
    for cmd in (["synth", str(tmp / "raw"), "--stocks", str(stocks), "--days", str(days), "--format", "vipdoc"],
                ["ingest", str(tmp / "raw"), "--out", str(tmp / "store"), "--json"]):
        subprocess.run([sys.executable, "-m", "equinet", *cmd], check=True, capture_output=True)
    return tmp / "store"


def scale(args) -> None:
    """--scale: the start of a run and training at the size of the whole market."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        stocks, days = map(int, args.size.lower().split("x"))
        store = args.scale_store or build_scale_store(stocks, days, tmp)
        t = time.perf_counter()
        run = start(TrainConfig(data=str(store), out=str(tmp / "out"), name="scale", d_model=128, device=args.device))
        started = time.perf_counter() - t
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux -> GiB
        run.close()
        rows = {}
        for name, days_, size in (("whole_days", run.cfg.batch_days, 0), ("random_windows", 0, run.cfg.batch_size)):
            run.cfg.batch_days, run.cfg.batch_size = days_, size or run.cfg.batch_size
            rows[name] = timed_steps(run, args.steps)
    data = run.data
    result = {"device": str(data.device), "precision": run.precision, "stocks": data.inputs.shape[0],
              "days": data.inputs.shape[1], "train_points": len(data.pools["train"]), "start_seconds": started,
              "peak_host_gib": peak, "d_model": 128, "parameters": run.model.n_params(),
              **{f"{k}_train_windows_per_s": v["windows_per_s"] for k, v in rows.items()},
              **{f"{k}_sampler_share_of_step": v["sampler_share"] for k, v in rows.items()}}
    emit(result, args.json, [
        f"{result['stocks']:,} stocks x {result['days']:,} days ({result['train_points']:,} training points) on "
        f"{data.device} ({run.precision})",
        f"  start of a run (prepare + move to the device + feature scales): {started:.1f} s",
        f"  peak host memory of this process: {peak:.2f} GiB",
        *[f"  training at d-model 128, {k.replace('_', ' ')}: {v['windows_per_s']:,.0f} windows/s, sampler "
          f"{100 * v['sampler_share']:.2f} % of a step" for k, v in rows.items()],
    ])


def market(args) -> None:
    """--market STORE: a training step at `equinet train`'s defaults on that store (the whole market), beside the
    same step with every stock of each drawn day (no --stocks-per-day cap: the figure before it existed)."""
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        run = start(TrainConfig(data=str(args.market), out=tmp, name="market", device=args.device))
        started = time.perf_counter() - t
        run.close()
    capped = timed_steps(run, args.steps)
    config = {k: getattr(run.cfg, k) for k in ("d_model", "layers", "batch_days", "stocks_per_day", "min_context",
                                               "max_context", "ensemble")}
    cap, run.cfg.stocks_per_day = run.cfg.stocks_per_day, 0
    every = timed_steps(run, args.steps)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    result = {"store": str(args.market), "device": str(run.data.device), "precision": run.precision,
              "stocks": run.data.inputs.shape[0], "days": run.data.inputs.shape[1], "start_seconds": started,
              "peak_host_gib": peak, "load_average": os.getloadavg()[0], "stocks_per_day": cap,
              "defaults": capped, "every_stock_of_the_days": every, "train_config": config}
    emit(result, args.json, [
        f"{result['stocks']:,} stocks x {result['days']:,} days on {run.data.device} ({run.precision}), load "
        f"{result['load_average']:.2f}; start of a run {started:.1f} s, peak host memory {peak:.2f} GiB",
        *[f"  {label}: {v['windows_per_s']:,.0f} windows/s, {v['windows_per_step']:,.0f} windows a step, model "
          f"forward+backward {100 * v['model_share']:.1f} % of a step, sampler {100 * v['sampler_share']:.1f} %"
          for label, v in ((f"defaults (--stocks-per-day {cap})", capped),
                           ("every stock of the drawn days (before the cap)", every))],
    ])


def main() -> None:
    options = parser(__doc__)
    options.add_argument("--steps", type=int, help="timed training steps (default 10; with --scale 2)")
    options.add_argument("--scale", action="store_true", help="the whole-market run instead (see above)")
    options.add_argument("--size", default="5000x2500", help="--scale: STOCKSxDAYS of the synthetic market")
    options.add_argument("--scale-store", type=Path, help="--scale: an existing store instead of a synthetic one")
    options.add_argument("--market", type=Path, help="a whole-market store: a step at the defaults (see above)")
    args = options.parse_args()
    if args.market:
        args.steps = args.steps or 5
        market(args)
        return
    if args.scale:
        args.steps = args.steps or 2
        scale(args)
        return

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        store, run = default_run(args.data, args.device, tmp)
        run.close()
        prep = prepare(open_store(store), run.cfg.rule)
    data, cfg, device = run.data, run.cfg, run.data.device
    points = np.argwhere(data.masks["train"].cpu().numpy() & (labelled_context(prep, cfg.horizon) >= CONTEXT))
    gen = torch.Generator(device=device).manual_seed(0)
    rng = np.random.default_rng(0)

    if not same_windows(data, prep, points):
        raise SystemExit("error: the device sampler and the Python sampler cut different windows")
    device_rate = rate(lambda: sample(data, "train", CONTEXT, gen, batch=BATCH), 50) * BATCH
    python_rate = rate(lambda: python_batch(prep, points, rng, BATCH, CONTEXT), 5) * BATCH
    day_rows = len(sample(data, "train", CONTEXT, gen, days=cfg.batch_days).y)
    day_rate = rate(lambda: sample(data, "train", CONTEXT, gen, days=cfg.batch_days), 50) * day_rows

    timed = timed_steps(run, args.steps or 10)
    train_rate, sampler_share = timed["windows_per_s"], timed["sampler_share"]
    result = {
        "device": str(device), "precision": run.precision, "stocks": data.inputs.shape[0],
        "days": data.inputs.shape[1], "batch": BATCH, "context": CONTEXT,
        "device_sampler_windows_per_s": device_rate, "python_sampler_windows_per_s": python_rate,
        "sampler_speedup": device_rate / python_rate,
        "whole_day_batch_windows_per_s": day_rate, "whole_day_batch_windows": day_rows,
        "train_windows_per_s": train_rate, "sampler_share_of_step": sampler_share,
        "parameters": run.model.n_params(), "train_config": {k: getattr(cfg, k) for k in (
            "d_model", "layers", "heads", "head", "batch_days", "ensemble", "min_context", "max_context")},
    }
    contexts = range(cfg.min_context, cfg.max_context + 1)  # a step's context is drawn uniformly from these
    flops = {k: float(np.mean([encoder_flops(run.model.cfg, c)[k] for c in contexts])) for k in ("window", "causal")}
    peak = matmul_rate(device, run.precision)
    result |= {"forward_flops_per_window": flops, "matmul_flops_per_s": peak,  # a step: forward + backward ~ 3x
               "achieved_share_of_matmul_rate": 3 * train_rate * flops["window"] / peak}
    emit(result, args.json, [
        f"{result['stocks']} stocks x {result['days']} days on {device} ({run.precision})",
        f"  device sampler, batch {BATCH} at context {CONTEXT}: {device_rate:12,.0f} windows/s",
        f"  per-sample Python, same windows:       {python_rate:12,.0f} windows/s",
        f"  speed-up:                              {result['sampler_speedup']:12,.0f}x",
        f"  whole-day batches ({cfg.batch_days} days, {day_rows:,} windows): {day_rate:12,.0f} windows/s",
        f"  training at the defaults (d{cfg.d_model} l{cfg.layers}, {cfg.ensemble} member(s)): "
        f"{result['train_windows_per_s']:,.0f} windows/s",
        f"  sampler share of a step:               {100 * result['sampler_share_of_step']:11.2f} %",
        f"  forward FLOPs per window (mean context {np.mean(contexts):.0f}): window encoder "
        f"{flops['window'] / 1e6:.2f} M, causal encoder (issue 34) {flops['causal'] / 1e6:.3f} M a decision day",
        f"  training reaches {3 * train_rate * flops['window'] / 1e9:.2f} GFLOP/s (forward + backward ~ 3x the "
        f"forward) = {100 * result['achieved_share_of_matmul_rate']:.0f} % of the measured matmul rate "
        f"({peak / 1e9:.1f} GFLOP/s, {run.precision})",
    ])


if __name__ == "__main__":
    main()
