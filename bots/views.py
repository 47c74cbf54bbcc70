"""Web pages of bots: the list (with the new-bot form and stop-all), and one bot's page.

The pages render the workspace's choices (strategy versions, connections) and their translated
texts; their scripts (static/js/bots/) do the rest through the REST API and the live streams
(/ws/v1/bots, /ws/v1/runs/<id>), as the current workspace.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404, render
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from bots import selectors
from bots.api.serializers import MAX_ORDERS_PER_MINUTE, MAX_SLIPPAGE_BPS
from bots.models import Bot, BotRun, RunEvent
from bots.replay_ui import replay_context
from exchanges import selectors as exchange_selectors
from strategies import selectors as strategy_selectors
from workspaces.pages import workspace_page
from workspaces.ui import page_context


def _state_labels() -> dict[str, str]:
    return {
        BotRun.State.QUEUED: pgettext("run state", "Queued"),
        BotRun.State.STARTING: pgettext("run state", "Starting"),
        BotRun.State.RUNNING: pgettext("run state", "Running"),
        BotRun.State.STOPPING: pgettext("run state", "Stopping"),
        BotRun.State.STOPPED: pgettext("run state", "Stopped"),
        BotRun.State.FAILED: pgettext("run state", "Failed"),
        BotRun.State.TIMED_OUT: pgettext("run state", "Timed out"),
    }


def _kind_labels() -> dict[str, str]:
    return {
        RunEvent.Kind.TRANSITION: pgettext("run event", "State"),
        RunEvent.Kind.SIGNAL: pgettext("run event", "Signal"),
        RunEvent.Kind.ORDER: pgettext("run event", "Order"),
        RunEvent.Kind.FILL: pgettext("run event", "Fill"),
        RunEvent.Kind.EXIT: pgettext("run event", "Exit"),
        RunEvent.Kind.SKIP: pgettext("run event", "Skipped"),
        RunEvent.Kind.GUARD: pgettext("run event", "Guard"),
    }


def _texts() -> dict:
    """Strings the pages' scripts show, translated into the request's language."""
    return {
        "loading": _("Loading"),
        "error": _("Could not load the data."),
        "states": _state_labels(),
        "kinds": _kind_labels(),
        "idle": _("Never started"),
        "noBots": _("No bots yet. Create one from a strategy version."),
        "noEvents": _("No events yet."),
        "noRuns": _("The bot has not run yet."),
        "noChart": _("No candles from the exchange right now."),
        "noEquity": _("The equity curve starts with the run's first candle."),
        "open": _("Open"),
        "view": _("View"),
        "viewing": _("shown"),
        "live": _("Live"),
        "connecting": _("Connecting"),
        "reconnecting": _("Reconnecting"),
        "offline": _("Live updates are off; reload the page."),
        "stopAllNone": _("No bot is running."),
        "stopAllCount": _("Runs to stop:"),
        "stopAllDone": _("Stopped:"),
        "stopAllFailed": _("Not stopped:"),
        "buy": _("Buy"),
        "sell": _("Sell"),
        "bought": _("Bought"),
        "sold": _("Sold"),
        "orderTypes": {"market": _("market"), "limit": _("limit")},
        "entrySignal": _("Entry signal"),
        "exitSignal": _("Exit signal"),
        "entry": _("entry"),
        "exit": _("exit"),
        "at": _("at"),
        "equity": _("Equity"),
        "modeFor": {"demo": _("demo"), "paper": _("paper")},
        "reasons": {
            "signal": _("signal"),
            "stop_loss": _("stop loss"),
            "take_profit": _("take profit"),
            "trailing_stop": _("trailing stop"),
            "kill_cap": _("daily loss cap"),
            "close_on_stop": _("closed on stop"),
            "hold": _("trading is on HOLD"),
            "cannot_buy_step": _("too little cash for one amount step"),
            "missed_candles": _("candles missed"),
        },
    }


def _bot_choices(workspace) -> dict:
    return {
        "versions": list(strategy_selectors.workspace_versions(workspace=workspace)),
        "connections": list(exchange_selectors.connections(workspace=workspace)),
        "max_orders_per_minute": MAX_ORDERS_PER_MINUTE,
        "max_slippage_bps": MAX_SLIPPAGE_BPS,
        "order_types": Bot.OrderType.choices,
    }


@workspace_page
def bots_page(request, *, workspace):
    context = page_context(request, texts=_texts())
    context.update(_bot_choices(workspace))
    return render(request, "bots/list.html", context)


@workspace_page
def bot_page(request, bot_id, *, workspace):
    bot = get_object_or_404(selectors.bots(workspace=workspace), pk=bot_id)
    context = page_context(request, texts=_texts())
    context["bot"] = bot
    context.update(replay_context(workspace=workspace, bot=bot))  # the replay block
    return render(request, "bots/bot.html", context)
