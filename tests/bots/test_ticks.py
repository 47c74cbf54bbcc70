"""The tick runtime in the process: decisions, orders through the terminal, the book, leases."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.db import connection as db_connection

from bots.models import BotRun, OrderIntent, RunEquityPoint, RunEvent
from bots.runtime import lease
from bots.runtime.tick import ACTED, BUSY, NOT_DUE, NOT_RUNNING, tick_run
from exchanges.models import DemoOrder
from terminal.models import Order
from tests.bots.ticking import (
    MINUTE,
    T0,
    DemoRuntime,
    buy_then_sell_body,
    make_bot,
    running_run,
)

Kind = RunEvent.Kind


@pytest.fixture
def runtime(demo_connection):
    with DemoRuntime(demo_connection) as runtime:
        yield runtime


def kinds(run: BotRun) -> list[str]:
    return list(run.events.order_by("seq").values_list("kind", flat=True))


@pytest.mark.django_db
def test_a_bot_that_buys_on_its_first_candle_places_one_order_and_none_on_the_next(
    workspace, demo_connection, runtime
):
    run = running_run(make_bot(workspace, demo_connection), now_ms=T0)
    through = T0 // MINUTE * MINUTE - MINUTE  # the newest closed candle at T0

    first = tick_run(run.pk, runtime=runtime)

    assert (first.outcome, first.candle_ts) == (ACTED, through)
    run.refresh_from_db()
    assert run.last_candle_ts == through
    intent = OrderIntent.objects.get(run=run)
    assert (intent.purpose, intent.side, intent.type, intent.status) == (
        "entry",
        "buy",
        "market",
        "filled",
    )
    assert intent.idempotency_key == f"run:{run.pk}:{through}:entry"
    order = Order.objects.get()
    assert (order.origin, order.bot_run_id, order.client_order_id) == (
        "bot",
        run.pk,
        intent.client_order_id,
    )
    assert intent.order == order
    assert order.status == "closed"
    venue_order = DemoOrder.objects.get(connection=demo_connection)
    assert venue_order.client_order_id == order.client_order_id
    # 100 % of the 10,000 USDT account, capped at max_position_quote (1000) with the fee.
    assert order.filled * order.average + order.fee <= Decimal("1000")
    assert order.filled * order.average > Decimal("990")
    assert intent.model["capped_from"]
    assert run.position == order.filled
    assert run.average_entry == order.average
    assert run.book["entry"] is not None
    assert kinds(run) == [Kind.SIGNAL, Kind.ORDER, Kind.FILL]
    fill = run.events.get(kind=Kind.FILL)
    assert fill.data["ts"] == through + MINUTE  # fills on the next candle, like the lab
    point = RunEquityPoint.objects.get(run=run)
    assert point.ts == through
    assert point.position == 0

    runtime.advance(MINUTE)
    second = tick_run(run.pk, runtime=runtime)

    assert (second.outcome, second.candle_ts) == (ACTED, through + MINUTE)
    assert OrderIntent.objects.filter(run=run).count() == 1
    assert Order.objects.count() == DemoOrder.objects.count() == 1
    run.refresh_from_db()
    assert run.last_candle_ts == through + MINUTE
    assert run.position == order.filled
    assert kinds(run) == [Kind.SIGNAL, Kind.ORDER, Kind.FILL, Kind.SIGNAL]  # in a position
    assert run.unrealized_pnl != 0
    assert RunEquityPoint.objects.filter(run=run).count() == 2

    # The same candle again (a redelivered message): nothing is decided twice.
    assert tick_run(run.pk, runtime=runtime).outcome == NOT_DUE
    assert RunEvent.objects.filter(run=run).count() == 4


@pytest.mark.django_db
def test_an_exit_signal_sells_the_position_and_books_the_trade(workspace, demo_connection, runtime):
    run = running_run(make_bot(workspace, demo_connection, buy_then_sell_body()), now_ms=T0)

    tick_run(run.pk, runtime=runtime)
    runtime.advance(MINUTE)
    tick_run(run.pk, runtime=runtime)

    run.refresh_from_db()
    buy, sale = OrderIntent.objects.filter(run=run).order_by("decided_at_ms")
    assert (buy.purpose, sale.purpose) == ("entry", "exit")
    assert (sale.side, sale.status) == ("sell", "filled")
    assert sale.amount == buy.amount
    assert run.position == 0
    assert run.average_entry is None
    assert run.unrealized_pnl == 0
    assert kinds(run) == [
        Kind.SIGNAL,
        Kind.ORDER,
        Kind.FILL,
        Kind.SIGNAL,
        Kind.EXIT,
        Kind.ORDER,
        Kind.FILL,
    ]
    trade = run.events.filter(kind=Kind.FILL).last().data["trade"]
    assert trade["exit_reason"] == "signal"
    assert trade["amount"] == str(buy.amount.normalize())
    assert trade["entry_ts"] + MINUTE == trade["exit_ts"]
    # realized PnL is the trade's: both fees and the spread are lost
    assert Decimal(trade["pnl"]) == pytest.approx(run.realized_pnl, abs=Decimal("1e-8"))
    assert run.book["trades"] == 1


@pytest.mark.django_db
def test_a_run_that_is_not_running_is_not_ticked(workspace, demo_connection, runtime):
    run = running_run(make_bot(workspace, demo_connection), now_ms=T0, state=BotRun.State.STOPPING)

    assert tick_run(run.pk, runtime=runtime).outcome == NOT_RUNNING
    assert not OrderIntent.objects.exists()
    assert not run.events.exists()


@pytest.mark.django_db
def test_a_leased_run_is_busy_and_its_lease_is_left_alone(workspace, demo_connection, runtime):
    run = running_run(make_bot(workspace, demo_connection), now_ms=T0)
    assert lease.claim(run.pk, token="other-tick")

    assert tick_run(run.pk, runtime=runtime).outcome == BUSY
    run.refresh_from_db()
    assert run.tick_lease_token == "other-tick"
    assert run.last_candle_ts < T0 // MINUTE * MINUTE - MINUTE
    # The dispatcher's token hands the lease over to the tick it sent.
    assert tick_run(run.pk, runtime=runtime, dispatch_token="other-tick").outcome == ACTED
    run.refresh_from_db()
    assert run.tick_lease_token == ""
    assert run.tick_lease_until is None


def _tick_in_thread(run_id, connection, results, barrier):
    try:
        with DemoRuntime(connection) as own:
            barrier.wait()
            results.append(tick_run(run_id, runtime=own).outcome)
    finally:
        db_connection.close()


@pytest.mark.django_db(transaction=True)
def test_concurrent_ticks_of_one_run_only_one_acts(workspace, demo_connection):
    run = running_run(make_bot(workspace, demo_connection), now_ms=T0)
    results: list[str] = []
    barrier = threading.Barrier(4)
    threads = [
        threading.Thread(target=_tick_in_thread, args=(run.pk, demo_connection, results, barrier))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert sorted(results).count(ACTED) == 1
    assert set(results) <= {ACTED, BUSY, NOT_DUE}
    assert OrderIntent.objects.filter(run=run).count() == 1
    assert Order.objects.count() == DemoOrder.objects.count() == 1
    assert RunEvent.objects.filter(run=run, kind=Kind.SIGNAL).count() == 1


@pytest.mark.django_db(transaction=True)
def test_without_the_lease_the_row_lock_still_decides_a_candle_once(
    workspace, demo_connection, monkeypatch
):
    """Leases that overlap (one ran out mid-tick) still decide each (run, candle) once."""
    monkeypatch.setattr(lease, "claim", lambda *args, **kwargs: True)
    run = running_run(make_bot(workspace, demo_connection), now_ms=T0)
    results: list[str] = []
    barrier = threading.Barrier(4)
    threads = [
        threading.Thread(target=_tick_in_thread, args=(run.pk, demo_connection, results, barrier))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert results.count(ACTED) == 1, results
    assert OrderIntent.objects.filter(run=run).count() == 1
    assert Order.objects.count() == DemoOrder.objects.count() == 1
    assert RunEvent.objects.filter(run=run, kind=Kind.SIGNAL).count() == 1
