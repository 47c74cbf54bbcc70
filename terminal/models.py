"""The order journal: every order, manual or a bot's, written before it is sent, kept in step
with the venue."""

import uuid

from django.conf import settings
from django.db import models

from exchanges.orders import FINISHED_STATUSES, OrderSide, OrderStatus, OrderType

# Amounts and prices of any venue: 18 decimals hold the finest ccxt steps (1e-18 on some
# tokens), 18 integer digits the largest amounts; the API renders them without trailing zeros.
_AMOUNT = {"max_digits": 36, "decimal_places": 18}


class Order(models.Model):
    """An order of a workspace on one of its connections, with ccxt's statuses.

    Every order is placed through `terminal.services.place_order`, by a person (the API) or a
    bot's tick, and the row is committed before the order is sent, so a crash between sending
    and the venue's answer never loses track of it: `acknowledged_at` stays empty until the
    venue answered, and the client order id (derived from the idempotency key) finds it there
    again. `open` also covers an order that is still being sent.
    """

    # The vocabulary of exchanges.orders: a venue's side, type or status is the journal's.
    Side = OrderSide
    Type = OrderType
    Status = OrderStatus

    class Origin(models.TextChoices):
        MANUAL = "manual"  # placed by a person through the API (the terminal page)
        BOT = "bot"  # placed by a bot run's tick

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="orders"
    )
    # PROTECT: a connection with orders keeps its history; deleting it is refused.
    connection = models.ForeignKey(
        "exchanges.ExchangeConnection", on_delete=models.PROTECT, related_name="orders"
    )
    origin = models.CharField(max_length=8, choices=Origin, default=Origin.MANUAL)
    # The run a BOT order came from (place_order's `bot_run`). SET_NULL: deleting a bot with
    # its finished runs keeps their orders in the journal, like any other order.
    bot_run = models.ForeignKey(
        "bots.BotRun", on_delete=models.SET_NULL, null=True, blank=True, related_name="orders"
    )
    # What the venue knows the order by, derived from the idempotency key (services/placing.py):
    # the same key always gives the same id, so the venue itself refuses a second placement.
    client_order_id = models.CharField(max_length=64)
    # As the caller sent it: a person's Idempotency-Key, or a bot's (run, candle, intent) key.
    idempotency_key = models.CharField(max_length=255)
    # SHA-256 of the canonical request body: the same key with another body is refused.
    request_fingerprint = models.CharField(max_length=64)
    exchange_order_id = models.CharField(max_length=128, blank=True)
    symbol = models.CharField(max_length=40)
    side = models.CharField(max_length=4, choices=Side.choices)
    type = models.CharField(max_length=8, choices=Type.choices)
    amount = models.DecimalField(**_AMOUNT)
    price = models.DecimalField(null=True, blank=True, **_AMOUNT)  # the limit; None for market
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    filled = models.DecimalField(default=0, **_AMOUNT)
    average = models.DecimalField(null=True, blank=True, **_AMOUNT)
    fee = models.DecimalField(null=True, blank=True, **_AMOUNT)
    fee_currency = models.CharField(max_length=16, blank=True)
    # The problem a refused order was answered with; a retry with the same key gets it again.
    rejection = models.JSONField(default=dict, blank=True)
    # Until when one request owns the sending (a concurrent duplicate gets 409 meanwhile).
    submit_lease_until = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)  # the venue's answer arrived
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # Idempotency: one order per key (hence per client order id) and workspace.
            models.UniqueConstraint(
                fields=["workspace", "client_order_id"], name="order_unique_client_order_id"
            ),
            models.CheckConstraint(
                condition=models.Q(amount__gt=0) & models.Q(filled__gte=0),
                name="order_positive_amount",
            ),
        ]
        indexes = [
            models.Index(fields=["workspace", "-created_at"], name="order_ws_created"),
            models.Index(fields=["workspace", "status"], name="order_ws_status"),
            models.Index(fields=["connection", "symbol"], name="order_conn_symbol"),
            # The periodic refresh reads every workspace's open orders: a small, hot subset.
            models.Index(
                fields=["connection", "symbol"],
                condition=models.Q(status="open"),
                name="order_open_by_venue",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.side} {self.amount} {self.symbol} {self.type} ({self.status})"

    @property
    def is_terminal(self) -> bool:
        """Whether the order is finished (closed, canceled, expired or rejected)."""
        return self.status in TERMINAL_ORDER_STATUSES


TERMINAL_ORDER_STATUSES = FINISHED_STATUSES


class OrderEvent(models.Model):
    """One change of an order in the journal: placed, acknowledged, (partly) filled, ended."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="events")
    from_status = models.CharField(max_length=16, blank=True)  # empty for the journaling
    to_status = models.CharField(max_length=16)
    filled = models.DecimalField(default=0, **_AMOUNT)
    message = models.CharField(max_length=500, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.from_status or '∅'} → {self.to_status}"
