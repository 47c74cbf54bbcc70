"""Bots API (SPEC §8): bots, their runs, a run's events, stop and stop-all.

Thin views: they parse, call one service, serialize. Viewers read; traders and up create,
change and delete bots and start and stop runs. A run answer renders the run as the service
returned it: the worker may already have moved it on, which the next read shows.
"""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from bots import selectors, services
from bots.api.serializers import (
    BotCreateSerializer,
    BotSerializer,
    BotUpdateSerializer,
    RunEventSerializer,
    RunEventsQuerySerializer,
    RunSerializer,
    StopAllSerializer,
)
from bots.models import Bot
from config.problems import ProblemSerializer
from config.ratelimit import enforce
from workspaces.scoping import WorkspaceScopedViewSet

# What the symbol check at the connection's venue can answer besides validation.
_VENUE_PROBLEMS = {
    422: ProblemSerializer,  # exchange-not-supported, live-trading-not-approved
    502: ProblemSerializer,  # exchange-error
    503: ProblemSerializer,  # exchange-unreachable, connection-secrets-unavailable
}
_BODY_RULES = (
    "Every field is validated; errors are 400 with pointers such as `/risk/max_daily_loss_pct`. "
    "An id of another workspace's version or connection is 404 with its pointer. `mode` must "
    "fit the connection: `demo` needs a demo connection, `paper` a connection to an exchange "
    "(`/execution/mode`); `live` is 400 `live-mode-not-approved`. The connection's venue must "
    "list the strategy's symbol (`/exchange_connection`), which asks the venue: an unreachable "
    "venue answers with its problem (503 `exchange-unreachable` …)."
)


@extend_schema(tags=["bots"])
@extend_schema_view(
    list=extend_schema(summary="List bots (newest first), each with its active run"),
    retrieve=extend_schema(summary="Get a bot"),
)
class BotViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, WorkspaceScopedViewSet):
    """Bots of the workspace: a strategy version on a connection, with risk and execution."""

    queryset = selectors.bot_queryset()
    serializer_class = BotSerializer
    lookup_value_converter = "uuid"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def _render(self, bot: Bot, status_code: int = status.HTTP_200_OK) -> Response:
        # Re-read through the scoped queryset: the answer carries the annotated active run.
        return Response(BotSerializer(self.get_queryset().get(pk=bot.pk)).data, status=status_code)

    @extend_schema(
        summary="Create a bot",
        description=_BODY_RULES,
        request=BotCreateSerializer,
        responses={201: BotSerializer, 400: ProblemSerializer, **_VENUE_PROBLEMS},
    )
    def create(self, request):
        payload = BotCreateSerializer(data=request.data, context={"request": request})
        payload.is_valid(raise_exception=True)
        bot = services.create_bot(
            workspace=request.workspace, actor=request.user, **payload.validated_data
        )
        return self._render(bot, status.HTTP_201_CREATED)

    @extend_schema(
        summary="Change a bot",
        description=(
            "Any field, and any fields of `risk` and `execution`; the result is checked like a "
            "new bot. " + _BODY_RULES + " A run already going keeps the settings it started "
            "with; the next run uses the new ones."
        ),
        request=BotUpdateSerializer,
        responses={200: BotSerializer, 400: ProblemSerializer, **_VENUE_PROBLEMS},
    )
    def partial_update(self, request, pk=None):
        bot = self.get_object()
        payload = BotUpdateSerializer(data=request.data, partial=True, context={"request": request})
        payload.is_valid(raise_exception=True)
        bot = services.update_bot(bot=bot, actor=request.user, **payload.validated_data)
        return self._render(bot)

    @extend_schema(
        summary="Delete a bot and its finished runs",
        description="Refused with 409 `bot-has-active-run` while a run is not finished.",
        responses={204: None, 409: ProblemSerializer},
    )
    def destroy(self, request, pk=None):
        services.delete_bot(bot=self.get_object(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        methods=["GET"],
        summary="Runs of a bot (newest first)",
        responses={200: RunSerializer(many=True)},
    )
    @extend_schema(
        methods=["POST"],
        summary="Start a run",
        description=(
            "201 with the run as queued (`state: QUEUED`); a worker loads the strategy's "
            "lookback candles (STARTING) and moves it to RUNNING, or to FAILED with an "
            "`error_code` such as `EXCHANGE_UNREACHABLE`. The run keeps a copy of the bot's "
            "strategy version, connection, risk and execution. 409 `run-already-active` while "
            "the bot has an unfinished run. Rate limited per client IP (RATE_LIMIT_RUN_START, "
            "default 10/min) → 429 with Retry-After."
        ),
        request=None,
        responses={201: RunSerializer, 409: ProblemSerializer, 429: ProblemSerializer},
    )
    @action(detail=True, methods=["get", "post"], url_path="runs")
    def runs(self, request, pk=None):
        if request.method == "POST":
            enforce(request, group="bots.run_start", rate=settings.RATE_LIMIT_RUN_START)
            run = services.start_run(bot=self.get_object(), actor=request.user)
            return Response(RunSerializer(run).data, status=status.HTTP_201_CREATED)
        page = self.paginate_queryset(selectors.runs(bot=self.get_object()))
        return self.get_paginated_response(RunSerializer(page, many=True).data)


@extend_schema(tags=["bots"])
@extend_schema_view(retrieve=extend_schema(summary="Get a run"))
class RunViewSet(mixins.RetrieveModelMixin, WorkspaceScopedViewSet):
    """Runs of the workspace's bots: read one, its events, stop one or all."""

    queryset = selectors.run_queryset()
    serializer_class = RunSerializer
    lookup_value_converter = "uuid"

    @extend_schema(
        summary="Stop a run",
        description=(
            "200 with the run as `STOPPING`; a worker finishes the current tick and moves it to "
            "STOPPED (flattening the position first if the bot's `close_on_stop` is set). A run "
            "already STOPPING is answered as it is. 409 `run-not-active` for an ended run."
        ),
        request=None,
        responses={200: RunSerializer, 409: ProblemSerializer},
    )
    @action(detail=True, methods=["post"])
    def stop(self, request, pk=None):
        run = services.stop_run(run=self.get_object(), actor=request.user)
        return Response(RunSerializer(run).data)

    @extend_schema(
        summary="Events of a run (its trail, oldest first)",
        parameters=[RunEventsQuerySerializer],
        responses={200: RunEventSerializer(many=True)},
    )
    @action(detail=True, methods=["get"], serializer_class=RunEventSerializer)
    def events(self, request, pk=None):
        query = RunEventsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        after = query.validated_data.get("after")
        page = self.paginate_queryset(selectors.run_events(run=self.get_object(), after=after))
        return self.get_paginated_response(RunEventSerializer(page, many=True).data)

    @extend_schema(
        summary="Stop every unfinished run of the workspace",
        description=(
            "`stopped` lists the runs now STOPPING (also those that already were); `errors` "
            "lists `{id, error}` for each run whose stop failed, with the reason. One run's "
            "failure never keeps the others from stopping."
        ),
        request=None,
        responses={200: StopAllSerializer},
    )
    @action(detail=False, methods=["post"], url_path="stop-all", serializer_class=StopAllSerializer)
    def stop_all(self, request):
        result = services.stop_all(workspace=request.workspace, actor=request.user)
        return Response({"stopped": result.stopped, "errors": result.errors})
