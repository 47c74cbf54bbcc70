"""Workspaces, who belongs to them with which role, and the append-only audit trail."""

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    OWNER = "owner", _("Owner")  # everything, including deleting the workspace and naming owners
    ADMIN = "admin", _("Admin")  # manages connections, members, HOLD; approves dangerous actions
    TRADER = "trader", _("Trader")  # trades: orders, strategies, bots, backtests
    VIEWER = "viewer", _("Viewer")  # reads only


# Roles in increasing power; a role may do what any lower role may.
ROLE_RANK = {Role.VIEWER: 0, Role.TRADER: 1, Role.ADMIN: 2, Role.OWNER: 3}


class Workspace(models.Model):
    """A team's space: every connection, strategy, bot and backtest belongs to exactly one."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=120)
    # Trading freeze; the status app owns the HOLD/RESUME flow that sets it.
    on_hold = models.BooleanField(default=False)
    hold_reason = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """A user's role in a workspace."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "user"], name="membership_unique_user"),
        ]
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.user} @ {self.workspace} ({self.role})"

    def allows(self, role: str) -> bool:
        """Whether this membership's role is at least `role`."""
        return ROLE_RANK[Role(self.role)] >= ROLE_RANK[Role(role)]


class AuditEvent(models.Model):
    """One security- or money-relevant action: who, where, what, on which object, when.

    Append-only: services create rows through `workspaces.services.record_audit`; nothing updates
    or deletes them (the admin is read-only).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Null for events outside any workspace, e.g. a failed login.
    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, null=True, blank=True, related_name="audit_events"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="audit_events",
    )
    action = models.CharField(max_length=64, db_index=True)  # e.g. "auth.login_failed"
    target_type = models.CharField(max_length=64, blank=True)  # e.g. "exchanges.connection"
    target_id = models.CharField(max_length=64, blank=True)
    request_id = models.CharField(max_length=128, blank=True, db_index=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    details = models.JSONField(default=dict, blank=True)  # safe details only, never secrets
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["workspace", "-created_at"], name="audit_ws_created")]

    def __str__(self) -> str:
        return f"{self.action} by {self.actor or '-'} at {self.created_at:%Y-%m-%d %H:%M:%S}"
