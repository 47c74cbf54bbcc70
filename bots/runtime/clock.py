"""The runtime's clock: what time it is for a run, and which of its candles have closed.

A tick never reads the wall clock itself: it asks its runtime's clock, so a test or a replay
sets the time (candle by candle) and the same code decides.
"""

from __future__ import annotations

from typing import Protocol

from exchanges import epoch
from exchanges.timeframes import TIMEFRAME_MS


class Clock(Protocol):
    """The time of a runtime, in epoch milliseconds (UTC)."""

    def now_ms(self) -> int: ...


class WallClock:
    """The machine's clock: what live and paper runs tick by."""

    def now_ms(self) -> int:
        return epoch.now_ms()


class ManualClock:
    """A clock that moves only when told to: tests and replays drive it candle by candle."""

    def __init__(self, now_ms: int) -> None:
        self._now = int(now_ms)

    def now_ms(self) -> int:
        return self._now

    def set(self, now_ms: int) -> None:
        """Move the clock to `now_ms` (backwards too: the caller decides what time it is)."""
        self._now = int(now_ms)

    def advance(self, ms: int) -> None:
        """Move the clock `ms` milliseconds on."""
        self._now += int(ms)


def latest_closed_ts(now_ms: int, timeframe: str) -> int:
    """Open time of the newest `timeframe` candle that has closed at `now_ms`.

    A candle opening at t closes at t + span; the one containing `now_ms` is still forming.
    """
    span = TIMEFRAME_MS[timeframe]
    return now_ms // span * span - span
