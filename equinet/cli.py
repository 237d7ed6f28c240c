"""The `equinet` command: a thin Typer layer over the package's functions."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import typer
from typer.core import TyperGroup
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from equinet.config import TrainConfig
from equinet.days import iso_day
from equinet.files import WriteError
from equinet.findings import IngestError



class Commands(TyperGroup):
    """The command group; output cut short by a closed pipe (`equinet predict | head`) ends quietly with 0."""

    def invoke(self, ctx: typer.Context):
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # the final flush goes nowhere
            raise typer.Exit(0) from None


app = typer.Typer(
    cls=Commands,
    help="EquiNet: 涨/跌/稳 probabilities for A-share stocks from TDX (通达信) daily-bar exports.",
    no_args_is_help=True,
    add_completion=False,
)


class Out(Console):
    """Rich's console; a closed pipe is left to Commands (rich itself would exit with 1)."""

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


def check_split(split: str) -> None:
    """--split of eval and report: the checkpoint's splits, or all days."""
    if split not in ("train", "val", "test", "all"):
        fail(f"--split must be train, val, test or all, not {split!r}")


def progress_bar(quiet: bool) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=err, disable=quiet, transient=True)


@app.command()
def ingest(
    src: Path = typer.Argument(Path("data/raw"), help="Folder of TDX exports (*.xlsx/*.csv with the market columns, "
                               "or text exports SH#600519.txt), or a TDX root / its vipdoc folder."),
    out: Path = typer.Option(Path("data/parquet"), "--out", "-o", help="Store directory to (re)write atomically."),
    workers: int = typer.Option(0, min=0, help="Files read in parallel (0 = one per CPU core)."),
    strict: bool = typer.Option(True, "--strict/--lenient",
                                help="--strict: any error fails and writes nothing. --lenient: skip bad files."),
    adjust: bool = typer.Option(True, "--adjust/--no-adjust",
                                help="Back-adjust prices across ex-rights gaps; --no-adjust marks those days unusable."),
    force: bool = typer.Option(False, "--force", help="Rebuild even when the sources are unchanged."),
    universe: str = typer.Option("a-shares", help="Text exports and vipdoc: a-shares (sh 60/68, sz 00/30, "
                                 "bj 43/83/87/92) or all (also funds, B shares, bonds)."),
    market_index: str = typer.Option("sh000001", help="Text exports and vipdoc: the index file whose volume, "
                                     "change and range are the market series (e.g. sz399001, sh000300)."),
    gbbq: Path = typer.Option(None, help="TDX's corporate-action file (default: T0002/hq_cache/gbbq under a TDX "
                              "root): exact ex-rights factors instead of inferring them from price gaps."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON instead of tables."),
) -> None:
    """Read every TDX export in SRC, validate, align by date and write one store (panel.npy, market.npy, ...)."""
    from equinet.ingest import ingest as run
    from equinet.report import disagreements_table, events_table, print_findings, summary_table

    with progress_bar(as_json) as bar:
        task = bar.add_task("reading files", total=None)
        try:
            result = run(src, out, workers=workers or None, strict=strict, adjust=adjust, force=force,
                         universe=universe, market_index=market_index, gbbq=gbbq,
                         on_start=lambda n: bar.update(task, total=n), progress=lambda: bar.advance(task))
        except IngestError as exc:
            bar.stop()
            print_findings(err, exc.findings, ("error",))
            fail(str(exc))
        except (FileNotFoundError, ValueError) as exc:
            bar.stop()
            fail(str(exc))
    meta = result.meta
    if as_json:
        console.print_json(json.dumps({"status": result.status, "out": str(out), **meta["summary"],
                                       "events": meta["events"], "market_disagreements": meta["market_disagreements"],
                                       "skipped": meta["skipped"]}))
        return
    if result.status == "unchanged":
        console.print(f"{out}: sources unchanged since {meta['created']}; nothing to do (--force rebuilds)")
    else:
        print_findings(console, result.findings, ("error", "warning", "note"))
        if meta["events"]:
            console.print(events_table(meta["events"]))
        if meta["market_disagreements"]:
            console.print(disagreements_table(meta["market_disagreements"]))
    console.print(summary_table(meta, f"Store {out}"))


@app.command()
def info(
    store: Path = typer.Argument(Path("data/parquet"), help="Store directory written by `equinet ingest`."),
    as_json: bool = typer.Option(False, "--json", help="Print meta.json's summary as JSON."),
) -> None:
    """Summarise a store (read back from its meta.json)."""
    from equinet.report import events_table, summary_table
    from equinet.store import read_meta

    try:
        meta = read_meta(store)
    except ValueError as exc:
        fail(str(exc))
    if meta is None:
        fail(f"{store}: no EquiNet store here (no meta.json); run `equinet ingest` first")
    if as_json:
        console.print_json(json.dumps({**meta["summary"], "created": meta["created"], "events": meta["events"]}))
        return
    if meta["events"]:
        console.print(events_table(meta["events"]))
    console.print(summary_table(meta, f"Store {store} (built {meta['created']})"))


@app.command()
def synth(
    out: Path = typer.Argument(..., help="Folder to write the files (or, for vipdoc, the TDX tree) into."),
    stocks: int = typer.Option(20, min=1, help="Number of stocks."),
    days: int = typer.Option(300, min=23, help="Trading days per stock."),
    seed: int = typer.Option(0, help="Random seed; the same seed writes the same data."),
    fmt: str = typer.Option("xlsx", "--format", help="xlsx (as TDX exports), csv (faster), txt (TDX text "
                            "exports, GBK) or vipdoc (native .day files); txt and vipdoc add the index sh000001."),
    start: str = typer.Option("2020-01-02", help="First trading day (ISO date)."),
) -> None:
    """Write realistic synthetic TDX exports (shared market factor, fat tails, suspensions, one ex-rights day)."""
    from equinet.synth import synth as run

    with progress_bar(False) as bar:
        task = bar.add_task("writing files", total=stocks)
        try:
            paths = run(out, stocks=stocks, days=days, seed=seed, fmt=fmt, start=iso_day(start, "--start"),
                        progress=lambda: bar.advance(task))
        except (OSError, ValueError) as exc:
            bar.stop()
            fail(f"{exc.filename}: {exc.strerror}" if getattr(exc, "filename", None) else str(exc))
    console.print(f"wrote {len(paths)} files ({days} days each, seed {seed}) to {out}")


DEFAULT = TrainConfig()
D_MODEL_HELP = """--d-model sets the width of every layer. Quality: wider models can learn more patterns but also
overfit a few hundred stocks sooner. Parameters grow with its square (64: ~0.07 M, 128: ~0.27 M,
256: ~1.1 M at 2 layers). Time per epoch grows roughly with its square too."""
EPOCHS_HELP = """--epochs sets how many rounds of --samples-per-epoch training windows the model sees. More epochs
can help until the validation log loss stops improving (best.pt keeps the best epoch, so extra epochs cost only
time). Time grows linearly with it."""


def train_config(options: dict) -> TrainConfig:
    """The TrainConfig of `equinet train`'s options as given (None: the default), checked."""
    given = {k: v for k, v in options.items() if k in TrainConfig.__dataclass_fields__ and v is not None}
    cfg = TrainConfig(**{**given, "data": str(options["data"]), "out": str(options["out"])})
    cfg.check()
    return cfg


def ask(value: int | None, default: int, name: str, explanation: str) -> int:
    """Ask on a terminal when the option was not given (as the original EquiNet did); never otherwise."""
    if value is not None:
        return value
    if not sys.stdin.isatty():
        return default
    console.print(explanation, markup=False)
    return typer.prompt(name, default=default, type=int)


@app.command()
def train(
    ctx: typer.Context,
    data: Path = typer.Option(Path(DEFAULT.data), help="Store written by `equinet ingest`."),
    out: Path = typer.Option(Path(DEFAULT.out), help="Folder for run directories."),
    name: str = typer.Option(None, help="Run directory name under --out (default: time and main options)."),
    resume: Path = typer.Option(None, help="Continue the run in this directory exactly where it stopped "
                                "(its saved options; --epochs may extend it)."),
    epochs: int = typer.Option(None, min=1, help=f"Epochs to train (default {DEFAULT.epochs}; asked on a terminal)."),
    stop_after: int = typer.Option(None, min=1, help="Stop after this many epochs of this invocation "
                                   "(the schedule still spans --epochs; --resume continues)."),
    d_model: int = typer.Option(None, min=8, help=f"Model width (default {DEFAULT.d_model}; asked on a terminal)."),
    layers: int = typer.Option(DEFAULT.layers, min=1, help="Transformer layers."),
    heads: int = typer.Option(DEFAULT.heads, min=1, help="Attention heads (must divide --d-model)."),
    dropout: float = typer.Option(DEFAULT.dropout, min=0.0, max=0.9, help="Dropout rate."),
    min_context: int = typer.Option(DEFAULT.min_context, min=2, help="Shortest training window, days."),
    max_context: int = typer.Option(DEFAULT.max_context, min=2, help="Longest training window, days."),
    context: int = typer.Option(DEFAULT.context, min=2, help="Window for validation, eval and predict, days."),
    horizon: int = typer.Option(DEFAULT.horizon, min=1, help="Days ahead the label looks."),
    up: float = typer.Option(DEFAULT.up, help="UP (涨) if the horizon return >= this."),
    down: float = typer.Option(DEFAULT.down, help="DOWN (跌) if the horizon return <= this."),
    val_from: str = typer.Option(None, help="First validation decision day (ISO; default: last 30 % of days)."),
    test_from: str = typer.Option(None, help="First test decision day (ISO; default: last 15 % of days)."),
    split_by: str = typer.Option(DEFAULT.split_by, help="date (honest) or stock (the original EquiNet's hold-out)."),
    test_ratio: float = typer.Option(DEFAULT.test_ratio, min=0.01, max=0.4,
                                     help="With --split-by stock: share of stocks held out for test (and as many "
                                     "for validation)."),
    loss: str = typer.Option(DEFAULT.loss, help="focal or ce."),
    gamma: float = typer.Option(DEFAULT.gamma, min=0.0, help="Focal loss focusing parameter."),
    class_weights: bool = typer.Option(DEFAULT.class_weights, "--class-weights/--no-class-weights",
                                       help="Weight classes by the inverse of their training share (off by "
                                       "default: on validation it cost log loss)."),
    lr: float = typer.Option(DEFAULT.lr, min=0.0, help="Peak learning rate (AdamW)."),
    weight_decay: float = typer.Option(DEFAULT.weight_decay, min=0.0, help="AdamW weight decay."),
    warmup: float = typer.Option(DEFAULT.warmup, min=0.0, max=1.0, help="Share of steps for linear warm-up."),
    batch_size: int = typer.Option(DEFAULT.batch_size, min=1, help="Windows per step."),
    samples_per_epoch: int = typer.Option(DEFAULT.samples_per_epoch, min=1, help="Windows drawn per epoch."),
    seed: int = typer.Option(DEFAULT.seed, help="Seed for sampling, initialisation and dropout."),
    device: str = typer.Option(None, help="auto (cuda, then mps, then cpu; the default), cuda, mps or cpu."),
    precision: str = typer.Option(None, help="auto (bf16 where native: CUDA, AVX512-BF16 CPUs; the default), "
                                  "bf16 or fp32."),
    compile: bool = typer.Option(DEFAULT.compile, "--compile", help="Use torch.compile for the training step."),
    select: str = typer.Option(DEFAULT.select, help="best.pt by validation logloss, score or accuracy."),
    head: str = typer.Option(DEFAULT.head, help="dist: a Student-t anchored on the volatility baseline's sigma "
                             "(location and scale correction; answers for any thresholds); softmax: 3 logits."),
    batch_days: int = typer.Option(DEFAULT.batch_days, min=0, help="Whole-day batches: every stock of this many "
                                   "random decision days per step (0: --batch-size random windows)."),
    demean: bool = typer.Option(DEFAULT.demean, "--demean/--no-demean", help="dist head, whole-day batches: "
                                "remove each day's mean location (the model ranks; the market's drift stays 0)."),
    cross: bool = typer.Option(DEFAULT.cross, "--cross/--no-cross", help="Attention across the stocks of a day "
                               "after the per-stock encoder (as in MASTER); needs --batch-days."),
    multiscale: bool = typer.Option(DEFAULT.multiscale, "--multiscale/--no-multiscale",
                                    help="Attention heads restricted to the last 5 / 20 / all days."),
    ensemble: int = typer.Option(DEFAULT.ensemble, min=1, help="Members trained together from different "
                                 "initialisations; their probabilities are averaged. One checkpoint holds all."),
    ema: float = typer.Option(DEFAULT.ema, min=0.0, help="Exponential moving average of the weights (decay per "
                              "step, e.g. 0.99; 0 = off): the average validates and is saved."),
    return_weight: float = typer.Option(DEFAULT.return_weight, min=0.0, help="dist head: weight of the realised "
                                        "log return's negative log likelihood beside the class log loss."),
    shrink: float = typer.Option(DEFAULT.shrink, min=0.0, help="dist head: penalty on the squared outputs "
                                 "(location and log-scale correction), pulling the forecast to the volatility baseline."),
    aux: str = typer.Option(DEFAULT.aux, help="Auxiliary targets, a comma list: vol (next days' realised "
                            "volatility), momentum (the horizon return relative to the day); '' for none."),
    aux_weight: float = typer.Option(DEFAULT.aux_weight, min=0.0, help="Weight of each auxiliary loss."),
    score_weight: float = typer.Option(DEFAULT.score_weight, min=0.0, help="Cost-sensitive term: minus the "
                                       "expected score (+1 right, -1 涨 called 跌, -2 跌 called 涨), weighted."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace the run of the same --name (its config, "
                                   "metrics and checkpoints; other files in it stay)."),
    as_json: bool = typer.Option(False, "--json", help="Print the final summary as JSON."),
    nproc: int = typer.Option(1, min=1, help="Train with this many processes on this machine (torchrun, DDP: one "
                              "per GPU, or CPU processes with gloo); the same as `torchrun --standalone "
                              "--nproc-per-node N -m equinet train ...`."),
    dist_timeout: float = typer.Option(600, min=1, help="Several processes: seconds a rank waits for a silent peer "
                                       "before the run ends with an error."),
) -> None:
    """Train the transformer on batches drawn on the device (whole days by default: every stock of --batch-days
    random decision days per step; --batch-days 0: --batch-size random windows); validate every epoch."""
    if nproc > 1:
        train_on(nproc, ctx, resume, d_model, epochs, name, locals())
        return
    from equinet.report import epoch_row, epochs_table, objective
    from equinet.splits import STOCK_SPLIT_WARNING
    from equinet.train import TrainingDiverged, estimate_epoch_seconds, fit, start

    try:
        if resume is not None:
            given = {"device": device, "precision": precision, "epochs": epochs}
            run = start(TrainConfig(), resume=resume, overrides={k: v for k, v in given.items() if v is not None},
                        timeout=dist_timeout)
        else:
            cfg = train_config(locals())
            cfg.d_model = ask(d_model, DEFAULT.d_model, "d_model", D_MODEL_HELP)
            cfg.epochs = ask(epochs, DEFAULT.epochs, "epochs", EPOCHS_HELP)
            run = start(cfg, overwrite=overwrite, timeout=dist_timeout)
    except (FileNotFoundError, ValueError) as exc:
        fail(str(exc))
    cfg = run.cfg
    quiet = as_json or not run.world.main  # the other ranks skip the time estimate too
    if resume is not None and not quiet:
        console.print(f"resuming {run.dir} at epoch {run.epoch + 1} of {cfg.epochs}" if run.epoch < cfg.epochs else
                      f"{run.dir} already finished its {cfg.epochs} epochs (--epochs N extends it)", markup=False)
    if cfg.split_by == "stock":
        err.print(f"warning: {STOCK_SPLIT_WARNING}", style="yellow", markup=False)
    pools = {k: len(v) for k, v in run.data.pools.items()}
    if not quiet:
        ranks = f"  ranks {run.world.size}" if run.world.size > 1 else ""
        console.print(f"run {run.dir}  device {run.data.device}{ranks}  precision {run.precision}  "
                      f"parameters {run.model.n_params():,}", markup=False)
        console.print(f"decision points with >= {cfg.min_context} clean days  train {pools['train']:,}  "
                      f"val {pools['val']:,}  test {pools['test']:,}  (split by {cfg.split_by}; train prior up/down/flat "
                      f"{' / '.join(f'{100 * p:.1f} %' for p in run.prior)})", markup=False)
        per_epoch = estimate_epoch_seconds(run)
        console.print(f"estimated {per_epoch:.1f} s per epoch, {per_epoch * (cfg.epochs - run.epoch) / 60:.1f} min "
                      f"for epochs {run.epoch + 1}..{cfg.epochs}", markup=False)
    bar = Progress(TextColumn("epoch {task.fields[epoch]}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn(f"train {objective(cfg)} {{task.fields[loss]:.4f}}  lr {{task.fields[lr]:.2e}}  "
                              "{task.fields[rate]:.0f} samples/s"), TimeElapsedColumn(), console=err, disable=quiet,
                   transient=True)
    task = bar.add_task("train", total=run.steps, epoch=0, loss=0.0, lr=0.0, rate=0.0)
    try:
        with bar:
            fit(run, stop_after=stop_after,
                on_epoch_start=lambda e, n: bar.reset(task, total=n, epoch=e, loss=0.0, lr=0.0, rate=0.0),
                on_step=lambda loss_, lr_, rate: bar.update(task, advance=1, loss=loss_, lr=lr_, rate=rate),
                on_epoch=lambda row: quiet or bar.console.print(epoch_row(row, objective(cfg)), markup=False,
                                                                highlight=False))
    except (TrainingDiverged, WriteError) as exc:
        fail(str(exc), code=1)
    except KeyboardInterrupt:
        err.print(f"stopped after epoch {run.saved} of {cfg.epochs}; " + (
            f"continue with `equinet train --resume {run.dir}`" if run.saved else "no epoch finished, nothing to "
            "resume"), markup=False, highlight=False)
        raise typer.Exit(130) from None
    finally:
        run.close()
    summary = {"run": str(run.dir), "epochs": run.epoch, "best": run.best, "last": run.history[-1]}
    if as_json:
        console.print_json(json.dumps(summary))
        return
    console.print(epochs_table(run.history, run.best))
    console.print(f"best epoch {run.best['epoch']} by {run.best['metric']} = {run.best['value']:.4f}; "
                  f"saved {run.dir / 'best.pt'} and last.pt", markup=False)


def train_on(nproc: int, ctx: typer.Context, resume: Path | None, d_model: int | None, epochs: int | None,
             name: str | None, options: dict) -> None:
    """`train --nproc N`: the questions asked and the run named here, once; then N ranks under torchrun."""
    from equinet.launch import command_line, launch
    from equinet.rundir import check_new

    changes: dict = {"nproc": None}
    if resume is None:
        try:  # what can be refused before any process starts is refused here, in one line
            cfg = train_config(options)
            cfg.d_model = changes["d_model"] = ask(d_model, DEFAULT.d_model, "d_model", D_MODEL_HELP)
            cfg.epochs = changes["epochs"] = ask(epochs, DEFAULT.epochs, "epochs", EPOCHS_HELP)
            changes["name"] = name or cfg.default_name()
            check_new(Path(options["out"]) / changes["name"], options["overwrite"])
        except ValueError as exc:
            fail(str(exc))
    code = launch(nproc, command_line(ctx, changes))
    if code:
        run_dir = resume or Path(options["out"]) / changes["name"]
        then = (f"; its last checkpoint is {run_dir / 'last.pt'}: `equinet train --resume {run_dir} --nproc {nproc}` "
                "continues it") if (run_dir / "last.pt").is_file() else ""
        fail(f"training in {nproc} processes stopped (torchrun exit code {code}; the lines above name the rank and "
             f"why){then}", code=code)


CV_SETS = ("resume", "name", "val_from", "test_from", "split_by", "test_ratio", "stop_after", "overwrite", "as_json")


def train_options_help() -> str:
    """cv's help names the train options it passes to every fold (all but those it sets itself)."""
    names = [p.opts[0] for p in typer.main.get_command(app).get_command(None, "train").params
             if p.opts[0].startswith("--") and p.name not in CV_SETS + ("data", "out", "nproc", "dist_timeout")]
    return ("Walk-forward evaluation: one run per fold, each scored on days it never saw, pooled beside every "
            "baseline.\n\nThese `equinet train` options apply to every fold (see `equinet train --help`): "
            + ", ".join(names) + ".")


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True}, help=train_options_help())
def cv(
    ctx: typer.Context,
    data: Path = typer.Option(Path(DEFAULT.data), help="Store written by `equinet ingest`."),
    out: Path = typer.Option(Path(DEFAULT.out), help="Folder for the cv directory (cv-<name>/fold-k/ runs)."),
    name: str = typer.Option(None, help="cv directory name under --out (default: the time)."),
    folds: int = typer.Option(4, min=1, help="Folds: the last FOLDS blocks of --fold-days decision days."),
    fold_days: int = typer.Option(40, min=5, help="Decision days per block (and per inner validation block)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the cv --name: finished folds are not retrained."),
    top_pct: float = typer.Option(1.0, min=0.0, max=100.0, help="Daily top-k portfolio size, % of stocks."),
    bootstrap: int = typer.Option(1000, min=0, help="Bootstrap resamples of whole days for the pooled intervals."),
    as_json: bool = typer.Option(False, "--json", help="Print cv.json instead of the table."),
) -> None:
    from equinet.cv import cross_validate
    from equinet.report import cv_table
    from equinet.train import estimate_epoch_seconds

    params = typer.main.get_command(app).get_command(ctx, "train").make_context("train", list(ctx.args)).params
    fixed = [k for k in CV_SETS if params.get(k) not in (None, False, DEFAULT.split_by, DEFAULT.test_ratio)]
    if fixed:
        fail(f"cv sets {', '.join('--' + k.replace('_', '-') for k in fixed)} itself; leave it out")
    if params["nproc"] > 1:
        fail("cv trains its folds in one process; --nproc is for `equinet train`")
    try:
        cfg = train_config({**params, "data": data, "out": out})
    except ValueError as exc:
        fail(str(exc))
    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   console=err, disable=as_json, transient=True)
    task = bar.add_task("cv", total=folds * cfg.epochs)
    estimated = []

    def on_start(run) -> None:
        if not estimated and not as_json:
            estimated.append(estimate_epoch_seconds(run))
            left = bar.tasks[0].total - bar.tasks[0].completed
            bar.console.print(f"estimated {estimated[0] * left / 60:.0f} min for {left} fold-epochs "
                              f"({estimated[0]:.1f} s each) plus scoring", markup=False)

    with bar:
        try:
            result = cross_validate(
                cfg, folds, fold_days, name, resume, top_pct, bootstrap,
                on_fold=lambda f: bar.update(task, description=f"fold {f.k}/{folds}", completed=(f.k - 1) * cfg.epochs),
                on_start=on_start, on_epoch=lambda row: bar.advance(task),
                note=lambda text: as_json or bar.console.print(text, markup=False))
        except (FileNotFoundError, ValueError) as exc:
            bar.stop()
            fail(str(exc))
    if as_json:
        console.print_json(json.dumps(result))
        return
    console.print(cv_table(result))
    console.print(f"{result['cv']}/cv.json holds every figure ({result['seconds'] / 60:.1f} min).", markup=False)


def _applied(run: Path | None, checkpoint: Path | None, out: Path, data: Path | None, context: int | None,
             device: str, up: float | None, down: float | None):
    """The checkpoint applied to its store, after one line saying which checkpoint it is."""
    from equinet.infer import apply, describe, resolve

    try:
        chosen = resolve(run, checkpoint, out)
        err.print(describe(chosen), style="dim", markup=False, highlight=False)
        app_ = apply(chosen, data, context, device, up=up, down=down)
    except (FileNotFoundError, ValueError) as exc:
        fail(str(exc))
    if app_.thresholds_note:
        err.print(f"note: {app_.thresholds_note}", style="yellow", markup=False)
    return app_


UP_HELP = "Ask about another 涨 threshold of the same horizon (dist head; default: the training one)."
DOWN_HELP = "Ask about another 跌 threshold of the same horizon (dist head; default: the training one)."


@app.command("eval")
def evaluate(
    run: Path = typer.Option(None, help="Run directory (uses its best.pt; default: the newest run under --out)."),
    checkpoint: Path = typer.Option(None, help="A checkpoint file instead of --run."),
    out: Path = typer.Option(Path("out"), help="Where runs are looked for."),
    split: str = typer.Option("test", help="train, val, test or all (decision days of the checkpoint's split)."),
    data: Path = typer.Option(None, help="Store to evaluate on (default: the one the checkpoint was trained on)."),
    date_from: str = typer.Option(None, "--from", help="First decision day (ISO date)."),
    date_to: str = typer.Option(None, "--to", help="Last decision day (ISO date)."),
    context: int = typer.Option(None, min=2, help="Window length (default: the checkpoint's --context)."),
    bootstrap: int = typer.Option(1000, min=0, help="Bootstrap resamples of whole days for the 95 % intervals."),
    top_pct: float = typer.Option(1.0, min=0.0, max=100.0, help="Daily top-k portfolio size, % of stocks."),
    gate: str = typer.Option(None, help="Also report the confidence gate, e.g. up=0.6,down=0.7."),
    up: float = typer.Option(None, help=UP_HELP),
    down: float = typer.Option(None, help=DOWN_HELP),
    device: str = typer.Option("auto", help="auto, cuda, mps or cpu."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of tables."),
) -> None:
    """Evaluate a checkpoint on every valid window, beside the baselines on the same rows: volatility (a Student-t
    of the stock's recent volatility), reversal (the 20-day return, for ranking), class prior and majority class."""
    from equinet.evaluate import evaluate as run_eval, parse_gate
    from equinet.report import eval_tables

    check_split(split)
    try:
        thresholds = parse_gate(gate) if gate else None
        date_from, date_to = iso_day(date_from, "--from"), iso_day(date_to, "--to")
    except ValueError as exc:
        fail(str(exc))
    app_ = _applied(run, checkpoint, out, data, context, device, up, down)
    with progress_bar(as_json) as bar:
        task = bar.add_task("evaluating windows", total=None)
        try:
            report = run_eval(app_, split, date_from, date_to, bootstrap, top_pct, thresholds,
                              progress=lambda n: bar.advance(task, n))
        except ValueError as exc:
            bar.stop()
            fail(str(exc))
    if report["warning"]:
        err.print(f"warning: {report['warning']}", style="yellow", markup=False)
    try:
        saved = save_eval(report, app_.checkpoint, split) if app_.world.main else None
    except WriteError as exc:
        fail(str(exc), code=1)
    if as_json:
        console.print_json(json.dumps(report))
        return
    for table in eval_tables(report):
        console.print(table)
    console.print("The baselines are the bar: a model is only useful where it beats them on the same rows "
                  "(volatility for the probabilities, reversal for the ranking).", markup=False)
    if saved:
        console.print(f"saved {saved} (`equinet runs` shows its figures)", markup=False)


def save_eval(report: dict, checkpoint: Path, split: str) -> Path | None:
    """An evaluation of a run's checkpoint is kept in the run as eval-<split>.json (the latest one)."""
    from equinet.files import write_json

    run_dir = Path(checkpoint).parent
    if not (run_dir / "config.json").is_file():
        return None
    write_json(report, run_dir / f"eval-{split}.json")
    return run_dir / f"eval-{split}.json"


@app.command()
def predict(
    codes: list[str] = typer.Argument(None, help="Stock codes: 600881, SH600881, sh600881 or 600881.SH "
                                      "(default: every stock in the store)."),
    run: Path = typer.Option(None, help="Run directory (uses its best.pt; default: the newest finished run under "
                             "--out)."),
    checkpoint: Path = typer.Option(None, help="A checkpoint file instead of --run."),
    out: Path = typer.Option(Path("out"), help="Where runs are looked for."),
    data: Path = typer.Option(None, help="Store (default: the one the checkpoint was trained on)."),
    date: str = typer.Option(None, help="Decision day, ISO (default: the store's last day)."),
    context: int = typer.Option(None, min=2, help="Window length (default: the checkpoint's --context)."),
    top: int = typer.Option(None, min=1, help="Show only the first N stocks."),
    sort: str = typer.Option("score", help="Order, highest first: score (the rank score), up (P(涨)), down (P(跌)) "
                             "or up-down (P(涨) - P(跌))."),
    fmt: str = typer.Option("table", "--format", help="table, json or csv."),
    baseline: bool = typer.Option(False, "--baseline", help="Show the volatility baseline's probabilities beside "
                                  "the model's, for comparison."),
    up: float = typer.Option(None, help=UP_HELP),
    down: float = typer.Option(None, help=DOWN_HELP),
    device: str = typer.Option("auto", help="auto, cuda, mps or cpu."),
) -> None:
    """The 涨/跌/稳 probabilities per stock for the next trading days after the decision day (sorted by --sort)."""
    from equinet.predict import predict as run_predict
    from equinet.report import predict_table

    if fmt not in ("table", "json", "csv"):
        fail(f"--format must be table, json or csv, not {fmt!r}")
    try:
        date = iso_day(date, "--date")
    except ValueError as exc:
        fail(str(exc))
    app_ = _applied(run, checkpoint, out, data, context, device, up, down)
    try:
        result = run_predict(app_, date, codes or None, baseline, sort)
    except ValueError as exc:
        fail(str(exc))
    if result["stale"]:
        err.print(f"warning: {result['stale']}", style="yellow", markup=False)
    rows = result["rows"][:top] if top else result["rows"]
    if fmt == "json":
        console.print_json(json.dumps({**result, "rows": rows}, ensure_ascii=False))
    elif fmt == "csv":
        write_forecast_csv(result, rows, baseline)
    else:
        console.print(predict_table({**result, "rows": rows}))
    for s in result["skipped"]:
        err.print(f"skipped {s['code']}: {s['reason']}", markup=False, highlight=False)


def write_forecast_csv(result: dict, rows: list[dict], baseline: bool) -> None:
    """One row per stock, with the decision day and the days it is about; units in the column names."""
    import csv

    writer = csv.writer(sys.stdout, lineterminator="\n")
    keys = ("up", "down", "flat", "up_minus_down")
    writer.writerow(["date", "first_day", "last_day", "code", "name", *[f"p_{k}_pct" for k in keys],
                     "score_log_return", "still", "zh", *([f"volatility_p_{k}_pct" for k in keys] if baseline else [])])
    for r in rows:
        extra = [f"{100 * r['volatility'][k]:.4f}" for k in keys] if baseline else []
        writer.writerow([result["date"], result["days"][0], result["days"][-1], r["symbol"], r["name"],
                         *[f"{100 * r[k]:.4f}" for k in keys], f"{r['score']:.6f}", int(r["still"]), r["zh"], *extra])


@app.command()
def runs(
    out: Path = typer.Option(Path("out"), help="Folder whose run directories (train runs and cv-* folders) are listed."),
    sort: str = typer.Option("date", help="Column to sort by, e.g. val_log_loss, or -val_skill_volatility for "
                             "descending (empty values last)."),
    fmt: str = typer.Option("table", "--format", help="table, csv, json or xlsx."),
    output: Path = typer.Option(None, "--output", "-o", help="xlsx (and optionally csv/json): write to this file "
                                "instead of the terminal."),
) -> None:
    """The experiment table: one row per run with its options, time, best epoch and figures (validation, pooled
    cv, and test where `equinet eval` ran)."""
    from equinet.runs import frame, runs as list_runs

    if fmt not in ("table", "csv", "json", "xlsx"):
        fail(f"--format must be table, csv, json or xlsx, not {fmt!r}")
    if fmt == "xlsx" and output is None:
        fail("--format xlsx writes a file: give --output runs.xlsx")
    try:
        rows = list_runs(out, sort)
    except (FileNotFoundError, ValueError) as exc:
        fail(str(exc))
    if fmt == "table":
        from equinet.report import runs_table

        console.print(runs_table(rows, out))
        return
    from equinet.files import replace_file, write_text

    text = None if fmt == "xlsx" else frame(rows).write_csv() if fmt == "csv" else json.dumps(rows, indent=1,
                                                                                            ensure_ascii=False)
    if output is None:
        sys.stdout.write(text)
        return
    try:
        if text is None:
            replace_file(output, lambda tmp: frame(rows).write_excel(tmp, worksheet="runs", autofit=True))
        else:
            write_text(text, output)
    except WriteError as exc:
        fail(str(exc), code=1)
    console.print(f"wrote {len(rows)} runs to {output}", markup=False)


@app.command()
def report(
    run: Path = typer.Argument(None, help="Run directory, or a cv-* folder (default: the newest run under --out)."),
    out: Path = typer.Option(Path("out"), help="Where runs are looked for."),
    split: str = typer.Option("test", help="Train runs: the split whose windows the figures show (train, val, "
                              "test or all); cv runs show each fold's out-of-sample block."),
    top_pct: float = typer.Option(1.0, min=0.0, max=100.0, help="Daily top-k portfolio size, % of stocks."),
    device: str = typer.Option("auto", help="auto, cuda, mps or cpu."),
    open_: bool = typer.Option(False, "--open", help="Open index.html in the web browser."),
) -> None:
    """Figures of a run — learning curves, reliability, confusion, daily rank IC, cumulative excess of the top
    picks, class shares per day (cv: pooled and per fold) — as PNGs and one self-contained index.html."""
    from equinet.infer import newest_run
    from equinet.runreport import report as write_report

    check_split(split)
    try:
        target = run or newest_run(out)
        with progress_bar(False) as bar:
            bar.add_task(f"drawing the report of {target}", total=None)
            index = write_report(target, split, device, top_pct)
    except (FileNotFoundError, ValueError) as exc:
        fail(str(exc))
    console.print(str(index), markup=False)
    if open_:
        import webbrowser

        webbrowser.open(index.resolve().as_uri())
