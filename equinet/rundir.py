"""A run directory belongs to one training process at a time, and a finished run is never silently replaced."""

from __future__ import annotations

import atexit
import json
import os
import socket
from datetime import datetime
from pathlib import Path

LOCK = ".lock"
RUN_FILES = ("config.json", "metrics.jsonl", "best.pt", "last.pt")  # what --overwrite removes; nothing else


class RunDirError(ValueError):
    """A run directory that cannot be used as asked; the message names it and the way out."""


def check_new(run_dir: Path, overwrite: bool) -> None:
    """Before the slow start: a new run may not reuse an existing name unless told to overwrite it."""
    if run_dir.exists() and not overwrite:
        raise RunDirError(f"{run_dir}: a run of this name exists; --resume {run_dir} continues it, --overwrite "
                          "replaces it, or choose another --name")


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def _holder(lock: Path) -> dict | None:
    """Another live process holding the lock, or None (stale: its process is gone; ours; unreadable)."""
    try:
        owner = json.loads(lock.read_text(encoding="utf-8"))
        pid = int(owner["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if owner.get("host") != socket.gethostname():
        return owner  # another machine's process: it cannot be checked from here
    return owner if pid != os.getpid() and _alive(pid) else None


def claim(run_dir: Path, new: bool = False, overwrite: bool = False) -> None:
    """Create (new: exclusively) and lock run_dir for this process; --overwrite then removes the old run's files."""
    try:
        run_dir.mkdir(parents=True, exist_ok=not new)
    except FileExistsError:
        raise RunDirError(f"{run_dir}: another run created this directory meanwhile; choose another --name") from None
    lock, mine = run_dir / LOCK, run_dir / f"{LOCK}.{os.getpid()}"
    mine.write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                "since": datetime.now().isoformat(timespec="seconds")}), encoding="utf-8")
    try:
        for _ in range(2):
            try:
                os.link(mine, lock)  # atomic: the lock appears whole, or not at all if another holds it
                break
            except FileExistsError:
                owner = _holder(lock)
                if owner is not None:
                    raise RunDirError(f"{run_dir}: pid {owner.get('pid')} on {owner.get('host')} has been training "
                                      f"into it since {owner.get('since')}; wait for it or stop it (if that run is "
                                      f"gone, delete {lock})") from None
                lock.unlink(missing_ok=True)  # stale: its process died without releasing it
        else:
            raise RunDirError(f"{run_dir}: could not take {lock}; another process is starting in it")
    finally:
        mine.unlink()
    atexit.register(release, run_dir)
    if overwrite:
        for name in RUN_FILES:
            (run_dir / name).unlink(missing_ok=True)


def release(run_dir: Path) -> None:
    """Drop this process's lock (a lock of another process stays)."""
    lock = run_dir / LOCK
    try:
        owner = json.loads(lock.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if owner.get("pid") == os.getpid() and owner.get("host") == socket.gethostname():
        lock.unlink(missing_ok=True)
