"""Exactly-once orders under kill -9: a real worker dies at each point of a tick, another
worker starts, and the exchange ends with exactly the orders of the journal.

The worker that dies runs with BOTMARKET_FAULT_POINT set (bots.runtime.faults, inert
otherwise): its pool process SIGKILLs itself after the decision and its order intent are
committed (after_journal), after the venue has the order but before the journal records the
answer (after_send), or after the journal acknowledged it but before the run recorded it
(after_ack). The restarted worker's start-up reconcile pass settles what was left.
"""

from __future__ import annotations

import os
import signal
from decimal import Decimal
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.utils import timezone

from bots import tasks
from bots.models import BotRun, OrderIntent, RunEvent
from bots.runtime.faults import AFTER_ACK, AFTER_JOURNAL, AFTER_SEND, ENV_VAR
from exchanges import epoch
from exchanges.models import DemoOrder
from terminal.models import Order
from tests.bots.ticking import make_bot, running_run
from tests.conftest import start_worker, stop_worker, wait_for_workers
from tests.helpers import wait_until

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

Status = OrderIntent.Status
LOG_DIR = Path(settings.VAR_DIR)


@pytest.fixture
def faulty_queue():
    """A queue of this test's own: only the worker that is to die takes the tick."""
    queue = f"ticks-faults-{os.getpid()}"
    yield queue
    redis.Redis.from_url(settings.CELERY_BROKER_URL).delete(queue)


def start_dying_worker(queue: str, point: str, monkeypatch):
    with monkeypatch.context() as patched:
        patched.setenv(ENV_VAR, point)
        # Short leases, so the test does not wait half a minute for the dead worker's to end.
        patched.setenv("BOT_TICK_LEASE_SECONDS", "3")
        patched.setenv("TERMINAL_SUBMIT_LEASE_SECONDS", "2")
        worker = start_worker(queue, node=f"dying-{point}", log_path=LOG_DIR / f"dying-{point}.log")
    wait_for_workers({f"dying-{point}": worker})
    return worker


def kill_minus_9(worker) -> None:
    """What is left of the worker (its main process) goes the same way as its pool process."""
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait(10)
    worker.log.close()


def the_state_the_crash_left(point: str, intent: OrderIntent) -> None:
    orders = list(Order.objects.all())
    at_venue = DemoOrder.objects.count()
    assert intent.status == Status.PENDING
    assert not RunEvent.objects.filter(run=intent.run, kind=RunEvent.Kind.ORDER).exists()
    if point == AFTER_JOURNAL:
        assert (orders, at_venue) == ([], 0)
    elif point == AFTER_SEND:
        assert len(orders) == at_venue == 1
        assert orders[0].acknowledged_at is None  # the venue's answer never reached the journal
    else:
        assert len(orders) == at_venue == 1
        assert orders[0].acknowledged_at is not None
        assert orders[0].status == "closed"


@pytest.mark.parametrize("point", [AFTER_JOURNAL, AFTER_SEND, AFTER_ACK])
def test_a_tick_killed_at_each_point_places_its_order_exactly_once(
    workspace, demo_connection, faulty_queue, monkeypatch, point
):
    run = running_run(make_bot(workspace, demo_connection), now_ms=epoch.now_ms())
    dying = start_dying_worker(faulty_queue, point, monkeypatch)
    try:
        tasks.tick_runs_task.apply_async(kwargs={"run_ids": [str(run.pk)]}, queue=faulty_queue)
        log = Path(dying.log.name)
        wait_until(
            lambda: "fault.injected" in log.read_text() and "signal 9" in log.read_text(),
            timeout=60,
            message=f"the worker's pool process never died at {point}; see {log}",
        )
    finally:
        kill_minus_9(dying)

    intent = OrderIntent.objects.get(run=run)
    the_state_the_crash_left(point, intent)

    # The dead worker's leases run out (the run's, and the journal's on the sending).
    def leases_ran_out() -> bool:
        now = timezone.now()
        return not (
            BotRun.objects.filter(pk=run.pk, tick_lease_until__gt=now).exists()
            or Order.objects.filter(submit_lease_until__gt=now).exists()
        )

    wait_until(leases_ran_out, timeout=20, message="the dead worker's leases never ran out")
    restarted = start_worker(
        "ticks", node=f"restarted-{point}", log_path=LOG_DIR / f"restarted-{point}.log", purge=False
    )
    try:
        wait_for_workers({f"restarted-{point}": restarted})
        settled = wait_until(
            lambda: OrderIntent.objects.filter(pk=intent.pk).exclude(status=Status.PENDING).first(),
            timeout=60,
            message=f"the restarted worker never settled the intent; see {restarted.log.name}",
        )
    finally:
        stop_worker(restarted)

    assert settled.status == Status.FILLED
    at_venue = list(DemoOrder.objects.filter(connection=demo_connection))
    journal = list(Order.objects.all())
    # Orders at the exchange = orders in the journal = the run's intents: none twice, none lost.
    assert [o.client_order_id for o in at_venue] == [settled.client_order_id]
    assert [o.client_order_id for o in journal] == [settled.client_order_id]
    assert journal[0].acknowledged_at is not None
    assert journal[0].filled == at_venue[0].filled == settled.amount
    assert settled.order_id == journal[0].pk
    events = RunEvent.objects.filter(run=run)
    assert events.filter(kind=RunEvent.Kind.ORDER).count() == 1
    assert events.filter(kind=RunEvent.Kind.FILL).count() == 1
    assert events.filter(kind=RunEvent.Kind.SIGNAL).count() == 1
    run.refresh_from_db()
    assert run.position == at_venue[0].filled
    units = run.book["entry"][2]  # the book's entry fill, in whole amount steps
    assert units * Decimal(run.book["costs"]["step_decimal"]) == settled.amount
