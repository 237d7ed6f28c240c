"""What `equinet ingest SRC` reads: which kind of source SRC is, its stock files, its market index, and the one
registry of source kinds (KINDS), each with its detector, its reader into the common row layout (sources.rows),
where its rows start and which columns it has."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import polars as pl

from equinet.core import board
from equinet.core.findings import Finding
from equinet.data.sources import archive, export, text, vendor, vipdoc
from equinet.data.sources.rows import NUMERIC

DEFAULT_INDEX = "sh000001"  # 上证指数
UNREADABLE_SHEETS = {".xls": "Excel 97-2003 workbook (.xls)", ".xlsm": "macro-enabled workbook (.xlsm)",
                     ".xlsb": "binary Excel workbook (.xlsb)", ".et": "WPS spreadsheet (.et)",
                     ".ods": "OpenDocument spreadsheet (.ods)"}  # look like exports, but only .xlsx/.csv are read


@dataclass
class Read:
    """One file as read: rows in the common layout (None if unreadable), findings, and what the file declares."""

    frame: pl.DataFrame | None
    findings: list[Finding]
    adjustment: str = "none"  # none | front | back: what the source says about its prices
    name: str | None = None  # the stock's name, where the file gives it (a text export's title, a vendor column)
    units: dict[str, float] = field(default_factory=dict)  # column -> factor to the layout's unit (lots -> shares)
    labels: dict[str, str] = field(default_factory=dict)  # the layout's column -> the file's own name for it
    preclose: str | None = None  # where the previous close comes from (vendor.PRECLOSE's key); None: nowhere


@dataclass
class Source:
    """The stock files of SRC (one per stock, with the name findings use and the code), and its market index."""

    kind: str
    root: Path
    files: list[Path]
    codes: list[str]
    exchanges: list[str | None]  # sh / sz / bj of each file: from its name, else from the code's board
    index: Path | None = None
    index_code: str | None = None
    notes: list[Finding] = field(default_factory=list)
    gbbq: Path | None = None  # TDX's corporate actions, T0002/hq_cache/gbbq under the TDX root


def relabel(findings: list[Finding], kind: str, by_file: dict[str, dict[str, str]] | None = None) -> list[Finding]:
    """Findings that name columns as the source's own files do (收盘, trade_date, 开盘), not as the ingest layout:
    by the file's own header where its reader says (by_file: file -> labels), else by the kind's."""
    labels, by_file = KINDS[kind].labels, by_file or {}
    return [replace(f, column=by_file.get(f.file, labels).get(f.column, f.column)) for f in findings]


def vipdoc_root(src: Path) -> Path | None:
    """SRC's vipdoc folder: SRC/vipdoc under a TDX root, or SRC itself."""
    for root in (src / "vipdoc", src):
        if any((root / ex / "lday").is_dir() for ex in vipdoc.EXCHANGES):
            return root
    return None


def _kind_of(path: Path) -> str | None:
    """The kind whose files look like this one (vipdoc is a tree, found by vipdoc_root)."""
    return next((k.name for k in KINDS.values() if k.detect and k.detect(path)), None)


def _pick(exchange_codes: list[tuple[str, str]], universe: str, market_index: str) -> tuple[list[int], int | None,
                                                                                         list[int]]:
    """Which files are stocks of the universe, which one is the market index, and which are of unknown type."""
    wanted = board.UNIVERSES[universe]
    stocks, unknown, index = [], [], None
    for i, (ex, code) in enumerate(exchange_codes):
        if ex + code == market_index.lower():
            index = i
            continue
        kind = board.security(ex, code)
        if kind is None:
            unknown.append(i)
        elif kind[0] in wanted:
            stocks.append(i)
    return stocks, index, unknown


def _in_subfolders(entries: list[Path]) -> str:
    """Where exports are one level down: ingest reads one folder, not the ones inside it."""
    below = [(d, sum(1 for p in d.iterdir() if p.is_file() and _kind_of(p))) for d in entries
             if d.is_dir() and not d.name.startswith(".") and os.access(d, os.R_OK)]
    below = [(d, n) for d, n in below if n]
    if not below:
        return ""
    shown = ", ".join(f"{d.name}/ ({n})" for d, n in below[:3]) + (" ..." if len(below) > 3 else "")
    return (f"; subfolders are not searched, and these hold exports: {shown}: point ingest at one of them "
            f"(e.g. {below[0][0]})")


def detect(src: str | Path, universe: str = "a-shares", market_index: str = DEFAULT_INDEX) -> Source:
    """The kind of source SRC is; a folder mixing kinds is a ValueError that names what it found."""
    src = Path(src)
    zipped = src.is_file() and src.suffix.lower() == ".zip"
    if not src.is_dir() and not zipped:
        raise FileNotFoundError(f"{src}: no such directory (or .zip archive)")
    if universe not in board.UNIVERSES:
        raise ValueError(f"--universe must be one of {', '.join(board.UNIVERSES)}, not {universe!r}")
    try:
        entries = archive.members(src) if zipped else sorted(src.iterdir())
    except OSError as exc:
        raise FileNotFoundError(f"{src}: cannot list the folder: {exc.strerror or exc}") from None
    by_kind: dict[str, list[Path]] = {}
    notes = []
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:  # a .gz is unpacked to see its header
        kinds = list(pool.map(lambda p: _kind_of(p) if p.is_file() else None, entries))
    for path, kind in zip(entries, kinds):
        if kind:
            by_kind.setdefault(kind, []).append(path)
        elif path.is_symlink() and not path.exists():
            notes.append(Finding("note", path.name, "a broken symbolic link (its target is missing or it loops); "
                                 "ignored"))
        elif path.is_file() and path.suffix.lower() in UNREADABLE_SHEETS and not path.name.startswith(("~$", ".")):
            notes.append(Finding("error", path.name, f"a {UNREADABLE_SHEETS[path.suffix.lower()]}, which EquiNet "
                                 "does not read: save it as .xlsx (Excel: File > Save As) or .csv"))
        elif not path.name.startswith(".") and not (path.is_dir() and path.name.lower() in ("vipdoc", "t0002")):
            notes.append(Finding("note", path.name, "not an .xlsx/.csv/TDX export data file; ignored"))
    if zipped:  # workbooks and .day trees are read from folders; an archive holds text files
        for kind in ("export", "vipdoc"):
            for path in [p for p in by_kind.get(kind, []) if not p.name.lower().endswith((".csv", ".csv.gz"))]:
                by_kind[kind].remove(path)
                notes.append(Finding("error", str(path.relative_to(src)), "an .xlsx inside a .zip is not read: "
                                     "unpack the archive and ingest the folder"))
    root = None if zipped else vipdoc_root(src)
    if root is not None:
        by_kind["vipdoc"] = vipdoc.lday_files(root)
    found = [k for k, files in by_kind.items() if files]
    if len(found) > 1:
        raise ValueError("holds more than one kind of source ("
                         + "; ".join(f"{len(by_kind[k])} file(s) of {KINDS[k].description}" for k in found)
                         + "); point ingest at a folder of one kind")
    unreadable = [n for n in notes if n.level == "error"]
    if not found and unreadable:
        raise ValueError(f"{len(unreadable)} file(s) in a format EquiNet does not read (first: {unreadable[0].file}, "
                         f"{unreadable[0].message}) and no .xlsx/.csv exports")
    if not found:
        zips = [p.name for p in entries if p.is_file() and p.suffix.lower() == ".zip"]
        shown = ", ".join(zips[:3]) + (" ..." if len(zips) > 3 else "")
        raise ValueError("no .xlsx/.csv exports, TDX text exports (SH#600519.txt) or vipdoc tree found"
                         + (f"; it holds {len(zips)} .zip archive(s) ({shown}), which are read when passed "
                            f"themselves: equinet ingest {src / zips[0]}" if zips else "")
                         + _in_subfolders(entries))
    kind = found[0]
    files = by_kind[kind]
    if kind in ("export", "vendor"):
        codes = [export.stock_code(p) for p in files]  # the digits of the file name
        named = [p.name[:2].lower() if p.name[:2].lower() in vipdoc.EXCHANGES else None for p in files]
        return Source(kind, src, files, codes, [ex or board.a_share_exchange(c) for ex, c in zip(named, codes)],
                      notes=notes)
    exchange_codes = ([text.exchange_code(p) for p in files] if kind == "text"
                      else [vipdoc.NAME.match(p.name).group(1, 2) for p in files])
    exchange_codes = [(ex.lower(), code) for ex, code in exchange_codes]
    stocks, index, unknown = _pick(exchange_codes, universe, market_index)
    base = src if kind == "text" else root
    if unknown:
        notes.append(Finding("note", str(files[unknown[0]].relative_to(base)), f"{len(unknown)} file(s) of a "
                             "security type EquiNet does not know the price unit of; ignored", count=len(unknown)))
    gbbq = [p / "T0002" / "hq_cache" / "gbbq" for p in (src, src.parent)] if kind == "vipdoc" else []
    return Source(kind, base, [files[i] for i in stocks], [exchange_codes[i][1] for i in stocks],
                  [exchange_codes[i][0] for i in stocks], files[index] if index is not None else None, market_index.lower(), notes,
                  next((p for p in gbbq if p.is_file()), None))


def read_export(path: Path, name: str) -> Read:
    frame, findings = export.read_raw(path, name)
    return Read(frame, findings)


def read_vendors(paths: list[Path], names: list[str], map_: Callable) -> list[Read]:
    return [Read(frame, findings, units=declared.get("units", {}), labels=declared.get("labels", {}),
                 preclose=declared.get("preclose"))
            for frame, findings, declared in vendor.read_vendors(paths, names, map_)]


def read_text(path: Path, name: str) -> Read:
    frame, findings, declared = text.read_text(path, name)
    return Read(frame, findings, adjustment=declared.get("adjustment", "none"), name=declared.get("name") or None)


def read_vipdoc(path: Path, name: str) -> Read:
    ex, code = vipdoc.NAME.match(path.name).group(1, 2)
    _, unit = board.security(ex.lower(), code) or ("index", 0.01)
    bars, findings = vipdoc.read_day(path, name, unit)
    if bars is None:
        return Read(None, findings)
    frame = pl.DataFrame({"time": bars["date"], "start": bars["open"], "max": bars["high"], "min": bars["low"],
                          "end": bars["close"], "volume": bars["volume"]})
    return Read(frame, findings)


def each(read: Callable[[Path, str], Read]) -> Callable[[list[Path], list[str], Callable], list[Read]]:
    """A reader of one file as a reader of many (map_: a thread pool's map); a file that cannot be opened is its
    finding."""
    def one(path: Path, name: str) -> Read:
        try:
            return read(path, name)
        except OSError as exc:
            return Read(None, [Finding("error", name, f"cannot read the file: {exc.strerror or exc}")])

    return lambda paths, names, map_: list(map_(one, paths, names))


@dataclass(frozen=True)
class Kind:
    """One kind of source: a new layout is one more entry in KINDS."""

    name: str
    description: str  # in messages: "3 file(s) of <description>"
    detect: Callable[[Path], bool] | None  # whether a file is one of its files (None: a folder tree)
    read: Callable[[list[Path], list[str], Callable], list[Read]]  # files, names, a map -> rows of the common layout
    first_row: int  # the row number findings give a file's first data row
    columns: tuple[str, ...]  # the numeric columns of the common layout it has
    labels: dict[str, str] = field(default_factory=dict)  # how its own files name the layout's columns
    market: str = "stocks"  # where its market series comes from: the files' "columns", an "index" file, the "stocks"
    optional: tuple[str, ...] = ()  # fields it may have per row: a previous close, a float value (NaN: absent)
    texts: tuple[str, ...] = ()  # text fields per row: the stock's name that day


KINDS = {k.name: k for k in (  # in the order a file is tried: a vendor CSV before an export CSV
    Kind("vendor", "per-stock vendor CSV files (vendor archive, akshare, tushare, baostock; .csv or .csv.gz)",
         vendor.is_vendor_file, read_vendors, 2, NUMERIC[:5], optional=vendor.COLUMNS[5:], texts=("name",)),
    Kind("export", ".xlsx/.csv exports", export.is_source, each(read_export), 2, NUMERIC, market="columns"),
    Kind("text", "TDX text exports (SH#600519.txt)", lambda p: text.exchange_code(p) is not None, each(read_text), 3,
         NUMERIC[:5], {v: k for k, v in text.HEADER.items()}, market="index"),
    Kind("vipdoc", "a TDX vipdoc tree (vipdoc/{sh,sz,bj}/lday/*.day)", None, each(read_vipdoc), 1, NUMERIC[:5],
         {"time": "date", "start": "open", "max": "high", "min": "low", "end": "close"}, market="index"),
)}


def index_market(bars: pl.DataFrame | None, calendar: np.ndarray, n: int = 3) -> np.ndarray:
    """market[days, 3] from an index's parsed bars: its volume, its close-to-close change, its high-low range;
    unknown (NaN) without an index."""
    market = np.full((len(calendar), n), np.nan, dtype=np.float32)
    if bars is None:
        return market
    date, close = bars["date"].to_numpy(), bars["end"].to_numpy()
    change = np.concatenate([[np.nan], close[1:] / close[:-1] - 1])
    values = np.column_stack([bars["volume"].to_numpy(), change, (bars["max"] - bars["min"]).to_numpy()])
    at = np.minimum(np.searchsorted(calendar, date), len(calendar) - 1)
    inside = calendar[at] == date
    market[at[inside]] = values[inside]
    return market
