"""`equinet ingest`: a folder of TDX exports -> one validated, date-aligned store."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import polars as pl

from equinet.core.board import limit_rates, listing_age, special_treatment
from equinet.core.findings import Finding, IngestError
from equinet.data.adjust import (action_events, back_adjust, day_factors, disagreements, find_events,
                                 preclose_events)
from equinet.data.limits import quoted_limits
from equinet.data.checks import check_values, drop_nonpositive_history, drop_suspended
from equinet.data.market import consensus_market, stocks_market
from equinet.data.store import (FEATURES, FORMAT_VERSION, MARKET_FEATURES, STORE_FILES, check_target, lock_store, read_meta,
                           release_store, write_store)
from equinet.data.sources import DEFAULT_INDEX, KINDS, Kind, Read, Source, detect, index_market, relabel
from equinet.data.sources.rows import MAX_FILE_BYTES, parse
from equinet.data.sources.vendor import PRECLOSE

PRICE_COLUMNS = ["start", "max", "min", "end", "volume"]  # -> open, high, low, close, volume
STALE_WINDOW, STALE_FEW, STALE_SHARE = 5, 1, 0.01  # a stock whose data ends this close to the last day is stale (or
# suspended): more than a few such stocks (more than one, and more than 1 % of the store) are named in a warning


def stale_stocks(present: np.ndarray) -> np.ndarray:
    """The stocks whose last bar is within the store's last STALE_WINDOW days but not on its last day (a stock that
    ended long before was delisted)."""
    last = present.shape[1] - 1 - np.argmax(present[:, ::-1], axis=1)
    return np.flatnonzero((last < present.shape[1] - 1) & (last >= present.shape[1] - 1 - STALE_WINDOW)
                          & present.any(1))


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
    with path.open("rb") as f:  # a file, or a member of a .zip SRC (hashed as it unpacks)
        for chunk in iter(lambda: f.read(2**20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fingerprint(hashes: list[str], names: list[str], options: dict) -> str:
    """Identifies a store's inputs: every file's name and content, and the options."""
    blob = json.dumps([FORMAT_VERSION, sorted(zip(names, hashes)), options], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def _duplicate_codes(names: list[str], codes: list[str], ok: list[int], bars: pl.DataFrame) -> list[Finding]:
    """Two files of one stock: the one that covers later days is kept, then the one with the exchange's previous
    close, then the first by name; each other one is an error (strict: nothing is written; --lenient leaves it out)
    that says which file is kept and why."""
    by_code: dict[str, list[int]] = {}
    for fid in ok:
        by_code.setdefault(codes[fid], []).append(fid)
    twins = [fid for fids in by_code.values() if len(fids) > 1 for fid in fids]
    if not twins:
        return []
    has = bars.filter(pl.col("file_id").is_in(twins)).group_by("file_id").agg(
        pl.col("date").max().alias("last"),
        (pl.col("preclose").is_finite().any() if "preclose" in bars.columns else pl.lit(False)).alias("exact"))
    last, exact = ({fid: v for fid, v in zip(has["file_id"], has[c])} for c in ("last", "exact"))
    found = []
    for code, fids in by_code.items():
        if len(fids) < 2:
            continue
        kept, *rest = sorted(fids, key=lambda f: (-last[f].toordinal(), not exact[f], names[f]))
        for fid in rest:
            why = (f"which covers later days (to {last[kept]}; this file to {last[fid]})" if last[kept] > last[fid]
                   else "which has the exchange's previous close (this file has not)" if exact[kept] > exact[fid]
                   else "which comes first by name (both cover the same days)")
            found.append(Finding("error", names[fid], f"stock code {code} also comes from {names[kept]}, {why}: "
                                 "that file is used and this one left out"))
    return found


def _read_all(files: list[Path], names: list[str], kind: Kind, workers: int, progress: Callable[[], None] | None
              ) -> list[tuple[str, Read]]:
    """Every file's hash and rows, read by the kind's reader on a pool of threads (each file ticks progress)."""
    def ticking(fn: Callable, *args):
        out = fn(*args)
        if progress:
            progress()
        return out

    with ThreadPoolExecutor(max_workers=workers) as pool:
        hashes = pool.map(_sha256_or_unreadable, files)
        reads = kind.read(files, names, lambda fn, *its: pool.map(functools.partial(ticking, fn), *its))
        return list(zip(hashes, reads))


def _sha256_or_unreadable(path: Path) -> str:
    try:
        return _sha256(path)
    except OSError:
        return "unreadable"


def day_index(days: np.ndarray, calendar: np.ndarray) -> np.ndarray:
    """Each bar's day in the calendar (days and calendar as days since 1970), by a table over the calendar's span:
    one lookup per bar instead of a search."""
    first = calendar.astype("datetime64[D]").astype(np.int64)
    table = np.zeros(first[-1] - first[0] + 1, np.int64)
    table[first - first[0]] = np.arange(len(first))
    return table[days.astype(np.int64) - first[0]]


def by_stock(file_id: np.ndarray, to_row: np.ndarray) -> np.ndarray:
    """The order that puts bars (by file, each file's by date) in the store's (stock, day) order: whole files
    moved, not every bar sorted."""
    starts = np.flatnonzero(np.diff(file_id, prepend=-1))  # where each file's bars begin (none without bars)
    ends = np.r_[starts[1:], len(file_id)]
    return np.concatenate([np.arange(starts[b], ends[b]) for b in np.argsort(to_row[file_id[starts]])] or [[]]
                          ).astype(np.int64)


def _bars_long(panel: np.ndarray, market: np.ndarray, codes: list[str], calendar: np.ndarray,
               day_names: pl.Series) -> pl.DataFrame:
    """The store in long form, one row per bar in (stock, day) order; day_names: each bar's name in that order."""
    has = ~np.isnan(panel[:, :, 3])
    s, d = np.nonzero(has)
    columns = {"code": pl.Series(codes).gather(s), "date": pl.Series(calendar).gather(d),
               "name": day_names.alias("name")}  # the stock's name that day ("" where unknown)
    bar = np.take(panel.reshape(-1, panel.shape[2]), np.flatnonzero(has), axis=0).astype(np.float32)  # [bars, 5]
    day = market[d]
    columns |= {f["name"]: bar[:, i] for i, f in enumerate(FEATURES)}
    columns |= {f["name"]: day[:, i] for i, f in enumerate(MARKET_FEATURES)}
    return pl.DataFrame(columns)


def ingest(
    src: str | Path,
    out: str | Path = "data/parquet",
    *,
    workers: int | None = None,
    strict: bool = True,
    adjust: bool = True,
    force: bool = False,
    universe: str = "a-shares",
    market_index: str = DEFAULT_INDEX,
    gbbq: str | Path | None = None,
    progress: Callable[[], None] | None = None,
    on_start: Callable[[int], None] | None = None,
) -> IngestResult:
    """Read, validate, align, reconcile the market, adjust, and write the store atomically; one writer per store
    at a time (another ingest into the same --out is refused while this one runs)."""
    src, out = Path(src), Path(out)
    check_target(out)
    lock_store(out)
    try:
        return _ingest(src, out, workers=workers, strict=strict, adjust=adjust, force=force, universe=universe,
                       market_index=market_index, gbbq=gbbq, progress=progress, on_start=on_start)
    finally:
        release_store(out)


@dataclass
class Sources:
    """The read stage: every file's rows and what it declares, as its kind's reader gave them."""

    src: Path
    source: Source
    names: list[str]  # each stock file as findings name it (relative to the source's root)
    hashes: list[str]
    stamp: str  # the fingerprint of every file and the options
    options: dict
    gbbq: Path | None
    frames: dict[int, pl.DataFrame]  # file -> its rows (the readable files)
    index: Read | None  # the market index file, where the source has one
    adjustment: list[str]
    stock_names: list[str | None]
    units: dict[int, dict[str, float]]
    labels: dict[str, dict[str, str]]  # file name -> its own names of the layout's columns
    preclose_from: list[str | None]
    findings: list[Finding]


@dataclass
class Valid:
    """The validate stage: the parsed and checked bars of the files kept, the index's bars, the declared actions."""

    bars: pl.DataFrame  # file_id, row, date, prices, volume and the optional fields, by file then date
    good: list[int]  # the files kept
    bad: set[str]  # the files with an error (strict: none get here)
    heights: dict[int, int]  # rows per readable file
    index_bars: pl.DataFrame | None
    actions: dict[str, list[dict]]  # gbbq's corporate actions by code


@dataclass
class Aligned:
    """The align stage: the kept files on one calendar, [stocks, days] arrays in the store's order."""

    codes: list[str]
    calendar: np.ndarray
    dates: list[str]
    panel: np.ndarray  # [stocks, days, 5]
    preclose: np.ndarray  # the exchange's previous close where the source gives it (NaN elsewhere)
    float_value: np.ndarray
    st: np.ndarray
    first_day: np.ndarray  # the listing-day mark (a name starting with N)
    listed: np.ndarray  # trading days since listing
    day_names: pl.Series  # each bar's name that day, in (stock, day) order


@dataclass
class Adjusted:
    """The adjust stage: the corporate actions applied and the market series."""

    events: list[dict]
    market: np.ndarray
    market_source: str | None
    disagree: list[dict]  # market columns that disagree with the others
    unexplained: list[dict]  # gaps the gbbq does not explain
    inferred: list[str]  # stocks whose factors are inferred from gaps
    limits: np.ndarray  # uint8 [stocks, days]: the limit hits of the quoted prices (data.limits)


def read(src: Path, *, workers: int | None, strict: bool, adjust: bool, universe: str, market_index: str,
         gbbq: str | Path | None, progress: Callable[[], None] | None, on_start: Callable[[int], None] | None
         ) -> Sources:
    """Find the source's files and read every one (in parallel), with its hash and what it declares."""
    try:
        source = detect(src, universe, market_index)
    except ValueError as exc:
        raise IngestError([Finding("error", str(src), str(exc))]) from None
    if not source.files:
        raise IngestError([Finding("error", str(src), f"no {universe} stock files found in the {source.kind} source")])
    findings = [n if strict or n.level != "error" else replace(n, level="warning") for n in source.notes]
    gbbq_path = Path(gbbq) if gbbq else source.gbbq
    options = {"adjust": adjust, "strict": strict, "universe": universe, "market_index": market_index.lower(),
               "gbbq": _sha256(gbbq_path) if gbbq_path and gbbq_path.is_file() else None}
    files = source.files + ([source.index] if source.index else [])
    every_name = [str(p.relative_to(source.root)) for p in files]
    names = every_name[:len(source.files)]
    if on_start:
        on_start(len(files))
    read_ = _read_all(files, every_name, KINDS[source.kind], workers or os.cpu_count() or 1, progress)
    hashes = [sha for sha, _ in read_]
    stamp = fingerprint(hashes, every_name, options)
    index = read_.pop()[1] if source.index else None
    return Sources(
        src, source, names, hashes[:len(names)], stamp, options, gbbq_path,
        frames={fid: r.frame for fid, (_, r) in enumerate(read_) if r.frame is not None}, index=index,
        adjustment=[r.adjustment for _, r in read_], stock_names=[r.name for _, r in read_],
        units={fid: r.units for fid, (_, r) in enumerate(read_) if r.units},
        labels={names[fid]: r.labels for fid, (_, r) in enumerate(read_) if r.labels},
        preclose_from=[r.preclose for _, r in read_], findings=findings + [f for _, r in read_ for f in r.findings])


def validate(s: Sources, strict: bool) -> Valid:
    """Parse every file's rows into typed bars, leave out what is not a bar (empty rows, suspended days, front-
    adjusted prices <= 0), check every rule; strict: any error raises IngestError, else bad files are left out."""
    names, kind = s.names, KINDS[s.source.kind]
    heights = {fid: frame.height for fid, frame in s.frames.items()}
    bars = pl.DataFrame()
    if s.frames:
        bars, cell_findings = parse(s.frames, names, kind.first_row, kind.columns, kind.optional, kind.texts)
        s.frames.clear()  # only the parsed bars hold the cells now (a market's raw frames would double the memory)
        for column in {c for u in s.units.values() for c in u}:  # lots of 100 -> shares, per file
            factor = np.ones(len(names))
            factor[list(s.units)] = [u.get(column, 1.0) for u in s.units.values()]
            bars = bars.with_columns(pl.col(column) * factor[bars["file_id"].to_numpy()])
        bars, early = drop_nonpositive_history(bars, names, [i for i, a in enumerate(s.adjustment) if a != "none"])
        bars, idle = drop_suspended(bars, names)
        s.findings += relabel(cell_findings + early + idle + check_values(bars, names), s.source.kind, s.labels)
    index_bars, index_findings = _index_bars(s.source, s.index)
    s.findings += relabel(index_findings, s.source.kind)
    actions, gbbq_findings = read_actions(s.gbbq) if s.gbbq else ({}, [])
    s.findings += gbbq_findings
    s.findings += _duplicate_codes(names, s.source.codes, [fid for fid in heights if not any(
        f.level == "error" and f.file == names[fid] for f in s.findings)], bars)
    bad = {f.file for f in s.findings if f.level == "error"}
    if bad and strict:
        raise IngestError(s.findings)
    good = [fid for fid in heights if names[fid] not in bad]
    if not good:
        raise IngestError(s.findings + [Finding("error", str(s.src), "no usable files left after validation")])
    return Valid(bars.filter(pl.col("file_id").is_in(good)), good, bad, heights, index_bars, actions)


def align(s: Sources, v: Valid) -> Aligned:
    """The kept files on the union calendar of their dates: every bar in its [stock, day] cell, the name of each
    day with its ST and listing marks."""
    bars, codes = v.bars, s.source.codes
    code_of = {fid: codes[fid] for fid in v.good}
    store_codes = sorted(code_of.values())
    row = {c: i for i, c in enumerate(store_codes)}
    calendar = bars["date"].unique().sort().to_numpy()
    to_row = np.full(len(s.names), -1)
    to_row[list(code_of)] = [row[c] for c in code_of.values()]
    cell = to_row[bars["file_id"].to_numpy()] * len(calendar) + day_index(bars["date"].to_physical().to_numpy(),
                                                                          calendar)  # each bar's [stock, day] cell
    panel = np.full((len(store_codes), len(calendar), len(PRICE_COLUMNS)), np.nan)
    panel.reshape(-1, len(PRICE_COLUMNS))[cell] = bars.select(PRICE_COLUMNS).to_numpy()
    per_day = {}  # the optional per-(stock, day) fields the source has: previous close, float value
    for c in ("preclose", "floatvalue"):
        per_day[c] = np.full(panel.shape[:2], np.nan)
        if c in bars.columns:
            per_day[c].reshape(-1)[cell] = bars[c].to_numpy()
    name = bars["name"].fill_null("").str.strip_chars() if "name" in bars.columns else pl.repeat("", bars.height,
                                                                                                  eager=True)
    for fid, latest in bars.select("file_id", name.alias("name")).filter(pl.col("name") != "").group_by(
            "file_id").agg(pl.col("name").last()).iter_rows():  # bars are in date order: the latest name
        s.stock_names[fid] = latest
    st, first_day = np.zeros(panel.shape[:2], bool), np.zeros(panel.shape[:2], bool)
    st.reshape(-1)[cell] = (special_treatment(name) | (bars["isst"] == 1 if "isst" in bars.columns else False)
                            ).to_numpy()
    first_day.reshape(-1)[cell] = name.str.starts_with("N").to_numpy()
    return Aligned(store_codes, calendar, [str(d) for d in calendar.astype("datetime64[D]")], panel,
                   per_day["preclose"], per_day["floatvalue"], st, first_day,
                   listing_age(first_day, ~np.isnan(panel[:, :, 3])),
                   name.gather(by_stock(bars["file_id"].to_numpy(), to_row)))


def adjust_prices(s: Sources, v: Valid, a: Aligned, adjust: bool, market_index: str) -> Adjusted:
    """Every corporate action, exact where the source gives the previous close or a gbbq declares it, else
    inferred from gaps; the panel back-adjusted (with adjust); the market series from the files' columns, an index
    or the adjusted stocks."""
    kind, codes = KINDS[s.source.kind], s.source.codes
    from_stocks = market_index == "stocks" or (kind.market == "index" and v.index_bars is None) or \
        kind.market == "stocks"
    market_source = None if from_stocks else "the files' market columns (per-date consensus)" if \
        kind.market == "columns" else f"the index {s.source.index_code}"
    if kind.market == "columns" and not from_stocks:
        market, disagree, market_findings = consensus_market(v.bars, a.calendar, s.names)
        s.findings += market_findings
    else:
        market, disagree = index_market(v.index_bars, a.calendar, len(MARKET_FEATURES)), []
    exact = {a.codes[i] for i in np.flatnonzero(np.isfinite(a.preclose).any(1))}
    unadjusted = {codes[fid] for fid in v.good if s.adjustment[fid] == "none"} - exact
    gaps = [e for e in find_events(a.panel, a.codes, a.dates, a.st, a.listed) if e["code"] in unadjusted] \
        if unadjusted else []
    declared = [e for e in action_events(a.panel, a.codes, a.dates, v.actions) if e["code"] in unadjusted] \
        if v.actions else []
    events = sorted(preclose_events(a.panel, a.preclose, a.codes, a.dates) + declared
                    + [g for g in gaps if g["code"] not in v.actions], key=lambda e: (e["code"], e["date"]))
    unexplained = disagreements([g for g in gaps if g["code"] in v.actions], declared)
    inferred = sorted(unadjusted - set(v.actions))
    if inferred:
        s.findings.append(Finding("warning", str(s.src), f"{len(inferred):,} of {len(a.codes):,} stocks have no "
                                  "previous close in their source (no column for it, no change to derive it from): "
                                  "their ex-rights days are inferred from overnight gaps beyond the daily limit "
                                  f"({sum(g['code'] in inferred for g in gaps):,} found), so a dividend inside the "
                                  "limit is not seen and stays in their returns"))
    if unexplained:
        first = unexplained[0]
        s.findings.append(Finding("warning", str(s.gbbq), f"{len(unexplained)} overnight gap(s) beyond the daily "
                                  f"limit that the gbbq actions do not explain (first: {first['code']} on "
                                  f"{first['date']}); the gbbq factors are used, every case is in meta.json"))
    for e in events:
        e["adjusted"] = adjust
    quoted = np.array([s.adjustment[fid] != "none" for fid in sorted(v.good, key=lambda f: codes[f])])
    limits = quoted_limits(a.panel, day_factors(events, a.codes, a.dates, a.panel.shape[:2]),
                           *limit_rates(a.codes, a.dates, a.st, a.listed), quoted)
    if adjust and events:
        a.panel = back_adjust(a.panel, events, a.codes, a.dates)
    if from_stocks:
        market = stocks_market(a.panel, a.float_value)
        market_source = ("the stocks: float-value-weighted mean return and range, total amount" if
                         np.isfinite(a.float_value).any() else "the stocks: equal-weighted mean return and "
                         "range, total amount")
    return Adjusted(events, market, market_source, disagree, unexplained, inferred, limits)


def describe(s: Sources, v: Valid, a: Aligned, j: Adjusted, universe: str) -> dict:
    """meta.json: what the store holds and where every part of it came from, with every finding (a stale
    evening's update among them)."""
    codes, names, dates, good = s.source.codes, s.names, a.dates, v.good
    present = ~np.isnan(a.panel[:, :, 3])
    stale = stale_stocks(present)
    if len(stale) > max(STALE_FEW, len(a.codes) * STALE_SHARE):
        file_of = {codes[fid]: names[fid] for fid in good}
        s.findings.append(Finding("warning", str(s.src), f"{len(stale):,} of {len(a.codes):,} stocks end before "
                                  f"{dates[-1]}, within its last {STALE_WINDOW} trading days: stale files? (first: "
                                  f"{file_of[a.codes[stale[0]]]}); predict has no forecast for them on {dates[-1]}"))
    skipped, findings = sorted(v.bad), s.findings
    return {
        "format_version": FORMAT_VERSION,
        "files": list(STORE_FILES),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "fingerprint": s.stamp,
        "build": uuid.uuid4().hex,  # tells two builds of the same sources apart (a reader during a swap)
        "options": s.options,
        "source_dir": str(s.src.resolve()),
        "source": {"kind": s.source.kind, "universe": universe,
                   "market_index": s.source.index_code if v.index_bars is not None else None},
        "codes": a.codes,
        "exchanges": {codes[fid]: s.source.exchanges[fid] for fid in good if s.source.exchanges[fid]},
        "names": {codes[fid]: s.stock_names[fid] for fid in good if s.stock_names[fid]},
        "listings": {a.codes[i]: dates[d] for i, d in zip(*np.nonzero(a.first_day & (np.cumsum(a.first_day, 1) == 1)))},
        "dates": dates,
        "features": FEATURES,
        "market_features": MARKET_FEATURES,
        "sources": [
            {"file": names[fid], "code": codes[fid], "sha256": s.hashes[fid], "adjustment": s.adjustment[fid],
             "preclose": PRECLOSE.get(s.preclose_from[fid]),
             "rows": v.heights.get(fid, 0), "used": fid in good}
            for fid in range(len(names))
        ],
        "events": j.events,
        "factor_sources": {k: sum(e["source"] == k for e in j.events) for k in ("preclose", "gbbq", "gap")},
        "preclose_sources": {PRECLOSE.get(k, "none: ex-rights days inferred from gaps or gbbq"):
                             sum(s.preclose_from[fid] == k for fid in good)
                             for k in {s.preclose_from[fid] for fid in good}},
        "gap_inferred": j.inferred,
        "stale": [a.codes[i] for i in stale],
        "market_source": j.market_source,
        "market_disagreements": j.disagree,
        "gbbq": str(s.gbbq.resolve()) if s.gbbq else None,
        "action_disagreements": j.unexplained,
        "market_unknown_days": [dates[i] for i in np.nonzero(np.isnan(j.market[:, 0]))[0]],
        "skipped": skipped,
        "findings": [f.to_json() for f in findings],
        "summary": {
            "stocks": len(a.codes),
            "days": len(dates),
            "first": dates[0],
            "last": dates[-1],
            "missing_bar_share": float(1 - present.mean()),
            "events": len(j.events),
            "skipped": len(skipped),
            "errors": sum(f.level == "error" for f in findings),
            "warnings": sum(f.level == "warning" for f in findings),
            "notes": sum(f.level == "note" for f in findings),
            "st_days": int(a.st.sum()),
        },
    }


def _ingest(src: Path, out: Path, *, workers: int | None, strict: bool, adjust: bool, force: bool, universe: str,
            market_index: str, gbbq: str | Path | None, progress: Callable[[], None] | None,
            on_start: Callable[[int], None] | None) -> IngestResult:
    """read -> validate -> align -> adjust -> describe, then the store written; unchanged sources stop after read."""
    s = read(src, workers=workers, strict=strict, adjust=adjust, universe=universe, market_index=market_index,
             gbbq=gbbq, progress=progress, on_start=on_start)
    old = read_meta(out)
    if old is not None and old.get("fingerprint") == s.stamp and not force:
        return IngestResult("unchanged", out, old, [Finding(**f) for f in old["findings"]])
    v = validate(s, strict)
    a = align(s, v)
    j = adjust_prices(s, v, a, adjust, market_index)
    meta = describe(s, v, a, j, universe)
    write_store(out, a.panel, j.market, a.float_value, a.st, j.limits, _bars_long(a.panel, j.market, a.codes, a.calendar,
                                                                        a.day_names), meta)
    return IngestResult("built", out, meta, s.findings)


def read_actions(path: Path) -> tuple[dict[str, list[dict]], list[Finding]]:
    """The ex-rights actions of a gbbq file by code, or the finding that it cannot be read."""
    from equinet.data.sources.gbbq import actions, read_gbbq

    if not path.is_file():
        return {}, [Finding("error", str(path), "no such gbbq file (--gbbq)")]
    records, findings = read_gbbq(path)
    return (actions(records) if records is not None else {}), findings


def _index_bars(source: Source, index: Read | None) -> tuple[pl.DataFrame | None, list[Finding]]:
    """The market index's parsed and checked bars (None without one): a source without market columns takes the
    market series from it."""
    if KINDS[source.kind].market != "index" or source.index_code == "stocks":
        return None, []
    if index is None:
        return None, [Finding("note", str(source.root), f"no market index file {source.index_code} in the source "
                              "(--market-index): the market series is built from the stocks")]
    name = str(source.index.relative_to(source.root))
    if index.frame is None:
        return None, index.findings
    parsed, problems = parse({0: index.frame}, [name], KINDS[source.kind].first_row, KINDS[source.kind].columns)
    problems += check_values(parsed, [name], min_rows=2)
    return (None if any(f.level == "error" for f in problems) else parsed), index.findings + problems
