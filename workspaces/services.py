"""Workspace flows: create, rename, delete, members and roles, and the audit trail."""

from __future__ import annotations

import ipaddress
import logging
from typing import Any

from django.db import transaction
from django.db.models import Model

from accounts.models import User
from config import context
from config.logging import redact_value
from workspaces.exceptions import AlreadyMember, LastOwner
from workspaces.models import AuditEvent, Membership, Role, Workspace

logger = logging.getLogger(__name__)


def record_audit(
    *,
    action: str,
    actor: User | None = None,
    workspace: Workspace | None = None,
    target: Model | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append an audit event stamped with the current request id and client IP.

    `details` go through the log redaction rules, so a caller cannot leak a secret by mistake.
    """
    ip = context.client_ip_var.get() or None
    if ip:
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            ip = None
    event = AuditEvent.objects.create(
        workspace=workspace,
        actor=actor if actor is not None and actor.is_authenticated else None,
        action=action,
        target_type=target._meta.label_lower if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        request_id=context.current_request_id(),
        ip=ip,
        details=redact_value(details or {}),
    )
    logger.info(
        "audit.recorded",
        extra={"action": action, "target_id": event.target_id, "audit_id": str(event.pk)},
    )
    return event


@transaction.atomic
def create_workspace(*, name: str, owner: User) -> Workspace:
    """Create a workspace with `owner` as its first owner."""
    workspace = Workspace.objects.create(name=name, created_by=owner)
    Membership.objects.create(workspace=workspace, user=owner, role=Role.OWNER)
    record_audit(actor=owner, workspace=workspace, action="workspace.create", target=workspace)
    return workspace


@transaction.atomic
def update_workspace(*, workspace: Workspace, actor: User, name: str) -> Workspace:
    """Rename a workspace."""
    previous = workspace.name
    workspace.name = name
    workspace.save(update_fields=["name"])
    record_audit(
        actor=actor,
        workspace=workspace,
        action="workspace.update",
        target=workspace,
        details={"name": {"from": previous, "to": name}},
    )
    return workspace


@transaction.atomic
def delete_workspace(*, workspace: Workspace, actor: User) -> None:
    """Delete a workspace and everything it owns; the trail keeps a workspace-less record."""
    record_audit(
        actor=actor,
        action="workspace.delete",
        details={"workspace_id": str(workspace.pk), "name": workspace.name},
    )
    workspace.delete()


@transaction.atomic
def add_member(*, workspace: Workspace, actor: User, user: User, role: str) -> Membership:
    """Give `user` a role in `workspace`."""
    if Membership.objects.filter(workspace=workspace, user=user).exists():
        raise AlreadyMember(detail=f"{user.username} is already a member.")
    membership = Membership.objects.create(workspace=workspace, user=user, role=role)
    record_audit(
        actor=actor,
        workspace=workspace,
        action="member.add",
        target=membership,
        details={"user_id": str(user.pk), "role": role},
    )
    return membership


def _lock_owners(workspace: Workspace) -> list[Membership]:
    # Lock every owner row so two concurrent demotions cannot each see "another owner remains".
    return list(Membership.objects.select_for_update().filter(workspace=workspace, role=Role.OWNER))


@transaction.atomic
def change_role(*, membership: Membership, actor: User, role: str) -> Membership:
    """Change a member's role; the last owner cannot stop being one."""
    owners = _lock_owners(membership.workspace)
    membership = Membership.objects.select_for_update().get(pk=membership.pk)
    if membership.role == Role.OWNER and role != Role.OWNER and len(owners) <= 1:
        raise LastOwner(detail="Make another member an owner first.")
    previous = membership.role
    membership.role = role
    membership.save(update_fields=["role"])
    record_audit(
        actor=actor,
        workspace=membership.workspace,
        action="member.role_change",
        target=membership,
        details={"user_id": str(membership.user_id), "from": previous, "to": role},
    )
    return membership


@transaction.atomic
def remove_member(*, membership: Membership, actor: User) -> None:
    """Remove a member; the last owner cannot be removed."""
    owners = _lock_owners(membership.workspace)
    if membership.role == Role.OWNER and len(owners) <= 1:
        raise LastOwner(detail="Make another member an owner first.")
    record_audit(
        actor=actor,
        workspace=membership.workspace,
        action="member.remove",
        target=membership,
        details={"user_id": str(membership.user_id), "role": membership.role},
    )
    membership.delete()
