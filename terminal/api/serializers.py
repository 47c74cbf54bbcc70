"""Serializers of the terminal API: they parse input and render output, they never save.

Parsing is about form (a UUID, a choice, a plain decimal); whether an order suits its market is
the order check's (exchanges.orders.check_order, run by terminal.services.place_order).
Decimals come in and leave as strings in plain notation, without trailing zeros ("0.00012",
"95000.1"); `ts` is epoch ms.
"""

from __future__ import annotations

import copy
import re

from rest_framework import serializers

from config.fields import PlainDecimalField
from exchanges.models import ExchangeConnection
from exchanges.timeframes import TIMEFRAMES
from terminal.marketdata import DEFAULT_CANDLES, MAX_CANDLES
from terminal.models import Order
from workspaces.fields import WorkspaceRelatedField

# What an idempotency key may hold: printable ASCII, no spaces at the ends (as in headers).
IDEMPOTENCY_KEY_PATTERN = re.compile(r"^[\x21-\x7e](?:[\x20-\x7e]{0,253}[\x21-\x7e])?$")


# --------------------------------------------------------------------------- query parameters


class ConnectionQuerySerializer(serializers.Serializer):
    connection = WorkspaceRelatedField(
        queryset=ExchangeConnection.objects.all(),
        help_text="An exchange connection of the workspace.",
    )


class SymbolQuerySerializer(ConnectionQuerySerializer):
    symbol = serializers.CharField(max_length=40, help_text='Unified symbol, e.g. "BTC/USDT".')


class CandlesQuerySerializer(SymbolQuerySerializer):
    timeframe = serializers.ChoiceField(choices=TIMEFRAMES, default="1m")
    limit = serializers.IntegerField(
        min_value=1,
        max_value=MAX_CANDLES,
        default=DEFAULT_CANDLES,
        help_text=f"How many candles, the newest last (at most {MAX_CANDLES}).",
    )


class OrderListQuerySerializer(serializers.Serializer):
    connection = WorkspaceRelatedField(queryset=ExchangeConnection.objects.all(), required=False)
    symbol = serializers.CharField(max_length=40, required=False)
    status = serializers.ChoiceField(choices=Order.Status.choices, required=False)


# --------------------------------------------------------------------------- market data


class InstrumentSerializer(serializers.Serializer):
    symbol = serializers.CharField()
    base = serializers.CharField()
    quote = serializers.CharField()
    price_step = PlainDecimalField(
        allow_null=True, help_text="Tick size: prices are multiples of it."
    )
    amount_step = PlainDecimalField(
        allow_null=True, help_text="Lot size: amounts are multiples of it."
    )
    min_amount = PlainDecimalField(allow_null=True)
    min_notional = PlainDecimalField(allow_null=True, help_text="Minimum amount * price, in quote.")


class TickerSerializer(serializers.Serializer):
    symbol = serializers.CharField()
    ts = serializers.IntegerField(allow_null=True, help_text="Epoch milliseconds.")
    last = PlainDecimalField(allow_null=True)
    bid = PlainDecimalField(allow_null=True)
    ask = PlainDecimalField(allow_null=True)
    high = PlainDecimalField(allow_null=True, help_text="24 h high.")
    low = PlainDecimalField(allow_null=True, help_text="24 h low.")
    volume = PlainDecimalField(allow_null=True, help_text="24 h volume in the base asset.")


class CandleSerializer(serializers.Serializer):
    ts = serializers.IntegerField(help_text="The candle's open time, epoch milliseconds.")
    open = PlainDecimalField()
    high = PlainDecimalField()
    low = PlainDecimalField()
    close = PlainDecimalField()
    volume = PlainDecimalField()


class BalanceSerializer(serializers.Serializer):
    asset = serializers.CharField()
    free = PlainDecimalField()
    used = PlainDecimalField(help_text="Held by open orders.")
    total = PlainDecimalField()


class PositionsQuerySerializer(serializers.Serializer):
    connection = WorkspaceRelatedField(
        queryset=ExchangeConnection.objects.all(),
        required=False,
        help_text="Only this connection's positions; without it, every connection's.",
    )


class PositionSerializer(serializers.Serializer):
    connection = serializers.UUIDField(help_text="The exchange connection holding the position.")
    symbol = serializers.CharField()
    amount = PlainDecimalField(help_text="Net amount of the base asset; negative for a short.")
    average_entry = PlainDecimalField(allow_null=True)
    mark = PlainDecimalField(allow_null=True, help_text="The current (last) price.")
    unrealized_pnl = PlainDecimalField(allow_null=True, help_text="In the quote asset.")


# --------------------------------------------------------------------------- orders


class OrderSerializer(serializers.Serializer):
    """An order of the journal, as the venue last reported it.

    A plain Serializer with every field spelled out: it renders each order response, and a
    ModelSerializer would rebuild its fields from the model on every request.
    """

    id = serializers.UUIDField(read_only=True)
    client_order_id = serializers.CharField(
        read_only=True, help_text="What the venue knows the order by (derived from the key)."
    )
    connection = serializers.UUIDField(source="connection_id", read_only=True)
    symbol = serializers.CharField(read_only=True)
    side = serializers.ChoiceField(choices=Order.Side.choices, read_only=True)
    type = serializers.ChoiceField(choices=Order.Type.choices, read_only=True)
    amount = PlainDecimalField(read_only=True)
    price = PlainDecimalField(
        read_only=True, allow_null=True, help_text="The limit; null for market."
    )
    status = serializers.ChoiceField(choices=Order.Status.choices, read_only=True)
    filled = PlainDecimalField(read_only=True)
    average = PlainDecimalField(read_only=True, allow_null=True, help_text="Average fill price.")
    fee = PlainDecimalField(read_only=True, allow_null=True)
    fee_currency = serializers.CharField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)

    def get_fields(self) -> dict[str, serializers.Field]:
        # Read-only fields hold no state but what `bind` sets on each copy: a shallow copy per
        # render (an order is rendered twice per placement: its push and its response) instead
        # of DRF's deep copy, which builds every field anew.
        return {name: copy.copy(field) for name, field in self._declared_fields.items()}


class OrderCreateSerializer(serializers.Serializer):
    """A new order. Send the idempotency key as header `Idempotency-Key` or as `client_order_id`."""

    connection = WorkspaceRelatedField(queryset=ExchangeConnection.objects.all())
    symbol = serializers.CharField(max_length=40)
    side = serializers.ChoiceField(choices=Order.Side.choices)
    type = serializers.ChoiceField(choices=Order.Type.choices)
    # The journal's columns bound the digits; sign and size are the order check's.
    amount = PlainDecimalField(max_digits=36, decimal_places=18)
    price = PlainDecimalField(
        max_digits=36,
        decimal_places=18,
        required=False,
        allow_null=True,
        help_text="Limit orders only.",
    )
    client_order_id = serializers.CharField(
        max_length=255,
        required=False,
        help_text="The idempotency key, when not sent as the Idempotency-Key header.",
    )

    def validate_client_order_id(self, value: str) -> str:
        if not IDEMPOTENCY_KEY_PATTERN.match(value):
            raise serializers.ValidationError(
                "Use printable ASCII characters without spaces at the ends."
            )
        return value
