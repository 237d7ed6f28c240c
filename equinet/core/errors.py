"""Errors that end a command with a non-zero exit and one line (the CLI maps them): torch-free, so the CLI can
name them without loading torch."""

from __future__ import annotations


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""
