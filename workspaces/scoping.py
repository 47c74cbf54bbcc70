"""The `X-Workspace-Id` scoping that every workspace-owned endpoint inherits.

One place decides, in this order: authenticated (401) → header present and a UUID (400) →
caller is a member (403) → caller's role allows the action (403). Querysets are then *filtered*
by the workspace, so another workspace's object ids look absent (404) instead of forbidden.

The filter is applied in exactly one method, `WorkspaceScopedMixin.get_queryset`, which
subclasses cannot override (TypeError when the class is defined): a view supplies `queryset`
and, when it needs a selector or list filters, the `scoped_queryset(workspace)` hook, whose
result the mixin filters by the workspace again. Ids in bodies and query parameters go through
`workspaces.fields.WorkspaceRelatedField`, which applies the same filter.
"""

from __future__ import annotations

import uuid

from django.db.models import QuerySet
from rest_framework import permissions
from rest_framework.generics import GenericAPIView
from rest_framework.viewsets import GenericViewSet

from config import context
from workspaces import selectors
from workspaces.exceptions import (
    NotAWorkspaceMember,
    RoleRequired,
    WorkspaceHeaderInvalid,
    WorkspaceHeaderMissing,
)
from workspaces.models import Role, Workspace

WORKSPACE_HEADER = "HTTP_X_WORKSPACE_ID"


def resolve_membership(request):
    """Return the caller's membership of the workspace named by `X-Workspace-Id`, or raise."""
    raw = request.META.get(WORKSPACE_HEADER, "").strip()
    if not raw:
        raise WorkspaceHeaderMissing(detail="Send the workspace id in the X-Workspace-Id header.")
    try:
        workspace_id = uuid.UUID(raw)
    except ValueError:
        raise WorkspaceHeaderInvalid(detail=f"{raw[:64]!r} is not a UUID.") from None
    membership = selectors.membership(user=request.user, workspace_id=workspace_id)
    if membership is None:
        # Same answer whether the workspace exists or not: membership is what is checked.
        raise NotAWorkspaceMember(detail="You are not a member of the workspace in X-Workspace-Id.")
    return membership


class WorkspaceScopedMixin:
    """Resolves `request.workspace` and `request.membership` and enforces the role per action.

    Reads need `read_role`, writes `write_role`; `action_roles` overrides either per action (or
    per HTTP method for plain API views), e.g. `{"destroy": Role.ADMIN}`. A collection view sets
    `queryset` (its model is what the scoping test creates foreign objects of) and may
    override `scoped_queryset`; `initial` and `get_queryset` are final.
    """

    workspace_scoped = True  # read by the OpenAPI generator and the URL-conf scoping test
    read_role: str = Role.VIEWER
    write_role: str = Role.TRADER
    action_roles: dict[str, str] = {}
    workspace_field = "workspace"

    # Overriding these would skip the membership check or the workspace filter.
    _FINAL_METHODS = ("initial", "get_queryset")

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name in WorkspaceScopedMixin._FINAL_METHODS:
            if getattr(cls, name) is not getattr(WorkspaceScopedMixin, name):
                raise TypeError(
                    f"{cls.__module__}.{cls.__qualname__} overrides {name}(), which would let "
                    "it skip workspace scoping. Set `queryset`, override "
                    "`scoped_queryset(workspace)` or `required_role(request)` instead."
                )

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)  # authentication and IsAuthenticated first
        membership = resolve_membership(request)
        request.membership = membership
        request.workspace = membership.workspace
        context.bind(workspace_id=membership.workspace_id)
        needed = self.required_role(request)
        if not membership.allows(needed):
            raise RoleRequired(
                detail=f"This needs the {needed} role or higher; you are {membership.role}."
            )

    def required_role(self, request) -> str:
        action = getattr(self, "action", None) or request.method.lower()
        if action in self.action_roles:
            return self.action_roles[action]
        if request.method in permissions.SAFE_METHODS:
            return self.read_role
        return self.write_role

    def scoped_queryset(self, workspace: Workspace) -> QuerySet:
        """The objects this view serves before the workspace filter: `queryset` by default.

        Override to read through a selector or to apply list filters; whatever it returns is
        still filtered by `workspace_field`, so it can narrow the result, never widen it.
        """
        return super().get_queryset()

    def get_queryset(self) -> QuerySet:
        if getattr(self, "swagger_fake_view", False):  # schema generation has no request
            return self.queryset.none()
        workspace = self.request.workspace
        return self.scoped_queryset(workspace).filter(**{self.workspace_field: workspace})


class WorkspaceScopedViewSet(WorkspaceScopedMixin, GenericViewSet):
    """Base of every workspace-owned viewset."""


class WorkspaceScopedAPIView(WorkspaceScopedMixin, GenericAPIView):
    """Base of workspace-owned endpoints that are not a model collection (e.g. market data)."""
