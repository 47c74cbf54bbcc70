"""Where a tick's candles come from: a `CandleSource`.

The live runtime reads them through the run's gateway (`GatewayCandles`). Closed candles never
change, so what one run fetched serves every run on the same venue, symbol and timeframe: the
window of candles through each close is cached in Redis (shared by every worker process) and
in the process, and the next close only fetches the candles that are new. A replay plugs in a
source that serves a lab dataset instead.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from typing import Protocol

import numpy as np
from django.core.cache import cache

from exchanges.gateway import Gateway
from exchanges.timeframes import TIMEFRAME_MS
from strategies.engine import Candles

logger = logging.getLogger(__name__)

# Candles per fetch_ohlcv call: the most Binance (and the demo venue) return in one answer.
OHLCV_PAGE = 1000
# A window is read again by every run of its key until the next close, then once more as the
# base the next window is built on: two candle lengths, between 2 minutes and an hour.
_MIN_TTL, _MAX_TTL = 120, 3600
_MEMO_SIZE = 256  # windows kept in the process (a few hundred KB each at most)

_memo: OrderedDict[str, Candles] = OrderedDict()
_memo_lock = threading.Lock()


class CandleSource(Protocol):
    """Closed candles of a venue, for the ticks of runs trading on it."""

    def closed(self, symbol: str, timeframe: str, *, since_ms: int, through_ms: int) -> Candles:
        """Closed candles opening in [since_ms, through_ms], oldest first.

        The newest may be missing when the venue has not published it yet: the caller checks
        the last `ts` and tries again later.
        """
        ...


def candles_from_rows(rows: list[list]) -> Candles:
    """Gateway rows `[ts, open, high, low, close, volume]` (Decimals) as engine candles."""
    if not rows:
        empty = np.empty(0, dtype=np.float64)
        return Candles(*(empty for _ in range(6)))
    table = np.array([[float(value) for value in row[:6]] for row in rows], dtype=np.float64)
    return Candles.of({name: table[:, i] for i, name in enumerate(Candles.__dataclass_fields__)})


def _join(*parts: Candles) -> Candles:
    parts = tuple(part for part in parts if len(part))
    if len(parts) == 1:
        return parts[0]
    fields = Candles.__dataclass_fields__
    return Candles.of({name: np.concatenate([getattr(p, name) for p in parts]) for name in fields})


def _since(window: Candles, since_ms: int) -> Candles:
    start = int(np.searchsorted(window.ts, since_ms, side="left"))
    return window[start:]


class GatewayCandles:
    """Closed candles read through a gateway, cached per (venue, symbol, timeframe, close).

    `venue_key` names the market data the gateway serves (`demo` for every demo connection,
    whose feed is one; `<exchange>:<mode>` for ccxt), so connections to the same venue share.
    """

    def __init__(self, gateway: Gateway, *, venue_key: str) -> None:
        self.gateway = gateway
        self.venue_key = venue_key

    def closed(self, symbol: str, timeframe: str, *, since_ms: int, through_ms: int) -> Candles:
        span = TIMEFRAME_MS[timeframe]
        window = self._cached(symbol, timeframe, through_ms)
        complete = window is not None
        if window is None:
            # The previous close's window holds all but the newest candle(s).
            window = self._cached(symbol, timeframe, through_ms - span)
        if window is None or not len(window):
            window = self._fetch(symbol, timeframe, since_ms, through_ms)
        else:
            head = tail = None
            first, last = int(window.ts[0]), int(window.ts[-1])
            if first > since_ms:  # a run whose history starts earlier than any before it
                head = self._fetch(symbol, timeframe, since_ms, first - span)
            if last < through_ms:
                tail = self._fetch(symbol, timeframe, last + span, through_ms)
            if head is not None or tail is not None:
                window = _join(*(part for part in (head, window, tail) if part is not None))
                complete = False
        if not complete and len(window) and int(window.ts[-1]) == through_ms:
            self._store(symbol, timeframe, through_ms, window)
        return _since(window, since_ms)

    # --- cache

    def _key(self, symbol: str, timeframe: str, through_ms: int) -> str:
        return f"bots:candles:{self.venue_key}:{symbol}:{timeframe}:{through_ms}"

    def _cached(self, symbol: str, timeframe: str, through_ms: int) -> Candles | None:
        key = self._key(symbol, timeframe, through_ms)
        with _memo_lock:
            window = _memo.get(key)
            if window is not None:
                _memo.move_to_end(key)
                return window
        try:
            stored = cache.get(key)
        except Exception as exc:
            # Deliberately broad: the cache only saves venue calls; without it the tick fetches.
            logger.warning("bots.candle_cache_failed", extra={"error": exc.__class__.__name__})
            return None
        if stored is None:
            return None
        window = Candles.of(stored)
        self._remember(key, window)
        return window

    def _store(self, symbol: str, timeframe: str, through_ms: int, window: Candles) -> None:
        key = self._key(symbol, timeframe, through_ms)
        self._remember(key, window)
        ttl = max(_MIN_TTL, min(_MAX_TTL, 2 * TIMEFRAME_MS[timeframe] // 1000))
        fields = Candles.__dataclass_fields__
        try:
            cache.set(key, {name: getattr(window, name) for name in fields}, timeout=ttl)
        except Exception as exc:
            # Deliberately broad, as in _cached: the next tick fetches what it cannot read.
            logger.warning("bots.candle_cache_failed", extra={"error": exc.__class__.__name__})

    @staticmethod
    def _remember(key: str, window: Candles) -> None:
        with _memo_lock:
            _memo[key] = window
            _memo.move_to_end(key)
            while len(_memo) > _MEMO_SIZE:
                _memo.popitem(last=False)

    # --- the venue

    def _fetch(self, symbol: str, timeframe: str, start_ms: int, end_ms: int) -> Candles:
        """Candles opening in [start_ms, end_ms] from the venue, a page at a time."""
        span = TIMEFRAME_MS[timeframe]
        rows: list[list] = []
        cursor = start_ms
        while cursor <= end_ms:
            batch = self.gateway.fetch_ohlcv(symbol, timeframe, since=cursor, limit=OHLCV_PAGE)
            got = [row for row in batch or [] if cursor <= int(row[0]) <= end_ms]
            if not got:
                break  # nothing more in the range (yet)
            rows.extend(got)
            cursor = int(got[-1][0]) + span
        return candles_from_rows(rows)


def clear_memo() -> None:
    """Forget the windows kept in this process (tests that change what a venue serves)."""
    with _memo_lock:
        _memo.clear()
