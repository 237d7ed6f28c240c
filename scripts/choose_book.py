"""The book's defaults, chosen before the reported days: every (--keep, --drop) of a grid, and the sleeve book,
trades the blocks of a finished `equinet cv` after costs, each fold scored by its own best checkpoint; the grid
point with the best mean annual excess over the universe across the folds is the choice. --blocks test (the
default) trades the folds' out-of-sample blocks: run it on a cv of an earlier period (`equinet cv --until DAY`,
DAY the first day a later cv reports), so nothing reported chose it. --blocks val trades the folds' inner
validation blocks instead (which lie in the previous fold's block: not before a cv's own reported days).

    python scripts/choose_book.py out/cv-NAME [--blocks test] [--top 50] [--keep 50,100,200,400] [--drop 2,5,10,25]
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import numpy as np

from equinet.data.store import open_store
from equinet.evaluation.backtest import Rules, backtest
from equinet.evaluation.exchange import tape
from equinet.evaluation.scored import scored
from equinet.evaluation.scoring import load_rows
from equinet.training import rundir


def counts(text: str) -> list[int]:
    return [int(v) for v in text.split(",")]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("cv", type=Path)
    p.add_argument("--top", type=int, default=Rules().top)
    p.add_argument("--keep", type=counts, default=[50, 100, 200, 400])
    p.add_argument("--drop", type=counts, default=[2, 5, 10, 25])
    p.add_argument("--blocks", choices=("test", "val"), default="test")
    p.add_argument("--device", default="auto")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    cv = json.loads(rundir.Folder(args.cv).cv.read_text())
    t = tape(open_store(cv["store"]))
    books = [Rules(top=args.top, keep=k, drop=d) for k, d in itertools.product(args.keep, args.drop)
             if k >= args.top] + [Rules(top=args.top, hold=3)]
    table = {}  # (keep, drop, hold) -> per fold annual excess after costs, model
    for fold in cv["per_fold"]:
        folder = rundir.Folder(args.cv).fold(fold["k"])
        rows = load_rows(folder.rows) if args.blocks == "test" else scored(folder.path, "val", args.device).rows
        for rules in books:
            f = backtest(rows, t, ("model",), rules, 0)[0]["forecasters"]["model"]["after_costs"]
            table.setdefault((rules.keep, rules.drop, rules.hold), []).append(
                {"annual_excess": f["annual_excess"], "turnover": f["turnover"], "holding_days": f["holding_days"]})
    mean = {key: float(np.mean([r["annual_excess"] for r in folds])) for key, folds in table.items()}
    best = max((k for k in mean if k[2] == 0), key=mean.get)
    result = {"cv": str(args.cv), "until": cv.get("until"), "blocks": args.blocks, "top": args.top,
              "chosen": {"keep": best[0], "drop": best[1]},
              "grid": [{"keep": k, "drop": d, "hold": h, "mean_annual_excess": mean[(k, d, h)], "folds": folds}
                       for (k, d, h), folds in table.items()]}
    lines = [f"{'book':>22s}  mean excess / yr  per fold (after costs, {args.blocks} blocks)  turnover  days held"]
    for g in result["grid"]:
        name = f"sleeves, hold {g['hold']}" if g["hold"] else f"keep {g['keep']}, drop {g['drop']}"
        lines.append(f"{name:>22s}  {100 * g['mean_annual_excess']:+15.1f} %  "
                     + " ".join(f"{100 * f['annual_excess']:+7.1f} %" for f in g["folds"])
                     + f"  {100 * np.mean([f['turnover'] for f in g['folds']]):6.1f} %"
                     + f"  {np.mean([f['holding_days'] for f in g['folds']]):6.1f}")
    lines.append(f"chosen on the {args.blocks} blocks of {args.cv} (folds before {cv.get('until') or 'its end'}): "
                 f"--keep {best[0]} --drop {best[1]} (top {args.top})")
    print(json.dumps(result, indent=1) if args.json else "\n".join(lines))


if __name__ == "__main__":
    main()
