"""The aligned store on disk: written whole into a temporary directory, then swapped in by rename."""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from equinet.core import lock
from equinet.core.files import WriteError, dumps, reason, replace_file

FORMAT_VERSION = 5  # 5: limit flags from the quoted prices (limits.npy); 4: listing days (per-day limit rules); 3: float values; 2: every corporate action names its source, a build id, exchanges, names
FEATURES = [
    {"name": "open", "unit": "CNY, back-adjusted"},
    {"name": "high", "unit": "CNY, back-adjusted"},
    {"name": "low", "unit": "CNY, back-adjusted"},
    {"name": "close", "unit": "CNY, back-adjusted"},
    {"name": "volume", "unit": "shares, scaled inversely to the price adjustment"},
]
MARKET_FEATURES = [
    {"name": "market_volume", "unit": "whole-market volume, as exported"},
    {"name": "market_change", "unit": "index change that day, fraction (-0.0084 = -0.84 %)"},
    {"name": "market_range", "unit": "index intraday range, index points"},
]


@dataclass
class Store:
    """A store opened read-only: memory-mapped arrays plus its meta.json."""

    path: Path
    panel: np.ndarray  # float32 [stocks, days, 5]: open, high, low, close, volume; NaN = no bar
    market: np.ndarray  # float32 [days, 3]: market volume, change, range; NaN = unknown
    close: np.ndarray  # float64 [stocks, days]: adjusted close at full precision, for labels
    float_value: np.ndarray  # float64 [stocks, days]: float market value, CNY; NaN where the source has none
    st: np.ndarray  # bool [stocks, days]: the stock's name that day marks special treatment (ST, *ST)
    limits: np.ndarray  # uint8 [stocks, days]: limit hits of the quoted close and open (data.limits' bits)
    meta: dict

    @property
    def codes(self) -> list[str]:
        return self.meta["codes"]

    @property
    def dates(self) -> np.ndarray:
        return np.array(self.meta["dates"], dtype="datetime64[D]")


def store_build(store: Store) -> str:
    """What tells one build of a store from another (its build id; older stores: fingerprint and time)."""
    return store.meta.get("build") or f"{store.meta['fingerprint']}@{store.meta['created']}"


STORE_FILES = ("panel.npy", "market.npy", "close.npy", "float_value.npy", "st.npy", "limits.npy", "bars.parquet",
               "meta.json")


class StoreError(ValueError):
    """A folder that is not a store EquiNet may read or replace; the message names it."""


SWAP_WAIT = 2.0  # seconds a reader waits for a store being swapped in by another process's ingest


def _read_meta_once(file: Path) -> dict | None:
    if not file.is_file():
        return None
    try:
        meta = json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StoreError(f"{file}: not a valid meta.json ({exc}); this folder is not an EquiNet store") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("format_version"), int) \
            or not isinstance(meta.get("files", []), list):
        raise StoreError(f"{file}: has no format version or file list; this folder is not an EquiNet store")
    return meta


def read_meta(path: Path) -> dict | None:
    """The store's meta.json, or None when path has none; a meta.json that is not a store's is a StoreError. In
    the instant between an ingest's two renames the store is away: the reader waits for it."""
    path = Path(path)
    waited = 0.0
    while True:
        meta = _read_meta_once(path / "meta.json")
        if meta is not None or waited >= SWAP_WAIT or not _siblings(path, "old"):
            return meta
        time.sleep(0.01)
        waited += 0.01


def check_format(meta: dict, path: Path) -> None:
    """A store of another format version is read by no command: one line says to ingest again."""
    if meta["format_version"] != FORMAT_VERSION:
        raise StoreError(f"{path}: store format {meta['format_version']} is not {FORMAT_VERSION} (written by another "
                         "EquiNet version); ingest again to rebuild it")


def store_files(meta: dict) -> list[str]:
    """The files a store wrote, so that replacing it deletes nothing else (the first stores, which did not list
    them, wrote STORE_FILES)."""
    return meta.get("files", list(STORE_FILES))


def open_store(path: str | Path) -> Store:
    """Memory-map a store written by ingest: meta.json and the arrays of one and the same build (read again when
    an ingest swapped the store in meanwhile)."""
    path = Path(path)
    for _ in range(100):
        meta = read_meta(path)
        if meta is None:
            raise FileNotFoundError(f"{path}: no EquiNet store here (no meta.json); run `equinet ingest` first")
        check_format(meta, path)
        try:
            load = lambda name: np.load(path / name, mmap_mode="r")  # noqa: E731
            store = Store(path, load("panel.npy"), load("market.npy"), load("close.npy"), load("float_value.npy"),
                          load("st.npy"), load("limits.npy"), meta)
            problem = None
        except (OSError, ValueError) as exc:
            problem = exc
        if read_meta(path) == meta:  # no swap in between: every array is of this meta's build
            if problem is not None:
                raise StoreError(f"{path}: a store file is missing or damaged ({problem}); re-ingest") from None
            return store
        time.sleep(0.01)
    raise StoreError(f"{path}: the store kept changing while it was read (ingests running in a loop?)")


def _siblings(out: Path, kind: str) -> list[Path]:
    return sorted(out.parent.glob(f".{out.name}.{kind}-*"))


def _discard(folder: Path) -> None:
    """Delete a store folder EquiNet wrote, file by listed file: anything else in it stays, and so does the folder."""
    try:
        names = store_files(read_meta(folder) or {})
    except StoreError:
        names = list(STORE_FILES)
    for name in set(names) | set(STORE_FILES):
        (folder / name).unlink(missing_ok=True)
    try:
        folder.rmdir()
    except OSError:
        pass


def recover(out: Path) -> None:
    """Undo a swap interrupted between its two renames, and drop leftovers of killed builds."""
    old = _siblings(out, "old")
    if old and not out.exists():
        os.rename(old[-1], out)
        old = old[:-1]
    for leftover in old + _siblings(out, "tmp"):
        _discard(leftover)


def check_target(out: Path) -> None:
    """Refuse to replace anything but a store whose every file EquiNet wrote: a user's file is never deleted."""
    if not out.exists():
        return
    if not out.is_dir():
        raise StoreError(f"{out}: is a file, not a store folder; choose another --out")
    entries = sorted(p.name for p in out.iterdir())
    if not entries:
        return
    meta = read_meta(out)
    if meta is None:
        raise StoreError(f"{out}: exists and is not an EquiNet store (no meta.json); choose another --out")
    foreign = [name for name in entries if name not in store_files(meta)]
    if foreign:
        shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        raise StoreError(f"{out}: holds files EquiNet did not write ({shown}); a store is replaced whole, so move "
                         "them out or choose another --out")


def writing_lock(out: Path) -> Path:
    """The lock a store's writer holds beside it (outside the folder, which is swapped)."""
    return out.parent / f".{out.name}.lock"


def lock_store(out: Path) -> None:
    """Make this process the store's only writer until release_store (or exit); another live writer: StoreError."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        lock.acquire(writing_lock(out), lambda owner: _busy(out, owner))
    except OSError as exc:
        raise StoreError(f"{out}: cannot write the store there: {reason(exc, out.parent)}") from None


def _busy(out: Path, owner: dict) -> StoreError:
    return StoreError(
        f"{out}: pid {owner.get('pid')} on {owner.get('host')} has been writing this store since "
        f"{owner.get('since')}; wait for that ingest to finish (if it is gone, delete {writing_lock(out)})")


def release_store(out: Path) -> None:
    lock.release(writing_lock(out))


def write_store(out: Path, panel: np.ndarray, market: np.ndarray, float_value: np.ndarray, st: np.ndarray,
                limits: np.ndarray, bars: pl.DataFrame, meta: dict) -> None:
    """Build every file in a temporary sibling directory, then swap it in for out (the caller holds lock_store:
    leftovers beside out are then of dead processes, and are dropped)."""
    out = Path(out)

    def parquet(tmp: Path) -> None:
        try:
            bars.write_parquet(tmp / "bars.parquet")
        except pl.exceptions.PolarsError as exc:  # polars wraps the OS error (a full disk) in its own
            raise OSError(str(exc).splitlines()[0]) from None

    def write(tmp: Path) -> None:
        tmp.mkdir()
        with ThreadPoolExecutor(max_workers=1) as pool:  # the long form is written while the arrays are
            long_form = pool.submit(parquet, tmp)
            np.save(tmp / "panel.npy", panel.astype(np.float32))
            np.save(tmp / "market.npy", market.astype(np.float32))
            np.save(tmp / "close.npy", panel[:, :, 3].astype(np.float64))
            np.save(tmp / "float_value.npy", float_value.astype(np.float64))
            np.save(tmp / "st.npy", st.astype(bool))
            np.save(tmp / "limits.npy", limits.astype(np.uint8))
            (tmp / "meta.json").write_text(dumps(meta), encoding="utf-8")
            long_form.result()

    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        recover(out)
        check_target(out)
    except OSError as exc:
        raise StoreError(f"{out}: cannot write the store there: {reason(exc, out.parent)}") from None
    kept = "; the old store is kept" if read_meta(out) is not None else "; nothing was written"
    try:
        replace_file(out, write, discard=_discard)
    except WriteError as exc:
        raise StoreError(f"{out}: cannot write the store there: {exc.why}{kept}") from None
