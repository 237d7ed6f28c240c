"""A run directory belongs to one training process at a time, and a finished run is never silently replaced."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from equinet import lock
from equinet.config import best_line
from equinet.files import read_json, read_metrics

LOCK = ".lock"
RUN_FILES = ("config.json", "metrics.jsonl", "best.pt", "last.pt")  # what --overwrite removes; nothing else


class RunDirError(ValueError):
    """A run directory that cannot be used as asked; the message names it and the way out."""


def check_new(run_dir: Path, overwrite: bool) -> None:
    """Before the slow start: a new run may not reuse an existing name unless told to overwrite it."""
    if run_dir.exists() and not overwrite:
        raise RunDirError(f"{run_dir}: a run of this name exists; --resume {run_dir} continues it, --overwrite "
                          "replaces it, or choose another --name")


def claim(run_dir: Path, new: bool = False, overwrite: bool = False) -> None:
    """Create (new: exclusively) and lock run_dir for this process; --overwrite then removes the old run's files."""
    try:
        run_dir.mkdir(parents=True, exist_ok=not new)
    except FileExistsError:
        raise RunDirError(f"{run_dir}: another run created this directory meanwhile; choose another --name") from None
    lock.acquire(run_dir / LOCK, lambda owner: RunDirError(
        f"{run_dir}: pid {owner.get('pid')} on {owner.get('host')} has been training into it since "
        f"{owner.get('since')}; wait for it or stop it (if that run is gone, delete {run_dir / LOCK})"))
    if overwrite:
        for name in RUN_FILES:
            (run_dir / name).unlink(missing_ok=True)


def release(run_dir: Path) -> None:
    """Drop this process's lock (a lock of another process stays)."""
    lock.release(run_dir / LOCK)


@dataclass
class Status:
    """How far a train run got, from its config.json and metrics.jsonl (no checkpoint loaded)."""

    finished: bool
    epochs_done: int
    epochs: int | None
    best_epoch: int | None

    @property
    def text(self) -> str:
        return "finished" if self.finished else f"interrupted at epoch {self.epochs_done} of {self.epochs}"


def status(run_dir: Path) -> Status:
    cfg = read_json(run_dir / "config.json")
    history = read_metrics(run_dir / "metrics.jsonl")
    best = best_line(history, cfg.get("select", "logloss"))
    done = len(history) >= cfg.get("epochs", 0) and (run_dir / "best.pt").is_file()
    return Status(done, len(history), cfg.get("epochs"), best["epoch"] if best else None)
