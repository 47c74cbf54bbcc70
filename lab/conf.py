"""Lab limits: a Django setting of the same name wins, else the environment, else the default.

LAB_MAX_DATASET_ROWS   most candles in one dataset (default 2,000,000: two years of 1m)
LAB_MAX_UPLOAD_BYTES   largest CSV upload in bytes (default 200 MB, ~3M lines)
LAB_IMPORT_PAGE_LIMIT  candles asked per fetch_ohlcv call of an import (default 1000)
"""

from __future__ import annotations

import os

from django.conf import settings

_DEFAULTS = {
    "LAB_MAX_DATASET_ROWS": 2_000_000,
    "LAB_MAX_UPLOAD_BYTES": 200 * 1024 * 1024,
    "LAB_IMPORT_PAGE_LIMIT": 1000,
    "LAB_STALE_RUNNING_SECONDS": 900,
}


def limit(name: str) -> int:
    """The integer limit `name` (one of the module docstring's)."""
    value = getattr(settings, name, None)
    if value is None:
        value = os.environ.get(name) or _DEFAULTS[name]
    return int(value)
