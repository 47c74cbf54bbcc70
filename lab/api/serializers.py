"""Serializers of the lab API: they validate input and render output, they never save."""

from __future__ import annotations

from decimal import Decimal

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from config.fields import PlainDecimalField
from exchanges.models import ExchangeConnection
from exchanges.timeframes import TIMEFRAMES
from lab.models import TRADE_FIELDS, Backtest, BacktestTrade, Dataset
from strategies.models import Strategy, StrategyVersion
from workspaces.fields import WorkspaceRelatedField

# --------------------------------------------------------------------------- datasets


class DatasetSerializer(serializers.ModelSerializer):
    """A dataset: where its candles came from, their range, rows and hash, and its status."""

    amount_step = PlainDecimalField(max_digits=30, decimal_places=18, read_only=True)
    created_by = serializers.CharField(source="created_by.username", default=None, read_only=True)
    backtests_count = serializers.SerializerMethodField(
        help_text="How many backtests use the dataset (it cannot be deleted while > 0)."
    )

    class Meta:
        model = Dataset
        fields = [
            "id",
            "name",
            "symbol",
            "timeframe",
            "source",
            "connection",
            "amount_step",
            "start_ts",
            "end_ts",
            "rows",
            "sha256",
            "size_bytes",
            "status",
            "progress",
            "error",
            "backtests_count",
            "created_by",
            "created_at",
        ]
        read_only_fields = fields

    def get_backtests_count(self, dataset: Dataset) -> int:
        count = getattr(dataset, "backtests_count", None)
        return count if count is not None else dataset.backtests.count()


class DatasetCreateSerializer(serializers.Serializer):
    """Create a dataset from the demo feed, a CSV upload (multipart) or an exchange import.

    `demo` and `exchange` need `start` and `end` (candles opening in [start, end));
    `csv` needs `file` and, for a symbol the demo exchange does not list, `amount_step`;
    `exchange` needs `connection`.
    """

    source = serializers.ChoiceField(choices=Dataset.Source.choices)
    name = serializers.CharField(max_length=120)
    symbol = serializers.CharField(max_length=40, help_text='Unified symbol, e.g. "BTC/USDT".')
    timeframe = serializers.ChoiceField(choices=TIMEFRAMES)
    start = serializers.DateTimeField(required=False, help_text="demo/exchange: range start.")
    end = serializers.DateTimeField(required=False, help_text="demo/exchange: range end.")
    file = serializers.FileField(
        required=False, help_text="csv: header ts,open,high,low,close,volume."
    )
    amount_step = PlainDecimalField(
        max_digits=30,
        decimal_places=18,
        min_value=Decimal("1e-18"),
        required=False,
        help_text="csv: the lot size orders are floored to (default: the demo instrument's).",
    )
    connection = WorkspaceRelatedField(
        queryset=ExchangeConnection.objects.all(),
        required=False,
        help_text="exchange: the connection to import from.",
    )

    _REQUIRED = {
        Dataset.Source.DEMO: ("start", "end"),
        Dataset.Source.CSV: ("file",),
        Dataset.Source.EXCHANGE: ("connection", "start", "end"),
    }

    def validate(self, attrs):
        missing = {
            name: [f"This field is required for source {attrs['source']}."]
            for name in self._REQUIRED[attrs["source"]]
            if attrs.get(name) is None
        }
        if missing:
            raise serializers.ValidationError(missing)
        return attrs


# --------------------------------------------------------------------------- candles preview


class CandlePointSerializer(serializers.Serializer):
    time = serializers.DateTimeField(help_text="Open time of the (merged) candle.")
    open = serializers.CharField()
    high = serializers.CharField()
    low = serializers.CharField()
    close = serializers.CharField()
    volume = serializers.CharField()


class DatasetCandlesSerializer(serializers.Serializer):
    """Candles of a dataset for a preview chart, merged into at most `points` candles."""

    dataset = serializers.UUIDField()
    timeframe = serializers.CharField()
    total_rows = serializers.IntegerField()
    group = serializers.IntegerField(help_text="Dataset candles merged into each point.")
    candles = CandlePointSerializer(many=True)


class PointsQuerySerializer(serializers.Serializer):
    points = serializers.IntegerField(min_value=10, max_value=10_000, required=False)


# --------------------------------------------------------------------------- backtests


class BacktestCreateSerializer(serializers.Serializer):
    """Inputs of a backtest; the version and the dataset must be the workspace's own."""

    strategy_version = WorkspaceRelatedField(
        queryset=StrategyVersion.objects.select_related("strategy"),
        workspace_field="strategy__workspace",
    )
    dataset = WorkspaceRelatedField(queryset=Dataset.objects.all())
    initial_cash = PlainDecimalField(
        max_digits=24, decimal_places=8, min_value=Decimal("0.01"), default=Decimal("10000")
    )
    fee_bps = PlainDecimalField(
        max_digits=10,
        decimal_places=4,
        min_value=Decimal(0),
        max_value=Decimal(1000),
        default=Decimal(10),
        help_text="Fee per side in basis points (10 = 0.1%).",
    )
    slippage_bps = PlainDecimalField(
        max_digits=10,
        decimal_places=4,
        min_value=Decimal(0),
        max_value=Decimal(1000),
        default=Decimal(0),
        help_text="Fills are this much worse than the next candle's open, in basis points.",
    )


class MetricsSerializer(serializers.Serializer):
    """Report metrics (definitions in docs/strategy-dsl.md); money as a decimal string."""

    net_pnl = serializers.CharField()
    net_pnl_pct = serializers.FloatField()
    win_rate = serializers.FloatField()
    max_drawdown_pct = serializers.FloatField()
    trades = serializers.IntegerField()
    profit_factor = serializers.FloatField(allow_null=True)
    sharpe = serializers.FloatField()
    exposure_pct = serializers.FloatField()


class OpenPositionSerializer(serializers.Serializer):
    """A position still open at the end, marked at the last close without an exit fee."""

    entry_time = serializers.DateTimeField()
    entry_price = serializers.CharField()
    amount = serializers.CharField()
    mark_price = serializers.CharField()
    unrealized_pnl = serializers.CharField()


class TimingsSerializer(serializers.Serializer):
    load = serializers.FloatField(required=False, help_text="Loading the dataset, ms.")
    engine = serializers.FloatField(required=False, help_text="Signals and fills, ms.")
    save = serializers.FloatField(required=False, help_text="Saving trades and equity, ms.")


class BacktestSerializer(serializers.ModelSerializer):
    """A backtest: inputs, status and progress, and once it succeeded its metrics."""

    strategy = serializers.UUIDField(source="strategy_version.strategy_id", read_only=True)
    strategy_name = serializers.CharField(source="strategy_version.strategy.name", read_only=True)
    strategy_version_number = serializers.IntegerField(
        source="strategy_version.number", read_only=True
    )
    dataset_name = serializers.CharField(source="dataset.name", read_only=True)
    symbol = serializers.CharField(source="dataset.symbol", read_only=True)
    timeframe = serializers.CharField(source="dataset.timeframe", read_only=True)
    initial_cash = PlainDecimalField(max_digits=24, decimal_places=8, read_only=True)
    fee_bps = PlainDecimalField(max_digits=10, decimal_places=4, read_only=True)
    slippage_bps = PlainDecimalField(max_digits=10, decimal_places=4, read_only=True)
    final_equity = serializers.DecimalField(
        max_digits=30, decimal_places=8, read_only=True, allow_null=True
    )
    metrics = serializers.SerializerMethodField()
    open_position = serializers.SerializerMethodField()
    timings_ms = serializers.SerializerMethodField()
    created_by = serializers.CharField(source="created_by.username", default=None, read_only=True)

    class Meta:
        model = Backtest
        fields = [
            "id",
            "status",
            "progress",
            "error",
            "strategy",
            "strategy_name",
            "strategy_version",
            "strategy_version_number",
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
            "timings_ms",
            "rerun_of",
            "started_at",
            "finished_at",
            "created_by",
            "created_at",
        ]
        read_only_fields = fields

    @extend_schema_field(MetricsSerializer(allow_null=True))
    def get_metrics(self, backtest: Backtest):
        return backtest.metrics or None

    @extend_schema_field(OpenPositionSerializer(allow_null=True))
    def get_open_position(self, backtest: Backtest):
        return backtest.open_position

    @extend_schema_field(TimingsSerializer)
    def get_timings_ms(self, backtest: Backtest):
        return backtest.timings_ms or {}


class BacktestListQuerySerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Backtest.Status.choices, required=False)
    dataset = WorkspaceRelatedField(queryset=Dataset.objects.all(), required=False)
    strategy = WorkspaceRelatedField(queryset=Strategy.objects.all(), required=False)
    strategy_version = WorkspaceRelatedField(
        queryset=StrategyVersion.objects.all(),
        workspace_field="strategy__workspace",
        required=False,
    )


class TradeSerializer(serializers.ModelSerializer):
    """A closed round trip; prices include slippage, pnl is net of both sides' fees."""

    amount = PlainDecimalField(max_digits=38, decimal_places=18, read_only=True)

    class Meta:
        model = BacktestTrade
        fields = list(TRADE_FIELDS)
        read_only_fields = fields


class EquityQuerySerializer(serializers.Serializer):
    points = serializers.IntegerField(
        min_value=10, max_value=100_000, default=1000, help_text="Most points to return."
    )
    full = serializers.BooleanField(default=False, help_text="Every point, no downsampling.")


class EquitySerializer(serializers.Serializer):
    """The equity curve as columns (one entry per point, same order in every column).

    Equity is marked at each candle's close; drawdown is percent below the running peak
    (which starts at the initial cash).
    """

    total_points = serializers.IntegerField(help_text="Points of the full curve (= candles).")
    points = serializers.IntegerField(help_text="Points in this response.")
    downsampled = serializers.BooleanField()
    initial_cash = serializers.CharField()
    time = serializers.ListField(child=serializers.DateTimeField())
    equity = serializers.ListField(child=serializers.CharField())
    drawdown_pct = serializers.ListField(child=serializers.FloatField())
