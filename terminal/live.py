"""Pushes of order changes to the channel layer, for live views of a workspace's orders.

Every committed change of an order (terminal.services.journal.transition) is announced to the
group `workspace.<id>.orders` as `{"type": "order.changed", "order": {…}}`, the order in the
REST API's shape (`GET /api/v1/terminal/orders/{id}`), so a consumer can forward it as is. A
client that missed a push reads the REST API again (config.live).
"""

from __future__ import annotations

import uuid
from typing import Any

from config.live import announce
from terminal.api.serializers import OrderSerializer
from terminal.models import Order
from terminal.selectors import is_simulated

ORDER_CHANGED = "order.changed"


def orders_group(workspace_id: uuid.UUID | str) -> str:
    """The group every change of a workspace's orders is pushed to."""
    return f"workspace.{workspace_id}.orders"


def order_message(order: Order) -> dict[str, Any]:
    """The payload announcing `order` as it is now."""
    return {"order": dict(OrderSerializer(order).data)}


def announce_order_changed(order: Order) -> bool:
    """Push `order` to its workspace's group; never raises (call it on commit).

    A paper or replay run's order is not pushed: the terminal's lists leave it out.
    """
    if is_simulated(order):
        return False
    return announce(orders_group(order.workspace_id), ORDER_CHANGED, order_message(order))
