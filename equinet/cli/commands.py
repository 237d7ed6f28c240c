"""The `equinet` command: a thin Typer layer over the package's functions; one error boundary turns the project's
errors into one line and an exit code."""

from __future__ import annotations

from pathlib import Path

import typer

from equinet.core.days import iso_day
from equinet.training import rundir
from equinet.training.config import TrainConfig
from equinet.evaluation.backtest import Rules
from equinet.evaluation.exchange import Costs
from equinet.cli.options import build, config_fields, given, option_name, to_config, with_options
from equinet.cli.terminal import Commands, applied, console, err, fail, progress_bar

Opt, Arg = typer.Option, typer.Argument


app = typer.Typer(cls=Commands, help="EquiNet: 涨/跌/稳 probabilities for A-share stocks from TDX (通达信) daily-bar "
                  "exports.", no_args_is_help=True, add_completion=False)


JSON = Opt(False, "--json", help="Print JSON instead of tables.")
SPLIT = "train, val, test or all (decision days of the checkpoint's split)."
DEVICE = Opt("auto", help="auto, cuda, mps or cpu.")
TOP_PCT = Opt(1.0, min=0.0, max=100.0, help="Daily top-k: this % of the stocks that can be picked (at least one).")
BOOTSTRAP = Opt(1000, min=0, help="Bootstrap resamples of whole days for the 95 % intervals.")
BLOCK = Opt(5, min=1, help="Days per bootstrap block: moving blocks of this many consecutive days are resampled "
            "(the 3-day returns of neighbouring days overlap; 1: single days).")


@app.command()
def ingest(src: Path = Arg(Path("data/raw"), help="Folder of TDX exports (*.xlsx/*.csv with the market columns, or "
                           "text exports SH#600519.txt), vendor CSVs (.csv/.csv.gz), or a TDX root / its vipdoc."),
           out: Path = Opt(Path("data/parquet"), "--out", "-o", help="Store directory to (re)write atomically."),
           workers: int = Opt(0, min=0, help="Files read in parallel (0 = two per CPU core: reading waits on the disk "
                              "and decompression as much as on the CPU)."),
           strict: bool = Opt(True, "--strict/--lenient", help="--strict: any error fails and writes nothing. "
                              "--lenient: skip bad files."),
           adjust: bool = Opt(True, "--adjust/--no-adjust", help="Back-adjust prices across ex-rights gaps; "
                              "--no-adjust marks those days unusable."),
           force: bool = Opt(False, "--force", help="Rebuild even when the sources are unchanged."),
           universe: str = Opt("a-shares", help="Text exports and vipdoc: a-shares (sh 60/68, sz 00/30, bj "
                               "43/83/87/92) or all (also funds, B shares, bonds)."),
           market_index: str = Opt("sh000001", help="Text exports and vipdoc: the index file whose volume, change "
                                   "and range are the market series (e.g. sz399001, sh000300); stocks: build the "
                                   "series from the stocks (any source; a vendor archive without an index does)."),
           gbbq: Path = Opt(None, help="TDX's corporate-action file (default: T0002/hq_cache/gbbq under a TDX root): "
                            "exact ex-rights factors instead of inferring them from price gaps."),
           as_json: bool = JSON) -> None:
    """Read every TDX export in SRC, validate, align by date and write one store (panel.npy, market.npy, ...)."""
    from equinet.data.ingest import ingest as run
    from equinet.cli.tables import print_ingest

    with progress_bar(as_json) as bar:
        task = bar.add_task("reading files", total=None)
        result = run(src, out, workers=workers or None, strict=strict, adjust=adjust, force=force, universe=universe,
                     market_index=market_index, gbbq=gbbq, on_start=lambda n: bar.update(task, total=n),
                     progress=lambda: bar.advance(task))
    print_ingest(console, result, as_json)


@app.command()
def info(store: Path = Arg(Path("data/parquet"), help="Store directory written by `equinet ingest`."),
         as_json: bool = JSON) -> None:
    """Summarise a store (read back from its meta.json)."""
    from equinet.data.store import check_format, read_meta
    from equinet.cli.tables import print_store

    meta = read_meta(store)
    if meta is None:
        fail(f"{store}: no EquiNet store here (no meta.json); run `equinet ingest` first")
    check_format(meta, store)
    print_store(console, meta, store, as_json)


@app.command()
def synth(out: Path = Arg(..., help="Folder to write the files (or, for vipdoc, the TDX tree) into."),
          stocks: int = Opt(20, min=1, help="Number of stocks."),
          days: int = Opt(300, min=23, help="Trading days per stock."),
          seed: int = Opt(0, help="Random seed; the same seed writes the same data."),
          fmt: str = Opt("xlsx", "--format", help="xlsx (as TDX exports), csv (faster), txt (TDX text exports, GBK) "
                         "or vipdoc (native .day files); txt and vipdoc add the index sh000001."),
          start: str = Opt("2020-01-02", help="First trading day (ISO date).")) -> None:
    """Write realistic synthetic TDX exports (shared market factor, fat tails, suspensions, one ex-rights day)."""
    from equinet.data.synth import synth as run

    with progress_bar(False) as bar:
        task = bar.add_task("writing files", total=stocks)
        try:
            paths = run(out, stocks=stocks, days=days, seed=seed, fmt=fmt, start=iso_day(start, "--start"),
                        progress=lambda: bar.advance(task))
        except OSError as exc:
            fail(f"{exc.filename}: {exc.strerror}" if exc.filename else str(exc))
    console.print(f"wrote {len(paths)} files ({days} days each, seed {seed}) to {out}")


@app.command()
@with_options(TrainConfig)
def train(ctx: typer.Context,
          resume: Path = Opt(None, help="Continue the run in this directory exactly where it stopped (its saved "
                             "options; --epochs may extend it)."),
          stop_after: int = Opt(None, min=1, help="Stop after this many epochs of this invocation (the schedule "
                                "still spans --epochs; --resume continues)."),
          overwrite: bool = Opt(False, "--overwrite", help="Replace the run of the same --name (its config, metrics "
                                "and checkpoints; other files in it stay)."),
          as_json: bool = Opt(False, "--json", help="Print the final summary as JSON."),
          nproc: int = Opt(1, min=1, help="Train with this many processes on this machine (torchrun, DDP: one per "
                           "GPU, or CPU processes with gloo); the same as `torchrun --standalone --nproc-per-node N "
                           "-m equinet train ...`."),
          dist_timeout: float = Opt(600, min=1, help="Several processes: seconds a rank waits for a silent peer "
                                    "before the run ends with an error."),
          **options) -> None:
    """Train the causal transformer on chunks of stock histories drawn on the device (random stocks over a random
    span of days, every labelled day of it in the loss); validate every epoch."""
    from equinet.cli.terminal import train_live, train_ranks

    if nproc > 1:
        train_ranks(ctx, nproc, resume, options, overwrite)
    else:
        train_live(resume, options, stop_after, overwrite, as_json, dist_timeout)


CV_SETS = ("val_from", "test_from", "split_by", "test_ratio", "deploy", "val_days")  # what each fold's plan decides


@app.command(help="Walk-forward evaluation: one run per fold, each scored on days it never saw, pooled beside every "
             "baseline.\n\nThese `equinet train` options apply to every fold (see `equinet train --help`): "
             + ", ".join(config_fields(skip=("data", "out", "name") + CV_SETS)) + ".")
@with_options(TrainConfig, skip=("name",), hidden=CV_SETS)
def cv(name: str = Opt(None, help="cv directory name under --out (default: the time)."),
       folds: int = Opt(4, min=1, help="Folds: the last FOLDS blocks of --fold-days decision days."),
       fold_days: int = Opt(0, min=0, help="Decision days per block (and per inner validation block); 0: 60 when "
                            "a year of training precedes the folds (the whole market), else 40."),
       resume: bool = Opt(False, "--resume", help="Continue the cv --name: finished folds are not retrained."),
       until: str = Opt(None, "--until", help="The folds end before this day (ISO date; nothing on or after it is "
                        "read): a cv of an earlier period to choose defaults on, before a later cv reports."),
       top_pct: float = TOP_PCT,
       bootstrap: int = Opt(1000, min=0, help="Bootstrap resamples of whole days for the pooled intervals."),
       block_days: int = BLOCK,
       as_json: bool = Opt(False, "--json", help=f"Print {rundir.CV} instead of the table."), **options) -> None:
    from equinet.cli.terminal import cv_live

    fixed = [k for k in CV_SETS if given(options).get(k)]  # a flag left off is False: not given
    if fixed:
        fail(f"cv sets {', '.join(option_name(k) for k in fixed)} itself; leave it out")
    cv_live(to_config(options), name, folds, fold_days, resume, top_pct, bootstrap, block_days, as_json,
            iso_day(until, "--until"))


RUN = Opt(None, help=f"Run directory (uses its {rundir.BEST}; default: the newest finished run under --out).")
CHECKPOINT = Opt(None, help="A checkpoint file instead of --run.")
OUT = Opt(Path("out"), help="Where runs are looked for.")
CONTEXT = Opt(None, min=2, help="Window length (default: the checkpoint's --context).")
UP = Opt(None, help="Ask about another 涨 threshold of the same horizon (dist head; default: the training one).")
DOWN = Opt(None, help="Ask about another 跌 threshold of the same horizon (dist head; default: the training one).")


@app.command("eval")
def evaluate(run: Path = RUN, checkpoint: Path = CHECKPOINT, out: Path = OUT, split: str = Opt("test", help=SPLIT),
             data: Path = Opt(None, help="Store to evaluate on (default: the one the checkpoint was trained on)."),
             date_from: str = Opt(None, "--from", help="First decision day (ISO date)."),
             date_to: str = Opt(None, "--to", help="Last decision day (ISO date)."), context: int = CONTEXT,
             bootstrap: int = BOOTSTRAP, block_days: int = BLOCK,
             top_pct: float = TOP_PCT,
             gate: str = Opt(None, help="Also report the confidence gate, e.g. up=0.6,down=0.7."),
             up: float = UP, down: float = DOWN, device: str = DEVICE, as_json: bool = JSON) -> None:
    """Evaluate a checkpoint on every valid window, beside the baselines on the same rows: volatility (a Student-t
    of the stock's recent volatility), reversal (the 20-day return, for ranking), class prior and majority class."""
    from equinet.features.splits import check_split
    from equinet.evaluation.evaluate import evaluate_rows, parse_gate
    from equinet.evaluation.scoring import save_eval
    from equinet.cli.tables import print_eval

    check_split(split)
    thresholds, date_from, date_to = parse_gate(gate) if gate else None, iso_day(date_from, "--from"), \
        iso_day(date_to, "--to")
    app_ = applied(run, checkpoint, out, data, context, device, up, down)
    with progress_bar(as_json) as bar:
        task = bar.add_task("evaluating windows", total=None)
        report, rows = evaluate_rows(app_, split, date_from, date_to, bootstrap, top_pct, thresholds,
                                     progress=lambda n: bar.advance(task, n), block_days=block_days)
    whole = date_from is None and date_to is None and not app_.thresholds_note
    saved = save_eval(report, rows if whole else None, app_.store.meta["dates"], app_.checkpoint, split) \
        if app_.world.main and data is None else None  # another store's figures and rows are not the run's own
    print_eval(console, err, report, saved, as_json)


@app.command()
def predict(codes: list[str] = Arg(None, help="Stock codes: 600881, SH600881, sh600881 or 600881.SH (default: "
                                   "every stock in the store)."),
            run: Path = RUN, checkpoint: Path = CHECKPOINT, out: Path = OUT,
            data: Path = Opt(None, help="Store (default: the one the checkpoint was trained on)."),
            date: str = Opt(None, help="Decision day, ISO (default: the store's last day)."), context: int = CONTEXT,
            top: int = Opt(None, min=1, help="Show only the first N stocks."),
            sort: str = Opt("score", help="Order, highest first: score (the rank score), up (P(涨)), down (P(跌)) or "
                            "up-down (P(涨) - P(跌))."),
            fmt: str = Opt("table", "--format", help="table, json or csv."),
            baseline: bool = Opt(False, "--baseline", help="Show the volatility baseline's probabilities beside the "
                                 "model's, for comparison."),
            up: float = UP, down: float = DOWN, device: str = DEVICE) -> None:
    """The 涨/跌/稳 probabilities per stock for the next trading days after the decision day (sorted by --sort)."""
    from equinet.inference.predict import predict as run_predict
    from equinet.cli.tables import print_forecast

    if fmt not in ("table", "json", "csv"):
        fail(f"--format must be table, json or csv, not {fmt!r}")
    date = iso_day(date, "--date")
    result = run_predict(applied(run, checkpoint, out, data, context, device, up, down), date, codes or None,
                         baseline, sort)
    print_forecast(console, err, result, top, fmt, baseline)


@app.command()
@with_options(Rules, Costs, skip=("costs",))
def backtest(run: Path = Arg(None, help="Run directory, or a cv-* folder (default: the newest run under --out)."),
             out: Path = OUT, split: str = Opt("test", help="Train runs: the split whose decision days are traded "
                                               "(train, val, test or all); a cv trades its folds' blocks."),
             data: Path = Opt(None, help="Train runs: apply the run's checkpoint to this store (checked as eval "
                              "checks it) and trade its decision days from --from to --to."),
             date_from: str = Opt(None, "--from", help="First decision day to trade (ISO date; with or without "
                                  "--data: the checkpoint on every split's days from it)."),
             date_to: str = Opt(None, "--to", help="Last decision day to trade (ISO date)."),
             bootstrap: int = BOOTSTRAP, block_days: int = BLOCK,
             trades: Path = Opt(None, help="Also write every trade of every portfolio to this CSV file."),
             output: Path = Opt(None, "--output", "-o", help="Also write the result (JSON) to this file."),
             device: str = DEVICE, as_json: bool = JSON, **options) -> None:
    """Would it have made money: each evening's top picks of the model, the linear and the reversal baselines
    traded as an A-share investor could (next open, limit and suspension rules, costs), beside the universe; and
    the scores' tear sheet (IC by horizon, quintile returns, monthly IC, rank autocorrelation)."""
    from equinet.core.files import replace_file, write_json
    from equinet.features.splits import check_split
    from equinet.training.rundir import newest_run
    from equinet.evaluation.backtest import backtest_run, trades_frame
    from equinet.evaluation.scored import Days
    from equinet.evaluation.scoring import no_nan
    from equinet.cli.tables import print_backtest

    check_split(split)
    rules = build(Rules, options, costs=build(Costs, options))
    target = run or newest_run(out)
    days = Days(data, iso_day(date_from, "--from"), iso_day(date_to, "--to")) \
        if data or date_from or date_to else None
    with progress_bar(as_json) as bar:
        bar.add_task(f"backtesting {target}", total=None)
        result, books, tape = backtest_run(target, rules, split, device, bootstrap, block_days, days)
    result = no_nan(result)
    saved = rundir.Folder(target).backtest_file("days" if days else split)
    for path in [saved] + ([output] if output else []):
        write_json(result, path)
    if trades:
        frame = trades_frame(books, tape)
        replace_file(trades, lambda tmp: frame.write_csv(tmp))
    print_backtest(console, err, result, saved, as_json)


@app.command()
def runs(out: Path = Opt(Path("out"), help="Folder whose run directories (train runs and cv-* folders) are listed."),
         sort: str = Opt("date", help="Column to sort by, e.g. val_log_loss, or -val_skill_volatility for "
                         "descending (empty values last)."),
         fmt: str = Opt("table", "--format", help="table, csv, json or xlsx."),
         output: Path = Opt(None, "--output", "-o", help="xlsx (and optionally csv/json): write to this file instead "
                            "of the terminal.")) -> None:
    """The experiment table: one row per run with its options, time, best epoch and figures (validation, pooled
    cv, and test where `equinet eval` ran)."""
    from equinet.workflow.runs import runs as list_runs
    from equinet.cli.tables import print_runs

    if fmt not in ("table", "csv", "json", "xlsx"):
        fail(f"--format must be table, csv, json or xlsx, not {fmt!r}")
    if fmt == "xlsx" and output is None:
        fail("--format xlsx writes a file: give --output runs.xlsx")
    print_runs(console, list_runs(out, sort), out, fmt, output)


@app.command()
def report(run: Path = Arg(None, help="Run directory, or a cv-* folder (default: the newest run under --out)."),
           out: Path = OUT, split: str = Opt("test", help="Train runs: the split whose windows the figures show "
                                             "(train, val, test or all); cv runs show each fold's out-of-sample "
                                             "block."),
           top_pct: float = TOP_PCT,
           device: str = DEVICE, open_: bool = Opt(False, "--open", help="Open index.html in the web browser.")) -> None:
    """Figures of a run — learning curves, reliability, confusion, daily rank IC, cumulative excess of the top
    picks, class shares per day (cv: pooled and per fold) — as PNGs and one self-contained index.html."""
    from equinet.features.splits import check_split
    from equinet.training.rundir import newest_run
    from equinet.cli.report import report as write_report

    check_split(split)
    target = run or newest_run(out)
    with progress_bar(False) as bar:
        bar.add_task(f"drawing the report of {target}", total=None)
        index = write_report(target, split, device, top_pct)
    console.print(str(index), markup=False)
    if open_:
        import webbrowser

        webbrowser.open(index.resolve().as_uri())
