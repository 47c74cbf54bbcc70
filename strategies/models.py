"""Strategies and their immutable versions."""

import hashlib
import json
import uuid
from typing import Any

from django.conf import settings
from django.db import models


def canonical_json(body: Any) -> str:
    """The body's canonical JSON text: sorted keys, no spaces, UTF-8 as is."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def body_sha256(body: Any) -> str:
    """SHA-256 (hex) of the body's canonical JSON; what backtest input hashes name a body by."""
    return hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()


class VersionImmutable(Exception):
    """Raised on an attempt to save an existing version again: versions are written once."""


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
    # Also touched when a version is added, so "recently changed" lists see new versions.
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
    `body_text` is the body as its author wrote it (key order kept): PostgreSQL's jsonb
    reorders keys, and the editor and the API give the body back exactly as it was saved.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    strategy = models.ForeignKey(Strategy, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    body = models.JSONField()
    body_sha256 = models.CharField(max_length=64)
    body_text = models.TextField(editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["strategy", "number"]
        constraints = [
            models.UniqueConstraint(fields=["strategy", "number"], name="version_unique_number"),
            models.CheckConstraint(condition=models.Q(number__gte=1), name="version_number_gte_1"),
        ]

    def __str__(self) -> str:
        return f"{self.strategy.name} v{self.number}"

    def save(self, *args, **kwargs):
        # A version is written once: an update could change what a backtest or a bot ran.
        if not self._state.adding:
            raise VersionImmutable(f"{self} is immutable; create a new version instead.")
        # Derived from the body here, so every way of creating a version stores the same three.
        self.body_text = json.dumps(self.body, ensure_ascii=False)
        self.body_sha256 = body_sha256(self.body)
        super().save(*args, **kwargs)

    @property
    def authored_body(self) -> Any:
        """The body with its author's key order (`body` itself may come back reordered)."""
        return json.loads(self.body_text) if self.body_text else self.body
