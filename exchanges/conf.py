"""Exchange settings: a Django setting of that name wins, else the environment, else the default.

EXCHANGE_TIMEOUT_MS             timeout of one ccxt HTTP request, in ms (default 10000)
EXCHANGE_MARKETS_CACHE_SECONDS  how long a ccxt exchange's markets stay cached (default 3600)
"""

from __future__ import annotations

import os

from django.conf import settings

_DEFAULTS = {
    "EXCHANGE_TIMEOUT_MS": 10_000,
    # Markets (symbols, precision, limits) change a few times a month; an hour keeps a ticker
    # request from reloading thousands of them and still picks up a new listing the same day.
    "EXCHANGE_MARKETS_CACHE_SECONDS": 3600,
}


def setting(name: str) -> int:
    """The integer setting `name` (one of the module docstring's)."""
    value = getattr(settings, name, None)
    if value is None:
        value = os.environ.get(name) or _DEFAULTS[name]
    return int(value)
