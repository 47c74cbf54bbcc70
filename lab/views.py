"""Web pages of the lab: datasets and backtests, and the report of one backtest.

The pages render the workspace's choices (strategy versions, connections, symbols) and their
translated texts; the page's script (static/js/lab.js) does the rest through the REST API.
"""

from __future__ import annotations

from datetime import timedelta

from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.utils.translation import gettext as _

from exchanges.demo.instruments import INSTRUMENTS
from exchanges.timeframes import TIMEFRAMES
from lab import selectors
from workspaces.pages import workspace_page
from workspaces.ui import page_context


def _texts() -> dict[str, str]:
    """Strings the page's script shows, translated into the request's language."""
    return {
        "loading": _("Loading"),
        "error": _("Could not load the data."),
        "noDatasets": _(
            "No datasets yet. Create one from the demo feed, a CSV file or an exchange."
        ),
        "noBacktests": _("No backtests yet. Pick a strategy version and a dataset and run one."),
        "noTrades": _("The backtest made no trades."),
        "noReadyDatasets": _("No ready dataset"),
        "delete": _("Delete"),
        "preview": _("Preview"),
        "report": _("Report"),
        "confirmDelete": _("Delete this dataset?"),
        "queued": _("queued"),
        "running": _("running"),
        "succeeded": _("succeeded"),
        "failed": _("failed"),
        "ready": _("ready"),
        "importing": _("importing"),
        "page": _("Page"),
        "src_demo": _("demo feed"),
        "src_csv": _("CSV"),
        "src_exchange": _("exchange"),
        "exitSignal": _("signal"),
        "exitTakeProfit": _("take profit"),
        "exitStopLoss": _("stop loss"),
        "exitTrailingStop": _("trailing stop"),
        "openPosition": _("Open at the end (marked at the last close, not a trade)"),
    }


@workspace_page
def lab_page(request, *, workspace):
    context = page_context(request, texts=_texts())
    today = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    context.update(
        {
            "versions": selectors.strategy_versions(workspace=workspace),
            "connections": selectors.connections(workspace=workspace),
            "symbols": list(INSTRUMENTS),
            "timeframes": list(TIMEFRAMES),
            # Range inputs are UTC; the default is the last seven whole days.
            "default_start": (today - timedelta(days=7)).strftime("%Y-%m-%dT%H:%M"),
            "default_end": today.strftime("%Y-%m-%dT%H:%M"),
        }
    )
    return render(request, "lab/lab.html", context)


@workspace_page
def backtest_page(request, backtest_id, *, workspace):
    backtest = get_object_or_404(selectors.backtests(workspace=workspace), pk=backtest_id)
    context = page_context(request, texts=_texts())
    context["backtest"] = backtest
    return render(request, "lab/backtest.html", context)
