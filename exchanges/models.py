"""Exchange connections: which venue, which mode, and the encrypted credentials."""

import uuid

from django.conf import settings
from django.db import models


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
