"""Exactly-once orders: the intent journal, the sending after commit, the settling after a crash.

1. **Journal.** A tick's decision to trade is an `OrderIntent`, written in the transaction that
   records the decision (its events, the run's `last_candle_ts`), with the idempotency key
   `run:<run>:<candle ts>:<purpose>`; the terminal derives the client order id from it.
2. **Send** after the commit: `terminal.services.place_order` with that key journals the order
   (committed before the venue sees it) and sends it with the client order id.
3. **Record** the answer on the intent and in the run's book (the `order` and `fill` events).

A crash between any two steps leaves the intent PENDING. `settle` (run by the next tick of the
run, by a stop, and by the reconcile pass on worker start and every BOT_RECONCILE_SECONDS)
sends it again with the same key: `place_order` finds the order its first attempt journaled
and looks it up at the venue by client order id (the venues are idempotent on it), so the
order is placed once, its answer recorded once. Recording locks the intent and does nothing
for one already settled, so two settlers never book a fill twice.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db import transaction

from bots import metrics
from bots.live import announce_run_changed
from bots.models import BotRun, OrderIntent, RunEvent
from bots.runtime.book import Book, venue_fill
from bots.runtime.faults import AFTER_ACK, fault_point
from bots.services import error_code_of, record_event
from config.problems import Problem
from exchanges.exceptions import (
    ConnectionSecretsUnavailable,
    ExchangeError,
    ExchangeRateLimited,
    ExchangeUnreachable,
    OrderNotOpen,
)
from exchanges.numbers import plain_decimal
from exchanges.orders import OrderSide, OrderStatus
from exchanges.timeframes import TIMEFRAME_MS
from terminal.exceptions import IdempotencyConflictInProgress, OrderInProgress
from terminal.models import Order
from terminal.services import cancel_order, derive_client_order_id, place_order, refresh_order
from workspaces.models import Workspace

if TYPE_CHECKING:
    from bots.runtime.runtime import Runtime

logger = logging.getLogger(__name__)

Status = OrderIntent.Status
UNSETTLED = (Status.PENDING, Status.OPEN)
# No answer, or not yet: the outcome is unknown and the intent stays PENDING for a retry.
TRANSIENT = (
    ExchangeUnreachable,
    ExchangeRateLimited,
    ExchangeError,
    ConnectionSecretsUnavailable,
    IdempotencyConflictInProgress,
    OrderInProgress,
)


def idempotency_key(run_id: Any, candle_ts: int, purpose: str) -> str:
    """The key of a run's order on a candle: the same decision always names the same order."""
    return f"run:{run_id}:{candle_ts}:{purpose}"


def journal(
    run: BotRun,
    *,
    candle_ts: int,
    purpose: str,
    side: str,
    order_type: str,
    amount: Decimal,
    price: Decimal | None,
    decided_at_ms: int,
    model: dict[str, Any],
) -> OrderIntent:
    """Journal an order `run` decided on. The caller holds the run's row lock in the
    transaction that records the decision; the intent is sent once that has committed."""
    key = idempotency_key(run.pk, candle_ts, purpose)
    return OrderIntent.objects.create(
        run=run,
        candle_ts=candle_ts,
        purpose=purpose,
        side=side,
        type=order_type,
        amount=amount,
        price=price,
        idempotency_key=key,
        client_order_id=derive_client_order_id(workspace_id=run.workspace_id, key=key),
        decided_at_ms=decided_at_ms,
        model=model,
    )


def store_book(run: BotRun, book: Book, *, mark: float | None) -> list[str]:
    """Write `book` on `run` with its decimal rendering; returns the fields to save."""
    run.book = book.to_json()
    run.position = book.amount
    run.average_entry = Decimal(repr(book.entry.price)) if book.entry is not None else None
    run.realized_pnl = Decimal(repr(book.realized))
    if mark is not None:
        run.unrealized_pnl = Decimal(repr(book.unrealized(mark)))
    if book.flat:
        run.unrealized_pnl = Decimal(0)
    return ["book", "position", "average_entry", "realized_pnl", "unrealized_pnl", "updated_at"]


def announce_on_commit(run: BotRun, events: list[RunEvent]) -> None:
    """Push each event with the run as committed (nothing when the transaction rolls back)."""
    for event in events:
        transaction.on_commit(lambda event=event: announce_run_changed(run, event))


# --------------------------------------------------------------------------- sending


def send(intent: OrderIntent, *, run: BotRun, runtime: Runtime) -> OrderIntent:
    """Send a PENDING intent through the terminal's order path and record the answer.

    No transaction may be open (place_order commits its journal row before the venue sees
    the order). An unknown outcome (venue unreachable, the order being sent by another call)
    leaves the intent PENDING for the next settle; a refusal is recorded as REJECTED.
    """
    workspace = Workspace.objects.get(pk=run.workspace_id)  # HOLD as it is now
    try:
        placement = place_order(
            workspace=workspace,
            actor=None,
            connection=run.exchange_connection,
            symbol=run.symbol,
            side=intent.side,
            order_type=intent.type,
            amount=intent.amount,
            price=intent.price,
            idempotency_key=intent.idempotency_key,
            origin=Order.Origin.BOT,
            bot_run=run,
            gateway=runtime.venue.gateway,
        )
    except TRANSIENT as problem:
        metrics.count_order(run, metrics.UNKNOWN)
        logger.warning(
            "run.order_unsettled",
            extra={"run_id": str(run.pk), "intent_id": str(intent.pk), "code": problem.code},
        )
        return intent
    except Problem as problem:
        metrics.count_order(run, metrics.REJECTED)
        return record_refusal(intent, code=error_code_of(problem), message=problem.detail_text)
    refused = placement.order.status == Order.Status.REJECTED
    metrics.count_order(run, metrics.REJECTED if refused else metrics.PLACED)
    fault_point(AFTER_ACK)
    return record_order(intent, placement.order)


def _fee_in_quote(order: Order, quote: str) -> Decimal | None:
    if order.fee is None or order.fee_currency not in ("", quote):
        return None  # charged in another asset (BNB …): the book counts the model's fee
    return order.fee


def _order_data(intent: OrderIntent, order: Order | None) -> dict[str, Any]:
    data = {
        "intent": intent.purpose,
        "candle_ts": intent.candle_ts,
        "client_order_id": intent.client_order_id,
        "side": intent.side,
        "type": intent.type,
        "amount": plain_decimal(intent.amount),
        "price": plain_decimal(intent.price) if intent.price is not None else None,
        "model": intent.model,
    }
    if order is not None:
        data.update(order_id=str(order.pk), status=order.status)
    return data


def record_order(intent: OrderIntent, order: Order) -> OrderIntent:
    """Record what the journal says of `intent`'s order: placed, and filled or resting.

    Locks the run, then the intent; an intent settled already (by a concurrent settle) is
    returned as it is, so a fill is booked once.
    """
    with transaction.atomic():
        run = BotRun.objects.select_for_update().get(pk=intent.run_id)
        intent = OrderIntent.objects.select_for_update().get(pk=intent.pk)
        still_resting = intent.status == Status.OPEN and order.status == Order.Status.OPEN
        if intent.is_settled or still_resting:
            return intent
        events = []
        if intent.order_id is None:
            intent.order = order
            events.append(
                record_event(
                    run,
                    kind=RunEvent.Kind.ORDER,
                    message=f"Placed {intent.purpose} order: {intent.side} "
                    f"{plain_decimal(intent.amount)} {run.symbol} {intent.type} ({order.status}).",
                    data=_order_data(intent, order),
                )
            )
        fields = ["order", "status", "updated_at"]
        if order.status == Order.Status.OPEN:
            intent.status = Status.OPEN
        else:
            events.extend(_book_fill(run, intent, order))
            if order.status == Order.Status.CLOSED and order.filled >= intent.amount:
                intent.status = Status.FILLED
            elif order.status == Order.Status.REJECTED and order.filled == 0:
                intent.status = Status.REJECTED
            else:
                intent.status = Status.CANCELED
        intent.save(update_fields=fields)
        announce_on_commit(run, events)
    return intent


def _book_fill(run: BotRun, intent: OrderIntent, order: Order) -> list[RunEvent]:
    """Book what `order` filled in the run's book (the caller holds the run's row lock)."""
    if order.filled <= 0 or order.average is None:
        return []
    book = Book.from_json(run.book)
    quote = run.symbol.split("/")[-1]
    fill = venue_fill(
        intent.side,
        filled=order.filled,
        average=order.average,
        fee=_fee_in_quote(order, quote),
        costs=book.costs,
    )
    # A decision on a candle's close fills on the next candle (the lab's fill timing).
    ts = intent.candle_ts + TIMEFRAME_MS[run.timeframe]
    data: dict[str, Any] = {
        "intent": intent.purpose,
        "side": intent.side,
        "client_order_id": intent.client_order_id,
        "ts": ts,
        "price": fill.price,
        "amount": str(fill.units * book.costs.step_decimal),
        "notional": fill.notional,
        "fee": fill.fee,
    }
    if intent.side == OrderSide.BUY:
        book.bought(fill, ts=ts)
        message = f"Bought {data['amount']} {run.symbol} at {plain_decimal(order.average)}."
    else:
        reason = intent.model.get("reason") or intent.purpose
        data["trade"] = book.sold(fill, ts=ts, reason=reason)
        message = (
            f"Sold {data['amount']} {run.symbol} at {plain_decimal(order.average)} ({reason}); "
            f"PnL {data['trade']['pnl']}."
        )
    data.update(cash=book.cash, position=str(book.amount), realized_pnl=book.realized)
    run.save(update_fields=store_book(run, book, mark=fill.price))
    return [record_event(run, kind=RunEvent.Kind.FILL, message=message, data=data)]


def record_refusal(intent: OrderIntent, *, code: str, message: str) -> OrderIntent:
    """Record that `intent`'s order was refused (the venue, HOLD, the checks): nothing traded."""
    with transaction.atomic():
        run = BotRun.objects.select_for_update().get(pk=intent.run_id)
        intent = OrderIntent.objects.select_for_update().get(pk=intent.pk)
        if intent.is_settled:
            return intent
        intent.status = Status.REJECTED
        intent.error_code = code
        intent.message = message[:500]
        # The journal keeps a refused order's row too (rejected): link it for the trail.
        intent.order = Order.objects.filter(
            workspace_id=run.workspace_id, client_order_id=intent.client_order_id
        ).first()
        intent.save(update_fields=["status", "error_code", "message", "order", "updated_at"])
        event = record_event(
            run,
            kind=RunEvent.Kind.ORDER,
            error_code=code,
            message=f"The {intent.purpose} order was refused: {message}",
            data=_order_data(intent, intent.order),
        )
        announce_on_commit(run, [event])
    logger.info("run.order_refused", extra={"run_id": str(run.pk), "code": code})
    return intent


# --------------------------------------------------------------------------- settling


def unsettled(run: BotRun) -> list[OrderIntent]:
    """`run`'s PENDING and OPEN intents, oldest first (one indexed read; usually none)."""
    return list(
        OrderIntent.objects.filter(run=run, status__in=UNSETTLED).order_by("decided_at_ms", "id")
    )


def settle(
    run: BotRun,
    *,
    runtime: Runtime,
    cancel_open: bool = True,
    found: list[OrderIntent] | None = None,
) -> bool:
    """Settle `run`'s unsettled intents: send the PENDING again, end the OPEN ones.

    A resting (OPEN) order of an earlier candle is brought up to date from its venue and
    canceled if it has not filled (`cancel_open`). `found` is `unsettled(run)` when the
    caller has read it already. The caller holds the run's tick lease. Returns whether
    nothing is left unsettled.
    """
    found = unsettled(run) if found is None else found
    if not found:
        return True
    for intent in found:
        if intent.status == Status.PENDING:
            intent = send(intent, run=run, runtime=runtime)
        if intent.status == Status.OPEN and cancel_open:
            _settle_open(intent, run=run, runtime=runtime)
    left = OrderIntent.objects.filter(run=run, status__in=UNSETTLED)
    if not cancel_open:
        left = left.filter(status=Status.PENDING)
    return not left.exists()


def _settle_open(intent: OrderIntent, *, run: BotRun, runtime: Runtime) -> OrderIntent:
    """End a resting order: as the venue has it now, or canceled with what it filled."""
    order = intent.order
    if order is None:
        return intent
    try:
        # Through the runtime's venue, where the order was placed (a paper run's is its paper
        # account, never the exchange).
        gateway = runtime.venue.gateway
        order = refresh_order(order=order, gateway=gateway)
        if order.status == OrderStatus.OPEN:
            try:
                order = cancel_order(order=order, actor=None, gateway=gateway)
            except OrderNotOpen:
                order.refresh_from_db()  # it filled meanwhile; cancel_order updated the row
            else:
                OrderIntent.objects.filter(pk=intent.pk).update(
                    canceled_at_ms=runtime.clock.now_ms()
                )
    except Problem as problem:
        logger.warning(
            "run.order_unsettled",
            extra={"run_id": str(run.pk), "intent_id": str(intent.pk), "code": problem.code},
        )
        return intent
    if order.status == OrderStatus.OPEN:
        return intent
    return record_order(intent, order)
