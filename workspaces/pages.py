"""Scoping of the web UI's pages: one decorator, the pages' counterpart of the API's
`WorkspaceScopedMixin`."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect

from config import context
from workspaces.models import Role
from workspaces.ui import current_membership


def workspace_page(view: Callable | None = None, *, role: str = Role.VIEWER):
    """Scope a page view to the UI's current workspace; use as `@workspace_page` or
    `@workspace_page(role=Role.TRADER)`.

    The user must be signed in (otherwise the login page, coming back afterwards). The
    workspace is the one picked in the header's switch, re-checked against the user's
    memberships on every request, or else the first; a user who belongs to no workspace is
    sent to the home page, which says so. A role below `role` is 403. The view is called with
    `workspace=` and finds the membership on `request.membership`, as API views do; objects are
    looked up through the workspace (another workspace's id is 404, like an unknown one).
    """

    def decorate(func: Callable) -> Callable:
        @wraps(func)
        def scoped(request, *args, **kwargs):
            membership, _memberships = current_membership(request)
            if membership is None:
                return redirect("ui-home")
            if not membership.allows(role):
                raise PermissionDenied(f"This page needs the {role} role or higher.")
            request.membership = membership
            request.workspace = membership.workspace
            context.bind(workspace_id=membership.workspace_id)
            return func(request, *args, workspace=membership.workspace, **kwargs)

        page = login_required(scoped)
        page.workspace_page_role = role  # read by tests/workspaces/test_pages.py
        return page

    return decorate(view) if view is not None else decorate
