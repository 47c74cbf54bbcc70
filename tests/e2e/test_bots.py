"""Bots in a real browser against the real server (daphne: HTTP and WebSockets) and real Celery
workers: a bot started from its page goes RUNNING and shows its events without a reload; the
list follows its bots live; the form points at bad fields; stop-all asks first."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.db.models import F

from bots import services
from bots.models import BotRun
from bots.runtime import dispatch
from exchanges.models import ExchangeConnection
from tests.bots.ticking import make_bot
from tests.conftest import ROOT, _member, worker_environment
from tests.helpers import log_in
from workspaces.models import Role

pytestmark = [
    pytest.mark.browser,
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
]

MINUTE = 60_000
ASGI_APPLICATION = "config.asgi:application"
REFUSED_REQUEST = "Failed to load resource: the server responded with a status of 400 (Bad Request)"
WORKER_WAIT_MS = 60_000  # a worker's first task imports the whole product


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def server(django_db_setup):
    """`daphne config.asgi:application` as the Procfile runs it, on the test database: the
    live streams need the ASGI server (Django's live_server speaks no WebSocket)."""
    port = free_port()
    log = open(Path(settings.VAR_DIR) / f"test-daphne-bots-{port}.log", "w")
    process = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), ASGI_APPLICATION],
        cwd=ROOT,
        # Test settings in the server too: the tests' password hasher and cache key prefix.
        env={**worker_environment(), "BOTMARKET_TESTING": "1"},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"daphne did not start; see {log.name}")
            time.sleep(0.2)
    yield SimpleNamespace(url=f"http://127.0.0.1:{port}")
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()  # never leave a server holding the test database
        process.wait(timeout=10)
    log.close()
    Path(log.name).unlink()


@pytest.fixture
def demo_connection(workspace):
    return ExchangeConnection.objects.create(
        workspace=workspace, name="Demo account", exchange="demo", mode="demo"
    )


@pytest.fixture
def trader(workspace):
    return _member(workspace, Role.TRADER)


@pytest.fixture
def errors(page):
    """Script errors and failed requests of the page (none expected)."""
    found: list[str] = []
    page.on("pageerror", lambda error: found.append(f"{page.url}: {error}"))
    page.on(
        "console",
        lambda message: message.type == "error" and found.append(f"{page.url}: {message.text}"),
    )
    return found


def test_a_started_bot_shows_running_and_its_events_without_reloading(
    server, celery_worker_process, page, errors, workspace, trader, demo_connection
):
    bot = make_bot(workspace, demo_connection, name="First buy")
    log_in(page, server, trader.username)
    page.goto(f"{server.url}/bots/{bot.pk}")
    page.locator("#chart-legend:not(:empty)").wait_for()  # the bot's chart before any run
    page.locator("#runs-state .empty").wait_for()
    page.evaluate("window.sameDocument = true")  # gone if anything reloads the page

    page.click("#start-button")

    # The worker loads the lookback and moves the run on; the stream brings every step.
    page.locator('#bot-page[data-state="RUNNING"]').wait_for(timeout=WORKER_WAIT_MS)
    assert page.inner_text("#run-state") == "Работает"  # Russian, the default
    assert page.locator("#live-status").get_attribute("data-status") == "live"
    page.locator('#events-table tr[data-seq="3"]').wait_for()
    trail = page.locator("#events-table tbody tr").all_inner_texts()
    assert "Запускается → Работает" in trail[0]
    assert "очереди" in trail[-1]  # Queued
    assert page.is_disabled("#start-button")
    assert page.is_enabled("#stop-button")
    run = BotRun.objects.get(bot=bot)
    assert page.url.endswith(f"?run={run.pk}")

    # A candle closes (the run is one behind) and beat's dispatcher sends it to the worker: the
    # tick's first decisions reach the page as they are committed, the fill as a marker.
    BotRun.objects.filter(pk=run.pk).update(last_candle_ts=F("last_candle_ts") - MINUTE)
    assert dispatch.dispatch_due_runs() == 1
    page.locator('#events-table tr[data-kind="signal"]').wait_for(timeout=WORKER_WAIT_MS)
    page.locator('#events-table tr[data-kind="fill"]').wait_for(timeout=WORKER_WAIT_MS)
    page.locator('#bot-page[data-markers="1"]').wait_for()
    held = BotRun.objects.get(pk=run.pk).position
    assert held > 0
    assert page.inner_text("#run-position") == str(held.normalize())
    page.locator("#equity-chart canvas").first.wait_for()

    page.click("#stop-button")
    page.locator('#bot-page[data-state="STOPPED"]').wait_for(timeout=WORKER_WAIT_MS)
    page.locator('#runs-table tr[data-state="STOPPED"]').wait_for()
    assert page.is_enabled("#start-button")
    assert page.evaluate("window.sameDocument") is True
    assert errors == []


def test_the_list_follows_its_bots_live_and_stop_all_asks_first(
    server, celery_worker_process, page, errors, workspace, trader, demo_connection
):
    bot = make_bot(workspace, demo_connection, name="Listed")
    log_in(page, server, trader.username)
    page.goto(f"{server.url}/bots")
    page.click('#language-switcher button[value="en"]')  # this one in English
    page.wait_for_url(f"{server.url}/bots")
    row = page.locator(f'#bots-table tr[data-id="{bot.pk}"]')
    row.wait_for()
    page.locator('#live-status[data-status="live"]').wait_for()
    assert "Never started" in row.inner_text()
    page.evaluate("window.sameDocument = true")

    services.start_run(bot=bot, actor=trader)  # started elsewhere (the API, another tab)

    page.locator(f'#bots-table tr[data-id="{bot.pk}"][data-state="RUNNING"]').wait_for(
        timeout=WORKER_WAIT_MS
    )
    assert "Running" in row.inner_text()

    # Stop all: a dialog first; cancelling stops nothing.
    page.click("#stop-all-button")
    assert page.locator("#stop-all-dialog").is_visible()
    assert "Runs to stop: 1" in page.inner_text("#stop-all-count")
    page.click("#stop-all-cancel")
    assert not page.locator("#stop-all-dialog").is_visible()
    assert BotRun.objects.get(bot=bot).state == BotRun.State.RUNNING

    page.click("#stop-all-button")
    page.click("#stop-all-confirm")
    page.locator("#stop-all-result .alert.ok").wait_for()
    assert "Stopped: 1" in page.inner_text("#stop-all-result")
    page.locator(f'#bots-table tr[data-id="{bot.pk}"][data-state="STOPPED"]').wait_for(
        timeout=WORKER_WAIT_MS
    )
    assert page.evaluate("window.sameDocument") is True
    assert errors == []


def test_the_new_bot_form_points_at_bad_fields_then_creates_the_bot(
    server, page, errors, workspace, trader, demo_connection
):
    version = make_bot(workspace, demo_connection, name="Template").strategy_version
    log_in(page, server, trader.username)
    page.goto(f"{server.url}/bots")
    page.locator("#bots-table tr[data-id]").wait_for()
    assert page.input_value("#bot-version") == str(version.pk)
    assert page.input_value("#bot-mode") == "demo"  # picked for the demo connection

    page.fill("#bot-name", "Fresh")
    page.fill("#bot-max-loss", "150")
    page.fill("#bot-slippage", "2000")
    page.click("#bot-submit")

    page.locator("#bot-max-loss ~ .field-error").wait_for()
    assert "100" in page.inner_text("#bot-max-loss ~ .field-error")
    assert page.locator("#bot-slippage ~ .field-error").is_visible()
    assert not page.locator("#bot-max-position ~ .field-error").is_visible()

    page.fill("#bot-max-loss", "2.5")
    page.fill("#bot-slippage", "5")
    page.click("#bot-submit")
    page.wait_for_url(f"{server.url}/bots/*")
    page.locator("#runs-state .empty").wait_for()
    created = workspace.bots.get(name="Fresh")
    assert page.url == f"{server.url}/bots/{created.pk}"
    assert (str(created.max_daily_loss_pct), created.slippage_bps) == ("2.50", 5)
    # The refused POST is the browser's only complaint.
    assert errors == [f"{server.url}/bots: {REFUSED_REQUEST}"]
