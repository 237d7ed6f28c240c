"""Evaluation speed, side by side in one run: batched windows on the device against one window at a time.

    python scripts/bench_eval.py [--data ../shared/data/a-share-319] [--single 1000] [--json]

Both paths run the same model (`equinet train`'s defaults, untrained) over the test split's windows (context 60):
ours batches every window of a day's universe; the original EquiNet's way sends them through the model one by one
(the head then reads the day's outputs together, as the dist head's day mean needs).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import torch

from benchdata import default_run, emit, encoder_flops, matmul_rate, parser
from equinet.features.sampler import windows
from equinet.training import checkpoint
from equinet.training.device import autocast
from equinet.training.forward import universe
from equinet.training.train import checkpoint_state
from equinet.inference.apply import apply
from equinet.evaluation.evaluate import collect, eval_pool, selection_mask


def main() -> None:
    options = parser(__doc__)
    options.add_argument("--single", type=int, default=1000, help="windows timed one at a time")
    args = options.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        _, run = default_run(args.data, args.device, tmp)
        for member in run.model.members:  # untrained outputs are 0; random ones make the two paths' check real
            torch.nn.init.normal_(member.head.weight, std=0.1)
        checkpoint.save(checkpoint_state(run), tmp / "best.pt")
        app = apply(tmp / "best.pt", device=args.device)

    mask = selection_mask(app, "test", None, None)
    t = time.perf_counter()
    rows = collect(app, mask)
    batched = len(rows.y) / (time.perf_counter() - t)

    dev = app.data.device
    first = eval_pool(app, mask).day.min().reshape(1).to(dev)
    stock, day = universe(app.data, first, app.context)  # one day's universe, one window at a time
    n = min(args.single, len(stock))
    singles, zero = [], torch.zeros(1, dtype=torch.long, device=dev)
    t = time.perf_counter()
    with torch.inference_mode():
        for s, d in zip(stock[:n].tolist(), day[:n].tolist()):
            x = windows(app.data, torch.tensor([s], device=dev), torch.tensor([d], device=dev), app.context)
            with autocast(dev, app.precision):
                singles.append(app.model(x, zero, 1).float())
    single = n / (time.perf_counter() - t)
    one = app.head.forecast(torch.cat(singles, dim=1), app.data.sigma[stock[:n], day[:n]],
                            torch.zeros(n, dtype=torch.long, device=dev), 1).p
    _, _, batched_day = app.forecast(first)
    agree = float((one - batched_day.p[:n]).abs().max()) if n == len(stock) else float("nan")

    flops = encoder_flops(app.model.cfg, app.context)
    peak = matmul_rate(dev, app.precision)
    result = {"device": str(dev), "precision": app.precision, "windows": int(len(rows.y)), "context": app.context,
              "batched_windows_per_s": batched, "one_at_a_time_windows_per_s": single,
              "speedup": batched / single, "max_abs_difference": float(agree),
              "flops_per_decision_day": flops, "matmul_flops_per_s": peak,
              "achieved_share_of_matmul_rate": batched * flops["window"] / peak}
    emit(result, args.json, [
        f"test split: {result['windows']:,} windows at context {app.context} on {dev} ({app.precision})",
        f"  batched (equinet eval):  {batched:10,.0f} windows/s",
        f"  one window at a time:    {single:10,.0f} windows/s  ({n:,} windows of the first day)",
        f"  speed-up:                {result['speedup']:10,.1f}x  (max |dP| between the two: {agree:.1e})",
        f"FLOPs per decision day: window encoder {flops['window'] / 1e6:.2f} M, causal encoder (issue 34) "
        f"{flops['causal'] / 1e6:.3f} M ({flops['window'] / flops['causal']:.0f}x fewer)",
        f"  batched eval reaches {batched * flops['window'] / 1e9:.2f} GFLOP/s = "
        f"{100 * result['achieved_share_of_matmul_rate']:.0f} % of this device's measured matmul rate "
        f"({peak / 1e9:.1f} GFLOP/s, {app.precision}, 1024 x 1024)",
    ])


if __name__ == "__main__":
    main()
