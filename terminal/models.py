"""The order journal: every manual order, written before it is sent, kept in step with the venue."""

import uuid

from django.conf import settings
from django.db import models

# Amounts and prices of any venue: 18 decimals hold the finest ccxt steps (1e-18 on some
# tokens), 18 integer digits the largest amounts; the API renders them without trailing zeros.
_AMOUNT = {"max_digits": 36, "decimal_places": 18}


class Order(models.Model):
    """A manual order of a workspace on one of its connections, with ccxt's statuses.

    The row is committed before the order is sent, so a crash between sending and the venue's
    answer never loses track of it: `acknowledged_at` stays empty until the venue answered, and
    the client order id (derived from the request's idempotency key) finds it there again.
    """

    class Side(models.TextChoices):
        BUY = "buy"
        SELL = "sell"

    class Type(models.TextChoices):
        MARKET = "market"
        LIMIT = "limit"

    class Status(models.TextChoices):
        OPEN = "open"  # sent (or being sent) and not finished: resting, or not yet acknowledged
        CLOSED = "closed"  # filled completely
        CANCELED = "canceled"  # canceled; `filled` says how much had filled before
        EXPIRED = "expired"  # the venue ended it (time in force)
        REJECTED = "rejected"  # refused by the venue, or it never reached the venue

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="orders"
    )
    # PROTECT: a connection with orders keeps its history; deleting it is refused.
    connection = models.ForeignKey(
        "exchanges.ExchangeConnection", on_delete=models.PROTECT, related_name="orders"
    )
    # What the venue knows the order by; derived from the idempotency key (services.py).
    client_order_id = models.CharField(max_length=64)
    idempotency_key = models.CharField(max_length=255)  # as the caller sent it
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
        ]

    def __str__(self) -> str:
        return f"{self.side} {self.amount} {self.symbol} {self.type} ({self.status})"

    @property
    def is_terminal(self) -> bool:
        """Whether the order is finished (closed, canceled, expired or rejected)."""
        return self.status in TERMINAL_ORDER_STATUSES


TERMINAL_ORDER_STATUSES = (
    Order.Status.CLOSED,
    Order.Status.CANCELED,
    Order.Status.EXPIRED,
    Order.Status.REJECTED,
)


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
