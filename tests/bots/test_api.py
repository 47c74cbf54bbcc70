"""The bots API: CRUD with validation by pointer, scoping and roles, runs, stop and stop-all.

In these tests no task reaches a worker (the test's transaction never commits), so a started
run stays as the API created it; tests/bots/test_tasks.py runs them on real workers.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from bots import selectors as bot_selectors
from bots import services
from bots.models import Bot, BotRun, RunEvent
from exchanges.models import ExchangeConnection
from strategies.dsl import examples
from tests.bots.conftest import BOTS, RUNS, bot_body, make_version
from tests.bots.factories import BotFactory
from tests.conftest import assert_problem
from tests.exchanges.ccxt_helpers import route_ccxt_to
from tests.exchanges.stub_exchange import refused_url, running_stub
from tests.factories import StrategyVersionFactory
from workspaces.models import AuditEvent

pytestmark = pytest.mark.django_db

State = BotRun.State


def create(api, body) -> dict:
    response = api.post(BOTS, body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


# --------------------------------------------------------------------------- CRUD


def test_create_bot_then_list_get_change_and_delete(
    trader_api, workspace, version, demo_connection
):
    body = create(trader_api, bot_body(version, demo_connection, close_on_stop=True))

    assert body["name"] == "BTC trend"
    assert body["strategy_version"] == str(version.pk)
    assert body["strategy"] == {
        "id": str(version.strategy_id),
        "name": "SMA cross",
        "version": 1,
        "symbol": "BTC/USDT",
        "timeframe": "1m",
    }
    assert body["exchange_connection"] == str(demo_connection.pk)
    assert body["risk"] == {
        "max_position_quote": "1000",
        "max_daily_loss_pct": "5",
        "max_orders_per_minute": 10,
    }
    assert body["execution"] == {"order_type": "market", "slippage_bps": 10, "mode": "demo"}
    assert body["close_on_stop"] is True
    assert body["active_run"] is None
    assert body["created_by"] == "tanya"
    bot = Bot.objects.get(pk=body["id"])
    assert bot.workspace == workspace
    assert bot.max_position_quote == Decimal("1000")
    audit = AuditEvent.objects.get(action="bot.create")
    assert audit.target_id == body["id"]
    assert audit.details["risk"]["max_daily_loss_pct"] == "5"

    listed = trader_api.get(BOTS).json()
    assert [item["id"] for item in listed["results"]] == [body["id"]]
    assert trader_api.get(f"{BOTS}/{body['id']}").json() == body

    changed = trader_api.patch(
        f"{BOTS}/{body['id']}",
        {"name": "BTC trend 2", "risk": {"max_daily_loss_pct": "2.5"}},
        format="json",
    )
    assert changed.status_code == 200, changed.content
    assert changed.json()["name"] == "BTC trend 2"
    # Only the field sent changed inside `risk`; `execution` and the rest are as they were.
    assert changed.json()["risk"] == {**body["risk"], "max_daily_loss_pct": "2.5"}
    assert changed.json()["execution"] == body["execution"]
    assert changed.json()["close_on_stop"] is True
    update = AuditEvent.objects.get(action="bot.update")
    assert update.details == {
        "name": {"from": "BTC trend", "to": "BTC trend 2"},
        "max_daily_loss_pct": {"from": "5", "to": "2.5"},
    }

    assert trader_api.delete(f"{BOTS}/{body['id']}").status_code == 204
    assert not Bot.objects.exists()
    assert AuditEvent.objects.filter(action="bot.delete", target_id=body["id"]).exists()


def test_patch_without_changes_writes_nothing(trader_api, bot):
    response = trader_api.patch(f"{BOTS}/{bot.pk}", {"name": bot.name}, format="json")
    assert response.status_code == 200
    assert not AuditEvent.objects.filter(action="bot.update").exists()


def test_paper_bot_on_an_exchange_connection_through_the_stub(
    trader_api, version, binance_connection, monkeypatch
):
    with running_stub() as stub:
        route_ccxt_to(monkeypatch, stub.base_url)
        body = create(trader_api, bot_body(version, binance_connection, execution__mode="paper"))
    assert body["execution"]["mode"] == "paper"
    assert any("exchangeInfo" in request for request in map(str, stub.requests))


def test_symbol_check_with_the_venue_down_answers_its_problem(
    trader_api, version, binance_connection, monkeypatch
):
    route_ccxt_to(monkeypatch, refused_url(), timeout_ms=2000)
    response = trader_api.post(
        BOTS, bot_body(version, binance_connection, execution__mode="paper"), format="json"
    )
    assert_problem(response, 503, "exchange-unreachable")
    assert not Bot.objects.exists()


# Each bad input with the pointer its error names.
BAD_INPUTS = [
    ({"name": ""}, "/name"),
    ({"name": "x" * 121}, "/name"),
    ({"strategy_version": "not-a-uuid"}, "/strategy_version"),
    ({"exchange_connection": None}, "/exchange_connection"),
    ({"risk": "high"}, "/risk"),
    ({"risk__max_position_quote": "0"}, "/risk/max_position_quote"),
    ({"risk__max_position_quote": "-5"}, "/risk/max_position_quote"),
    ({"risk__max_position_quote": "lots"}, "/risk/max_position_quote"),
    ({"risk__max_position_quote": "1_000"}, "/risk/max_position_quote"),
    ({"risk__max_position_quote": " 1000 "}, "/risk/max_position_quote"),
    ({"risk__max_position_quote": "1e3"}, "/risk/max_position_quote"),
    ({"risk__max_position_quote": 999.5}, "/risk/max_position_quote"),
    ({"risk__max_position_quote": "\u0661\u0660"}, "/risk/max_position_quote"),
    ({"risk__max_daily_loss_pct": "0"}, "/risk/max_daily_loss_pct"),
    ({"risk__max_daily_loss_pct": "100.01"}, "/risk/max_daily_loss_pct"),
    ({"risk__max_daily_loss_pct": "1.234"}, "/risk/max_daily_loss_pct"),
    ({"risk__max_orders_per_minute": 0}, "/risk/max_orders_per_minute"),
    ({"risk__max_orders_per_minute": 301}, "/risk/max_orders_per_minute"),
    ({"risk__max_orders_per_minute": "many"}, "/risk/max_orders_per_minute"),
    ({"execution": None}, "/execution"),
    ({"execution__order_type": "stop"}, "/execution/order_type"),
    ({"execution__slippage_bps": -1}, "/execution/slippage_bps"),
    ({"execution__slippage_bps": 1001}, "/execution/slippage_bps"),
    ({"execution__mode": "real"}, "/execution/mode"),
    ({"close_on_stop": "maybe"}, "/close_on_stop"),
]


@pytest.mark.parametrize(("changes", "pointer"), BAD_INPUTS)
def test_bad_input_is_400_with_its_pointer(trader_api, version, demo_connection, changes, pointer):
    response = trader_api.post(BOTS, bot_body(version, demo_connection, **changes), format="json")
    problem = assert_problem(response, 400, "validation-error")
    assert pointer in [error["pointer"] for error in problem["errors"]], problem
    assert not Bot.objects.exists()


@pytest.mark.parametrize("missing", ["name", "strategy_version", "exchange_connection", "risk"])
def test_missing_field_is_400_with_its_pointer(trader_api, version, demo_connection, missing):
    body = bot_body(version, demo_connection)
    del body[missing]
    problem = assert_problem(trader_api.post(BOTS, body, format="json"), 400, "validation-error")
    assert [error["pointer"] for error in problem["errors"]] == [f"/{missing}"]


def test_missing_nested_field_is_400_with_its_pointer(trader_api, version, demo_connection):
    body = bot_body(version, demo_connection)
    del body["risk"]["max_orders_per_minute"]
    del body["execution"]["mode"]
    problem = assert_problem(trader_api.post(BOTS, body, format="json"), 400)
    assert {error["pointer"] for error in problem["errors"]} == {
        "/risk/max_orders_per_minute",
        "/execution/mode",
    }


def test_taken_name_is_400(trader_api, bot, version, demo_connection):
    response = trader_api.post(BOTS, bot_body(version, demo_connection), format="json")
    problem = assert_problem(response, 400, "validation-error")
    assert problem["errors"] == [
        {"pointer": "/name", "detail": "A bot with this name already exists in the workspace."}
    ]
    assert Bot.objects.count() == 1


def test_live_mode_is_refused_with_its_own_code(trader_api, version, demo_connection):
    response = trader_api.post(
        BOTS, bot_body(version, demo_connection, execution__mode="live"), format="json"
    )
    problem = assert_problem(response, 400, "live-mode-not-approved")
    assert [error["pointer"] for error in problem["errors"]] == ["/execution/mode"]
    assert not Bot.objects.exists()


def test_demo_mode_needs_a_demo_connection(trader_api, version, binance_connection):
    response = trader_api.post(BOTS, bot_body(version, binance_connection), format="json")
    problem = assert_problem(response, 400, "validation-error")
    assert [error["pointer"] for error in problem["errors"]] == ["/execution/mode"]
    assert "paper mode" in problem["errors"][0]["detail"]


def test_paper_mode_needs_an_exchange_connection(trader_api, version, demo_connection):
    response = trader_api.post(
        BOTS, bot_body(version, demo_connection, execution__mode="paper"), format="json"
    )
    problem = assert_problem(response, 400, "validation-error")
    assert [error["pointer"] for error in problem["errors"]] == ["/execution/mode"]


def test_paper_mode_refuses_a_live_connection(trader_api, workspace, version):
    live = ExchangeConnection.objects.create(
        workspace=workspace, name="Binance live", exchange="binance", mode="live"
    )
    response = trader_api.post(
        BOTS, bot_body(version, live, execution__mode="paper"), format="json"
    )
    problem = assert_problem(response, 400, "validation-error")
    assert [error["pointer"] for error in problem["errors"]] == ["/exchange_connection"]


def test_symbol_the_venue_does_not_list_is_400(trader_api, workspace, demo_connection):
    doge = make_version(workspace, {**examples()["sma_crossover"], "symbol": "DOGE/USDT"})
    response = trader_api.post(BOTS, bot_body(doge, demo_connection), format="json")
    problem = assert_problem(response, 400, "validation-error")
    assert [error["pointer"] for error in problem["errors"]] == ["/exchange_connection"]
    assert "DOGE/USDT" in problem["detail"]


def test_patch_is_validated_like_a_create(trader_api, bot, binance_connection):
    url = f"{BOTS}/{bot.pk}"
    problem = assert_problem(
        trader_api.patch(url, {"risk": {"max_daily_loss_pct": "-1"}}, format="json"), 400
    )
    assert [error["pointer"] for error in problem["errors"]] == ["/risk/max_daily_loss_pct"]
    # The new connection does not fit the bot's (unchanged) demo mode.
    problem = assert_problem(
        trader_api.patch(url, {"exchange_connection": str(binance_connection.pk)}, format="json"),
        400,
    )
    assert [error["pointer"] for error in problem["errors"]] == ["/execution/mode"]
    assert_problem(
        trader_api.patch(url, {"execution": {"mode": "live"}}, format="json"),
        400,
        "live-mode-not-approved",
    )
    bot.refresh_from_db()
    assert (bot.max_daily_loss_pct, bot.exchange_connection_id, bot.mode) == (
        Decimal("5"),
        bot.exchange_connection_id,
        "demo",
    )
    assert not AuditEvent.objects.filter(action="bot.update").exists()


# --------------------------------------------------------------------------- scoping and roles


def test_another_workspaces_ids_are_404(trader_api, other_bot, make_run, version, demo_connection):
    their_run = make_run(other_bot)
    for response in (
        trader_api.get(f"{BOTS}/{other_bot.pk}"),
        trader_api.patch(f"{BOTS}/{other_bot.pk}", {"name": "mine"}, format="json"),
        trader_api.delete(f"{BOTS}/{other_bot.pk}"),
        trader_api.get(f"{BOTS}/{other_bot.pk}/runs"),
        trader_api.post(f"{BOTS}/{other_bot.pk}/runs"),
        trader_api.get(f"{RUNS}/{their_run.pk}"),
        trader_api.get(f"{RUNS}/{their_run.pk}/events"),
        trader_api.post(f"{RUNS}/{their_run.pk}/stop"),
    ):
        assert_problem(response, 404, "not-found")
    assert trader_api.get(BOTS).json()["results"] == []
    # Ids in the body: another workspace's version or connection is as unknown as nobody's.
    their_version = other_bot.strategy_version
    their_connection = other_bot.exchange_connection
    for body, pointer in (
        (bot_body(their_version, demo_connection), "/strategy_version"),
        (bot_body(version, their_connection), "/exchange_connection"),
    ):
        problem = assert_problem(trader_api.post(BOTS, body, format="json"), 404, "not-found")
        assert [error["pointer"] for error in problem["errors"]] == [pointer]
    their_run.refresh_from_db()
    assert their_run.state == State.QUEUED
    assert Bot.objects.filter(workspace=other_bot.workspace).get().name == "Theirs"


def test_non_member_is_403(outsider_api, bot, make_run, version, demo_connection):
    run = make_run(bot)
    for response in (
        outsider_api.get(BOTS),
        outsider_api.post(BOTS, bot_body(version, demo_connection), format="json"),
        outsider_api.get(f"{BOTS}/{bot.pk}"),
        outsider_api.post(f"{BOTS}/{bot.pk}/runs"),
        outsider_api.get(f"{RUNS}/{run.pk}"),
        outsider_api.post(f"{RUNS}/{run.pk}/stop"),
        outsider_api.post(f"{RUNS}/stop-all"),
    ):
        assert_problem(response, 403, "not-a-workspace-member")
    run.refresh_from_db()
    assert run.state == State.QUEUED


def test_viewer_reads_but_cannot_write(viewer_api, bot, make_run, version, demo_connection):
    run = make_run(bot)
    assert viewer_api.get(BOTS).status_code == 200
    assert viewer_api.get(f"{BOTS}/{bot.pk}/runs").status_code == 200
    assert viewer_api.get(f"{RUNS}/{run.pk}").status_code == 200
    assert viewer_api.get(f"{RUNS}/{run.pk}/events").status_code == 200
    for response in (
        viewer_api.post(BOTS, bot_body(version, demo_connection, name="Mine"), format="json"),
        viewer_api.patch(f"{BOTS}/{bot.pk}", {"name": "Mine"}, format="json"),
        viewer_api.delete(f"{BOTS}/{bot.pk}"),
        viewer_api.post(f"{BOTS}/{bot.pk}/runs"),
        viewer_api.post(f"{RUNS}/{run.pk}/stop"),
        viewer_api.post(f"{RUNS}/stop-all"),
    ):
        assert_problem(response, 403, "role-required")
    run.refresh_from_db()
    assert run.state == State.QUEUED
    assert Bot.objects.get().name == "BTC trend"
    assert BotRun.objects.count() == 1


# --------------------------------------------------------------------------- runs


def test_start_answers_the_queued_run_with_its_snapshot(trader_api, bot):
    response = trader_api.post(f"{BOTS}/{bot.pk}/runs", HTTP_X_REQUEST_ID="start-req-1")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["state"] == "QUEUED"
    assert body["bot"] == str(bot.pk)
    assert body["strategy_version"] == str(bot.strategy_version_id)
    assert body["exchange_connection"] == str(bot.exchange_connection_id)
    assert body["risk"] == {
        "max_position_quote": "1000",
        "max_daily_loss_pct": "5",
        "max_orders_per_minute": 10,
    }
    assert body["execution"] == {"order_type": "market", "slippage_bps": 10, "mode": "demo"}
    assert (body["position"], body["realized_pnl"], body["unrealized_pnl"]) == ("0", "0", "0")
    assert body["started_at"] is body["ended_at"] is body["last_candle_ts"] is None
    assert body["error_code"] == ""
    assert body["request_id"] == "start-req-1"

    run = BotRun.objects.get(pk=body["id"])
    [event] = run.events.all()
    assert (event.seq, event.kind, event.from_state, event.to_state) == (
        1,
        "transition",
        "",
        "QUEUED",
    )
    assert event.request_id == "start-req-1"
    audit = AuditEvent.objects.get(action="run.start")
    assert (audit.target_id, audit.request_id) == (body["id"], "start-req-1")
    assert trader_api.get(f"{BOTS}/{bot.pk}").json()["active_run"] == {
        "id": body["id"],
        "state": "QUEUED",
    }


def test_second_start_is_409_and_changes_nothing(trader_api, bot):
    trader_api.post(f"{BOTS}/{bot.pk}/runs")
    second = trader_api.post(f"{BOTS}/{bot.pk}/runs")

    assert_problem(second, 409, "run-already-active")
    assert BotRun.objects.filter(bot=bot).count() == 1
    assert AuditEvent.objects.filter(action="run.start").count() == 1


def test_a_new_run_may_start_once_the_last_has_ended(trader_api, bot, make_run):
    make_run(bot, state=State.STOPPED)
    make_run(bot, state=State.FAILED, error_code="EXCHANGE_UNREACHABLE")
    assert trader_api.post(f"{BOTS}/{bot.pk}/runs").status_code == 201
    assert BotRun.objects.filter(bot=bot).count() == 3


def test_eleventh_start_in_a_minute_is_429(trader_api, bot):
    answers = [trader_api.post(f"{BOTS}/{bot.pk}/runs").status_code for _ in range(10)]
    assert answers == [201] + [409] * 9

    eleventh = trader_api.post(f"{BOTS}/{bot.pk}/runs")
    assert_problem(eleventh, 429, "rate-limited")
    assert int(eleventh["Retry-After"]) >= 1
    # Other endpoints are not limited by it.
    assert trader_api.get(f"{BOTS}/{bot.pk}/runs").status_code == 200


def test_runs_of_a_bot_newest_first(trader_api, bot, make_run, other_bot):
    old = make_run(bot, state=State.STOPPED)
    new = make_run(bot)
    make_run(other_bot)
    body = trader_api.get(f"{BOTS}/{bot.pk}/runs").json()
    assert [run["id"] for run in body["results"]] == [str(new.pk), str(old.pk)]
    assert trader_api.get(f"{RUNS}/{old.pk}").json()["state"] == "STOPPED"


def test_editing_a_bot_never_changes_a_run_already_going(trader_api, workspace, bot):
    run_id = trader_api.post(f"{BOTS}/{bot.pk}/runs").json()["id"]
    services.launch_run(run=BotRun.objects.get(pk=run_id))  # what the worker does: RUNNING
    before = trader_api.get(f"{RUNS}/{run_id}").json()
    assert before["state"] == "RUNNING"
    v2 = StrategyVersionFactory(
        strategy=bot.strategy_version.strategy,
        number=2,
        body={**examples()["sma_crossover"], "symbol": "ETH/USDT"},
    )
    changed = trader_api.patch(
        f"{BOTS}/{bot.pk}",
        {
            "strategy_version": str(v2.pk),
            "risk": {"max_position_quote": "5", "max_orders_per_minute": 1},
            "execution": {"order_type": "limit", "slippage_bps": 50},
            "close_on_stop": True,
        },
        format="json",
    )
    assert changed.status_code == 200, changed.content
    assert changed.json()["strategy"]["symbol"] == "ETH/USDT"

    after = trader_api.get(f"{RUNS}/{run_id}").json()
    assert after == before
    assert after["strategy"]["symbol"] == "BTC/USDT"
    assert after["risk"]["max_position_quote"] == "1000"
    assert after["execution"]["order_type"] == "market"
    assert after["close_on_stop"] is False


def test_delete_with_an_active_run_is_409(trader_api, bot, make_run):
    for state in (State.QUEUED, State.RUNNING, State.STOPPING):
        run = make_run(bot, state=state)
        assert_problem(trader_api.delete(f"{BOTS}/{bot.pk}"), 409, "bot-has-active-run")
        assert Bot.objects.filter(pk=bot.pk).exists()
        run.state = State.STOPPED
        run.save(update_fields=["state"])
    assert not AuditEvent.objects.filter(action="bot.delete").exists()
    # Once every run has ended, the bot goes, with its run history.
    assert trader_api.delete(f"{BOTS}/{bot.pk}").status_code == 204
    assert not BotRun.objects.exists()


def test_stop_moves_to_stopping_and_is_audited(trader_api, bot, make_run):
    run = make_run(bot, state=State.RUNNING)
    response = trader_api.post(f"{RUNS}/{run.pk}/stop")
    assert response.status_code == 200, response.content
    assert response.json()["state"] == "STOPPING"
    run.refresh_from_db()
    assert run.state == State.STOPPING
    event = run.events.get()
    assert (event.from_state, event.to_state) == ("RUNNING", "STOPPING")
    audit = AuditEvent.objects.get(action="run.stop")
    assert audit.details == {"bot_id": str(bot.pk), "from": "RUNNING", "via": "api"}

    # Stopping again is answered as it is, without a second event or audit row.
    again = trader_api.post(f"{RUNS}/{run.pk}/stop")
    assert again.status_code == 200
    assert again.json()["state"] == "STOPPING"
    assert run.events.count() == 1
    assert AuditEvent.objects.filter(action="run.stop").count() == 1


@pytest.mark.parametrize("state", [State.STOPPED, State.FAILED, State.TIMED_OUT])
def test_stopping_an_ended_run_is_409(trader_api, bot, make_run, state):
    run = make_run(bot, state=state)
    assert_problem(trader_api.post(f"{RUNS}/{run.pk}/stop"), 409, "run-not-active")
    run.refresh_from_db()
    assert run.state == state
    assert not run.events.exists()


def test_events_of_a_run_in_trail_order_and_after_a_seq(trader_api, bot):
    run_id = trader_api.post(f"{BOTS}/{bot.pk}/runs").json()["id"]
    trader_api.post(f"{RUNS}/{run_id}/stop")

    body = trader_api.get(f"{RUNS}/{run_id}/events").json()
    trail = [(e["seq"], e["kind"], e["from_state"], e["to_state"]) for e in body["results"]]
    assert trail == [(1, "transition", "", "QUEUED"), (2, "transition", "QUEUED", "STOPPING")]
    assert set(body["results"][0]) == {
        "id",
        "seq",
        "kind",
        "from_state",
        "to_state",
        "error_code",
        "message",
        "data",
        "request_id",
        "created_at",
    }
    later = trader_api.get(f"{RUNS}/{run_id}/events?after=1").json()["results"]
    assert [event["seq"] for event in later] == [2]
    problem = assert_problem(trader_api.get(f"{RUNS}/{run_id}/events?after=-1"), 400)
    assert problem["errors"][0]["pointer"] == "/after"


def test_stop_all_stops_every_unfinished_run_of_the_workspace(
    trader_api, workspace, version, demo_connection, make_run, other_bot
):
    bots = [
        BotFactory(
            workspace=workspace,
            strategy_version=version,
            exchange_connection=demo_connection,
            name=f"Bot {i}",
        )
        for i in range(4)
    ]
    queued = make_run(bots[0])
    running = make_run(bots[1], state=State.RUNNING)
    stopping = make_run(bots[2], state=State.STOPPING)
    ended = make_run(bots[3], state=State.STOPPED)
    theirs = make_run(other_bot, state=State.RUNNING)

    response = trader_api.post(f"{RUNS}/stop-all")

    assert response.status_code == 200, response.content
    body = response.json()
    assert sorted(body["stopped"]) == sorted(str(run.pk) for run in (queued, running, stopping))
    assert body["errors"] == []
    states = dict(BotRun.objects.values_list("pk", "state"))
    assert states[queued.pk] == states[running.pk] == states[stopping.pk] == State.STOPPING
    assert states[ended.pk] == State.STOPPED
    assert states[theirs.pk] == State.RUNNING
    # The already-stopping run moved nowhere and got no event.
    assert not stopping.events.exists()
    summary = AuditEvent.objects.get(action="run.stop_all")
    assert summary.workspace == workspace
    assert sorted(summary.details["stopped"]) == sorted(body["stopped"])
    assert AuditEvent.objects.filter(action="run.stop").count() == 2


def test_stop_all_lists_a_run_whose_stop_failed_with_the_reason(
    trader_api, workspace, bot, make_run, monkeypatch
):
    running = make_run(bot, state=State.RUNNING)
    other = BotFactory(
        workspace=workspace,
        strategy_version=bot.strategy_version,
        exchange_connection=bot.exchange_connection,
    )
    ended_meanwhile = make_run(other, state=State.FAILED, error_code="EXCHANGE_UNREACHABLE")
    listed = bot_selectors.active_runs

    def active_runs_then_one_ended(*, workspace):
        # The second run failed between the listing and its stop.
        return [*listed(workspace=workspace), ended_meanwhile]

    monkeypatch.setattr(bot_selectors, "active_runs", active_runs_then_one_ended)
    body = trader_api.post(f"{RUNS}/stop-all").json()

    assert body["stopped"] == [str(running.pk)]
    assert body["errors"] == [
        {"id": str(ended_meanwhile.pk), "error": "The run is FAILED; there is nothing to stop."}
    ]
    ended_meanwhile.refresh_from_db()
    assert ended_meanwhile.state == State.FAILED
    assert AuditEvent.objects.get(action="run.stop_all").details["errors"] == body["errors"]


def test_stop_all_with_nothing_to_stop(trader_api):
    response = trader_api.post(f"{RUNS}/stop-all")
    assert response.status_code == 200
    assert response.json() == {"stopped": [], "errors": []}


def test_deleting_a_connection_or_strategy_a_bot_uses_is_409(owner_api, bot):
    assert_problem(
        owner_api.delete(f"/api/v1/exchange-connections/{bot.exchange_connection_id}"),
        409,
        "connection-in-use",
    )
    assert_problem(
        owner_api.delete(f"/api/v1/strategies/{bot.strategy_version.strategy_id}"),
        409,
        "strategy-in-use",
    )
    assert Bot.objects.filter(pk=bot.pk).exists()


def test_deleting_the_workspace_takes_its_bots_and_runs(owner_api, workspace, bot, make_run):
    run = make_run(bot, state=State.STOPPED)
    RunEvent.objects.create(run=run, seq=1, to_state="QUEUED")
    assert owner_api.delete(f"/api/v1/workspaces/{workspace.pk}").status_code == 204
    assert not Bot.objects.exists()
    assert not BotRun.objects.exists()
    assert not RunEvent.objects.exists()


def test_openapi_documents_the_bots_endpoints(owner_api):
    schema = owner_api.get("/api/schema/?format=json").json()
    paths = schema["paths"]
    for path, method in (
        ("/api/v1/bots", "post"),
        ("/api/v1/bots/{id}", "patch"),
        ("/api/v1/bots/{id}", "delete"),
        ("/api/v1/bots/{id}/runs", "post"),
        ("/api/v1/bots/{id}/runs", "get"),
        ("/api/v1/runs/{id}", "get"),
        ("/api/v1/runs/{id}/stop", "post"),
        ("/api/v1/runs/{id}/events", "get"),
        ("/api/v1/runs/stop-all", "post"),
    ):
        operation = paths[path][method]
        responses = operation["responses"]
        assert {"401", "403", "429"} <= set(responses), (path, method)
        for code, response in responses.items():
            if int(code) >= 400:
                assert "application/problem+json" in response["content"], (path, method, code)
    assert {"409", "429"} <= set(paths["/api/v1/bots/{id}/runs"]["post"]["responses"])
    assert "409" in paths["/api/v1/bots/{id}"]["delete"]["responses"]
