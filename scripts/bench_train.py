"""Training speed, side by side in one run: the device sampler against a per-sample Python sampler.

    python scripts/bench_train.py [--data ../shared/data/a-share-319] [--steps 10] [--json]
    python scripts/bench_train.py --scale [--size 5000x2500] [--scale-store STORE] [--json]
    python scripts/bench_train.py --market STORE [--steps 5] [--json]

Figures: training chunks per second of both samplers over the same arrays (the same chunk: 256 stocks x 60 days
after the warm-up); labelled training points per second of `equinet train` at its defaults (model size, chunks,
ensemble) and the sampler's share of a step; FLOPs per labelled point and the device's measured matmul rate.

--scale: a synthetic market of --size stocks x days (a vipdoc tree, ingested in child processes, or an existing
--scale-store): the start of a run (prepare on the host + move to the device + feature scales) and this process's
peak host memory, then training points per second at d-model 128 with the sampler's share of a step.
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
from equinet.features.inputs import prepare
from equinet.features.sampler import chunk
from equinet.training.train import TrainConfig, backward, draw, start, train_step

STOCKS, SPAN = 256, 60


def python_chunk(prep, stocks: np.ndarray, start: int, stop: int):
    """The original EquiNet's way: one stock at a time, its days sliced from the host arrays, appended, stacked."""
    xs, runs = [], []
    for s in stocks:
        xs.append(prep.inputs[s, start:stop].copy())
        runs.append(prep.clean_days[s, start:stop].astype(np.int64))
    return torch.tensor(np.stack(xs)), torch.tensor(np.stack(runs))


def draw_stocks(prep, rng: np.random.Generator, warmup: int) -> tuple[np.ndarray, int]:
    """STOCKS random stocks and a random start with room for the warm-up and SPAN days."""
    start = int(rng.integers(0, prep.inputs.shape[1] - warmup - SPAN))
    return np.sort(rng.choice(prep.inputs.shape[0], min(STOCKS, prep.inputs.shape[0]), replace=False)), start


def same_chunks(data, prep, warmup: int) -> bool:
    """Both samplers gather the same chunk, so their speeds are comparable."""
    stocks, start = draw_stocks(prep, np.random.default_rng(1), warmup)
    fast = chunk(data, torch.as_tensor(stocks, device=data.device), start, start + warmup + SPAN, warmup,
                 torch.zeros(1, dtype=torch.long, device=data.device))
    x, run = python_chunk(prep, stocks, start, start + warmup + SPAN)
    return torch.equal(fast.x.cpu(), x) and torch.equal(fast.run.cpu(), run)


def rate(fn, repeat: int) -> float:
    """Calls per second, after one warm-up call."""
    fn()
    t = time.perf_counter()
    for _ in range(repeat):
        fn()
    return repeat / (time.perf_counter() - t)


def timed_steps(run, steps: int) -> dict:
    """Labelled training points per second over `steps` optimiser steps as `equinet train` takes them (after one
    warm-up step), and the shares of that time spent drawing batches, in the model's forward and backward pass,
    and in the optimiser's step."""
    sync = torch.cuda.synchronize if run.data.device.type == "cuda" else (lambda: None)
    timing = {"sample": 0.0, "model": 0.0, "step": 0.0, "points": 0}
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
            timing["points"] += int((batch.y >= 0).sum())
    return {"points_per_s": timing["points"] / timing["step"], "sampler_share": timing["sample"] / timing["step"],
            "model_share": timing["model"] / timing["step"], "points_per_step": timing["points"] / steps}


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
        timed = timed_steps(run, args.steps)
    data = run.data
    result = {"device": str(data.device), "precision": run.precision, "stocks": data.inputs.shape[0],
              "days": data.inputs.shape[1], "train_points": len(data.pools["train"]), "start_seconds": started,
              "peak_host_gib": peak, "d_model": 128, "parameters": run.model.n_params(),
              "train_points_per_s": timed["points_per_s"], "sampler_share_of_step": timed["sampler_share"]}
    emit(result, args.json, [
        f"{result['stocks']:,} stocks x {result['days']:,} days ({result['train_points']:,} training points) on "
        f"{data.device} ({run.precision})",
        f"  start of a run (prepare + move to the device + feature scales): {started:.1f} s",
        f"  peak host memory of this process: {peak:.2f} GiB",
        f"  training at d-model 128: {timed['points_per_s']:,.0f} labelled points/s, sampler "
        f"{100 * timed['sampler_share']:.2f} % of a step",
    ])


def market(args) -> None:
    """--market STORE: a training step at `equinet train`'s defaults on that store (the whole market), beside the
    same step with every stock of the span (no --stocks-per-day cap)."""
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        run = start(TrainConfig(data=str(args.market), out=tmp, name="market", device=args.device))
        started = time.perf_counter() - t
        run.close()
    capped = timed_steps(run, args.steps)
    config = {k: getattr(run.cfg, k) for k in ("d_model", "layers", "chunks", "stocks_per_day", "min_context",
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
        *[f"  {label}: {v['points_per_s']:,.0f} labelled points/s, {v['points_per_step']:,.0f} a step, model "
          f"forward+backward {100 * v['model_share']:.1f} % of a step, sampler {100 * v['sampler_share']:.1f} %"
          for label, v in ((f"defaults (--stocks-per-day {cap})", capped), ("every stock of the span", every))],
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
    warmup = run.model.cfg.warmup
    rng = np.random.default_rng(0)

    if not same_chunks(data, prep, warmup):
        raise SystemExit("error: the device sampler and the Python sampler gather different chunks")

    def device_chunk():
        stocks, start = draw_stocks(prep, rng, warmup)
        return chunk(data, torch.as_tensor(stocks, device=device), start, start + warmup + SPAN, warmup,
                     torch.zeros(1, dtype=torch.long, device=device))

    def python_draw():
        stocks, start = draw_stocks(prep, rng, warmup)
        return python_chunk(prep, stocks, start, start + warmup + SPAN)

    device_rate = rate(device_chunk, 50)
    python_rate = rate(python_draw, 5)

    timed = timed_steps(run, args.steps or 10)
    train_rate, sampler_share = timed["points_per_s"], timed["sampler_share"]
    result = {
        "device": str(device), "precision": run.precision, "stocks": data.inputs.shape[0],
        "days": data.inputs.shape[1], "chunk_stocks": STOCKS, "chunk_days": warmup + SPAN,
        "device_sampler_chunks_per_s": device_rate, "python_sampler_chunks_per_s": python_rate,
        "sampler_speedup": device_rate / python_rate, "load_average": os.getloadavg()[0],
        "train_points_per_s": train_rate, "points_per_step": timed["points_per_step"],
        "sampler_share_of_step": sampler_share,
        "parameters": run.model.n_params(), "train_config": {k: getattr(cfg, k) for k in (
            "d_model", "layers", "heads", "head", "chunks", "stocks_per_day", "ensemble", "min_context",
            "max_context")},
    }
    span = (cfg.min_context + cfg.max_context) // 2  # a step's span is drawn uniformly between them
    flops = encoder_flops(run.model.cfg, cfg.context, span)
    peak = matmul_rate(device, run.precision)
    result |= {"forward_flops_per_point": flops, "matmul_flops_per_s": peak,  # a step: forward + backward ~ 3x
               "achieved_share_of_matmul_rate": 3 * train_rate * flops["causal"] / peak}
    emit(result, args.json, [
        f"{result['stocks']} stocks x {result['days']} days on {device} ({run.precision}), load "
        f"{result['load_average']:.2f}",
        f"  device sampler, {STOCKS} stocks x {warmup + SPAN} days: {device_rate:10,.0f} chunks/s",
        f"  per-stock Python, same chunks:          {python_rate:10,.0f} chunks/s",
        f"  speed-up:                               {result['sampler_speedup']:10,.0f}x",
        f"  training at the defaults (d{cfg.d_model} l{cfg.layers}, {cfg.ensemble} member(s)): "
        f"{train_rate:,.0f} labelled points/s ({timed['points_per_step']:,.0f} a step)",
        f"  sampler share of a step:                {100 * sampler_share:9.2f} %",
        f"  forward FLOPs per labelled point (span {span} + warm-up {warmup}): {flops['causal'] / 1e6:.3f} M "
        f"(each day once with attention cut to its reach: {flops['ideal'] / 1e6:.3f} M; the window encoder it "
        f"replaced: {flops['window'] / 1e6:.2f} M a window)",
        f"  training reaches {3 * train_rate * flops['causal'] / 1e9:.2f} GFLOP/s (forward + backward ~ 3x the "
        f"forward) = {100 * result['achieved_share_of_matmul_rate']:.0f} % of the measured matmul rate "
        f"({peak / 1e9:.1f} GFLOP/s, {run.precision})",
    ])


if __name__ == "__main__":
    main()
