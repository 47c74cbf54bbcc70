"""Connection flows: create, change, delete, test, re-seal secrets, and the demo order matcher.

Every flow writes an audit event; none of them puts a secret into it, into a log line or into an
error message. Credentials are sealed here (exchanges.crypto) and opened only by the gateway.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import ProtectedError, RestrictedError
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from accounts.models import User
from config import context
from config.problems import Problem, ValidationProblem
from exchanges import crypto
from exchanges.ccxt_gateway import describe, is_ccxt_exchange
from exchanges.exceptions import (
    ConnectionInUse,
    ConnectionSecretsUnavailable,
    ExchangeNotSupported,
    LiveTradingNotApproved,
)
from exchanges.factory import gateway_for
from exchanges.gateway import DEMO_EXCHANGE
from exchanges.models import ExchangeConnection
from workspaces.models import Workspace
from workspaces.services import record_audit

logger = logging.getLogger(__name__)

Mode = ExchangeConnection.Mode
Status = ExchangeConnection.Status


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()  # "not part of this change", as opposed to "" (clear the field)


@dataclass(frozen=True)
class ConnectionTestResult:
    """The outcome of a successful connection test (a failed one raises its problem)."""

    ok: bool
    latency_ms: int
    checked_at: datetime
    message: str


@dataclass
class RotationReport:
    """What `rotate_secrets` did: connections re-sealed, already current, and not openable."""

    key_id: str
    resealed: int = 0
    current: int = 0
    failed: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.resealed + self.current + len(self.failed)


# --------------------------------------------------------------------------- checks


def _check_venue(*, exchange: str, mode: str) -> None:
    """The exchange exists and the mode suits it; live mode is refused for now."""
    if exchange == DEMO_EXCHANGE:
        if mode != Mode.DEMO:
            raise ValidationProblem.at("/mode", "The demo exchange runs in demo mode only.")
        return
    if not is_ccxt_exchange(exchange):
        raise ValidationProblem.at(
            "/exchange", f"Unknown exchange {exchange!r}: use demo or a ccxt exchange id."
        )
    if mode == Mode.DEMO:
        raise ValidationProblem.at(
            "/mode", "Demo mode is for the demo exchange; use testnet for a ccxt exchange."
        )
    if mode == Mode.LIVE:
        # Live mode needs LIVE_TRADING_ENABLED and a second admin's approval (two-person rule,
        # SPEC §10); until approvals exist, no live connection can be made or switched to.
        raise LiveTradingNotApproved(
            "Live connections need LIVE_TRADING_ENABLED=true and a second admin's approval, "
            "which this installation does not offer yet; use testnet."
        )
    description = describe(exchange)
    if mode == Mode.TESTNET and not description.has_testnet:
        raise ExchangeNotSupported(f"{description.name} has no testnet (sandbox) in ccxt.")
    if description.unsupported_credentials:
        raise ExchangeNotSupported(
            f"{description.name} needs credentials BotMarket cannot store "
            f"({', '.join(description.unsupported_credentials)})."
        )


def _check_credentials(*, exchange: str, secrets: dict[str, str]) -> None:
    """Demo takes no credentials; a ccxt exchange takes none (public data) or all it requires."""
    if exchange == DEMO_EXCHANGE:
        for name in crypto.SECRET_FIELDS:
            if secrets.get(name):
                raise ValidationProblem.at(f"/{name}", "The demo exchange needs no credentials.")
        return
    if not any(secrets.values()):
        return
    missing = [name for name in describe(exchange).required_credentials if not secrets.get(name)]
    if missing:
        raise ValidationProblem(
            [{"pointer": f"/{name}", "detail": f"{exchange} needs this."} for name in missing]
        )


def _check_name_free(*, workspace: Workspace, name: str, exclude_pk=None) -> None:
    taken = ExchangeConnection.objects.filter(workspace=workspace, name=name)
    if exclude_pk is not None:
        taken = taken.exclude(pk=exclude_pk)
    if taken.exists():
        raise ValidationProblem.at("/name", "A connection with this name already exists.")


def _store_secrets(connection: ExchangeConnection, secrets: dict[str, str]) -> None:
    """Seal `secrets` onto the (unsaved) connection, with the key hint; clear them if empty."""
    secrets = {name: value for name, value in secrets.items() if value}
    if secrets:
        sealed = crypto.seal(secrets, connection_id=connection.pk)
        connection.encrypted_secret, connection.secret_key_id = sealed.ciphertext, sealed.key_id
    else:
        connection.encrypted_secret, connection.secret_key_id = "", ""
    connection.api_key_hint = crypto.api_key_hint(secrets.get("api_key", ""))


def _save_unique(connection: ExchangeConnection, **save_kwargs) -> None:
    # The unique constraint settles a race between two requests choosing the same name.
    try:
        with transaction.atomic():
            connection.save(**save_kwargs)
    except IntegrityError:
        raise ValidationProblem.at("/name", "A connection with this name already exists.") from None


# --------------------------------------------------------------------------- flows


@sensitive_variables("api_key", "api_secret", "passphrase", "secrets")
@transaction.atomic
def create_connection(
    *,
    workspace: Workspace,
    actor: User,
    name: str,
    exchange: str,
    mode: str,
    api_key: str = "",
    api_secret: str = "",
    passphrase: str = "",
) -> ExchangeConnection:
    """Create a connection with its credentials sealed; the caller checked the admin role."""
    name, exchange = name.strip(), exchange.strip().lower()
    secrets = {"api_key": api_key, "api_secret": api_secret, "passphrase": passphrase}
    _check_venue(exchange=exchange, mode=mode)
    _check_credentials(exchange=exchange, secrets=secrets)
    _check_name_free(workspace=workspace, name=name)
    connection = ExchangeConnection(
        workspace=workspace, name=name, exchange=exchange, mode=mode, created_by=actor
    )
    _store_secrets(connection, secrets)  # the id exists before saving: it is sealed into the AAD
    _save_unique(connection, force_insert=True)
    record_audit(
        action="connection.create",
        actor=actor,
        workspace=workspace,
        target=connection,
        details={
            "name": name,
            "exchange": exchange,
            "mode": mode,
            "credentials": sorted(name for name, value in secrets.items() if value),
        },
    )
    logger.info(
        "connection.created",
        extra={"connection_id": str(connection.pk), "exchange": exchange, "mode": mode},
    )
    return connection


@sensitive_variables("api_key", "api_secret", "passphrase", "updates")
@transaction.atomic
def update_connection(
    *,
    connection: ExchangeConnection,
    actor: User,
    name: str = UNSET,
    exchange: str = UNSET,
    mode: str = UNSET,
    api_key: str = UNSET,
    api_secret: str = UNSET,
    passphrase: str = UNSET,
) -> ExchangeConnection:
    """Rename, switch mode or replace the credentials (any credential given replaces the whole
    set; all blank removes them).

    A new mode or new credentials make the last test meaningless: status goes back to untested.
    """
    connection = ExchangeConnection.objects.select_for_update().get(pk=connection.pk)
    changed: dict[str, Any] = {}
    if exchange is not UNSET and exchange.strip().lower() != connection.exchange:
        raise ValidationProblem.at(
            "/exchange", "The exchange of a connection cannot change; create a new connection."
        )
    if name is not UNSET and name.strip() != connection.name:
        name = name.strip()
        _check_name_free(workspace=connection.workspace, name=name, exclude_pk=connection.pk)
        changed["name"] = {"from": connection.name, "to": name}
        connection.name = name
    if mode is not UNSET and mode != connection.mode:
        _check_venue(exchange=connection.exchange, mode=mode)
        changed["mode"] = {"from": connection.mode, "to": mode}
        connection.mode = mode
    updates = {"api_key": api_key, "api_secret": api_secret, "passphrase": passphrase}
    updates = {key: value for key, value in updates.items() if value is not UNSET}
    if updates:
        # Credentials are replaced as a set, never merged into the stored ones: that would mean
        # decrypting them here, and only the gateway factory decrypts. It also lets a new set
        # replace one that a lost key made unreadable.
        _check_credentials(exchange=connection.exchange, secrets=updates)
        _store_secrets(connection, updates)
        changed["credentials"] = sorted(name for name, value in updates.items() if value)
    if not changed:
        return connection
    if "mode" in changed or "credentials" in changed:
        connection.status = Status.UNTESTED
        connection.last_error = ""
        connection.last_checked_at = None
        connection.last_latency_ms = None
    _save_unique(connection)
    record_audit(
        action="connection.update",
        actor=actor,
        workspace=connection.workspace,
        target=connection,
        details=changed,
    )
    return connection


@transaction.atomic
def delete_connection(*, connection: ExchangeConnection, actor: User) -> None:
    """Delete a connection and its demo account; refused while orders or bots refer to it."""
    record_audit(
        action="connection.delete",
        actor=actor,
        workspace=connection.workspace,
        target=connection,
        details={"name": connection.name, "exchange": connection.exchange, "mode": connection.mode},
    )
    try:
        with transaction.atomic():
            connection.delete()
    except (ProtectedError, RestrictedError):  # orders protect it, bots restrict it
        raise ConnectionInUse(
            "Orders or bots still refer to this connection; remove them first."
        ) from None


def _record_test(
    connection: ExchangeConnection,
    *,
    actor: User | None,
    ok: bool,
    checked_at: datetime,
    latency_ms: int,
    message: str,
    code: str = "",
) -> None:
    """Store a test's outcome on the connection, unless its mode or credentials changed meanwhile
    (the outcome belongs to the credentials that were tested)."""
    values = {
        "status": Status.OK if ok else Status.FAILED,
        "last_checked_at": checked_at,
        "last_error": "" if ok else message[:500],
        "last_latency_ms": latency_ms,
    }
    with transaction.atomic():
        stored = ExchangeConnection.objects.filter(
            pk=connection.pk, mode=connection.mode, encrypted_secret=connection.encrypted_secret
        ).update(**values)
        if stored:
            for key, value in values.items():
                setattr(connection, key, value)
        record_audit(
            action="connection.test",
            actor=actor,
            workspace=connection.workspace,
            target=connection,
            details={"ok": ok, "latency_ms": latency_ms, "code": code},
        )


def test_connection(*, connection: ExchangeConnection, actor: User | None) -> ConnectionTestResult:
    """Reach the venue with the connection's credentials and store the outcome.

    Loads the markets and, with credentials, the balance (the call that proves the key). A
    failure is stored (status failed, last_error) and then raised as its problem
    (exchange-auth-failed, exchange-unreachable, exchange-rate-limited …). Runs outside any
    transaction: the exchange may take seconds to answer.
    """
    checked_at = timezone.now()
    started = time.monotonic()
    try:
        with gateway_for(connection) as gateway:
            markets = gateway.load_markets()
            balance = gateway.fetch_balance() if gateway.has_credentials else None
    except Exception as exc:
        latency_ms = int((time.monotonic() - started) * 1000)
        if isinstance(exc, Problem):
            message, code = exc.detail_text, exc.code
        else:
            logger.exception("connection.test_crashed", extra={"connection_id": str(connection.pk)})
            message = (
                "The test failed unexpectedly; operators can find it by request id "
                f"{context.current_request_id() or '-'}."
            )
            code = "internal-error"
        _record_test(
            connection,
            actor=actor,
            ok=False,
            checked_at=checked_at,
            latency_ms=latency_ms,
            message=message,
            code=code,
        )
        raise
    latency_ms = int((time.monotonic() - started) * 1000)
    if connection.exchange == DEMO_EXCHANGE:
        usdt = balance["free"].get("USDT", 0) if balance else 0
        message = f"The demo exchange is ready: {len(markets)} markets, {usdt} USDT free."
    elif balance is not None:
        message = (
            f"Connected to {connection.exchange}: {len(markets)} markets; the API key reads "
            f"the balance ({len(balance['total'])} assets)."
        )
    else:
        message = (
            f"Connected to {connection.exchange}: {len(markets)} markets. Without an API key "
            "only market data is available."
        )
    _record_test(
        connection,
        actor=actor,
        ok=True,
        checked_at=checked_at,
        latency_ms=latency_ms,
        message=message,
    )
    return ConnectionTestResult(
        ok=True, latency_ms=latency_ms, checked_at=checked_at, message=message
    )


@sensitive_variables("secrets")
def rotate_secrets(*, actor: User | None = None) -> RotationReport:
    """Re-seal every connection's credentials under the current SECRET_ENCRYPTION_KEY.

    Idempotent: connections already sealed with the current key are left alone. Those that no
    configured key opens are counted as failed (by id) and left unchanged. One audit event.
    """
    key_id, _raw = crypto.current_key()
    report = RotationReport(key_id=key_id)
    sealed_ids = (
        ExchangeConnection.objects.exclude(encrypted_secret="")
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    for pk in list(sealed_ids):
        with transaction.atomic():
            # Locked: a concurrent credentials change must not be overwritten by the old ones.
            connection = ExchangeConnection.objects.select_for_update().filter(pk=pk).first()
            if connection is None or not connection.encrypted_secret:
                continue
            if connection.secret_key_id == key_id:
                report.current += 1
                continue
            try:
                secrets = crypto.unseal(
                    connection.encrypted_secret,
                    sealed_key_id=connection.secret_key_id,
                    connection_id=connection.pk,
                )
            except ConnectionSecretsUnavailable:
                report.failed.append(str(pk))
                continue
            sealed = crypto.seal(secrets, connection_id=connection.pk)
            connection.encrypted_secret, connection.secret_key_id = sealed.ciphertext, sealed.key_id
            # update_fields without updated_at: re-sealing is not a change users made.
            connection.save(update_fields=["encrypted_secret", "secret_key_id"])
            report.resealed += 1
    record_audit(
        action="secrets.rotate",
        actor=actor,
        details={
            "key_id": key_id,
            "resealed": report.resealed,
            "current": report.current,
            "failed": report.failed,
        },
    )
    logger.info(
        "secrets.rotated",
        extra={
            "resealed": report.resealed,
            "current": report.current,
            "failed": len(report.failed),
        },
    )
    return report


def match_demo_orders(*, now_ms: int | None = None) -> int:
    """Fill the demo exchange's resting limit orders the feed crossed; return how many filled."""
    from exchanges.demo.venue import match_open_orders

    return match_open_orders(now_ms=now_ms)


test_connection.__test__ = False  # a service named test_…: not a test for pytest to collect
