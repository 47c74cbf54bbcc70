"""Epoch milliseconds and datetimes, in integer arithmetic.

The gateway, the demo venue and the lab speak epoch milliseconds (ccxt's `timestamp`); the
database speaks timezone-aware UTC datetimes. Converting through float seconds
(`int(timestamp() * 1000)`) lands a millisecond short for some instants (1987-04-12
23:12:54.486 comes back as …485), so both directions here count whole milliseconds from the
epoch.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)


def now_ms() -> int:
    """The wall clock in epoch milliseconds."""
    return time.time_ns() // 1_000_000


def datetime_from_ms(ms: int) -> datetime:
    """The UTC datetime `ms` epoch milliseconds denote (a float is truncated to whole ms)."""
    return EPOCH + timedelta(milliseconds=int(ms))


def ms_from_datetime(moment: datetime) -> int:
    """Whole epoch milliseconds of an aware datetime (sub-millisecond parts are floored)."""
    return (moment - EPOCH) // _MILLISECOND
