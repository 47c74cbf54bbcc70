"""The connections page: the list with status badges, the create form, test and delete buttons.

The page renders the choices and the translated texts; its script talks to the REST API
(/api/v1/exchange-connections) with the session, so the API's roles and validation apply.
"""

from __future__ import annotations

import ccxt
from django.shortcuts import render
from django.utils.translation import gettext as _

from exchanges.gateway import DEMO_EXCHANGE
from workspaces.models import Role
from workspaces.pages import workspace_page


def _texts() -> dict[str, str]:
    """Strings the page's script shows, translated into the request's language."""
    return {
        "loading": _("Loading"),
        "loadError": _("Could not load the connections."),
        "empty": _("No connections yet."),
        "emptyAdmin": _("No connections yet. Create one with the form."),
        "test": _("Test"),
        "testing": _("Testing…"),
        "delete": _("Delete"),
        "confirmDelete": _(
            "Delete the connection “%(name)s”? Its demo balances and orders go too."
        ),
        "ok": _("OK"),
        "failed": _("failed"),
        "untested": _("untested"),
        "statusOk": _("ok"),
        "ms": _("ms"),
        "created": _("Connection created. Test it to check the credentials."),
        "never": _("never"),
        "credentialsStored": _("stored"),
        "noCredentials": _("none"),
        "mode_demo": _("demo"),
        "mode_testnet": _("testnet"),
        "mode_live": _("live"),
    }


@workspace_page
def connections_page(request, *, workspace):
    membership = request.membership
    return render(
        request,
        "exchanges/connections.html",
        {
            "membership": membership,
            "can_manage": membership.allows(Role.ADMIN),
            "can_test": membership.allows(Role.TRADER),
            "exchanges": [DEMO_EXCHANGE, *ccxt.exchanges],
            "texts": _texts(),
        },
    )
