"""The guards of a running bot: the daily loss cap, the runaway breakers, HOLD, the size cap."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bots.models import BotRun, OrderIntent, RunEvent
from bots.runtime import guards
from bots.runtime.tick import ACTED, tick_run
from exchanges.models import DemoOrder
from terminal.models import Order
from tests.bots.ticking import MINUTE, T0, DemoRuntime, make_bot, running_run
from workspaces.models import AuditEvent

pytestmark = pytest.mark.django_db

Kind = RunEvent.Kind
State = BotRun.State


@pytest.fixture
def runtime(demo_connection):
    with DemoRuntime(demo_connection) as runtime:
        yield runtime


def seed_intents(run: BotRun, count: int, *, at_ms: int, canceled: bool = False) -> None:
    """`count` orders the run placed in the minute before `at_ms` (or placed earlier and
    canceled in that minute)."""
    OrderIntent.objects.bulk_create(
        OrderIntent(
            run=run,
            candle_ts=-(i + 1),  # candles of their own, so the tick's is not taken
            purpose=OrderIntent.Purpose.ENTRY,
            side="buy",
            type="limit",
            amount=Decimal("0.001"),
            price=Decimal("1"),
            idempotency_key=f"seeded:{run.pk}:{i}",
            client_order_id=f"seeded{i}",
            status=OrderIntent.Status.CANCELED if canceled else OrderIntent.Status.FILLED,
            decided_at_ms=at_ms - (120_000 if canceled else 30_000),
            canceled_at_ms=at_ms - 20_000 if canceled else None,
        )
        for i in range(count)
    )


def test_daily_loss_beyond_the_cap_fails_the_run_and_flattens_it(
    workspace, demo_connection, runtime
):
    # 0.01 % of the day's 10,000 USDT: the fee and the spread of one 1000 USDT buy already
    # cost more, unless the price rises enough; the feed decides on which minute it trips.
    bot = make_bot(workspace, demo_connection, max_daily_loss_pct=Decimal("0.01"))
    run = running_run(bot, now_ms=T0)
    assert tick_run(run.pk, runtime=runtime).outcome == ACTED
    for _ in range(30):
        run.refresh_from_db()
        if run.state != State.RUNNING:
            break
        runtime.advance(MINUTE)
        tick_run(run.pk, runtime=runtime)

    run.refresh_from_db()
    assert run.state == State.FAILED
    assert run.error_code == guards.KILL_CAP_DAILY_LOSS
    figures = run.guard
    assert figures["code"] == guards.KILL_CAP_DAILY_LOSS
    assert figures["max_daily_loss_pct"] == "0.01"
    assert figures["loss_pct"] > 0.01
    assert figures["day_start_equity"] == pytest.approx(10_000)
    assert figures["equity"] == pytest.approx(figures["day_start_equity"] - figures["loss"])
    assert Decimal(figures["position"]) > 0
    # The trip is a guard event and the FAILED transition, both with the figures; then the
    # flattening sale goes through the terminal like any order.
    guard = run.events.get(kind=Kind.GUARD)
    failed = run.events.get(kind=Kind.TRANSITION, to_state=State.FAILED)
    assert guard.data == failed.data == figures
    assert failed.seq == guard.seq + 1
    after = list(run.events.filter(seq__gt=failed.seq).values_list("kind", flat=True))
    assert after == [Kind.ORDER, Kind.FILL]
    flatten = OrderIntent.objects.get(run=run, purpose=OrderIntent.Purpose.FLATTEN)
    assert (flatten.side, flatten.type, flatten.status) == ("sell", "market", "filled")
    assert flatten.model["reason"] == "kill_cap"
    assert run.position == 0
    assert DemoOrder.objects.filter(connection=demo_connection).count() == Order.objects.count()
    assert sorted(Order.objects.values_list("side", flat=True)) == ["buy", "sell"]
    audit = AuditEvent.objects.get(action="run.guard_tripped")
    assert audit.target_id == str(run.pk)
    assert audit.details["code"] == guards.KILL_CAP_DAILY_LOSS
    # An ended run is not ticked again.
    runtime.advance(MINUTE)
    tick_run(run.pk, runtime=runtime)
    assert Order.objects.count() == 2


def test_the_kill_cap_counts_open_pnl_at_the_mark():
    from bots.runtime.book import Book
    from strategies.engine.fills import Costs, Fill

    costs = Costs.of(fee_bps=10, slippage_bps=0, amount_step="0.001")
    book = Book.open(cash=1000.0, costs=costs, day="2026-01-05")
    book.bought(Fill("buy", 100.0, 5000, 5.0, 500.0, 0.5), ts=0)  # 5 units at 100, fee 0.5

    assert guards.daily_loss(book, mark=100.0, limit_pct="1") is None  # the fee alone: 0.05 %
    assert guards.daily_loss(book, mark=98.1, limit_pct="1") is None  # 0.5 + 9.5 = 1.00 %
    tripped = guards.daily_loss(book, mark=98.0, limit_pct="1")  # 0.5 + 10 = 1.05 %
    assert tripped["loss"] == pytest.approx(10.5)
    assert tripped["loss_pct"] == pytest.approx(1.05)
    assert tripped["unrealized_pnl"] == pytest.approx(-10.5)


def test_more_orders_than_max_orders_per_minute_trip_the_runaway_breaker(
    workspace, demo_connection, runtime
):
    run = running_run(make_bot(workspace, demo_connection, max_orders_per_minute=1), now_ms=T0)
    seed_intents(run, 1, at_ms=T0)

    assert tick_run(run.pk, runtime=runtime).outcome == ACTED

    run.refresh_from_db()
    assert (run.state, run.error_code) == (State.FAILED, guards.RUNAWAY_BREAKER)
    assert run.guard["tripped_by"] == "max_orders_per_minute"
    assert run.guard["placements_last_minute"] == 1
    assert run.guard["max_placements_per_minute"] == 1
    # The order that would have exceeded it was never journaled, let alone sent.
    assert OrderIntent.objects.filter(run=run).count() == 1
    assert not Order.objects.exists()
    assert not DemoOrder.objects.exists()
    assert run.events.get(kind=Kind.GUARD).data == run.guard
    assert AuditEvent.objects.filter(action="run.guard_tripped", target_id=str(run.pk)).exists()


def test_placements_of_an_earlier_minute_do_not_count(workspace, demo_connection, runtime):
    run = running_run(make_bot(workspace, demo_connection, max_orders_per_minute=1), now_ms=T0)
    seed_intents(run, 1, at_ms=T0 - 31_000)  # decided 61 s before the tick

    tick_run(run.pk, runtime=runtime)

    run.refresh_from_db()
    assert run.state == State.RUNNING
    assert Order.objects.count() == 1


def test_the_300_placements_breaker_holds_whatever_the_bot_allows(
    workspace, demo_connection, runtime
):
    run = running_run(make_bot(workspace, demo_connection, max_orders_per_minute=300), now_ms=T0)
    seed_intents(run, 300, at_ms=T0)

    tick_run(run.pk, runtime=runtime)

    run.refresh_from_db()
    assert (run.state, run.error_code) == (State.FAILED, guards.RUNAWAY_BREAKER)
    assert run.guard["tripped_by"] == "runaway_placements_per_minute"
    assert run.guard["placements_last_minute"] == 300
    assert not Order.objects.exists()


def test_more_than_600_cancels_a_minute_trip_the_breaker(workspace, demo_connection, runtime):
    # Cancels come from resting limit orders (a limit bot's), canceled at the next tick.
    run = running_run(make_bot(workspace, demo_connection, order_type="limit"), now_ms=T0)
    seed_intents(run, 601, at_ms=T0, canceled=True)

    tick_run(run.pk, runtime=runtime)

    run.refresh_from_db()
    assert (run.state, run.error_code) == (State.FAILED, guards.RUNAWAY_BREAKER)
    assert run.guard["tripped_by"] == "runaway_cancels_per_minute"
    assert run.guard["cancels_last_minute"] == 601
    assert not Order.objects.exists()


def test_hold_places_no_orders_and_the_tick_logs_a_skip(workspace, demo_connection, runtime):
    run = running_run(make_bot(workspace, demo_connection), now_ms=T0)
    workspace.on_hold = True
    workspace.save(update_fields=["on_hold"])

    assert tick_run(run.pk, runtime=runtime).outcome == ACTED

    run.refresh_from_db()
    assert run.state == State.RUNNING
    assert run.last_candle_ts == T0 // MINUTE * MINUTE - MINUTE  # the candle was acted on
    assert not OrderIntent.objects.exists()
    assert not Order.objects.exists()
    assert not DemoOrder.objects.exists()
    skip = run.events.get(kind=Kind.SKIP)
    assert skip.data["reason"] == "hold"
    assert skip.data["action"] == "enter"
    assert list(run.events.values_list("kind", flat=True)) == [Kind.SIGNAL, Kind.SKIP]

    # Resumed: the next candle's entry signal buys.
    workspace.on_hold = False
    workspace.save(update_fields=["on_hold"])
    runtime.advance(MINUTE)
    tick_run(run.pk, runtime=runtime)
    assert Order.objects.count() == DemoOrder.objects.count() == 1


def test_max_position_quote_caps_the_size(workspace, demo_connection, runtime):
    run = running_run(
        make_bot(workspace, demo_connection, max_position_quote=Decimal("50")), now_ms=T0
    )

    tick_run(run.pk, runtime=runtime)

    order = Order.objects.get()
    assert order.filled * order.average + order.fee <= Decimal("50")
    assert order.filled * order.average > Decimal("45")  # a BTC step is under a dollar
    intent = OrderIntent.objects.get(run=run)
    assert intent.model["max_position_quote"] == "50"
    assert Decimal(intent.model["capped_from"]["amount"]) > intent.amount


def test_a_cap_below_one_amount_step_buys_nothing(workspace, demo_connection, runtime):
    run = running_run(
        make_bot(workspace, demo_connection, max_position_quote=Decimal("0.5")), now_ms=T0
    )

    tick_run(run.pk, runtime=runtime)

    assert not Order.objects.exists()
    skip = RunEvent.objects.get(run=run, kind=Kind.SKIP)
    assert skip.data["reason"] == "cannot_buy_step"
    assert skip.data["capped"] is True
