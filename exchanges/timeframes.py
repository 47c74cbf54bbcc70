"""Candle timeframes: the one list every part of the product offers, with each one's length.

ccxt's names; the demo feed, the terminal, the lab and the strategy engine accept exactly
these. Plain Python (no Django), so the strategy engine can import it anywhere.
"""

from __future__ import annotations

MINUTE_MS = 60_000

# In ascending order of length; the order is the order pickers show them in.
TIMEFRAME_MS: dict[str, int] = {
    "1m": MINUTE_MS,
    "5m": 5 * MINUTE_MS,
    "15m": 15 * MINUTE_MS,
    "1h": 60 * MINUTE_MS,
    "4h": 240 * MINUTE_MS,
    "1d": 1440 * MINUTE_MS,
}
TIMEFRAMES: tuple[str, ...] = tuple(TIMEFRAME_MS)
