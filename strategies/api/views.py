"""Strategies API: the DSL's schema, validation, strategies and their immutable versions.

Request shape: every request that carries a strategy body carries it as `body` in a JSON
object (`{name, description, body}` to create, `{body}` to validate or to add a version), so
the pointers of body errors always start with `/body`, e.g. `/body/indicators/0/period`.
"""

from __future__ import annotations

import hashlib
import json

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, permissions, status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from config.problems import ProblemSerializer
from strategies import selectors, services
from strategies.api.serializers import (
    BodyProblemSerializer,
    StrategyBodySerializer,
    StrategyCreateSerializer,
    StrategySerializer,
    StrategyUpdateSerializer,
    StrategyVersionSerializer,
    ValidationResultSerializer,
)
from strategies.dsl import DSL_VERSION, SCHEMA
from strategies.models import Strategy
from workspaces.models import Role
from workspaces.scoping import WorkspaceScopedViewSet

UUID_PATTERN = r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"

# The schema changes only with a release; its hash is a strong validator for conditional GETs.
SCHEMA_ETAG = '"{}"'.format(
    hashlib.sha256(json.dumps(SCHEMA, sort_keys=True).encode("utf-8")).hexdigest()[:32]
)
SCHEMA_MAX_AGE = 3600
ID_PARAMETER = OpenApiParameter(
    "id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The strategy's id."
)


class StrategySchemaView(APIView):
    """The DSL's JSON Schema: the same document for every workspace, so no workspace header."""

    @extend_schema(
        tags=["strategies"],
        summary="JSON Schema of strategy bodies",
        description=(
            "The JSON Schema (draft 2020-12) of the strategy DSL, `dsl_version` 1. Any signed-in "
            "user may read it and it does not need `X-Workspace-Id`: it is the same for every "
            "workspace. Cacheable: `Cache-Control: private, max-age=3600` and an `ETag` "
            "(`If-None-Match` → 304). Semantic rules beyond the schema are listed in "
            "docs/strategy-dsl.md."
        ),
        responses={
            200: OpenApiResponse(OpenApiTypes.OBJECT, description="The JSON Schema."),
            304: OpenApiResponse(description="Not modified (the ETag matched)."),
        },
    )
    def get(self, request):
        headers = {
            "ETag": SCHEMA_ETAG,
            "Cache-Control": f"private, max-age={SCHEMA_MAX_AGE}",
        }
        asked = {tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")}
        if SCHEMA_ETAG in asked or "*" in asked:
            return Response(status=status.HTTP_304_NOT_MODIFIED, headers=headers)
        return Response(SCHEMA, headers=headers)


@extend_schema(tags=["strategies"])
class StrategyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, WorkspaceScopedViewSet):
    """Strategies of the workspace, each shown with its latest version.

    Viewers read and validate; traders and up create, rename, delete and add versions.
    Versions are immutable: no method changes or deletes one (405).
    """

    queryset = Strategy.objects.all()
    serializer_class = StrategySerializer
    lookup_value_regex = UUID_PATTERN
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    # Validation stores nothing, so whoever may read strategies may validate a body.
    action_roles = {"validate": Role.VIEWER}

    def scoped_queryset(self, workspace):
        queryset = selectors.strategies(workspace=workspace)
        search = self.request.query_params.get("search", "").strip()
        if self.action == "list" and search:
            queryset = queryset.filter(name__icontains=search)
        return queryset

    def required_role(self, request) -> str:
        # A method that no action takes (PUT/PATCH/DELETE on a version) is refused with 405
        # for everyone who may read, instead of 403 for a viewer and 405 for a trader.
        if getattr(self, "action", None) is None and request.method not in permissions.SAFE_METHODS:
            return self.read_role
        return super().required_role(request)

    def _render(self, strategy: Strategy, status_code: int = status.HTTP_200_OK) -> Response:
        # Re-read through the queryset: the answer carries the annotated latest version.
        strategy = self.get_queryset().get(pk=strategy.pk)
        return Response(StrategySerializer(strategy).data, status=status_code)

    @extend_schema(
        summary="List strategies",
        parameters=[OpenApiParameter("search", str, description="Only names containing this.")],
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(summary="Get a strategy with its latest version", parameters=[ID_PARAMETER])
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        summary="Create a strategy (with version 1)",
        description=(
            "`{name, description?, body}`: `body` becomes version 1. A taken name and every "
            "error of the body come back together in one 400, body errors at `/body/…`."
        ),
        request=StrategyCreateSerializer,
        responses={201: StrategySerializer, 400: BodyProblemSerializer},
    )
    def create(self, request):
        payload = StrategyCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        strategy = services.create_strategy(
            workspace=request.workspace, actor=request.user, **payload.validated_data
        )
        return self._render(strategy, status.HTTP_201_CREATED)

    @extend_schema(
        summary="Rename a strategy or change its description",
        description="Only `name` and `description`; a new body is a new version.",
        request=StrategyUpdateSerializer,
        responses={200: StrategySerializer},
        parameters=[ID_PARAMETER],
    )
    def partial_update(self, request, pk=None):
        strategy = self.get_object()
        payload = StrategyUpdateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        strategy = services.update_strategy(
            strategy=strategy, actor=request.user, **payload.validated_data
        )
        return self._render(strategy)

    @extend_schema(
        summary="Delete a strategy and its versions",
        description="Refused with 409 `strategy-in-use` while a backtest or a bot uses a version.",
        responses={204: None, 409: ProblemSerializer},
        parameters=[ID_PARAMETER],
    )
    def destroy(self, request, pk=None):
        services.delete_strategy(strategy=self.get_object(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Validate a body without saving it",
        description=(
            "`{body}` → 200 `{valid: true, dsl_version, warmup, lookback}`, or 400 with every "
            "schema and semantic error at once, each with a pointer into this request "
            "(`/body/…`) and a stable `code`. Any member may validate (viewer included)."
        ),
        request=StrategyBodySerializer,
        responses={200: ValidationResultSerializer, 400: BodyProblemSerializer},
    )
    @action(detail=False, methods=["post"], url_path="validate")
    def validate(self, request):
        payload = StrategyBodySerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        plan = services.compile_body(payload.validated_data["body"])
        return Response(
            ValidationResultSerializer(
                {
                    "valid": True,
                    "dsl_version": DSL_VERSION,
                    "warmup": plan.warmup,
                    "lookback": plan.lookback,
                }
            ).data
        )

    @extend_schema(
        methods=["GET"],
        summary="List the versions of a strategy, newest first",
        responses={200: StrategyVersionSerializer(many=True)},
        parameters=[ID_PARAMETER],
    )
    @extend_schema(
        methods=["POST"],
        summary="Save a body as the next version",
        description=(
            "`{body}` → 201 version n+1; earlier versions stay byte-identical. Body errors at "
            "`/body/…`; 409 `version-unchanged` when the body equals the latest version's."
        ),
        request=StrategyBodySerializer,
        parameters=[ID_PARAMETER],
        responses={
            201: StrategyVersionSerializer,
            400: BodyProblemSerializer,
            409: ProblemSerializer,
        },
    )
    @action(detail=True, methods=["get", "post"], url_path="versions")
    def versions(self, request, pk=None):
        strategy = self.get_object()
        if request.method == "GET":
            page = self.paginate_queryset(selectors.versions(strategy=strategy))
            return self.get_paginated_response(StrategyVersionSerializer(page, many=True).data)
        payload = StrategyBodySerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        version = services.create_version(
            strategy=strategy, actor=request.user, body=payload.validated_data["body"]
        )
        return Response(StrategyVersionSerializer(version).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Get one version of a strategy",
        description="Versions are immutable: PUT, PATCH and DELETE here answer 405.",
        parameters=[
            ID_PARAMETER,
            OpenApiParameter(
                "number", OpenApiTypes.INT, OpenApiParameter.PATH, description="Version number."
            ),
        ],
        responses={200: StrategyVersionSerializer},
    )
    @action(detail=True, methods=["get"], url_path=r"versions/(?P<number>[0-9]{1,9})")
    def version(self, request, pk=None, number=None):
        strategy = self.get_object()
        found = selectors.version(strategy=strategy, number=int(number))
        if found is None:
            raise NotFound(detail=f"The strategy has no version {int(number)}.")
        return Response(StrategyVersionSerializer(found).data)
