"""The operator console: bots, runs and events read-only; stop and stop-all through the services."""

from __future__ import annotations

import pytest

from bots.models import BotRun, OrderIntent, RunEquityPoint
from tests.bots.factories import BotFactory
from tests.conftest import make_user
from workspaces.models import AuditEvent

pytestmark = pytest.mark.django_db

State = BotRun.State


@pytest.fixture
def operator(client):
    user = make_user("root", is_staff=True, is_superuser=True)
    client.force_login(user)
    return user


def test_lists_and_pages_render_read_only(client, operator, bot, make_run):
    run = make_run(bot, state=State.RUNNING)
    client.post("/admin/bots/botrun/", {"action": "stop_runs", "_selected_action": [run.pk]})
    for url in (
        "/admin/bots/bot/?mode__exact=demo&q=BTC",
        f"/admin/bots/bot/{bot.pk}/change/",
        f"/admin/bots/botrun/?state__exact=STOPPING&workspace__id__exact={bot.workspace_id}",
        f"/admin/bots/botrun/{run.pk}/change/",
        "/admin/bots/runevent/?kind__exact=transition",
    ):
        response = client.get(url)
        assert response.status_code == 200, url
    listing = client.get("/admin/bots/botrun/?state__exact=STOPPING").content.decode()
    assert str(run.pk) in listing
    assert f"run {str(run.pk)[:8]}" in client.get("/admin/bots/runevent/").content.decode()
    for url in ("/admin/bots/bot/add/", "/admin/bots/botrun/add/", "/admin/bots/runevent/add/"):
        assert client.get(url).status_code == 403
    assert client.post(f"/admin/bots/botrun/{run.pk}/delete/").status_code == 403


def test_stop_action_goes_through_the_service(client, operator, bot, make_run):
    running = make_run(bot, state=State.RUNNING)
    response = client.post(
        "/admin/bots/botrun/", {"action": "stop_runs", "_selected_action": [running.pk]}
    )
    assert response.status_code == 302
    running.refresh_from_db()
    assert running.state == State.STOPPING
    audit = AuditEvent.objects.get(action="run.stop")
    assert audit.actor == operator
    assert audit.details["via"] == "admin"
    assert running.events.get().to_state == State.STOPPING


def test_stop_all_action_stops_the_whole_workspace_and_no_other(
    client, operator, workspace, bot, make_run, other_bot
):
    second = BotFactory(
        workspace=workspace,
        strategy_version=bot.strategy_version,
        exchange_connection=bot.exchange_connection,
    )
    picked = make_run(bot, state=State.RUNNING)
    sibling = make_run(second)
    theirs = make_run(other_bot, state=State.RUNNING)

    client.post(
        "/admin/bots/botrun/",
        {"action": "stop_all_in_workspace", "_selected_action": [picked.pk]},
    )

    states = dict(BotRun.objects.values_list("pk", "state"))
    assert states[picked.pk] == states[sibling.pk] == State.STOPPING
    assert states[theirs.pk] == State.RUNNING
    summary = AuditEvent.objects.get(action="run.stop_all")
    assert (summary.actor, summary.workspace) == (operator, workspace)
    assert summary.details["via"] == "admin"


def test_bot_action_stops_the_active_runs_of_the_selected_bots(client, operator, bot, make_run):
    finished = make_run(bot, state=State.STOPPED)
    active = make_run(bot, state=State.STARTING)
    client.post("/admin/bots/bot/", {"action": "stop_active_runs", "_selected_action": [bot.pk]})
    active.refresh_from_db()
    finished.refresh_from_db()
    assert active.state == State.STOPPING
    assert finished.state == State.STOPPED


def test_intents_and_equity_are_listed_read_only(client, operator, bot, make_run):
    run = make_run(bot, state=State.RUNNING)
    intent = OrderIntent.objects.create(
        run=run,
        candle_ts=1_700_000_000_000,
        purpose=OrderIntent.Purpose.ENTRY,
        side="buy",
        type="market",
        amount="0.001",
        idempotency_key=f"run:{run.pk}:1700000000000:entry",
        client_order_id="bm" + "0" * 32,
        decided_at_ms=1_700_000_060_000,
    )
    RunEquityPoint.objects.create(
        run=run, ts=1_700_000_000_000, equity="10000", position="0.001", close="95000"
    )

    listing = client.get("/admin/bots/orderintent/?status__exact=pending").content.decode()
    assert intent.client_order_id in listing
    assert client.get(f"/admin/bots/orderintent/{intent.pk}/change/").status_code == 200
    assert client.get("/admin/bots/runequitypoint/").status_code == 200
    for url in ("/admin/bots/orderintent/add/", "/admin/bots/runequitypoint/add/"):
        assert client.get(url).status_code == 403
    assert client.post(f"/admin/bots/orderintent/{intent.pk}/delete/").status_code == 403
    assert OrderIntent.objects.filter(pk=intent.pk).exists()
