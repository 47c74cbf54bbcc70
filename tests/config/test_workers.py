"""A worker per queue, on real Celery workers: heartbeats per queue, isolation, no prefetch."""

from __future__ import annotations

import os
import signal
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import redis
from django.conf import settings

from config.celery import WORKER_QUEUES
from lab import services, tasks
from lab.models import Backtest
from status.models import Heartbeat
from status.tasks import heartbeat_task
from strategies.dsl import examples
from tests.conftest import _member, start_worker, stop_worker, wait_for_workers
from tests.helpers import wait_until
from tests.lab.conftest import make_version
from workspaces.models import Role

PARAMS = {"initial_cash": Decimal("10000"), "fee_bps": Decimal("10"), "slippage_bps": Decimal("2")}


def heartbeat_of(queue: str) -> Heartbeat | None:
    return Heartbeat.objects.filter(name__startswith=f"worker:{queue}:").first()


@pytest.fixture
def trader(workspace):
    return _member(workspace, Role.TRADER)


@pytest.fixture
def long_backtest_inputs(workspace, trader):
    """A version and the largest dataset the lab allows (~2M 1m candles): a long backtest."""
    body = examples()["bollinger_breakout"]
    body.update(symbol="BTC/USDT", timeframe="1m")
    start = datetime(2021, 1, 1, tzinfo=UTC)
    rows = settings.LAB_MAX_DATASET_ROWS
    dataset = services.create_demo_dataset(
        workspace=workspace,
        actor=trader,
        name="Largest",
        symbol="BTC/USDT",
        timeframe="1m",
        start=start,
        end=start + timedelta(minutes=rows),
    )
    return make_version(workspace, body, name="Breakout"), dataset


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_beat_heartbeat_reaches_each_queues_own_worker(celery_worker_process):
    for queue in WORKER_QUEUES:
        heartbeat_task.apply_async(queue=queue)
    for queue in WORKER_QUEUES:
        heartbeat = wait_until(
            lambda queue=queue: heartbeat_of(queue), timeout=20, message=f"no {queue} heartbeat"
        )
        # worker:<queue>:<node>, written by the worker that consumes only that queue
        assert heartbeat.name.startswith(f"worker:{queue}:{queue}-test-")
        assert heartbeat.details["queue"] == queue


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_long_backtest_does_not_delay_a_tick(
    celery_worker_process, trader_api, long_backtest_inputs
):
    version, dataset = long_backtest_inputs
    ids = []
    for _ in range(2):  # more than the lab worker runs at once: the lab is saturated
        response = trader_api.post(
            "/api/v1/lab/backtests",
            {
                "strategy_version": str(version.pk),
                "dataset": str(dataset.pk),
                **{name: str(value) for name, value in PARAMS.items()},
            },
            format="json",
        )
        assert response.status_code == 202, response.content
        ids.append(response.json()["id"])
    wait_until(
        lambda: Backtest.objects.filter(pk__in=ids, status="running").exists(),
        timeout=30,
        interval=0.01,
        message="no backtest started",
    )

    heartbeat_task.apply_async(queue="ticks")
    tick = wait_until(
        lambda: heartbeat_of("ticks"), timeout=10, interval=0.02, message="no ticks heartbeat"
    )

    # The tick ran while the lab's first backtest was still running, not after it.
    wait_until(
        lambda: (
            set(Backtest.objects.filter(pk__in=ids).values_list("status", flat=True))
            == {"succeeded"}
        ),
        timeout=120,
        interval=0.1,
    )
    first_finished = min(Backtest.objects.filter(pk__in=ids).values_list("finished_at", flat=True))
    assert tick.last_seen_at < first_finished, (tick.last_seen_at, first_finished)


@pytest.fixture
def private_lab_queue():
    """A queue of this test's own, so the session's lab worker never takes its messages."""
    queue = f"lab-kill-{os.getpid()}"
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    yield queue, client
    client.delete(queue)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_killed_worker_leaves_queued_backtests_in_redis(
    workspace, trader, long_backtest_inputs, private_lab_queue, monkeypatch
):
    """Defect: after kill -9, queued backtests waited (unacked, prefetched) for an hour."""
    version, dataset = long_backtest_inputs
    queue, broker = private_lab_queue
    monkeypatch.setattr(tasks.run_backtest_task, "delay_on_commit", lambda **kwargs: None)
    running, waiting = (
        services.create_backtest(
            workspace=workspace, actor=trader, strategy_version=version, dataset=dataset, **PARAMS
        )
        for _ in range(2)
    )
    log_dir = Path(settings.VAR_DIR)
    worker = start_worker(queue, node="killed", log_path=log_dir / "test-worker-killed.log")
    try:
        wait_for_workers({"killed": worker})
        for backtest in (running, waiting):
            tasks.run_backtest_task.apply_async(
                kwargs={"backtest_id": str(backtest.pk)}, queue=queue
            )
        wait_until(
            lambda: Backtest.objects.filter(pk=running.pk, status="running").exists(),
            timeout=30,
            interval=0.01,
            message="the first backtest never started",
        )
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        stop_worker(worker)

    # The waiting message was never taken: it is still in the queue, not in kombu's unacked set.
    assert broker.llen(queue) == 1
    assert not any(str(waiting.pk).encode() in value for value in broker.hvals("unacked"))
    assert Backtest.objects.get(pk=waiting.pk).status == "queued"

    # So the next worker on the queue runs it at once, not after the visibility timeout.
    replacement = start_worker(
        queue, node="replacement", log_path=log_dir / "test-worker-new.log", purge=False
    )
    try:
        wait_for_workers({"replacement": replacement})
        wait_until(
            lambda: Backtest.objects.filter(pk=waiting.pk, status="succeeded").exists(),
            timeout=60,
            interval=0.1,
        )
    finally:
        stop_worker(replacement)
    assert Backtest.objects.get(pk=running.pk).status == "running"  # the lab sweep's to fail
