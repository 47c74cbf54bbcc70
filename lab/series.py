"""Series for charts: drawdown, equity downsampling that keeps extremes, candle aggregation.

Equity (`select_points`): a curve with more points than asked is cut into `(points - 2) // 3`
buckets of equal row count; each bucket contributes the row of its lowest equity, of its
highest equity and of its deepest drawdown, and the first and last rows are always kept. So a
chart of at most `points` points still shows every spike, every dip and the maximum drawdown
exactly where they happened (a plain every-n-th sample would step over them).

Candles (`aggregate_candles`): groups of `ceil(rows / points)` consecutive candles become one
candle, as a longer timeframe would (first open, highest high, lowest low, last close, summed
volume, the group's first open time).
"""

from __future__ import annotations

import numpy as np

from strategies.engine import Candles


def drawdown_pct(equity: np.ndarray, initial_cash: float) -> np.ndarray:
    """Percent below the running peak at each point; the peak starts at the initial cash.

    Its maximum is the backtest's `max_drawdown_pct` (before rounding).
    """
    if equity.size == 0:
        return np.zeros(0)
    peak = np.maximum.accumulate(np.concatenate(([initial_cash], equity)))[1:]
    return (peak - equity) / peak * 100.0


def _bucket_arg(values: np.ndarray, buckets: int, size: int, pick) -> np.ndarray:
    """Index of `pick` (argmin/argmax) within each bucket of `size` rows."""
    rows = values.size
    pad = buckets * size - rows
    if pad:
        # The padding repeats the last value; an index in it is clamped back to the last row,
        # which holds the same value.
        values = np.concatenate((values, np.full(pad, values[-1])))
    index = pick(values.reshape(buckets, size), axis=1) + np.arange(buckets) * size
    return np.minimum(index, rows - 1)


def select_points(equity: np.ndarray, drawdown: np.ndarray, points: int) -> np.ndarray:
    """Sorted row indices (at most `points`, or all rows when they fit) to chart the curve."""
    rows = equity.size
    if rows <= points:
        return np.arange(rows)
    buckets = max(1, (points - 2) // 3)
    size = -(-rows // buckets)
    buckets = -(-rows // size)  # no bucket made only of padding
    chosen = np.concatenate(
        (
            np.array([0, rows - 1]),
            _bucket_arg(equity, buckets, size, np.argmin),
            _bucket_arg(equity, buckets, size, np.argmax),
            _bucket_arg(drawdown, buckets, size, np.argmax),
        )
    )
    return np.unique(chosen)


def aggregate_candles(candles: Candles, points: int) -> tuple[Candles, int]:
    """Candles merged in groups so that at most `points` remain; also return the group size."""
    rows = len(candles)
    if rows <= points:
        return candles, 1
    group = -(-rows // points)
    starts = np.arange(0, rows, group)
    ends = np.minimum(starts + group, rows) - 1
    merged = Candles(
        ts=candles.ts[starts],
        open=candles.open[starts],
        high=np.maximum.reduceat(candles.high, starts),
        low=np.minimum.reduceat(candles.low, starts),
        close=candles.close[ends],
        # Rounded so that float noise of the sum ("…0000003") does not reach the chart.
        volume=np.round(np.add.reduceat(candles.volume, starts), 8),
    )
    return merged, group
