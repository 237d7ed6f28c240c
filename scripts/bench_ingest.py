"""Ingest speed, side by side in one run: `equinet.ingest` against a plain pandas.read_excel loop.

    python scripts/bench_ingest.py [--data ../shared/data/a-share-319] [--repeat 5] [--scale csv,vipdoc]
                                   [--size 5000x2500] [--json]

It also times both as whole processes (interpreter start-up and imports included), as a user meets them.
--scale ingests a synthetic market of --size in each named layout (csv: the export layout; vipdoc: a TDX tree of
.day files with an index and a gbbq), each in a child process so that its peak memory is its own.

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


def bench_scale(stocks: int, days: int, fmt: str) -> dict:
    """A synthetic market in one layout, ingested in a child process so its peak memory is its own."""
    from equinet.synth import synth

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
    args = options.parse_args()

    result: dict = {}
    if args.data.is_dir():
        result["shared"] = bench_shared(args.data, args.repeat)
        result["processes"] = bench_processes(args.data, args.repeat)
    else:
        result["shared"] = f"skipped: {args.data} not found"
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
    emit(result, args.json, lines)


if __name__ == "__main__":
    main()
