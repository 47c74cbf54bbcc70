"""The journal's one way to change an order, and what placing, canceling and refreshing share.

Every change of an order goes through `transition`: it locks the row, refuses to reopen a
finished order, records an `OrderEvent` and, once the change is committed, announces it to the
workspace's live listeners (terminal.live). The other names here are the package's own: the
venue's copy of an order read into journal fields, and the lease on an order's sending.
"""

from __future__ import annotations

import copy
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from config import context
from config.problems import Problem
from exchanges.exceptions import OrderNotFound
from exchanges.gateway import Gateway
from exchanges.numbers import to_decimal
from terminal.exceptions import IllegalOrderTransition, problem_record
from terminal.live import announce_order_changed
from terminal.models import TERMINAL_ORDER_STATUSES, Order, OrderEvent
from terminal.selectors import SIMULATED

# The journal's transitions: an open order may move on (or get more fills); a finished one never.
ALLOWED_TRANSITIONS: dict[str, set[str]] = {
    Order.Status.OPEN: {s.value for s in Order.Status},
    Order.Status.CLOSED: set(),
    Order.Status.CANCELED: set(),
    Order.Status.EXPIRED: set(),
    Order.Status.REJECTED: set(),
}


@transaction.atomic
def transition(
    order: Order, to: str, *, changes: dict[str, Any] | None = None, message: str = ""
) -> Order:
    """Move `order` to status `to` with `changes`, and record an OrderEvent when it moved.

    Locks the row. A finished order keeps its status (IllegalOrderTransition for another one;
    the same status again changes nothing, as when two refreshes settle it at once). A change
    is announced to the workspace's live listeners once it is committed, never before. Returns
    the order as changed; the caller's instance is left as it was.
    """
    changes = changes or {}
    moved = _update_if_unchanged(order, to, changes)
    if moved is not None:
        return _record(
            moved, previous_status=order.status, previous_filled=order.filled, message=message
        )
    order = Order.objects.select_for_update().get(pk=order.pk)
    previous_status, previous_filled = order.status, order.filled
    if to != order.status and to not in ALLOWED_TRANSITIONS[order.status]:
        raise IllegalOrderTransition(f"The order is {order.status}; it cannot become {to}.")
    if order.status in TERMINAL_ORDER_STATUSES:
        return order
    fields = {"status", "updated_at"}
    order.status = to
    for name, value in changes.items():
        setattr(order, name, value)
        fields.add(name)
    order.save(update_fields=sorted(fields))
    return _record(
        order, previous_status=previous_status, previous_filled=previous_filled, message=message
    )


def _update_if_unchanged(order: Order, to: str, changes: dict[str, Any]) -> Order | None:
    """Apply the transition in one UPDATE if the row still has the status and fill that the
    caller's `order` shows; the changed order, or None when the row moved on (or may have).

    The common case (an order acknowledged or refreshed moments after it was read) needs no
    locked re-read: the decision depends only on the status and the fill, and the UPDATE
    takes the same row lock until the transaction ends. A concurrent transition waiting on
    that lock finds the row changed and takes the locked path.
    """
    if order.status in TERMINAL_ORDER_STATUSES or to not in ALLOWED_TRANSITIONS[order.status]:
        return None  # the locked path decides (and raises) on the row as it is
    values = {**changes, "status": to, "updated_at": timezone.now()}
    updated = Order.objects.filter(pk=order.pk, status=order.status, filled=order.filled).update(
        **values
    )
    if not updated:
        return None
    moved = copy.copy(order)  # the caller's instance stays as it was, as after a re-read
    for name, value in values.items():
        setattr(moved, name, value)
    return moved


def _record(order: Order, *, previous_status: str, previous_filled, message: str) -> Order:
    """The OrderEvent of a transition that changed something, and its announcement on commit."""
    if order.status != previous_status or order.filled != previous_filled or message:
        OrderEvent.objects.create(
            order=order,
            from_status=previous_status,
            to_status=order.status,
            filled=order.filled,
            message=message[:500],
            request_id=context.current_request_id() or "",
        )
        transaction.on_commit(lambda: announce_order_changed(order))  # push what was committed
    return order


# --------------------------------------------------------------------------- the venue's copy


def venue_changes(order: Order, venue: dict[str, Any]) -> dict[str, Any]:
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


def venue_status(order: Order, venue: dict[str, Any]) -> str:
    status = venue.get("status")
    return status if status in Order.Status.values else order.status


def acknowledge(order: Order, venue: dict[str, Any]) -> Order:
    """Record the venue's acceptance of `order` (its id, status and fills so far)."""
    changes = venue_changes(order, venue)
    changes["submit_lease_until"] = None
    changes["acknowledged_at"] = timezone.now()
    return transition(order, venue_status(order, venue), changes=changes, message="acknowledged")


def reject(order: Order, problem: Problem) -> Order:
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


def apply_venue(order: Order, venue: dict[str, Any]) -> Order:
    """Bring an acknowledged `order` in line with the venue's copy; write only on a change."""
    status = venue_status(order, venue)
    changes = venue_changes(order, venue)
    if status == order.status and all(getattr(order, k) == v for k, v in changes.items()):
        return order
    return transition(order, status, changes=changes)


def find_at_venue(order: Order, gateway: Gateway) -> dict[str, Any] | None:
    """The venue's copy of `order`, found by its client order id, or None if it has none."""
    try:
        return gateway.fetch_order(
            "", order.symbol, params={"clientOrderId": order.client_order_id}
        )
    except OrderNotFound:
        return None


# --------------------------------------------------------------------------- the sending lease


def lease_until() -> datetime:
    return timezone.now() + timedelta(seconds=settings.TERMINAL_SUBMIT_LEASE_SECONDS)


def claim_lease(order: Order) -> bool:
    """Take over the sending of an unacknowledged order unless another request holds it."""
    now = timezone.now()
    claimed = (
        Order.objects.filter(pk=order.pk, acknowledged_at__isnull=True, status=Order.Status.OPEN)
        .filter(Q(submit_lease_until__isnull=True) | Q(submit_lease_until__lt=now))
        .update(submit_lease_until=lease_until())
    )
    return claimed == 1


def discard_simulated_orders(*, bot_run_ids) -> int:
    """Delete the journal's rows of orders that paper or replay runs `bot_run_ids` placed.

    For a bots flow deleting those runs (their bot is deleted): the orders never reached an
    exchange, and once `bot_run` is nulled nothing would tell them from a bot's real orders, so
    positions would count them. Their audit events stay. Returns how many went.
    """
    deleted = Order.objects.filter(bot_run_id__in=list(bot_run_ids)).filter(SIMULATED).delete()
    return deleted[1].get(Order._meta.label, 0)


def release_lease(order: Order) -> None:
    # The outcome is unknown (no answer): the next retry may look it up and send it again.
    Order.objects.filter(pk=order.pk, acknowledged_at__isnull=True).update(submit_lease_until=None)
