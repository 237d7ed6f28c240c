"""The volatility and reversal baselines and the ranking metrics, against cases computed by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from equinet.core.labels import LabelRule
from equinet.core.metrics import daily_rank_ic, rank_metrics
from equinet.features.series import ewma_sigma, reversal
from equinet.models.distribution import class_probabilities, t_cdf, volatility_probabilities

# scipy.stats.t.cdf, computed once outside the suite
T5 = {-1.0: 0.18160873382456144, 0.5: 0.6808505641795355, 2.0: 0.9490302605850708}


def test_student_t_cdf_closed_form_matches_known_values() -> None:
    x = torch.tensor(list(T5), dtype=torch.float64)
    np.testing.assert_allclose(t_cdf(x).numpy(), list(T5.values()), atol=1e-12)
    assert float(t_cdf(torch.tensor([-3.0], dtype=torch.float64), dof=3)) == pytest.approx(0.02883444281121865)
    assert float(t_cdf(torch.tensor([0.0]))) == pytest.approx(0.5)


def test_volatility_baseline_by_hand_across_a_suspension() -> None:
    close = np.array([[10.0, 10.3, 10.1, np.nan, 10.6, 10.4]])  # suspended on day 3
    sigma = ewma_sigma(close, np.zeros(close.shape, dtype=bool))
    # returns in the stock's own days: 10.3/10, 10.1/10.3, 10.6/10.1 (across the gap, once), 10.4/10.6
    r = np.log([10.3 / 10.0, 10.1 / 10.3, 10.6 / 10.1, 10.4 / 10.6])
    w = 0.5 ** (np.arange(3, -1, -1) / 10)  # half-life 10 of the stock's days: the oldest weighs least
    assert sigma[0, 5] == pytest.approx(np.sqrt((w * r**2).sum() / w.sum()))
    assert sigma[0, 5] == pytest.approx(0.03149017326677258)
    assert np.isnan(sigma[0, 0]) and sigma[0, 1] == pytest.approx(abs(r[0]))
    p = volatility_probabilities(torch.tensor([sigma[0, 5]], dtype=torch.float64), LabelRule()).numpy()[0]
    # scipy: t(5) with standard deviation sqrt(3) sigma, at log(1.03) and log(0.98)
    np.testing.assert_allclose(p, [0.2576773089538911, 0.32634630922263513, 0.4159763818234738], atol=1e-10)


def test_volatility_baseline_is_causal_and_skips_breaks() -> None:
    rng = np.random.default_rng(0)
    close = 10 * np.exp(np.cumsum(rng.normal(0, 0.02, (3, 50)), axis=1))
    later = close.copy()
    later[:, 30:] *= 1.5  # the future changes
    none = np.zeros(close.shape, dtype=bool)
    np.testing.assert_array_equal(ewma_sigma(close, none)[:, :30], ewma_sigma(later, none)[:, :30])
    breaks = none.copy()
    breaks[:, 30] = True  # an unadjusted ex-rights day: its return is no observation
    np.testing.assert_allclose(ewma_sigma(later, breaks)[:, 30], ewma_sigma(later, breaks)[:, 29])


def test_distribution_probabilities_with_a_location() -> None:
    p = class_probabilities(torch.tensor([0.01], dtype=torch.float64), torch.tensor([0.02], dtype=torch.float64),
                            LabelRule()).numpy()[0]
    np.testing.assert_allclose(p[:2], [0.18650842499015444, 0.0956977240875893], atol=1e-10)
    assert p.sum() == pytest.approx(1.0)


def test_reversal_is_minus_the_twenty_day_return() -> None:
    ret = np.arange(1, 31, dtype=float)[None, :] / 100  # daily log returns 0.01 .. 0.30
    score = reversal(ret)
    assert score[0, 29] == pytest.approx(-ret[0, 10:30].sum())
    assert score[0, 5] == pytest.approx(-ret[0, :6].sum())  # fewer days than 20 before: what there is


def test_rank_ic_and_icir_two_days_by_hand() -> None:
    day = np.array([3, 3, 3, 3, 8, 8, 8])
    score = np.array([0.1, 0.4, 0.3, 0.2, 1.0, 2.0, 2.0])  # day 8 has a tie
    outcome = np.array([0.01, 0.03, 0.04, 0.02, -0.01, 0.02, 0.00])
    ic = daily_rank_ic(score, outcome, day)
    # day 3: ranks (1,4,3,2) vs (1,3,4,2): 1 - 6*sum(d^2)/(n(n^2-1)) = 1 - 6*2/60 = 0.8
    # day 8: ranks (1,2.5,2.5) vs (1,3,2): Pearson of the ranks = 1.5 / sqrt(1.5 * 2) = 0.8660...
    np.testing.assert_allclose(ic, [0.8, 1.5 / np.sqrt(3.0)])
    m = rank_metrics(ic)
    assert m["rank_ic"] == pytest.approx((0.8 + 1.5 / np.sqrt(3)) / 2)
    assert m["rank_icir"] == pytest.approx(m["rank_ic"] / np.std(ic, ddof=1))
    assert m["ic_positive_days"] == 1.0
    assert np.isnan(daily_rank_ic(np.ones(7), outcome, day)).all()


def test_the_linear_baseline_is_the_closed_form_ridge() -> None:
    """fit() (normal equations by blocks of rows) equals the ridge solved as one least-squares problem on the
    augmented system [X; sqrt(alpha N) I] b = [z; 0], on more rows than one block."""
    from equinet.models.linear import CHUNK, demeaned, fit

    rng = np.random.default_rng(0)
    n = CHUNK + 1000
    x = rng.normal(size=(n, 3)).astype(np.float32) * [1.0, 2.0, 0.5] + [0.0, 1.0, -2.0]
    z = x @ np.array([0.3, -0.1, 0.8]) + rng.normal(size=n)
    ridge = fit(x, z, alpha=0.5)
    standard = (x - x.mean(0, dtype=np.float64)) / x.std(0, dtype=np.float64)
    augmented = np.vstack([standard, np.sqrt(0.5 * n) * np.eye(3)])
    want = np.linalg.lstsq(augmented, np.concatenate([z, np.zeros(3)]), rcond=None)[0]
    np.testing.assert_allclose(ridge.coef, want, rtol=1e-6)
    np.testing.assert_allclose(ridge.predict(x[:5]), standard[:5] @ want, rtol=1e-5)
    day = np.array([0, 0, 1, 1, 1])
    np.testing.assert_allclose(demeaned(np.array([1.0, 3.0, 0.0, 3.0, 6.0]), day), [-1, 1, -3, 0, 3])
