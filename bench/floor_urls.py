"""The product's URLs plus the floor of bench/order_bench.py (bench/settings.py selects it).

The floor is the least an authenticated write of the API can cost: the product's middleware,
DRF with the same parsers, token authentication and `X-Workspace-Id` scoping (membership and
the trader role, like placing an order), then one row of a product model (an AuditEvent)
inserted in one transaction, and a small JSON answer. An order costs that plus its own work.
"""

from __future__ import annotations

from django.db import transaction
from django.urls import path
from rest_framework import status
from rest_framework.response import Response

from config import context
from config.urls import urlpatterns as product_urlpatterns
from workspaces.models import AuditEvent, Role
from workspaces.scoping import WorkspaceScopedAPIView

FLOOR_ACTION = "bench.floor"


class FloorView(WorkspaceScopedAPIView):
    """POST: one audit row of the request's workspace, in one transaction; 201 with its id."""

    write_role = Role.TRADER  # as for placing an order
    queryset = AuditEvent.objects.all()

    def post(self, request):
        note = str(request.data.get("note", ""))[:64]  # the body is parsed, as an order's is
        with transaction.atomic():
            event = AuditEvent.objects.create(
                workspace=request.workspace,
                actor=request.user,
                action=FLOOR_ACTION,
                request_id=context.current_request_id(),
                details={"note": note},
            )
        return Response({"id": str(event.pk)}, status=status.HTTP_201_CREATED)


urlpatterns = [
    path("api/v1/bench/floor", FloorView.as_view(), name="bench-floor"),
    *product_urlpatterns,
]
