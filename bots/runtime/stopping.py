"""A stop's side of the runtime: wait for the tick in progress, settle, flatten if asked.

`finish_stop` (bots.services) calls `wind_down` before it moves a STOPPING run to STOPPED. It
takes the run's tick lease, waiting for a tick in progress to finish (a killed worker's lease
runs out), sends what the run's last tick journaled and did not send, cancels its resting
orders, and, when the run's `close_on_stop` is set, sells the position through the terminal's
order path: an intent (`flatten`, on the run's last candle) journaled, then sent, like a tick's.
"""

from __future__ import annotations

import logging

from django.db import transaction

from bots import services
from bots.models import BotRun, OrderIntent, RunEvent
from bots.runtime import intents, lease
from bots.runtime.book import Book
from bots.runtime.runtime import Runtime, RuntimeUnavailable, runtime_for
from config.problems import Problem
from exchanges.orders import OrderSide, OrderType

logger = logging.getLogger(__name__)

State = BotRun.State
Purpose = OrderIntent.Purpose


def wind_down(run: BotRun, *, runtime: Runtime | None = None) -> None:
    """Settle a STOPPING run's orders and flatten it when `close_on_stop` (see module doc).

    Waits for the run's lease; a venue that cannot be reached leaves what it could not settle
    PENDING for the reconcile pass, and the stop goes on. `runtime` replaces the run's own.
    """
    token = lease.new_token()
    held = lease.claim_waiting(run.pk, token=token)
    if not held:
        logger.warning("run.stop_without_lease", extra={"run_id": str(run.pk)})
    try:
        run = BotRun.objects.select_related("workspace", "exchange_connection").get(pk=run.pk)
        if run.state != State.STOPPING:
            return
        unsettled = run.intents.filter(status__in=intents.UNSETTLED).exists()
        book = Book.from_json(run.book)
        flatten = run.close_on_stop and book is not None and not book.flat
        if not (unsettled or flatten):
            return  # nothing at the venue: no need to reach it
        try:
            if runtime is not None:
                _settle_and_flatten(run, runtime)
            else:
                with runtime_for(run) as own:
                    _settle_and_flatten(run, own)
        except (Problem, RuntimeUnavailable) as exc:
            logger.warning(
                "run.stop_unsettled",
                extra={"run_id": str(run.pk), "error": getattr(exc, "code", str(exc))},
            )
    finally:
        if held:
            lease.release(run.pk, token=token)


def _settle_and_flatten(run: BotRun, runtime: Runtime) -> None:
    intents.settle(run, runtime=runtime)
    if not run.close_on_stop:
        return
    intent = _journal_flatten(run, runtime)
    if intent is not None and intent.status == OrderIntent.Status.PENDING:
        intents.send(intent, run=run, runtime=runtime)


def _journal_flatten(run: BotRun, runtime: Runtime) -> OrderIntent | None:
    """The close-on-stop sale of the position, journaled with its `exit` event (once)."""
    candle_ts = run.last_candle_ts or 0
    with transaction.atomic():
        locked = BotRun.objects.select_for_update().get(pk=run.pk)
        existing = OrderIntent.objects.filter(
            run=locked, candle_ts=candle_ts, purpose=Purpose.FLATTEN
        ).first()
        if existing is not None:
            return existing  # a stop delivered twice: the first one journaled it
        book = Book.from_json(locked.book)
        if book is None or book.flat:
            return None
        event = services.record_event(
            locked,
            kind=RunEvent.Kind.EXIT,
            message="Exit: close on stop.",
            data={"reason": "close_on_stop", "candle_ts": candle_ts},
        )
        intent = intents.journal(
            locked,
            candle_ts=candle_ts,
            purpose=Purpose.FLATTEN,
            side=OrderSide.SELL,
            order_type=OrderType.MARKET,
            amount=book.amount,
            price=None,
            decided_at_ms=runtime.clock.now_ms(),
            model={"reason": "close_on_stop", "units": book.units},
        )
        intents.announce_on_commit(locked, [event])
    return intent
