"""A bot's replay in a real browser against the real server and a real lab worker: the form
points at a bad field, then the replay runs and its metrics and trades appear on the page
without a reload, the same as the lab backtest of the same inputs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from bots.models import BotReplay, ReplayTrade
from lab import services as lab
from lab import tasks as lab_tasks
from lab.models import Backtest
from tests.bots.factories import BotFactory
from tests.conftest import _member
from tests.e2e.test_bots import (  # noqa: F401  (fixtures)
    REFUSED_REQUEST,
    WORKER_WAIT_MS,
    demo_connection,
    errors,
    server,
)
from tests.factories import StrategyFactory, StrategyVersionFactory
from tests.helpers import log_in
from workspaces.models import Role

pytestmark = [
    pytest.mark.browser,
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
]

START = datetime(2025, 3, 1, tzinfo=UTC)


def test_a_replay_started_on_the_bots_page_shows_the_backtests_result(
    server,  # noqa: F811
    celery_worker_process,
    page,
    errors,  # noqa: F811
    workspace,
    demo_connection,  # noqa: F811
    monkeypatch,
):
    trader = _member(workspace, Role.TRADER)
    strategy = StrategyFactory(workspace=workspace, name="SMA cross", created_by=trader)
    version = StrategyVersionFactory(strategy=strategy)  # the SMA crossover, BTC/USDT 1m
    bot = BotFactory(
        workspace=workspace,
        name="Replayed",
        strategy_version=version,
        exchange_connection=demo_connection,
        slippage_bps=0,
        created_by=trader,
    )
    dataset = lab.create_demo_dataset(
        workspace=workspace,
        actor=trader,
        name="Two hours of BTC",
        symbol="BTC/USDT",
        timeframe="1m",
        start=START,
        end=START + timedelta(hours=2),
    )
    log_in(page, server, trader.username)
    page.goto(f"{server.url}/bots/{bot.pk}")
    page.locator("#replay-state .empty").wait_for()  # no replay yet
    assert page.input_value("#replay-dataset") == str(dataset.pk)
    page.evaluate("window.sameDocument = true")

    page.fill("#replay-fee", "1e1")
    page.click("#replay-submit")
    page.locator("#replay-fee ~ .field-error").wait_for()
    assert not BotReplay.objects.exists()

    page.fill("#replay-fee", "10")
    page.fill("#replay-cash", "5000")
    page.click("#replay-submit")

    page.locator("#replay-status.succeeded").wait_for(timeout=WORKER_WAIT_MS)
    assert page.inner_text("#replay-status") == "Готово"  # Russian, the default
    replay = BotReplay.objects.get(bot=bot)
    trades = ReplayTrade.objects.filter(replay=replay).count()
    assert trades > 0
    page.locator("#replay-trades tbody tr").nth(trades - 1).wait_for()
    assert page.locator("#replay-trades tbody tr").count() == trades
    cards = {
        card.get_attribute("data-replay-metric"): card.locator(".value").inner_text()
        for card in page.locator("[data-replay-metric]").all()
    }
    assert cards["trades"] == str(trades)

    # The lab's backtest of the same inputs reports the same (run here, not on the worker).
    monkeypatch.setattr(lab_tasks.run_backtest_task, "delay_on_commit", lambda **kwargs: None)
    backtest = lab.create_backtest(
        workspace=workspace,
        actor=trader,
        strategy_version=version,
        dataset=dataset,
        initial_cash=Decimal(5000),
        fee_bps=Decimal(10),
        slippage_bps=Decimal(0),
    )
    backtest = lab.run_backtest(backtest_id=str(backtest.pk))
    assert backtest.status == Backtest.Status.SUCCEEDED
    assert replay.metrics == backtest.metrics
    assert page.evaluate("window.sameDocument") is True
    assert [error for error in errors if REFUSED_REQUEST not in error] == []  # the 400 only
