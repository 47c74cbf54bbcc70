"""Bots fixtures: versions and connections in both workspaces, bot bodies, runs in any state."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bots.models import Bot, BotRun
from exchanges.models import ExchangeConnection
from strategies.dsl import examples
from strategies.models import StrategyVersion
from tests.bots.factories import BotFactory, BotRunFactory
from tests.conftest import _member
from tests.factories import StrategyFactory, StrategyVersionFactory
from workspaces.models import Role

BOTS = "/api/v1/bots"
RUNS = "/api/v1/runs"


@pytest.fixture
def trader(workspace):
    return _member(workspace, Role.TRADER)


def make_version(workspace, body: dict | None = None, *, name: str = "SMA cross", number=1):
    strategy = StrategyFactory(workspace=workspace, name=name, created_by=workspace.created_by)
    return StrategyVersionFactory(
        strategy=strategy, number=number, body=body or examples()["sma_crossover"]
    )


@pytest.fixture
def version(workspace) -> StrategyVersion:
    """The SMA crossover example (BTC/USDT 1m, lookback 31) in workspace A."""
    return make_version(workspace)


@pytest.fixture
def demo_connection(workspace) -> ExchangeConnection:
    return ExchangeConnection.objects.create(
        workspace=workspace, name="Demo", exchange="demo", mode="demo"
    )


@pytest.fixture
def binance_connection(workspace) -> ExchangeConnection:
    """A binance testnet connection without credentials (market data is public)."""
    return ExchangeConnection.objects.create(
        workspace=workspace, name="Binance testnet", exchange="binance", mode="testnet"
    )


def bot_body(version, connection, **changes) -> dict:
    """A valid create body; `changes` replace top-level keys, `risk__x`/`execution__x` nested."""
    body = {
        "name": "BTC trend",
        "strategy_version": str(version.pk),
        "exchange_connection": str(connection.pk),
        "risk": {
            "max_position_quote": "1000",
            "max_daily_loss_pct": "5",
            "max_orders_per_minute": 10,
        },
        "execution": {"order_type": "market", "slippage_bps": 10, "mode": "demo"},
    }
    for key, value in changes.items():
        group, _, name = key.partition("__")
        if name:
            body[group][name] = value
        else:
            body[key] = value
    return body


@pytest.fixture
def bot(workspace, version, demo_connection) -> Bot:
    return BotFactory(
        workspace=workspace,
        name="BTC trend",
        strategy_version=version,
        exchange_connection=demo_connection,
        created_by=_member(workspace, Role.TRADER),
    )


@pytest.fixture
def other_bot(other_workspace) -> Bot:
    return BotFactory(workspace=other_workspace, name="Theirs")


@pytest.fixture
def make_run() -> Callable[..., BotRun]:
    """A run written directly in any state (no task): `make_run(bot, state=…)`."""

    def make(bot: Bot, **fields) -> BotRun:
        return BotRunFactory(workspace=bot.workspace, bot=bot, **fields)

    return make
