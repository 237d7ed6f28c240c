"""A run directory belongs to one training process at a time, and a finished run is never silently replaced."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from equinet.core import lock
from equinet.core.files import read_json, read_metrics
from equinet.training.config import best_line

LOCK = ".lock"
CONFIG, METRICS, BEST, LAST = "config.json", "metrics.jsonl", "best.pt", "last.pt"
VAL_ALL = "val-all.json"  # the best checkpoint on every validation day, when epochs validated on some (--val-windows)
DEPLOY = "deploy.json"  # a --deploy refit: the run whose validation chose its epochs, and that epoch's line
CV, FOLD, ROWS, REPORT = "cv.json", "fold.json", "rows.npz", "report"
RUN_FILES = (CONFIG, METRICS, BEST, LAST, VAL_ALL, DEPLOY)  # what --overwrite removes; nothing else


@dataclass(frozen=True)
class Folder:
    """A run folder's layout: where each file of a train run, a cv and its folds lives (the one place that names
    them)."""

    path: Path

    config = property(lambda self: self.path / CONFIG)
    metrics = property(lambda self: self.path / METRICS)
    best = property(lambda self: self.path / BEST)
    last = property(lambda self: self.path / LAST)
    val_all = property(lambda self: self.path / VAL_ALL)
    deploy = property(lambda self: self.path / DEPLOY)
    cv = property(lambda self: self.path / CV)
    fold_file = property(lambda self: self.path / FOLD)
    rows = property(lambda self: self.path / ROWS)  # a cv fold's scored rows
    report = property(lambda self: self.path / REPORT)

    def eval_file(self, split: str) -> Path:
        """The latest `equinet eval --split split` of this run's checkpoint."""
        return self.path / f"eval-{split}.json"

    def eval_rows(self, split: str) -> Path:
        """The rows that evaluation scored, beside it (read back by `equinet report`)."""
        return self.path / f"eval-{split}.npz"

    def backtest_file(self, split: str = "test") -> Path:
        """The latest `equinet backtest` of the run's split (a cv trades its folds' blocks, whatever the split:
        backtest-test.json)."""
        return self.path / f"backtest-{'test' if self.kind == 'cv' else split}.json"

    def fold(self, k: int) -> "Folder":
        return Folder(self.path / f"fold-{k}")

    def folds(self) -> list["Folder"]:
        """The fold folders a cv has started, in order."""
        return [Folder(p) for p in sorted(self.path.glob("fold-*"), key=lambda p: int(p.name[5:]) if
                                          p.name[5:].isdigit() else 0) if p.is_dir()]

    @property
    def kind(self) -> str | None:
        """'cv' (a cv.json, or folds begun), 'train' (a config.json) or None (not a run folder)."""
        if self.cv.is_file() or any(f.config.is_file() for f in self.folds()):
            return "cv"
        return "train" if self.config.is_file() else None


def newest_run(out: Path) -> Path:
    """The train run under out whose best.pt is newest."""
    found = sorted((Folder(p).best for p in Path(out).iterdir() if p.is_dir() and Folder(p).best.is_file()),
                   key=lambda p: p.stat().st_mtime) if Path(out).is_dir() else []
    if not found:
        raise FileNotFoundError(f"{out}: no run with a {BEST}; train one with `equinet train` or pass --checkpoint")
    return found[-1].parent


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


def read_run(run_dir: Path) -> tuple[dict, list[dict], dict | None, Status]:
    """A train run as its files hold it: config, metrics lines, the best epoch's line, and how far it got."""
    folder = Folder(run_dir)
    cfg = read_json(folder.config)
    history = read_metrics(folder.metrics)
    best = best_line(history, cfg.get("select", "logloss"))
    done = len(history) >= cfg.get("epochs", 0) and folder.best.is_file()
    return cfg, history, best, Status(done, len(history), cfg.get("epochs"), best["epoch"] if best else None)


def status(run_dir: Path) -> Status:
    return read_run(run_dir)[3]
