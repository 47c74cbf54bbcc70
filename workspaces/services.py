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
from config.problems import Problem
from workspaces.exceptions import AlreadyMember, LastOwner, NotAWorkspaceMember, RoleRequired
from workspaces.models import ROLE_RANK, AuditEvent, Membership, Role, Workspace

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
def create_workspace(*, name: str, owner: User, operator: bool = False) -> Workspace:
    """Create a workspace with `owner` as its first owner."""
    workspace = Workspace.objects.create(name=name, created_by=owner)
    Membership.objects.create(workspace=workspace, user=owner, role=Role.OWNER)
    record_audit(
        actor=owner,
        workspace=workspace,
        action="workspace.create",
        target=workspace,
        details=_via(operator),
    )
    return workspace


# --------------------------------------------------------------------------- who may do what


def _via(operator: bool, **details: Any) -> dict[str, Any]:
    # Audit rows of the operator console say so: the actor need not be a member.
    return {**details, "via": "admin"} if operator else details


def acting_role(*, workspace: Workspace, actor: User | None, operator: bool = False) -> str:
    """The role `actor` acts with in `workspace`.

    `operator=True` is the operator console (admin site, staff only): it acts with an owner's
    authority in every workspace; the workspace's own rules (the last owner stays) still hold.
    """
    if operator:
        return Role.OWNER
    membership = Membership.objects.filter(workspace=workspace, user=actor).first()
    if membership is None:
        raise NotAWorkspaceMember(detail="You are not a member of this workspace.")
    return membership.role


def _require(*, workspace: Workspace, actor: User | None, role: str, operator: bool) -> str:
    acting = acting_role(workspace=workspace, actor=actor, operator=operator)
    if ROLE_RANK[Role(acting)] < ROLE_RANK[Role(role)]:
        raise RoleRequired(detail=f"This needs the {role} role or higher; you are {acting}.")
    return acting


# Each refusal below is computed in one function, used both by the write (under lock) and by
# `*_problem` for forms that show it before saving. Nobody hands out, changes or removes more
# power than they hold themselves.


def _grant_refusal(acting: str, role: str) -> Problem | None:
    if ROLE_RANK[Role(role)] > ROLE_RANK[Role(acting)]:
        return RoleRequired(detail=f"As {acting} you cannot grant {role}.")
    return None


def _role_change_refusal(acting: str, current: str, role: str, owners: int) -> Problem | None:
    if ROLE_RANK[Role(current)] > ROLE_RANK[Role(acting)]:
        return RoleRequired(detail=f"As {acting} you cannot change a member who is {current}.")
    if refusal := _grant_refusal(acting, role):
        return refusal
    if current == Role.OWNER and role != Role.OWNER and owners <= 1:
        return LastOwner(detail="Make another member an owner first.")
    return None


def _removal_refusal(acting: str, current: str, owners: int) -> Problem | None:
    if ROLE_RANK[Role(current)] > ROLE_RANK[Role(acting)]:
        return RoleRequired(detail=f"As {acting} you cannot remove a member who is {current}.")
    if current == Role.OWNER and owners <= 1:
        return LastOwner(detail="Make another member an owner first.")
    return None


def _owner_count(workspace: Workspace) -> int:
    return Membership.objects.filter(workspace=workspace, role=Role.OWNER).count()


def role_change_problem(
    *, membership: Membership, role: str, actor: User | None = None, operator: bool = False
) -> Problem | None:
    """What `change_member_role` would refuse now, without changing anything (for forms)."""
    try:
        acting = _require(
            workspace=membership.workspace, actor=actor, role=Role.ADMIN, operator=operator
        )
    except Problem as refusal:
        return refusal
    current = Membership.objects.get(pk=membership.pk).role  # the stored role, not a form's
    return _role_change_refusal(acting, current, role, _owner_count(membership.workspace))


def removal_problem(
    *, membership: Membership, actor: User | None = None, operator: bool = False
) -> Problem | None:
    """What `remove_member` would refuse now, without changing anything (for forms)."""
    try:
        acting = _require(
            workspace=membership.workspace, actor=actor, role=Role.ADMIN, operator=operator
        )
    except Problem as refusal:
        return refusal
    current = Membership.objects.get(pk=membership.pk).role
    return _removal_refusal(acting, current, _owner_count(membership.workspace))


def _lock_owners(workspace: Workspace) -> list[Membership]:
    # Lock every owner row so two concurrent demotions cannot each see "another owner remains".
    return list(Membership.objects.select_for_update().filter(workspace=workspace, role=Role.OWNER))


# --------------------------------------------------------------------------- workspace


@transaction.atomic
def rename_workspace(
    *, workspace: Workspace, actor: User, name: str, operator: bool = False
) -> Workspace:
    """Rename a workspace; admins and owners only."""
    _require(workspace=workspace, actor=actor, role=Role.ADMIN, operator=operator)
    # Re-read under lock: the caller's instance may already carry the new name (admin forms).
    stored = Workspace.objects.select_for_update().get(pk=workspace.pk)
    previous = stored.name
    workspace.name = stored.name = name
    stored.save(update_fields=["name"])
    record_audit(
        actor=actor,
        workspace=workspace,
        action="workspace.update",
        target=stored,
        details=_via(operator, name={"from": previous, "to": name}),
    )
    return stored


@transaction.atomic
def delete_workspace(*, workspace: Workspace, actor: User, operator: bool = False) -> None:
    """Delete a workspace and everything it owns; owners only. The trail keeps a
    workspace-less record of it."""
    _require(workspace=workspace, actor=actor, role=Role.OWNER, operator=operator)
    record_audit(
        actor=actor,
        action="workspace.delete",
        details=_via(operator, workspace_id=str(workspace.pk), name=workspace.name),
    )
    workspace.delete()


# --------------------------------------------------------------------------- members


@transaction.atomic
def add_member(
    *, workspace: Workspace, actor: User, user: User, role: str, operator: bool = False
) -> Membership:
    """Give `user` a role in `workspace`: admins and owners add members, at most with their
    own role (only an owner makes owners)."""
    acting = _require(workspace=workspace, actor=actor, role=Role.ADMIN, operator=operator)
    if refusal := _grant_refusal(acting, role):
        raise refusal
    if Membership.objects.filter(workspace=workspace, user=user).exists():
        raise AlreadyMember(detail=f"{user.username} is already a member.")
    membership = Membership.objects.create(workspace=workspace, user=user, role=role)
    record_audit(
        actor=actor,
        workspace=workspace,
        action="member.add",
        target=membership,
        details=_via(operator, user_id=str(user.pk), role=role),
    )
    return membership


@transaction.atomic
def change_member_role(
    *, membership: Membership, actor: User, role: str, operator: bool = False
) -> Membership:
    """Change a member's role. Admins and owners change members whose role is at most their
    own, to a role at most their own; the last owner cannot stop being one."""
    workspace = membership.workspace
    acting = _require(workspace=workspace, actor=actor, role=Role.ADMIN, operator=operator)
    owners = _lock_owners(workspace)
    membership = Membership.objects.select_for_update().get(pk=membership.pk)
    if refusal := _role_change_refusal(acting, membership.role, role, len(owners)):
        raise refusal
    previous = membership.role
    membership.role = role
    membership.save(update_fields=["role"])
    record_audit(
        actor=actor,
        workspace=workspace,
        action="member.role_change",
        target=membership,
        details=_via(operator, user_id=str(membership.user_id), **{"from": previous, "to": role}),
    )
    return membership


@transaction.atomic
def remove_member(*, membership: Membership, actor: User, operator: bool = False) -> None:
    """Remove a member. Admins and owners remove members whose role is at most their own; the
    last owner cannot be removed."""
    workspace = membership.workspace
    acting = _require(workspace=workspace, actor=actor, role=Role.ADMIN, operator=operator)
    owners = _lock_owners(workspace)
    membership = Membership.objects.select_for_update().get(pk=membership.pk)
    if refusal := _removal_refusal(acting, membership.role, len(owners)):
        raise refusal
    record_audit(
        actor=actor,
        workspace=workspace,
        action="member.remove",
        target=membership,
        details=_via(operator, user_id=str(membership.user_id), role=membership.role),
    )
    membership.delete()
