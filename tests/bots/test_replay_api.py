"""Replays over the API (SPEC §8): POST /bots/{id}/replays, GET /replays/{id}, its trades."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from bots import replays, tasks
from bots.models import BotReplay, BotRun, ReplayTrade
from lab import services as lab
from lab.models import Dataset
from tests.bots.conftest import BOTS
from tests.bots.factories import BotReplayFactory
from tests.conftest import _member, assert_problem
from tests.factories import DatasetFactory
from tests.helpers import wait_until
from workspaces.models import AuditEvent, Role, Workspace

pytestmark = pytest.mark.django_db

REPLAYS = "/api/v1/replays"
START = datetime(2025, 3, 1, tzinfo=UTC)  # a fixed past range of the demo feed


def replays_url(bot) -> str:
    return f"{BOTS}/{bot.pk}/replays"


@pytest.fixture
def sent(monkeypatch) -> list[dict]:
    """The replay tasks sent on commit (none is run: the tests run them in process)."""
    calls: list[dict] = []
    monkeypatch.setattr(tasks.run_replay_task, "delay_on_commit", lambda **kw: calls.append(kw))
    return calls


def demo_dataset(workspace, *, symbol="BTC/USDT", timeframe="1m", candles=120, name=None):
    """A dataset of the demo feed's candles (a file, hashed), as the lab stores one."""
    span = {"1m": timedelta(minutes=1), "15m": timedelta(minutes=15)}[timeframe]
    return lab.create_demo_dataset(
        workspace=workspace,
        actor=_member(workspace, Role.OWNER),
        name=name or f"{symbol} {timeframe} {candles}",
        symbol=symbol,
        timeframe=timeframe,
        start=START,
        end=START + span * candles,
    )


@pytest.fixture
def dataset(workspace) -> Dataset:
    """120 BTC/USDT 1m candles: the SMA crossover (warm-up 30) trades in them."""
    return demo_dataset(workspace)


def test_a_trader_queues_a_replay_and_gets_202_with_it_as_queued(
    trader_api, workspace, bot, dataset, sent
):
    response = trader_api.post(
        replays_url(bot),
        {"dataset": str(dataset.pk), "initial_cash": "5000", "fee_bps": "7.5"},
        format="json",
    )

    assert response.status_code == 202, response.content
    body = response.json()
    replay = BotReplay.objects.get(pk=body["id"])
    assert body["status"] == "queued"
    assert body["progress"] == 0
    assert body["bot"] == str(bot.pk)
    assert body["dataset"] == str(dataset.pk)
    assert body["strategy_version"] == str(bot.strategy_version_id)
    assert body["strategy"]["symbol"] == "BTC/USDT"
    assert (body["initial_cash"], body["fee_bps"]) == ("5000", "7.5")
    assert body["slippage_bps"] == str(bot.slippage_bps)  # the bot's execution slippage
    assert body["metrics"] is None
    assert body["run"] is None
    assert (
        replay.inputs_sha256
        == body["inputs_sha256"]
        == lab.inputs_sha256(
            strategy_body_sha256=bot.strategy_version.body_sha256,
            dataset_sha256=dataset.sha256,
            timeframe="1m",
            amount_step=dataset.amount_step,
            initial_cash=Decimal("5000"),
            fee_bps=Decimal("7.5"),
            slippage_bps=Decimal(bot.slippage_bps),
        )
    )
    assert sent == [{"replay_id": str(replay.pk)}]
    audit = AuditEvent.objects.get(action="bot.replay")
    assert audit.target_id == str(replay.pk)
    assert audit.details["dataset_id"] == str(dataset.pk)
    assert audit.details["inputs_sha256"] == replay.inputs_sha256
    # Nothing ran yet, and nothing else changed: no run exists before a worker claims it.
    assert not BotRun.objects.filter(bot=bot).exists()


def test_the_defaults_are_the_backtests(trader_api, bot, dataset, sent):
    body = trader_api.post(replays_url(bot), {"dataset": str(dataset.pk)}, format="json").json()
    assert (body["initial_cash"], body["fee_bps"]) == ("10000", "10")


def test_a_finished_replay_reads_with_metrics_and_trades_like_a_backtest(
    viewer_api, workspace, bot, dataset, sent
):
    replay = replays.create_replay(
        bot=bot, actor=None, dataset=dataset, initial_cash=Decimal(10000), fee_bps=Decimal(10)
    )
    replays.run_replay(replay_id=replay.pk)

    body = viewer_api.get(f"{REPLAYS}/{replay.pk}").json()
    assert body["status"] == "succeeded", body["error"]
    assert body["progress"] == 100
    assert set(body["metrics"]) == {
        "net_pnl",
        "net_pnl_pct",
        "win_rate",
        "max_drawdown_pct",
        "trades",
        "profit_factor",
        "sharpe",
        "exposure_pct",
    }
    run = BotRun.objects.get(replay=replay)
    assert body["run"] == str(run.pk)
    trades = viewer_api.get(f"{REPLAYS}/{replay.pk}/trades?page_size=1").json()
    assert trades["count"] == body["metrics"]["trades"] == ReplayTrade.objects.count() > 0
    [first] = trades["results"]
    assert set(first) == {
        "seq",
        "entry_time",
        "exit_time",
        "entry_price",
        "exit_price",
        "amount",
        "fees",
        "pnl",
        "pnl_pct",
        "exit_reason",
    }
    assert first["seq"] == 1
    listed = viewer_api.get(replays_url(bot)).json()
    assert [item["id"] for item in listed["results"]] == [str(replay.pk)]


def test_a_viewer_cannot_start_a_replay(viewer_api, bot, dataset, sent):
    response = viewer_api.post(replays_url(bot), {"dataset": str(dataset.pk)}, format="json")
    assert_problem(response, 403, "role-required")
    assert not BotReplay.objects.exists()
    assert sent == []


def test_another_workspaces_bot_or_replay_is_404(
    trader_api, other_workspace, other_bot, dataset, sent
):
    assert_problem(
        trader_api.post(replays_url(other_bot), {"dataset": str(dataset.pk)}, format="json"),
        404,
        "not-found",
    )
    theirs = BotReplayFactory(workspace=other_workspace)
    assert_problem(trader_api.get(f"{REPLAYS}/{theirs.pk}"), 404, "not-found")
    assert_problem(trader_api.get(f"{REPLAYS}/{theirs.pk}/trades"), 404, "not-found")
    assert BotReplay.objects.count() == 1


def test_another_workspaces_dataset_is_404_at_its_pointer(trader_api, bot, other_workspace, sent):
    theirs = DatasetFactory(workspace=other_workspace)
    response = trader_api.post(replays_url(bot), {"dataset": str(theirs.pk)}, format="json")
    body = assert_problem(response, 404, "not-found")
    assert [error["pointer"] for error in body["errors"]] == ["/dataset"]
    assert not BotReplay.objects.exists()


def test_a_dataset_of_another_symbol_or_timeframe_is_400_at_dataset(
    trader_api, workspace, bot, sent
):
    eth = demo_dataset(workspace, symbol="ETH/USDT")
    quarter = demo_dataset(workspace, timeframe="15m", candles=40)
    for dataset, words in ((eth, "ETH/USDT 1m"), (quarter, "BTC/USDT 15m")):
        response = trader_api.post(replays_url(bot), {"dataset": str(dataset.pk)}, format="json")
        body = assert_problem(response, 400, "validation-error")
        assert [error["pointer"] for error in body["errors"]] == ["/dataset"]
        assert words in body["errors"][0]["detail"]
    assert not BotReplay.objects.exists()
    assert sent == []


def _row(workspace, **fields) -> Dataset:
    start = fields.pop("start", START)
    rows = fields.pop("rows", 100)
    periods = fields.pop("periods", rows)
    return DatasetFactory(
        workspace=workspace,
        start_ts=start,
        end_ts=start + timedelta(minutes=periods),
        rows=rows,
        sha256="f" * 64,
        **fields,
    )


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"status": Dataset.Status.IMPORTING}, "importing"),
        ({"start": START + timedelta(seconds=30)}, "grid"),
        ({"rows": 90, "periods": 100}, "gaps"),
        ({"rows": 0}, "no candles"),
    ],
    ids=["not-ready", "off-the-grid", "gaps", "empty"],
)
def test_a_dataset_the_tick_cannot_walk_is_400_at_dataset(
    trader_api, workspace, bot, sent, fields, words
):
    dataset = _row(workspace, **fields)
    response = trader_api.post(replays_url(bot), {"dataset": str(dataset.pk)}, format="json")
    body = assert_problem(response, 400, "validation-error")
    assert body["errors"][0]["pointer"] == "/dataset"
    assert words in body["errors"][0]["detail"]
    assert not BotReplay.objects.exists()


def test_a_dataset_longer_than_the_limit_is_400(trader_api, workspace, bot, sent, settings):
    settings.BOT_REPLAY_MAX_CANDLES = 99
    dataset = _row(workspace, rows=100)
    response = trader_api.post(replays_url(bot), {"dataset": str(dataset.pk)}, format="json")
    body = assert_problem(response, 400, "validation-error")
    assert body["errors"][0]["pointer"] == "/dataset"
    assert "at most 99" in body["errors"][0]["detail"]


@pytest.mark.parametrize(
    ("changes", "pointer"),
    [
        ({"initial_cash": "1e4"}, "/initial_cash"),
        ({"initial_cash": "0"}, "/initial_cash"),
        ({"initial_cash": 100.5}, "/initial_cash"),
        ({"fee_bps": "1001"}, "/fee_bps"),
        ({"fee_bps": "-1"}, "/fee_bps"),
        ({"fee_bps": "0.12345"}, "/fee_bps"),
        ({"dataset": "not-a-uuid"}, "/dataset"),
    ],
)
def test_bad_inputs_are_400_with_their_pointer(trader_api, bot, dataset, sent, changes, pointer):
    body = {"dataset": str(dataset.pk), **changes}
    problem = assert_problem(
        trader_api.post(replays_url(bot), body, format="json"), 400, "validation-error"
    )
    assert [error["pointer"] for error in problem["errors"]] == [pointer]
    assert not BotReplay.objects.exists()


def test_a_missing_dataset_is_400(trader_api, bot, sent):
    problem = assert_problem(
        trader_api.post(replays_url(bot), {}, format="json"), 400, "validation-error"
    )
    assert [error["pointer"] for error in problem["errors"]] == ["/dataset"]


def test_on_hold_a_replay_is_refused_with_423(trader_api, workspace, bot, dataset, sent):
    Workspace.objects.filter(pk=workspace.pk).update(on_hold=True)
    response = trader_api.post(replays_url(bot), {"dataset": str(dataset.pk)}, format="json")
    assert_problem(response, 423, "workspace-on-hold")
    assert not BotReplay.objects.exists()


def test_starting_replays_is_rate_limited_per_client(trader_api, bot, dataset, sent, settings):
    settings.RATE_LIMIT_BACKTEST = "2/m"
    for _ in range(2):
        response = trader_api.post(replays_url(bot), {"dataset": str(dataset.pk)}, format="json")
        assert response.status_code == 202
    response = trader_api.post(replays_url(bot), {"dataset": str(dataset.pk)}, format="json")
    assert_problem(response, 429, "rate-limited")
    assert BotReplay.objects.count() == 2


def test_the_replay_task_goes_to_the_lab_queue():
    """A replay is minutes of research work: it must never wait in (or hold) the ticks queue."""
    from config.celery import app

    assert app.amqp.router.route({}, "bots.run_replay")["queue"].name == "lab"
    assert app.amqp.router.route({}, "bots.tick_runs")["queue"].name == "ticks"


@pytest.mark.django_db(transaction=True)
def test_a_lab_worker_runs_the_replay_to_its_result(celery_worker_process, workspace, bot):
    trader_api = _api(workspace, Role.TRADER)
    dataset = demo_dataset(workspace, candles=90)
    response = trader_api.post(replays_url(bot), {"dataset": str(dataset.pk)}, format="json")
    assert response.status_code == 202
    url = f"{REPLAYS}/{response.json()['id']}"
    wait_until(
        lambda: trader_api.get(url).json()["status"] in ("succeeded", "failed"),
        timeout=120,
        message="the replay did not finish on the lab worker",
    )
    body = trader_api.get(url).json()
    assert body["status"] == "succeeded", body["error"]
    assert body["metrics"]["trades"] == ReplayTrade.objects.filter(replay_id=body["id"]).count()
    assert BotRun.objects.get(replay_id=body["id"]).state == BotRun.State.STOPPED


def _api(workspace, role):
    from tests.conftest import token_client

    return token_client(_member(workspace, role), workspace)
