"""Fuzz `equinet ingest` with corrupted exports: exit 0 or 2, one-line messages, bounded memory, old store kept.

    python scripts/fuzz_ingest.py [--variants 300] [--seed 0] [--memory-cap-mib 1536] [--workers 2] [--json]

Each variant copies a small synthetic export folder (half .xlsx, half .csv), corrupts it in one way (a random
cell edit, a truncation, a wrong type or encoding, a huge, empty or binary file, a broken header), or changes it
the way real exports differ (empty rows anywhere, formulas without a saved value, the data on a second sheet,
dates with a time of day), runs the real CLI into a copy of an existing store and checks: the exit code is 0 or
2 (0 where the change is one ingest must take, 2 for formulas without values); stderr has no traceback and
every line is one finding or the summary; the child's peak RSS stays under the cap; and after a failure the
store is byte-identical. Not part of the test suite (it takes minutes); run by hand.
"""

from __future__ import annotations

import hashlib
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import polars as pl
import xlsxwriter

from benchdata import emit, parser
from equinet import ingest
from equinet.data.synth import frame, simulate, write

VALUES = ["", "abc", "NaN", "nan", "inf", "-inf", "1e400", "#NUM!", "#DIV/0!", "#N/A", "#VALUE!", "-5", "0",
          "99999999", "2023/13/45", "1.2.3", " ", "数据", "None", "TRUE"]
LINE = re.compile(r"^(error|warning|note): ")


def snapshot(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def edit_cell(rng: random.Random, path: Path) -> str:
    """One random cell of a data file set to a random bad-looking value."""
    df = read(path).with_columns(pl.all().cast(pl.String))
    column, row = rng.choice(df.columns), rng.randrange(df.height)
    value = rng.choice(VALUES + [df[column][rng.randrange(df.height)]])  # a copied value makes duplicate dates
    values = df[column].to_list()
    values[row] = value
    write(df.with_columns(pl.Series(column, values)), path)
    return f"cell {column} row {row + 2} = {value!r}"


def read(path: Path) -> pl.DataFrame:
    return pl.read_csv(path, infer_schema=False) if path.suffix == ".csv" else pl.read_excel(path, engine="calamine")


def workbook(path: Path, df: pl.DataFrame, formulas: set[tuple[int, int]] = frozenset(), notes: bool = False) -> None:
    """df as an .xlsx, as other programs write them: a notes sheet first, or formulas with no saved value at
    (row, column) (what a script writes that computes nothing)."""
    book = xlsxwriter.Workbook(path)
    if notes:
        book.add_worksheet("Notes").write(0, 0, "exported from TDX")
    sheet = book.add_worksheet("Data")
    sheet.write_row(0, 0, df.columns)
    for i, values in enumerate(df.cast(pl.String).iter_rows(), start=1):
        sheet.write_row(i, 0, values)
        for row, col in formulas:
            if row == i:
                sheet.write_formula(i, col, f"=B{i + 1}*1", None, "")
    book.close()


def real_world(rng: random.Random, path: Path, kind: str) -> str:
    """A change real exports show and ingest must handle: blank rows (taken), times of day (taken), a data sheet
    after a notes sheet (taken), formulas without saved values (refused, named)."""
    df = read(path)
    if kind == "blank_rows":
        if path.suffix == ".csv":
            lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
            for _ in range(rng.randint(1, 4)):
                lines.insert(rng.randrange(1, len(lines) + 1), rng.choice(["\n", ",,,,,,,,\n", " , ,,,,,,,\n"]))
            path.write_text("".join(lines), encoding="utf-8")
        else:
            n = rng.randint(1, 3)
            blank = pl.DataFrame({c: [" "] * n for c in df.columns})
            at = rng.randrange(1, df.height)
            workbook(path, pl.concat([df.head(at).cast(pl.String), blank, df.slice(at).cast(pl.String), blank]))
    elif kind == "time_of_day":
        write(df.with_columns(pl.col("time") + rng.choice([" 15:00:00", " 15:00", "T15:00:00"])), path)
    elif kind == "second_sheet":
        path = path.with_suffix(".xlsx")
        workbook(path, df, notes=True)
    else:
        path = path.with_suffix(".xlsx")
        workbook(path, df, {(rng.randrange(1, df.height + 1), rng.randrange(1, 9)) for _ in range(rng.randint(1, 9))})
    return path.name


EXPECTED = {"blank_rows": 0, "time_of_day": 0, "second_sheet": 0, "formula": 2}  # what ingest must answer


def mutate(rng: random.Random, folder: Path) -> tuple[str, int | None]:
    """Corrupt or change the folder in one random way; returns what was done and the exit code it must give
    (None: 0 or 2)."""
    files = sorted(folder.iterdir())
    path = rng.choice(files)
    kind = rng.choice(["cell", "cell", "cell", "truncate", "swap_type", "encoding", "huge", "empty", "binary",
                       "header", "drop_rows", "zip_bomb", "bytes", *EXPECTED])
    if kind in EXPECTED:
        name = real_world(rng, path, kind)
        if name != path.name:
            path.unlink()
        return f"{name}: {kind}", EXPECTED[kind]
    return _corrupt(rng, path, kind), None


def _corrupt(rng: random.Random, path: Path, kind: str) -> str:
    data = path.read_bytes()
    if kind == "cell":
        return f"{path.name}: {edit_cell(rng, path)}"
    if kind == "truncate":
        path.write_bytes(data[: rng.randrange(len(data))])
    elif kind == "swap_type":
        path.rename(path.with_suffix(".xlsx" if path.suffix == ".csv" else ".csv"))
    elif kind == "encoding":
        if path.suffix == ".csv":
            text = data.decode() + rng.choice(["", "数据来源:通达信\n", "#数据来源:通达信\n"])
            path.write_bytes(text.encode(rng.choice(["gbk", "utf-16", "utf-8-sig", "gb18030", "utf-16-le"])))
        else:
            path.write_bytes(data.decode("latin-1").encode("utf-8"))
    elif kind == "huge":
        with open(path, "r+b") as f:
            f.truncate(rng.choice([65, 200, 1024]) * 2**20)
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "binary":
        path.write_bytes(rng.randbytes(rng.choice([10, 5000, 200_000])))
    elif kind == "header":
        df = read(path)
        cols = df.columns
        choice = rng.choice(["drop", "rename", "extra", "shuffle"])
        if choice == "drop":
            df = df.drop(rng.choice(cols))
        elif choice == "rename":
            df = df.rename({rng.choice(cols): "????"})
        elif choice == "extra":
            df = df.with_columns(pl.lit("x").alias("extra"))
        else:
            df = df.select(rng.sample(cols, len(cols)))
        write(df, path)
        return f"{path.name}: header {choice}"
    elif kind == "drop_rows":
        df = read(path)
        write(df.sample(fraction=rng.choice([0.05, 0.3, 1.0]), shuffle=True, seed=rng.randrange(1000)), path)
    elif kind == "zip_bomb":
        path = path.with_suffix(".xlsx")
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z, z.open("xl/worksheets/sheet1.xml", "w") as f:
            for _ in range(300):
                f.write(bytes(2**20))
    elif kind == "bytes":
        b = bytearray(data)
        for _ in range(rng.randint(1, 20)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        path.write_bytes(bytes(b))
    return f"{path.name}: {kind}"


def run_one(i: int, seed: int, base: Path, store: Path, work: Path, cap_mib: float) -> dict:
    """One variant: corrupt a copy of base, ingest into a copy of store, check every promise."""
    rng = random.Random(seed * 100_003 + i)
    raw, out = work / f"raw{i}", work / f"store{i}"
    shutil.copytree(base, raw)
    shutil.copytree(store, out)
    before = snapshot(out)
    what, expected = mutate(rng, raw)
    t = time.perf_counter()
    with open(work / f"out{i}", "w+") as out_log, open(work / f"err{i}", "w+") as err_log:
        proc = subprocess.Popen([sys.executable, "-m", "equinet", "ingest", str(raw), "--out", str(out), "--force"],
                                stdout=out_log, stderr=err_log)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak RSS
        out_log.seek(0), err_log.seek(0)
        stdout, stderr = out_log.read(), err_log.read()
    code, peak = os.waitstatus_to_exitcode(status), usage.ru_maxrss / 1024
    problems = []
    if code not in (0, 2) or (expected is not None and code != expected):
        problems.append(f"exit code {code}" + (f" where {expected} is right" if expected is not None else ""))
    if "Traceback" in stderr or "Traceback" in stdout:
        problems.append("traceback")
    odd = [ln for ln in stderr.splitlines() if ln.strip() and not LINE.match(ln)]
    if odd:
        problems.append(f"stderr line that is not a finding: {odd[0][:120]!r}")
    if code != 0 and snapshot(out) != before:
        problems.append("the old store changed after a failure")
    if peak > cap_mib:
        problems.append(f"peak RSS {peak:.0f} MiB above the cap")
    shutil.rmtree(raw)
    shutil.rmtree(out)
    first = next((ln for ln in stderr.splitlines() if ln.startswith("error:")), "")
    return {"variant": i, "mutation": what, "exit": code, "seconds": round(time.perf_counter() - t, 2),
            "peak_mib": peak, "message": first[:160], "problems": problems}


def main() -> None:
    p = parser(__doc__, device=False)
    p.add_argument("--variants", type=int, default=300)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--memory-cap-mib", type=float, default=1536)
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        sim = simulate(stocks=6, days=60, seed=args.seed)
        base = tmp / "base"
        base.mkdir()
        for s, code in enumerate(sim["codes"]):
            write(frame(sim, s), base / f"processed_{code}.{'xlsx' if s % 2 else 'csv'}")
        ingest(base, tmp / "store")
        with ThreadPoolExecutor(args.workers) as pool:
            rows = list(pool.map(lambda i: run_one(i, args.seed, base, tmp / "store", tmp, args.memory_cap_mib),
                                 range(args.variants)))
    failed = [r for r in rows if r["problems"]]
    result = {"variants": len(rows), "exit_0": sum(r["exit"] == 0 for r in rows),
              "exit_2": sum(r["exit"] == 2 for r in rows), "failed": len(failed),
              "max_peak_mib": max(r["peak_mib"] for r in rows), "max_seconds": max(r["seconds"] for r in rows),
              "failures": failed}
    lines = [f"{len(rows)} variants: {result['exit_0']} exit 0, {result['exit_2']} exit 2, {len(failed)} broke a "
             f"promise; peak RSS at most {result['max_peak_mib']:.0f} MiB, slowest {result['max_seconds']:.1f} s"]
    lines += [f"  variant {r['variant']} ({r['mutation']}): {'; '.join(r['problems'])}" for r in failed]
    emit(result, args.json, lines)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
