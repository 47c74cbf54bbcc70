"""Replays API (SPEC §8): a bot's decisions on history, as the lab backtest would report them.

POST /api/v1/bots/{id}/replays    {dataset, initial_cash?, fee_bps?} → 202 the replay, queued
GET  /api/v1/bots/{id}/replays    the bot's replays, newest first (paginated)
GET  /api/v1/replays/{id}         status, progress, metrics (the backtest's names) …
GET  /api/v1/replays/{id}/trades  its trades in the backtest trade shape (paginated)

Viewers read; traders and up start replays. The dataset must be the workspace's (another
workspace's id is 404 at /dataset) and hold the strategy's symbol and timeframe (400 at
/dataset). Thin views over bots.replays.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from bots import replays, selectors
from bots.api.serializers import StrategyRefSerializer
from bots.models import BotReplay, ReplayTrade
from config.fields import PlainDecimalField
from config.problems import ProblemSerializer
from config.ratelimit import enforce
from lab.api.serializers import MetricsSerializer, OpenPositionSerializer
from lab.models import TRADE_FIELDS, Dataset
from workspaces.fields import WorkspaceRelatedField
from workspaces.scoping import WorkspaceScopedAPIView, WorkspaceScopedViewSet


class ReplayCreateSerializer(serializers.Serializer):
    """Inputs of a replay; the slippage is the bot's execution slippage."""

    dataset = WorkspaceRelatedField(
        queryset=Dataset.objects.all(),
        help_text="A ready dataset of the workspace with the strategy's symbol and timeframe.",
    )
    initial_cash = PlainDecimalField(
        max_digits=24, decimal_places=8, min_value=Decimal("0.01"), default=Decimal("10000")
    )
    fee_bps = PlainDecimalField(
        max_digits=10,
        decimal_places=4,
        min_value=Decimal(0),
        max_value=Decimal(1000),
        default=Decimal(10),
        help_text="Fee per side in basis points (10 = 0.1%), as in a backtest.",
    )


class ReplaySerializer(serializers.ModelSerializer):
    """A replay: its inputs, status and progress, and once it succeeded its metrics."""

    strategy = StrategyRefSerializer(source="strategy_version", read_only=True)
    dataset_name = serializers.CharField(source="dataset.name", read_only=True)
    symbol = serializers.CharField(source="dataset.symbol", read_only=True)
    timeframe = serializers.CharField(source="dataset.timeframe", read_only=True)
    initial_cash = PlainDecimalField(max_digits=24, decimal_places=8, read_only=True)
    fee_bps = PlainDecimalField(max_digits=10, decimal_places=4, read_only=True)
    slippage_bps = PlainDecimalField(
        max_digits=10, decimal_places=4, read_only=True, help_text="The bot's execution slippage."
    )
    final_equity = PlainDecimalField(
        max_digits=30, decimal_places=8, read_only=True, allow_null=True
    )
    metrics = serializers.SerializerMethodField()
    open_position = serializers.SerializerMethodField()
    run = serializers.SerializerMethodField()
    created_by = serializers.CharField(source="created_by.username", default=None, read_only=True)

    class Meta:
        model = BotReplay
        fields = [
            "id",
            "bot",
            "status",
            "progress",
            "error",
            "strategy_version",
            "strategy",
            "dataset",
            "dataset_name",
            "symbol",
            "timeframe",
            "initial_cash",
            "fee_bps",
            "slippage_bps",
            "metrics",
            "final_equity",
            "rejected_orders",
            "open_position",
            "inputs_sha256",
            "engine_version",
            "run",
            "started_at",
            "finished_at",
            "created_by",
            "created_at",
        ]
        read_only_fields = fields

    @extend_schema_field(MetricsSerializer(allow_null=True))
    def get_metrics(self, replay: BotReplay):
        return replay.metrics or None

    @extend_schema_field(OpenPositionSerializer(allow_null=True))
    def get_open_position(self, replay: BotReplay):
        return replay.open_position

    @extend_schema_field(serializers.UUIDField(allow_null=True))
    def get_run(self, replay: BotReplay) -> str | None:
        """The run the replay ticked (its trail of events), once it started."""
        run_id = getattr(getattr(replay, "run", None), "pk", None)
        return str(run_id) if run_id is not None else None


class ReplayTradeSerializer(serializers.ModelSerializer):
    """A closed round trip, as a backtest's: prices include slippage, pnl is net of fees."""

    amount = PlainDecimalField(max_digits=38, decimal_places=18, read_only=True)

    class Meta:
        model = ReplayTrade
        fields = list(TRADE_FIELDS)
        read_only_fields = fields


@extend_schema(tags=["bots"])
class BotReplaysView(WorkspaceScopedAPIView):
    """The replays of one bot: start one, list them."""

    queryset = selectors.bot_queryset()
    serializer_class = ReplaySerializer
    lookup_value_converter = "uuid"

    @extend_schema(
        summary="Replay the bot over a dataset",
        description=(
            "202 with the replay as queued (`status: queued`); a worker on the lab queue ticks "
            "the bot's strategy version over the dataset candle by candle through the live "
            "runtime, on a venue of its own that fills at the next candle's open (no account "
            "is touched). The result is exactly the lab backtest's for the same version, "
            "dataset, `initial_cash`, `fee_bps` and the bot's `slippage_bps`. 400 at "
            "`/dataset` unless the dataset is ready, holds the strategy's symbol and "
            "timeframe, lies on the timeframe's UTC grid without gaps and has at most "
            "BOT_REPLAY_MAX_CANDLES candles; 404 at `/dataset` for another workspace's. 423 "
            "`workspace-on-hold` while trading is on HOLD. Rate limited per client IP with "
            "the backtests (RATE_LIMIT_BACKTEST, default 5/min)."
        ),
        request=ReplayCreateSerializer,
        responses={
            202: ReplaySerializer,
            400: ProblemSerializer,
            404: ProblemSerializer,
            423: ProblemSerializer,
            429: ProblemSerializer,
        },
    )
    def post(self, request, pk=None):
        bot = self.get_object()
        enforce(request, group="bots.replay", rate=settings.RATE_LIMIT_BACKTEST)
        payload = ReplayCreateSerializer(data=request.data, context={"request": request})
        payload.is_valid(raise_exception=True)
        replay = replays.create_replay(bot=bot, actor=request.user, **payload.validated_data)
        # As created ("queued"): the task is sent on commit, so a worker may already have
        # claimed it by the time this is rendered; the next read shows that.
        return Response(ReplaySerializer(replay).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        summary="Replays of a bot (newest first)", responses={200: ReplaySerializer(many=True)}
    )
    def get(self, request, pk=None):
        page = self.paginate_queryset(replays.bot_replays(bot=self.get_object()))
        return self.get_paginated_response(ReplaySerializer(page, many=True).data)


@extend_schema(tags=["bots"])
@extend_schema_view(
    retrieve=extend_schema(summary="Get a replay: status, progress, metrics, inputs hash")
)
class ReplayViewSet(mixins.RetrieveModelMixin, WorkspaceScopedViewSet):
    """Replays of the workspace's bots."""

    queryset = replays.replay_queryset()
    serializer_class = ReplaySerializer
    lookup_value_converter = "uuid"

    @extend_schema(
        summary="Trades of a replay (paginated, in time order)",
        description="The backtest trade shape; empty until the replay has succeeded.",
        responses={200: ReplayTradeSerializer(many=True)},
    )
    @action(detail=True, methods=["get"], serializer_class=ReplayTradeSerializer)
    def trades(self, request, pk=None):
        page = self.paginate_queryset(replays.replay_trades(replay=self.get_object()))
        return self.get_paginated_response(ReplayTradeSerializer(page, many=True).data)
