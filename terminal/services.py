"""Order flows of the terminal: place (idempotent, journaled before sending), cancel, refresh.

Placing an order, in order:

1. The idempotency key (header `Idempotency-Key` or body `client_order_id`) becomes the client
   order id, `bm` + 32 hex digits of SHA-256(workspace id ":" key): scoped to the workspace,
   short and plain enough for every venue (Binance takes 36 characters of [A-Za-z0-9_-]).
2. HOLD (423), then the market's precision and limits (400 with pointers).
3. The journal row is committed, holding a short lease on the sending, BEFORE the venue is
   called. If the key is in the journal already (the unique constraint refuses the row, or a
   check in 2 failed), the request is a retry: the same body gets the original order back (or
   its refusal again), a different body IdempotencyKeyReused (422), and an order that another
   request is still sending IdempotencyConflictInProgress (409).
4. A crash after that leaves a row the next retry or read reconciles by its client
   order id; the venues are idempotent on it, so a retry never places twice.
5. The venue checks what needs its price and the account (a market order's minimum notional,
   the free balance): its refusal (400, e.g. insufficient-funds at `/amount`) is journaled as a
   `rejected` order and answered again to a retry with the same key.
6. The venue's answer acknowledges the row (or rejects it) through `transition`.

Callers must not hold a database transaction: the journal row has to be committed before the
venue sees the order.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import User
from config import context
from config.problems import Problem, ValidationProblem
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
from exchanges.numbers import is_multiple, tidy, to_decimal
from terminal import selectors
from terminal.exceptions import (
    IdempotencyConflictInProgress,
    IdempotencyKeyReused,
    IllegalOrderTransition,
    OrderInProgress,
    OrderNotPlaced,
    ReplayedProblem,
    problem_record,
)
from terminal.metrics import ORDER_CYCLE_SECONDS, ORDERS_SUBMITTED
from terminal.models import TERMINAL_ORDER_STATUSES, Order, OrderEvent
from terminal.positions import Fill, net_positions
from workspaces.exceptions import WorkspaceOnHold
from workspaces.models import Workspace
from workspaces.services import record_audit

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

# The journal's transitions: an open order may move on (or get more fills); a finished one never.
ALLOWED_TRANSITIONS: dict[str, set[str]] = {
    Order.Status.OPEN: {s.value for s in Order.Status},
    Order.Status.CLOSED: set(),
    Order.Status.CANCELED: set(),
    Order.Status.EXPIRED: set(),
    Order.Status.REJECTED: set(),
}


@dataclass(frozen=True)
class Placement:
    """The outcome of `place_order`: the order, and whether it was an earlier request's."""

    order: Order
    replayed: bool


# --------------------------------------------------------------------------- keys


def derive_client_order_id(*, workspace_id: uuid.UUID | str, key: str) -> str:
    """The client order id of idempotency key `key` in a workspace (see the module docstring)."""
    digest = hashlib.sha256(f"{workspace_id}:{key}".encode()).hexdigest()
    return f"bm{digest[:32]}"


def _number(value: Decimal | None) -> str | None:
    return None if value is None else str(tidy(value))


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
        "amount": _number(amount),
        "price": _number(price),
    }
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


# --------------------------------------------------------------------------- the journal


def _venue_changes(order: Order, venue: dict[str, Any]) -> dict[str, Any]:
    """The journal fields the venue's copy of `order` says, for `transition`."""
    changes: dict[str, Any] = {}
    if venue.get("id"):
        changes["exchange_order_id"] = str(venue["id"])
    filled = to_decimal(venue.get("filled"))
    if filled is not None:
        changes["filled"] = max(filled, order.filled)  # fills never go back
    average = to_decimal(venue.get("average"))
    if average is not None:
        changes["average"] = average
    fee = venue.get("fee") or {}
    fee_cost = to_decimal(fee.get("cost"))
    if fee_cost is not None:
        changes["fee"] = fee_cost
        changes["fee_currency"] = fee.get("currency") or ""
    return changes


def _venue_status(order: Order, venue: dict[str, Any]) -> str:
    status = venue.get("status")
    return status if status in Order.Status.values else order.status


@transaction.atomic
def transition(
    order: Order, to: str, *, changes: dict[str, Any] | None = None, message: str = ""
) -> Order:
    """Move `order` to status `to` with `changes`, and record an OrderEvent when it moved.

    Locks the row. A finished order keeps its status (IllegalOrderTransition for another one;
    the same status again changes nothing, as when two readers refresh it at once).
    """
    order = Order.objects.select_for_update().get(pk=order.pk)
    previous_status, previous_filled = order.status, order.filled
    if to != order.status and to not in ALLOWED_TRANSITIONS[order.status]:
        raise IllegalOrderTransition(f"The order is {order.status}; it cannot become {to}.")
    if order.status in TERMINAL_ORDER_STATUSES:
        return order
    fields = {"status", "updated_at"}
    order.status = to
    for name, value in (changes or {}).items():
        setattr(order, name, value)
        fields.add(name)
    order.save(update_fields=sorted(fields))
    if order.status != previous_status or order.filled != previous_filled or message:
        OrderEvent.objects.create(
            order=order,
            from_status=previous_status,
            to_status=order.status,
            filled=order.filled,
            message=message[:500],
            request_id=context.current_request_id() or "",
        )
    return order


def _acknowledge(order: Order, venue: dict[str, Any]) -> Order:
    """Record the venue's acceptance of `order` (its id, status and fills so far)."""
    changes = _venue_changes(order, venue)
    changes["submit_lease_until"] = None
    changes["acknowledged_at"] = timezone.now()
    return transition(order, _venue_status(order, venue), changes=changes, message="acknowledged")


def _reject(order: Order, problem: Problem) -> Order:
    """Record that `order` was refused (or never placed) with `problem`, kept for retries."""
    return transition(
        order,
        Order.Status.REJECTED,
        changes={
            "rejection": problem_record(problem),
            "submit_lease_until": None,
            "acknowledged_at": order.acknowledged_at or timezone.now(),
        },
        message=problem.detail_text,
    )


def _apply_venue(order: Order, venue: dict[str, Any]) -> Order:
    """Bring an acknowledged `order` in line with the venue's copy; write only on a change."""
    status = _venue_status(order, venue)
    changes = _venue_changes(order, venue)
    if status == order.status and all(getattr(order, k) == v for k, v in changes.items()):
        return order
    return transition(order, status, changes=changes)


def _lease_until():
    return timezone.now() + timedelta(seconds=settings.TERMINAL_SUBMIT_LEASE_SECONDS)


def _claim_lease(order: Order) -> bool:
    """Take over the sending of an unacknowledged order unless another request holds it."""
    now = timezone.now()
    claimed = (
        Order.objects.filter(pk=order.pk, acknowledged_at__isnull=True, status=Order.Status.OPEN)
        .filter(Q(submit_lease_until__isnull=True) | Q(submit_lease_until__lt=now))
        .update(submit_lease_until=_lease_until())
    )
    return claimed == 1


def _release_lease(order: Order) -> None:
    # The outcome is unknown (no answer): the next retry may look it up and send it again.
    Order.objects.filter(pk=order.pk, acknowledged_at__isnull=True).update(submit_lease_until=None)


def _journal(
    *,
    workspace: Workspace,
    actor: User,
    connection: ExchangeConnection,
    key: str,
    client_order_id: str,
    fingerprint: str,
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
                client_order_id=client_order_id,
                idempotency_key=key,
                request_fingerprint=fingerprint,
                symbol=symbol,
                side=side,
                type=order_type,
                amount=amount,
                price=price,
                submit_lease_until=_lease_until(),
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
                    "symbol": symbol,
                    "side": side,
                    "type": order_type,
                    "amount": _number(amount),
                    "price": _number(price),
                },
            )
    except IntegrityError:
        # A concurrent request with the same key inserted first (the unique constraint).
        existing = selectors.order_by_key(workspace=workspace, client_order_id=client_order_id)
        if existing is None:
            raise
        return existing, False
    return order, True


# --------------------------------------------------------------------------- placing


def _check_not_on_hold(workspace: Workspace) -> None:
    # The request read the workspace (with the membership) moments ago; a HOLD set since then
    # is a race no check can close, and the status app's HOLD also stops bots at their source.
    if workspace.on_hold:
        raise WorkspaceOnHold(
            "Trading in this workspace is on HOLD; new orders are refused until it is resumed."
        )


def _limit(market: dict[str, Any], name: str, bound: str) -> Decimal | None:
    return to_decimal(((market.get("limits") or {}).get(name) or {}).get(bound))


def _check_order(
    market: dict[str, Any],
    *,
    order_type: str,
    amount: Decimal,
    price: Decimal | None,
) -> None:
    """The market's precision and limits, with every field's error at once (400 with pointers).

    What needs the market's price or the account (a market order's notional, the free
    balance) is the venue's to check: it is the authority on both (a balance may be spent by a
    concurrent order meanwhile), and asking it twice would double the order's round trips.
    """
    base, quote = market.get("base") or "", market.get("quote") or ""
    precision = market.get("precision") or {}
    amount_step = to_decimal(precision.get("amount"))
    price_step = to_decimal(precision.get("price"))
    errors: list[dict[str, str]] = []

    def error(pointer: str, detail: str) -> None:
        errors.append({"pointer": pointer, "detail": detail})

    if order_type == Order.Type.LIMIT and price is None:
        error("/price", "A limit order needs a price.")
    if order_type == Order.Type.MARKET and price is not None:
        error("/price", "A market order takes no price; leave it out.")
    if amount_step and not is_multiple(amount, amount_step):
        error("/amount", f"The amount must be a multiple of {tidy(amount_step)} {base}.")
    min_amount, max_amount = _limit(market, "amount", "min"), _limit(market, "amount", "max")
    if min_amount and amount < min_amount:
        error("/amount", f"The amount must be at least {tidy(min_amount)} {base}.")
    if max_amount and amount > max_amount:
        error("/amount", f"The amount must be at most {tidy(max_amount)} {base}.")
    if price is not None and price_step and not is_multiple(price, price_step):
        error("/price", f"The price must be a multiple of {tidy(price_step)} {quote}.")
    min_notional = _limit(market, "cost", "min")
    if not errors and price is not None and min_notional and amount * price < min_notional:
        error(
            "/amount",
            f"The order is worth {tidy(amount * price)} {quote}; the minimum is "
            f"{tidy(min_notional)} {quote}.",
        )
    if errors:
        raise ValidationProblem(errors)


def place_order(
    *,
    workspace: Workspace,
    actor: User,
    connection: ExchangeConnection,
    symbol: str,
    side: str,
    order_type: str,
    amount: Decimal,
    price: Decimal | None,
    idempotency_key: str,
) -> Placement:
    """Place an order through the connection's venue, exactly once per idempotency key.

    `connection` must belong to `workspace`. See the module docstring for the steps and the
    problems raised; gateway problems (unreachable, rate limited …) pass through and leave the
    journal row for a retry with the same key.
    """
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
    with gateway_for(connection) as gateway:
        try:
            _check_not_on_hold(workspace)
            _check_order(gateway.market(symbol), order_type=order_type, amount=amount, price=price)
        except Problem:
            # A retry of an order placed before (and HOLD since, or its funds spent) still gets
            # its order: the key is looked up only when the request would be refused, which
            # keeps the first attempt of every order one query shorter.
            existing = selectors.order_by_key(workspace=workspace, client_order_id=client_order_id)
            if existing is not None:
                return _replay(existing, fingerprint=fingerprint)
            raise
        order, created = _journal(
            workspace=workspace,
            actor=actor,
            connection=connection,
            key=idempotency_key,
            client_order_id=client_order_id,
            fingerprint=fingerprint,
            symbol=symbol,
            side=side,
            order_type=order_type,
            amount=amount,
            price=price,
        )
        if not created:  # the key was used before: the unique constraint said so
            return _replay(order, fingerprint=fingerprint)
        return Placement(_submit(order, gateway), replayed=False)


def _replay(order: Order, *, fingerprint: str) -> Placement:
    """Answer a retry of `order`'s key: the same order, its refusal, or the sending resumed."""
    if order.request_fingerprint != fingerprint:
        raise IdempotencyKeyReused(
            "This idempotency key was used for an order with a different body; "
            "use a new key for a new order."
        )
    if order.status == Order.Status.REJECTED:
        raise ReplayedProblem(order.rejection or problem_record(OrderNotPlaced()))
    if order.acknowledged_at is not None:
        return Placement(order, replayed=True)
    if not _claim_lease(order):
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
        with gateway_for(order.connection) as gateway:
            venue = _find_at_venue(order, gateway)
            if venue is not None:
                return Placement(_acknowledge(order, venue), replayed=True)
            _check_not_on_hold(order.workspace)
            return Placement(_submit(order, gateway), replayed=True)
    except BaseException:
        _release_lease(order)
        raise


def _find_at_venue(order: Order, gateway: Gateway) -> dict[str, Any] | None:
    """The venue's copy of `order`, found by its client order id, or None if it has none."""
    try:
        return gateway.fetch_order(
            "", order.symbol, params={"clientOrderId": order.client_order_id}
        )
    except OrderNotFound:
        return None


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
        _reject(order, exc)
        logger.info(
            "order.rejected",
            extra={"order_id": str(order.pk), "code": exc.code, "symbol": order.symbol},
        )
        raise
    except BaseException:
        ORDERS_SUBMITTED.labels(**labels, outcome="unknown").inc()
        _release_lease(order)
        logger.warning("order.submit_unanswered", extra={"order_id": str(order.pk)})
        raise
    ORDER_CYCLE_SECONDS.labels(**labels).observe(time.perf_counter() - started)
    ORDERS_SUBMITTED.labels(**labels, outcome="accepted").inc()
    order = _acknowledge(order, venue)
    logger.info(
        "order.placed",
        extra={
            "order_id": str(order.pk),
            "exchange_order_id": order.exchange_order_id,
            "status": order.status,
            "symbol": order.symbol,
        },
    )
    return order


# --------------------------------------------------------------------------- cancel, refresh


def cancel_order(*, order: Order, actor: User) -> Order:
    """Cancel an open, acknowledged order at its venue and record it.

    OrderNotOpen (409) if it has finished (also when it filled at the venue meanwhile: the
    journal is brought up to date first), OrderInProgress (409) while it is still being placed.
    """
    if order.is_terminal:
        raise OrderNotOpen(f"The order is {order.status}; only open orders can be canceled.")
    if order.acknowledged_at is None or not order.exchange_order_id:
        raise OrderInProgress("The exchange has not acknowledged the order yet; retry shortly.")
    with gateway_for(order.connection) as gateway:
        try:
            venue = gateway.cancel_order(order.exchange_order_id, order.symbol)
        except (OrderNotOpen, OrderNotFound):
            order = _apply_venue(order, gateway.fetch_order(order.exchange_order_id, order.symbol))
            raise OrderNotOpen(
                f"The order is {order.status} at the exchange; only open orders can be canceled."
            ) from None
    order = _apply_venue(order, venue)
    record_audit(
        action="order.cancel",
        actor=actor,
        workspace=order.workspace,
        target=order,
        details={
            "client_order_id": order.client_order_id,
            "exchange_order_id": order.exchange_order_id,
            "status": order.status,
            "filled": _number(order.filled),
        },
    )
    logger.info("order.canceled", extra={"order_id": str(order.pk), "status": order.status})
    return order


def _reconcile(order: Order, gateway: Gateway) -> Order:
    """Settle an order the venue never acknowledged, once no request can still be sending it."""
    cutoff = timezone.now() - timedelta(seconds=settings.TERMINAL_RECONCILE_AFTER_SECONDS)
    if order.created_at > cutoff or not _claim_lease(order):
        return order  # young (a retry may still come) or being sent right now
    try:
        venue = _find_at_venue(order, gateway)
        if venue is None:
            return _reject(
                order,
                OrderNotPlaced(
                    "The order never reached the exchange; place it again with a new key."
                ),
            )
        return _acknowledge(order, venue)
    finally:
        _release_lease(order)


def refresh_orders(orders: Iterable[Order]) -> list[Order]:
    """`orders` with the open ones brought up to date from their venues (the read-time sync).

    One `fetch_open_orders` per connection and symbol, and `fetch_order` for those no longer
    open there. A venue that cannot be reached leaves the journal's last known state.
    """
    orders = list(orders)
    current = {order.pk: order for order in orders}
    groups: dict[tuple[uuid.UUID, str], list[Order]] = defaultdict(list)
    for order in orders:
        if order.status == Order.Status.OPEN:
            groups[(order.connection_id, order.symbol)].append(order)
    by_connection: dict[uuid.UUID, list[tuple[str, list[Order]]]] = defaultdict(list)
    for (connection_id, symbol), group in groups.items():
        by_connection[connection_id].append((symbol, group))
    for symbol_groups in by_connection.values():
        connection = symbol_groups[0][1][0].connection
        try:
            with gateway_for(connection) as gateway:
                for symbol, group in symbol_groups:
                    acknowledged = [o for o in group if o.exchange_order_id]
                    open_there = {}
                    if acknowledged:
                        open_there = {str(v["id"]): v for v in gateway.fetch_open_orders(symbol)}
                    for order in group:
                        if not order.exchange_order_id:
                            current[order.pk] = _reconcile(order, gateway)
                            continue
                        venue = open_there.get(order.exchange_order_id)
                        if venue is None:
                            venue = gateway.fetch_order(order.exchange_order_id, symbol)
                        current[order.pk] = _apply_venue(order, venue)
        except Problem as exc:
            logger.warning(
                "orders.refresh_failed",
                extra={"connection_id": str(connection.pk), "code": exc.code},
            )
    return [current[order.pk] for order in orders]


# --------------------------------------------------------------------------- positions


def positions(*, workspace: Workspace, connection: ExchangeConnection) -> list[dict[str, Any]]:
    """Net positions of the workspace's filled orders on `connection`, marked at the last price.

    Open orders are refreshed first, so a limit order that filled since the last read counts.
    The averaging rule is terminal.positions'.
    """
    refresh_orders(
        selectors.orders(workspace=workspace, connection_id=connection.pk, status=Order.Status.OPEN)
    )
    fills = [
        Fill(
            symbol=order.symbol,
            side=order.side,
            amount=order.filled,
            price=order.average,
            fee=order.fee,
            fee_currency=order.fee_currency,
            base=order.symbol.split("/")[0],
        )
        for order in selectors.filled_orders(workspace=workspace, connection=connection)
    ]
    nets = net_positions(fills)
    if not nets:
        return []
    result = []
    with gateway_for(connection) as gateway:
        for symbol in sorted(nets):
            net = nets[symbol]
            mark = to_decimal(gateway.fetch_ticker(symbol).get("last"))
            result.append(
                {
                    "symbol": symbol,
                    "amount": net.amount,
                    "average_entry": net.rounded_entry(),
                    "mark": mark,
                    "unrealized_pnl": net.unrealized_pnl(mark),
                }
            )
    return result
