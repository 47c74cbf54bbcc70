"""A dispatched batch (tick_batch): each run decided as a tick of its own would, written once."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client import REGISTRY

from bots.models import BotRun, OrderIntent, RunEquityPoint, RunEvent
from bots.runtime import intents, lease, tick
from bots.runtime.tick import ACTED, BUSY, DEFERRED, NOT_DUE, NOT_RUNNING, tick_batch, tick_run
from exchanges.exceptions import ExchangeUnreachable
from terminal.models import Order
from tests.bots.ticking import MINUTE, T0, DemoRuntime, first_candle_buy_body, make_bot, running_run

pytestmark = pytest.mark.django_db

Kind = RunEvent.Kind
State = BotRun.State
THROUGH = T0 // MINUTE * MINUTE - MINUTE  # the newest closed candle at T0
BOOK_FIELDS = ("book", "position", "average_entry", "realized_pnl", "unrealized_pnl")


def never_body() -> dict:
    """A strategy whose entry never holds: every candle is a HOLD with nothing to record."""
    body = first_candle_buy_body()
    body["entry"] = {"lt": [{"price": "close"}, 0]}
    return body


@pytest.fixture(autouse=True)
def runtimes_at_t0(monkeypatch):
    """Every run's own runtime is the demo venue on a clock set to T0."""
    monkeypatch.setattr(tick, "runtime_for", lambda run: DemoRuntime(run.exchange_connection))


def ticks(outcome: str) -> float:
    return REGISTRY.get_sample_value("bot_ticks_total", {"outcome": outcome}) or 0.0


def quiet_run(workspace, connection, name: str) -> BotRun:
    bot = make_bot(workspace, connection, never_body(), strategy_name=name)
    return running_run(bot, now_ms=T0)


def test_a_batch_decides_each_run_as_its_own_tick_would(workspace, demo_connection):
    quiet = quiet_run(workspace, demo_connection, "Never")
    buyer = running_run(make_bot(workspace, demo_connection), now_ms=T0)
    stopped = running_run(make_bot(workspace, demo_connection), now_ms=T0, state=State.STOPPED)
    leased = quiet_run(workspace, demo_connection, "Leased")
    assert lease.claim(leased.pk, token="a-stop")
    acted = quiet_run(workspace, demo_connection, "Acted")
    BotRun.objects.filter(pk=acted.pk).update(last_candle_ts=THROUGH)
    before = {outcome: ticks(outcome) for outcome in (ACTED, NOT_RUNNING, BUSY, NOT_DUE)}

    results = tick_batch([quiet.pk, buyer.pk, stopped.pk, leased.pk, acted.pk])

    assert [(r.run_id, r.outcome) for r in results] == [
        (str(quiet.pk), ACTED),
        (str(buyer.pk), ACTED),
        (str(stopped.pk), NOT_RUNNING),
        (str(leased.pk), BUSY),
        (str(acted.pk), NOT_DUE),
    ]
    assert results[0].candle_ts == results[1].candle_ts == THROUGH
    assert results[0].close_ms == THROUGH + MINUTE
    quiet.refresh_from_db()
    assert quiet.last_candle_ts == THROUGH
    assert quiet.book["cash"] == pytest.approx(10_000)
    assert not quiet.events.exists()
    assert RunEquityPoint.objects.get(run=quiet).ts == THROUGH
    # The buyer's decision went through the full record: events, the intent, the order.
    buyer.refresh_from_db()
    assert list(buyer.events.order_by("seq").values_list("kind", flat=True)) == [
        Kind.SIGNAL,
        Kind.ORDER,
        Kind.FILL,
    ]
    assert OrderIntent.objects.get(run=buyer).status == OrderIntent.Status.FILLED
    assert Order.objects.get().bot_run_id == buyer.pk
    # Leases: the batch's given back, the stop's left alone.
    assert set(BotRun.objects.exclude(pk=leased.pk).values_list("tick_lease_token", flat=True)) == {
        ""
    }
    leased.refresh_from_db()
    assert leased.tick_lease_token == "a-stop"
    assert leased.last_candle_ts < THROUGH
    # Every run's tick is counted by its outcome.
    assert ticks(ACTED) == before[ACTED] + 2
    assert ticks(NOT_RUNNING) == before[NOT_RUNNING] + 1
    assert ticks(BUSY) == before[BUSY] + 1
    assert ticks(NOT_DUE) == before[NOT_DUE] + 1


def test_a_quiet_decision_in_bulk_writes_what_a_tick_alone_writes(workspace, demo_connection):
    alone = quiet_run(workspace, demo_connection, "Alone")
    batched = quiet_run(workspace, demo_connection, "Batched")

    with DemoRuntime(demo_connection) as runtime:
        assert tick_run(alone.pk, runtime=runtime).outcome == ACTED
    assert tick_batch([batched.pk])[0].outcome == ACTED

    alone.refresh_from_db()
    batched.refresh_from_db()
    assert [getattr(batched, name) for name in BOOK_FIELDS] == [
        getattr(alone, name) for name in BOOK_FIELDS
    ]
    assert batched.last_candle_ts == alone.last_candle_ts == THROUGH
    assert batched.updated_at > batched.created_at
    point = RunEquityPoint.objects.values("ts", "equity", "position", "close")
    assert point.get(run=batched) == point.get(run=alone)


def test_the_same_batch_again_decides_nothing_twice(workspace, demo_connection):
    runs = [quiet_run(workspace, demo_connection, f"Never {i}") for i in range(3)]
    buyer = running_run(make_bot(workspace, demo_connection), now_ms=T0)
    ids = [run.pk for run in [*runs, buyer]]

    assert {r.outcome for r in tick_batch(ids)} == {ACTED}
    assert {r.outcome for r in tick_batch(ids)} == {NOT_DUE}

    assert RunEquityPoint.objects.filter(run_id__in=ids).count() == 4
    assert OrderIntent.objects.filter(run=buyer).count() == 1
    assert Order.objects.count() == 1


def test_a_run_with_an_unsettled_intent_is_settled_by_a_tick_of_its_own(workspace, demo_connection):
    run = running_run(make_bot(workspace, demo_connection), now_ms=T0)
    other = quiet_run(workspace, demo_connection, "Never")
    # An entry a crashed tick journaled on the previous candle and never sent.
    pending = intents.journal(
        run,
        candle_ts=THROUGH - MINUTE,
        purpose=OrderIntent.Purpose.ENTRY,
        side="buy",
        order_type="market",
        amount=tick.Decimal("0.001"),
        price=None,
        decided_at_ms=T0 - MINUTE,
        model={},
    )
    BotRun.objects.filter(pk=run.pk).update(book=running_book(demo_connection))

    results = tick_batch([run.pk, other.pk])

    assert [r.outcome for r in results] == [ACTED, ACTED]
    pending.refresh_from_db()
    assert pending.status == OrderIntent.Status.FILLED  # sent once, then the candle decided
    run.refresh_from_db()
    assert run.last_candle_ts == THROUGH
    assert run.tick_lease_token == ""
    assert Order.objects.filter(client_order_id=pending.client_order_id).count() == 1


def running_book(connection) -> dict:
    """The book a run opens on its first tick (10,000 USDT flat) at T0."""
    with DemoRuntime(connection) as runtime:
        costs = runtime.venue.costs("BTC/USDT", slippage_bps=10)
    return tick.Book.open(cash=10_000.0, costs=costs, day=tick._day(T0)).to_json()


def test_when_the_batch_cannot_write_each_run_is_ticked_alone(
    workspace, demo_connection, monkeypatch, caplog
):
    runs = [quiet_run(workspace, demo_connection, f"Never {i}") for i in range(2)]

    def broken(rows):
        raise RuntimeError("the bulk write failed")

    monkeypatch.setattr(tick, "_write_books", broken)
    with caplog.at_level(logging.ERROR, logger="bots.runtime.tick"):
        results = tick_batch([run.pk for run in runs])

    assert [r.outcome for r in results] == [ACTED, ACTED]
    assert RunEquityPoint.objects.filter(run__in=runs).count() == 2
    assert set(BotRun.objects.values_list("last_candle_ts", flat=True)) == {THROUGH}
    assert [r.getMessage() for r in caplog.records] == ["runs.batch_write_failed"]


def test_a_venue_that_fails_defers_its_run_and_holds_its_lease(
    workspace, demo_connection, monkeypatch
):
    # On a symbol of its own: the batch asks the venue's price once per symbol.
    body = never_body()
    body["symbol"] = "ETH/USDT"
    failing = running_run(
        make_bot(workspace, demo_connection, body, strategy_name="Failing"), now_ms=T0
    )
    fine = quiet_run(workspace, demo_connection, "Fine")

    def runtime_for(run):
        runtime = DemoRuntime(run.exchange_connection)
        if run.pk == failing.pk:

            def unreachable(symbol):
                raise ExchangeUnreachable("The demo venue is down.")

            runtime.venue.price = unreachable
        return runtime

    monkeypatch.setattr(tick, "runtime_for", runtime_for)
    results = tick_batch([failing.pk, fine.pk])

    assert [(r.outcome, r.detail) for r in results] == [
        (DEFERRED, "exchange-unreachable"),
        (ACTED, ""),
    ]
    failing.refresh_from_db()
    assert failing.last_candle_ts < THROUGH
    # Not asked again on every dispatch: its lease is kept for the venue's back-off.
    assert failing.tick_lease_token == ""
    assert failing.tick_lease_until > timezone.now() + timedelta(seconds=2)
    fine.refresh_from_db()
    assert fine.tick_lease_until is None


def test_a_batch_asks_the_venue_for_a_symbols_price_once(workspace, demo_connection, monkeypatch):
    runs = [quiet_run(workspace, demo_connection, f"Never {i}") for i in range(3)]
    asked: list[str] = []

    def runtime_for(run):
        runtime = DemoRuntime(run.exchange_connection)
        price = runtime.venue.price

        def counted(symbol):
            asked.append(symbol)
            return price(symbol)

        runtime.venue.price = counted
        return runtime

    monkeypatch.setattr(tick, "runtime_for", runtime_for)
    assert {r.outcome for r in tick_batch([run.pk for run in runs])} == {ACTED}

    assert asked == ["BTC/USDT"]
