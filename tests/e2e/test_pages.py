"""Every page in a real browser: its scripts load and run without an error."""

from __future__ import annotations

import pytest

from exchanges.timeframes import TIMEFRAME_MS
from strategies import services as strategy_services
from strategies.dsl import examples
from tests.conftest import _member
from tests.factories import BacktestFactory, ExchangeConnectionFactory
from tests.helpers import log_in
from workspaces.models import Role

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_every_page_runs_its_scripts_without_an_error(live_server, page, workspace):
    trader = _member(workspace, Role.TRADER)
    ExchangeConnectionFactory(workspace=workspace, name="Demo account")
    strategy = strategy_services.create_strategy(
        workspace=workspace, actor=trader, name="Trend", body=examples()["sma_crossover"]
    )
    backtest = BacktestFactory(workspace=workspace)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(f"{page.url}: {error}"))
    page.on(
        "console",
        lambda message: message.type == "error" and errors.append(f"{page.url}: {message.text}"),
    )
    log_in(page, live_server, trader.username)

    # The element each page's script fills in once it has run.
    for path, filled in (
        ("/", "main"),
        ("/connections", "#connections-table tr[data-id]"),
        ("/terminal", "#ticker-state.muted"),
        ("/strategies", f'#strategies-table tr[data-strategy-id="{strategy.pk}"]'),
        ("/strategies/new", "#gutter-lines div"),
        (f"/strategies/{strategy.pk}", '#versions-table tr[data-number="1"]'),
        ("/lab", "#backtests-table tr[data-id]"),
        (f"/lab/backtests/{backtest.pk}", "#inputs-hash:not(:empty)"),
    ):
        page.goto(f"{live_server.url}{path}")
        page.wait_for_selector(filled)
        # One list of timeframes, from the server, on every page.
        assert page.evaluate("BM.config.timeframes") == TIMEFRAME_MS, path
        assert page.evaluate("typeof BM.time") == "function", path
    assert errors == []
