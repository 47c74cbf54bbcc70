"""Workspaces and members (named in the path), and the workspace's audit trail (header-scoped)."""

from __future__ import annotations

from datetime import UTC

from django.shortcuts import get_object_or_404
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.models import User
from config.problems import ProblemSerializer, ValidationProblem
from workspaces import selectors, services
from workspaces.api.serializers import (
    AuditEventSerializer,
    MemberCreateSerializer,
    MemberSerializer,
    MemberUpdateSerializer,
    WorkspaceSerializer,
    WorkspaceWriteSerializer,
)
from workspaces.models import AuditEvent, Role, Workspace
from workspaces.scoping import WorkspaceScopedViewSet


@extend_schema(tags=["workspaces"])
class WorkspaceViewSet(viewsets.GenericViewSet):
    """The caller's workspaces. A workspace the caller is not a member of does not exist (404)."""

    serializer_class = WorkspaceSerializer
    lookup_value_converter = "uuid"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Workspace.objects.none()
        return selectors.workspaces_of(user=self.request.user)

    def _roles(self) -> dict:
        return {m.workspace_id: m.role for m in selectors.memberships_of(user=self.request.user)}

    def _render(self, workspace, status_code=status.HTTP_200_OK) -> Response:
        data = WorkspaceSerializer(workspace, context={"roles": self._roles()}).data
        return Response(data, status=status_code)

    def list(self, request):
        page = self.paginate_queryset(self.get_queryset())
        data = WorkspaceSerializer(page, many=True, context={"roles": self._roles()}).data
        return self.get_paginated_response(data)

    @extend_schema(request=WorkspaceWriteSerializer, responses={201: WorkspaceSerializer})
    def create(self, request):
        payload = WorkspaceWriteSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        workspace = services.create_workspace(
            name=payload.validated_data["name"], owner=request.user
        )
        return self._render(workspace, status.HTTP_201_CREATED)

    def retrieve(self, request, pk=None):
        return self._render(self.get_object())

    @extend_schema(
        request=WorkspaceWriteSerializer,
        responses={200: WorkspaceSerializer, 400: ProblemSerializer, 403: ProblemSerializer},
    )
    def partial_update(self, request, pk=None):
        workspace = self.get_object()
        payload = WorkspaceWriteSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        workspace = services.rename_workspace(
            workspace=workspace, actor=request.user, name=payload.validated_data["name"]
        )
        return self._render(workspace)

    @extend_schema(responses={204: None, 403: ProblemSerializer})
    def destroy(self, request, pk=None):
        services.delete_workspace(workspace=self.get_object(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(methods=["GET"], responses={200: MemberSerializer(many=True)})
    @extend_schema(
        methods=["POST"],
        request=MemberCreateSerializer,
        responses={
            201: MemberSerializer,
            400: ProblemSerializer,
            403: ProblemSerializer,
            409: ProblemSerializer,
        },
    )
    # Every member at once (a workspace has a handful): an array, not a page.
    @action(detail=True, methods=["get", "post"], url_path="members", pagination_class=None)
    def members(self, request, pk=None):
        workspace = self.get_object()
        if request.method == "GET":
            return Response(
                MemberSerializer(selectors.members(workspace=workspace), many=True).data
            )
        payload = MemberCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        user = User.objects.filter(username__iexact=payload.validated_data["username"]).first()
        if user is None:
            raise ValidationProblem.at("/username", "No user with this username.")
        created = services.add_member(
            workspace=workspace,
            actor=request.user,
            user=user,
            role=payload.validated_data["role"],
        )
        return Response(MemberSerializer(created).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        methods=["PATCH"],
        request=MemberUpdateSerializer,
        responses={
            200: MemberSerializer,
            400: ProblemSerializer,
            403: ProblemSerializer,
            404: ProblemSerializer,
            409: ProblemSerializer,
        },
        parameters=[OpenApiParameter("user_id", OpenApiTypes.UUID, OpenApiParameter.PATH)],
    )
    @extend_schema(
        methods=["DELETE"],
        responses={
            204: None,
            403: ProblemSerializer,
            404: ProblemSerializer,
            409: ProblemSerializer,
        },
        parameters=[OpenApiParameter("user_id", OpenApiTypes.UUID, OpenApiParameter.PATH)],
    )
    @action(
        detail=True,
        methods=["patch", "delete"],
        url_path=r"members/(?P<user_id>[0-9a-fA-F-]{36})",
    )
    def member(self, request, pk=None, user_id=None):
        workspace = self.get_object()
        target = get_object_or_404(
            selectors.members(workspace=workspace).select_related("workspace"), user_id=user_id
        )
        if request.method == "DELETE":
            services.remove_member(membership=target, actor=request.user)
            return Response(status=status.HTTP_204_NO_CONTENT)
        # The body is parsed before anything reads it: `[]` or `"owner"` is a 400, not a 500.
        payload = MemberUpdateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        updated = services.change_member_role(
            membership=target, actor=request.user, role=payload.validated_data["role"]
        )
        return Response(MemberSerializer(updated).data)


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter("action", str, description="Only events with this action."),
            OpenApiParameter("since", OpenApiTypes.DATETIME, description="Events at/after."),
            OpenApiParameter("until", OpenApiTypes.DATETIME, description="Events before."),
        ]
    )
)
@extend_schema(tags=["audit"])
class AuditEventViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, WorkspaceScopedViewSet):
    """The workspace's audit trail, newest first; admins and owners only."""

    queryset = AuditEvent.objects.select_related("actor")
    serializer_class = AuditEventSerializer
    read_role = Role.ADMIN
    lookup_value_converter = "uuid"

    def filter_queryset(self, queryset):
        params = self.request.query_params
        if params.get("action"):
            queryset = queryset.filter(action=params["action"])
        for name, lookup in (("since", "created_at__gte"), ("until", "created_at__lt")):
            if params.get(name):
                try:
                    moment = parse_datetime(params[name])  # ValueError: e.g. February 30
                    # In UTC: PostgreSQL refuses UTC offsets beyond ±15:59, which ISO 8601 has.
                    if moment is not None and moment.tzinfo is not None:
                        moment = moment.astimezone(UTC)  # OverflowError: before year 1
                except (ValueError, OverflowError):
                    moment = None
                if moment is None:
                    raise ValidationProblem.at(f"/{name}", "Not an ISO 8601 date-time.")
                queryset = queryset.filter(**{lookup: moment})
        return queryset
