"""The `equinet` command: a thin Typer layer over the package's functions."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from equinet.findings import IngestError

app = typer.Typer(
    help="EquiNet: 涨/跌/稳 probabilities for A-share stocks from TDX (通达信) daily-bar exports.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()
err = Console(stderr=True)


def fail(message: str, code: int = 2) -> None:
    """One clear line on stderr and a non-zero exit."""
    err.print(f"error: {message}", style="red", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def progress_bar(quiet: bool) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=err, disable=quiet, transient=True)


@app.command()
def ingest(
    src: Path = typer.Argument(Path("data/raw"), help="Folder of TDX exports (*.xlsx, or *.csv with the same header)."),
    out: Path = typer.Option(Path("data/parquet"), "--out", "-o", help="Store directory to (re)write atomically."),
    workers: int = typer.Option(0, help="Files read in parallel (0 = one per CPU core)."),
    strict: bool = typer.Option(True, "--strict/--lenient",
                                help="--strict: any error fails and writes nothing. --lenient: skip bad files."),
    adjust: bool = typer.Option(True, "--adjust/--no-adjust",
                                help="Back-adjust prices across ex-rights gaps; --no-adjust marks those days unusable."),
    force: bool = typer.Option(False, "--force", help="Rebuild even when the sources are unchanged."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON instead of tables."),
) -> None:
    """Read every TDX export in SRC, validate, align by date and write one store (panel.npy, market.npy, ...)."""
    from equinet.ingest import ingest as run
    from equinet.report import disagreements_table, events_table, print_findings, summary_table

    with progress_bar(as_json) as bar:
        task = bar.add_task("reading files", total=None)
        try:
            result = run(src, out, workers=workers or None, strict=strict, adjust=adjust, force=force,
                         on_start=lambda n: bar.update(task, total=n), progress=lambda: bar.advance(task))
        except IngestError as exc:
            bar.stop()
            print_findings(err, exc.findings, ("error",))
            fail(str(exc))
        except (FileNotFoundError, FileExistsError) as exc:
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
        print_findings(console, result.findings, ("error", "note"))  # warnings are in the tables below
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

    meta = read_meta(store)
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
    out: Path = typer.Argument(..., help="Folder to write processed_<code>.xlsx files into."),
    stocks: int = typer.Option(20, min=1, help="Number of stocks."),
    days: int = typer.Option(300, min=23, help="Trading days per stock."),
    seed: int = typer.Option(0, help="Random seed; the same seed writes the same data."),
    fmt: str = typer.Option("xlsx", "--format", help="xlsx (as TDX exports) or csv (faster, for scale tests)."),
    start: str = typer.Option("2020-01-02", help="First trading day (ISO date)."),
) -> None:
    """Write realistic synthetic TDX exports (shared market factor, fat tails, suspensions, one ex-rights day)."""
    from equinet.synth import synth as run

    if fmt not in ("xlsx", "csv"):
        fail(f"--format must be xlsx or csv, not {fmt!r}")
    with progress_bar(False) as bar:
        task = bar.add_task("writing files", total=stocks)
        paths = run(out, stocks=stocks, days=days, seed=seed, fmt=fmt, start=start, progress=lambda: bar.advance(task))
    console.print(f"wrote {len(paths)} files ({days} days each, seed {seed}) to {out}")
