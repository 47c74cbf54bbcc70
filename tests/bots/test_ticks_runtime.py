"""The runtime around the tick: dispatch, recovery by the next tick and the reconcile pass,
candles missed during an outage, limit orders, the candle cache, modes without a runtime."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone

from bots import tasks
from bots.models import BotRun, OrderIntent, RunEvent
from bots.runtime import candles as candle_module
from bots.runtime import dispatch, intents, lease
from bots.runtime.tick import ACTED, DEFERRED, MODE_NOT_AVAILABLE, NOT_RUNNING, tick_run
from bots.selectors import due_runs
from exchanges.demo.venue import mid_price
from exchanges.exceptions import ExchangeUnreachable
from exchanges.models import DemoOrder
from terminal.models import Order
from tests.bots.ticking import (
    MINUTE,
    T0,
    DemoRuntime,
    first_candle_buy_body,
    make_bot,
    running_run,
)

pytestmark = pytest.mark.django_db

Kind = RunEvent.Kind
Status = OrderIntent.Status
CLOSED_AT_T0 = T0 // MINUTE * MINUTE - MINUTE  # open time of the newest 1m candle closed at T0


@pytest.fixture
def runtime(demo_connection):
    with DemoRuntime(demo_connection) as runtime:
        yield runtime


# --------------------------------------------------------------------------- dispatch


def test_due_runs_are_the_running_ones_behind_their_timeframe(workspace, demo_connection):
    five = first_candle_buy_body(timeframe="5m")
    due_1m = running_run(make_bot(workspace, demo_connection), now_ms=T0)
    fresh_1m = running_run(make_bot(workspace, demo_connection), now_ms=T0 + MINUTE)
    fresh_1m.last_candle_ts = CLOSED_AT_T0
    fresh_1m.save()
    due_5m = running_run(make_bot(workspace, demo_connection, five), now_ms=T0)
    fresh_5m = running_run(make_bot(workspace, demo_connection, five), now_ms=T0 + 5 * MINUTE)
    leased = running_run(make_bot(workspace, demo_connection), now_ms=T0)
    assert lease.claim(leased.pk, token="someone")
    running_run(make_bot(workspace, demo_connection), now_ms=T0, state=BotRun.State.STOPPING)

    due = set(due_runs(now_ms=T0).values_list("pk", flat=True))

    assert due == {due_1m.pk, due_5m.pk}
    assert fresh_5m.last_candle_ts == (T0 // (5 * MINUTE)) * 5 * MINUTE - 5 * MINUTE


def test_dispatch_leases_the_due_runs_and_sends_them_in_batches(
    workspace, demo_connection, settings, monkeypatch
):
    settings.BOT_TICK_BATCH_SIZE = 2
    sent = []
    monkeypatch.setattr(tasks.tick_runs_task, "delay", lambda **kwargs: sent.append(kwargs))
    runs = [running_run(make_bot(workspace, demo_connection), now_ms=T0) for _ in range(5)]

    assert dispatch.dispatch_due_runs(now_ms=T0) == 5

    assert [len(message["run_ids"]) for message in sent] == [2, 2, 1]
    token = sent[0]["dispatch_token"]
    assert {message["dispatch_token"] for message in sent} == {token}
    assert sorted(i for message in sent for i in message["run_ids"]) == sorted(
        str(run.pk) for run in runs
    )
    assert set(BotRun.objects.values_list("tick_lease_token", flat=True)) == {token}
    # In flight: the next dispatch sends none of them again.
    assert dispatch.dispatch_due_runs(now_ms=T0) == 0
    assert len(sent) == 3


def test_a_stale_dispatch_message_finds_the_lease_given_to_a_newer_one(
    workspace, demo_connection, runtime
):
    run = running_run(make_bot(workspace, demo_connection), now_ms=T0)
    assert lease.claim(run.pk, token="newer-dispatch")

    assert tick_run(run.pk, runtime=runtime, dispatch_token="older-dispatch").outcome == "busy"
    assert not OrderIntent.objects.exists()


# --------------------------------------------------------------------------- recovery


def test_the_next_tick_first_sends_what_a_crash_left_journaled(
    workspace, demo_connection, runtime, monkeypatch
):
    run = running_run(make_bot(workspace, demo_connection), now_ms=T0)
    with monkeypatch.context() as crash:
        # The worker dies right after the commit: nothing is sent.
        crash.setattr(intents, "send", lambda intent, **kwargs: intent)
        assert tick_run(run.pk, runtime=runtime).outcome == ACTED
    intent = OrderIntent.objects.get(run=run)
    assert intent.status == Status.PENDING
    assert not Order.objects.exists()

    runtime.advance(MINUTE)
    assert tick_run(run.pk, runtime=runtime).outcome == ACTED

    intent.refresh_from_db()
    assert intent.status == Status.FILLED
    assert Order.objects.get().client_order_id == intent.client_order_id
    assert DemoOrder.objects.count() == 1
    run.refresh_from_db()
    assert run.position == intent.amount  # booked before the next candle was decided
    assert run.last_candle_ts == CLOSED_AT_T0 + MINUTE
    assert OrderIntent.objects.count() == 1  # in a position: no second entry


def test_a_tick_that_cannot_settle_decides_nothing_new(
    workspace, demo_connection, runtime, monkeypatch
):
    run = running_run(make_bot(workspace, demo_connection), now_ms=T0)
    monkeypatch.setattr(intents, "send", lambda intent, **kwargs: intent)  # the venue is away
    tick_run(run.pk, runtime=runtime)
    runtime.advance(MINUTE)

    result = tick_run(run.pk, runtime=runtime)

    assert (result.outcome, result.detail) == (DEFERRED, "unsettled orders")
    run.refresh_from_db()
    assert run.last_candle_ts == CLOSED_AT_T0  # the new candle waits for the order's outcome


def test_the_reconcile_pass_settles_an_ended_runs_pending_flatten(workspace, demo_connection):
    run = running_run(make_bot(workspace, demo_connection), now_ms=T0)
    with DemoRuntime(demo_connection) as runtime:
        tick_run(run.pk, runtime=runtime)
    run.refresh_from_db()
    with transaction.atomic():  # a guard's trip whose worker died before sending the sale
        locked = BotRun.objects.select_for_update().get(pk=run.pk)
        flatten = intents.journal(
            locked,
            candle_ts=run.last_candle_ts,
            purpose=OrderIntent.Purpose.FLATTEN,
            side="sell",
            order_type="market",
            amount=run.position,
            price=None,
            decided_at_ms=T0,
            model={"reason": "kill_cap"},
        )
        locked.state = BotRun.State.FAILED
        locked.save(update_fields=["state"])

    assert dispatch.reconcile_unsettled() == 1

    flatten.refresh_from_db()
    assert flatten.status == Status.FILLED
    run.refresh_from_db()
    assert run.position == 0
    assert Order.objects.filter(side="sell", bot_run=run).count() == 1
    assert dispatch.reconcile_unsettled() == 0  # nothing left


# --------------------------------------------------------------------------- missed candles


def test_candles_missed_while_no_tick_ran_are_not_entered_late(workspace, demo_connection):
    run = running_run(make_bot(workspace, demo_connection), now_ms=T0 - 4 * MINUTE)
    with DemoRuntime(demo_connection) as runtime:
        result = tick_run(run.pk, runtime=runtime)

    assert (result.outcome, result.candle_ts) == (ACTED, CLOSED_AT_T0)
    skip = RunEvent.objects.get(run=run, kind=Kind.SKIP)
    assert skip.data["reason"] == "missed_candles"
    assert skip.data["missed"] == 4
    assert skip.data["stale_entry_signals"] == [CLOSED_AT_T0 - i * MINUTE for i in (4, 3, 2, 1)]
    intent = OrderIntent.objects.get(run=run)  # one entry, on the newest candle only
    assert intent.candle_ts == CLOSED_AT_T0


def test_a_stop_hit_on_a_missed_candle_sells_at_the_next_tick(workspace, demo_connection):
    # A trailing stop of 0.001 % from the entry fill (which paid the spread): the first close
    # after the fill is below it.
    body = first_candle_buy_body(trailing_stop_pct=0.001)
    run = running_run(make_bot(workspace, demo_connection, body), now_ms=T0)
    with DemoRuntime(demo_connection) as runtime:
        tick_run(run.pk, runtime=runtime)
        runtime.advance(4 * MINUTE)  # three candles close while no tick runs
        tick_run(run.pk, runtime=runtime)

    exit_event = RunEvent.objects.get(run=run, kind=Kind.EXIT)
    assert exit_event.data["reason"] == "trailing_stop"
    assert exit_event.data["candle_ts"] == CLOSED_AT_T0 + MINUTE  # the missed candle that hit
    sale = OrderIntent.objects.get(run=run, purpose=OrderIntent.Purpose.EXIT)
    assert sale.candle_ts == CLOSED_AT_T0 + 4 * MINUTE  # sold now, at the tick
    assert sale.status == Status.FILLED
    assert BotRun.objects.get(pk=run.pk).position == 0


# --------------------------------------------------------------------------- limit orders


def _resting_minute(runtime, symbol: str = "BTC/USDT") -> int:
    """A clock time at which the feed is above the last closed candle's close."""
    gateway = runtime.venue._gateway
    for minute in range(240):
        now = T0 + minute * MINUTE
        closed = gateway.fetch_ohlcv(symbol, "1m", since=now // MINUTE * MINUTE - MINUTE, limit=1)
        if mid_price(symbol, now) > closed[0][4]:
            return now
    raise AssertionError("the feed never rose within a candle in four hours")


def test_a_limit_entry_that_rests_is_canceled_at_the_next_tick(workspace, demo_connection):
    bot = make_bot(workspace, demo_connection, order_type="limit", slippage_bps=0)
    with DemoRuntime(demo_connection) as runtime:
        runtime.clock.set(_resting_minute(runtime))
        run = running_run(bot, now_ms=runtime.clock.now_ms())
        tick_run(run.pk, runtime=runtime)
        intent = OrderIntent.objects.get(run=run)
        assert (intent.type, intent.status) == ("limit", Status.OPEN)
        close = runtime.candles.closed(
            "BTC/USDT", "1m", since_ms=intent.candle_ts, through_ms=intent.candle_ts
        ).close[-1]
        assert intent.price == Decimal(repr(float(close))).quantize(Decimal("0.01"))
        assert intent.order.status == "open"
        runtime.advance(MINUTE)
        tick_run(run.pk, runtime=runtime)

    intent.refresh_from_db()
    assert intent.status == Status.CANCELED
    assert intent.canceled_at_ms == runtime.clock.now_ms()
    assert intent.order.status == "canceled"
    assert DemoOrder.objects.get(client_order_id=intent.client_order_id).status == "canceled"
    run.refresh_from_db()
    assert run.position == 0
    # Flat again, the newer candle's entry signal places a new limit order.
    assert OrderIntent.objects.filter(run=run).count() == 2


# --------------------------------------------------------------------------- the runtime


def test_a_mode_without_a_runtime_fails_the_run_and_sends_nothing(workspace, demo_connection):
    # Live mode has no runtime (it waits for its two-person approval): whatever a run's
    # snapshot says, a mode nobody registered must never reach a venue.
    bot = make_bot(workspace, demo_connection)
    run = running_run(bot, now_ms=T0, execution={**bot.execution(), "mode": "live"})

    result = tick_run(run.pk)

    assert (result.outcome, result.detail) == (NOT_RUNNING, MODE_NOT_AVAILABLE)
    run.refresh_from_db()
    assert (run.state, run.error_code) == (BotRun.State.FAILED, MODE_NOT_AVAILABLE)
    assert not Order.objects.exists()
    assert not DemoOrder.objects.exists()


def test_a_venue_outage_defers_the_tick_and_backs_off(
    workspace, demo_connection, runtime, monkeypatch
):
    run = running_run(make_bot(workspace, demo_connection), now_ms=T0)

    def unreachable(symbol):
        raise ExchangeUnreachable("The demo exchange is down for this test.")

    monkeypatch.setattr(runtime.venue, "price", unreachable)
    result = tick_run(run.pk, runtime=runtime)

    assert (result.outcome, result.detail) == (DEFERRED, "exchange-unreachable")
    run.refresh_from_db()
    assert run.last_candle_ts < CLOSED_AT_T0
    assert not run.events.exists()
    assert run.tick_lease_token == ""
    assert run.tick_lease_until > timezone.now()  # not dispatched again for a few seconds
    assert not due_runs(now_ms=T0).filter(pk=run.pk).exists()


class _CountingGateway:
    def __init__(self, inner):
        self.inner = inner
        self.calls = []

    def fetch_ohlcv(self, symbol, timeframe="1m", since=None, limit=None):
        self.calls.append(since)
        return self.inner.fetch_ohlcv(symbol, timeframe, since, limit)


def test_runs_on_the_same_venue_symbol_and_timeframe_share_their_candles(demo_connection):
    with DemoRuntime(demo_connection) as runtime:
        counting = _CountingGateway(runtime.venue._gateway)
        # A key of its own: windows other tests cached do not count here.
        source = candle_module.GatewayCandles(counting, venue_key=f"demo-{uuid.uuid4().hex}")
        since = CLOSED_AT_T0 - 29 * MINUTE

        first = source.closed("BTC/USDT", "1m", since_ms=since, through_ms=CLOSED_AT_T0)
        assert len(first) == 30
        assert len(counting.calls) == 1
        # Another run (another process: only Redis is shared) on the same close fetches nothing.
        candle_module.clear_memo()
        later_start = source.closed(
            "BTC/USDT", "1m", since_ms=since + MINUTE, through_ms=CLOSED_AT_T0
        )
        assert len(later_start) == 29
        assert later_start.ts[0] == since + MINUTE
        assert len(counting.calls) == 1
        # The next close fetches only the new candle.
        nxt = source.closed("BTC/USDT", "1m", since_ms=since, through_ms=CLOSED_AT_T0 + MINUTE)
        assert len(nxt) == 31
        assert counting.calls[1:] == [CLOSED_AT_T0 + MINUTE]
        assert (nxt.close[:30] == first.close).all()


# --------------------------------------------------------------------------- start, book


def test_a_started_run_is_ticked_from_its_lookbacks_first_candle(workspace, demo_connection):
    from bots import services
    from tests.bots.factories import BotRunFactory

    bot = make_bot(workspace, demo_connection)
    run = services.launch_run(run=BotRunFactory(workspace=workspace, bot=bot))
    assert run.state == BotRun.State.RUNNING
    assert (run.symbol, run.timeframe) == ("BTC/USDT", "1m")
    assert run.first_candle_ts == run.last_candle_ts  # the lookback of this strategy is 1

    # The next closed candle (on the wall clock, as live runs tick) is its first decision.
    with DemoRuntime(demo_connection, now_ms=run.last_candle_ts + 2 * MINUTE + 1) as runtime:
        result = tick_run(run.pk, runtime=runtime)

    assert (result.outcome, result.candle_ts) == (ACTED, run.last_candle_ts + MINUTE)
    assert OrderIntent.objects.get(run=run).status == Status.FILLED


def test_the_book_round_trips_and_a_partial_sale_closes_its_share():
    from bots.runtime.book import Book
    from strategies.engine.fills import Costs, Fill

    costs = Costs.of(fee_bps=10, slippage_bps=0, amount_step="0.001")
    book = Book.open(cash=1000.0, costs=costs, day="2026-01-05")
    book.bought(Fill("buy", 100.0, 4000, 4.0, 400.0, 0.4), ts=60_000)

    trade = book.sold(Fill("sell", 110.0, 1000, 1.0, 110.0, 0.11), ts=120_000, reason="signal")

    # A quarter of the position: a quarter of its cost and fee against the sale.
    assert trade["amount"] == "1.000"
    assert trade["pnl"] == f"{(110.0 - 0.11) - (100.0 + 0.1):.8f}"
    assert book.units == 3000
    assert book.entry.notional == pytest.approx(300.0)
    assert book.entry.fee == pytest.approx(0.3)
    assert book.entry_ts == 60_000  # the rest is still the same position
    again = Book.from_json(book.to_json())
    assert again == book
    assert Book.from_json({}) is None
