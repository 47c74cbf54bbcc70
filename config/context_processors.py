"""Template context every page gets: the configuration its scripts read from `#bm-config`."""

from __future__ import annotations

from exchanges.timeframes import TIMEFRAME_MS

# Built once: it is the same for every request and every user.
_UI_CONFIG = {"timeframes": dict(TIMEFRAME_MS)}


def ui_config(request) -> dict:
    """`bm_config` for base.html: the candle timeframes and their length in milliseconds."""
    return {"bm_config": _UI_CONFIG}
