"""The one serializer field for an id, in a request body or query, of a workspace-owned object."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured
from django.db.models import Model, QuerySet
from rest_framework import serializers

from workspaces.exceptions import WorkspaceObjectNotFound


def _pointer(field: serializers.Field) -> str:
    """The field's RFC 6901 pointer in the request, from the outermost serializer down."""
    names = []
    node = field
    while node is not None:
        if node.field_name:
            names.append(str(node.field_name).replace("~", "~0").replace("/", "~1"))
        node = node.parent
    return "/" + "/".join(reversed(names))


class WorkspaceRelatedField(serializers.PrimaryKeyRelatedField):
    """The id (a UUID) of an object of the request's workspace; validates to the object.

    The lookup is `queryset` filtered by `request.workspace` on `workspace_field`, the same rule
    as `WorkspaceScopedMixin.get_queryset`. An id that names no object there, another
    workspace's or nobody's, is answered 404 `not-found` with the field's pointer and the same
    words either way (docs/api.md, "Ids of other workspaces"). The serializer needs the request
    in its context (`context={"request": request}`).
    """

    def __init__(self, *, queryset: QuerySet, workspace_field: str = "workspace", **kwargs):
        self.workspace_field = workspace_field
        kwargs.setdefault("pk_field", serializers.UUIDField())
        super().__init__(queryset=queryset, **kwargs)

    @property
    def model(self) -> type[Model]:
        return self.queryset.model

    def get_queryset(self) -> QuerySet:
        request = self.context.get("request")
        workspace = getattr(request, "workspace", None)
        if workspace is None:
            # Without a workspace there is nothing the id could be looked up in; failing loudly
            # beats silently accepting or refusing every id.
            raise ImproperlyConfigured(
                f"{type(self.root).__name__}.{self.field_name} needs a workspace-scoped request "
                "in the serializer context."
            )
        return self.queryset.filter(**{self.workspace_field: workspace})

    def to_internal_value(self, data):
        pk = self.pk_field.to_internal_value(data)  # not a UUID: 400 with the pointer
        # A primary key names one row at most: no ORDER BY for `first()` to build and send.
        found = next(iter(self.get_queryset().filter(pk=pk).order_by()[:1]), None)
        if found is None:
            name = self.model._meta.verbose_name
            detail = f"This workspace has no {name} {pk}."
            raise WorkspaceObjectNotFound(
                detail=detail, errors=[{"pointer": _pointer(self), "detail": detail}]
            )
        return found
