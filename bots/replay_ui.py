"""What the bot page's replay block needs (templates/bots/_replay.html, static/js/bots/replay.js):
the datasets it can replay, the limits, and the texts its script shows, in the page's language.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from bots.models import Bot, BotReplay
from lab.models import Dataset
from workspaces.models import Workspace


def replay_datasets(*, workspace: Workspace, bot: Bot):
    """The workspace's ready datasets of the bot's symbol and timeframe, newest first.

    Whether one also lies on the grid without gaps is the API's to say (400 at /dataset).
    """
    body = bot.strategy_version.body if isinstance(bot.strategy_version.body, dict) else {}
    return Dataset.objects.filter(
        workspace=workspace,
        symbol=body.get("symbol"),
        timeframe=body.get("timeframe"),
        status=Dataset.Status.READY,
    ).order_by("-created_at", "-id")


def replay_texts() -> dict[str, Any]:
    """Strings the replay block's script shows."""
    return {
        "statuses": {
            BotReplay.Status.QUEUED: pgettext("replay status", "Queued"),
            BotReplay.Status.RUNNING: pgettext("replay status", "Running"),
            BotReplay.Status.SUCCEEDED: pgettext("replay status", "Done"),
            BotReplay.Status.FAILED: pgettext("replay status", "Failed"),
        },
        "progress": _("Ticking the candles"),
        "noReplays": _("No replay yet."),
        "noTrades": _("The replay made no trade."),
        "openPosition": _("Still open at the end"),
        "error": _("Could not load the data."),
        "page": _("page"),
        "of": _("of"),
        "reasons": {
            "signal": _("signal"),
            "stop_loss": _("stop loss"),
            "take_profit": _("take profit"),
            "trailing_stop": _("trailing stop"),
        },
    }


def replay_context(*, workspace: Workspace, bot: Bot) -> dict[str, Any]:
    """The bot page's context for its replay block."""
    return {
        "replay_datasets": list(replay_datasets(workspace=workspace, bot=bot)),
        "replay_max_candles": settings.BOT_REPLAY_MAX_CANDLES,
        "replay_texts": replay_texts(),
    }
