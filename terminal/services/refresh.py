"""Keeping the journal in step with the venues: the periodic refresh and the one on request.

Reads never call a venue: listing orders, reading one and positions read the journal. What
happens at a venue after an order was placed (a resting order fills, is canceled there, an
order the venue never acknowledged is found there or not) reaches the journal here:

- `refresh_open_orders`: every open order of every workspace, run by Celery beat every
  `TERMINAL_REFRESH_SECONDS` (task `terminal.refresh_open_orders`);
- `refresh_order`: one order, when a client asks (`POST /terminal/orders/{id}/refresh`).

Both write only through `transition`, so every change has its OrderEvent and its push.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from config.problems import Problem
from exchanges.factory import gateway_for
from exchanges.gateway import Gateway
from terminal import selectors
from terminal.exceptions import IllegalOrderTransition, OrderNotPlaced
from terminal.models import Order
from terminal.services.journal import (
    acknowledge,
    apply_venue,
    claim_lease,
    find_at_venue,
    reject,
    release_lease,
)

logger = logging.getLogger(__name__)


def reconcile(order: Order, gateway: Gateway) -> Order:
    """Settle an order the venue never acknowledged, once no call can still be sending it."""
    cutoff = timezone.now() - timedelta(seconds=settings.TERMINAL_RECONCILE_AFTER_SECONDS)
    if order.created_at > cutoff or not claim_lease(order):
        return order  # young (a retry may still come) or being sent right now
    try:
        venue = find_at_venue(order, gateway)
        if venue is None:
            return reject(
                order,
                OrderNotPlaced(
                    "The order never reached the exchange; place it again with a new key."
                ),
            )
        return acknowledge(order, venue)
    finally:
        release_lease(order)


def _settle(order: Order, gateway: Gateway, venue: dict | None) -> Order:
    """`order` brought in line with the venue's copy (`venue`, else fetched) or reconciled."""
    try:
        if not order.exchange_order_id:
            return reconcile(order, gateway)
        if venue is None:
            venue = gateway.fetch_order(order.exchange_order_id, order.symbol)
        return apply_venue(order, venue)
    except IllegalOrderTransition:
        # It finished meanwhile (a cancel, another refresh), after the venue's copy was read:
        # the journal's state is the newer one.
        return Order.objects.get(pk=order.pk)


def refresh_orders(orders: Iterable[Order]) -> list[Order]:
    """`orders` with the open ones brought up to date from their venues.

    One `fetch_open_orders` per connection and symbol, and `fetch_order` for those no longer
    open there. A venue that cannot be reached leaves the journal's last known state (logged
    as `orders.refresh_failed`); the other connections are refreshed all the same.
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
                    open_there = {}
                    if any(order.exchange_order_id for order in group):
                        open_there = {str(v["id"]): v for v in gateway.fetch_open_orders(symbol)}
                    for order in group:
                        venue = open_there.get(order.exchange_order_id)
                        current[order.pk] = _settle(order, gateway, venue)
        except Problem as exc:
            logger.warning(
                "orders.refresh_failed",
                extra={"connection_id": str(connection.pk), "code": exc.code},
            )
    return [current[order.pk] for order in orders]


def refresh_open_orders() -> int:
    """Refresh every open order of every workspace from its venue; return how many changed.

    The beat task's service. Safe to run while another run, a cancel or a placement is under
    way: `transition` locks each row, and a finished order never changes again.
    """
    orders = list(selectors.open_orders_to_refresh())
    before = {order.pk: (order.status, order.filled) for order in orders}
    changed = sum(
        1 for order in refresh_orders(orders) if (order.status, order.filled) != before[order.pk]
    )
    logger.info("orders.refreshed", extra={"open": len(orders), "changed": changed})
    return changed


def refresh_order(*, order: Order, gateway: Gateway | None = None) -> Order:
    """`order` brought up to date from its venue now; the venue's problems pass through.

    A finished order is returned as it is (it never changes again). One that the venue has not
    acknowledged yet is reconciled once it is older than TERMINAL_RECONCILE_AFTER_SECONDS, and
    left for its own retry before that. `gateway` is the venue to ask, open and left open for
    the caller (a bot's runtime passes the one it placed the order through, a paper run its
    paper venue); by default the connection's `gateway_for`.
    """
    if order.is_terminal:
        return order
    opened = (
        contextlib.nullcontext(gateway) if gateway is not None else gateway_for(order.connection)
    )
    with opened as venue:
        return _settle(order, venue, None)
