"""Order flows of the terminal, in three rooms:

- `placing`: `place_order` (the one way an order is placed, by the API and by bot ticks) and
  `cancel_order`;
- `refresh`: the journal kept in step with the venues (`refresh_open_orders` for beat,
  `refresh_order` on request); reads never call a venue;
- `positions`: net positions from the journal's fills, marked at the last price.

`journal.transition` is the one way an order's row changes; it announces each committed change.
"""

from terminal.services.journal import ALLOWED_TRANSITIONS, transition
from terminal.services.placing import (
    Placement,
    cancel_order,
    derive_client_order_id,
    place_order,
    request_fingerprint,
)
from terminal.services.positions import positions
from terminal.services.refresh import refresh_open_orders, refresh_order, refresh_orders

__all__ = [
    "ALLOWED_TRANSITIONS",
    "Placement",
    "cancel_order",
    "derive_client_order_id",
    "place_order",
    "positions",
    "refresh_open_orders",
    "refresh_order",
    "refresh_orders",
    "request_fingerprint",
    "transition",
]
