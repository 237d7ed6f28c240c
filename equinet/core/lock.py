"""One writer at a time: a lock file that appears whole or not at all, naming the process that holds it."""

from __future__ import annotations

import atexit
import json
import os
import socket
from collections.abc import Callable
from datetime import datetime
from pathlib import Path


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


def holder(lock: Path) -> dict | None:
    """Another live process holding the lock, or None (stale: its process is gone; ours; unreadable)."""
    try:
        owner = json.loads(lock.read_text(encoding="utf-8"))
        pid = int(owner["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if owner.get("host") != socket.gethostname():
        return owner  # another machine's process: it cannot be checked from here
    return owner if pid != os.getpid() and _alive(pid) else None


def acquire(lock: Path, busy: Callable[[dict], Exception]) -> None:
    """Take lock for this process (released at exit at the latest); held by another live process: raise
    busy(its owner: pid, host, since). A lock left by a dead process is taken over."""
    mine = lock.with_name(f"{lock.name}.{os.getpid()}")
    mine.write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                "since": datetime.now().isoformat(timespec="seconds")}), encoding="utf-8")
    try:
        for _ in range(2):
            try:
                os.link(mine, lock)  # atomic: the lock appears whole, or not at all if another holds it
                break
            except FileExistsError:
                owner = holder(lock)
                if owner is not None:
                    raise busy(owner) from None
                lock.unlink(missing_ok=True)  # stale: its process died without releasing it
        else:
            raise busy({"pid": "?", "host": "?", "since": "just now"})
    finally:
        mine.unlink()
    atexit.register(release, lock)


def release(lock: Path) -> None:
    """Drop this process's lock (a lock of another process stays)."""
    try:
        owner = json.loads(lock.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if owner.get("pid") == os.getpid() and owner.get("host") == socket.gethostname():
        lock.unlink(missing_ok=True)
