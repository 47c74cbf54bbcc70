"""Ticks on real Celery workers: the dispatcher's batches, and two workers on the same runs."""

from __future__ import annotations

import os
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db.models import Count

from bots import tasks
from bots.models import BotRun, OrderIntent, RunEvent
from bots.runtime import dispatch
from exchanges import epoch
from exchanges.models import DemoOrder
from terminal.models import Order
from tests.bots.conftest import make_version
from tests.bots.factories import BotFactory
from tests.bots.ticking import first_candle_buy_body, make_bot, running_run
from tests.conftest import start_worker, stop_worker, wait_for_workers
from tests.helpers import wait_until

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

LOG_DIR = Path(settings.VAR_DIR)
RUNS = 200


def acted_on(run: BotRun) -> bool:
    return BotRun.objects.filter(pk=run.pk, last_candle_ts__gt=run.last_candle_ts).exists()


def test_the_dispatcher_sends_due_runs_to_a_ticks_worker(
    celery_worker_process, workspace, demo_connection
):
    run = running_run(make_bot(workspace, demo_connection), now_ms=epoch.now_ms())

    assert dispatch.dispatch_due_runs() == 1
    run.refresh_from_db()
    assert run.tick_lease_token  # leased for the dispatch: not sent again meanwhile
    assert dispatch.dispatch_due_runs() == 0

    wait_until(lambda: acted_on(run), timeout=60, message="the worker never ticked the run")
    wait_until(
        lambda: OrderIntent.objects.filter(run=run, status="filled").exists(),
        timeout=30,
        message="the run's first order never filled",
    )
    wait_until(
        lambda: BotRun.objects.filter(pk=run.pk, tick_lease_token="").exists(),
        timeout=10,
        message="the tick never released the run's lease",
    )
    assert Order.objects.get().bot_run_id == run.pk
    assert DemoOrder.objects.count() == 1


@pytest.fixture
def shared_queue():
    queue = f"ticks-shared-{os.getpid()}"
    yield queue
    redis.Redis.from_url(settings.CELERY_BROKER_URL).delete(queue)


def test_two_workers_ticking_the_same_200_runs_act_on_each_run_and_candle_once(
    workspace, demo_connection, shared_queue
):
    version = make_version(workspace, first_candle_buy_body(), name="First buy")
    now = epoch.now_ms()
    runs = [
        running_run(
            BotFactory(
                workspace=workspace,
                strategy_version=version,
                exchange_connection=demo_connection,
                # 200 buys of ~20 USDT fit in the demo account's 10,000 USDT
                max_position_quote=Decimal("20"),
            ),
            now_ms=now,
        )
        for _ in range(RUNS)
    ]
    ids = [str(run.pk) for run in runs]
    workers = {
        f"shared-{n}": start_worker(
            shared_queue, node=f"shared-{n}", log_path=LOG_DIR / f"test-worker-shared-{n}.log"
        )
        for n in (1, 2)
    }
    try:
        wait_for_workers(workers)
        # Every run goes out twice, in opposite orders, in batches that both workers take.
        for order in (ids, ids[::-1]):
            for start in range(0, RUNS, 50):
                tasks.tick_runs_task.apply_async(
                    kwargs={"run_ids": order[start : start + 50]}, queue=shared_queue
                )
        wait_until(
            lambda: (
                BotRun.objects.filter(pk__in=ids, last_candle_ts__gt=runs[0].last_candle_ts).count()
                == RUNS
                and OrderIntent.objects.filter(run__in=ids, status="filled").count() == RUNS
            ),
            timeout=240,
            interval=1,
            message=lambda: (
                f"{OrderIntent.objects.filter(status='filled').count()} of {RUNS} runs bought"
            ),
        )
    finally:
        for process in workers.values():
            stop_worker(process)

    # Every (run, candle) was decided once: one signal event and at most one intent each.
    signals = Counter(
        RunEvent.objects.filter(run__in=ids, kind=RunEvent.Kind.SIGNAL).values_list(
            "run_id", "data__candle_ts"
        )
    )
    assert len({run_id for run_id, _ in signals}) == RUNS
    assert set(signals.values()) == {1}
    per_candle = OrderIntent.objects.values("run", "candle_ts").annotate(n=Count("id"))
    assert {row["n"] for row in per_candle} == {1}
    # Each run bought once, on its first candle, and the exchange has exactly those orders.
    assert OrderIntent.objects.count() == RUNS
    intents = set(OrderIntent.objects.values_list("client_order_id", flat=True))
    assert set(Order.objects.values_list("client_order_id", flat=True)) == intents
    venue = list(DemoOrder.objects.values_list("client_order_id", flat=True))
    assert len(venue) == RUNS
    assert set(venue) == intents
    # Both workers ticked.
    for node in workers:
        assert '"run.ticked"' in (LOG_DIR / f"test-worker-{node}.log").read_text(), node
