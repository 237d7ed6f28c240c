"""The exchange's rules by hand: whole lots (100 shares; STAR 200, then 1), the minimum commission, the transfer
fee and stamp duty, and quoted prices and shares across an ex-rights day (a bonus issue doubles the shares)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from equinet.data.store import open_store
from equinet.evaluation.backtest import Orders, simulate
from equinet.evaluation.exchange import Costs, lot_shares, tape
from test_backtest import BARS, DAYS, write_store

FEES = Costs(buy=0.00025, sell=0.00025, stamp=None, slippage=0.0, min_commission=5.0, transfer=0.00002)


def test_lots_and_the_minimum_commission_by_hand() -> None:
    one = np.ones(1)
    assert lot_shares(20_000 * one, 60.0 * one, 100 * one, 100 * one, 0.00025, 0.0, 5.0)[0] == 300  # 3 lots
    assert lot_shares(20_000 * one, 60.0 * one, 200 * one, one, 0.00025, 0.0, 5.0)[0] == 333  # STAR: 200, then 1
    assert lot_shares(20_000 * one, 150.0 * one, 200 * one, one, 0.00025, 0.0, 5.0)[0] == 0  # not 200 shares
    # 200 shares at 49.98 cost 9,996 + the 5 CNY minimum = 10,001, over the budget: one lot (2.50 CNY at the rate)
    assert lot_shares(10_000 * one, 49.98 * one, 100 * one, 100 * one, 0.00025, 0.0, 5.0)[0] == 100
    assert lot_shares(10_000 * one, 49.98 * one, 100 * one, 100 * one, 0.00025, 0.0, 0.0)[0] == 200


def test_a_book_in_lots_pays_fees_by_hand_and_trades_quoted_prices_across_a_bonus_issue(tmp_path: Path) -> None:
    bars = dict(BARS) | {"sh600002": BARS["sh600002"][:4] + [(4.65, 4.7), (4.75, 4.8), (4.8, 4.95), (4.95, 5.0)]}
    store = open_store(write_store(tmp_path, bars, DAYS, preclose={("sh600002", 4): 4.65}))  # 10 bonus shares per 10
    b = store.codes.index("600002")
    t = tape(store)
    assert t.open[b, 1] == pytest.approx(10.1 * 0.5, rel=1e-6)  # back-adjusted by the bonus issue's factor 0.5
    rank = {d: np.where(np.arange(5) == b, 0.0, np.inf) for d in range(6)}
    orders = Orders({0: np.array([b])}, dict.fromkeys(range(6), 1), rank)
    book = simulate(orders, t, FEES, 0, 6, 5, keep=1, drop=1, capital=100_000)
    side, day = book.trades["side"], book.trades["day"]
    assert list(side) == [0, 1] and list(day) == [1, 6]
    # the buy: 100,000 / (10.10 x 1.00027) = 9,898.9 shares, so 98 lots at the quoted open
    assert book.trades["price"][0] == pytest.approx(10.1, rel=1e-6) and book.trades["shares"][0] == pytest.approx(9800)
    assert book.trades["value"][0] == pytest.approx(98_980, rel=1e-6)
    assert book.trades["fee"][0] == pytest.approx(98_980 * 0.00025 + 98_980 * 0.00002, rel=1e-6)
    # the sale after the bonus issue: 19,600 shares at the quoted close 4.95; stamp duty 0.05 % from 2023-08-28
    assert book.trades["price"][1] == pytest.approx(4.95, rel=1e-6)
    assert book.trades["shares"][1] == pytest.approx(19_600, rel=1e-6)
    assert book.trades["fee"][1] == pytest.approx(97_020 * (0.00025 + 0.0005 + 0.00002), rel=1e-6)
    cash = 100_000 - 98_980 * 1.00027 + 97_020 * (1 - 0.00077)
    assert book.value[-1] == pytest.approx(cash, rel=1e-9) and book.cash[-1] == pytest.approx(cash, rel=1e-9)
    assert book.value[3] == pytest.approx(100_000 - 98_980 * 1.00027 + 9800 * 9.3, rel=1e-6)  # marked at closes
    small = simulate(orders, t, FEES, 0, 6, 5, keep=1, drop=1, capital=9_000)  # 800 shares: the 5 CNY minimum
    assert small.trades["shares"][0] == pytest.approx(800) and small.trades["fee"][0] == pytest.approx(
        5 + 8_080 * 0.00002, rel=1e-6)
