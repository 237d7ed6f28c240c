"""The daily price limit of each stock on each day, by board, name, date and listing day, against hand cases."""

from __future__ import annotations

import numpy as np

import polars as pl

from equinet.core.board import limit_prices, limit_rates, special_treatment

DATES = ["2020-08-21", "2020-08-24", "2020-08-25"]


def rates(code: str, st=(False, False, False), listed=(10, 11, 12)) -> tuple[list, list]:
    up, down = limit_rates([code], DATES, np.array([st]), np.array([listed]))
    return up[0].tolist(), down[0].tolist()


def test_main_board_and_st() -> None:
    assert rates("600000") == ([0.10] * 3, [0.10] * 3)
    assert rates("000001", st=(True, True, False)) == ([0.05, 0.05, 0.10], [0.05, 0.05, 0.10])


def test_chinext_moves_to_20_percent_on_2020_08_24_and_st_keeps_it() -> None:
    assert rates("300001") == ([0.10, 0.20, 0.20], [0.10, 0.20, 0.20])
    assert rates("300001", st=(True, True, True)) == ([0.05, 0.20, 0.20], [0.05, 0.20, 0.20])


def test_star_and_beijing() -> None:
    assert rates("688001", st=(True, False, True)) == ([0.20] * 3, [0.20] * 3)
    assert rates("830001") == ([0.30] * 3, [0.30] * 3)


def test_listing_days() -> None:
    up, down = rates("600000", listed=(0, 1, 2))  # a main-board first day: +44 % / -36 %
    assert up == [0.44, 0.10, 0.10] and down == [0.36, 0.10, 0.10]
    up, _ = rates("688001", listed=(3, 4, 5))  # STAR: no limit in the first 5 days
    assert up == [np.inf, np.inf, 0.20]
    up, _ = rates("300001", listed=(0, 1, 2))  # ChiNext: a first day before the reform as the main board's, after
    assert up == [0.44, np.inf, np.inf]  # it none for 5 days


def test_registration_listings_on_the_main_board_and_the_beijing_first_day() -> None:
    dates = ["2023-04-06", "2023-04-07", "2023-04-10", "2023-04-11", "2023-04-12", "2023-04-13", "2023-04-14",
             "2023-04-17"]
    listed = np.array([[10_000, 10_000, 0, 1, 2, 3, 4, 5],  # a main-board listing on 2023-04-10: none for 5 days
                       [0, 1, 2, 3, 4, 5, 6, 7],  # one on 2023-04-06, before the rule: +44 % / -36 %, then ±10 %
                       [10_000, 10_000, 0, 1, 2, 3, 4, 5]])  # Beijing: none on the first day, then ±30 %
    up, down = limit_rates(["603001", "603002", "830001"], dates, np.zeros((3, 8), bool), listed)
    assert up[0].tolist() == [0.10, 0.10] + [np.inf] * 5 + [0.10]
    assert up[1].tolist() == [0.44] + [0.10] * 7 and down[1].tolist() == [0.36] + [0.10] * 7
    assert up[2].tolist() == [0.30, 0.30, np.inf] + [0.30] * 5 and down[2, 2] == np.inf


def test_limit_prices_are_rounded_half_up_to_the_fen() -> None:
    up, down = limit_prices(np.array([1.95, 10.0, 2.41]), np.array([0.05, 0.10, np.inf]), np.array([0.05, 0.1, np.inf]))
    assert up.tolist()[:2] == [2.05, 11.0] and down.tolist()[:2] == [1.85, 9.0]  # 2.0475 -> 2.05, 1.8525 -> 1.85
    assert np.isinf(up[2]) and np.isinf(down[2])
    assert limit_prices(np.array([4.41]), np.array([0.05]), np.array([0.05]))[0].tolist() == [4.63]  # 4.6305


def test_st_names() -> None:
    names = pl.Series(["*ST康美", "ST华仪", "SST前锋", "S*ST天一", "浦发银行", "DR浦发银", "N中信", "st东数"])
    assert special_treatment(names).to_list() == [True, True, True, True, False, False, False, True]


def test_st_behind_the_day_s_prefix() -> None:
    """Real names of the whole-market archive on ex-rights days: the prefix does not hide the special treatment."""
    names = pl.Series(["XDST康美", "XR*ST厦", "DR*ST大控", "XD*ST海马", "XD浦发银", "XR中国", "C*ST", "NST", "GST",
                       "  *ST康美 ", None])
    assert special_treatment(names).to_list() == [True, True, True, True, False, False, True, True, False, True,
                                                  False]
