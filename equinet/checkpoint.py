"""Checkpoints: written whole (serialised in memory, then one atomic file write), loaded weights-only."""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

from equinet.files import write_bytes

if TYPE_CHECKING:
    import torch


def save(obj: dict, path: Path) -> None:
    """Serialised in memory first: a full disk is then an OS error on a plain write, not torch's short-write
    RuntimeError, and never a half checkpoint."""
    import torch  # here, not at the top: run tables and reports read the JSON files without loading torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    write_bytes(buffer.getvalue(), path)


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
