"""What the tick runtime's tests share: strategies, running runs, a runtime on a set clock."""

from __future__ import annotations

import itertools
from decimal import Decimal

from bots.models import Bot, BotRun
from bots.runtime import ManualClock, Runtime, latest_closed_ts
from bots.runtime.candles import GatewayCandles
from bots.runtime.venue import GatewayVenue
from exchanges.demo.venue import DemoGateway
from exchanges.models import ExchangeConnection
from strategies.engine import compile_strategy
from tests.bots.conftest import make_version
from tests.bots.factories import BotFactory, BotRunFactory

MINUTE = 60_000
# 2026-01-05 12:00:30 UTC: half a minute into a candle, long closed (the feed is the same
# every time for the same minute).
T0 = 1_767_614_430_000
_NAMES = itertools.count(1)


def first_candle_buy_body(symbol: str = "BTC/USDT", timeframe: str = "1m", **exit_rules) -> dict:
    """A strategy whose entry holds on every candle (close > 0): flat, it buys at once."""
    return {
        "dsl_version": 1,
        "symbol": symbol,
        "timeframe": timeframe,
        "indicators": [],
        "entry": {"gt": [{"price": "close"}, 0]},
        "exit": exit_rules or {"stop_loss_pct": 50},
        "sizing": {"type": "percent_equity", "value": 100},
    }


def buy_then_sell_body() -> dict:
    """Entry and exit on every candle: buys flat, sells the next candle, buys again …"""
    body = first_candle_buy_body()
    body["exit"] = {"signal": {"gt": [{"price": "close"}, 0]}}
    return body


def make_bot(workspace, connection: ExchangeConnection, body: dict | None = None, **fields) -> Bot:
    name = fields.pop("strategy_name", None) or f"First buy {next(_NAMES)}"
    version = make_version(workspace, body or first_candle_buy_body(), name=name)
    return BotFactory(
        workspace=workspace,
        strategy_version=version,
        exchange_connection=connection,
        **{"max_position_quote": Decimal("1000"), **fields},
    )


def running_run(bot: Bot, *, now_ms: int, history: int = 30, **fields) -> BotRun:
    """A RUNNING run of `bot` as `launch_run` leaves it at `now_ms` minus one candle: the
    newest closed candle at `now_ms` is due."""
    plan = compile_strategy(bot.strategy_version.body)
    span = {"1m": MINUTE, "5m": 5 * MINUTE, "15m": 15 * MINUTE}[plan.timeframe]
    last = latest_closed_ts(now_ms, plan.timeframe) - span
    values = {
        "state": BotRun.State.RUNNING,
        "symbol": plan.symbol,
        "timeframe": plan.timeframe,
        "first_candle_ts": last - (max(plan.lookback, history) - 1) * span,
        "last_candle_ts": last,
        **fields,
    }
    return BotRunFactory(workspace=bot.workspace, bot=bot, **values)


class DemoRuntime(Runtime):
    """The live runtime of a demo connection on a clock the test sets."""

    def __init__(self, connection: ExchangeConnection, now_ms: int = T0) -> None:
        clock = ManualClock(now_ms)
        gateway = DemoGateway(connection, clock=clock.now_ms)
        super().__init__(
            clock=clock,
            candles=GatewayCandles(gateway, venue_key="demo"),
            venue=GatewayVenue(gateway),
        )

    def advance(self, ms: int = MINUTE) -> None:
        self.clock.advance(ms)
