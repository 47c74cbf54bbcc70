"""Terminal API: market data, orders, positions and balances of the request's workspace.

Thin views: they parse, call one service or reader, and serialize. `connection` (query or body)
must be a connection of the workspace; another workspace's id is 404 like an unknown one.
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from config.problems import Problem, ProblemSerializer, ValidationProblem
from terminal import marketdata, selectors, services
from terminal.api.serializers import (
    IDEMPOTENCY_KEY_PATTERN,
    BalanceSerializer,
    CandleSerializer,
    CandlesQuerySerializer,
    ConnectionQuerySerializer,
    InstrumentSerializer,
    OrderCreateSerializer,
    OrderListQuerySerializer,
    OrderSerializer,
    PositionSerializer,
    PositionsQuerySerializer,
    SymbolQuerySerializer,
    TickerSerializer,
)
from terminal.models import Order
from workspaces.scoping import WorkspaceScopedAPIView, WorkspaceScopedViewSet

IDEMPOTENCY_HEADER = "Idempotency-Key"

# What a call through the gateway can answer besides the endpoint's own problems.
_VENUE_PROBLEMS = {
    400: ProblemSerializer,
    404: ProblemSerializer,
    422: ProblemSerializer,
    429: ProblemSerializer,
    502: ProblemSerializer,
    503: ProblemSerializer,
}


class IdempotencyKeyInvalid(Problem):
    status = 400
    code = "idempotency-key-invalid"
    title = "The Idempotency-Key header is not valid"


def _query(serializer_class, request) -> dict:
    query = serializer_class(data=request.query_params, context={"request": request})
    query.is_valid(raise_exception=True)  # errors point at the parameter: /symbol, /limit …
    return query.validated_data


class _ConnectionView(WorkspaceScopedAPIView):
    """A read of one connection's venue; any member may read."""

    query_serializer = ConnectionQuerySerializer
    # Venue reads answer whole arrays (their size bounded by the query), never a page.
    pagination_class = None

    def connection_and_query(self, request):
        query = _query(self.query_serializer, request)
        return query["connection"], query


@extend_schema(
    tags=["terminal"],
    summary="Instruments of a connection",
    parameters=[ConnectionQuerySerializer],
    responses={200: InstrumentSerializer(many=True), **_VENUE_PROBLEMS},
    description="The venue's active spot markets, by symbol, with precision and limits.",
)
class InstrumentsView(_ConnectionView):
    serializer_class = InstrumentSerializer

    def get(self, request):
        connection, _query_data = self.connection_and_query(request)
        rows = marketdata.instruments(connection=connection)
        return Response(InstrumentSerializer(rows, many=True).data)


@extend_schema(
    tags=["terminal"],
    summary="Ticker of a symbol",
    parameters=[SymbolQuerySerializer],
    responses={200: TickerSerializer, **_VENUE_PROBLEMS},
    description="Last price, best bid and ask, and the trailing 24 h high, low and volume.",
)
class TickerView(_ConnectionView):
    serializer_class = TickerSerializer
    query_serializer = SymbolQuerySerializer

    def get(self, request):
        connection, query = self.connection_and_query(request)
        row = marketdata.ticker(connection=connection, symbol=query["symbol"])
        return Response(TickerSerializer(row).data)


@extend_schema(
    tags=["terminal"],
    summary="Candles of a symbol",
    parameters=[CandlesQuerySerializer],
    responses={200: CandleSerializer(many=True), **_VENUE_PROBLEMS},
    description=(
        "The latest `limit` candles (at most 1000), oldest first; `ts` is the open time in "
        "epoch ms and the last candle may still be forming."
    ),
)
class CandlesView(_ConnectionView):
    serializer_class = CandleSerializer
    query_serializer = CandlesQuerySerializer

    def get(self, request):
        connection, query = self.connection_and_query(request)
        rows = marketdata.candles(
            connection=connection,
            symbol=query["symbol"],
            timeframe=query["timeframe"],
            limit=query["limit"],
        )
        return Response(CandleSerializer(rows, many=True).data)


@extend_schema(
    tags=["terminal"],
    summary="Balances of a connection",
    parameters=[ConnectionQuerySerializer],
    responses={200: BalanceSerializer(many=True), **_VENUE_PROBLEMS},
    description="Every asset with a non-zero total: free, used (held by open orders), total.",
)
class BalancesView(_ConnectionView):
    serializer_class = BalanceSerializer

    def get(self, request):
        connection, _query_data = self.connection_and_query(request)
        rows = marketdata.balances(connection=connection)
        return Response(BalanceSerializer(rows, many=True).data)


@extend_schema(
    tags=["terminal"],
    summary="Positions of the workspace, or of one connection",
    parameters=[PositionsQuerySerializer],
    responses={200: PositionSerializer(many=True), **_VENUE_PROBLEMS},
    description=(
        "Net positions of the workspace's filled orders per connection and symbol: net "
        "amount, average entry (amount-weighted over the fills that opened or added to the "
        "position; reductions keep it), mark (last price) and unrealized PnL = (mark - entry) * "
        "amount. Flat symbols are left out. See docs/terminal.md."
    ),
)
class PositionsView(_ConnectionView):
    serializer_class = PositionSerializer

    def get(self, request):
        query = _query(PositionsQuerySerializer, request)
        if "connection" in query:
            connections = [query["connection"]]
        else:
            connections = selectors.connections_with_fills(workspace=request.workspace)
        rows = [
            {"connection": connection.pk, **row}
            for connection in connections
            for row in services.positions(workspace=request.workspace, connection=connection)
        ]
        return Response(PositionSerializer(rows, many=True).data)


def _idempotency_key(request, body: dict) -> str:
    """The request's idempotency key: the header, or `client_order_id` of the body."""
    header = request.headers.get(IDEMPOTENCY_HEADER)
    field = body.get("client_order_id")
    if header is not None:
        header = header.strip()
        if not IDEMPOTENCY_KEY_PATTERN.match(header):
            raise IdempotencyKeyInvalid(
                "Send 1 to 255 printable ASCII characters in the Idempotency-Key header."
            )
        if field is not None and field != header:
            raise ValidationProblem.at(
                "/client_order_id", "It differs from the Idempotency-Key header; send one key."
            )
        return header
    if field is None:
        raise ValidationProblem.at(
            "/client_order_id",
            "Send an Idempotency-Key header (or a client_order_id), so that a retry of this "
            "request can never place the order twice.",
        )
    return field


@extend_schema(tags=["terminal"])
@extend_schema_view(
    list=extend_schema(
        summary="List orders (newest first)",
        parameters=[OrderListQuerySerializer],
        description=(
            "The journal as it is: reads never call a venue. Open orders are brought up to "
            "date by the periodic refresh (every TERMINAL_REFRESH_SECONDS) and by "
            "`POST /terminal/orders/{id}/refresh`."
        ),
    ),
    retrieve=extend_schema(
        summary="Get an order",
        description="The journal's copy; `POST …/refresh` asks the venue.",
    ),
)
class OrderViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, WorkspaceScopedViewSet):
    """Orders of the workspace: place, cancel and refresh (traders and up), list, get."""

    queryset = Order.objects.select_related("connection")
    serializer_class = OrderSerializer
    lookup_value_converter = "uuid"

    def scoped_queryset(self, workspace):
        if self.action != "list":
            return selectors.orders(workspace=workspace)
        query = _query(OrderListQuerySerializer, self.request)
        return selectors.orders(
            workspace=workspace,
            connection_id=getattr(query.get("connection"), "pk", None),
            symbol=query.get("symbol"),
            status=query.get("status"),
        )

    def list(self, request):
        queryset = self.get_queryset()  # the list filters are applied by scoped_queryset
        page = self.paginate_queryset(queryset)  # the journal as it is: no venue call
        return self.get_paginated_response(OrderSerializer(page, many=True).data)

    @extend_schema(
        summary="Place an order",
        request=OrderCreateSerializer,
        parameters=[
            OpenApiParameter(
                IDEMPOTENCY_HEADER,
                OpenApiTypes.STR,
                location=OpenApiParameter.HEADER,
                required=False,
                description=(
                    "The idempotency key (or body `client_order_id`; one of them is required), "
                    "scoped to the workspace. A retry with the same key and body returns the "
                    "same order with 201 and `Idempotent-Replayed: true`; a retry while the "
                    "first is still being placed gets 409 `idempotency-conflict-in-progress`; "
                    "the same key with another body gets 422 `idempotency-key-reused`."
                ),
            )
        ],
        responses={
            201: OrderSerializer,
            400: ProblemSerializer,
            404: ProblemSerializer,
            409: ProblemSerializer,
            422: ProblemSerializer,
            423: ProblemSerializer,
            429: ProblemSerializer,
            502: ProblemSerializer,
            503: ProblemSerializer,
        },
        description=(
            "Validation (unknown symbol, amount or price off the market's steps and limits, "
            "limit without price, market with price, below the minimum notional, not enough "
            "free balance) answers 400 with pointers (`/amount`, `/price`, `/symbol` …). The "
            "workspace on HOLD answers 423 `workspace-on-hold`. The order is journaled before "
            "it is sent; a refusal by the venue is journaled as `rejected` and answered again "
            "to a retry with the same key."
        ),
    )
    def create(self, request):
        payload = OrderCreateSerializer(data=request.data, context={"request": request})
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        key = _idempotency_key(request, data)
        placement = services.place_order(
            workspace=request.workspace,
            actor=request.user,
            connection=data["connection"],
            symbol=data["symbol"],
            side=data["side"],
            order_type=data["type"],
            amount=data["amount"],
            price=data.get("price"),
            idempotency_key=key,
        )
        headers = {"Idempotent-Replayed": "true"} if placement.replayed else {}
        return Response(
            OrderSerializer(placement.order).data, status=status.HTTP_201_CREATED, headers=headers
        )

    @extend_schema(
        summary="Cancel an open order",
        request=None,
        responses={200: OrderSerializer, 409: ProblemSerializer, **_VENUE_PROBLEMS},
        description=(
            "409 `order-not-open` when the order has finished (closed, canceled, expired, "
            "rejected), also when it filled at the venue just before; 409 `order-in-progress` "
            "while the venue has not acknowledged it yet."
        ),
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        order = services.cancel_order(order=self.get_object(), actor=request.user)
        return Response(OrderSerializer(order).data)

    @extend_schema(
        summary="Refresh an order from its venue",
        request=None,
        responses={200: OrderSerializer, **_VENUE_PROBLEMS},
        description=(
            "Asks the venue for the order now and records what changed (fills, a cancel at the "
            "venue), as the periodic refresh does for every open order every few seconds. An "
            "order the venue has not acknowledged is looked up by its client order id once it "
            "is older than TERMINAL_RECONCILE_AFTER_SECONDS, and `rejected` with "
            "`order-not-placed` if the venue has none. A finished order is answered as it is. "
            "Venue problems (503 `exchange-unreachable` …) are answered as they are and change "
            "nothing. Traders and up."
        ),
    )
    @action(detail=True, methods=["post"])
    def refresh(self, request, pk=None):
        order = services.refresh_order(order=self.get_object())
        return Response(OrderSerializer(order).data)
