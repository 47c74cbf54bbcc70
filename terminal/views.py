"""The terminal page: pickers, live ticker, chart, order form, orders, positions, balances.

The page renders the workspace's connections and its translated texts; its script
(static/js/terminal.js) does the rest through the REST API, as the current workspace.
"""

from __future__ import annotations

from django.shortcuts import render
from django.utils.translation import gettext as _

from exchanges import selectors as exchange_selectors
from exchanges.timeframes import TIMEFRAMES
from workspaces.models import Role
from workspaces.pages import workspace_page


def _texts() -> dict[str, str]:
    """Strings the page's script shows, translated into the request's language."""
    return {
        "loading": _("Loading"),
        "error": _("Could not load the data."),
        "tickerError": _("No prices from the exchange right now."),
        "noInstruments": _("The exchange lists no instruments."),
        "noOpenOrders": _("No open orders."),
        "noOrders": _("No orders yet. Place one with the form."),
        "noPositions": _("No open positions."),
        "noBalances": _("The account is empty."),
        "noCandles": _("No candles for this symbol and timeframe."),
        "cancel": _("Cancel"),
        "canceling": _("Canceling"),
        "placing": _("Placing the order"),
        "placed": _("Order placed"),
        "buy": _("Buy"),
        "sell": _("Sell"),
        "market": _("market"),
        "limit": _("limit"),
        "open": _("open"),
        "closed": _("filled"),
        "canceled": _("canceled"),
        "expired": _("expired"),
        "rejected": _("rejected"),
        "page": _("Page"),
        "estimate": _("Estimated value"),
        "updated": _("Updated"),
    }


@workspace_page
def terminal_page(request, *, workspace):
    membership = request.membership
    context = {
        "membership": membership,
        "connections": list(exchange_selectors.connections(workspace=workspace)),
        "can_trade": membership.allows(Role.TRADER),
        "timeframes": TIMEFRAMES,
        "texts": _texts(),
    }
    return render(request, "terminal/terminal.html", context)
