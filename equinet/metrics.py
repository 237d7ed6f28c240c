"""Forecast metrics on arrays of probabilities [N, 3] and labels [N] (0 up, 1 down, 2 flat)."""

from __future__ import annotations

import numpy as np

from equinet.features import CLASSES, DOWN, UP

EPS = 1e-12


def log_loss(p: np.ndarray, y: np.ndarray) -> float:
    return float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], EPS, 1.0))))


def accuracy(pred: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(pred == y))


def score_per_1000(pred: np.ndarray, y: np.ndarray) -> float:
    """The original EquiNet's score: +1 correct, -1 true UP called DOWN, -2 true DOWN called UP."""
    points = (pred == y).astype(float) - ((y == UP) & (pred == DOWN)) - 2.0 * ((y == DOWN) & (pred == UP))
    return float(1000 * points.mean())


def recall(pred: np.ndarray, y: np.ndarray) -> dict[str, float]:
    return {name: float(np.mean(pred[y == c] == c)) if (y == c).any() else float("nan")
            for c, name in enumerate(CLASSES)}


def class_shares(y: np.ndarray) -> np.ndarray:
    return np.bincount(y, minlength=len(CLASSES)) / max(len(y), 1)


def validation_line(p: np.ndarray, y: np.ndarray, prior: np.ndarray, loss: float) -> dict:
    """What each epoch reports on every validation window."""
    pred = p.argmax(1)
    ll = log_loss(p, y)
    ll_prior = log_loss(np.broadcast_to(prior, p.shape), y)
    return {
        "val_loss": loss, "val_rows": int(len(y)), "val_accuracy": accuracy(pred, y), "val_log_loss": ll,
        "val_log_loss_skill": 1 - ll / ll_prior, "val_score_per_1000": score_per_1000(pred, y),
        **{f"val_recall_{k}": v for k, v in recall(pred, y).items()},
    }
