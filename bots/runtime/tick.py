"""A run's tick: the newest closed candle, decided once, its orders sent once.

`tick_run(run_id)` ticks one run (a replay drives it candle by candle); `tick_batch(run_ids)`
(the `bots.tick_runs` task) ticks a dispatched batch the same way, each step below done once
for the whole batch where the runs can share it (its docstring says how). A tick:

1. takes the run's tick lease (bots.runtime.lease): another tick or a stop holding it → BUSY;
2. settles what earlier ticks left unsettled (bots.runtime.intents): an order a crash left
   unsent, a resting order of the previous candle; the run decides nothing new until then;
3. reads the closed candles since the run's first candle through the runtime's candle source
   (shared and cached), the sizing price from its venue, and opens the book on the first tick;
4. evaluates `plan.evaluate_latest` on that history and decides with the fill model
   (bots.runtime.decide); candles that closed while no tick ran are walked for the position's
   exits (a stop that was hit is acted on now), their entry signals are stale and skipped;
5. checks the guards (bots.runtime.guards), then, in ONE transaction under the run's row lock
   (skip_locked: a run being stopped or moved is left for the next dispatch), re-checks that
   the run is RUNNING and the candle not acted on yet, and writes the decision: its events,
   the order intent, the book, `last_candle_ts`, the equity point, a guard's trip;
6. after the commit, sends the intents through `terminal.services.place_order` and records
   their answers (fills into the book).

Nothing in steps 3 and 4 holds a transaction, so a slow venue never holds a row lock; the row
lock and the `last_candle_ts` check in step 5 make each (run, candle) decided exactly once,
whatever the leases did.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from bots import metrics, services
from bots.models import BotRun, OrderIntent, RunEquityPoint, RunEvent
from bots.runtime import guards, intents, lease
from bots.runtime.book import Book
from bots.runtime.clock import latest_closed_ts
from bots.runtime.decide import ENTER, EXIT, REJECTED, Decision, decide
from bots.runtime.faults import AFTER_JOURNAL, fault_point
from bots.runtime.runtime import Runtime, RuntimeUnavailable, runtime_for, venue_key
from config.problems import Problem
from exchanges import epoch
from exchanges.numbers import ceil_to_step, floor_to_step
from exchanges.orders import OrderSide, OrderType, market_step
from exchanges.timeframes import TIMEFRAME_MS
from strategies.engine import LatestSignal, Plan, compile_strategy
from strategies.engine.fills import exit_decision, fill_exit

logger = logging.getLogger(__name__)

State = BotRun.State
Kind = RunEvent.Kind
Purpose = OrderIntent.Purpose

ACTED = "acted"  # the candle was decided (orders, if any, sent)
NOT_DUE = "not_due"  # no candle closed since the last one acted on
BUSY = "busy"  # another tick or a stop holds the run
NOT_RUNNING = "not_running"  # stopped, ended or deleted since it was sent
DEFERRED = "deferred"  # not now: the venue, an unsettled order, a candle not published yet

MODE_NOT_AVAILABLE = "MODE_NOT_AVAILABLE"
# A venue that failed is asked again after this long, not on every dispatch.
VENUE_BACKOFF_SECONDS = 5
# Candles walked for exits after an outage: more than a run's 4 h of 1m candles.
MAX_MISSED = 300

_PLANS: OrderedDict[Any, Plan] = OrderedDict()
_PLANS_LOCK = threading.Lock()
_PLANS_SIZE = 1024


@dataclass(frozen=True)
class TickResult:
    """What a tick did with a run: an outcome above, the candle it decided, why not."""

    run_id: str
    outcome: str
    candle_ts: int | None = None
    detail: str = ""
    close_ms: int | None = None  # when the acted-on candle closed (its lag is measured from)


@dataclass
class _Decided:
    """The decision of a candle, computed outside any transaction, to be written in one."""

    through: int
    now_ms: int
    close: float
    price: float
    signal: LatestSignal
    decision: Decision
    book: Book
    book_before: dict
    loss: dict | None
    stale_exit_ts: int | None = None
    missed: int = 0
    missed_entries: list[int] = field(default_factory=list)


def plan_of(run: BotRun) -> Plan:
    """The run's compiled plan, compiled once per process (versions never change)."""
    key = run.strategy_version_id
    with _PLANS_LOCK:
        plan = _PLANS.get(key)
        if plan is not None:
            _PLANS.move_to_end(key)
            return plan
    plan = compile_strategy(run.strategy_version.body)
    with _PLANS_LOCK:
        _PLANS[key] = plan
        while len(_PLANS) > _PLANS_SIZE:
            _PLANS.popitem(last=False)
    return plan


def _loaded():
    return BotRun.objects.select_related("workspace", "exchange_connection", "strategy_version")


def _load(run_id: Any) -> BotRun | None:
    return _loaded().filter(pk=run_id).first()


def _day(now_ms: int) -> str:
    return datetime.fromtimestamp(now_ms / 1000, tz=UTC).date().isoformat()


def tick_run(
    run_id: Any, *, dispatch_token: str | None = None, runtime: Runtime | None = None
) -> TickResult:
    """Tick run `run_id` once (see the module docstring); never raises for a venue's problem.

    `dispatch_token` is the lease token of the dispatch that sent the run; `runtime` replaces
    the run's own (`runtime_for(run)`, closed here; a given one is left open for the caller).
    """
    token = lease.new_token()
    if not lease.claim(run_id, token=token, expected=dispatch_token):
        return TickResult(str(run_id), BUSY)
    hold = None
    try:
        run = _load(run_id)
        if run is None or run.state != State.RUNNING:
            return TickResult(str(run_id), NOT_RUNNING)
        if runtime is not None:
            return _tick(run, runtime)
        try:
            own = runtime_for(run)
        except RuntimeUnavailable as exc:
            _fail(run, MODE_NOT_AVAILABLE, str(exc))
            return TickResult(str(run_id), NOT_RUNNING, detail=MODE_NOT_AVAILABLE)
        with own:
            return _tick(run, own)
    except Problem as problem:
        # The venue (unreachable, rate limited, credentials …): no decision was written, the
        # candle is acted on when it answers again.
        hold = VENUE_BACKOFF_SECONDS
        logger.warning("run.tick_deferred", extra={"run_id": str(run_id), "code": problem.code})
        return TickResult(str(run_id), DEFERRED, detail=problem.code)
    except BaseException:
        # A bug or a killed task: the run is tried again once its lease runs out, not at once.
        hold = settings.BOT_TICK_LEASE_SECONDS
        raise
    finally:
        lease.release(run_id, token=token, hold_seconds=hold)


def _fail(run: BotRun, code: str, message: str) -> None:
    with transaction.atomic():
        current = BotRun.objects.select_for_update().get(pk=run.pk)
        if current.state == State.RUNNING:
            services.transition(current, State.FAILED, error_code=code, message=message)


def _tick(run: BotRun, runtime: Runtime) -> TickResult:
    run_id = str(run.pk)
    plan = plan_of(run)
    found = intents.unsettled(run)
    if found:
        if not intents.settle(run, runtime=runtime, found=found):
            return TickResult(run_id, DEFERRED, detail="unsettled orders")
        run = _load(run.pk)  # settling booked fills, or a stop may have come meanwhile
        if run is None or run.state != State.RUNNING:
            return TickResult(run_id, NOT_RUNNING)
    decided = _decide(run, plan, runtime)
    if isinstance(decided, TickResult):
        return decided
    written = _write(run, plan, runtime, decided)
    if isinstance(written, TickResult):
        return written
    if written:
        fault_point(AFTER_JOURNAL)
    for intent in written:
        intents.send(intent, run=run, runtime=runtime)
    span = TIMEFRAME_MS[run.timeframe or plan.timeframe]
    return TickResult(run_id, ACTED, candle_ts=decided.through, close_ms=decided.through + span)


def tick_batch(run_ids: list[Any], *, dispatch_token: str | None = None) -> list[TickResult]:
    """Tick a dispatched batch of runs (the `bots.tick_runs` task): each run as `tick_run`
    would, with what the runs share done once for the batch; each tick counted in
    bots.metrics. Never raises for one run's problem.

    One UPDATE takes the batch's leases, one SELECT reads the runs and one their unsettled
    intents; each run decides on its own (no transaction); ONE transaction then writes every
    decision under the runs' row locks, with `tick_run`'s checks (a run locked, stopped, acted
    on or booked meanwhile is refused), the orders are sent after its commit, and one UPDATE
    gives the leases back. A decision that trades nothing and records no event (the usual
    candle) is written in bulk: one UPDATE of the runs, one INSERT of their equity points. A
    run with unsettled intents (it settles first), or every run when the batch's write failed,
    is ticked alone by `tick_run`, which the batch hands its lease to.
    """
    token = lease.new_token()
    order = [str(run_id) for run_id in run_ids]
    results: dict[str, TickResult] = {}
    spent: dict[str, float] = dict.fromkeys(order, 0.0)  # seconds of each run's tick
    done: dict[str, int] = {}  # when each run's decision was committed (its orders sent)
    holds: dict[str, float] = {}  # runs whose lease is kept a while (a venue's outage, a bug)
    alone: list[str] = []
    runtimes: list[Runtime] = []
    crashed = False
    try:
        lease.claim_batch(order, token=token, expected=dispatch_token)
        runs = {str(run.pk): run for run in _loaded().filter(tick_lease_token=token)}
        pending = set(
            OrderIntent.objects.filter(run_id__in=list(runs), status__in=intents.UNSETTLED)
            .values_list("run_id", flat=True)
            .distinct()
        )
        decided: list[tuple[BotRun, Runtime, _Decided]] = []
        prices: dict = {}
        for run_id, run in runs.items():
            began = time.perf_counter()
            if run.state != State.RUNNING:
                results[run_id] = TickResult(run_id, NOT_RUNNING)
            elif run.pk in pending:
                alone.append(run_id)
            else:
                outcome = _decide_in_batch(run, runtimes, holds, prices)
                if isinstance(outcome, TickResult):
                    results[run_id] = outcome
                else:
                    decided.append((run, runtimes[-1], outcome))
            spent[run_id] += time.perf_counter() - began

        began = time.perf_counter()
        try:
            sends = _write_batch(decided, results)
        except Exception:
            # Nothing of the batch was written: its runs are ticked alone instead.
            logger.exception("runs.batch_write_failed", extra={"runs": len(decided)})
            sends = []
            alone.extend(str(run.pk) for run, _, _ in decided)
        written_at = epoch.now_ms()
        share = (time.perf_counter() - began) / max(len(decided), 1)
        for run, _, _ in decided:
            spent[str(run.pk)] += share
            done[str(run.pk)] = written_at
        if sends:
            fault_point(AFTER_JOURNAL)
        for run, runtime, written in sends:
            run_id, began = str(run.pk), time.perf_counter()
            try:
                for intent in written:
                    intents.send(intent, run=run, runtime=runtime)
            except Exception:
                holds[run_id] = settings.BOT_TICK_LEASE_SECONDS
                logger.exception("run.tick_crashed", extra={"run_id": run_id})
            spent[run_id] += time.perf_counter() - began
            done[run_id] = epoch.now_ms()
    except BaseException:
        crashed = True  # a bug or a killed task: every run waits for its lease to run out
        raise
    finally:
        for runtime in runtimes:
            runtime.close()
        _release(order, token=token, holds=holds, keep=alone, crashed=crashed)

    for run_id in alone:  # tick_run takes the batch's lease over (its dispatch token)
        began = time.perf_counter()
        try:
            results[run_id] = tick_run(run_id, dispatch_token=token)
        except Exception:
            logger.exception("run.tick_crashed", extra={"run_id": run_id})
            results[run_id] = TickResult(run_id, metrics.ERROR)
        spent[run_id] += time.perf_counter() - began
        done[run_id] = epoch.now_ms()
    for run_id in order:
        # Not leased to the batch: another tick or a stop holds it (or it was deleted).
        result = results.setdefault(run_id, TickResult(run_id, BUSY))
        acted = result.outcome == ACTED
        metrics.observe_tick(
            result.outcome,
            seconds=spent[run_id],
            close_ms=result.close_ms if acted else None,
            done_ms=done.get(run_id) if acted else None,
        )
    return [results[run_id] for run_id in order]


def _decide_in_batch(
    run: BotRun, runtimes: list[Runtime], holds: dict[str, float], prices: dict
) -> _Decided | TickResult:
    """A batch run's decision (its runtime appended to `runtimes`), or why there is none."""
    run_id = str(run.pk)
    try:
        runtime = runtime_for(run)
    except RuntimeUnavailable as exc:
        _fail(run, MODE_NOT_AVAILABLE, str(exc))
        return TickResult(run_id, NOT_RUNNING, detail=MODE_NOT_AVAILABLE)
    except Problem as problem:
        holds[run_id] = VENUE_BACKOFF_SECONDS
        logger.warning("run.tick_deferred", extra={"run_id": run_id, "code": problem.code})
        return TickResult(run_id, DEFERRED, detail=problem.code)
    runtimes.append(runtime)
    try:
        return _decide(run, plan_of(run), runtime, prices)
    except Problem as problem:
        # As in tick_run: nothing was written, the candle is acted on when the venue answers.
        holds[run_id] = VENUE_BACKOFF_SECONDS
        logger.warning("run.tick_deferred", extra={"run_id": run_id, "code": problem.code})
        return TickResult(run_id, DEFERRED, detail=problem.code)
    except Exception:
        holds[run_id] = settings.BOT_TICK_LEASE_SECONDS
        logger.exception("run.tick_crashed", extra={"run_id": run_id})
        return TickResult(run_id, metrics.ERROR)


def _quiet(locked: BotRun, d: _Decided) -> bool:
    """Whether `_record` would write nothing but the book, the candle and the equity point."""
    return (
        d.decision.action not in (ENTER, EXIT, REJECTED)
        and d.loss is None
        and not (d.signal.entry or d.signal.exit)
        and not d.missed_entries
        and d.stale_exit_ts is None
        and locked.execution.get("order_type") != OrderType.LIMIT  # its cancels are counted
    )


_QUIET_FIELDS = [
    "book",
    "position",
    "average_entry",
    "realized_pnl",
    "unrealized_pnl",
    "updated_at",
    "last_candle_ts",
]


def _write_batch(
    decided: list[tuple[BotRun, Runtime, _Decided]], results: dict[str, TickResult]
) -> list[tuple[BotRun, Runtime, list[OrderIntent]]]:
    """Write the batch's decisions in one transaction under the runs' row locks; fills
    `results` and returns the intents to send, run by run."""
    if not decided:
        return []
    sends: list[tuple[BotRun, Runtime, list[OrderIntent]]] = []
    logged: list[tuple[str, _Decided, int]] = []
    with transaction.atomic():
        rows = _locked(BotRun.objects.filter(pk__in=[run.pk for run, _, _ in decided]))
        locked = {str(row.pk): row for row in rows}
        quiet: list[BotRun] = []
        points: list[RunEquityPoint] = []
        now = timezone.now()
        for run, runtime, d in decided:
            run_id = str(run.pk)
            row = locked.get(run_id)
            refused = _refusal(run_id, row, d)
            if refused is not None:
                results[run_id] = refused
                continue
            if _quiet(row, d):
                intents.store_book(row, d.book, mark=d.price)
                row.last_candle_ts, row.updated_at = d.through, now
                quiet.append(row)
                points.append(_equity_point(row, d))
                written: list[OrderIntent] = []
            else:
                written = _record(row, runtime, d)
                if written:
                    sends.append((run, runtime, written))
            span = TIMEFRAME_MS[run.timeframe or plan_of(run).timeframe]
            results[run_id] = TickResult(
                run_id, ACTED, candle_ts=d.through, close_ms=d.through + span
            )
            logged.append((run_id, d, len(written)))
        if quiet:
            _write_books(quiet)
            RunEquityPoint.objects.bulk_create(points)
    for run_id, d, orders in logged:
        _log_ticked(run_id, d, orders)
    return sends


def _write_books(rows: list[BotRun]) -> None:
    """UPDATE the book, PnL and candle of each row: one statement, sent for all rows at once
    (executemany; psycopg pipelines it). Django's bulk_update builds a CASE per row and field,
    about 8 ms of Python per run, more than the whole tick."""
    meta = BotRun._meta
    fields = [meta.get_field(name) for name in _QUIET_FIELDS]
    quote = connection.ops.quote_name
    # Only the model's own table and column names go into the text; every value is a parameter.
    sql = (
        f"UPDATE {quote(meta.db_table)} SET "  # noqa: S608
        + ", ".join(f"{quote(field.column)} = %s" for field in fields)
        + f" WHERE {quote(meta.pk.column)} = %s"
    )
    params = [
        [field.get_db_prep_save(getattr(row, field.attname), connection) for field in fields]
        + [meta.pk.get_db_prep_value(row.pk, connection)]
        for row in rows
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def _release(
    order: list[str],
    *,
    token: str,
    holds: dict[str, float],
    keep: list[str],
    crashed: bool,
) -> None:
    """Give the batch's leases back: held a while for `holds`, all of them after a crash,
    none of `keep` (the runs the batch hands to tick_run)."""
    if crashed:
        lease.release_batch(order, token=token, hold_seconds=settings.BOT_TICK_LEASE_SECONDS)
        return
    for hold in set(holds.values()):
        held = [run_id for run_id, seconds in holds.items() if seconds == hold]
        lease.release_batch(held, token=token, hold_seconds=hold)
    skip = set(keep) | set(holds)
    lease.release_batch([run_id for run_id in order if run_id not in skip], token=token)


def _decide(
    run: BotRun, plan: Plan, runtime: Runtime, prices: dict | None = None
) -> _Decided | TickResult:
    """Read the candles and the price and decide: no transaction, no writes.

    `prices` (a batch's) keeps the sizing price of each venue and symbol for the runs after
    the first: one ticker per symbol and batch, not one per run (a ccxt venue's is an HTTP
    call, and its rate limit counts them).
    """
    run_id = str(run.pk)
    symbol, timeframe = run.symbol or plan.symbol, run.timeframe or plan.timeframe
    span = TIMEFRAME_MS[timeframe]
    now = runtime.clock.now_ms()
    through = latest_closed_ts(now, timeframe)
    last = run.last_candle_ts
    if last is not None and last >= through:
        return TickResult(run_id, NOT_DUE)
    if run.first_candle_ts is not None:
        since = run.first_candle_ts
    else:  # a run started before the runtime kept it: its lookback ended at last_candle_ts
        since = (last if last is not None else through) - (plan.lookback - 1) * span
    history = runtime.candles.closed(symbol, timeframe, since_ms=since, through_ms=through)
    if not len(history) or int(history.ts[-1]) != through:
        return TickResult(run_id, DEFERRED, detail="candle not published yet")
    venue = runtime.venue
    if prices is None:
        price = venue.price(symbol)
    else:
        key = ((run.execution or {}).get("mode"), venue_key(run.exchange_connection), symbol)
        if key not in prices:
            prices[key] = venue.price(symbol)
        price = prices[key]
    book = Book.from_json(run.book)
    if book is None:
        quote = venue.market(symbol)["quote"]
        book = Book.open(
            cash=venue.starting_cash(quote),
            costs=venue.costs(symbol, slippage_bps=run.execution["slippage_bps"]),
            day=_day(now),
        )
    book_before = run.book
    book.start_day(_day(now), price)

    # Candles that closed while no tick ran: the position's exits on each, stale entries.
    first_new = len(history) - 1
    if last is not None:
        first_new = max(int(np.searchsorted(history.ts, last, side="right")), 0)
    first_new = max(first_new, len(history) - 1 - MAX_MISSED)
    position = book.position(plan.exits)
    stale_exit, missed_entries = None, []
    for i in range(first_new, len(history) - 1):
        signal_i = plan.evaluate_latest(history[: i + 1])
        if position is not None:
            reason, position = exit_decision(
                position, float(history.close[i]), exit_signal=signal_i.exit
            )
            if reason is not None:
                stale_exit = (reason, int(history.ts[i]))
                break
        elif signal_i.entry:
            missed_entries.append(int(history.ts[i]))

    signal = plan.evaluate_latest(history)
    close = float(history.close[-1])
    if stale_exit is not None:
        sale = fill_exit(units=book.units, open_price=price, costs=book.costs)
        decision = Decision(EXIT, signal, reason=stale_exit[0], fill=sale, position=position)
    else:
        decision = decide(
            book=book,
            signal=signal,
            close=close,
            price=price,
            sizing=plan.sizing,
            exits=plan.exits,
            cap_quote=float(run.risk["max_position_quote"]),
            position=position,
        )
    book.carry(decision.position)
    return _Decided(
        through=through,
        now_ms=now,
        close=close,
        price=price,
        signal=signal,
        decision=decision,
        book=book,
        book_before=book_before,
        loss=guards.daily_loss(book, mark=price, limit_pct=run.risk["max_daily_loss_pct"]),
        stale_exit_ts=stale_exit[1] if stale_exit is not None else None,
        missed=len(history) - 1 - first_new,
        missed_entries=missed_entries,
    )


def _order_terms(
    run: BotRun, runtime: Runtime, side: str, close: float
) -> tuple[str, Decimal | None]:
    """The type and limit price of a run's order: a limit rests at the close ± slippage."""
    if run.execution.get("order_type") != OrderType.LIMIT:
        return OrderType.MARKET, None
    step = market_step(runtime.venue.market(run.symbol), "price")
    offset = Decimal(run.execution["slippage_bps"]) / Decimal(10_000)
    reference = Decimal(repr(close))
    if side == OrderSide.BUY:
        price = reference * (1 + offset)
        return OrderType.LIMIT, floor_to_step(price, step) if step else price
    price = reference * (1 - offset)
    return OrderType.LIMIT, ceil_to_step(price, step) if step else price


def _write(
    run: BotRun, plan: Plan, runtime: Runtime, d: _Decided
) -> list[OrderIntent] | TickResult:
    """Write the decision in one transaction under the run's row lock; the intents to send."""
    with transaction.atomic():
        locked = _locked(BotRun.objects.filter(pk=run.pk)).first()
        refused = _refusal(str(run.pk), locked, d)
        if refused is not None:
            return refused
        to_send = _record(locked, runtime, d)
    _log_ticked(str(run.pk), d, len(to_send))
    return to_send


def _locked(runs):
    # The workspace comes along for its HOLD flag, unlocked (of=self); a run locked by a stop
    # or a transition is skipped, left for the next dispatch.
    return runs.select_for_update(skip_locked=True, of=("self",)).select_related("workspace")


def _refusal(run_id: str, locked: BotRun | None, d: _Decided) -> TickResult | None:
    """Why the decision `d` may not be written on the locked row, or None when it may."""
    if locked is None:
        return TickResult(run_id, BUSY, detail="row locked")
    if locked.state != State.RUNNING:
        return TickResult(run_id, NOT_RUNNING)
    if locked.last_candle_ts is not None and locked.last_candle_ts >= d.through:
        return TickResult(run_id, NOT_DUE)
    if locked.book != d.book_before:  # booked meanwhile (a lease that ran out): decide again
        return TickResult(run_id, DEFERRED, detail="book changed")
    return None


def _record(locked: BotRun, runtime: Runtime, d: _Decided) -> list[OrderIntent]:
    """Write decision `d` on `locked` (its row lock held in the current transaction): events,
    intents, the book, the candle, the equity point, a guard's trip; the intents to send."""
    decision, book = d.decision, d.book
    on_hold = locked.workspace.on_hold
    events: list[RunEvent] = []

    def event(kind: str, message: str, **data: Any) -> None:
        events.append(services.record_event(locked, kind=kind, message=message, data=data))

    if d.missed_entries or d.stale_exit_ts is not None:
        event(
            Kind.SKIP,
            f"{d.missed} candle(s) closed while no tick ran; their entry signals are stale.",
            reason="missed_candles",
            missed=d.missed,
            stale_entry_signals=d.missed_entries[:20],
            stale_exit_ts=d.stale_exit_ts,
        )
    signal = d.signal
    if signal.entry or signal.exit:
        event(
            Kind.SIGNAL,
            "Entry and exit signals."
            if signal.entry and signal.exit
            else ("Entry signal." if signal.entry else "Exit signal."),
            candle_ts=d.through,
            close=d.close,
            entry=signal.entry,
            exit=signal.exit,
            position=str(book.amount),
        )
    to_send: list[OrderIntent] = []
    trip: tuple[dict, str] | None = None
    if d.loss is not None:
        trip = (
            d.loss,
            f"Daily loss {d.loss['loss_pct']:.4f}% is over the cap of "
            f"{d.loss['max_daily_loss_pct']}%; the position is flattened.",
        )
        if not book.flat:
            if on_hold:
                event(Kind.SKIP, "HOLD: the position is not flattened.", reason="hold")
            else:
                to_send.append(
                    _journal_sale(locked, runtime, d, Purpose.FLATTEN, "kill_cap", OrderType.MARKET)
                )
    elif decision.action in (ENTER, EXIT):
        if decision.action == EXIT:
            event(
                Kind.EXIT,
                f"Exit: {decision.reason}.",
                reason=decision.reason,
                candle_ts=d.stale_exit_ts or d.through,
                close=d.close,
                sizing_price=d.price,
            )
        breaker = None if on_hold else guards.runaway(locked, now_ms=d.now_ms, placing=1)
        if on_hold:
            event(
                Kind.SKIP,
                f"HOLD: the {decision.action} order is not placed.",
                reason="hold",
                action=decision.action,
                amount=str(decision.fill.units * book.costs.step_decimal),
            )
        elif breaker is not None:
            trip = (breaker, "Runaway breaker: too many orders in a minute.")
        elif decision.action == ENTER:
            to_send.append(_journal_entry(locked, runtime, d))
        else:
            order_type = locked.execution.get("order_type") or OrderType.MARKET
            to_send.append(
                _journal_sale(locked, runtime, d, Purpose.EXIT, decision.reason, order_type)
            )
    elif decision.action == REJECTED:
        event(
            Kind.SKIP,
            "The entry signal cannot buy one amount step; the run stays flat.",
            reason="cannot_buy_step",
            cash=book.cash,
            sizing_price=d.price,
            capped=decision.capped_from is not None,
        )
    if trip is None and locked.execution.get("order_type") == OrderType.LIMIT:
        # Only resting (limit) orders are ever canceled: a market bot has no cancels.
        breaker = guards.runaway(locked, now_ms=d.now_ms, placing=0)
        if breaker is not None:  # the cancels alone
            trip = (breaker, "Runaway breaker: too many cancels in a minute.")

    fields = intents.store_book(locked, book, mark=d.price)
    locked.last_candle_ts = d.through
    locked.save(update_fields=[*fields, "last_candle_ts"])
    _equity_point(locked, d).save(force_insert=True)
    final = locked
    if trip is not None:
        final, trip_events = guards.trip(locked, figures=trip[0], message=trip[1])
        events.extend(trip_events)
    intents.announce_on_commit(final, events)
    return to_send


def _equity_point(run: BotRun, d: _Decided) -> RunEquityPoint:
    return RunEquityPoint(
        run=run,
        ts=d.through,
        equity=Decimal(repr(d.book.equity(d.close))),
        position=d.book.amount,
        close=Decimal(repr(d.close)),
    )


def _log_ticked(run_id: str, d: _Decided, orders: int) -> None:
    logger.info(
        "run.ticked",
        extra={
            "run_id": run_id,
            "candle_ts": d.through,
            "action": d.decision.action,
            "orders": orders,
        },
    )


def _journal_entry(run: BotRun, runtime: Runtime, d: _Decided) -> OrderIntent:
    fill, book = d.decision.fill, d.book
    order_type, price = _order_terms(run, runtime, OrderSide.BUY, d.close)
    model: dict[str, Any] = {
        "sizing_price": d.price,
        "cash": book.cash,
        "fill": list(fill),
        "max_position_quote": run.risk["max_position_quote"],
    }
    capped = d.decision.capped_from
    if capped is not None:
        model["capped_from"] = {"amount": str(capped.units * book.costs.step_decimal)}
    return intents.journal(
        run,
        candle_ts=d.through,
        purpose=Purpose.ENTRY,
        side=OrderSide.BUY,
        order_type=order_type,
        amount=fill.units * book.costs.step_decimal,
        price=price,
        decided_at_ms=d.now_ms,
        model=model,
    )


def _journal_sale(
    run: BotRun, runtime: Runtime, d: _Decided, purpose: str, reason: str, order_type: str
) -> OrderIntent:
    price = None
    if order_type == OrderType.LIMIT:
        order_type, price = _order_terms(run, runtime, OrderSide.SELL, d.close)
    return intents.journal(
        run,
        candle_ts=d.through,
        purpose=purpose,
        side=OrderSide.SELL,
        order_type=order_type,
        amount=d.book.amount,
        price=price,
        decided_at_ms=d.now_ms,
        model={"reason": reason, "sizing_price": d.price, "units": d.book.units},
    )
