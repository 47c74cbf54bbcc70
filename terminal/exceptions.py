"""Domain errors of the terminal, rendered as problem+json.

The venue's own refusals (invalid-order, insufficient-funds, unknown-symbol, order-not-open,
exchange-unreachable …) are the gateway's problems from `exchanges.exceptions`.
"""

from __future__ import annotations

from typing import Any

from config.problems import Problem


class IdempotencyKeyReused(Problem):
    """The idempotency key was used before for an order with a different body."""

    status = 422
    code = "idempotency-key-reused"
    title = "The idempotency key was used for a different order"


class IdempotencyConflictInProgress(Problem):
    """Another request with the same idempotency key is sending the order right now."""

    status = 409
    code = "idempotency-conflict-in-progress"
    title = "An order with this idempotency key is being placed"

    def __init__(self, detail: str | None = None, *, retry_after: int = 1):
        super().__init__(detail, headers={"Retry-After": str(retry_after)})


class OrderNotPlaced(Problem):
    """The order was journaled but never reached the venue (found missing when reconciled)."""

    status = 409
    code = "order-not-placed"
    title = "The order never reached the exchange"


class OrderInProgress(Problem):
    """The venue has not acknowledged the order yet, so it cannot be canceled yet."""

    status = 409
    code = "order-in-progress"
    title = "The order is still being placed"


class IllegalOrderTransition(Problem):
    """A finished order cannot change its status (the journal never reopens an order)."""

    status = 409
    code = "order-transition-illegal"
    title = "The order cannot change to this status"


class ReplayedProblem(Problem):
    """The problem an order was refused with, answered again to a retry with the same key."""

    def __init__(self, stored: dict[str, Any]):
        self.status = int(stored.get("status") or 400)
        self.code = str(stored.get("code") or "invalid-order")
        self.title = str(stored.get("title") or "The order was refused")
        super().__init__(stored.get("detail") or self.title, errors=stored.get("errors") or [])


def problem_record(problem: Problem) -> dict[str, Any]:
    """What of a problem is stored on a refused order, to answer a retry the same way."""
    return {
        "status": problem.status_code,
        "code": problem.code,
        "title": problem.title,
        "detail": problem.detail_text,
        "errors": list(problem.errors),
    }
