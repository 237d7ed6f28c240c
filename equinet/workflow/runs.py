"""`equinet runs`: one row per run directory, from the files the runs wrote (no checkpoint is loaded, no torch)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from equinet.core.files import read_json
from equinet.core.metrics import METRICS
from equinet.training import rundir

OPTIONS = ("d_model", "layers", "head", "loss", "epochs", "ensemble")
# (column, key in a validation line, key in an eval/cv block): the figures shown for validation, cv and test
FIGURES = tuple(METRICS[k] for k in ("log_loss", "log_loss_skill", "log_loss_skill_vs_volatility", "accuracy", "auc_up",
                                     "auc_down", "rank_ic", "rank_ic_tradable", "score_per_1000", "topk_excess"))  # the registry's
COLUMNS = ("name", "kind", "status", "date", "store", *OPTIONS, "parameters", "seconds", "best_epoch",
           *[f"val_{m.run_column}" for m in FIGURES], *[f"test_{m.run_column}" for m in FIGURES], "backtest_excess")
TEXT = ("name", "kind", "status", "date", "store", "head", "loss")
INTEGER = ("d_model", "layers", "epochs", "ensemble", "parameters", "best_epoch")


def _date(*paths: Path) -> str:
    """When the run last wrote one of its files (ISO, local time)."""
    times = [p.stat().st_mtime for p in paths if p.exists()]
    return datetime.fromtimestamp(max(times)).isoformat(timespec="seconds") if times else ""


def _figures(block: dict | None, prefix: str, line: bool = False) -> dict:
    """The figure columns from a validation line (line=True) or a model block of eval/cv."""
    out = {}
    for m in FIGURES:
        key = m.line_key if line else m.key
        out[f"{prefix}_{m.run_column}"] = (block or {}).get(key) if key else None
    return out


def _train_row(path: Path) -> dict:
    folder = rundir.Folder(path)
    cfg, history, best, status = rundir.read_run(path)
    test = read_json(folder.eval_file("test")).get("model") if folder.eval_file("test").is_file() else None
    return {"kind": "train", "status": status.text, "date": _date(folder.metrics, folder.config),
            "store": cfg.get("data"), **{k: cfg.get(k) for k in OPTIONS}, "parameters": cfg.get("parameters"),
            "seconds": sum(r.get("seconds", 0.0) for r in history) or None,
            "best_epoch": best["epoch"] if best else None, **_figures(best, "val", line=True),
            **_figures(test, "test")}


def _cv_row(path: Path) -> dict:
    folder = rundir.Folder(path)
    done = [f.fold_file for f in folder.folds() if f.fold_file.is_file()]
    if not folder.cv.is_file():
        return {"kind": "cv", "status": f"interrupted: {len(done)} of {len(folder.folds())} folds finished",
                "date": _date(*done, path)}
    cv = read_json(folder.cv)
    cfg = cv.get("config", {})
    first = folder.fold(1).config
    return {"kind": "cv", "status": "finished", "date": _date(folder.cv),
            "store": cfg.get("data"), **{k: cfg.get(k) for k in OPTIONS},
            "parameters": read_json(first).get("parameters") if first.is_file() else None, "seconds": cv.get("seconds"),
            **_figures(cv["pooled"]["model"], "val")}


def _backtest(path: Path) -> dict:
    """The model's annualised excess over the universe after costs, from the run's `equinet backtest` of its
    test split (a cv: of its folds)."""
    file = rundir.Folder(path).backtest_file("test")
    block = read_json(file)["forecasters"].get("model", {}) if file.is_file() else {}
    return {"backtest_excess": block.get("after_costs", {}).get("annual_excess")}


def row(path: Path) -> dict:
    """One run directory as a row of COLUMNS; anything unreadable is a row whose status says why."""
    out = dict.fromkeys(COLUMNS) | {"name": path.name}
    try:
        kind = rundir.Folder(path).kind
        if kind is None:
            return out | {"kind": "?", "status": f"not a run: no {rundir.CONFIG} or {rundir.CV}"}
        return out | (_cv_row(path) if kind == "cv" else _train_row(path)) | _backtest(path)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        return out | {"kind": "?", "status": f"unreadable: {type(exc).__name__}: {exc}".splitlines()[0]}


def runs(out: Path, sort: str = "date") -> list[dict]:
    """Every directory under out as a row, sorted by a column (-column: descending; empty values last)."""
    if not out.is_dir():
        raise FileNotFoundError(f"{out}: no such folder of runs")
    key = sort.lstrip("-")
    if key not in COLUMNS:
        raise ValueError(f"--sort takes one of {', '.join(COLUMNS)} (prefix - for descending), not {sort!r}")
    rows = [row(p) for p in sorted(out.iterdir()) if p.is_dir() and not p.name.startswith(".")]
    filled = sorted((r for r in rows if r[key] is not None), key=lambda r: r[key], reverse=sort.startswith("-"))
    return filled + [r for r in rows if r[key] is None]


def frame(rows: list[dict]):
    """The rows as a typed polars frame (text, integers, floats), for csv and xlsx."""
    import polars as pl

    schema = {c: pl.String if c in TEXT else pl.Int64 if c in INTEGER else pl.Float64 for c in COLUMNS}
    return pl.DataFrame([{c: r[c] for c in COLUMNS} for r in rows], schema=schema, orient="row")


def write(rows: list[dict], fmt: str, output: Path | None = None) -> str | None:
    """The rows as csv or json text (returned), or written atomically to output (xlsx needs a file)."""
    from equinet.core.files import replace_file, write_text

    if fmt == "xlsx":
        replace_file(output, lambda tmp: frame(rows).write_excel(tmp, worksheet="runs", autofit=True))
        return None
    text = frame(rows).write_csv() if fmt == "csv" else json.dumps(rows, indent=1, ensure_ascii=False)
    if output is not None:
        write_text(text, output)
    return text
