"""Chart series: drawdown, extreme-preserving equity downsampling, candle merging."""

from __future__ import annotations

import numpy as np
import pytest

from lab import series
from strategies.engine import Candles


def test_drawdown_starts_from_the_initial_cash():
    equity = np.array([90.0, 110.0, 99.0, 120.0])
    assert series.drawdown_pct(equity, 100.0).tolist() == pytest.approx([10.0, 0.0, 10.0, 0.0])


def test_small_curves_are_returned_whole():
    equity = np.arange(10.0)
    assert series.select_points(equity, equity, 10).tolist() == list(range(10))


@pytest.mark.parametrize(("rows", "points"), [(1_000, 100), (100_001, 1000), (12_345, 11)])
def test_downsampling_keeps_ends_spikes_dips_and_the_deepest_drawdown(rows, points):
    rng = np.random.default_rng(7)
    equity = 1000.0 + np.cumsum(rng.normal(0, 1, rows))
    equity[rows // 3] += 500.0  # a one-candle spike
    equity[2 * rows // 3] -= 400.0  # a one-candle dip
    drawdown = series.drawdown_pct(equity, 1000.0)
    index = series.select_points(equity, drawdown, points)
    assert index.size <= points
    assert np.all(np.diff(index) > 0)
    assert index[0] == 0
    assert index[-1] == rows - 1
    assert rows // 3 in index
    assert 2 * rows // 3 in index
    assert equity[index].max() == equity.max()
    assert equity[index].min() == equity.min()
    assert drawdown[index].max() == drawdown.max()


def test_candles_merge_like_a_longer_timeframe():
    ts = np.arange(7, dtype=np.float64) * 60_000
    candles = Candles(
        ts=ts,
        open=np.array([1.0, 2, 3, 4, 5, 6, 7]),
        high=np.array([2.0, 9, 4, 5, 6, 7, 8]),
        low=np.array([0.5, 1, 0.1, 3, 4, 5, 6]),
        close=np.array([1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5]),
        volume=np.array([0.1, 0.2, 0.3, 1, 1, 1, 1]),
    )
    merged, group = series.aggregate_candles(candles, 3)
    assert group == 3
    assert merged.ts.tolist() == [0, 180_000, 360_000]
    assert merged.open.tolist() == [1, 4, 7]
    assert merged.high.tolist() == [9, 7, 8]
    assert merged.low.tolist() == [0.1, 3, 6]
    assert merged.close.tolist() == [3.5, 6.5, 7.5]
    assert merged.volume.tolist() == [0.6, 3, 1]  # 0.1 + 0.2 + 0.3 without float noise
    same, one = series.aggregate_candles(candles, 7)
    assert (same, one) == (candles, 1)
