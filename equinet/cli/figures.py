"""The figures of `equinet report`, drawn from a run's rows and history with matplotlib's Agg backend (no screen).

Each function draws one figure into a PNG; labels are Chinese where a CJK font is installed, English otherwise
(never boxes for missing glyphs)."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
from matplotlib import font_manager
from matplotlib.figure import Figure

from equinet.core.labels import DOWN, UP
from equinet.core.metrics import confusion, daily_rank_ic
from equinet.evaluation.scoring import Rows, top_excess

CJK_FONTS = ("Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "WenQuanYi Zen Hei", "WenQuanYi Micro Hei",
             "SimHei", "Microsoft YaHei", "PingFang SC", "Heiti SC", "Sarasa Gothic SC")
DPI = 100


def cjk_font() -> str | None:
    """An installed font with Chinese glyphs, or None."""
    installed = {f.name for f in font_manager.fontManager.ttflist}
    return next((name for name in CJK_FONTS if name in installed), None)


FONT = cjk_font()
NAMES = ("涨", "跌", "稳") if FONT else ("UP", "DOWN", "FLAT")
matplotlib.rcParams.update({"font.family": [FONT, "DejaVu Sans"] if FONT else ["DejaVu Sans"], "font.size": 9,
                            "axes.unicode_minus": False})


def _figure(rows: int = 1, cols: int = 1, size: tuple[float, float] = (9, 4.2), **kw):
    fig = Figure(figsize=size, dpi=DPI, layout="constrained")
    return fig, fig.subplots(rows, cols, squeeze=False, **kw)


def _save(fig: Figure, path: Path) -> Path:
    fig.savefig(path, format="png", metadata={"Software": None})  # no version stamp: the same run, the same bytes
    return path


def _days(rows: Rows, dates: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The distinct decision days of the rows (ascending) as numpy datetimes, and each row's day position."""
    days, index = np.unique(rows.day, return_inverse=True)
    return np.array(dates, dtype="datetime64[D]")[days], index


def _mark(ax, boundaries: list[np.datetime64]) -> None:
    for b in boundaries:
        ax.axvline(b, color="0.6", lw=0.8, ls=":")


def learning_curves(histories: dict[str, list[dict]], best: dict[str, int], path: Path) -> Path:
    """Training objective and validation log loss, skills over the prior and the volatility baseline, per epoch;
    several runs (cv folds): validation log loss and skill over volatility only, one colour each."""
    from matplotlib.ticker import MaxNLocator

    fig, ax = _figure(1, 2)
    one = len(histories) == 1
    for name, history in histories.items():
        epoch = [r["epoch"] for r in history]
        label = "" if one else f"{name}: "
        line = ax[0, 0].plot(epoch, [r["val_log_loss"] for r in history], marker="o", ms=3,
                             label=f"{label}validation log loss")[0]
        if one:
            ax[0, 0].plot(epoch, [r["train_loss"] for r in history], ls="--", color="0.4",
                          label="training objective (with its penalty terms)")
            ax[0, 1].plot(epoch, [r["val_log_loss_skill"] for r in history], marker="o", ms=3,
                          label="skill over the class prior")
        ax[0, 1].plot(epoch, [r["val_skill_vs_volatility"] for r in history], marker="s", ms=3,
                      color=None if one else line.get_color(), label=f"{label}skill over volatility")
        for a in ax[0]:
            a.axvline(best[name], color=line.get_color(), lw=0.8, ls=":")
            a.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax[0, 0].set(title="Loss per epoch (dotted: best epoch)", xlabel="epoch", ylabel="nats per window")
    ax[0, 1].axhline(0, color="black", lw=0.8)
    ax[0, 1].set(title="Validation skill (1 - log loss / baseline's)", xlabel="epoch", ylabel="skill (> 0 beats it)")
    for a in ax[0]:
        a.legend(fontsize=7)
        a.grid(alpha=0.3)
    return _save(fig, path)


def reliability(rows: Rows, path: Path, bins: int = 10) -> Path:
    """Predicted P(class) against the observed frequency, per bin of the prediction, model beside volatility."""
    fig, ax = _figure(2, 2, size=(9, 6), height_ratios=[3, 1], sharex="col")
    edges = np.linspace(0, 1, bins + 1)
    for col, cls in enumerate((UP, DOWN)):
        top, bottom = ax[0, col], ax[1, col]
        top.plot([0, 1], [0, 1], color="0.5", lw=0.8, ls=":", label="perfectly calibrated")
        for shift, (name, style) in enumerate((("model", "-o"), ("volatility", "--s"))):
            p = rows.p[name][:, cls]
            which = np.clip(np.digitize(p, edges) - 1, 0, bins - 1)
            count = np.bincount(which, minlength=bins)
            seen = count > 0
            mean_p = np.bincount(which, weights=p, minlength=bins)[seen] / count[seen]
            observed = np.bincount(which, weights=rows.y == cls, minlength=bins)[seen] / count[seen]
            top.plot(mean_p, observed, style, ms=4, label=name)
            bottom.bar(edges[:-1] + (0.25 + 0.5 * shift) / bins, count, width=0.45 / bins, label=name)
        top.set(title=f"Reliability of P({NAMES[cls]})", ylabel="observed frequency", xlim=(0, 1), ylim=(0, 1))
        bottom.set(xlabel=f"predicted P({NAMES[cls]}), bins of 0.1", ylabel="windows in the bin")
        top.legend(fontsize=7)
        top.grid(alpha=0.3)
    return _save(fig, path)


def confusion_matrix(rows: Rows, path: Path) -> Path:
    """Counts and row shares of true against predicted class (the most probable one)."""
    counts = confusion(rows.p["model"].argmax(1), rows.y)
    shares = counts / np.maximum(counts.sum(1, keepdims=True), 1)
    fig, ax = _figure(size=(6, 4.6))
    a = ax[0, 0]
    image = a.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for i in range(3):
        for j in range(3):
            a.text(j, i, f"{counts[i, j]:,}\n{100 * shares[i, j]:.1f} %", ha="center", va="center",
                   color="white" if shares[i, j] > 0.6 else "black")
    a.set(xticks=range(3), yticks=range(3), xticklabels=NAMES, yticklabels=NAMES, xlabel="predicted (most probable)",
          ylabel="true class", title="Confusion matrix\n(counts; share of each true class)")
    fig.colorbar(image, ax=a, label="share of the true class")
    return _save(fig, path)


def rank_ic(rows: Rows, dates: list[str], path: Path, boundaries: list[np.datetime64] = ()) -> Path:
    """The model's daily rank IC (Spearman of score and 3-day return across stocks) and its running mean."""
    days, _ = _days(rows, dates)
    ic = daily_rank_ic(rows.score["model"], rows.forward_return, rows.day)
    fig, ax = _figure()
    a = ax[0, 0]
    a.bar(days, np.nan_to_num(ic), color=np.where(np.nan_to_num(ic) >= 0, "tab:green", "tab:red"), width=1.0,
          label="daily rank IC")
    known = ~np.isnan(ic)
    a.plot(days[known], np.cumsum(ic[known]) / np.arange(1, known.sum() + 1), color="black", label="running mean")
    a.axhline(0, color="black", lw=0.6)
    _mark(a, boundaries)
    a.set(title="Daily rank IC of the model's score", xlabel="decision day", ylabel="Spearman correlation")
    a.legend(fontsize=7)
    a.grid(alpha=0.3)
    return _save(fig, path)


def cumulative_excess(rows: Rows, dates: list[str], horizon: int, top_pct: float, path: Path,
                      boundaries: list[np.datetime64] = ()) -> Path:
    """Cumulative excess return of each day's top picks over the equal-weighted universe, model beside reversal."""
    days, _ = _days(rows, dates)
    fig, ax = _figure()
    a = ax[0, 0]
    for name, style in (("model", "-"), ("reversal", "--")):
        for pct in (top_pct, 10.0):
            daily = top_excess(rows, rows.score[name], pct)["daily_excess"]
            a.plot(days, 100 * np.cumsum(np.nan_to_num(daily)) / horizon, style,
                   label=f"{name}, top {pct:g} %")
    a.axhline(0, color="black", lw=0.6)
    _mark(a, boundaries)
    a.set(title=f"Cumulative excess of the daily top picks over the universe ({horizon}-day holds, 1/{horizon} of "
          "capital per day; before costs)", xlabel="decision day", ylabel="cumulative excess return, %")
    a.legend(fontsize=7)
    a.grid(alpha=0.3)
    return _save(fig, path)


def class_shares(rows: Rows, dates: list[str], path: Path, boundaries: list[np.datetime64] = ()) -> Path:
    """Each day's realised share of 涨 and 跌 against the model's mean predicted probabilities."""
    days, index = _days(rows, dates)
    n = np.bincount(index)
    fig, ax = _figure()
    a = ax[0, 0]
    for cls, color in ((UP, "tab:red"), (DOWN, "tab:green")):  # A-share colours: red rises, green falls
        a.plot(days, 100 * np.bincount(index, weights=rows.y == cls) / n, color=color, lw=0.8,
               label=f"realised share {NAMES[cls]}")
        a.plot(days, 100 * np.bincount(index, weights=rows.p["model"][:, cls]) / n, color=color, ls="--", lw=2,
               label=f"mean predicted P({NAMES[cls]})")
    _mark(a, boundaries)
    a.set(title="Class shares per day: what happened against what the model expected", xlabel="decision day",
          ylabel="% of the day's stocks")
    a.legend(fontsize=7, ncol=2)
    a.grid(alpha=0.3)
    return _save(fig, path)


COLOURS = {"model": "tab:blue", "linear": "tab:orange", "reversal": "tab:purple", "universe": "black",
           "market": "0.5"}


def equity_curves(result: dict, path: Path) -> Path:
    """The backtest's portfolio values, after costs (solid) and before (dashed), beside the universe and the
    market series; the drawdowns after costs below."""
    s = result["series"]
    days = np.array(s["dates"], dtype="datetime64[D]")
    fig, ax = _figure(2, 1, size=(9, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    top, low = ax[0, 0], ax[1, 0]
    for name in result["forecasters"]:
        for tag, style in (("after_costs", "-"), ("before_costs", "--")):
            v = np.array(s[f"{name}/{tag}"])
            top.plot(days, v, style, color=COLOURS.get(name), lw=1.2 if style == "-" else 0.8,
                     label=f"{name}, {tag.replace('_', ' ')}")
            if tag == "after_costs":
                low.plot(days, -100 * (1 - v / np.maximum.accumulate(v)), color=COLOURS.get(name), lw=0.9,
                         label=name)
    universe = np.array(s["universe/after_costs"])
    top.plot(days, universe, color=COLOURS["universe"], lw=1.0, label="universe, after costs")
    top.plot(days, s["market"], color=COLOURS["market"], lw=1.0, ls=":", label="market")
    low.plot(days, -100 * (1 - universe / np.maximum.accumulate(universe)), color="black", lw=0.8, label="universe")
    from equinet.evaluation.backtest import picks_text

    r = result["rules"]
    top.set(title=f"Backtest: {picks_text(r)}, bought at the next open", ylabel="portfolio value (start = 1)")
    low.set(xlabel="day", ylabel="drawdown after costs, %")
    top.legend(fontsize=7, ncol=3)
    for a in (top, low):
        a.grid(alpha=0.3)
    return _save(fig, path)


def _scores(sheet: dict) -> list[str]:
    """The scores a tear sheet holds (its other keys are its settings)."""
    return [n for n in sheet if isinstance(sheet[n], dict)]


def _grouped_bars(bars: dict[str, tuple[list, str]], ticks: list[str], title: str, xlabel: str, ylabel: str,
                  path: Path) -> Path:
    """One group of bars per tick, one bar per score (score -> (values, legend label))."""
    fig, ax = _figure()
    a = ax[0, 0]
    width = 0.8 / len(bars)
    for i, (name, (values, label)) in enumerate(bars.items()):
        a.bar(np.arange(len(ticks)) + (i - (len(bars) - 1) / 2) * width, np.nan_to_num(np.array(values, float)),
              width, color=COLOURS.get(name), label=label)
    a.set_xticks(np.arange(len(ticks)), ticks)
    a.axhline(0, color="black", lw=0.6)
    a.set(title=title, xlabel=xlabel, ylabel=ylabel)
    a.legend(fontsize=7)
    a.grid(alpha=0.3, axis="y")
    return _save(fig, path)


def quintile_returns(sheet: dict, path: Path) -> Path:
    """Mean forward return of each score quintile (Q1 lowest), one group of bars per score."""
    bars = {n: ([100 * (v or 0) for v in sheet[n]["quintile_returns"]],
                f"{n} (Q5 - Q1 {100 * (sheet[n]['spread'] or 0):+.2f} %)") for n in _scores(sheet)}
    return _grouped_bars(bars, [f"Q{q + 1}" for q in range(5)], f"Mean {sheet['horizon']}-day forward return by "
                         "score quintile (each day's quintiles, averaged)", "score quintile (Q1 lowest)",
                         "mean forward return, %", path)


def ic_by_horizon(sheet: dict, path: Path) -> Path:
    """Mean daily rank IC of each score against the return over 1, 3, 5 and 10 days."""
    horizons = sheet["horizons"]
    bars = {n: ([sheet[n]["ic_by_horizon"][str(h)] for h in horizons], n) for n in _scores(sheet)}
    return _grouped_bars(bars, [f"{h} d" for h in horizons], "Mean daily rank IC by horizon: how long the score's "
                         "information lasts", "return over", "mean rank IC", path)


def monthly_ic(sheet: dict, path: Path) -> Path:
    """Heat maps of the mean daily rank IC per month (years down, months across), one per score."""
    names = _scores(sheet)
    months = sorted({m for n in names for m in sheet[n]["monthly_ic"]})
    years = sorted({m[:4] for m in months})
    fig, ax = _figure(len(names), 1, size=(9, 0.6 + len(names) * (0.75 + 0.3 * len(years))))
    bound = max([abs(v) for n in names for v in sheet[n]["monthly_ic"].values() if v is not None] + [0.01])
    for a, name in zip(ax[:, 0], names):
        grid = np.full((len(years), 12), np.nan)
        for m, v in sheet[name]["monthly_ic"].items():
            grid[years.index(m[:4]), int(m[5:]) - 1] = np.nan if v is None else v
        image = a.imshow(grid, cmap="RdYlGn", vmin=-bound, vmax=bound, aspect="auto")
        for (y, m), v in np.ndenumerate(grid):
            if not np.isnan(v):
                a.text(m, y, f"{v:+.3f}", ha="center", va="center", fontsize=7)
        a.set_xticks(range(12), [str(m + 1) for m in range(12)])
        a.set_yticks(range(len(years)), years, fontsize=7)
        a.set_ylabel(name)
    ax[0, 0].set_title("Mean daily rank IC by month (years down, months across)")
    ax[-1, 0].set_xlabel("month")
    fig.colorbar(image, ax=ax[:, 0].tolist(), shrink=0.8, label="mean rank IC")
    return _save(fig, path)
