"""Replays beside live runs: a replay's run is none of the bot's live runs, its orders never
reach an account or the terminal's views, and a replay that cannot finish fails readably."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from bots import live, replays, selectors, services, tasks
from bots.models import BotReplay, BotRun, OrderIntent, ReplayTrade, RunEvent
from bots.runtime import dispatch
from bots.runtime.replay import ReplayGateway
from exchanges.exceptions import InsufficientFunds, InvalidOrder, OrderNotOpen
from exchanges.models import DemoBalance, DemoOrder
from strategies.engine import Candles
from strategies.engine.fills import Costs
from terminal.models import Order
from tests.bots.conftest import BOTS, RUNS
from tests.bots.factories import BotReplayFactory, BotRunFactory
from tests.bots.test_replay_api import demo_dataset
from tests.factories import OrderFactory
from workspaces.models import Workspace

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_task(monkeypatch):
    """Replays are run in process here; the task create_replay sends is not."""
    monkeypatch.setattr(tasks.run_replay_task, "delay_on_commit", lambda **kwargs: None)


@pytest.fixture
def dataset(workspace):
    return demo_dataset(workspace)


@pytest.fixture
def finished(bot, dataset) -> BotReplay:
    """A replay of the SMA crossover bot that succeeded with trades."""
    replay = replays.create_replay(
        bot=bot, actor=None, dataset=dataset, initial_cash=Decimal(10000), fee_bps=Decimal(10)
    )
    replay = replays.run_replay(replay_id=replay.pk)
    assert replay.status == BotReplay.Status.SUCCEEDED, replay.error
    assert replay.trades.exists()
    return replay


@pytest.fixture
def replaying(bot) -> BotRun:
    """The RUNNING run of a replay in progress, far behind the clock and long started."""
    replay = BotReplayFactory(workspace=bot.workspace, bot=bot, status=BotReplay.Status.RUNNING)
    return BotRunFactory(
        workspace=bot.workspace,
        bot=bot,
        replay=replay,
        state=BotRun.State.RUNNING,
        symbol="BTC/USDT",
        timeframe="1m",
        first_candle_ts=1_740_787_200_000,
        last_candle_ts=1_740_787_200_000,
        started_at=timezone.now() - timedelta(days=1),
        execution={"order_type": "market", "slippage_bps": 10, "mode": "replay"},
    )


def test_a_replay_in_progress_is_not_the_bots_active_run(trader_api, bot, replaying):
    assert selectors.active_run(bot=bot) is None
    listed = trader_api.get(f"{BOTS}/{bot.pk}").json()
    assert listed["active_run"] is None
    assert listed["last_run"] is None

    started = trader_api.post(f"{BOTS}/{bot.pk}/runs")

    assert started.status_code == 201, started.content
    live_run = BotRun.objects.get(pk=started.json()["id"])
    # The database's one-active-run constraint lets the two be unfinished at once.
    assert set(BotRun.objects.exclude(state__in=["STOPPED", "FAILED", "TIMED_OUT"])) == {
        live_run,
        replaying,
    }
    assert [run["id"] for run in trader_api.get(f"{BOTS}/{bot.pk}/runs").json()["results"]] == [
        str(live_run.pk)
    ]


def test_the_runs_api_does_not_know_a_replays_run(trader_api, replaying):
    assert trader_api.get(f"{RUNS}/{replaying.pk}").status_code == 404
    assert trader_api.post(f"{RUNS}/{replaying.pk}/stop").status_code == 404
    assert trader_api.get(f"{RUNS}/{replaying.pk}/events").status_code == 404


def test_stop_all_the_dispatcher_and_the_sweep_leave_a_replays_run_alone(
    trader_api, bot, replaying, make_run, settings
):
    live_run = make_run(bot, state=BotRun.State.QUEUED)

    result = trader_api.post(f"{RUNS}/stop-all").json()

    assert result == {"stopped": [str(live_run.pk)], "errors": []}
    assert not selectors.due_runs(now_ms=replaying.last_candle_ts + 3_600_000).exists()
    assert dispatch.dispatch_due_runs(now_ms=replaying.last_candle_ts + 3_600_000) == 0
    settings.MAX_RUN_DURATION_MS = 1
    assert services.time_out_overdue_runs() == []
    replaying.refresh_from_db()
    assert replaying.state == BotRun.State.RUNNING
    assert replaying.tick_lease_token == ""


def test_a_replays_run_is_never_pushed(replaying, monkeypatch):
    pushed = []
    monkeypatch.setattr(live, "announce", lambda *args: pushed.append(args))
    live.announce_run_changed(replaying)
    assert pushed == []
    live.announce_run_changed(BotRunFactory(workspace=replaying.workspace, bot=replaying.bot))
    assert len(pushed) == 2  # the workspace's group and the run's


def test_a_replay_touches_no_account_and_stays_out_of_the_terminal(
    trader_api, workspace, demo_connection, finished
):
    run = BotRun.objects.get(replay=finished)
    orders = Order.objects.filter(bot_run=run)
    assert orders.count() >= 2
    assert set(orders.values_list("origin", flat=True)) == {Order.Origin.BOT}
    # The demo account of the bot's connection was never opened, let alone traded.
    assert not DemoBalance.objects.filter(connection=demo_connection).exists()
    assert not DemoOrder.objects.filter(connection=demo_connection).exists()
    # The terminal's journal views leave the simulated orders out; a real one still shows.
    manual = OrderFactory(workspace=workspace, connection=demo_connection)
    listed = trader_api.get("/api/v1/terminal/orders").json()
    assert [order["id"] for order in listed["results"]] == [str(manual.pk)]
    assert trader_api.get(f"/api/v1/terminal/orders/{orders.first().pk}").status_code == 404
    positions = trader_api.get("/api/v1/terminal/positions")
    assert positions.status_code == 200, positions.content
    [position] = positions.json()
    assert position["amount"] == "0.001"  # the manual buy alone


def test_the_replays_trail_is_the_ticks(finished):
    run = BotRun.objects.get(replay=finished)
    kinds = set(RunEvent.objects.filter(run=run).values_list("kind", flat=True))
    assert {"transition", "signal", "order", "fill"} <= kinds
    assert run.events.last().to_state == BotRun.State.STOPPED
    trades = selectors.run_trades(run=run)
    assert len(trades) == finished.trades.count() == finished.metrics["trades"]


def test_a_duplicate_message_does_nothing(finished):
    assert replays.run_replay(replay_id=finished.pk) is None
    assert BotRun.objects.filter(replay=finished).count() == 1


def test_hold_during_the_replay_fails_it_readably(workspace, bot, dataset):
    replay = replays.create_replay(
        bot=bot, actor=None, dataset=dataset, initial_cash=Decimal(10000), fee_bps=Decimal(10)
    )
    Workspace.objects.filter(pk=workspace.pk).update(on_hold=True)

    replay = replays.run_replay(replay_id=replay.pk)

    assert replay.status == BotReplay.Status.FAILED
    assert "HOLD" in replay.error
    assert not ReplayTrade.objects.filter(replay=replay).exists()
    assert replay.metrics == {}
    run = BotRun.objects.get(replay=replay)
    assert (run.state, run.error_code) == (BotRun.State.FAILED, replays.REPLAY_FAILED)


def test_a_missing_candle_file_fails_the_replay_readably(bot, dataset, settings):
    from pathlib import Path

    replay = replays.create_replay(
        bot=bot, actor=None, dataset=dataset, initial_cash=Decimal(10000), fee_bps=Decimal(10)
    )
    (Path(settings.MEDIA_ROOT) / dataset.file_path).unlink()

    replay = replays.run_replay(replay_id=replay.pk)

    assert replay.status == BotReplay.Status.FAILED
    assert replay.error == "The dataset's file is missing from storage."
    assert not BotRun.objects.filter(replay=replay).exists()


def test_a_refused_order_fails_the_replay(bot, dataset, monkeypatch):
    """Whatever refuses an order (here the venue), the replay never reports a partial result."""
    replay = replays.create_replay(
        bot=bot, actor=None, dataset=dataset, initial_cash=Decimal(10000), fee_bps=Decimal(10)
    )

    def refuse(self, *args, **kwargs):
        raise InsufficientFunds("The replay's venue said no.")

    monkeypatch.setattr(ReplayGateway, "create_order", refuse)
    replay = replays.run_replay(replay_id=replay.pk)

    assert replay.status == BotReplay.Status.FAILED
    assert "was rejected: The replay's venue said no." in replay.error
    run = BotRun.objects.get(replay=replay)
    assert OrderIntent.objects.filter(run=run, status=OrderIntent.Status.REJECTED).exists()
    assert run.state == BotRun.State.FAILED


def test_stale_replays_are_failed_with_their_runs(bot, replaying):
    old = timezone.now() - timedelta(hours=2)
    BotReplay.objects.filter(pk=replaying.replay_id).update(updated_at=old)
    lost = BotReplayFactory(workspace=bot.workspace, bot=bot)
    BotReplay.objects.filter(pk=lost.pk).update(created_at=old)
    fresh = BotReplayFactory(workspace=bot.workspace, bot=bot)

    assert replays.fail_stale_replays() == 2

    stale = BotReplay.objects.get(pk=replaying.replay_id)
    assert stale.status == BotReplay.Status.FAILED
    assert "worker" in stale.error
    replaying.refresh_from_db()
    assert (replaying.state, replaying.error_code) == (BotRun.State.FAILED, "REPLAY_FAILED")
    assert BotReplay.objects.get(pk=lost.pk).status == BotReplay.Status.FAILED
    assert BotReplay.objects.get(pk=fresh.pk).status == BotReplay.Status.QUEUED


def test_deleting_the_bot_takes_its_replays_trades_and_simulated_orders(
    trader_api, workspace, demo_connection, bot, finished
):
    live_run = BotRunFactory(workspace=workspace, bot=bot, state=BotRun.State.STOPPED)
    real = OrderFactory(workspace=workspace, connection=demo_connection, bot_run=live_run)
    simulated = list(Order.objects.filter(bot_run__replay=finished).values_list("pk", flat=True))
    assert simulated

    assert trader_api.delete(f"{BOTS}/{bot.pk}").status_code == 204

    assert not BotReplay.objects.exists()
    assert not ReplayTrade.objects.exists()
    # The replay's orders never reached a venue: gone with their run, so nothing run-less is
    # left to count in the connection's positions. A live run's order stays in the journal.
    assert not Order.objects.filter(pk__in=simulated).exists()
    real.refresh_from_db()
    assert real.bot_run_id is None
    [position] = trader_api.get("/api/v1/terminal/positions").json()
    assert position["amount"] == str(real.filled.normalize())


# --------------------------------------------------------------------------- the replay venue


def _gateway(demo_connection, *, cash=1000.0) -> ReplayGateway:
    candles = Candles.of(
        {
            "ts": [0.0, 60_000.0],
            "open": [100.0, 110.0],
            "high": [101.0, 111.0],
            "low": [99.0, 109.0],
            "close": [100.5, 110.5],
            "volume": [1.0, 1.0],
        }
    )
    costs = Costs.of(fee_bps=10, slippage_bps=50, amount_step="0.01")
    gateway = ReplayGateway(
        demo_connection, symbol="BTC/USDT", costs=costs, cash=cash, candles=candles
    )
    gateway.next_open, gateway.next_ts, gateway.now_ms = 110.0, 60_000, 60_000
    return gateway


def test_the_replay_venue_fills_at_the_next_open_once_per_client_order_id(demo_connection):
    gateway = _gateway(demo_connection)
    order = gateway.create_order(
        "BTC/USDT", "market", "buy", Decimal("2"), params={"clientOrderId": "a"}
    )
    assert order["status"] == "closed"
    assert order["average"] == Decimal(repr(110.0 * 1.005))
    assert order["fee"] == {"cost": Decimal(repr(2 * (110.0 * 1.005) * 0.001)), "currency": "USDT"}
    again = gateway.create_order(
        "BTC/USDT", "market", "buy", Decimal("2"), params={"clientOrderId": "a"}
    )
    assert again == order
    assert gateway.fetch_order("", params={"clientOrderId": "a"}) == order
    assert gateway.fetch_balance()["free"]["BTC"] == Decimal("2.00")
    with pytest.raises(OrderNotOpen):
        gateway.cancel_order(order["id"])


def test_the_replay_venue_refuses_limits_and_what_the_cash_cannot_pay(demo_connection):
    gateway = _gateway(demo_connection, cash=100.0)
    with pytest.raises(InvalidOrder):
        gateway.create_order("BTC/USDT", "limit", "buy", Decimal("1"), Decimal("110"))
    with pytest.raises(InsufficientFunds):
        gateway.create_order("BTC/USDT", "market", "buy", Decimal("1"))
    with pytest.raises(InsufficientFunds):
        gateway.create_order("BTC/USDT", "market", "sell", Decimal("1"))
