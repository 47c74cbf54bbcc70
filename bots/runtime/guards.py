"""The guards of a running bot: the daily loss cap, the runaway breakers, HOLD.

- **Daily loss** (`daily_loss`): the run's equity with the open position marked at the venue's
  price, against its equity at the first tick of the UTC day; a loss of more than the bot's
  `max_daily_loss_pct` → FAILED `KILL_CAP_DAILY_LOSS`, and the position is flattened.
- **Runaway breakers** (`runaway`): more than 300 placements, or the bot's own
  `max_orders_per_minute` (whichever is lower), or more than 600 cancels in the last minute of
  the runtime's clock → FAILED `RUNAWAY_BREAKER`. The order that would exceed it is not sent;
  the position is left as it is (flattening is one more order, the very thing the breaker
  stops) for the trader to close from the terminal.
- `max_position_quote` caps the size of an entry (bots.runtime.decide).
- HOLD (`Workspace.on_hold`): the tick places nothing and records a `skip`.

A trip (`trip`) is a `guard` event with the figures, the FAILED transition carrying them, an
audit row `run.guard_tripped`, and the figures kept on the run (`BotRun.guard`).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import transaction

from bots import metrics, services
from bots.models import BotRun, OrderIntent, RunEvent
from bots.runtime.book import Book
from workspaces.services import record_audit

KILL_CAP_DAILY_LOSS = "KILL_CAP_DAILY_LOSS"
RUNAWAY_BREAKER = "RUNAWAY_BREAKER"
# The breakers every run has, whatever its bot says (prop-bot-spec §12).
MAX_PLACEMENTS_PER_MINUTE = 300
MAX_CANCELS_PER_MINUTE = 600
WINDOW_MS = 60_000


def daily_loss(book: Book, *, mark: float, limit_pct: Decimal | str | float) -> dict | None:
    """The figures of a daily loss beyond `limit_pct` percent at `mark`, or None within it."""
    base = book.day_start_equity
    equity = book.equity(mark)
    loss = base - equity
    loss_pct = loss / base * 100.0 if base > 0 else 0.0
    if loss_pct <= float(limit_pct):
        return None
    return {
        "code": KILL_CAP_DAILY_LOSS,
        "day": book.day,
        "day_start_equity": base,
        "equity": equity,
        "loss": loss,
        "loss_pct": loss_pct,
        "max_daily_loss_pct": str(limit_pct),
        "mark": mark,
        "position": str(book.amount),
        "unrealized_pnl": book.unrealized(mark),
    }


def runaway(run: BotRun, *, now_ms: int, placing: int) -> dict | None:
    """The figures of a breaker that `placing` more orders now would trip, or None.

    Counts the run's intents decided, and resting orders it canceled, in the last minute of the
    runtime's clock (the clock a replay drives, so a fast replay is not a runaway).
    """
    since = now_ms - WINDOW_MS
    placements = 0
    if placing:
        placements = OrderIntent.objects.filter(run=run, decided_at_ms__gt=since).count()
    cancels = OrderIntent.objects.filter(run=run, canceled_at_ms__gt=since).count()
    own = int(run.risk.get("max_orders_per_minute") or MAX_PLACEMENTS_PER_MINUTE)
    limit, limit_name = MAX_PLACEMENTS_PER_MINUTE, "runaway_placements_per_minute"
    if own < limit:
        limit, limit_name = own, "max_orders_per_minute"
    figures: dict[str, Any] = {
        "code": RUNAWAY_BREAKER,
        "placements_last_minute": placements,
        "cancels_last_minute": cancels,
        "placing": placing,
        "max_placements_per_minute": limit,
        "max_cancels_per_minute": MAX_CANCELS_PER_MINUTE,
        "window_ms": WINDOW_MS,
        "at_ms": now_ms,
    }
    if placing and placements + placing > limit:
        return {**figures, "tripped_by": limit_name}
    if cancels > MAX_CANCELS_PER_MINUTE:
        return {**figures, "tripped_by": "runaway_cancels_per_minute"}
    return None


def trip(run: BotRun, *, figures: dict[str, Any], message: str) -> tuple[BotRun, list[RunEvent]]:
    """Record a guard's trip and end the run FAILED with its code; returns the run and events.

    The caller holds the run's row lock in the current transaction (the tick's decision), and
    journals the flattening order, if any, in the same transaction.
    """
    code = figures["code"]
    event = services.record_event(
        run, kind=RunEvent.Kind.GUARD, error_code=code, message=message, data=figures
    )
    run.guard = figures
    run.save(update_fields=["guard", "updated_at"])
    failed = services.transition(
        run, BotRun.State.FAILED, error_code=code, message=message, data=figures
    )
    record_audit(
        action="run.guard_tripped",
        workspace=failed.workspace,
        target=failed,
        details={"bot_id": str(failed.bot_id), **figures},
    )
    transaction.on_commit(lambda: metrics.GUARD_TRIPS.labels(code=code).inc())
    return failed, [event]
