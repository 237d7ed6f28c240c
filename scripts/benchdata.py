"""What the benchmarks share: their common options, a store to run on, and how they print."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from equinet import ingest, synth

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "a-share-319"


def parser(doc: str, device: bool = True) -> argparse.ArgumentParser:
    """--data and --json, which every benchmark takes, and --device for those that run the model."""
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of TDX exports")
    if device:
        p.add_argument("--device", default="auto")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    return p


def emit(result: dict, as_json: bool, lines: list[str]) -> None:
    """The figures as one JSON object (--json), else as the lines for a reader."""
    print(json.dumps(result, indent=1) if as_json else "\n".join(lines))


def store_from(data: Path, tmp: Path) -> Path:
    """Ingest the shared data, or (saying so) 300 synthetic stocks when it is absent."""
    if not data.is_dir():
        print(f"{data} not found: benchmarking on 300 synthetic stocks x 320 days instead")
        data = synth(tmp / "raw", stocks=300, days=320)[0].parent
    ingest(data, tmp / "store")
    return tmp / "store"


def default_run(data: Path, device: str, tmp: Path):
    """The store and a fresh `equinet train` run at its defaults on it: what the model benchmarks time."""
    from equinet.training.train import TrainConfig, start

    store = store_from(data, tmp)
    return store, start(TrainConfig(data=str(store), out=str(tmp / "out"), name="bench", device=device))


def encoder_flops(cfg, context: int, read: int) -> dict[str, float]:
    """FLOPs (2 x multiply-adds) of one decision day's forecast, the linear layers and attention of every member
    (layer norms, GELU, softmax and --cross left out: a few % of either):
    window: the window encoder this replaced, every window encoded from scratch over `context` days (its last block
    queried the decision day alone); causal: this encoder as built, a chunk of `read` days read out after its
    warm-up, each block computing only the days the blocks after it reach, its attention over all the days it holds
    (masked beyond its reach); ideal: each stock-day encoded once, attending only to the days its reach allows."""
    d, L, r, n, F = cfg.d_model, context, cfg.mlp_ratio, cfg.layers, cfg.n_features
    mlp, qkv, proj = 2 * r * d * d, 3 * d * d, d * d  # per day that passes through them
    window = (L * F * d + (n - 1) * (L * (qkv + proj + mlp) + 2 * L * L * d)
              + L * qkv + 2 * L * d + proj + mlp + d * cfg.n_out)
    T = cfg.warmup + read  # the chunk's days; block i computes the days from starts[i + 1] on, over keys from starts[i]
    starts = [0] + [max(0, cfg.warmup - (n - 1 - i) * cfg.reach) for i in range(n)]
    chunk = T * F * d + read * d * cfg.n_out
    for i in range(n):
        keys, queries = T - starts[i], T - starts[i + 1]
        chunk += keys * qkv + queries * (proj + mlp) + 2 * queries * keys * d
    ideal = F * d + n * (qkv + proj + mlp + 2 * (cfg.reach + 1) * d) + d * cfg.n_out
    return {k: 2.0 * cfg.members * v for k, v in (("window", window), ("causal", chunk / read), ("ideal", ideal))}


def matmul_rate(device, precision: str, size: int = 1024, seconds: float = 0.5) -> float:
    """The device's measured dense matmul rate in FLOP/s at the run's precision: the physical limit a model's
    linear layers approach."""
    import time

    import torch

    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    a, b = (torch.randn(size, size, device=device, dtype=dtype) for _ in range(2))
    torch.mm(a, b)  # warm-up
    done, t = 0, time.perf_counter()
    while time.perf_counter() - t < seconds:
        torch.mm(a, b)
        done += 1
    if device.type == "cuda":
        torch.cuda.synchronize()
    return 2 * size ** 3 * done / (time.perf_counter() - t)
