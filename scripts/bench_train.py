"""Training speed, side by side in one run: the device sampler against a per-sample Python sampler.

    python scripts/bench_train.py [--data ../shared/data/a-share-319] [--steps 10] [--json]

Figures: windows per second of both samplers over the same arrays (batch 256, context 60); whole-day batches
(every stock of --batch-days days) per second; training windows per second of `equinet train` at its defaults
(model size, whole-day batches, ensemble) and the sampler's share of a step.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from benchdata import default_run, emit, parser
from equinet.baselines import SIGMA_FLOOR
from equinet.features import IN_SIGMAS, prepare
from equinet.sampler import room, sample, windows
from equinet.store import open_store
from equinet.train import train_step

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


def main() -> None:
    options = parser(__doc__)
    options.add_argument("--steps", type=int, default=10, help="timed training steps")
    args = options.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        store, run = default_run(args.data, args.device, tmp)
        run.close()
        prep = prepare(open_store(store), run.cfg.rule)
    data, cfg, device = run.data, run.cfg, run.data.device
    points = np.argwhere(data.masks["train"].cpu().numpy() & (room(prep, cfg.horizon) >= CONTEXT))
    gen = torch.Generator(device=device).manual_seed(0)
    rng = np.random.default_rng(0)

    if not same_windows(data, prep, points):
        raise SystemExit("error: the device sampler and the Python sampler cut different windows")
    device_rate = rate(lambda: sample(data, "train", CONTEXT, gen, batch=BATCH), 50) * BATCH
    python_rate = rate(lambda: python_batch(prep, points, rng, BATCH, CONTEXT), 5) * BATCH
    day_rows = len(sample(data, "train", CONTEXT, gen, days=cfg.batch_days).y)
    day_rate = rate(lambda: sample(data, "train", CONTEXT, gen, days=cfg.batch_days), 50) * day_rows

    timing = {"sample": 0.0, "step": 0.0, "windows": 0}

    def step() -> None:
        t = time.perf_counter()
        length = int(torch.randint(cfg.min_context, cfg.max_context + 1, (1,), generator=gen, device=device))
        batch = sample(data, "train", length, gen, batch=cfg.batch_size, days=cfg.batch_days)
        if device.type == "cuda":
            torch.cuda.synchronize()
        timing["sample"] += time.perf_counter() - t
        loss = train_step(run, batch)
        run.opt.zero_grad(set_to_none=True)
        loss.backward()
        run.opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        timing["step"] += time.perf_counter() - t
        timing["windows"] += len(batch.y)

    step()
    timing.update(sample=0.0, step=0.0, windows=0)
    for _ in range(args.steps):
        step()
    result = {
        "device": str(device), "precision": run.precision, "stocks": data.inputs.shape[0],
        "days": data.inputs.shape[1], "batch": BATCH, "context": CONTEXT,
        "device_sampler_windows_per_s": device_rate, "python_sampler_windows_per_s": python_rate,
        "sampler_speedup": device_rate / python_rate,
        "whole_day_batch_windows_per_s": day_rate, "whole_day_batch_windows": day_rows,
        "train_windows_per_s": timing["windows"] / timing["step"],
        "sampler_share_of_step": timing["sample"] / timing["step"],
        "parameters": run.model.n_params(), "train_config": {k: getattr(cfg, k) for k in (
            "d_model", "layers", "heads", "head", "batch_days", "ensemble", "min_context", "max_context")},
    }
    emit(result, args.json, [
        f"{result['stocks']} stocks x {result['days']} days on {device} ({run.precision})",
        f"  device sampler, batch {BATCH} at context {CONTEXT}: {device_rate:12,.0f} windows/s",
        f"  per-sample Python, same windows:       {python_rate:12,.0f} windows/s",
        f"  speed-up:                              {result['sampler_speedup']:12,.0f}x",
        f"  whole-day batches ({cfg.batch_days} days, {day_rows:,} windows): {day_rate:12,.0f} windows/s",
        f"  training at the defaults (d{cfg.d_model} l{cfg.layers}, {cfg.ensemble} member(s)): "
        f"{result['train_windows_per_s']:,.0f} windows/s",
        f"  sampler share of a step:               {100 * result['sampler_share_of_step']:11.2f} %",
    ])


if __name__ == "__main__":
    main()
