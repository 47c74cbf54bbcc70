"""Placing and canceling orders: the one way an order reaches a venue.

The terminal's API and the bots' ticks both call `place_order`. Placing an order, in order:

1. The idempotency key becomes the client order id, `bm` + 32 hex digits of
   SHA-256(workspace id ":" key): scoped to the workspace, short and plain enough for every
   venue (Binance takes 36 characters of [A-Za-z0-9_-]). A person's key is the request's
   `Idempotency-Key` header (or body `client_order_id`); a bot's tick derives its key from
   (run, candle, intent), so the same tick run twice names the same order.
2. HOLD (423), then the market's precision and limits (exchanges.orders.check_order: 400 with
   pointers).
3. The journal row is committed, holding a short lease on the sending, BEFORE the venue is
   called. If the key is in the journal already (the unique constraint refuses the row, or a
   check in 2 failed), the call is a retry: the same body gets the original order back (or
   its refusal again), a different body IdempotencyKeyReused (422), and an order that another
   call is still sending IdempotencyConflictInProgress (409).
4. A crash after that leaves a row that the next retry, or the periodic refresh
   (terminal.services.refresh), reconciles by its client order id; the venues are idempotent
   on it, so a retry never places twice.
5. The venue checks what needs its price and the account (a market order's minimum notional,
   the free balance): its refusal (400, e.g. insufficient-funds at `/amount`) is journaled as a
   `rejected` order and answered again to a retry with the same key.
6. The venue's answer acknowledges the row (or rejects it) through `transition`.

Callers must not hold a database transaction: the journal row has to be committed before the
venue sees the order.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import time
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from django.db import IntegrityError, transaction

from accounts.models import User
from config.problems import Problem
from exchanges.exceptions import (
    ExchangeAuthFailed,
    ExchangeNotSupported,
    InsufficientFunds,
    InvalidOrder,
    OrderNotFound,
    OrderNotOpen,
    UnknownSymbol,
)
from exchanges.factory import gateway_for
from exchanges.gateway import Gateway
from exchanges.models import ExchangeConnection
from exchanges.numbers import plain_decimal, tidy
from exchanges.orders import check_order
from terminal import selectors
from terminal.exceptions import (
    IdempotencyConflictInProgress,
    IdempotencyKeyReused,
    OrderInProgress,
    OrderNotPlaced,
    ReplayedProblem,
    problem_record,
)
from terminal.metrics import ORDER_CYCLE_SECONDS, ORDERS_SUBMITTED
from terminal.models import Order
from terminal.services.journal import (
    acknowledge,
    apply_venue,
    claim_lease,
    find_at_venue,
    lease_until,
    reject,
    release_lease,
)
from workspaces.exceptions import WorkspaceOnHold
from workspaces.models import Workspace
from workspaces.services import record_audit

if TYPE_CHECKING:
    from bots.models import BotRun

logger = logging.getLogger(__name__)

# Refusals that settle an order for good: the venue looked at it and said no (or could not be
# asked at all). Anything else (unreachable, rate limited, a 5xx) leaves the outcome unknown.
_REFUSALS = (
    InvalidOrder,
    InsufficientFunds,
    UnknownSymbol,
    ExchangeAuthFailed,
    ExchangeNotSupported,
)


@dataclass(frozen=True)
class Placement:
    """The outcome of `place_order`: the order, and whether it was an earlier call's."""

    order: Order
    replayed: bool


# --------------------------------------------------------------------------- keys


def derive_client_order_id(*, workspace_id: uuid.UUID | str, key: str) -> str:
    """The client order id of idempotency key `key` in a workspace (see the module docstring)."""
    digest = hashlib.sha256(f"{workspace_id}:{key}".encode()).hexdigest()
    return f"bm{digest[:32]}"


def request_fingerprint(
    *,
    connection_id: uuid.UUID | str,
    symbol: str,
    side: str,
    type: str,
    amount: Decimal,
    price: Decimal | None,
) -> str:
    """SHA-256 of the order's canonical body: "0.10" and "0.1" are the same amount."""
    body = {
        "connection": str(connection_id),
        "symbol": symbol,
        "side": side,
        "type": type,
        "amount": plain_decimal(amount),
        "price": plain_decimal(price) if price is not None else None,
    }
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


# --------------------------------------------------------------------------- placing


def _check_not_on_hold(workspace: Workspace) -> None:
    # The caller read the workspace moments ago; a HOLD set since then is a race no check can
    # close, and the status app's HOLD also stops bots at their source.
    if workspace.on_hold:
        raise WorkspaceOnHold(
            "Trading in this workspace is on HOLD; new orders are refused until it is resumed."
        )


def _journal(
    *,
    workspace: Workspace,
    actor: User | None,
    connection: ExchangeConnection,
    key: str,
    client_order_id: str,
    fingerprint: str,
    origin: str,
    bot_run: BotRun | None,
    symbol: str,
    side: str,
    order_type: str,
    amount: Decimal,
    price: Decimal | None,
) -> tuple[Order, bool]:
    """Commit the journal row and its audit event; (the twin's row, False) if one came first."""
    try:
        with transaction.atomic():
            order = Order.objects.create(
                workspace=workspace,
                connection=connection,
                origin=origin,
                bot_run=bot_run,
                client_order_id=client_order_id,
                idempotency_key=key,
                request_fingerprint=fingerprint,
                symbol=symbol,
                side=side,
                type=order_type,
                amount=amount,
                price=price,
                submit_lease_until=lease_until(),
                created_by=actor,
            )
            record_audit(
                action="order.place",
                actor=actor,
                workspace=workspace,
                target=order,
                details={
                    "connection_id": str(connection.pk),
                    "client_order_id": client_order_id,
                    "origin": origin,
                    "symbol": symbol,
                    "side": side,
                    "type": order_type,
                    "amount": plain_decimal(amount),
                    "price": plain_decimal(price) if price is not None else None,
                    **({"bot_run_id": str(bot_run.pk)} if bot_run is not None else {}),
                },
            )
    except IntegrityError:
        # A concurrent call with the same key inserted first (the unique constraint).
        existing = selectors.order_by_key(workspace=workspace, client_order_id=client_order_id)
        if existing is None:
            raise
        return existing, False
    return order, True


def place_order(
    *,
    workspace: Workspace,
    actor: User | None,
    connection: ExchangeConnection,
    symbol: str,
    side: str,
    order_type: str,
    amount: Decimal,
    price: Decimal | None,
    idempotency_key: str,
    origin: str = Order.Origin.MANUAL,
    bot_run: BotRun | None = None,
    gateway: Gateway | None = None,
) -> Placement:
    """Place an order through the connection's venue, exactly once per idempotency key.

    The only way an order is placed. `connection` must belong to `workspace`; `actor` is the
    person placing it (None for a bot's tick: the run's starter is on the run). The journal row
    records `origin` and the client order id derived from `idempotency_key`. A caller that
    needs a deterministic client order id supplies a deterministic key: a bot's tick passes
    e.g. `idempotency_key=f"run:{run.pk}:{candle_ts}:{intent}"` with `origin=Order.Origin.BOT`,
    so a tick that runs again finds its order instead of placing another one, and `bot_run`
    (recorded on the row). `gateway` is the venue to send through, already open for
    `connection` and left open for the caller (a bot's runtime passes its own, whose clock and
    prices a replay drives); by default the connection's `gateway_for`. See the module
    docstring for the steps and the problems raised; gateway problems (unreachable, rate
    limited …) pass through and leave the journal row for a retry with the same key.
    """
    origin = Order.Origin(origin)  # ValueError for a caller's typo, before anything is written
    amount = tidy(amount)
    price = tidy(price) if price is not None else None
    client_order_id = derive_client_order_id(workspace_id=workspace.pk, key=idempotency_key)
    fingerprint = request_fingerprint(
        connection_id=connection.pk,
        symbol=symbol,
        side=side,
        type=order_type,
        amount=amount,
        price=price,
    )
    # A caller's gateway stays open for the caller; one opened here is closed here.
    opened = contextlib.nullcontext(gateway) if gateway is not None else gateway_for(connection)
    with opened as gateway:
        try:
            _check_not_on_hold(workspace)
            check_order(
                gateway.market(symbol), side=side, order_type=order_type, amount=amount, price=price
            )
        except Problem:
            # A retry of an order placed before (and HOLD since, or its funds spent) still gets
            # its order: the key is looked up only when the call would be refused, which keeps
            # the first attempt of every order one query shorter.
            existing = selectors.order_by_key(workspace=workspace, client_order_id=client_order_id)
            if existing is not None:
                return _replay(existing, fingerprint=fingerprint, gateway=gateway)
            raise
        order, created = _journal(
            workspace=workspace,
            actor=actor,
            connection=connection,
            key=idempotency_key,
            client_order_id=client_order_id,
            fingerprint=fingerprint,
            origin=origin,
            bot_run=bot_run,
            symbol=symbol,
            side=side,
            order_type=order_type,
            amount=amount,
            price=price,
        )
        if not created:  # the key was used before: the unique constraint said so
            return _replay(order, fingerprint=fingerprint, gateway=gateway)
        return Placement(_submit(order, gateway), replayed=False)


def _replay(order: Order, *, fingerprint: str, gateway: Gateway) -> Placement:
    """Answer a retry of `order`'s key: the same order, its refusal, or the sending resumed.

    `gateway` is the one the caller holds for the order's connection (the fingerprint, which
    names the connection, matched before it is used).
    """
    if order.request_fingerprint != fingerprint:
        raise IdempotencyKeyReused(
            "This idempotency key was used for an order with a different body; "
            "use a new key for a new order."
        )
    if order.status == Order.Status.REJECTED:
        raise ReplayedProblem(order.rejection or problem_record(OrderNotPlaced()))
    if order.acknowledged_at is not None:
        return Placement(order, replayed=True)
    if not claim_lease(order):
        order.refresh_from_db()
        if order.status == Order.Status.REJECTED:
            raise ReplayedProblem(order.rejection or problem_record(OrderNotPlaced()))
        if order.acknowledged_at is not None:
            return Placement(order, replayed=True)
        raise IdempotencyConflictInProgress(
            "Another request with this idempotency key is placing the order; retry shortly."
        )
    # The first attempt crashed or got no answer: find it at the venue, else send it now.
    try:
        venue = find_at_venue(order, gateway)
        if venue is not None:
            return Placement(acknowledge(order, venue), replayed=True)
        _check_not_on_hold(order.workspace)
        return Placement(_submit(order, gateway), replayed=True)
    except BaseException:
        release_lease(order)
        raise


def _submit(order: Order, gateway: Gateway) -> Order:
    """Send the journaled `order` (its lease held by the caller) and record the answer."""
    labels = {"exchange": gateway.exchange_id, "type": order.type}
    started = time.perf_counter()
    try:
        venue = gateway.create_order(
            order.symbol,
            order.type,
            order.side,
            order.amount,
            order.price,
            params={"clientOrderId": order.client_order_id},
        )
    except _REFUSALS as exc:
        ORDER_CYCLE_SECONDS.labels(**labels).observe(time.perf_counter() - started)
        ORDERS_SUBMITTED.labels(**labels, outcome="rejected").inc()
        reject(order, exc)
        logger.info(
            "order.rejected",
            extra={"order_id": str(order.pk), "code": exc.code, "symbol": order.symbol},
        )
        raise
    except BaseException:
        ORDERS_SUBMITTED.labels(**labels, outcome="unknown").inc()
        release_lease(order)
        logger.warning("order.submit_unanswered", extra={"order_id": str(order.pk)})
        raise
    ORDER_CYCLE_SECONDS.labels(**labels).observe(time.perf_counter() - started)
    ORDERS_SUBMITTED.labels(**labels, outcome="accepted").inc()
    order = acknowledge(order, venue)
    logger.info(
        "order.placed",
        extra={
            "order_id": str(order.pk),
            "exchange_order_id": order.exchange_order_id,
            "status": order.status,
            "symbol": order.symbol,
            "origin": order.origin,
        },
    )
    return order


# --------------------------------------------------------------------------- canceling


def cancel_order(*, order: Order, actor: User | None, gateway: Gateway | None = None) -> Order:
    """Cancel an open, acknowledged order at its venue and record it.

    OrderNotOpen (409) if it has finished (also when it filled at the venue meanwhile: the
    journal is brought up to date first), OrderInProgress (409) while it is still being placed.
    `gateway` is the venue the order was placed through, as for `place_order` (a bot's runtime
    passes its own); by default the connection's `gateway_for`.
    """
    if order.is_terminal:
        raise OrderNotOpen(f"The order is {order.status}; only open orders can be canceled.")
    if order.acknowledged_at is None or not order.exchange_order_id:
        raise OrderInProgress("The exchange has not acknowledged the order yet; retry shortly.")
    opened = (
        contextlib.nullcontext(gateway) if gateway is not None else gateway_for(order.connection)
    )
    with opened as gateway:
        try:
            venue = gateway.cancel_order(order.exchange_order_id, order.symbol)
        except (OrderNotOpen, OrderNotFound):
            order = apply_venue(order, gateway.fetch_order(order.exchange_order_id, order.symbol))
            raise OrderNotOpen(
                f"The order is {order.status} at the exchange; only open orders can be canceled."
            ) from None
    order = apply_venue(order, venue)
    record_audit(
        action="order.cancel",
        actor=actor,
        workspace=order.workspace,
        target=order,
        details={
            "client_order_id": order.client_order_id,
            "exchange_order_id": order.exchange_order_id,
            "status": order.status,
            "filled": plain_decimal(order.filled),
        },
    )
    logger.info("order.canceled", extra={"order_id": str(order.pk), "status": order.status})
    return order
