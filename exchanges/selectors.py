"""Read-side queries of connections."""

from __future__ import annotations

from django.db.models import QuerySet

from exchanges.models import ExchangeConnection
from workspaces.models import Workspace


def connections(*, workspace: Workspace) -> QuerySet[ExchangeConnection]:
    """The workspace's connections by name."""
    return ExchangeConnection.objects.filter(workspace=workspace).order_by("name", "id")
