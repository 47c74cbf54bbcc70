"""The web UI's notion of "the current workspace": kept in the session, always re-checked."""

from __future__ import annotations

import uuid

from workspaces import selectors
from workspaces.models import Membership, Role

SESSION_KEY = "workspace_id"


def current_membership(request) -> tuple[Membership | None, list[Membership]]:
    """The membership the UI acts in (session choice, else the first) and all memberships.

    Cached on the request: the header and the page both ask.
    """
    cached = getattr(request, "_ui_memberships", None)
    if cached is not None:
        return cached
    memberships = list(selectors.memberships_of(user=request.user))
    chosen = request.session.get(SESSION_KEY)
    current = next((m for m in memberships if str(m.workspace_id) == chosen), None)
    if current is None and memberships:
        current = memberships[0]
    request._ui_memberships = (current, memberships)
    return current, memberships


def switch_workspace(request, workspace_id: str) -> bool:
    """Make `workspace_id` the UI's workspace if the user is a member; return whether it was."""
    try:
        workspace_id = uuid.UUID(str(workspace_id))
    except ValueError:
        return False
    if selectors.membership(user=request.user, workspace_id=workspace_id) is None:
        return False
    request.session[SESSION_KEY] = str(workspace_id)
    request.__dict__.pop("_ui_memberships", None)
    return True


def page_context(request, *, texts: dict[str, str]) -> dict:
    """What a workspace page's template needs: the membership, whether it may write (trader and
    up), and the page's translated texts for its script. For views under `workspace_page`."""
    membership = request.membership
    return {
        "membership": membership,
        "can_write": membership.allows(Role.TRADER),
        "texts": texts,
    }
