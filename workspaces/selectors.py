"""Read-side queries of workspaces and memberships."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import User
from workspaces.models import Membership, Workspace


def workspaces_of(*, user: User) -> QuerySet[Workspace]:
    """The workspaces `user` is a member of, by name."""
    return Workspace.objects.filter(memberships__user=user).order_by("name", "id")


def membership(*, user: User, workspace_id) -> Membership | None:
    """`user`'s membership in the workspace with `workspace_id`, or None."""
    # One row at most (unique per user and workspace): no ORDER BY for `first()` to build and
    # send, on every scoped request.
    found = (
        Membership.objects.select_related("workspace")
        .filter(user=user, workspace_id=workspace_id)
        .order_by()[:1]
    )
    return next(iter(found), None)


def memberships_of(*, user: User) -> QuerySet[Membership]:
    return (
        Membership.objects.select_related("workspace")
        .filter(user=user)
        .order_by("workspace__name", "workspace_id")
    )


def members(*, workspace: Workspace) -> QuerySet[Membership]:
    return Membership.objects.select_related("user").filter(workspace=workspace)
