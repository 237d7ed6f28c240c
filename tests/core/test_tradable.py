"""The tradable return (from the open after the decision day to the close at the horizon) on a vendor file the
test writes from hand-made bars: a limit-up open, a suspension on the day after, an ex-rights day inside the
horizon, each checked against the raw prices by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import run_cli
from equinet.core.labels import LabelRule
from equinet.data.store import open_store
from equinet.features.inputs import prepare

DAYS = ["2024-03-01", "2024-03-04", "2024-03-05", "2024-03-06", "2024-03-07", "2024-03-08", "2024-03-11"]
# (open, close, previous close as the exchange quotes it) per day; None: suspended
BARS = {
    "sh600001": [(10.0, 10.0, 10.0), (11.0, 11.0, 10.0), (11.0, 11.3, 11.0), (11.2, 11.4, 11.3),
                 (11.4, 11.5, 11.4), (11.5, 11.6, 11.5), (11.6, 11.7, 11.6)],  # opens at its limit-up on day 1
    "sh600002": [(10.0, 10.0, 10.0), (10.1, 10.2, 10.0), None, (10.2, 10.5, 10.2), (10.5, 10.6, 10.5),
                 (10.6, 10.4, 10.6), (10.4, 10.3, 10.4)],  # suspended on day 2
    "sh600003": [(10.0, 10.0, 10.0), (10.0, 10.2, 10.0), (10.3, 10.4, 10.2), (5.25, 5.3, 5.2), (5.3, 5.4, 5.3),
                 (5.4, 5.5, 5.4), (5.5, 5.6, 5.5)],  # 10-for-10 bonus shares: ex-rights on day 3 (quoted 5.20)
}


def write_store(root: Path) -> Path:
    header = "数据由邢不行整理\n股票代码,股票名称,交易日期,开盘价,最高价,最低价,收盘价,前收盘价,成交量,成交额,流通市值\n"
    (root / "raw").mkdir()
    for code, bars in BARS.items():
        lines = [f"{code},股{code[-1]},{day},{o},{max(o, c)},{min(o, c)},{c},{prev},1e6,1e7,{c * 1e8}"
                 for day, bar in zip(DAYS, bars) if bar is not None for o, c, prev in [bar]]
        (root / "raw" / f"{code}.csv").write_text(header + "\n".join(lines) + "\n", encoding="utf-8")
    assert run_cli("ingest", root / "raw", "--out", root / "s").exit_code == 0
    return root / "s"


def test_tradable_return_of_a_hand_made_panel(tmp_path: Path) -> None:
    store = open_store(write_store(tmp_path))
    prep = prepare(store, LabelRule(horizon=3))
    a, b, c = (store.codes.index(code) for code in ("600001", "600002", "600003"))
    raw = {code[2:]: bars for code, bars in BARS.items()}

    def by_hand(code: str, t: int, factor: float = 1.0) -> float:  # open after t to the close 3 days after t
        return raw[code][t + 3][1] * factor / raw[code][t + 1][0] - 1

    assert np.isnan(prep.tradable[a, 0])  # opens at its limit-up on day 1: nobody sells to the buyer
    assert prep.tradable[a, 1] == pytest.approx(by_hand("600001", 1), abs=1e-6)
    assert not np.isnan(prep.forward_return[a, 0])  # close to close still counts the limit-up move
    assert np.isnan(prep.tradable[b, 1])  # no bar on day 2: nothing to buy at its open
    assert prep.tradable[b, 0] == pytest.approx(by_hand("600002", 0), abs=1e-6)  # held through the suspension
    assert not np.isnan(prep.forward_return[b, 1])
    # ex-rights on day 3, between the buy and the sale for days 0 and 1: one share bought is two from day 3
    for t in (0, 1):
        assert prep.tradable[c, t] == pytest.approx(by_hand("600003", t, 2.0), abs=1e-6), t
    assert prep.tradable[c, 2] == pytest.approx(by_hand("600003", 2), abs=1e-6)  # bought at the ex-rights open
    assert np.isnan(prep.tradable[:, -3:]).all()  # the horizon leaves the store
