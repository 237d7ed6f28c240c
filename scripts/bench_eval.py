"""Evaluation speed, side by side in one run: batched windows on the device against one window at a time.

    python scripts/bench_eval.py [--data ../shared/data/a-share-319] [--single 1000] [--json]

Both paths run the same d-model 128, 4-layer, 8-head model over the test split's windows (context 60): ours
batches every window; the original EquiNet's way sends them through the model one by one.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from benchdata import emit, parser, store_from
from equinet import checkpoint
from equinet.device import autocast
from equinet.evaluate import collect, eval_pool, selection_mask
from equinet.infer import apply
from equinet.sampler import windows
from equinet.train import TrainConfig, checkpoint_state, start

def main() -> None:
    options = parser(__doc__)
    options.add_argument("--single", type=int, default=1000, help="windows timed one at a time")
    args = options.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        store = store_from(args.data, tmp)
        run = start(TrainConfig(data=str(store), out=str(tmp / "out"), name="bench", device=args.device))
        checkpoint.save(checkpoint_state(run), tmp / "best.pt")
        app = apply(tmp / "best.pt", device=args.device)

    mask = selection_mask(app, "test", None, None)
    t = time.perf_counter()
    rows = collect(app, mask)
    batched = len(rows.y) / (time.perf_counter() - t)

    pool = eval_pool(app, mask)
    dev = app.data.device
    n = min(args.single, len(pool))
    singles = []
    t = time.perf_counter()
    with torch.inference_mode():
        for s, d in zip(pool.stock[:n].tolist(), pool.day[:n].tolist()):
            x = windows(app.data.inputs, torch.tensor([s], device=dev), torch.tensor([d], device=dev), app.context)
            with autocast(dev, app.precision):
                singles.append(torch.softmax(app.model(x).float(), -1))
    single = n / (time.perf_counter() - t)
    agree = np.abs(torch.cat(singles).cpu().numpy() - rows.p["model"][:n]).max()

    result = {"device": str(dev), "precision": app.precision, "windows": int(len(rows.y)), "context": app.context,
              "batched_windows_per_s": batched, "one_at_a_time_windows_per_s": single,
              "speedup": batched / single, "max_abs_difference": float(agree)}
    emit(result, args.json, [
        f"test split: {result['windows']:,} windows at context {app.context} on {dev} ({app.precision})",
        f"  batched (equinet eval):  {batched:10,.0f} windows/s",
        f"  one window at a time:    {single:10,.0f} windows/s  (first {n:,} windows)",
        f"  speed-up:                {result['speedup']:10,.1f}x  (max |dP| between the two: {agree:.1e})",
    ])


if __name__ == "__main__":
    main()
