"""A store's prepared day arrays kept on disk between commands: preparing the whole market's inputs takes about
10 s and 4 GiB, loading them a second. Keyed by the store's path and build and by the code that computes them, so
a new ingest or a changed feature is prepared again; the least recently used beyond KEEP are removed."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

ENV = "EQUINET_CACHE"  # the cache folder; "off": no cache (default: $XDG_CACHE_HOME/equinet or ~/.cache/equinet)
KEEP = 2  # stores whose arrays are kept
DONE = "complete"  # written last: an entry without it is incomplete and not read


def root() -> Path | None:
    """The cache folder, or None when the cache is off."""
    value = os.environ.get(ENV, "")
    if value == "off":
        return None
    if value:
        return Path(value)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "equinet"


def key(parts: list[str], sources: list[str]) -> str:
    """A name from the parts (the store's path and build) and the bytes of the source files that compute the
    arrays (any change to them prepares again)."""
    digest = hashlib.sha256("\0".join(parts).encode())
    for source in sources:
        digest.update(Path(source).read_bytes())
    return digest.hexdigest()[:32]


def cached(name: str, compute: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """The arrays stored under name, else compute() stored there (atomically: a temporary folder renamed into
    place); an unreadable entry is computed again, and a cache that cannot be written is skipped."""
    folder = root()
    entry = folder / name if folder else None
    if entry is not None and (entry / DONE).is_file():
        try:
            arrays = {p.stem: np.load(p, mmap_mode="c") for p in entry.glob("*.npy")}  # private pages, read on use
            os.utime(entry)  # recently used
            return arrays
        except (OSError, ValueError):
            pass
    arrays = compute()
    if entry is not None:
        _store(folder, entry, arrays)
    return arrays


def _store(folder: Path, entry: Path, arrays: dict[str, np.ndarray]) -> None:
    tmp = None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=folder))
        for name, array in arrays.items():
            np.save(tmp / f"{name}.npy", array)
        (tmp / DONE).touch()
        shutil.rmtree(entry, ignore_errors=True)
        os.replace(tmp, entry)
    except OSError:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        return
    entries = sorted((p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")),
                     key=lambda p: p.stat().st_mtime, reverse=True)
    for old in entries[KEEP:]:
        shutil.rmtree(old, ignore_errors=True)
