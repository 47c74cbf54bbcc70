"""Charts of a bot and of a run: candles, the strategy's indicators, a run's fills and equity.

GET /api/v1/bots/{id}/chart   the bot's strategy version on its connection (no markers)
GET /api/v1/runs/{id}/chart   the run's version and connection, and its fills as markers
GET /api/v1/runs/{id}/equity  the run's equity series

Any member reads. The indicators are computed by the strategy engine (bots.charts), so the lines
are the values the bot's ticks decide by.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from bots import charts, selectors
from config.fields import PlainDecimalField
from config.problems import ProblemSerializer
from terminal.api.serializers import CandleSerializer
from workspaces.scoping import WorkspaceScopedAPIView

# What a read through the gateway can answer (unknown symbol, venue down …).
_VENUE_PROBLEMS = {
    400: ProblemSerializer,
    404: ProblemSerializer,
    422: ProblemSerializer,
    429: ProblemSerializer,
    502: ProblemSerializer,
    503: ProblemSerializer,
}


class ChartQuerySerializer(serializers.Serializer):
    limit = serializers.IntegerField(
        min_value=1,
        max_value=charts.MAX_CANDLES,
        default=charts.DEFAULT_CANDLES,
        help_text=f"How many closed candles, the newest last (at most {charts.MAX_CANDLES}).",
    )


class ChartIndicatorSerializer(serializers.Serializer):
    key = serializers.CharField(help_text="The series key: the indicator's name, `.output` added.")
    name = serializers.CharField(help_text="The indicator's name in the strategy body.")
    type = serializers.CharField(help_text="sma, ema, rsi, macd, bbands, atr.")
    output = serializers.CharField(allow_null=True, help_text="upper, middle, lower, signal …")
    pane = serializers.CharField(
        help_text="`price`: drawn over the candles; otherwise the pane (an indicator's name) "
        "it shares with the outputs of the same root indicator."
    )
    values = serializers.ListField(
        child=serializers.FloatField(allow_null=True),
        help_text="One value per candle, aligned with `candles`; null in the warm-up.",
    )


class ChartMarkerSerializer(serializers.Serializer):
    ts = serializers.IntegerField(help_text="Open time (epoch ms) of the candle it filled on.")
    side = serializers.CharField(help_text="buy (an entry) or sell (an exit).")
    price = serializers.FloatField(allow_null=True, help_text="The fill's average price.")
    amount = serializers.CharField(allow_null=True)
    reason = serializers.CharField(
        help_text="entry; or the exit's reason: signal, stop_loss, take_profit, trailing_stop, "
        "kill_cap, close_on_stop."
    )
    seq = serializers.IntegerField(help_text="The fill event's `seq` in the run's trail.")


class ChartSerializer(serializers.Serializer):
    symbol = serializers.CharField()
    timeframe = serializers.CharField()
    candles = CandleSerializer(many=True, help_text="Closed candles, oldest first.")
    indicators = ChartIndicatorSerializer(many=True)
    markers = ChartMarkerSerializer(many=True)


def _limit(request) -> int:
    query = ChartQuerySerializer(data=request.query_params)
    query.is_valid(raise_exception=True)  # pointer /limit
    return query.validated_data["limit"]


_DESCRIPTION = (
    "The latest `limit` closed candles of the strategy's symbol and timeframe at the "
    "connection's venue, and every indicator the strategy computes, by the strategy engine, "
    "warmed up on the strategy's lookback as a run is. Indicators of `pane: price` share the "
    "candles' scale; the others are drawn in panes of their own."
)


@extend_schema(
    tags=["bots"],
    summary="Chart of a bot: candles and the strategy's indicators",
    description=_DESCRIPTION,
    parameters=[ChartQuerySerializer],
    responses={200: ChartSerializer, **_VENUE_PROBLEMS},
)
class BotChartView(WorkspaceScopedAPIView):
    queryset = selectors.bot_queryset()
    serializer_class = ChartSerializer
    pagination_class = None

    def get(self, request, pk=None):
        bot = self.get_object()
        result = charts.chart(
            version=bot.strategy_version,
            connection=bot.exchange_connection,
            limit=_limit(request),
        )
        return Response(ChartSerializer(result).data)


@extend_schema(
    tags=["bots"],
    summary="Chart of a run: candles, indicators, and the run's entries and exits",
    description=_DESCRIPTION
    + " `markers` are the run's fills (from its `fill` events) on the candles shown: a buy is "
    "an entry, a sell an exit with its reason.",
    parameters=[ChartQuerySerializer],
    responses={200: ChartSerializer, **_VENUE_PROBLEMS},
)
class RunChartView(WorkspaceScopedAPIView):
    queryset = selectors.run_queryset()
    serializer_class = ChartSerializer
    pagination_class = None

    def get(self, request, pk=None):
        run = self.get_object()
        result = charts.chart(
            version=run.strategy_version,
            connection=run.exchange_connection,
            limit=_limit(request),
            run=run,
        )
        return Response(ChartSerializer(result).data)


class EquityPointSerializer(serializers.Serializer):
    ts = serializers.IntegerField(help_text="Open time (epoch ms) of the candle it closed on.")
    equity = PlainDecimalField(help_text="Cash plus the position at that close, in quote.")
    position = PlainDecimalField(help_text="Base amount held at that close.")
    close = PlainDecimalField()


@extend_schema(
    tags=["bots"],
    summary="Equity of a run, one point per candle it acted on",
    description=(
        "Oldest first: a run records its equity (cash plus the position at the candle's close) "
        "on every candle it acts on, so a 4-hour run on 1m candles has at most 240 points."
    ),
    responses={200: EquityPointSerializer(many=True)},
)
class RunEquityView(WorkspaceScopedAPIView):
    queryset = selectors.run_queryset()
    serializer_class = EquityPointSerializer
    pagination_class = None

    def get(self, request, pk=None):
        points = selectors.equity_points(run=self.get_object())
        return Response(EquityPointSerializer(points, many=True).data)
