"""factory-boy factories of bots, runs and run events (found by `tests.factories.factory_for`).

Related objects live in the bot's workspace: `BotFactory(workspace=ws)` makes its strategy
version and its demo connection in `ws`, `BotRunFactory(workspace=ws)` its bot.
"""

from __future__ import annotations

from decimal import Decimal

import factory
from factory.django import DjangoModelFactory

from bots.models import Bot, BotReplay, BotRun, RunEvent
from tests.factories import (
    DatasetFactory,
    ExchangeConnectionFactory,
    StrategyVersionFactory,
    WorkspaceFactory,
)


class BotFactory(DjangoModelFactory):
    """A demo-mode bot of the SMA crossover example (BTC/USDT 1m) on a demo connection."""

    class Meta:
        model = Bot

    workspace = factory.SubFactory(WorkspaceFactory)
    name = factory.Sequence(lambda n: f"Bot {n}")
    strategy_version = factory.SubFactory(
        StrategyVersionFactory, strategy__workspace=factory.SelfAttribute("...workspace")
    )
    exchange_connection = factory.SubFactory(
        ExchangeConnectionFactory, workspace=factory.SelfAttribute("..workspace")
    )
    max_position_quote = Decimal("1000")
    max_daily_loss_pct = Decimal("5")
    max_orders_per_minute = 10
    order_type = Bot.OrderType.MARKET
    slippage_bps = 10
    mode = Bot.Mode.DEMO
    created_by = factory.SelfAttribute("workspace.created_by")


class BotRunFactory(DjangoModelFactory):
    """A run of a bot of its own workspace, with the bot's settings as its snapshot.

    QUEUED unless `state` says otherwise; no task is sent (the row is written directly).
    """

    class Meta:
        model = BotRun

    workspace = factory.SubFactory(WorkspaceFactory)
    bot = factory.SubFactory(BotFactory, workspace=factory.SelfAttribute("..workspace"))
    strategy_version = factory.SelfAttribute("bot.strategy_version")
    exchange_connection = factory.SelfAttribute("bot.exchange_connection")
    risk = factory.LazyAttribute(lambda run: run.bot.risk())
    execution = factory.LazyAttribute(lambda run: run.bot.execution())
    close_on_stop = factory.SelfAttribute("bot.close_on_stop")
    state = BotRun.State.QUEUED
    created_by = factory.SelfAttribute("workspace.created_by")


class BotReplayFactory(DjangoModelFactory):
    """A queued replay of a bot of its own workspace over a dataset row of that workspace.

    The dataset has no candle file (DatasetFactory): for scoping and reading, not for running.
    """

    class Meta:
        model = BotReplay

    workspace = factory.SubFactory(WorkspaceFactory)
    bot = factory.SubFactory(BotFactory, workspace=factory.SelfAttribute("..workspace"))
    strategy_version = factory.SelfAttribute("bot.strategy_version")
    dataset = factory.SubFactory(DatasetFactory, workspace=factory.SelfAttribute("..workspace"))
    initial_cash = Decimal("10000")
    fee_bps = Decimal("10")
    slippage_bps = factory.LazyAttribute(lambda replay: Decimal(replay.bot.slippage_bps))
    inputs_sha256 = "0" * 64
    engine_version = "test"
    created_by = factory.SelfAttribute("workspace.created_by")


class RunEventFactory(DjangoModelFactory):
    class Meta:
        model = RunEvent

    run = factory.SubFactory(BotRunFactory)
    seq = factory.Sequence(lambda n: n + 1)
    kind = RunEvent.Kind.TRANSITION
    to_state = BotRun.State.QUEUED
