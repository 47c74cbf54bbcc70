"""Read-side queries of the terminal, within one workspace (but for the refresh task's)."""

from __future__ import annotations

import uuid

from django.db.models import Q, QuerySet

from exchanges.models import ExchangeConnection
from terminal.models import Order
from workspaces.models import Workspace

# Orders of a bot's paper or replay run: journaled by place_order like every order, but sent to
# a simulated venue (bots.runtime.paper, bots.runtime.replay), never to the exchange. The
# terminal's lists, positions, pushes and refresh leave them out; their run's trail shows them.
SIMULATED_MODES = ("paper", "replay")
SIMULATED = Q(bot_run__execution__mode__in=SIMULATED_MODES)


def is_simulated(order: Order) -> bool:
    """Whether `order` went to a paper or replay run's simulated venue."""
    if order.bot_run_id is None:
        return False
    return Order.objects.filter(pk=order.pk).filter(SIMULATED).exists()


def orders(
    *,
    workspace: Workspace,
    connection_id: uuid.UUID | None = None,
    symbol: str | None = None,
    status: str | None = None,
) -> QuerySet[Order]:
    """The workspace's orders, newest first, optionally of one connection, symbol or status."""
    queryset = (
        Order.objects.filter(workspace=workspace).exclude(SIMULATED).select_related("connection")
    )
    if connection_id is not None:
        queryset = queryset.filter(connection_id=connection_id)
    if symbol:
        queryset = queryset.filter(symbol=symbol)
    if status:
        queryset = queryset.filter(status=status)
    return queryset.order_by("-created_at", "-id")


def order_by_key(*, workspace: Workspace, client_order_id: str) -> Order | None:
    """The workspace's order with this client order id (i.e. this idempotency key), if any."""
    return (
        Order.objects.filter(workspace=workspace, client_order_id=client_order_id)
        .select_related("connection")
        .first()
    )


def open_orders_to_refresh() -> QuerySet[Order]:
    """Every workspace's open orders, by connection and symbol: the periodic refresh's work.

    The refresh asks each venue once per connection and symbol, so they come grouped.
    """
    return (
        Order.objects.filter(status=Order.Status.OPEN)
        .exclude(SIMULATED)  # their runs settle them at their own venues
        .select_related("connection")
        .order_by("connection_id", "symbol", "created_at", "id")
    )


def filled_orders(*, workspace: Workspace, connection: ExchangeConnection) -> QuerySet[Order]:
    """Orders of the connection that filled something, in the order they were placed.

    Positions are built from them (terminal.positions); the oldest comes first because the
    average entry depends on the sequence of fills.
    """
    return (
        Order.objects.filter(
            workspace=workspace, connection=connection, filled__gt=0, average__isnull=False
        )
        .exclude(SIMULATED)
        .order_by("created_at", "id")
    )


def connections_with_fills(*, workspace: Workspace) -> QuerySet[ExchangeConnection]:
    """The workspace's connections on which some order filled: where positions can exist."""
    return ExchangeConnection.objects.filter(
        workspace=workspace,
        pk__in=Order.objects.filter(workspace=workspace, filled__gt=0)
        .exclude(SIMULATED)
        .values("connection_id"),
    ).order_by("name", "id")
