"""`equinet train --deploy`: the evening's model. A first run validates on the store's last days (no test block)
and picks the epoch count; a second run refits from scratch through the last labelled day for that many epochs,
and is the one eval, backtest and predict use."""

from __future__ import annotations

from dataclasses import replace

from equinet.core.files import write_json
from equinet.data.store import read_meta
from equinet.features import splits
from equinet.training import distributed, rundir
from equinet.training.config import TrainConfig
from equinet.training.train import Run, start

SELECT = "-select"  # the validating run's directory: the deployed run's name and this


def select_config(cfg: TrainConfig) -> TrainConfig:
    """The validating run of a --deploy: the deployed run's name + SELECT."""
    return replace(cfg, name=(cfg.name or cfg.default_name()) + SELECT)


def refit(select: Run, overwrite: bool = False, timeout: float = distributed.TIMEOUT) -> Run:
    """The deployed run: the validating run's options, trained from scratch on every labelled day for the epochs
    its validation chose (the learning-rate schedule spans them)."""
    cfg = replace(select.cfg, name=select.cfg.name.removesuffix(SELECT), epochs=select.best["epoch"])
    run = start(cfg, overwrite=overwrite, timeout=timeout,
                splits=splits.refit(read_meta(cfg.data)["dates"], cfg.horizon))
    distributed.on_main(lambda: write_json({"selected_by": str(select.dir), "epochs": select.best["epoch"],
                                            "validation": select.history[select.best["epoch"] - 1]},
                                           rundir.Folder(run.dir).deploy))
    return run
