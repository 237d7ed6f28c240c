"""The moving-block day bootstrap: blocks of days widen the interval of an autocorrelated daily series and leave a
white-noise one as the day bootstrap has it; the weights are whole resamples of the days."""

from __future__ import annotations

import numpy as np

from equinet.evaluation.scoring import block_weights, bootstrap


def width(series: np.ndarray, block: int) -> float:
    low, high = bootstrap({"x": (series, np.ones(len(series)), False)}, 2000, seed=1, block=block)["x"]
    return high - low


def test_blocks_widen_an_autocorrelated_series_and_keep_white_noise() -> None:
    rng = np.random.default_rng(0)
    noise = rng.standard_normal(1000)
    overlapping = np.convolve(rng.standard_normal(1002), np.ones(3), mode="valid")  # 3-day sums: autocorrelated
    assert abs(np.corrcoef(overlapping[1:], overlapping[:-1])[0, 1] - 2 / 3) < 0.08
    assert width(overlapping, 5) > 1.3 * width(overlapping, 1)  # sqrt(1 + 2 (2/3 + 1/3)) = 1.7 in theory
    assert 0.85 < width(noise, 5) / width(noise, 1) < 1.15


def test_block_weights_are_whole_resamples_of_consecutive_days() -> None:
    runs = [np.isin(np.arange(6), np.arange(s, s + 3)).astype(int) for s in range(4)]  # 3 consecutive of 6 days
    every = {tuple(a + b) for a in runs for b in runs}  # a resample of 6 days is two such blocks, by hand
    drawn = {tuple(row) for row in block_weights(days=6, n=2000, block=3, seed=5)}
    assert drawn == every and len(every) == 10  # every resample is two runs of 3 consecutive days, all of them drawn
    w = block_weights(days=23, n=50, block=5, seed=3)
    assert w.shape == (50, 23) and (w.sum(1) == 23).all() and (w >= 0).all()
    assert np.array_equal(block_weights(23, 50, 5, seed=3), w)  # seeded
    one = block_weights(days=10, n=1, block=10)[0]
    assert (one == 1).all()  # a block as long as the series: the series itself
    assert block_weights(days=3, n=4, block=8).shape == (4, 3)  # a block longer than the days: cut to them
