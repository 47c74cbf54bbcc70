"""Template context every page gets: the configuration its scripts read from `#bm-config`."""

from __future__ import annotations

from django.utils.translation import gettext as _

from exchanges.timeframes import TIMEFRAME_MS

_TIMEFRAMES = dict(TIMEFRAME_MS)


def ui_config(request) -> dict:
    """`bm_config` for base.html: the candle timeframes with their length in milliseconds, and
    the texts app.js shows itself, in the request's language."""
    return {"bm_config": {"timeframes": _TIMEFRAMES, "texts": {"networkError": _("Network error")}}}
