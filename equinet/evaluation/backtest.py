"""`equinet backtest`: a book of each evening's best-ranked stocks traded as an A-share investor could, after
costs. Names are bought at the next day's open (not when it opens at its limit-up price or has no bar) and sold at
a close (not at a limit-down close nor while suspended: then at the first close it can be; never on the day of
the buy). The holding book keeps a name while it ranks within the day's best --keep and replaces at most --drop
a day; the sleeve book (--hold H) sells every pick H days after its decision, the capital in H sleeves. Trades
are whole lots of the quoted prices from --capital (the exchange's rules: evaluation.exchange); the benchmark is
the universe held by the same simulator, fully invested from the same first open to the same end."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from equinet.core.fields import option
from equinet.evaluation.exchange import (FREE, STAMP, STAMP_CUT, TRANSFER, TRANSFER_CUT, Costs, Tape, by_date, fee,
                                         lot_shares, tape)
from equinet.evaluation.scoring import BLOCK_DAYS, Rows, bootstrap, by_score, pickable, top_picks

YEAR = 242  # A-share trading days a year, for annualising
SIDES = ("buy", "sell")
ALL = 10**9  # the universe's keep and drop: every scored stock is held, every other one sold


@dataclass
class Book:
    """One portfolio's path over days first..end: its value and cash at each close (the capital at the first close,
    before any trade; 1 with fractional shares), what it traded and paid each day, every trade, and the positions
    still held at the end (stuck: never sold)."""

    days: np.ndarray  # store day indices [T]
    value: np.ndarray  # [T]
    cash: np.ndarray  # [T]
    traded: np.ndarray  # [T] value bought + sold
    fees: np.ndarray  # [T] commission + stamp duty + transfer fee (slippage is in the fill prices)
    trades: dict[str, np.ndarray]  # columns: day, sleeve, stock, side (0 buy, 1 sell), price and shares (quoted),
    # value, fee, held (a sell: trading days from its buy's open to its close; a buy: 0)
    stuck: dict[str, np.ndarray]  # the positions unsold at the end: stock, value (at its last close), bought (day)


@dataclass
class Orders:
    """What a book is told each decision day: the stocks it may buy (best first), how many names to hold, and, for
    the holding book, every scored stock's position in the day's order (0 best; inf: no score that day)."""

    buy: dict[int, np.ndarray]
    size: dict[int, int]
    rank: dict[int, np.ndarray] | None = None


def simulate(orders: Orders, t: Tape, costs: Costs, first: int, end: int, last: int, hold: int = 0, keep: int = 0,
             drop: int = 0, capital: float = 0.0) -> Book:
    """The one book, traded from day first's close to day end's (last: the last decision day). Each decision day's
    buys fill at the next open (not a limit-up open, not without a bar) from the cash of the sleeve whose turn it
    is, an equal share per open slot (size less the names it holds), best first among the names it does not hold:
    with capital > 0 in whole lots of the quoted price with the minimum commission, with 0 in fractional shares.
    Sales fill at a close (not a limit-down close, not without a bar: then at the first close they can) and never
    on the day of the buy (T+1). hold >= 1: the sleeve book, the capital in `hold` sleeves taking turns, each name
    sold at the close `hold` days after its buy's decision; hold 0: the holding book, one sleeve, a name held while
    it ranks within the day's best `keep` (at least its size), at most `drop` sold a day (the worst first, among
    the names with a bar that day; one marked before waits for its first close without spending the quota),
    everything sold after the last decision day."""
    stamp = by_date(t.dates, costs.stamp, STAMP_CUT, STAMP)
    transfer = by_date(t.dates, costs.transfer, TRANSFER_CUT, TRANSFER)
    least = costs.min_commission if capital > 0 else 0.0
    sleeves = max(hold, 1)
    cash = np.full(sleeves, (capital or 1.0) / sleeves)
    held = [(np.zeros(0, int), np.zeros(0), np.zeros(0, int)) for _ in range(sleeves)]  # stock, units, bought
    # units: shares of the back-adjusted price (quoted shares / scale), so a position earns its dividends
    marked = np.zeros(0, int)  # the holding book: stocks to sell at the next close
    days = np.arange(first, end + 1)
    value, idle, traded, fees = (np.zeros(len(days)) for _ in range(4))
    log: list[tuple] = []
    for n, i in enumerate(days):
        k = (i - 1 - first) % sleeves
        stock, have, since = held[k]
        slots = orders.size.get(i - 1, 0) - len(stock) if n and (hold or i - 1 < last) else 0
        if slots > 0 and cash[k] > 0:  # a sleeve whose money is still in unsold stock buys nothing
            offered = orders.buy.get(i - 1, np.zeros(0, int))
            want = offered[~np.isin(offered, stock)]
            buy = want[t.traded[want, i] & ~t.up_open[want, i]][:slots]
            quoted = t.open[buy, i] * (1 + costs.slippage) / t.scale[buy, i]
            budget = np.full(len(buy), cash[k] / slots)
            shares = lot_shares(budget, quoted, t.first_lot[buy], t.lot_step[buy], costs.buy, transfer[i], least) \
                if capital > 0 else budget / (quoted * (1 + costs.buy + transfer[i]))
            buy, quoted, shares = buy[shares > 0], quoted[shares > 0], shares[shares > 0]
            gross = shares * quoted
            paid = fee(gross, costs.buy, transfer[i], least)
            cash[k] -= (gross + paid).sum()
            held[k] = (np.r_[stock, buy], np.r_[have, shares / t.scale[buy, i]], np.r_[since, np.full(len(buy), i)])
            traded[n] += gross.sum()
            fees[n] += paid.sum()
            log.append((i, k, buy, 0, quoted, shares, gross, paid, 0))
        for j in range(sleeves):
            stock, have, since = held[j]
            due = (i >= since + hold - 1) if hold else np.isin(stock, marked)
            out = due & (since < i) & t.traded[stock, i] & ~t.down_close[stock, i]
            if out.any():
                sold = stock[out]
                price = t.close[sold, i] * (1 - costs.slippage)
                gross = have[out] * price
                paid = fee(gross, costs.sell, stamp[i] + transfer[i], least)
                cash[j] += (gross - paid).sum()
                traded[n] += gross.sum()
                fees[n] += paid.sum()
                log.append((i, j, sold, 1, price / t.scale[sold, i], have[out] * t.scale[sold, i], gross, paid,
                            i - since[out] + 1))
                held[j] = (stock[~out], have[~out], since[~out])
        if not hold:
            marked = _dropped(held[0][0], marked, orders, t, i, last, keep, drop)
        idle[n] = cash.sum()
        value[n] = idle[n] + sum((have * t.mark[stock, i]).sum() for stock, have, _ in held)
    columns = ("day", "sleeve", "stock", "side", "price", "shares", "value", "fee", "held")
    trades = {c: np.concatenate([np.broadcast_to(np.asarray(e[m]), len(e[2])) for e in log]) if log else np.zeros(0)
              for m, c in enumerate(columns)}
    stock, have, since = (np.concatenate(part) for part in zip(*held))
    stuck = {"stock": stock, "value": have * t.mark[stock, end], "bought": since}
    return Book(days, value, idle, traded, fees, trades, stuck)


def _dropped(stock: np.ndarray, marked: np.ndarray, orders: Orders, t: Tape, day: int, last: int, keep: int,
             drop: int) -> np.ndarray:
    """The holding book's sales for the next close, decided this evening: among the held names with a bar today,
    those outside the day's best `keep` (at least its size; a name without a score that day is outside), at most
    `drop`, the worst first; and every name marked before that has had no bar since (it waits to be sold at its
    first close, without spending the quota). After the last decision day, every name."""
    if day >= last:
        return stock
    waiting = stock[np.isin(stock, marked) & ~t.traded[stock, day]]
    if day not in orders.rank:
        return waiting
    stock = stock[t.traded[stock, day]]
    rank = orders.rank[day][stock]
    worst = np.argsort(-rank, kind="stable")
    return np.r_[waiting, stock[worst[rank[worst] >= max(keep, orders.size.get(day, 0))][:drop]]]


def book_orders(rows: Rows, score: np.ndarray, rules: "Rules") -> Orders:
    """A forecaster's orders: each decision day's top picks (top_picks: the book's size and what it may buy) and
    every scored stock's place in the day's order (limit-up closes too: they may be kept, not bought)."""
    buy = by_day(rows, top_picks(rows, score, rules.top, rules.top_pct, rules.skip_limit_up))
    size = {d: (len(s) if rules.top_pct > 0 else rules.top) for d, s in buy.items()}
    order, first, counts, _ = by_score(rows, score, skip_limit_up=False)
    rank = {}
    for d, a, c in zip(rows.day[order[first]], first, counts):
        rank[int(d)] = np.full(int(rows.stock.max()) + 1, np.inf)
        rank[int(d)][rows.stock[order[a:a + c]]] = np.arange(c)
    return Orders(buy, size, rank)


def by_day(rows: Rows, chosen: np.ndarray) -> dict[int, np.ndarray]:
    """Chosen rows (by day) as each decision day's stocks, in their order."""
    days, first = np.unique(rows.day[chosen], return_index=True)
    return {int(d): rows.stock[part] for d, part in zip(days, np.split(chosen, first[1:]))}


def too_few(rows: Rows, rules: Rules) -> str | None:
    """The warning that --top reaches a day's whole universe (the picks are then every stock), or None."""
    per_day = np.bincount(rows.day[pickable(rows, rules.skip_limit_up)], minlength=int(rows.day.max()) + 1
                          )[np.unique(rows.day)]
    full = int((per_day <= rules.top).sum())
    if not full:
        return None
    return (f"--top {rules.top} is at or above the {int(per_day.min())}..{int(per_day.max())} stocks a day can be "
            f"picked from ({full} of {len(per_day)} days): on those days the picks are the whole universe, so the "
            "book is the universe's; use a smaller --top or --top-pct")


def everyone(rows: Rows) -> Orders:
    """The universe's orders: each decision day's every scored stock, held while it is scored."""
    buy = by_day(rows, np.argsort(rows.day, kind="stable"))
    rank = {d: np.where(np.isin(np.arange(int(rows.stock.max()) + 1), s), 0.0, np.inf) for d, s in buy.items()}
    return Orders(buy, {d: len(s) for d, s in buy.items()}, rank)


def summary(book: Book, universe: Book, market: np.ndarray, last: int, n_bootstrap: int, seed: int = 0,
            block_days: int = BLOCK_DAYS) -> dict:
    """A book's figures beside the universe's (on the same cost basis) and the market series' daily returns on the
    same days; its cash share while invested (days first+1 .. last), what it paid, and the names it could not sell."""
    r = book.value[1:] / book.value[:-1] - 1
    ex = r - (universe.value[1:] / universe.value[:-1] - 1)
    m = market[book.days[1:]]
    peak = np.maximum.accumulate(book.value)
    sells = book.trades["side"] == 1 if len(book.trades["side"]) else np.zeros(0, bool)
    std = ex.std(ddof=1) if len(ex) > 1 else float("nan")
    ci = bootstrap({"daily_excess": (ex, np.ones(len(ex)), False)}, n_bootstrap, seed, block_days)
    invested = slice(1, last - int(book.days[0]) + 1)
    stuck = book.stuck
    return {"days": int(len(r)), "capital": float(book.value[0]), "final_value": float(book.value[-1]),
            "total_return": float(book.value[-1] / book.value[0] - 1),
            "annual_return": float((book.value[-1] / book.value[0]) ** (YEAR / max(len(r), 1)) - 1),
            "annual_excess": float(ex.mean() * YEAR), "annual_excess_market": float(np.nanmean(r - m) * YEAR),
            "information_ratio": float(ex.mean() / std * np.sqrt(YEAR)) if std > 0 else float("nan"),
            "max_drawdown": float((1 - book.value / peak).max()),
            "turnover": float(np.mean(book.traded[1:] / 2 / book.value[:-1])),
            "fees": float(book.fees.sum() / book.value[0]), "hit_rate": float(np.mean(ex > 0)),
            "daily_excess": float(ex.mean()), "daily_excess_ci": ci.get("daily_excess"),
            "cash_share": float(np.mean(book.cash[invested] / book.value[invested])) if last > book.days[0] else 0.0,
            "buys": int((book.trades["side"] == 0).sum()) if len(book.trades["side"]) else 0,
            "stuck": int(len(stuck["stock"])), "stuck_share": float(stuck["value"].sum() / book.value[-1]),
            "stuck_days": float(np.mean(book.days[-1] - stuck["bought"] + 1)) if len(stuck["stock"]) else float("nan"),
            "holding_days": float(book.trades["held"][sells].mean()) if sells.any() else float("nan")}


RELATIVE = ("annual_excess", "information_ratio", "hit_rate", "daily_excess", "daily_excess_ci")  # vs the universe


@dataclass(frozen=True)
class Rules:
    """What the backtest does: which book (how long a pick is held), how many names, with what capital, at what
    trading costs."""

    top: int = option(50, "Names the book holds: it buys the best by the rank score into its open slots.", min=1)
    keep: int = option(50, "The holding book keeps a name while it ranks within the day's best KEEP (at least "
                       "--top; chosen on the 2018 cv folds' blocks, before any reported day: "
                       "scripts/choose_book.py).", min=1)
    drop: int = option(25, "The holding book sells at most DROP names a day (the worst ranked first; chosen with "
                       "--keep).", min=1)
    hold: int = option(0, "0: the holding book (--keep, --drop). HOLD >= 2: the sleeve book instead: each "
                       "evening's top picks bought at the next open and sold at the close HOLD days after the "
                       "decision, the capital in HOLD daily sleeves.", min=0)
    top_pct: float = option(0.0, "Instead of --top: this % of each day's stocks that can be picked (at least one).",
                            min=0.0, max=100.0)
    capital: float = option(1_000_000.0, "Starting capital, CNY: buys in whole lots (100 shares; STAR 200, then 1) "
                            "with the minimum commission. 0: fractional shares, no minimum (the ideal book).",
                            min=0.0)
    costs: Costs = Costs()
    skip_limit_up: bool = option(True, "--skip-limit-up: a stock that closed at its limit-up on the decision day is "
                                 "not picked (as eval's top-k); --buy-limit-up: it may be, and is bought unless it "
                                 "opens at its limit-up.", flag="--skip-limit-up/--buy-limit-up")


def backtest(rows: Rows, t: Tape, names: tuple[str, ...], rules: Rules = Rules(), n_bootstrap: int = 1000,
             block_days: int = BLOCK_DAYS) -> tuple[dict, dict[str, Book]]:
    """Every named forecaster's top picks traded before and after costs, beside the universe on the same basis (a
    book holding every scored stock, fully invested from the first open to the same end, fractional shares, before
    and after the costs of holding it) and the market series on the same days; the summary (JSON-ready, with each
    book's value per day) and the books (with their trades)."""
    if rules.hold == 1:
        raise ValueError("--hold 1 would sell on the day of the buy, which T+1 forbids: use 0 (the holding book) "
                         "or at least 2")
    cut = len(t.dates) - 1 - max(rules.hold, 1)  # the last day whose buys can be sold within the store
    warnings = [f"decisions after {t.dates[cut]} are not traded: the store ends before their sale"] \
        if rows.day.max() > cut else []
    rows = rows.take(np.flatnonzero(rows.day <= cut))
    if not len(rows.day):
        raise ValueError(f"no decision day before {t.dates[cut + 1]}: the store ends before any sale")
    first, last = int(rows.day.min()), int(rows.day.max())
    end = last + max(rules.hold, 1)
    warnings += [too_few(rows, rules)] if rules.top_pct <= 0 else []
    costs = {"after_costs": rules.costs, "before_costs": FREE}
    universe = {tag: simulate(everyone(rows), t, c, first, end, last, keep=ALL, drop=ALL) for tag, c in costs.items()}
    books, out = {f"universe/{tag}": b for tag, b in universe.items()}, {}
    decided = len(np.unique(rows.day))
    for i, name in enumerate(names):
        told = book_orders(rows, rows.score[name], rules)
        for tag, c in costs.items():
            books[f"{name}/{tag}"] = book = simulate(told, t, c, first, end, last, rules.hold, rules.keep, rules.drop,
                                                     rules.capital)
            out.setdefault(name, {})[tag] = summary(book, universe[tag], t.market, last, n_bootstrap, i, block_days)
            out[name][tag]["days_without_picks"] = decided - sum(len(b) > 0 for b in told.buy.values())
        out[name]["after_costs"]["cost_drag"] = (out[name]["before_costs"]["annual_return"]
                                                 - out[name]["after_costs"]["annual_return"])
    days = universe["before_costs"].days
    market = np.cumprod(np.r_[1.0, 1 + np.nan_to_num(t.market[days[1:]])])
    rules_json = asdict(rules) | {"stamp_duty": "auto" if rules.costs.stamp is None else rules.costs.stamp,
                                  "transfer_fee": "auto" if rules.costs.transfer is None else rules.costs.transfer}
    return {"rules": rules_json, "warnings": [w for w in warnings if w], "first": str(t.dates[first]),
            "last_decision": str(t.dates[last]), "end": str(t.dates[end]), "forecasters": out,
            "universe": {tag: summary(b, b, t.market, last, 0) | dict.fromkeys(RELATIVE) for tag, b in universe.items()},
            "series": {"dates": [str(d) for d in t.dates[days]], "market": market.tolist(),
                       **{k: (b.value / b.value[0]).tolist() for k, b in books.items()}}}, books


def picks_text(rules: dict) -> str:
    """The book in words, from a result's rules: 'top 50 held while within the best 100, at most 5 replaced a day
    (limit-up closes not bought)'."""
    size = f"top {rules['top_pct']:g} %" if rules["top_pct"] > 0 else f"top {rules['top']}"
    book = (f"{size} held while within the best {rules['keep']}, at most {rules['drop']} replaced a day"
            if not rules["hold"] else f"{size} each, held {rules['hold']} days ({rules['hold']} sleeves)")
    return book + (" (limit-up closes not bought)" if rules["skip_limit_up"] else " (limit-up closes bought)")


TRADED = ("model", "linear", "reversal")  # the forecasters whose picks are traded and whose scores get a tear sheet


def traded(rows: Rows) -> tuple[str, ...]:
    """The forecasters of TRADED that the rows scored (rows saved before the linear baseline lack it)."""
    return tuple(n for n in TRADED if n in rows.score)


def backtest_scored(s, rules: Rules = Rules(), n_bootstrap: int = 1000, block_days: int = BLOCK_DAYS
                    ) -> tuple[dict, dict[str, Book], Tape]:
    """Scored rows (scored.Scored) backtested and their scores' tear sheet, on the store the rows index."""
    from equinet.data.store import open_store
    from equinet.evaluation.tearsheet import tear_sheet

    store = open_store(s.store)
    if list(store.meta["dates"]) != list(s.dates):
        raise ValueError(f"{s.store}: not the store whose days the scored rows index (its dates differ); "
                         f"evaluate the run again on it")
    names = traded(s.rows)
    t = tape(store)
    result, books = backtest(s.rows, t, names, rules, n_bootstrap, block_days)
    result |= {"store": str(s.store), "tear_sheet": tear_sheet(s.rows, np.asarray(store.close), s.dates, names,
                                                                s.config["horizon"])}
    return result, books, t


def backtest_run(run, rules: Rules = Rules(), split: str = "test", device: str = "auto", n_bootstrap: int = 1000,
                 block_days: int = BLOCK_DAYS, days=None) -> tuple[dict, dict[str, Book], Tape]:
    """A run's (or a cv's) scored rows backtested, with the tear sheet; days (scored.Days): a train run's
    checkpoint applied to another store or other decision days, and traded on them."""
    from equinet.evaluation.scored import scored

    s = scored(run, split, device, days)
    result, books, t = backtest_scored(s, rules, n_bootstrap, block_days)
    what = "cv folds" if s.folds else ("days" if days else split)
    warnings = result["warnings"] + ([s.warning] if s.warning else [])
    return result | {"run": str(run), "split": what, "warnings": warnings}, books, t


def trades_frame(books: dict[str, Book], t: Tape):
    """Every trade of every forecaster's book as one polars frame (date, book, sleeve, code, side, the quoted fill
    price, shares, value and fee in CNY (fractions of the capital with --capital 0), days held: a sale's trading
    days from its buy, 0 for a buy); the universe's are left out."""
    import polars as pl

    parts = [pl.DataFrame({"date": t.dates[b.trades["day"].astype(int)].astype(str), "book": name,
                           "sleeve": b.trades["sleeve"].astype(int),
                           "code": np.array(t.codes)[b.trades["stock"].astype(int)].tolist(),
                           "side": [SIDES[s] for s in b.trades["side"].astype(int)], "price": b.trades["price"].round(6),
                           "shares": b.trades["shares"], "value": b.trades["value"], "fee": b.trades["fee"],
                           "held": b.trades["held"].astype(int)},
                          schema={"date": pl.String, "book": pl.String, "sleeve": pl.Int64, "code": pl.String,
                                  "side": pl.String, "price": pl.Float64, "shares": pl.Float64, "value": pl.Float64,
                                  "fee": pl.Float64, "held": pl.Int64})
             for name, b in books.items() if not name.startswith("universe/")]
    return pl.concat(parts)
