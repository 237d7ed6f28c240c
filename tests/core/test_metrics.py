"""Every metric against a small case computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from equinet.evaluation.scoring import Rows, score_rows, top_excess
from equinet.core.metrics import (auc, brier, confusion, decision_metrics, expected_score_decision, forecast_metrics,
                             gate_decision, log_loss, macro_f1, mcc, score_per_1000)

#              up down flat flat up down
Y = np.array([0, 1, 2, 2, 0, 1])
PRED = np.array([0, 0, 2, 1, 2, 1])  # right, DOWN called UP, right, wrong, wrong, right


def test_confusion_accuracy_score() -> None:
    assert confusion(PRED, Y).tolist() == [[1, 0, 1], [1, 1, 0], [0, 1, 1]]
    assert decision_metrics(PRED, Y, np.arange(6.0))["accuracy"] == pytest.approx(3 / 6)
    # +1 +(-2) +1 +0 +0 +1 = 1 point on 6 rows
    assert score_per_1000(PRED, Y) == pytest.approx(1000 / 6)
    assert score_per_1000(np.array([1]), np.array([0])) == -1000  # UP called DOWN costs 1


def test_macro_f1_and_mcc() -> None:
    # per class: up P=1/2 R=1/2 F=1/2; down P=1/2 R=1/2 F=1/2; flat P=1/2 R=1/2 F=1/2
    assert macro_f1(PRED, Y) == pytest.approx(0.5)
    # Gorodkin: (c*s - t.p) / sqrt((s^2 - p.p)(s^2 - t.t)) with c=3, s=6, t=p=(2,2,2)
    assert mcc(PRED, Y) == pytest.approx((3 * 6 - 12) / np.sqrt((36 - 12) * (36 - 12)))
    assert mcc(np.full(6, 2), Y) == 0.0
    assert mcc(Y, Y) == pytest.approx(1.0)


def test_probability_metrics() -> None:
    p = np.array([[0.5, 0.25, 0.25], [0.2, 0.6, 0.2]])
    y = np.array([0, 2])
    assert log_loss(p, y) == pytest.approx(-(np.log(0.5) + np.log(0.2)) / 2)
    assert brier(p, y) == pytest.approx(((0.25 + 0.0625 + 0.0625) + (0.04 + 0.36 + 0.64)) / 2)
    prior = np.tile([0.5, 0.25, 0.25], (2, 1))
    vol = np.array([[0.25, 0.25, 0.5], [0.1, 0.1, 0.8]])
    m = forecast_metrics(p, y, np.array([0.01, 0.0]), prior, vol)
    assert m["log_loss_skill"] == pytest.approx(1 - log_loss(p, y) / (-(np.log(0.5) + np.log(0.25)) / 2))
    assert m["log_loss_skill_vs_volatility"] == pytest.approx(1 - log_loss(p, y) / (-(np.log(0.25) + np.log(0.8)) / 2))


def test_auc_with_ties() -> None:
    score = np.array([0.9, 0.4, 0.4, 0.1])
    positive = np.array([True, True, False, False])
    # pairs (pos, neg): (0.9,0.4)=1 (0.9,0.1)=1 (0.4,0.4)=0.5 (0.4,0.1)=1 -> 3.5 / 4
    assert auc(score, positive) == pytest.approx(3.5 / 4)
    assert np.isnan(auc(score, np.zeros(4, dtype=bool)))


def test_expected_score_and_gate_decisions() -> None:
    p = np.array([[0.45, 0.20, 0.35], [0.70, 0.10, 0.20], [0.05, 0.80, 0.15], [0.40, 0.40, 0.20]])
    # expected scores: row 0: up .45-.40=.05, down -.45+.20=-.25, flat .35 -> flat (argmax would say up)
    assert expected_score_decision(p).tolist() == [2, 0, 1, 2]
    # gate up=0.6 (and > 2 P(down)), down=0.7 (and > 3 P(up))
    assert gate_decision(p, 0.6, 0.7).tolist() == [2, 0, 1, 2]
    assert gate_decision(p, 0.3, 0.3).tolist() == [0, 0, 1, 2]  # row 3: .40 is not > 2 x .40


def test_recall_rates_and_extreme_up_capture() -> None:
    y = np.array([0, 0, 1, 1, 2] * 4)
    pred = np.array([0, 2, 0, 1, 2] * 4)
    ret = np.arange(20.0)  # the top 5 % is the last row (19): its label is flat, predicted flat
    m = decision_metrics(pred, y, ret)
    assert m["up_recall"] == pytest.approx(0.5)
    assert m["down_to_up_rate"] == pytest.approx(0.5)
    assert m["extreme_up_capture"] == 0.0
    ret[0] = 100.0  # now the top row is a true UP that was predicted UP
    assert decision_metrics(pred, y, ret)["extreme_up_capture"] == 1.0


def rows_for_topk() -> Rows:
    up_minus_down = np.array([0.9, 0.5, 0.1, 0.8, 0.2, 0.3])
    p = np.column_stack([0.4 + up_minus_down / 2, 0.4 - up_minus_down / 2, 0.2 * np.ones(6)])
    return Rows(stock=np.array([0, 1, 2, 0, 1, 2]), day=np.array([5, 5, 5, 6, 6, 6]), y=np.zeros(6, dtype=int),
                forward_return=np.array([0.05, 0.01, -0.03, 0.02, 0.00, -0.01]),
                limit_up=np.array([True, False, False, False, False, False]),
                p={"model": p, "prior": np.tile([0.2, 0.3, 0.5], (6, 1))}, score={"model": up_minus_down})


def test_topk_skips_limit_up_and_measures_excess() -> None:
    rows = rows_for_topk()
    result = top_excess(rows, rows.score["model"], pct=1.0)  # 1 % of 3 stocks -> at least one pick a day
    # day 5: best is stock 0 but it closed limit-up -> stock 1 (+1 %); universe +1 %. day 6: stock 0 (+2 %); 1/3 %
    assert result["picks_mean"] == pytest.approx((0.01 + 0.02) / 2)
    assert result["universe_mean"] == pytest.approx((0.01 + 0.01 / 3) / 2)
    assert result["excess"] == pytest.approx(((0.01 - 0.01) + (0.02 - 0.01 / 3)) / 2)


def test_bootstrap_intervals_cover_the_estimate_and_repeat() -> None:
    rng = np.random.default_rng(0)
    n = 400
    p = rng.dirichlet([2, 2, 4], size=n)
    y = rng.integers(0, 3, size=n)
    fr = rng.normal(0, 0.02, n) + 0.01 * (p[:, 0] - p[:, 1])
    probs = {"model": p, "prior": np.tile([0.2, 0.3, 0.5], (n, 1)), "majority": np.tile([0.0, 0.0, 1.0], (n, 1)),
             "volatility": np.tile([0.25, 0.25, 0.5], (n, 1))}
    scores = {k: q[:, 0] - q[:, 1] for k, q in probs.items()} | {"reversal": rng.normal(size=n)}
    rows = Rows(np.tile(np.arange(10), 40), np.repeat(np.arange(40), 10), y, fr, np.zeros(n, bool), probs, scores)
    report = score_rows(rows, n_bootstrap=500)
    ci, model = report["ci"], report["model"]
    for key in ("accuracy", "log_loss_skill", "log_loss_skill_vs_volatility", "rank_ic", "topk_excess",
                "top_decile_excess"):
        assert ci[key][0] < model[key] < ci[key][1], key
    assert score_rows(rows, n_bootstrap=500)["ci"] == ci
    assert report["reversal"]["log_loss"] is None and report["reversal"]["ci"]["rank_ic"][0] < 0.5
    assert np.isnan(report["prior"]["rank_ic"])  # a constant forecast ranks nothing: no IC, no picks
    assert np.isnan(report["prior"]["top_decile_excess"]) and "topk_excess" not in report["prior"]["ci"]


def test_one_top_k_rule_counts_k_from_the_stocks_that_can_be_picked() -> None:
    """Ten stocks, one closed at its limit-up: the top 20 % are 1 of the 9 pickable (not 2 of 10), in eval's excess
    and in the backtest's picks alike."""
    from equinet.evaluation.backtest import by_day
    from equinet.evaluation.scoring import top_picks

    score = np.arange(10, 0, -1, dtype=float)  # stock 0 best
    ret = np.linspace(0.05, -0.04, 10)
    rows = Rows(stock=np.arange(10), day=np.zeros(10, int), y=np.zeros(10, int), forward_return=ret,
                limit_up=np.arange(10) == 0, p={}, score={"model": score})
    picks = by_day(rows, top_picks(rows, score, pct=20.0))
    assert picks[0].tolist() == [1]
    assert top_excess(rows, score, pct=20.0)["picks_mean"] == pytest.approx(ret[1])
    assert by_day(rows, top_picks(rows, score, top=3))[0].tolist() == [1, 2, 3]
    assert by_day(rows, top_picks(rows, score, top=3, skip_limit_up=False))[0].tolist() == [0, 1, 2]
    flat = np.ones(10)
    assert len(top_picks(rows, flat, pct=20.0)) == 0  # all scores equal: nothing is ranked, nothing picked


def test_intervals_resample_whole_days() -> None:
    """40 days of 10 stocks: the model is right on every row of 20 days and wrong on every row of the other 20.
    Resampling whole days gives accuracy 0.5 +- 1.96 x 0.5 / sqrt(40) (about 0.155); resampling rows would give
    a third of that."""
    n, days = 400, np.repeat(np.arange(40), 10)
    y = np.zeros(n, int)
    right = days % 2 == 0
    p = np.where(right[:, None], [0.8, 0.1, 0.1], [0.1, 0.8, 0.1])
    probs = {"model": p, "prior": np.tile([0.2, 0.3, 0.5], (n, 1)), "majority": np.tile([0.0, 0.0, 1.0], (n, 1)),
             "volatility": np.tile([0.25, 0.25, 0.5], (n, 1))}
    scores = {k: q[:, 0] - q[:, 1] for k, q in probs.items()} | {"reversal": np.zeros(n)}
    rows = Rows(np.tile(np.arange(10), 40), days, y, np.zeros(n), np.zeros(n, bool), probs, scores)
    report = score_rows(rows, n_bootstrap=2000, block_days=1)  # single days (blocks: tests/evaluation/test_bootstrap)
    low, high = report["ci"]["accuracy"]
    assert report["model"]["accuracy"] == pytest.approx(0.5)
    assert 0.12 < (high - low) / 2 < 0.19, (low, high)
