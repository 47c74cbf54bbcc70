"""Strategies and their immutable versions."""

import uuid

from django.conf import settings
from django.db import models


class Strategy(models.Model):
    """A named strategy of a workspace; its content lives in numbered, immutable versions."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="strategies"
    )
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="strategy_unique_name"),
        ]
        verbose_name_plural = "strategies"

    def __str__(self) -> str:
        return self.name


class StrategyVersion(models.Model):
    """Version `number` of a strategy: a DSL body frozen forever (bots and backtests pin it).

    Never updated or deleted through the product; `body_sha256` is the SHA-256 of the body's
    canonical JSON (sorted keys, no spaces) and identifies it in backtest input hashes.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    strategy = models.ForeignKey(Strategy, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    body = models.JSONField()
    body_sha256 = models.CharField(max_length=64)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["strategy", "number"]
        constraints = [
            models.UniqueConstraint(fields=["strategy", "number"], name="version_unique_number"),
        ]

    def __str__(self) -> str:
        return f"{self.strategy.name} v{self.number}"
