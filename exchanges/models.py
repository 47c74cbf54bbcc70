"""Exchange connections: which venue, which mode, and the encrypted credentials."""

import uuid

from django.conf import settings
from django.db import models

from exchanges.orders import OrderSide, OrderStatus, OrderType


class ExchangeConnection(models.Model):
    """A workspace's account on an exchange (`demo` or a ccxt exchange id).

    Credentials are stored only as `encrypted_secret` (AES-256-GCM, see exchanges.crypto) with the
    id of the key that sealed them; `api_key_hint` (last 4 characters) is all that is ever shown.
    """

    class Mode(models.TextChoices):
        DEMO = "demo"  # the built-in demo exchange: simulated money
        TESTNET = "testnet"  # a ccxt exchange's sandbox
        LIVE = "live"  # real money; needs LIVE_TRADING_ENABLED and two-person approval

    class Status(models.TextChoices):
        UNTESTED = "untested"  # created or credentials changed since the last test
        OK = "ok"  # the last test reached the exchange and authenticated
        FAILED = "failed"  # the last test failed; see last_error

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="exchange_connections"
    )
    name = models.CharField(max_length=120)
    exchange = models.CharField(max_length=64)  # "demo" or a ccxt exchange id, e.g. "binance"
    mode = models.CharField(max_length=16, choices=Mode.choices, default=Mode.DEMO)
    encrypted_secret = models.TextField(blank=True)  # base64(nonce || ciphertext || tag)
    secret_key_id = models.CharField(max_length=32, blank=True)  # which key sealed it
    api_key_hint = models.CharField(max_length=8, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.UNTESTED)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)  # a safe message, never a secret
    last_latency_ms = models.IntegerField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="connection_unique_name"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.exchange}, {self.mode})"


# --------------------------------------------------------------------------- the demo exchange

# Eight decimals, like the exchanges' own ledgers: every price step, lot and fee of the demo
# instruments fits, and SQLite (which keeps 15 significant digits) stays exact below 10^7.
_MONEY = {"max_digits": 28, "decimal_places": 8}


class DemoBalance(models.Model):
    """One asset of a demo connection's account: `free` to spend, `used` held by open orders.

    Rows are changed only by exchanges.demo.venue, with the rows locked (select_for_update) in
    the transaction that changes them, so two orders can never spend the same funds.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    connection = models.ForeignKey(
        ExchangeConnection, on_delete=models.CASCADE, related_name="demo_balances"
    )
    asset = models.CharField(max_length=16)
    free = models.DecimalField(default=0, **_MONEY)
    used = models.DecimalField(default=0, **_MONEY)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["asset"]
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "asset"], name="demo_balance_unique_asset"
            ),
            # The database refuses what the venue's checks must already prevent.
            models.CheckConstraint(
                condition=models.Q(free__gte=0) & models.Q(used__gte=0),
                name="demo_balance_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.asset} {self.free} free, {self.used} used"


class DemoOrder(models.Model):
    """An order on the demo exchange, with ccxt's statuses (the vocabulary of exchanges.orders).

    Market orders are `closed` at once; limit orders stay `open` (funds reserved in `used`)
    until the matcher sees the feed cross their price or they are `canceled` (the reserve is
    released). The demo never expires or rejects a placed order: a refusal places none.
    """

    Side = OrderSide
    Type = OrderType
    Status = OrderStatus

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    connection = models.ForeignKey(
        ExchangeConnection, on_delete=models.CASCADE, related_name="demo_orders"
    )
    client_order_id = models.CharField(max_length=64)
    symbol = models.CharField(max_length=32)
    side = models.CharField(max_length=4, choices=Side.choices)
    type = models.CharField(max_length=8, choices=Type.choices)
    amount = models.DecimalField(**_MONEY)
    price = models.DecimalField(null=True, blank=True, **_MONEY)  # the limit; None for market
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    filled = models.DecimalField(default=0, **_MONEY)
    average = models.DecimalField(null=True, blank=True, **_MONEY)
    fee = models.DecimalField(default=0, **_MONEY)
    fee_currency = models.CharField(max_length=16, blank=True)
    # What this open order holds in `used`: quote (cost + fee) for a buy, base for a sell.
    reserved = models.DecimalField(default=0, **_MONEY)
    reserved_asset = models.CharField(max_length=16, blank=True)
    # The matcher's cursor: prices up to this instant (epoch ms) were checked against the limit.
    checked_until_ms = models.BigIntegerField(default=0)
    created_at = models.DateTimeField()  # the venue's clock at placement
    updated_at = models.DateTimeField(auto_now=True)
    filled_at = models.DateTimeField(null=True, blank=True)
    canceled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # Idempotency of create_order: one order per client order id and connection.
            models.UniqueConstraint(
                fields=["connection", "client_order_id"], name="demo_order_unique_client_id"
            ),
            models.CheckConstraint(
                condition=models.Q(amount__gt=0) & models.Q(filled__gte=0),
                name="demo_order_positive_amount",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "symbol"], name="demo_order_status_symbol"),
            models.Index(fields=["connection", "status"], name="demo_order_conn_status"),
        ]

    def __str__(self) -> str:
        return f"{self.side} {self.amount} {self.symbol} {self.type} ({self.status})"


class DemoFill(models.Model):
    """One execution of a demo order (the demo fills an order completely, in one go)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    order = models.ForeignKey(DemoOrder, on_delete=models.CASCADE, related_name="fills")
    price = models.DecimalField(**_MONEY)
    amount = models.DecimalField(**_MONEY)
    fee = models.DecimalField(**_MONEY)
    fee_currency = models.CharField(max_length=16)
    taker = models.BooleanField()  # market (or marketable limit) orders take; resting ones make
    executed_at = models.DateTimeField()

    class Meta:
        ordering = ["-executed_at", "-id"]

    def __str__(self) -> str:
        return f"{self.amount} @ {self.price}"
