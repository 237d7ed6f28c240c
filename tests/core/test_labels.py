"""The label rule and the forward return, by hand on a few closes (numpy only, no store)."""

from __future__ import annotations

import numpy as np

from equinet.core.labels import DOWN, FLAT, UP, LabelRule, forward_return, labels


def test_labels_and_forward_returns_by_hand() -> None:
    """Two stocks x 6 days, horizon 3: +3 % exactly is 涨, -2 % exactly is 跌 (two-decimal prices hit the
    thresholds), a suspension inside the horizon or the store's end gives no label."""
    close = np.array([[10.00, 10.10, 10.20, 10.30, 9.00, 9.00],
                      [10.00, 10.00, np.nan, 9.80, 9.90, 9.95]])
    y, r = labels(close, LabelRule(horizon=3, up=0.03, down=-0.02))
    np.testing.assert_allclose(r[0, :3], [0.03, 9.00 / 10.10 - 1, 9.00 / 10.20 - 1])
    assert y[0].tolist() == [UP, DOWN, DOWN, -1, -1, -1]
    assert y[1].tolist() == [DOWN, FLAT, -1, -1, -1, -1]  # day 2 has no bar: no label from it
    assert np.isnan(r[:, 3:]).all() and np.isnan(r[1, 2])
    np.testing.assert_array_equal(forward_return(close, 3), r)


def test_a_horizon_past_the_store_gives_nothing() -> None:
    assert np.isnan(forward_return(np.ones((2, 3)), 5)).all()
