"""Training speed, side by side in one run: the device sampler against a per-sample Python sampler.

    python scripts/bench_train.py [--data ../shared/data/a-share-319] [--steps 20] [--json]

Figures: windows per second of both samplers over the same arrays (batch 256, context 60); training
samples per second at d-model 128, 4 layers, 8 heads, context 60, batch 256; the sampler's share of a step.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from benchdata import emit, parser, store_from
from equinet import open_store
from equinet.device import autocast, pick_device, pick_precision
from equinet.features import FEATURES, LabelRule, prepare
from equinet.model import EquiNet, ModelConfig
from equinet.sampler import room, sample, to_device, windows
from equinet.splits import by_date

BATCH, CONTEXT = 256, 60


def python_window(prep, s: int, t: int, length: int) -> np.ndarray:
    """One window sliced from the host arrays and normalised on its own, as the original EquiNet did."""
    x = prep.inputs[s, t - length + 1:t + 1].copy()
    x[:, :4] -= x[-1, 3]
    x[:, 4] -= x[:, 4].mean()
    known = x[:, 9:10]
    x[:, 7:9] = (x[:, 7:9] - (x[:, 7:9] * known).sum(0) / max(known.sum(), 1)) * known
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
    s, t = (torch.as_tensor(points[::len(points) // BATCH][:BATCH, i], device=data.device) for i in (0, 1))
    fast = windows(data.inputs, s, t, CONTEXT).cpu().numpy()
    slow = np.stack([python_window(prep, a, b, CONTEXT) for a, b in points[::len(points) // BATCH][:BATCH]])
    return bool(np.allclose(fast, slow, atol=1e-5))


def rate(fn, repeat: int) -> float:
    """Calls per second, after one warm-up call."""
    fn()
    t = time.perf_counter()
    for _ in range(repeat):
        fn()
    return repeat / (time.perf_counter() - t)


def main() -> None:
    options = parser(__doc__)
    options.add_argument("--steps", type=int, default=20, help="timed training steps")
    args = options.parse_args()

    device = pick_device(args.device)
    precision = pick_precision("auto", device)
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(store_from(args.data, Path(tmp)))
        prep = prepare(store, LabelRule())
    splits = by_date(store.meta["dates"], 3)
    data = to_device(prep, splits.masks(store.codes, store.meta["dates"]), 3, 20, device)
    space = room(prep, 3)
    points = np.argwhere(splits.masks(store.codes, store.meta["dates"])["train"] & (space >= CONTEXT))
    gen = torch.Generator(device=device).manual_seed(0)
    rng = np.random.default_rng(0)

    if not same_windows(data, prep, points):
        raise SystemExit("error: the device sampler and the Python sampler cut different windows")
    device_rate = rate(lambda: sample(data, "train", BATCH, CONTEXT, gen), 50) * BATCH
    python_rate = rate(lambda: python_batch(prep, points, rng, BATCH, CONTEXT), 5) * BATCH

    model = EquiNet(ModelConfig(len(FEATURES), 128, 4, 8)).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    timing = {"sample": 0.0, "step": 0.0}

    def step() -> None:
        t = time.perf_counter()
        x, y = sample(data, "train", BATCH, CONTEXT, gen)
        if device.type == "cuda":
            torch.cuda.synchronize()
        timing["sample"] += time.perf_counter() - t
        with autocast(device, precision):
            loss = F.cross_entropy(model(x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        timing["step"] += time.perf_counter() - t

    step()
    timing.update(sample=0.0, step=0.0)
    for _ in range(args.steps):
        step()
    result = {
        "device": str(device), "precision": precision, "stocks": len(store.codes), "days": len(store.meta["dates"]),
        "batch": BATCH, "context": CONTEXT,
        "device_sampler_windows_per_s": device_rate, "python_sampler_windows_per_s": python_rate,
        "sampler_speedup": device_rate / python_rate,
        "train_samples_per_s": args.steps * BATCH / timing["step"],
        "sampler_share_of_step": timing["sample"] / timing["step"],
        "parameters": model.n_params(),
    }
    emit(result, args.json, [
        f"{result['stocks']} stocks x {result['days']} days on {device} ({precision}), batch {BATCH}, context {CONTEXT}",
        f"  device sampler:        {device_rate:12,.0f} windows/s",
        f"  per-sample Python:     {python_rate:12,.0f} windows/s",
        f"  speed-up:              {result['sampler_speedup']:12,.0f}x",
        f"  training (d128 l4 h8): {result['train_samples_per_s']:12,.0f} samples/s",
        f"  sampler share of step: {100 * result['sampler_share_of_step']:11.2f} %",
    ])


if __name__ == "__main__":
    main()
