"""Candles of a time range through a gateway's `fetch_ohlcv`, page by page.

Exchange imports and demo datasets both read their candles this way (the demo feed through the
demo venue's gateway), so a demo dataset and an import from a demo connection over the same range
hold the same candles and the same hash.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
from django.conf import settings

from exchanges.gateway import Gateway
from lab.exceptions import ImportFailure
from strategies.engine import TIMEFRAME_MS, Candles


class FetchStopped(Exception):
    """The caller's progress callback asked the fetch to stop."""


@dataclass
class _Page:
    ts: list[int]
    rows: list[list[float]]


def fetch_candles(
    gateway: Gateway,
    symbol: str,
    timeframe: str,
    start_ms: int,
    end_ms: int,
    *,
    on_progress: Callable[[float], bool] | None = None,
) -> Candles:
    """The complete candles opening in [start_ms, end_ms), checked; maybe none.

    `on_progress(done)` is called after each page with the share of the range covered; when it
    returns False the fetch stops with FetchStopped. ImportFailure (a readable message) when
    the venue returns candles out of order, too many, or unusable ones; the gateway's problems
    pass through.
    """
    timestamps: list[int] = []
    rows: list[list[float]] = []
    span = TIMEFRAME_MS[timeframe]
    for page in _pages(gateway, symbol, timeframe, start_ms, end_ms):
        if timestamps and page.ts[0] <= timestamps[-1]:
            raise ImportFailure("The exchange returned candles out of time order.")
        timestamps.extend(page.ts)
        rows.extend(page.rows)
        if len(timestamps) > settings.LAB_MAX_DATASET_ROWS:
            raise ImportFailure(
                f"The range holds more than {settings.LAB_MAX_DATASET_ROWS} candles."
            )
        if on_progress is not None and not on_progress(
            (page.ts[-1] + span - start_ms) / (end_ms - start_ms)
        ):
            raise FetchStopped
    table = np.asarray(rows, dtype=np.float64).reshape(-1, 5)
    try:
        return Candles.of(
            {
                "ts": np.asarray(timestamps, dtype=np.float64),
                "open": table[:, 0],
                "high": table[:, 1],
                "low": table[:, 2],
                "close": table[:, 3],
                "volume": table[:, 4],
            }
        )
    except ValueError as exc:
        raise ImportFailure(f"The exchange returned unusable candles: {exc}.") from None


def _pages(
    gateway: Gateway, symbol: str, timeframe: str, start_ms: int, end_ms: int
) -> Iterable[_Page]:
    """Page through fetch_ohlcv from start_ms until end_ms (or until the exchange runs dry)."""
    span = TIMEFRAME_MS[timeframe]
    cursor = -(-start_ms // span) * span
    page_size = settings.LAB_IMPORT_PAGE_LIMIT
    while cursor < end_ms:
        batch = gateway.fetch_ohlcv(symbol, timeframe, since=cursor, limit=page_size)
        page = _Page([], [])
        for row in batch or []:
            ts = int(row[0])
            # Complete candles only: one still forming (or running past the range) is left out.
            if cursor <= ts < end_ms and ts + span <= end_ms:
                page.ts.append(ts)
                page.rows.append([float(value) for value in row[1:6]])
        if not page.ts:
            return  # nothing newer in the range: the exchange has no more history there
        yield page
        cursor = page.ts[-1] + span
