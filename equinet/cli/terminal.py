"""The terminal: the two consoles, the one error boundary and its one-line error, progress bars, and the live output
of training, cv and a checkpoint's choice (what the commands print while the package's functions run)."""

from __future__ import annotations

import os
import sys
from dataclasses import fields
from pathlib import Path

import typer
from typer.core import TyperGroup
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from equinet.core.errors import TrainingDiverged
from equinet.core.files import WriteError
from equinet.core.findings import IngestError
from equinet.training import rundir
from equinet.training.config import ASKED, TrainConfig
from equinet.cli.options import to_config


class Out(Console):
    """Rich's console; a closed pipe is left to the command group (rich itself would exit with 1)."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise BrokenPipeError


PIPED_WIDTH = 200  # tables keep their full headers when the output is not a terminal (which rich takes as 80 wide)
console = Out(soft_wrap=True, width=None if sys.stdout.isatty() else PIPED_WIDTH)
err = Out(stderr=True, soft_wrap=True, width=None if sys.stderr.isatty() else PIPED_WIDTH)
if os.environ.get("RANK", "0") != "0":  # under torchrun every rank runs the command; rank 0 alone speaks
    console.quiet = err.quiet = True


def fail(message: str, code: int = 2) -> None:
    """One clear line on stderr and a non-zero exit."""
    err.print(f"error: {message}", style="red", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def say(text: str, style: str | None = None) -> None:
    """A line on stderr (notes, warnings, which checkpoint is used): stdout stays the result."""
    err.print(text, style=style, markup=False, highlight=False)


def progress_bar(quiet: bool, first: TextColumn | None = None, *after: TextColumn) -> Progress:
    """A bar on stderr that disappears when done: its description (or first), the bar, the count, after, time."""
    return Progress(first or TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), *after,
                    TimeElapsedColumn(), console=err, disable=quiet, transient=True)


def ask(cfg: TrainConfig, options: dict) -> TrainConfig:
    """The fields that are asked on a terminal when not given (as the original EquiNet did); never otherwise."""
    explained = {f.name: f.metadata.get("ask") for f in fields(TrainConfig)}
    for name in ASKED:
        if options.get(name) is None and sys.stdin.isatty():
            console.print(explained[name], markup=False)
            setattr(cfg, name, typer.prompt(name, default=getattr(cfg, name), type=int))
    return cfg


def train_live(resume: Path | None, options: dict, stop_after: int | None, overwrite: bool, as_json: bool,
               timeout: float) -> None:
    """`equinet train` in this process: start or resume, a progress bar per epoch, one line per epoch, the table;
    with --deploy, the validating run, then the refit through the last labelled day."""
    from equinet.features.splits import STOCK_SPLIT_WARNING
    from equinet.training.train import start
    from equinet.workflow.deploy import SELECT, refit, select_config
    from equinet.cli.tables import epochs_table, print_json

    if resume is not None:
        overrides = {k: options[k] for k in ("device", "precision", "epochs") if options.get(k) is not None}
        run = start(TrainConfig(), resume=resume, overrides=overrides, timeout=timeout)
    else:
        cfg = ask(to_config(options), options)
        run = start(select_config(cfg) if cfg.deploy else cfg, overwrite=overwrite, timeout=timeout)
    cfg, quiet = run.cfg, as_json or not run.world.main  # the other ranks skip the time estimate too
    if cfg.split_by == "stock":
        say(f"warning: {STOCK_SPLIT_WARNING}", "yellow")
    fit_live(run, stop_after, quiet, resume is not None)
    select = None
    if cfg.deploy and run.cfg.name.endswith(SELECT) and run.epoch == cfg.epochs:
        say(f"validation chose epoch {run.best['epoch']} of {cfg.epochs}; refitting on every labelled day for "
            f"{run.best['epoch']} epochs")
        select, run = run, refit(run, overwrite, timeout)
        fit_live(run, None, quiet, False)
    if as_json:
        print_json(console, {"run": str(run.dir), "epochs": run.epoch, "best": run.best, "last": run.history[-1]})
        return
    if cfg.deploy and not run.cfg.name.endswith(SELECT):
        console.print(f"deployed {run.dir}: trained on every labelled day for the {run.epoch} epochs validation chose "
                      f"in {select.dir if select else cfg.name + SELECT}; saved {rundir.Folder(run.dir).best}",
                      markup=False)
        return
    console.print(epochs_table(run.history, run.best))
    if run.val_all:
        line = run.val_all
        console.print(f"best epoch {line['epoch']} on all {line['val_rows']:,} validation windows: log loss "
                      f"{line['val_log_loss']:.4f} (volatility {line['val_log_loss_volatility']:.4f}), rank IC "
                      f"{line['val_rank_ic']:+.4f}; in {rundir.Folder(run.dir).val_all}")
    folder = rundir.Folder(run.dir)
    console.print(f"best epoch {run.best['epoch']} by {run.best['metric']} = {run.best['value']:.4f}; saved "
                  f"{folder.best} and {folder.last.name}", markup=False)


def fit_live(run, stop_after: int | None, quiet: bool, resumed: bool) -> None:
    """One run's epochs: the start lines, a progress bar per epoch, one line per epoch; Ctrl-C says how to resume."""
    from equinet.training.train import estimate_epoch_seconds, fit
    from equinet.cli.tables import epoch_row, objective, run_start

    cfg = run.cfg
    if not quiet:
        console.print(run_start(run, resumed, estimate_epoch_seconds(run)), markup=False)
    bar = progress_bar(quiet, TextColumn("epoch {task.fields[epoch]}"), TextColumn(
        f"train {objective(cfg)} {{task.fields[loss]:.4f}}  lr {{task.fields[lr]:.2e}}  "
        "{task.fields[rate]:.0f} samples/s"))
    task = bar.add_task("train", total=run.steps, epoch=0, loss=0.0, lr=0.0, rate=0.0)
    try:
        with bar:
            fit(run, stop_after=stop_after,
                on_epoch_start=lambda e, n: bar.reset(task, total=n, epoch=e, loss=0.0, lr=0.0, rate=0.0),
                on_step=lambda loss_, lr_, rate: bar.update(task, advance=1, loss=loss_, lr=lr_, rate=rate),
                on_epoch=lambda row: quiet or bar.console.print(epoch_row(row, objective(cfg)), markup=False,
                                                                highlight=False))
    except KeyboardInterrupt:
        say(f"stopped after epoch {run.saved} of {cfg.epochs}; " + (
            f"continue with `equinet train --resume {run.dir}`" if run.saved else "no epoch finished, nothing to "
            "resume"))
        raise typer.Exit(130) from None
    finally:
        run.close()


def train_ranks(ctx: typer.Context, nproc: int, resume: Path | None, options: dict, overwrite: bool) -> None:
    """`train --nproc N`: the questions asked and the run named here, once; then N ranks under torchrun."""
    from equinet.training.launch import command_line, launch

    changes: dict = {"nproc": None}
    if resume is None:  # what can be refused before any process starts is refused here, in one line
        cfg = ask(to_config(options), options)
        changes |= {"d_model": cfg.d_model, "epochs": cfg.epochs, "name": cfg.name or cfg.default_name()}
        rundir.check_new(Path(cfg.out) / changes["name"], overwrite)
    code = launch(nproc, command_line(ctx, changes))
    if code:
        folder = rundir.Folder(resume or Path(to_config(options).out) / changes["name"])
        then = (f"; its last checkpoint is {folder.last}: `equinet train --resume {folder.path} --nproc {nproc}` "
                "continues it") if folder.last.is_file() else ""
        fail(f"training in {nproc} processes stopped (torchrun exit code {code}; the lines above name the rank and "
             f"why){then}", code=code)


def cv_live(cfg: TrainConfig, name: str | None, folds: int, fold_days: int, resume: bool, top_pct: float,
            bootstrap: int, block_days: int, as_json: bool, until: str | None = None) -> None:
    """`equinet cv`: one bar over every fold-epoch, the time estimate after the first start, the table."""
    from equinet.training.train import estimate_epoch_seconds
    from equinet.workflow.cv import cross_validate
    from equinet.cli.tables import cv_book_table, cv_table, print_json

    bar = progress_bar(as_json)
    task = bar.add_task("cv", total=folds * cfg.epochs)
    estimated = []

    def on_start(run) -> None:
        if not estimated and not as_json:
            estimated.append(estimate_epoch_seconds(run))
            left = bar.tasks[0].total - bar.tasks[0].completed
            bar.console.print(f"estimated {estimated[0] * left / 60:.0f} min for {left} fold-epochs "
                              f"({estimated[0]:.1f} s each) plus scoring", markup=False)

    with bar:
        result = cross_validate(
            cfg, folds, fold_days, name, resume, top_pct, bootstrap, block_days,
            on_fold=lambda f: bar.update(task, description=f"fold {f.k}/{folds}", completed=(f.k - 1) * cfg.epochs),
            on_start=on_start, on_epoch=lambda row: bar.advance(task),
            note=lambda text: as_json or bar.console.print(text, markup=False), until=until)
    if as_json:
        print_json(console, result)
        return
    console.print(cv_table(result))
    console.print(cv_book_table(result))
    console.print(f"{rundir.Folder(Path(result['cv'])).cv} holds every figure ({result['seconds'] / 60:.1f} min).",
                  markup=False)


class Commands(TyperGroup):
    """The command group: the one place errors become a line. A closed pipe (`equinet predict | head`) ends
    quietly with 0; a failed write or a diverged run exits 1; bad input exits 2."""

    def invoke(self, ctx: typer.Context):
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # the final flush goes nowhere
            raise typer.Exit(0) from None
        except IngestError as exc:
            from equinet.cli.tables import print_findings

            print_findings(err, exc.findings, ("error",))
            fail(str(exc))
        except (TrainingDiverged, WriteError) as exc:
            fail(str(exc), code=1)
        except (FileNotFoundError, ValueError) as exc:
            fail(str(exc))


def applied(run: Path | None, checkpoint: Path | None, out: Path, data: Path | None, context: int | None,
            device: str, up: float | None, down: float | None):
    """The checkpoint applied to its store, after one line saying which checkpoint it is."""
    from equinet.inference.apply import apply, describe, resolve

    chosen = resolve(run, checkpoint, out)
    say(describe(chosen), "dim")
    app_ = apply(chosen, data, context, device, up=up, down=down)
    if app_.thresholds_note:
        say(f"note: {app_.thresholds_note}", "yellow")
    return app_
