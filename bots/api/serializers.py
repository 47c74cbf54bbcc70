"""Serializers of the bots API: they validate input and render output, they never save."""

from __future__ import annotations

from decimal import Decimal

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from bots import selectors
from bots.models import Bot, BotRun, RunEvent
from config.fields import PlainDecimalField
from exchanges.models import ExchangeConnection
from strategies.models import StrategyVersion
from workspaces.fields import WorkspaceRelatedField

# The runaway breaker stops any run above 300 placements a minute; a bot's own cap can only
# be lower.
MAX_ORDERS_PER_MINUTE = 300
MAX_SLIPPAGE_BPS = 1000  # 10 %: beyond that a "limit" is a market order in disguise
MODES = [*Bot.Mode.values, "live"]  # live is parsed so that its refusal can say why


class _AllOptional:
    """Mixin for PATCH bodies: every field of the serializer is optional."""

    def get_fields(self):
        fields = super().get_fields()
        for item in fields.values():
            item.required = False
        return fields


# --------------------------------------------------------------------------- bots


class RiskSerializer(serializers.Serializer):
    max_position_quote = PlainDecimalField(
        max_digits=36,
        decimal_places=18,
        help_text="The most quote currency (e.g. USDT) the bot's position may hold; > 0.",
    )
    max_daily_loss_pct = PlainDecimalField(
        max_digits=5,
        decimal_places=2,
        help_text="The run fails (KILL_CAP_DAILY_LOSS) past this loss of the day, in percent "
        "of the day's starting equity; 0 < x ≤ 100.",
    )
    max_orders_per_minute = serializers.IntegerField(
        min_value=1,
        max_value=MAX_ORDERS_PER_MINUTE,
        help_text="The run fails (RUNAWAY_BREAKER) above this many orders in a minute.",
    )

    def validate_max_position_quote(self, value: Decimal) -> Decimal:
        if value <= 0:
            raise serializers.ValidationError("Ensure this value is greater than 0.")
        return value

    def validate_max_daily_loss_pct(self, value: Decimal) -> Decimal:
        if not 0 < value <= 100:
            raise serializers.ValidationError("Ensure this value is above 0 and at most 100.")
        return value


class ExecutionSerializer(serializers.Serializer):
    order_type = serializers.ChoiceField(choices=Bot.OrderType.choices)
    slippage_bps = serializers.IntegerField(
        min_value=0,
        max_value=MAX_SLIPPAGE_BPS,
        help_text="Basis points off the signal's price: the simulated slippage of a market "
        "order, the offset of a limit order's price.",
    )
    mode = serializers.ChoiceField(
        choices=MODES,
        help_text="`demo` (a demo connection) or `paper` (a ccxt connection's market data, "
        "fills simulated on a paper balance); `live` is refused with 400 "
        "`live-mode-not-approved` until live trading has its two-person approval.",
    )


class BotCreateSerializer(serializers.Serializer):
    """A new bot. Needs the request in its context (the ids are looked up in its workspace)."""

    name = serializers.CharField(max_length=120)
    strategy_version = WorkspaceRelatedField(
        queryset=StrategyVersion.objects.select_related("strategy"),
        workspace_field="strategy__workspace",
        help_text="The id of the strategy version the bot runs (it never changes under it).",
    )
    exchange_connection = WorkspaceRelatedField(
        queryset=ExchangeConnection.objects.all(),
        help_text="The id of the connection it trades on; its venue must list the symbol.",
    )
    risk = RiskSerializer()
    execution = ExecutionSerializer()
    close_on_stop = serializers.BooleanField(
        default=False, help_text="Flatten the position when a run is stopped."
    )


class RiskPatchSerializer(_AllOptional, RiskSerializer):
    pass


class ExecutionPatchSerializer(_AllOptional, ExecutionSerializer):
    pass


class BotUpdateSerializer(_AllOptional, BotCreateSerializer):
    """A change of a bot: any of its fields, and any fields of `risk` and `execution`."""

    risk = RiskPatchSerializer()
    execution = ExecutionPatchSerializer()


class StrategyRefSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="strategy.id")
    name = serializers.CharField(source="strategy.name")
    version = serializers.IntegerField(source="number")
    symbol = serializers.SerializerMethodField()
    timeframe = serializers.SerializerMethodField()

    def get_symbol(self, version: StrategyVersion) -> str:
        return version.body["symbol"]

    def get_timeframe(self, version: StrategyVersion) -> str:
        return version.body["timeframe"]


class ActiveRunSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    state = serializers.ChoiceField(choices=BotRun.State.choices)


class LastRunSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    state = serializers.ChoiceField(choices=BotRun.State.choices)
    error_code = serializers.CharField()
    position = PlainDecimalField(help_text="Base amount held.")
    realized_pnl = PlainDecimalField()
    unrealized_pnl = PlainDecimalField()
    started_at = serializers.DateTimeField(allow_null=True)
    ended_at = serializers.DateTimeField(allow_null=True)
    updated_at = serializers.DateTimeField(
        help_text="When the run last changed: a live push older than this is stale."
    )


class BotSerializer(serializers.ModelSerializer):
    """A bot as the API shows it, with its strategy, its unfinished run (or null) and its latest
    run's state and book (or null)."""

    strategy = StrategyRefSerializer(source="strategy_version", read_only=True)
    risk = RiskSerializer(source="*", read_only=True)
    execution = ExecutionSerializer(source="*", read_only=True)
    active_run = serializers.SerializerMethodField()
    last_run = serializers.SerializerMethodField(
        help_text="The latest run (the active one while there is one): state, error code and "
        "book, for the bots list."
    )
    created_by = serializers.CharField(source="created_by.username", default=None, read_only=True)

    class Meta:
        model = Bot
        fields = [
            "id",
            "name",
            "strategy_version",
            "strategy",
            "exchange_connection",
            "risk",
            "execution",
            "close_on_stop",
            "active_run",
            "last_run",
            "created_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(LastRunSerializer(allow_null=True))
    def get_last_run(self, bot: Bot):
        if getattr(bot, "last_run_id", None) is None:
            return None
        fields = {name: getattr(bot, f"last_run_{name}") for name in selectors.LAST_RUN_FIELDS}
        return LastRunSerializer(fields).data

    @extend_schema_field(ActiveRunSerializer(allow_null=True))
    def get_active_run(self, bot: Bot):
        run_id = getattr(bot, "active_run_id", None)
        if run_id is None:
            return None
        return {"id": str(run_id), "state": bot.active_run_state}


# --------------------------------------------------------------------------- runs


class RunRiskSerializer(serializers.Serializer):
    max_position_quote = serializers.CharField()
    max_daily_loss_pct = serializers.CharField()
    max_orders_per_minute = serializers.IntegerField()


class RunExecutionSerializer(serializers.Serializer):
    order_type = serializers.CharField()
    slippage_bps = serializers.IntegerField()
    mode = serializers.CharField()


class RunSerializer(serializers.ModelSerializer):
    """A run: its state, the settings it started with, and its book."""

    strategy = StrategyRefSerializer(source="strategy_version", read_only=True)
    risk = RunRiskSerializer(read_only=True)
    execution = RunExecutionSerializer(read_only=True)
    position = PlainDecimalField(
        max_digits=36, decimal_places=18, read_only=True, help_text="Base amount held."
    )
    realized_pnl = PlainDecimalField(max_digits=36, decimal_places=18, read_only=True)
    unrealized_pnl = PlainDecimalField(max_digits=36, decimal_places=18, read_only=True)
    last_candle_ts = serializers.IntegerField(
        allow_null=True,
        read_only=True,
        help_text="Open time (epoch ms) of the last closed candle the run acted on.",
    )
    created_by = serializers.CharField(source="created_by.username", default=None, read_only=True)

    class Meta:
        model = BotRun
        fields = [
            "id",
            "bot",
            "state",
            "error_code",
            "strategy_version",
            "strategy",
            "exchange_connection",
            "risk",
            "execution",
            "close_on_stop",
            "position",
            "realized_pnl",
            "unrealized_pnl",
            "last_candle_ts",
            "started_at",
            "ended_at",
            "request_id",
            "created_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class RunEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = RunEvent
        fields = [
            "id",
            "seq",
            "kind",
            "from_state",
            "to_state",
            "error_code",
            "message",
            "data",
            "request_id",
            "created_at",
        ]
        read_only_fields = fields


class RunEventsQuerySerializer(serializers.Serializer):
    after = serializers.IntegerField(
        min_value=0,
        required=False,
        help_text="Only events with a `seq` above this (to catch up after a live stream gap).",
    )


class StopAllErrorSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    error = serializers.CharField()


class StopAllSerializer(serializers.Serializer):
    stopped = serializers.ListField(child=serializers.UUIDField())
    errors = StopAllErrorSerializer(many=True)
