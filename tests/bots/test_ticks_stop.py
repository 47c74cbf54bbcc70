"""Stopping a ticking run: the tick in progress finishes first; close_on_stop flattens."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection as db_connection

from bots import services
from bots.models import BotRun, OrderIntent, RunEvent
from bots.runtime.tick import ACTED, tick_run
from exchanges.models import DemoOrder
from terminal.models import Order
from tests.bots.ticking import T0, DemoRuntime, make_bot, running_run

Kind = RunEvent.Kind
State = BotRun.State


def trail(run: BotRun) -> list[tuple[str, str]]:
    return list(run.events.order_by("seq").values_list("kind", "to_state"))


@pytest.mark.django_db
def test_close_on_stop_flattens_the_position_through_the_order_path(workspace, demo_connection):
    run = running_run(make_bot(workspace, demo_connection, close_on_stop=True), now_ms=T0)
    with DemoRuntime(demo_connection) as runtime:
        assert tick_run(run.pk, runtime=runtime).outcome == ACTED
    run.refresh_from_db()
    held = run.position
    assert held > 0

    services.stop_run(run=run, actor=None)
    services.finish_stop(run=run)

    run.refresh_from_db()
    assert run.state == State.STOPPED
    assert run.position == 0
    flatten = OrderIntent.objects.get(run=run, purpose=OrderIntent.Purpose.FLATTEN)
    assert (flatten.side, flatten.type, flatten.amount, flatten.status) == (
        "sell",
        "market",
        held,
        "filled",
    )
    assert flatten.idempotency_key == f"run:{run.pk}:{run.last_candle_ts}:flatten"
    sale = Order.objects.get(side="sell")
    assert (sale.origin, sale.bot_run_id, sale.filled) == ("bot", run.pk, held)
    assert DemoOrder.objects.filter(connection=demo_connection, side="sell").count() == 1
    assert trail(run)[-5:] == [
        (Kind.TRANSITION, State.STOPPING),
        (Kind.EXIT, ""),
        (Kind.ORDER, ""),
        (Kind.FILL, ""),
        (Kind.TRANSITION, State.STOPPED),
    ]
    trade = run.events.filter(kind=Kind.FILL).last().data["trade"]
    assert trade["exit_reason"] == "close_on_stop"

    # A stop delivered twice flattens once.
    services.finish_stop(run=run)
    assert Order.objects.filter(side="sell").count() == 1


@pytest.mark.django_db
def test_without_close_on_stop_the_position_is_kept(workspace, demo_connection):
    run = running_run(make_bot(workspace, demo_connection), now_ms=T0)
    with DemoRuntime(demo_connection) as runtime:
        tick_run(run.pk, runtime=runtime)

    services.stop_run(run=run, actor=None)
    services.finish_stop(run=run)

    run.refresh_from_db()
    assert run.state == State.STOPPED
    assert run.position > 0
    assert not Order.objects.filter(side="sell").exists()


class _PausedGateway:
    """Holds `create_order` until the test lets it go, to stop a run in mid-tick."""

    def __init__(self, inner):
        self.inner = inner
        self.sending = threading.Event()
        self.go = threading.Event()

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def create_order(self, *args, **kwargs):
        self.sending.set()
        assert self.go.wait(30)
        return self.inner.create_order(*args, **kwargs)


@pytest.mark.django_db(transaction=True)
def test_a_stop_during_a_tick_waits_for_it_then_flattens(workspace, demo_connection):
    run = running_run(make_bot(workspace, demo_connection, close_on_stop=True), now_ms=T0)
    runtime = DemoRuntime(demo_connection)
    paused = _PausedGateway(runtime.venue.gateway)
    runtime.venue.gateway = paused
    finished: dict[str, float] = {}

    def ticking():
        try:
            tick_run(run.pk, runtime=runtime)
            finished["tick"] = time.monotonic()
        finally:
            db_connection.close()

    def stopping():
        try:
            services.finish_stop(run=run)
            finished["stop"] = time.monotonic()
        finally:
            db_connection.close()

    tick_thread = threading.Thread(target=ticking)
    tick_thread.start()
    assert paused.sending.wait(30)  # decided and journaled; the order is on its way
    services.stop_run(run=run, actor=None)  # the decision's row lock is long released
    stop_thread = threading.Thread(target=stopping)
    stop_thread.start()
    stop_thread.join(1.0)

    # The stop waits for the tick in progress.
    assert stop_thread.is_alive()
    assert BotRun.objects.get(pk=run.pk).state == State.STOPPING

    paused.go.set()
    tick_thread.join(30)
    stop_thread.join(60)
    runtime.close()

    assert finished["tick"] <= finished["stop"]
    run.refresh_from_db()
    assert run.state == State.STOPPED
    assert run.position == 0
    assert [(i.purpose, i.status) for i in OrderIntent.objects.filter(run=run)] == [
        ("entry", "filled"),
        ("flatten", "filled"),
    ]
    assert Order.objects.count() == DemoOrder.objects.count() == 2
    kinds = trail(run)
    assert kinds.index((Kind.TRANSITION, State.STOPPING)) < kinds.index((Kind.FILL, ""))
    assert kinds[-1] == (Kind.TRANSITION, State.STOPPED)
    assert [kind for kind, _ in kinds].count(Kind.FILL) == 2


@pytest.mark.django_db(transaction=True)
def test_a_stop_before_the_decision_is_written_makes_the_tick_decide_nothing(
    workspace, demo_connection, monkeypatch
):
    run = running_run(make_bot(workspace, demo_connection), now_ms=T0)
    with DemoRuntime(demo_connection) as runtime:
        price = runtime.venue.price

        def stop_meanwhile(symbol):
            # The tick has read the candles and is asking the price: a stop comes now.
            services.stop_run(run=run, actor=None)
            return price(symbol)

        monkeypatch.setattr(runtime.venue, "price", stop_meanwhile)
        result = tick_run(run.pk, runtime=runtime)

    assert result.outcome == "not_running"
    assert not OrderIntent.objects.exists()
    assert not Order.objects.exists()
    run.refresh_from_db()
    assert run.state == State.STOPPING
    assert not run.events.filter(kind=Kind.SIGNAL).exists()
    services.finish_stop(run=run)
    assert BotRun.objects.get(pk=run.pk).state == State.STOPPED
