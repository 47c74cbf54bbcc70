"""The bots' metrics at /metrics: counted in worker processes, merged into the web's scrape."""

from __future__ import annotations

import subprocess
import sys
import urllib.request
from decimal import Decimal

import pytest
from django.conf import settings
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from bots import metrics
from bots.models import BotRun, OrderIntent
from bots.runtime import guards, intents
from bots.runtime.tick import ACTED, tick_run
from bots.tasks import tick_runs_task
from config import multiprocess
from config.celery import _drop_live_gauges_of_ended_pool_process
from config.metrics import serve_worker_metrics
from exchanges import epoch
from tests.bots.test_guards import seed_intents
from tests.bots.ticking import T0, DemoRuntime, make_bot, running_run
from tests.helpers import wait_until

State = BotRun.State


def scrape(text: str | None = None) -> dict[tuple[str, tuple], float]:
    """Samples of a /metrics scrape (GET through the web's URLconf unless `text` is given):
    (name, sorted labels) → value."""
    if text is None:
        response = Client().get("/metrics")
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/plain")
        text = response.content.decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def runtime(demo_connection):
    with DemoRuntime(demo_connection) as runtime:
        yield runtime


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_ticks_counted_by_a_real_worker_rise_in_the_webs_scrape(
    celery_worker_process, workspace, demo_connection
):
    run = running_run(make_bot(workspace, demo_connection), now_ms=epoch.now_ms())
    last_before = run.last_candle_ts
    before = scrape()

    tick_runs_task.delay(run_ids=[str(run.pk)])

    def counted() -> dict | None:
        now = scrape()
        return (
            now
            if value(now, "bot_ticks_total", outcome="acted")
            > value(before, "bot_ticks_total", outcome="acted")
            else None
        )

    def seen() -> str:
        ticks = {k: v for k, v in scrape().items() if k[0] == "bot_ticks_total"}
        run.refresh_from_db()
        return (
            f"bot_ticks_total never rose in /metrics: {ticks}; run {run.state} {run.last_candle_ts}"
        )

    after = wait_until(counted, timeout=30, message=seen)
    run.refresh_from_db()
    assert run.last_candle_ts > last_before  # the worker acted on the newest closed candle
    # The worker's pool process counted them; the scrape merged its files with the web's.
    assert (
        value(after, "bot_ticks_total", outcome="acted")
        == value(before, "bot_ticks_total", outcome="acted") + 1
    )
    assert (
        value(after, "bot_tick_lag_seconds_count")
        == value(before, "bot_tick_lag_seconds_count") + 1
    )
    assert value(after, "bot_tick_seconds_count", outcome="acted") >= 1
    # The strategy buys on its first candle: one order placed by a bot.
    assert (
        value(after, "bot_orders_total", outcome="placed", mode="demo")
        == value(before, "bot_orders_total", outcome="placed", mode="demo") + 1
    )
    # django-prometheus's own metrics are in the same scrape.
    assert value(after, "django_http_requests_total_by_method_total", method="GET") > 0


@pytest.mark.django_db
def test_runs_by_state_are_counted_at_scrape(workspace, demo_connection, make_run):
    bot = make_bot(workspace, demo_connection)
    for state in (State.RUNNING, State.STOPPED, State.STOPPED, State.FAILED):
        make_run(bot, state=state)  # one unfinished run per bot: terminal ones do not count

    samples = scrape()

    assert value(samples, "bot_runs", state="RUNNING") == 1
    assert value(samples, "bot_runs", state="STOPPED") == 2
    assert value(samples, "bot_runs", state="FAILED") == 1
    assert value(samples, "bot_runs", state="QUEUED") == 0
    assert {labels for name, labels in samples if name == "bot_runs"} == {
        (("state", state.value),) for state in State
    }


@pytest.mark.django_db
def test_an_order_the_venue_refuses_counts_as_rejected(workspace, demo_connection, runtime):
    run = running_run(make_bot(workspace, demo_connection), now_ms=T0)
    intent = intents.journal(  # far more than the demo account's 10,000 USDT buys
        run,
        candle_ts=run.last_candle_ts,
        purpose=OrderIntent.Purpose.ENTRY,
        side="buy",
        order_type="market",
        amount=Decimal("1000"),
        price=None,
        decided_at_ms=T0,
        model={},
    )
    before = scrape()

    intents.send(intent, run=run, runtime=runtime)

    intent.refresh_from_db()
    assert intent.status == OrderIntent.Status.REJECTED
    after = scrape()
    assert (
        value(after, "bot_orders_total", outcome="rejected", mode="demo")
        == value(before, "bot_orders_total", outcome="rejected", mode="demo") + 1
    )
    assert value(after, "bot_orders_total", outcome="placed", mode="demo") == value(
        before, "bot_orders_total", outcome="placed", mode="demo"
    )


@pytest.mark.django_db
def test_a_guard_trip_is_counted_by_its_code_once_committed(
    workspace, demo_connection, runtime, django_capture_on_commit_callbacks
):
    run = running_run(make_bot(workspace, demo_connection, max_orders_per_minute=1), now_ms=T0)
    seed_intents(run, 1, at_ms=T0)
    before = scrape()

    with django_capture_on_commit_callbacks(execute=True):
        assert tick_run(run.pk, runtime=runtime).outcome == ACTED

    after = scrape()
    assert (
        value(after, "bot_guard_trips_total", code=guards.RUNAWAY_BREAKER)
        == value(before, "bot_guard_trips_total", code=guards.RUNAWAY_BREAKER) + 1
    )
    assert value(after, "bot_guard_trips_total", code=guards.KILL_CAP_DAILY_LOSS) == value(
        before, "bot_guard_trips_total", code=guards.KILL_CAP_DAILY_LOSS
    )


def test_a_worker_host_exporter_serves_the_merged_metrics():
    metrics.observe_tick("busy", seconds=0.002)
    server, thread = serve_worker_metrics(0, addr="127.0.0.1")
    try:
        port = server.server_port
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
            samples = scrape(answer.read().decode())
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    assert value(samples, "bot_ticks_total", outcome="busy") >= 1
    # Values read from the database belong to the web's scrape only (never counted twice).
    assert not any(name == "bot_runs" for name, _ in samples)


def test_an_ended_pool_process_drops_its_live_gauges_and_keeps_its_counts():
    folder = settings.METRICS_DIR
    pid = 2**22 + 17  # above Linux's pid_max: no process of this host
    live, counts = folder / f"gauge_livesum_{pid}.db", folder / f"counter_{pid}.db"
    live.write_bytes(b"")
    counts.write_bytes(b"")
    try:
        _drop_live_gauges_of_ended_pool_process(pid=pid, exitcode=0)
        assert not live.exists()
        assert counts.exists()
    finally:
        live.unlink(missing_ok=True)
        counts.unlink(missing_ok=True)


def test_the_folder_is_emptied_only_when_none_of_its_writers_is_alive(tmp_path):
    dead = 2**22 + 18
    stale = tmp_path / f"counter_{dead}.db"
    stale.write_bytes(b"x")
    multiprocess.clean_stale(tmp_path)
    assert not stale.exists()

    # A writer still running (one worker restarted, the web still up): nothing is removed.
    writer = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        kept = tmp_path / f"counter_{writer.pid}.db"
        kept.write_bytes(b"x")
        stale.write_bytes(b"x")
        multiprocess.clean_stale(tmp_path)
        assert kept.exists()
        assert stale.exists()
    finally:
        writer.kill()
        writer.wait()
    multiprocess.clean_stale(tmp_path)  # now that it ended
    assert not kept.exists()
    assert not stale.exists()
