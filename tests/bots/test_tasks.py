"""Runs on real Celery workers (queue `ticks`), end to end through the API."""

from __future__ import annotations

import pytest

from bots.models import BotRun
from tests.bots.conftest import BOTS, RUNS
from tests.bots.factories import BotFactory
from tests.helpers import wait_until
from workspaces.models import AuditEvent

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def state_of(api, run_id: str) -> str:
    return api.get(f"{RUNS}/{run_id}").json()["state"]


def test_start_runs_on_a_worker_then_stop_stops_it(celery_worker_process, trader_api, bot):
    started = trader_api.post(f"{BOTS}/{bot.pk}/runs", HTTP_X_REQUEST_ID="start-on-worker")
    assert started.status_code == 201, started.content
    # The answer is the run as created, whatever the worker has done by then.
    assert started.json()["state"] == "QUEUED"
    run_id = started.json()["id"]

    wait_until(
        lambda: state_of(trader_api, run_id) == "RUNNING",
        timeout=30,
        message="the run never became RUNNING",
    )
    running = trader_api.get(f"{RUNS}/{run_id}").json()
    assert running["started_at"] is not None
    assert running["last_candle_ts"] is not None

    stopped = trader_api.post(f"{RUNS}/{run_id}/stop", HTTP_X_REQUEST_ID="stop-on-worker")
    assert stopped.status_code == 200
    assert stopped.json()["state"] == "STOPPING"
    wait_until(
        lambda: state_of(trader_api, run_id) == "STOPPED",
        timeout=30,
        message="the run never became STOPPED",
    )

    run = trader_api.get(f"{RUNS}/{run_id}").json()
    assert run["ended_at"] >= run["started_at"]
    assert run["error_code"] == ""
    events = trader_api.get(f"{RUNS}/{run_id}/events").json()["results"]
    assert [(e["seq"], e["from_state"], e["to_state"]) for e in events] == [
        (1, "", "QUEUED"),
        (2, "QUEUED", "STARTING"),
        (3, "STARTING", "RUNNING"),
        (4, "RUNNING", "STOPPING"),
        (5, "STOPPING", "STOPPED"),
    ]
    # The worker's events carry the id of the request that caused them.
    assert [e["request_id"] for e in events] == ["start-on-worker"] * 3 + ["stop-on-worker"] * 2
    assert events[2]["data"]["candles"] == events[2]["data"]["lookback"] == 31
    assert events[2]["data"]["last_ts"] == run["last_candle_ts"]
    assert list(
        AuditEvent.objects.filter(target_id=run_id)
        .order_by("created_at")
        .values_list("action", flat=True)
    ) == ["run.start", "run.stop"]
    assert trader_api.get(f"{BOTS}/{bot.pk}").json()["active_run"] is None


def test_stop_all_on_workers_ends_every_run(celery_worker_process, trader_api, workspace, bot):
    second = BotFactory(
        workspace=workspace,
        strategy_version=bot.strategy_version,
        exchange_connection=bot.exchange_connection,
    )
    first_id = trader_api.post(f"{BOTS}/{bot.pk}/runs").json()["id"]
    second_id = trader_api.post(f"{BOTS}/{second.pk}/runs").json()["id"]
    wait_until(
        lambda: {state_of(trader_api, first_id), state_of(trader_api, second_id)} == {"RUNNING"},
        timeout=30,
        message="the runs never both became RUNNING",
    )

    body = trader_api.post(f"{RUNS}/stop-all").json()

    assert sorted(body["stopped"]) == sorted([first_id, second_id])
    assert body["errors"] == []
    wait_until(
        lambda: set(BotRun.objects.values_list("state", flat=True)) == {"STOPPED"},
        timeout=30,
        message="the runs never both became STOPPED",
    )
