"""Pushes to the channel layer: committed changes announced to the groups that listen for them.

A push is a hint, never the record: a client that misses one (or connects late) reads the REST
API again. So a channel layer that is down costs a warning, never the change that was pushed.
Call `announce` on commit (`transaction.on_commit(lambda: announce(…))`, or `announce_on_commit`)
so that nothing is announced that a rollback then takes back.

Group names are `<scope>.<id>.<topic>`, e.g. `workspace.<id>.orders`. The message is
`{"type": <message type>, **payload}`: the type names the consumer's handler (`order.changed` →
`order_changed`), the payload is in the REST API's shapes so it can be forwarded as is.
"""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)


def announce(group: str, message_type: str, payload: dict[str, Any]) -> bool:
    """Send `{"type": message_type, **payload}` to `group` now; False (and a warning) if that
    failed. Never raises."""
    message = {"type": message_type, **payload}
    try:
        layer = get_channel_layer()
        if layer is None:
            return False  # no channel layer configured: nobody can be listening
        async_to_sync(layer.group_send)(group, message)
    except Exception as exc:
        # Deliberately broad: whatever the layer's failure (Redis down, a full channel, a bad
        # message), the change is committed and listeners resync over REST.
        logger.warning(
            "live.announce_failed",
            extra={"group": group, "message_type": message_type, "error": exc.__class__.__name__},
        )
        return False
    return True


def announce_on_commit(group: str, message_type: str, payload: dict[str, Any]) -> None:
    """`announce` once the current transaction commits (at once outside one; never on rollback)."""
    transaction.on_commit(lambda: announce(group, message_type, payload))
