"""`equinet backtest` on a store the test writes: prices and scores chosen by hand, every trade and value checked
against a ledger worked out by hand (next-open buys, a limit-up open, a limit-down close, a suspension, the stamp
duty cut of 2023-08-28); and the tear sheet on hand-made scores."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import run_cli
from equinet.data.limits import limit_flags
from equinet.data.store import open_store
from equinet.evaluation.backtest import Rules, backtest, book_orders, by_day, simulate
from equinet.evaluation.exchange import FREE, Costs, lot_shares, tape
from equinet.evaluation.scoring import Rows
from equinet.evaluation.scoring import top_picks
from equinet.evaluation.tearsheet import forward_returns, quantile_returns, rank_autocorrelation

DAYS = ["2023-08-22", "2023-08-23", "2023-08-24", "2023-08-25", "2023-08-28", "2023-08-29", "2023-08-30",
        "2023-08-31"]
# (open, close) per day; None: suspended. A opens at its limit-up on day 1 (10.00 -> 11.00); B closes at its
# limit-down on day 2 (10.20 -> 9.18); D has no bar on day 3.
BARS = {
    "sh600001": [(10.0, 10.0), (11.0, 11.0), (11.0, 11.1), (11.1, 11.2), (11.3, 11.5), (11.5, 11.4), (11.4, 11.4),
                 (11.4, 11.4)],
    "sh600002": [(10.0, 10.0), (10.1, 10.2), (9.5, 9.18), (9.2, 9.3), (9.3, 9.4), (9.5, 9.6), (9.6, 9.9),
                 (9.9, 10.0)],
    "sh600003": [(10.0, 10.0), (10.0, 10.0), (10.1, 10.3), (10.3, 10.5), (10.5, 10.4), (10.5, 10.6), (10.6, 10.8),
                 (10.8, 10.7)],
    "sh600004": [(10.0, 10.0), (10.0, 10.0), (9.9, 10.0), None, (10.1, 10.2), (10.2, 10.3), (10.4, 10.5),
                 (10.5, 10.6)],
    "sh600005": [(10.0, 10.0), (10.0, 10.1), (10.1, 10.2), (10.2, 10.3), (10.35, 10.4), (10.4, 10.5), (10.55, 10.6),
                 (10.6, 10.8)],
}
SCORES = [  # each evening's scores (a stock without a bar has none)
    {"A": 5, "B": 4, "C": 3, "D": 2, "E": 1},  # picks A, B: A opens at limit-up, only B is bought
    {"C": 5, "D": 4, "A": 3, "B": 2, "E": 1},  # C, D
    {"E": 5, "A": 4, "B": 3, "C": 2, "D": 1},  # sleeve 0 still holds B (limit-down): no cash, nothing bought
    {"A": 5, "E": 4, "B": 3, "C": 2},  # sleeve 1: C's money (D suspended, still held)
    {"B": 5, "C": 4, "A": 3, "D": 2, "E": 1},
    {"D": 5, "E": 4, "A": 3, "B": 2, "C": 1},
]
COSTS = Costs(buy=0.001, sell=0.002, stamp=None, slippage=0.01, transfer=0.0)  # fractional shares: no minimum


def write_store(root: Path, bars: dict = BARS, days: list[str] = DAYS, preclose: dict | None = None) -> Path:
    """The bars as the vendor archive's CSVs (previous close: the last close, or preclose[(code, day)] on an
    ex-rights day), ingested."""
    header = "数据由邢不行整理\n股票代码,股票名称,交易日期,开盘价,最高价,最低价,收盘价,前收盘价,成交量,成交额,流通市值\n"
    (root / "raw").mkdir()
    for code, series in bars.items():
        lines, prev = [], series[0][0]
        for d, (day, bar) in enumerate(zip(days, series)):
            if bar is None:
                continue
            o, c = bar
            prev = (preclose or {}).get((code, d), prev)
            lines.append(f"{code},股{code[-1]},{day},{o},{max(o, c)},{min(o, c)},{c},{prev},1e6,1e7,{c * 1e8}")
            prev = c
        (root / "raw" / f"{code}.csv").write_text(header + "\n".join(lines) + "\n", encoding="utf-8")
    assert run_cli("ingest", root / "raw", "--out", root / "s").exit_code == 0
    return root / "s"


def hand_rows(codes: list[str], hand: list[dict] = SCORES) -> Rows:
    index = {letter: codes.index(f"60000{n + 1}") for n, letter in enumerate("ABCDE")}
    day, stock, score = [], [], []
    for d, scores in enumerate(hand):
        for letter, s in sorted(scores.items(), key=lambda kv: index[kv[0]]):
            day.append(d), stock.append(index[letter]), score.append(float(s))
    n = len(day)
    return Rows(np.array(stock), np.array(day), np.zeros(n, int), np.zeros(n), np.zeros(n, bool), {},
                {"model": np.array(score)})


class Ledger:
    """Trades (day, sleeve, code, side, price, shares, value, fee) and cash worked out by hand: each name bought
    with its sleeve's cash / the sleeve's open slots, at the open plus 1 % slippage, sold at the close less 1 %."""

    def __init__(self, sleeves: int) -> None:
        self.trades: list[tuple] = []
        self.cash = [1.0 / sleeves] * sleeves
        self.held: dict[str, float] = {}

    def buy(self, day: int, sleeve: int, names: list[tuple[str, float]], slots: int) -> None:
        gross = self.cash[sleeve] / slots / 1.001
        for code, open_ in names:
            price = open_ * 1.01
            self.held[code] = gross / price
            self.trades.append((day, sleeve, code, "buy", price, gross / price, gross, gross * 0.001))
            self.cash[sleeve] -= gross * 1.001

    def sell(self, day: int, sleeve: int, code: str, close: float, stamp: float) -> None:
        price = close * 0.99
        gross = self.held.pop(code) * price
        self.trades.append((day, sleeve, code, "sell", price, gross / price, gross, gross * (0.002 + stamp)))
        self.cash[sleeve] += gross - gross * (0.002 + stamp)

    def value(self, closes: dict[str, float]) -> float:
        return sum(self.cash) + sum(self.held[c] * v for c, v in closes.items())


def ledger() -> tuple[list[tuple], list[float]]:
    """The sleeve book's trades and value at each close, by hand: hold 2, top 2, so 2 sleeves taking turns."""
    book = Ledger(2)
    value = [1.0]
    book.buy(1, 0, [("600002", 10.1)], 2)  # A (600001) opened at its limit-up 11.00: its slot's cash waits
    value.append(book.value({"600002": 10.2}))
    book.buy(2, 1, [("600003", 10.1), ("600004", 9.9)], 2)  # B due at day 2's close: limit-down, kept
    value.append(book.value({"600002": 9.18, "600003": 10.3, "600004": 10.0}))
    book.buy(3, 0, [("600005", 10.2)], 1)  # sleeve 0 still holds B: one open slot, E (the day's best) fills it
    book.sell(3, 0, "600002", 9.3, 0.001)
    book.sell(3, 1, "600003", 10.5, 0.001)  # D suspended: held, valued at its last close
    value.append(book.value({"600004": 10.0, "600005": 10.3}))
    book.buy(4, 1, [("600001", 11.3)], 1)  # sleeve 1 still holds D: one slot, A
    book.sell(4, 0, "600005", 10.4, 0.0005)  # 2023-08-28: the halved stamp duty
    book.sell(4, 1, "600004", 10.2, 0.0005)
    value.append(book.value({"600001": 11.5}))
    book.buy(5, 0, [("600002", 9.5), ("600003", 10.5)], 2)
    book.sell(5, 1, "600001", 11.4, 0.0005)
    value.append(book.value({"600002": 9.6, "600003": 10.6}))
    book.buy(6, 1, [("600004", 10.4), ("600005", 10.55)], 2)
    book.sell(6, 0, "600002", 9.9, 0.0005)
    book.sell(6, 0, "600003", 10.8, 0.0005)
    value.append(book.value({"600004": 10.5, "600005": 10.6}))
    book.sell(7, 1, "600004", 10.6, 0.0005)
    book.sell(7, 1, "600005", 10.8, 0.0005)
    value.append(book.value({}))
    return book.trades, value


HOLDING_SCORES = [  # top 2, keep 3, drop 1
    {"A": 5, "B": 4, "C": 3, "D": 2, "E": 1},  # buys A, B: A opens at its limit-up, B alone is bought
    {"D": 5, "C": 4, "A": 3, "B": 2, "E": 1},  # B ranks 4th, outside the best 3: sold at day 2's close (limit-down:
    # kept); one open slot: D bought
    {"E": 5, "A": 4, "C": 3, "B": 2, "D": 1},  # B and D outside the best 3, at most one sold: D, the worst (day 3:
    # suspended, so kept)
    {"A": 5, "E": 4, "C": 3, "B": 2},  # D has no bar today: it waits, marked, and the quota goes to B (4th): both
    # sold at day 4's close
    {"B": 5, "C": 4, "A": 3, "D": 2, "E": 1},  # two open slots: B and C bought
    {"D": 5, "E": 4, "A": 3, "B": 2, "C": 1},  # the last decision day: everything sold at the next close
]


def test_the_holding_book_keeps_drops_and_obeys_the_limits_by_hand(tmp_path: Path) -> None:
    store = open_store(write_store(tmp_path))
    rows = hand_rows(store.codes, HOLDING_SCORES)
    result, books = backtest(rows, tape(store), ("model",), Rules(top=2, keep=3, drop=1, capital=0, costs=COSTS), 0)
    book = Ledger(1)
    value = [1.0]
    book.buy(1, 0, [("600002", 10.1)], 2)
    value.append(book.value({"600002": 10.2}))
    book.buy(2, 0, [("600004", 9.9)], 1)
    value.append(book.value({"600002": 9.18, "600004": 10.0}))
    value.append(book.value({"600002": 9.3, "600004": 10.0}))  # D suspended: valued at its last close
    book.sell(4, 0, "600002", 9.4, 0.0005)
    book.sell(4, 0, "600004", 10.2, 0.0005)
    value.append(book.value({}))
    book.buy(5, 0, [("600002", 9.5), ("600003", 10.5)], 2)
    value.append(book.value({"600002": 9.6, "600003": 10.6}))
    book.sell(6, 0, "600002", 9.9, 0.0005)
    book.sell(6, 0, "600003", 10.8, 0.0005)
    value.append(book.value({}))
    got = books["model/after_costs"]
    trades = [(int(d), int(k), store.codes[int(s)], ("buy", "sell")[int(side)], p, q, v, f)
              for d, k, s, side, p, q, v, f, _ in zip(*got.trades.values())]
    assert [g[:4] for g in trades] == [w[:4] for w in book.trades]
    np.testing.assert_allclose(np.array([g[4:] for g in trades]), np.array([w[4:] for w in book.trades]), rtol=1e-12)
    np.testing.assert_allclose(got.value, value, rtol=1e-12)
    summary = result["forecasters"]["model"]["after_costs"]
    assert summary["holding_days"] == pytest.approx((4 + 3 + 2 + 2) / 4)  # B days 1-4, D 2-4, B and C 5-6
    assert result["end"] == DAYS[6] and summary["stuck"] == 0 and summary["days_without_picks"] == 0
    before = books["model/before_costs"].value
    assert summary["cost_drag"] == pytest.approx((before[-1] / before[0]) ** (242 / 6) - (value[-1]) ** (242 / 6))


def test_t_plus_1_is_the_simulators_own_rule(tmp_path: Path) -> None:
    store = open_store(write_store(tmp_path))
    rows, t = hand_rows(store.codes), tape(store)
    told = book_orders(rows, rows.score["model"], Rules(top=2))
    book = simulate(told, t, FREE, 0, 7, 5, hold=1)  # a one-day hold would sell at the close of the buy's day
    sold, bought = book.trades["side"] == 1, book.trades["side"] == 0
    assert sold.any() and (book.trades["held"][sold] >= 2).all()  # never on the day of the buy
    for s, d in zip(book.trades["stock"][sold], book.trades["day"][sold]):
        assert d > book.trades["day"][bought & (book.trades["stock"] == s) & (book.trades["day"] < d)].max()
    with pytest.raises(ValueError, match="T\\+1"):
        backtest(rows, t, ("model",), Rules(hold=1), 0)


def test_every_trade_fill_cost_and_value_match_the_hand_ledger(tmp_path: Path) -> None:
    store = open_store(write_store(tmp_path))
    t = tape(store)
    assert t.up_open[store.codes.index("600001"), 1] and t.down_close[store.codes.index("600002"), 2]
    assert not t.traded[store.codes.index("600004"), 3]
    result, books = backtest(hand_rows(store.codes), t, ("model",), Rules(hold=2, top=2, capital=0, costs=COSTS), 0)
    book = books["model/after_costs"]
    got = [(int(d), int(k), store.codes[int(s)], ("buy", "sell")[int(side)], p, q, v, f)
           for d, k, s, side, p, q, v, f, _ in zip(*book.trades.values())]
    want, value = ledger()
    assert [g[:4] for g in got] == [w[:4] for w in want]
    np.testing.assert_allclose(np.array([g[4:] for g in got]), np.array([w[4:] for w in want]), rtol=1e-12)
    np.testing.assert_allclose(book.value, value, rtol=1e-12)
    assert len(book.stuck["stock"]) == 0 and list(book.days) == list(range(8))
    assert result["end"] == DAYS[-1] and result["forecasters"]["model"]["after_costs"]["days"] == 7
    rows = hand_rows(store.codes)
    rows.limit_up = limit_flags(store)[0][rows.stock, rows.day]  # A closed at its limit-up on day 1
    assert rows.limit_up.sum() == 1
    assert list(by_day(rows, top_picks(rows, rows.score["model"], 3))[1]) == [store.codes.index(c) for c in
                                                                         ("600003", "600004", "600002")]  # not A
    assert store.codes.index("600001") in by_day(rows, top_picks(rows, rows.score["model"], 3, skip_limit_up=False))[1]
    free = books["model/before_costs"]  # the same trades without costs: more money at the end
    assert len(free.trades["day"]) == len(book.trades["day"]) and free.value[-1] > book.value[-1]
    summary = result["forecasters"]["model"]["after_costs"]
    assert summary["total_return"] == pytest.approx(value[-1] - 1)
    peak = np.maximum.accumulate(value)
    assert summary["max_drawdown"] == pytest.approx(max(1 - np.array(value) / peak))


def test_tear_sheet_figures_on_hand_made_scores(tmp_path: Path) -> None:
    store = open_store(write_store(tmp_path))
    rows = hand_rows(store.codes)
    close = np.asarray(store.close)
    ahead = forward_returns(close, rows, 1)
    first = (rows.day == 0) & (rows.stock == store.codes.index("600001"))
    assert ahead[first][0] == pytest.approx(11.0 / 10.0 - 1)  # A's close to close over day 0 -> 1
    assert np.isnan(forward_returns(close, rows, 10)).all()  # past the store's end
    assert np.isnan(ahead[(rows.day == 2) & (rows.stock == store.codes.index("600004"))]).all()  # suspended then
    day0 = rows.day == 0
    q = quantile_returns(rows.score["model"][day0], ahead[day0], rows.day[day0])
    order = [store.codes.index(f"60000{n}") for n in (5, 4, 3, 2, 1)]  # scores 1..5: one stock per quintile
    np.testing.assert_allclose(q, [close[s, 1] / close[s, 0] - 1 for s in order])
    same = Rows(rows.stock, rows.day, rows.y, rows.forward_return, rows.limit_up, {}, {"model": rows.stock * 1.0})
    assert rank_autocorrelation(same.score["model"], same) == pytest.approx(1.0)  # the same order every day
    flip = np.where(rows.day % 2 == 0, rows.stock, -rows.stock) * 1.0
    assert rank_autocorrelation(flip, rows) == pytest.approx(-1.0)


def test_a_top_at_or_above_the_universe_is_a_warning_that_names_the_count(tmp_path: Path) -> None:
    store = open_store(write_store(tmp_path))
    rows, t = hand_rows(store.codes), tape(store)
    assert backtest(rows, t, ("model",), Rules(hold=2, top=3), 0)[0]["warnings"] == []
    warning = backtest(rows, t, ("model",), Rules(hold=2, top=4), 0)[0]["warnings"]
    assert warning == ["--top 4 is at or above the 4..5 stocks a day can be picked from (1 of 6 days): on those days "
                       "the picks are the whole universe, so the book is the universe's; use a smaller --top or "
                       "--top-pct"]
    assert backtest(rows, t, ("model",), Rules(hold=2, top=4, top_pct=50.0), 0)[0]["warnings"] == []


def test_the_universe_is_a_book_holding_every_scored_stock_fully_invested_from_the_first_open(tmp_path: Path
                                                                                               ) -> None:
    days = [str(np.datetime64("2019-03-01") + i) for i in range(12)]
    prices = [round(10 + 0.1 * d, 2) for d in range(12)]  # every stock alike, moving only overnight
    bars = {f"sh60000{n}": [(p, p) for p in prices] for n in range(1, 5)}
    store = open_store(write_store(tmp_path, bars, days))
    scored_days = 10  # decision days 0..9: the last sells at day 10's close
    rows = Rows(np.tile(np.arange(4), scored_days), np.repeat(np.arange(scored_days), 4), np.zeros(40, int),
                np.zeros(40), np.zeros(40, bool), {}, {"model": np.tile([4.0, 3.0, 2.0, 1.0], scored_days)})
    result, books = backtest(rows, tape(store), ("model",), Rules(top=4, keep=4, drop=4, capital=0), 0)
    universe = books["universe/before_costs"].value
    np.testing.assert_allclose(universe, [1.0] + [prices[k] / prices[1] for k in range(1, 11)], rtol=1e-12)  # by hand
    np.testing.assert_allclose(books["model/before_costs"].value, universe, rtol=1e-12)
    figures = result["forecasters"]["model"]["before_costs"]
    assert abs(figures["annual_excess"]) < 1e-9 and figures["cash_share"] < 1e-12
    after = result["forecasters"]["model"]["after_costs"]
    assert abs(after["annual_excess"]) < 1e-9  # the same trades at the same costs as the universe's
    assert result["universe"]["after_costs"]["total_return"] < result["universe"]["before_costs"]["total_return"]


def test_scores_that_tie_every_day_hold_cash_and_say_so(tmp_path: Path) -> None:
    store = open_store(write_store(tmp_path))
    rows = hand_rows(store.codes)
    rows.score["model"] = np.zeros(len(rows.day))
    result, books = backtest(rows, tape(store), ("model",), Rules(top=2), 0)
    figures = result["forecasters"]["model"]["after_costs"]
    assert figures["days_without_picks"] == 6 and figures["buys"] == 0
    assert (books["model/after_costs"].value == 1_000_000).all() and figures["cash_share"] == 1.0


def test_a_name_that_never_trades_again_is_reported_stuck_and_never_spends_the_quota(tmp_path: Path) -> None:
    bars = dict(BARS) | {"sh600004": BARS["sh600004"][:3] + [None] * 5}  # D's bars end on day 2: delisted
    store = open_store(write_store(tmp_path, bars))
    scores = [{"D": 5, "C": 4, "A": 1, "B": 2, "E": 3}, {"D": 5, "C": 4, "A": 1, "B": 2, "E": 3},
              {"A": 5, "E": 4, "B": 3, "C": 2, "D": 1}, {"A": 5, "E": 4, "B": 3, "C": 2},
              {"A": 5, "E": 4, "B": 3, "C": 2}, {"A": 5, "E": 4, "B": 3, "C": 2}]
    result, books = backtest(hand_rows(store.codes, scores), tape(store), ("model",),
                             Rules(top=2, keep=2, drop=1, capital=0, costs=FREE), 0)
    book = books["model/before_costs"]
    d, c = store.codes.index("600004"), store.codes.index("600003")
    sales = book.trades["day"][(book.trades["side"] == 1) & (book.trades["stock"] == c)]
    assert list(sales) == [4]  # C, outside the best 2, is sold at day 4's close though D ranks below it: D, marked
    # on day 2, has no bar from day 3 on, so it waits without spending the quota
    assert list(book.stuck["stock"]) == [d] and book.stuck["bought"][0] == 1
    figures = result["forecasters"]["model"]["before_costs"]
    shares = book.trades["shares"][(book.trades["stock"] == d) & (book.trades["side"] == 0)][0]
    assert figures["stuck"] == 1 and figures["stuck_days"] == 6  # bought at day 1's open, still held at day 6
    assert figures["stuck_share"] == pytest.approx(shares * 10.0 / book.value[-1])  # at D's last close, 10.00
