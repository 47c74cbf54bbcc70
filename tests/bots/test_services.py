"""The run state machine, starting on the venue, stopping, the max-duration sweep, announces."""

from __future__ import annotations

import asyncio
import itertools
import logging
import queue
import threading
from datetime import timedelta

import pytest
from channels import DEFAULT_CHANNEL_LAYER
from channels.layers import channel_layers
from django.core.management import call_command
from django.db import IntegrityError, transaction
from django.db import connection as db_connection
from django.utils import timezone

from bots import live, services, tasks
from bots.exceptions import IllegalTransition, RunAlreadyActive, StartFailure
from bots.models import TERMINAL_RUN_STATES, Bot, BotRun, RunEvent
from bots.seed import DEMO_BOT
from config import context
from config import live as config_live
from exchanges.demo.venue import DemoGateway
from exchanges.exceptions import ExchangeUnreachable
from exchanges.models import ExchangeConnection
from strategies.engine import compile_strategy
from tests.bots.factories import BotFactory, BotRunFactory
from tests.exchanges.ccxt_helpers import route_ccxt_to
from tests.exchanges.stub_exchange import refused_url
from workspaces.models import AuditEvent

State = BotRun.State
MINUTE = 60_000


# --------------------------------------------------------------------------- transition


ALL_MOVES = list(itertools.product(State.values, State.values))


@pytest.mark.django_db
@pytest.mark.parametrize(("start", "to"), ALL_MOVES)
def test_transition_table(bot, make_run, start, to, django_capture_on_commit_callbacks):
    run = make_run(bot, state=start)
    allowed = to in services.ALLOWED_TRANSITIONS[start]
    with django_capture_on_commit_callbacks() as callbacks:
        if allowed:
            moved = services.transition(run, to, message="because", data={"n": 1})
        else:
            with pytest.raises(IllegalTransition) as raised:
                services.transition(run, to, message="because")
    run.refresh_from_db()
    if allowed:
        assert moved.state == run.state == to
        event = run.events.get()
        assert (event.from_state, event.to_state, event.message, event.data) == (
            start,
            to,
            "because",
            {"n": 1},
        )
        assert len(callbacks) == 1  # the announce
    else:
        # Refused with no side effect: same state, no event, nothing announced.
        assert raised.value.status_code == 409
        assert raised.value.code == "illegal-transition"
        assert run.state == start
        assert not run.events.exists()
        assert callbacks == []


def test_every_state_has_a_row_and_terminal_states_lead_nowhere():
    assert set(services.ALLOWED_TRANSITIONS) == set(State.values)
    for state in TERMINAL_RUN_STATES:
        assert services.ALLOWED_TRANSITIONS[state] == frozenset()


@pytest.mark.django_db
def test_transition_stamps_times_codes_and_the_request_id(bot, make_run):
    run = make_run(bot, state=State.STARTING)
    context.bind(request_id="req-42")
    try:
        running = services.transition(run, State.RUNNING)
        assert running.started_at is not None
        assert running.ended_at is None
        failed = services.transition(running, State.FAILED, error_code="KILL_CAP_DAILY_LOSS")
    finally:
        context.clear()
    run.refresh_from_db()
    assert run.state == State.FAILED
    assert run.error_code == "KILL_CAP_DAILY_LOSS"
    assert run.started_at == running.started_at
    assert run.ended_at is not None
    assert run.ended_at >= run.started_at
    assert failed.ended_at == run.ended_at
    events = list(run.events.order_by("seq"))
    assert [(e.seq, e.to_state, e.error_code, e.request_id) for e in events] == [
        (1, "RUNNING", "", "req-42"),
        (2, "FAILED", "KILL_CAP_DAILY_LOSS", "req-42"),
    ]


@pytest.mark.django_db
def test_record_event_numbers_the_trail(bot, make_run):
    run = make_run(bot, state=State.RUNNING)
    with transaction.atomic():
        locked = BotRun.objects.select_for_update().get(pk=run.pk)
        services.record_event(locked, kind=RunEvent.Kind.SIGNAL, message="entry", data={"ts": 1})
        services.record_event(locked, kind=RunEvent.Kind.SKIP, message="x" * 600)
    events = list(run.events.order_by("seq"))
    assert [(e.seq, e.kind) for e in events] == [(1, "signal"), (2, "skip")]
    assert len(events[1].message) == 500


# --------------------------------------------------------------------------- the constraint


@pytest.mark.django_db
def test_the_database_refuses_a_second_unfinished_run(bot, make_run):
    make_run(bot, state=State.RUNNING)
    for state in (State.QUEUED, State.STOPPING):
        with pytest.raises(IntegrityError), transaction.atomic():
            BotRunFactory(workspace=bot.workspace, bot=bot, state=state)
    # Ended runs do not count.
    for state in TERMINAL_RUN_STATES:
        BotRunFactory(workspace=bot.workspace, bot=bot, state=state)
    assert BotRun.objects.filter(bot=bot).count() == 4


# --------------------------------------------------------------------------- announces


class Listener:
    """Receives what the channel layer delivers to `groups`, on an event loop of its own.

    A channel layer's receive side is bound to one event loop, so it lives in a thread of its
    own while the test's code sends from wherever it runs.
    """

    def __init__(self, *groups: str):
        self.groups = groups
        self.messages: queue.Queue = queue.Queue()
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._listen()), daemon=True)

    async def _listen(self):
        layer = channel_layers.make_backend(DEFAULT_CHANNEL_LAYER)
        channel = await layer.new_channel()
        for group in self.groups:
            await layer.group_add(group, channel)
        self._ready.set()
        try:
            while not self._stop.is_set():
                try:
                    self.messages.put(await asyncio.wait_for(layer.receive(channel), 0.2))
                except TimeoutError:
                    continue
        finally:
            for group in self.groups:
                await layer.group_discard(group, channel)

    def __enter__(self):
        self._thread.start()
        assert self._ready.wait(10), "the listener did not subscribe"
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        self._thread.join(10)

    def next(self, timeout: float):
        try:
            return self.messages.get(timeout=timeout)
        except queue.Empty:
            return None


def _transition_then_roll_back(run: BotRun, to: str) -> None:
    class RollBack(Exception):
        pass

    try:
        with transaction.atomic():
            services.transition(run, to)
            raise RollBack
    except RollBack:
        pass


@pytest.mark.django_db(transaction=True)
def test_the_announce_goes_out_on_commit_only(bot, make_run):
    run = make_run(bot, state=State.STARTING)
    with Listener(live.run_group(run.pk), live.workspace_group(bot.workspace_id)) as listener:
        with transaction.atomic():
            services.transition(run, State.RUNNING, message="warm")
            # Not committed yet: nothing was pushed.
            assert listener.next(0.5) is None
        messages = [listener.next(5), listener.next(5)]  # one per group
        for message in messages:
            assert message["type"] == "run.changed"
            assert message["run"]["id"] == str(run.pk)
            assert message["run"]["workspace"] == str(bot.workspace_id)
            assert message["run"]["state"] == "RUNNING"
            assert message["run"]["position"] == "0"
            assert message["event"]["to_state"] == "RUNNING"
            assert message["event"]["seq"] == 1

        # A refused or rolled-back move is never announced.
        with pytest.raises(IllegalTransition):
            services.transition(run, State.QUEUED)
        _transition_then_roll_back(run, State.STOPPING)
        assert listener.next(0.5) is None
    assert BotRun.objects.get(pk=run.pk).state == State.RUNNING


@pytest.mark.django_db(transaction=True)
def test_a_channel_layer_that_is_down_costs_a_warning_not_the_change(
    bot, make_run, monkeypatch, caplog
):
    class DownLayer:
        async def group_send(self, group, message):
            raise ConnectionError("redis is down")

    monkeypatch.setattr(config_live, "get_channel_layer", DownLayer)
    run = make_run(bot, state=State.RUNNING)
    with caplog.at_level(logging.WARNING, logger="config.live"):
        services.transition(run, State.STOPPING)
    assert BotRun.objects.get(pk=run.pk).state == State.STOPPING
    failures = [r for r in caplog.records if r.getMessage() == "live.announce_failed"]
    assert {record.group for record in failures} == {
        live.run_group(run.pk),
        live.workspace_group(bot.workspace_id),
    }
    assert {record.error for record in failures} == {"ConnectionError"}


# --------------------------------------------------------------------------- starting


@pytest.mark.django_db
def test_launch_loads_the_lookback_and_runs(bot, make_run):
    run = make_run(bot)
    lookback = compile_strategy(bot.strategy_version.body).lookback  # 31 for sma_crossover
    before_ms = timezone.now().timestamp() * 1000

    started = services.launch_run(run=run)

    after_ms = timezone.now().timestamp() * 1000
    assert started.state == State.RUNNING
    assert started.started_at is not None
    # The newest candle that had closed when it started: it acts only on later ones.
    assert before_ms // MINUTE * MINUTE - MINUTE <= started.last_candle_ts
    assert started.last_candle_ts <= after_ms // MINUTE * MINUTE - MINUTE
    trail = list(run.events.order_by("seq"))
    assert [(e.from_state, e.to_state) for e in trail] == [
        ("QUEUED", "STARTING"),
        ("STARTING", "RUNNING"),
    ]
    assert trail[1].data == {
        "symbol": "BTC/USDT",
        "timeframe": "1m",
        "lookback": lookback,
        "candles": lookback,
        "first_ts": started.last_candle_ts - (lookback - 1) * MINUTE,
        "last_ts": started.last_candle_ts,
    }
    # A redelivered start message finds it RUNNING and does nothing.
    assert services.launch_run(run=started).state == State.RUNNING
    assert run.events.count() == 2


@pytest.mark.django_db
def test_an_unreachable_venue_fails_the_start_with_its_code(workspace, make_run, monkeypatch):
    connection = ExchangeConnection.objects.create(
        workspace=workspace, name="Binance testnet", exchange="binance", mode="testnet"
    )
    bot = BotFactory(workspace=workspace, exchange_connection=connection, mode="paper")
    route_ccxt_to(monkeypatch, refused_url(), timeout_ms=2000)

    failed = services.launch_run(run=make_run(bot))

    assert failed.state == State.FAILED
    assert failed.error_code == "EXCHANGE_UNREACHABLE"
    assert failed.ended_at is not None
    last = failed.events.order_by("-seq").first()
    assert (last.from_state, last.to_state, last.error_code) == (
        "STARTING",
        "FAILED",
        "EXCHANGE_UNREACHABLE",
    )
    assert last.message


@pytest.mark.django_db
def test_a_stop_asked_while_loading_wins(bot, make_run, monkeypatch):
    run = make_run(bot)
    real_fetch = DemoGateway.fetch_ohlcv

    def fetch_then_stop(self, *args, **kwargs):
        rows = real_fetch(self, *args, **kwargs)
        services.stop_run(run=run, actor=None)  # the user stops it meanwhile
        return rows

    monkeypatch.setattr(DemoGateway, "fetch_ohlcv", fetch_then_stop)
    assert services.launch_run(run=run).state == State.STOPPING
    assert services.finish_stop(run=run).state == State.STOPPED
    assert [e.to_state for e in run.events.order_by("seq")] == ["STARTING", "STOPPING", "STOPPED"]


@pytest.mark.django_db
def test_a_stop_asked_while_loading_wins_over_a_venue_failure(bot, make_run, monkeypatch):
    run = make_run(bot)

    def stop_then_fail(self, *args, **kwargs):
        services.stop_run(run=run, actor=None)
        raise ExchangeUnreachable("down")

    monkeypatch.setattr(DemoGateway, "fetch_ohlcv", stop_then_fail)
    run = services.launch_run(run=run)
    assert (run.state, run.error_code) == (State.STOPPING, "")


@pytest.mark.django_db
def test_a_run_stopped_before_a_worker_took_it_is_left_alone(bot, make_run):
    run = make_run(bot, state=State.STOPPING)
    assert services.launch_run(run=run).state == State.STOPPING
    assert not run.events.exists()


@pytest.mark.django_db
def test_an_unexpected_error_fails_the_start_instead_of_leaving_it_starting(
    bot, make_run, monkeypatch
):
    def broken(self, *args, **kwargs):
        raise ZeroDivisionError

    monkeypatch.setattr(DemoGateway, "fetch_ohlcv", broken)
    run = services.launch_run(run=make_run(bot))
    assert (run.state, run.error_code) == (State.FAILED, "INTERNAL_ERROR")


class _Venue:
    """A gateway stand-in that has candles opening from `first_ts` on, `page` per answer."""

    def __init__(self, first_ts: int, page: int = 1000):
        self.first_ts, self.page, self.calls = first_ts, page, []

    def fetch_ohlcv(self, symbol, timeframe, since=None, limit=None):
        self.calls.append(since)
        start = max(since, self.first_ts)
        count = min(limit, self.page)
        return [[start + i * MINUTE, 1, 1, 1, 1, 1] for i in range(count)]


def test_load_lookback_pages_and_keeps_closed_candles_only():
    now = 1_763_900_100_000 + 30_000  # half-way through a minute
    forming = now // MINUTE * MINUTE
    venue = _Venue(first_ts=0, page=1000)
    loaded = services.load_lookback(
        venue, symbol="BTC/USDT", timeframe="1m", lookback=2500, now_ms=now
    )
    assert (loaded.count, loaded.last_ts) == (2500, forming - MINUTE)
    assert loaded.first_ts == forming - 2500 * MINUTE
    assert venue.calls == [forming - 2500 * MINUTE, forming - 1500 * MINUTE, forming - 500 * MINUTE]


def test_load_lookback_fails_when_the_venue_has_too_little_history():
    now = 1_763_900_100_000
    venue = _Venue(first_ts=now - 10 * MINUTE)
    with pytest.raises(StartFailure) as raised:
        services.load_lookback(venue, symbol="BTC/USDT", timeframe="1m", lookback=31, now_ms=now)
    assert raised.value.code == "NOT_ENOUGH_CANDLES"
    assert "gave 10" in raised.value.message


@pytest.mark.django_db
def test_load_lookback_through_the_demo_venue_in_several_pages(demo_connection):
    now = 1_763_900_100_000
    loaded = services.load_lookback(
        DemoGateway(demo_connection, clock=lambda: now),
        symbol="ETH/USDT",
        timeframe="1m",
        lookback=2100,
        now_ms=now,
    )
    assert (loaded.count, loaded.first_ts, loaded.last_ts) == (
        2100,
        now - 2100 * MINUTE,
        now - MINUTE,
    )


# --------------------------------------------------------------------------- stopping


@pytest.mark.django_db
def test_finish_stop_only_moves_a_stopping_run(bot, make_run):
    run = make_run(bot, state=State.RUNNING)
    assert services.finish_stop(run=run).state == State.RUNNING
    services.stop_run(run=run, actor=None)
    stopped = services.finish_stop(run=run)
    assert stopped.state == State.STOPPED
    assert stopped.ended_at is not None
    assert services.finish_stop(run=run).state == State.STOPPED  # a duplicate message
    assert run.events.count() == 2


# --------------------------------------------------------------------------- max duration


@pytest.mark.django_db
def test_sweep_times_out_runs_past_max_run_duration(bot, make_run, settings, workspace):
    settings.MAX_RUN_DURATION_MS = 1000
    now = timezone.now()
    old = make_run(bot, state=State.RUNNING, started_at=now - timedelta(seconds=2))
    young_bot = BotFactory(
        workspace=workspace,
        strategy_version=bot.strategy_version,
        exchange_connection=bot.exchange_connection,
    )
    young = make_run(young_bot, state=State.RUNNING, started_at=now)
    stopping_bot = BotFactory(
        workspace=workspace,
        strategy_version=bot.strategy_version,
        exchange_connection=bot.exchange_connection,
    )
    stopping = make_run(stopping_bot, state=State.STOPPING, started_at=now - timedelta(seconds=10))

    tasks.sweep_max_duration_task()  # the beat task, run in this process

    old.refresh_from_db()
    assert old.state == State.TIMED_OUT
    assert old.error_code == "MAX_DURATION_EXCEEDED"
    assert old.ended_at is not None
    event = old.events.get()
    assert (event.from_state, event.to_state, event.error_code) == (
        "RUNNING",
        "TIMED_OUT",
        "MAX_DURATION_EXCEEDED",
    )
    assert event.data["max_run_duration_ms"] == 1000
    assert event.data["ran_ms"] >= 2000
    audit = AuditEvent.objects.get(action="run.timed_out")
    assert audit.target_id == str(old.pk)
    assert audit.actor is None
    young.refresh_from_db()
    stopping.refresh_from_db()
    assert young.state == State.RUNNING
    assert stopping.state == State.STOPPING
    # Once the young one is past the limit too, the next sweep takes it.
    later = now + timedelta(seconds=2)
    assert services.time_out_overdue_runs(now=later) == [young]


@pytest.mark.django_db
def test_default_max_run_duration_is_four_hours(settings, bot, make_run):
    assert settings.MAX_RUN_DURATION_MS == 14_400_000
    now = timezone.now()
    run = make_run(bot, state=State.RUNNING, started_at=now - timedelta(hours=3, minutes=59))
    assert services.time_out_overdue_runs(now=now) == []
    assert services.time_out_overdue_runs(now=now + timedelta(minutes=2)) == [run]


# --------------------------------------------------------------------------- demo data


@pytest.mark.django_db
def test_seed_demo_gives_the_demo_workspace_one_bot():
    call_command("seed_demo")
    call_command("seed_demo")

    bot = Bot.objects.select_related("strategy_version__strategy", "exchange_connection").get()
    assert bot.name == DEMO_BOT
    assert bot.workspace.name == "Demo workspace"
    assert bot.mode == Bot.Mode.DEMO
    assert bot.exchange_connection.exchange == "demo"
    assert bot.strategy_version.body["symbol"] == "BTC/USDT"
    assert not bot.runs.exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_starts_of_one_bot_make_one_run(bot, monkeypatch):
    monkeypatch.setattr(tasks.start_run_task, "delay_on_commit", lambda **kwargs: None)
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def start():
        barrier.wait()
        try:
            services.start_run(bot=bot, actor=None)
            outcomes.append("started")
        except RunAlreadyActive:
            outcomes.append("409")
        finally:
            db_connection.close()  # each thread has a connection of its own

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes) == ["409", "409", "409", "started"]
    assert BotRun.objects.filter(bot=bot).count() == 1
