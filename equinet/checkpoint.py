"""Checkpoints and run files, each written to a temporary name and renamed into place."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def replace_file(path: Path, write: Callable[[Path], None]) -> None:
    """Write to a temporary sibling, then rename over path: readers never see half a file."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    write(tmp)
    os.replace(tmp, path)


def save(obj: dict, path: Path) -> None:
    import torch  # here, not at the top: run tables and reports read the JSON files without loading torch

    replace_file(path, lambda tmp: torch.save(obj, tmp))


KEYS = ("format", "model", "model_config", "config", "label_rule", "features", "splits", "prior")


def load(path: Path, device: torch.device | str = "cpu") -> dict:
    """A checkpoint EquiNet wrote; anything else (missing, empty, truncated, foreign) is a one-line error."""
    import torch

    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: no checkpoint here")
    try:
        state = torch.load(path, map_location=device, weights_only=True)  # loading never runs code from the file
    except Exception as exc:  # torch raises many kinds for a damaged file (EOFError, RuntimeError, pickle errors)
        reason = "empty" if Path(path).stat().st_size == 0 else f"{type(exc).__name__}: {exc}".splitlines()[0]
        raise ValueError(f"{path}: not a readable checkpoint ({reason}); it is truncated or not an EquiNet "
                         "checkpoint") from None
    if not isinstance(state, dict) or any(k not in state for k in KEYS):
        raise ValueError(f"{path}: not an EquiNet checkpoint (it lacks {', '.join(KEYS)})")
    return state


def read_json(path: Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def write_text(text: str, path: Path) -> None:
    replace_file(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json(obj: dict, path: Path) -> None:
    write_text(json.dumps(obj, indent=1, ensure_ascii=False), path)


def read_metrics(path: Path, upto: int | None = None) -> list[dict]:
    """metrics.jsonl (none: []), keeping only epochs <= upto (lines past the last checkpoint are dropped on
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
