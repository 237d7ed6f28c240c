"""`equinet ingest`: a folder of TDX exports -> one validated, date-aligned store."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import polars as pl

from equinet.adjust import back_adjust, find_events
from equinet.checks import check_values
from equinet.findings import Finding, IngestError
from equinet.market import consensus_market
from equinet.store import FEATURES, FORMAT_VERSION, MARKET_FEATURES, STORE_FILES, check_target, read_meta, write_store
from equinet.tdx import MAX_FILE_BYTES, is_source, parse, read_raw, stock_code

PRICE_COLUMNS = ["start", "max", "min", "end", "volume"]  # -> open, high, low, close, volume


@dataclass
class IngestResult:
    """What an ingest did: 'built' or 'unchanged', the store's meta and every finding."""

    status: str
    out: Path
    meta: dict
    findings: list[Finding] = field(default_factory=list)


def _sha256(path: Path) -> str:
    """The file's hash, read in chunks; a file over the size cap is named by its size instead (it is rejected)."""
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        return f"too large: {size} bytes"
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(2**20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def list_sources(src: Path) -> tuple[list[Path], list[Finding]]:
    """The data files in src, sorted by name, and a note for each other file."""
    if not src.is_dir():
        raise FileNotFoundError(f"{src}: no such directory")
    files, notes = [], []
    try:
        entries = sorted(src.iterdir())
    except OSError as exc:
        raise FileNotFoundError(f"{src}: cannot list the folder: {exc.strerror or exc}") from None
    for path in entries:
        if path.is_file() and is_source(path):
            files.append(path)
        elif path.is_symlink() and not path.exists():
            notes.append(Finding("note", path.name, "a broken symbolic link (its target is missing or it loops); "
                                 "ignored"))
        elif not path.name.startswith("."):
            notes.append(Finding("note", path.name, "not an .xlsx/.csv data file; ignored"))
    return files, notes


def fingerprint(hashes: list[str], names: list[str], options: dict) -> str:
    """Identifies a store's inputs: every file's name and content, and the options."""
    blob = json.dumps([FORMAT_VERSION, sorted(zip(names, hashes)), options], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def _duplicate_codes(names: list[str], ok: list[int]) -> list[Finding]:
    seen: dict[str, str] = {}
    found = []
    for fid in ok:
        code = stock_code(Path(names[fid]))
        if code in seen:
            found.append(Finding("error", names[fid], f"stock code {code} also comes from {seen[code]}"))
        else:
            seen[code] = names[fid]
    return found


def _read_all(files: list[Path], workers: int, progress: Callable[[], None] | None):
    def one(path: Path):
        try:
            sha = _sha256(path)
            frame, findings = read_raw(path, path.name)
        except OSError as exc:
            sha, frame, findings = "unreadable", None, [Finding("error", path.name,
                                                                f"cannot read the file: {exc.strerror or exc}")]
        if progress:
            progress()
        return sha, frame, findings

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, files))


def _bars_long(panel: np.ndarray, market: np.ndarray, codes: list[str], calendar: np.ndarray) -> pl.DataFrame:
    s, d = np.nonzero(~np.isnan(panel[:, :, 3]))
    columns = {"code": pl.Series(np.array(codes)[s]), "date": pl.Series(calendar[d])}
    columns |= {f["name"]: panel[s, d, i].astype(np.float32) for i, f in enumerate(FEATURES)}
    columns |= {f["name"]: market[d, i] for i, f in enumerate(MARKET_FEATURES)}
    return pl.DataFrame(columns)


def ingest(
    src: str | Path,
    out: str | Path = "data/parquet",
    *,
    workers: int | None = None,
    strict: bool = True,
    adjust: bool = True,
    force: bool = False,
    progress: Callable[[], None] | None = None,
    on_start: Callable[[int], None] | None = None,
) -> IngestResult:
    """Read, validate, align, reconcile the market, adjust, and write the store atomically."""
    src, out = Path(src), Path(out)
    check_target(out)
    files, findings = list_sources(src)
    if not files:
        raise IngestError([Finding("error", str(src), "no .xlsx or .csv files found")])
    options = {"adjust": adjust, "strict": strict}
    names = [p.name for p in files]
    if on_start:
        on_start(len(files))
    read = _read_all(files, workers or os.cpu_count() or 1, progress)
    hashes = [sha for sha, _, _ in read]
    stamp = fingerprint(hashes, names, options)
    old = read_meta(out)
    if old is not None and old.get("fingerprint") == stamp and not force:
        return IngestResult("unchanged", out, old, [Finding(**f) for f in old["findings"]])

    frames = {fid: frame for fid, (_, frame, _) in enumerate(read) if frame is not None}
    findings += [f for _, _, fs in read for f in fs]
    bars = pl.DataFrame()
    if frames:
        bars, cell_findings = parse(frames, names)
        findings += cell_findings + check_values(bars, names)
    findings += _duplicate_codes(names, [fid for fid in frames if not any(
        f.level == "error" and f.file == names[fid] for f in findings)])
    bad = {f.file for f in findings if f.level == "error"}
    if bad and strict:
        raise IngestError(findings)
    good = [fid for fid in frames if names[fid] not in bad]
    if not good:
        raise IngestError(findings + [Finding("error", str(src), "no usable files left after validation")])
    bars = bars.filter(pl.col("file_id").is_in(good))

    code_of = {fid: stock_code(files[fid]) for fid in good}
    codes = sorted(code_of.values())
    row = {c: i for i, c in enumerate(codes)}
    calendar = np.unique(bars["date"].to_numpy())
    dates = [str(d) for d in calendar.astype("datetime64[D]")]
    stock = np.array([row[code_of[f]] for f in bars["file_id"].to_list()])
    day = np.searchsorted(calendar, bars["date"].to_numpy())
    panel = np.full((len(codes), len(calendar), len(PRICE_COLUMNS)), np.nan)
    panel[stock, day] = bars.select(PRICE_COLUMNS).to_numpy()

    market, disagree, market_findings = consensus_market(bars, calendar, names)
    findings += market_findings
    events = find_events(panel, codes, dates)
    for e in events:
        e["adjusted"] = adjust
    if adjust and events:
        panel = back_adjust(panel, events, codes, dates)

    skipped = sorted(bad)
    present = ~np.isnan(panel[:, :, 3])
    meta = {
        "format_version": FORMAT_VERSION,
        "files": list(STORE_FILES),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "fingerprint": stamp,
        "options": options,
        "source_dir": str(src.resolve()),
        "codes": codes,
        "dates": dates,
        "features": FEATURES,
        "market_features": MARKET_FEATURES,
        "sources": [
            {"file": names[fid], "code": stock_code(files[fid]), "sha256": hashes[fid],
             "rows": frames[fid].height if fid in frames else 0, "used": fid in good}
            for fid in range(len(files))
        ],
        "events": events,
        "market_disagreements": disagree,
        "market_unknown_days": [dates[i] for i in np.nonzero(np.isnan(market[:, 0]))[0]],
        "skipped": skipped,
        "findings": [f.to_json() for f in findings],
        "summary": {
            "stocks": len(codes),
            "days": len(dates),
            "first": dates[0],
            "last": dates[-1],
            "missing_bar_share": float(1 - present.mean()),
            "events": len(events),
            "skipped": len(skipped),
            "errors": sum(f.level == "error" for f in findings),
            "warnings": sum(f.level == "warning" for f in findings),
            "notes": sum(f.level == "note" for f in findings),
        },
    }
    write_store(out, panel, market, _bars_long(panel, market, codes, calendar), meta)
    return IngestResult("built", out, meta, findings)
