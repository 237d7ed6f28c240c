"""Files EquiNet writes: each to a temporary sibling renamed into place, so a reader sees the old file or the new
one, and a failed write (a full disk) leaves the old one and no temporary behind; JSON and JSONL I/O."""

from __future__ import annotations

import errno
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

FULL = 1 << 20  # bytes free below which a failed write is taken for a full disk (numpy's errors carry no errno)


class WriteError(ValueError):
    """A file or folder that could not be written; the message names it and the operating system's reason."""

    def __init__(self, path: Path, why: str):
        self.path, self.why = path, why
        super().__init__(f"{path}: cannot write it: {why}; nothing there was replaced")


def reason(exc: BaseException, where: Path) -> str:
    """Why a write failed, in words: the OS reason, or 'no space left' when the disk is full and the error
    (numpy's, torch's) does not say so."""
    if isinstance(exc, OSError) and exc.errno is not None:
        return "no space left on device (the disk is full)" if exc.errno == errno.ENOSPC else \
            (exc.strerror or str(exc)).lower()
    folder = next((p for p in (where, *where.parents) if p.exists()), Path("."))
    try:
        if shutil.disk_usage(folder).free < FULL:
            return "no space left on device (the disk is full)"
    except OSError:
        pass
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def temporary(path: Path) -> Path:
    """The hidden sibling a new version of path is written to before it replaces path."""
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def replace_file(path: Path, write: Callable[[Path], None], discard: Callable[[Path], None] = _remove) -> None:
    """Write to a temporary sibling, then rename over path (a folder too: write makes it; the old folder is
    set aside, the new one renamed in, then the old one discarded); on any failure the temporary is discarded,
    path is as it was, and an OS error becomes a WriteError naming path."""
    path = Path(path)
    tmp = temporary(path)
    discard(tmp)
    try:
        write(tmp)
        if path.is_dir() and tmp.is_dir():  # a folder cannot be renamed over a folder: old one aside first
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            os.rename(path, old)
            os.rename(tmp, path)
            discard(old)
        else:
            os.replace(tmp, path)
    except (OSError, RuntimeError) as exc:  # torch reports a short write as a RuntimeError
        why = reason(exc, tmp)
        discard(tmp)
        raise WriteError(path, why) from None
    except BaseException:
        discard(tmp)
        raise


def write_bytes(data: bytes, path: Path) -> None:
    replace_file(path, lambda tmp: tmp.write_bytes(data))


def write_text(text: str, path: Path) -> None:
    replace_file(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def dumps(obj: dict) -> str:
    """JSON a person can read and a machine writes fast: one line per key, and per item of a list (the C encoder,
    which indent= would turn off)."""
    def value(v) -> str:
        if isinstance(v, list) and v and isinstance(v[0], (dict, list)):
            return "[\n  " + ",\n  ".join(json.dumps(x, ensure_ascii=False) for x in v) + "\n ]"
        return json.dumps(v, ensure_ascii=False)

    return "{\n" + ",\n".join(f" {json.dumps(k, ensure_ascii=False)}: {value(v)}" for k, v in obj.items()) + "\n}\n"


def write_json(obj: dict, path: Path) -> None:
    write_text(dumps(obj), path)


def read_json(path: Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def read_metrics(path: Path, upto: int | None = None) -> list[dict]:
    """A run's metrics lines (no file: []), keeping only epochs <= upto (lines past the last checkpoint are dropped on
    resume)."""
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except ValueError:  # a line cut short when its writer was killed: the lines before it stand
            break
    return [r for r in rows if upto is None or r["epoch"] <= upto]


def write_metrics(rows: list[dict], path: Path) -> None:
    write_text("".join(json.dumps(r) + "\n" for r in rows), path)
