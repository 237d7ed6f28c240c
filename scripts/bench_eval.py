"""Evaluation speed, side by side in one run: each stock's history in chunks (every day computed once) against
one decision day at a time (each from its own warm-up, as a window per decision day costs).

    python scripts/bench_eval.py [--data ../shared/data/a-share-319] [--single 1000] [--json]

Both paths run the same model (`equinet train`'s defaults, random head weights) over the test split's rows: ours
runs every stock's history in chunks of days; the baseline sends each decision day through the model on its own,
with the warm-up its receptive field needs (the head then reads the day's outputs together, as the dist head's
day mean needs), and the two must agree. Also the FLOPs per decision day of each way and of the window encoder
this replaced, and the device's measured matmul rate.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import torch

from benchdata import default_run, emit, encoder_flops, matmul_rate, parser
from equinet.features.sampler import chunk
from equinet.training import checkpoint
from equinet.training.device import autocast
from equinet.training.forward import EVAL_DAYS, universe
from equinet.training.train import checkpoint_state
from equinet.inference.apply import apply
from equinet.evaluation.evaluate import collect, selected, selection_mask


def main() -> None:
    options = parser(__doc__)
    options.add_argument("--single", type=int, default=1000, help="decision days timed one at a time")
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
    first = selected(app, mask)[1].min().reshape(1).to(dev)
    stock, day = universe(app.data, first, app.context)  # one day's universe, one decision day at a time
    n = min(args.single, len(stock))
    singles, zero = [], torch.zeros(1, dtype=torch.long, device=dev)
    warm = app.model.cfg.warmup
    t = time.perf_counter()
    with torch.inference_mode():
        for s, d in zip(stock[:n].tolist(), day[:n].tolist()):
            w = min(warm, d)
            c = chunk(app.data, torch.tensor([s], device=dev), d - w, d + 1, w, zero)
            with autocast(dev, app.precision):
                singles.append(app.model(c, zero, 1).float())
    single = n / (time.perf_counter() - t)
    one = app.head.forecast(torch.cat(singles, dim=1), app.data.sigma[stock[:n], day[:n]],
                            torch.zeros(n, dtype=torch.long, device=dev), 1).p
    _, _, batched_day = app.forecast(first)
    agree = float((one - batched_day.p[:n]).abs().max()) if n == len(stock) else float("nan")

    flops = encoder_flops(app.model.cfg, app.context, EVAL_DAYS)
    peak = matmul_rate(dev, app.precision)
    result = {"device": str(dev), "precision": app.precision, "rows": int(len(rows.y)), "context": app.context,
              "chunked_rows_per_s": batched, "one_at_a_time_rows_per_s": single,
              "speedup": batched / single, "max_abs_difference": float(agree), "load_average": os.getloadavg()[0],
              "flops_per_decision_day": flops, "matmul_flops_per_s": peak,
              "achieved_share_of_matmul_rate": batched * flops["causal"] / peak}
    emit(result, args.json, [
        f"test split: {result['rows']:,} decision days (context {app.context}) on {dev} ({app.precision}), load "
        f"{result['load_average']:.2f}",
        f"  in chunks (equinet eval):  {batched:10,.0f} rows/s",
        f"  one decision day at a time: {single:9,.0f} rows/s  ({n:,} of the first day)",
        f"  speed-up:                  {result['speedup']:10,.1f}x  (max |dP| between the two: {agree:.1e})",
        f"FLOPs per decision day: this encoder in chunks of {EVAL_DAYS} days {flops['causal'] / 1e6:.3f} M (each "
        f"day once, attention over the whole chunk: {flops['ideal'] / 1e6:.3f} M with attention cut to its reach); "
        f"the window encoder it replaced {flops['window'] / 1e6:.2f} M ({flops['window'] / flops['causal']:.0f}x)",
        f"  eval reaches {batched * flops['causal'] / 1e9:.2f} GFLOP/s = "
        f"{100 * result['achieved_share_of_matmul_rate']:.0f} % of this device's measured matmul rate "
        f"({peak / 1e9:.1f} GFLOP/s, {app.precision}, 1024 x 1024)",
    ])


if __name__ == "__main__":
    main()
