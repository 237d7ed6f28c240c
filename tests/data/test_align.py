"""The align stage's helpers by hand (numpy only): each bar's day on the calendar, the store's (stock, day) order
built by moving whole files, and which stocks look stale."""

from __future__ import annotations

import numpy as np

from equinet.data.ingest import by_stock, day_index, stale_stocks


def test_day_index_finds_each_bar_s_day_on_the_calendar() -> None:
    calendar = np.array(["2024-01-02", "2024-01-03", "2024-01-05", "2024-01-08"], dtype="datetime64[D]")
    days = np.array(["2024-01-08", "2024-01-02", "2024-01-05", "2024-01-05"], dtype="datetime64[D]")
    assert day_index(days.astype(np.int64), calendar).tolist() == [3, 0, 2, 2]


def test_by_stock_moves_whole_files_into_the_store_s_order() -> None:
    """Three files (by name: sh600000, sz000001, sz000002) whose stocks are rows 2, 0, 1 of the store."""
    file_id = np.array([0, 0, 0, 1, 1, 2])  # bars by file, each file's by date
    order = by_stock(file_id, np.array([2, 0, 1]))
    assert order.tolist() == [3, 4, 5, 0, 1, 2]
    assert by_stock(np.array([], dtype=int), np.array([0])).tolist() == []


def test_stale_stocks_are_those_that_end_just_before_the_last_day() -> None:
    present = np.ones((4, 20), bool)
    present[1, -1] = False  # an evening's update missed it
    present[2, 5:] = False  # delisted long before
    present[3, -3:] = False  # ends 3 days before the last
    assert stale_stocks(present).tolist() == [1, 3]
