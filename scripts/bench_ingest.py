"""Ingest speed, side by side in one run: `equinet.data.ingest` against a plain pandas.read_excel loop.

    python scripts/bench_ingest.py [--data ../shared/data/a-share-319] [--repeat 5] [--scale csv,vipdoc]
                                   [--size 5000x2500] [--market ../shared/data/a-share-market] [--json]

It also times both as whole processes (interpreter start-up and imports included), as a user meets them.
--scale ingests a synthetic market of --size in each named layout (csv: the export layout; vipdoc: a TDX tree of
.day files with an index and a gbbq), each in a child process so that its peak memory is its own. --market times,
as whole processes in one run, `equinet ingest` of the whole-market vendor archive against a Python process that
only reads the same files with pandas.read_csv, and one that only reads them with polars (peak memory of each from
the kernel's rusage of the child; the load average beside the times).

Needs the bench extra for the baseline: pip install -e '.[bench]'.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchdata import emit, parser


CHILD = """
import json, resource, sys, time
from equinet import ingest
t = time.perf_counter()
meta = ingest(sys.argv[1], sys.argv[2], force=True).meta
seconds = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "peak_mib": peak, "stocks": meta["summary"]["stocks"],
                  "days": meta["summary"]["days"], "torch_imported": "torch" in sys.modules}))
"""


def timings(fn, repeat: int) -> dict:
    """min and median wall time of repeat calls."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return {"min": min(times), "median": statistics.median(times), "runs": times}


def bench_shared(data: Path, repeat: int) -> dict:
    import pandas as pd

    from equinet import ingest

    files = sorted(data.glob("*.xlsx"))
    with tempfile.TemporaryDirectory() as tmp:
        ours = timings(lambda: ingest(data, Path(tmp) / "store", force=True), repeat)
    pandas = timings(lambda: [pd.read_excel(f) for f in files], repeat)
    return {"files": len(files), "equinet": ours, "pandas_read_excel_loop": pandas,
            "speedup_min": pandas["min"] / ours["min"], "speedup_median": pandas["median"] / ours["median"]}


PANDAS_LOOP = """
import sys
from pathlib import Path
import pandas as pd
frames = [pd.read_excel(f) for f in sorted(Path(sys.argv[1]).glob("*.xlsx"))]
"""


def bench_processes(data: Path, repeat: int) -> dict:
    """Whole processes, interpreter start-up and imports included, as a user runs them: `equinet ingest` against
    a Python process that runs the pandas.read_excel loop."""
    with tempfile.TemporaryDirectory() as tmp:
        ours = timings(lambda: subprocess.run([sys.executable, "-m", "equinet", "ingest", str(data), "--out",
                                               str(Path(tmp) / "store"), "--force", "--json"],
                                              check=True, capture_output=True), repeat)
    pandas = timings(lambda: subprocess.run([sys.executable, "-c", PANDAS_LOOP, str(data)], check=True,
                                            capture_output=True), repeat)
    return {"equinet_ingest_process": ours, "pandas_loop_process": pandas,
            "speedup_min": pandas["min"] / ours["min"], "speedup_median": pandas["median"] / ours["median"]}


MARKET_LOOP = """
import sys
from pathlib import Path
import {lib} as lib
frames = [lib.read_csv(f, {skip}) for f in sorted(Path(sys.argv[1]).glob("*.csv.gz"))]
"""


def child(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one child process."""
    import os

    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"{cmd[:4]} failed")
    return time.perf_counter() - t, usage.ru_maxrss / 1024


def bench_market(data: Path, repeat: int) -> dict:
    """The whole-market archive as whole processes: equinet ingest vs read-only pandas and polars loops."""
    import os

    with tempfile.TemporaryDirectory() as tmp:
        runs = {
            "equinet_ingest": [sys.executable, "-m", "equinet", "ingest", str(data), "--out", str(Path(tmp) / "s"),
                               "--force", "--json"],
            "pandas_read_csv_loop": [sys.executable, "-c", MARKET_LOOP.format(lib="pandas", skip="skiprows=1"),
                                     str(data)],
            "polars_read_csv_loop": [sys.executable, "-c", MARKET_LOOP.format(lib="polars", skip="skip_rows=1"),
                                     str(data)],
        }
        out = {"load_before": os.getloadavg()[0]}
        for name, cmd in runs.items():
            measured = [child(cmd) for _ in range(repeat)]
            out[name] = {"min": min(m[0] for m in measured), "median": statistics.median(m[0] for m in measured),
                         "peak_mib": max(m[1] for m in measured)}
        out["load_after"] = os.getloadavg()[0]
    out["speedup_vs_pandas"] = out["pandas_read_csv_loop"]["min"] / out["equinet_ingest"]["min"]
    return out


def bench_scale(stocks: int, days: int, fmt: str) -> dict:
    """A synthetic market in one layout, ingested in a child process so its peak memory is its own."""
    from equinet.data.synth import synth

    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        synth(Path(tmp) / "raw", stocks=stocks, days=days, seed=0, fmt=fmt)
        made = time.perf_counter() - t
        out = subprocess.run([sys.executable, "-c", CHILD, str(Path(tmp) / "raw"), str(Path(tmp) / "store")],
                             capture_output=True, text=True, check=True)
    return {"format": fmt, "stocks": stocks, "days": days, "synth_seconds": made, **json.loads(out.stdout)}


def main() -> None:
    options = parser(__doc__, device=False)
    options.add_argument("--repeat", type=int, default=5)
    options.add_argument("--scale", default="csv,vipdoc", help="layouts of the synthetic scale run, or 'none'")
    options.add_argument("--size", default="5000x2500", help="STOCKSxDAYS of the synthetic scale run")
    options.add_argument("--market", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data"
                         / "a-share-market", help="the whole-market vendor archive ('none' skips it)")
    args = options.parse_args()

    result: dict = {}
    if args.data.is_dir():
        result["shared"] = bench_shared(args.data, args.repeat)
        result["processes"] = bench_processes(args.data, args.repeat)
    else:
        result["shared"] = f"skipped: {args.data} not found"
    if args.market.is_dir():
        result["market"] = bench_market(args.market, min(args.repeat, 3))
    if args.scale != "none":
        stocks, days = map(int, args.size.lower().split("x"))
        result["scale"] = [bench_scale(stocks, days, fmt) for fmt in args.scale.split(",")]
    shared = result["shared"]
    if isinstance(shared, str):
        lines = [shared]
    else:
        e, p = shared["equinet"], shared["pandas_read_excel_loop"]
        lines = [f"{shared['files']} files, {args.repeat} runs each",
                 f"  equinet ingest (read .. rename): min {e['min']:.3f} s  median {e['median']:.3f} s",
                 f"  pandas.read_excel loop:          min {p['min']:.3f} s  median {p['median']:.3f} s",
                 f"  speed-up: {shared['speedup_min']:.1f}x (min)  {shared['speedup_median']:.1f}x (median)"]
        proc = result["processes"]
        e, p = proc["equinet_ingest_process"], proc["pandas_loop_process"]
        lines += ["whole processes (start-up and imports included):",
                  f"  equinet ingest:                  min {e['min']:.3f} s  median {e['median']:.3f} s",
                  f"  python running the pandas loop:  min {p['min']:.3f} s  median {p['median']:.3f} s",
                  f"  speed-up: {proc['speedup_min']:.1f}x (min)  {proc['speedup_median']:.1f}x (median)"]
    for s in result.get("scale", []):
        lines.append(f"scale, {s['format']}: {s['stocks']} stocks x {s['days']} days: ingest {s['seconds']:.1f} s, "
                     f"peak memory {s['peak_mib']:.0f} MiB (synth took {s['synth_seconds']:.1f} s); "
                     f"torch imported: {s['torch_imported']}")
    if "market" in result:
        m = result["market"]
        lines.append(f"whole market ({args.market.name}), whole processes, min of {min(args.repeat, 3)} (load "
                     f"{m['load_before']:.2f} -> {m['load_after']:.2f}):")
        for name in ("equinet_ingest", "pandas_read_csv_loop", "polars_read_csv_loop"):
            lines.append(f"  {name:22} min {m[name]['min']:.1f} s  median {m[name]['median']:.1f} s  peak "
                         f"{m[name]['peak_mib']:.0f} MiB")
        lines.append(f"  equinet ingest vs the pandas loop: {m['speedup_vs_pandas']:.2f}x")
    emit(result, args.json, lines)


if __name__ == "__main__":
    main()
