"""Exchange connections: list, create, read, change, delete and test (SPEC §5).

Everybody in the workspace reads; admins and owners create, change and delete; traders and up
may run a test (it stores the outcome, but changes nothing else).
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from config.problems import ProblemSerializer
from exchanges import services
from exchanges.api.serializers import (
    ConnectionCreateSerializer,
    ConnectionSerializer,
    ConnectionTestSerializer,
    ConnectionUpdateSerializer,
)
from exchanges.models import ExchangeConnection
from workspaces.models import Role
from workspaces.scoping import WorkspaceScopedViewSet

_VENUE_PROBLEMS = {422: ProblemSerializer}  # live-trading-not-approved, exchange-not-supported


@extend_schema_view(
    list=extend_schema(summary="The workspace's exchange connections"),
    retrieve=extend_schema(summary="One exchange connection"),
)
@extend_schema(tags=["exchanges"])
class ExchangeConnectionViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, WorkspaceScopedViewSet
):
    queryset = ExchangeConnection.objects.order_by("name", "id")  # filtered by the base class
    serializer_class = ConnectionSerializer
    lookup_value_converter = "uuid"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    write_role = Role.ADMIN
    action_roles = {"test": Role.TRADER}

    @extend_schema(
        summary="Create a connection",
        request=ConnectionCreateSerializer,
        responses={201: ConnectionSerializer, **_VENUE_PROBLEMS},
    )
    def create(self, request):
        payload = ConnectionCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        connection = services.create_connection(
            workspace=request.workspace, actor=request.user, **payload.validated_data
        )
        return Response(ConnectionSerializer(connection).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Rename, switch mode or replace credentials",
        request=ConnectionUpdateSerializer,
        responses={200: ConnectionSerializer, **_VENUE_PROBLEMS},
    )
    def partial_update(self, request, pk=None):
        connection = self.get_object()
        payload = ConnectionUpdateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        connection = services.update_connection(
            connection=connection, actor=request.user, **payload.validated_data
        )
        return Response(ConnectionSerializer(connection).data)

    @extend_schema(summary="Delete a connection", responses={204: None, 409: ProblemSerializer})
    def destroy(self, request, pk=None):
        services.delete_connection(connection=self.get_object(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Test a connection",
        description=(
            "Reaches the exchange with the stored credentials (markets, then the balance) and "
            "stores the outcome on the connection (`status`, `last_checked_at`, `last_error`). "
            "A failure is stored, then answered with its problem: `exchange-auth-failed` (400), "
            "`exchange-unreachable` (503), `exchange-rate-limited` (429 with Retry-After when "
            "the exchange gave one), `exchange-not-supported` or `live-trading-not-approved` "
            "(422), `exchange-error` (502), `connection-secrets-unavailable` (503)."
        ),
        request=None,
        responses={
            200: ConnectionTestSerializer,
            422: ProblemSerializer,
            502: ProblemSerializer,
            503: ProblemSerializer,
        },
    )
    @action(detail=True, methods=["post"], url_path="test")
    def test(self, request, pk=None):
        result = services.test_connection(connection=self.get_object(), actor=request.user)
        return Response(ConnectionTestSerializer(result).data)
