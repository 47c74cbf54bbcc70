"""Backtest/live parity: a replay of a bot (the live tick, candle by candle) gives exactly the
lab backtest's trades and metrics, for every example strategy (SPEC §8, issue item 7).

Each example runs as written; two also run with all three percentage exits competing
(stop-loss, trailing stop and take-profit, with slippage and a fractional fee), and one more
case has little cash and a coarse amount step, so an entry is rejected. Between them every exit
reason, a rejection and a position still open at the end occur (the last test checks it).
Both sides get the same dataset (the demo feed's candles, stored through the lab), version,
initial cash, fee and slippage (the bot's execution slippage): the backtest through
`lab.services.run_backtest`, the replay through `bots.replays.run_replay`. Every field of every
trade is compared, and the metrics, the final equity, the rejected orders and the open
position.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from bots import replays
from bots.models import BotReplay, BotRun, OrderIntent, ReplayTrade
from exchanges.timeframes import TIMEFRAME_MS
from lab import services as lab
from lab.models import TRADE_FIELDS, Backtest, BacktestTrade, Dataset
from strategies.dsl import examples
from strategies.engine import compile_strategy
from terminal.models import Order
from tests.bots.conftest import make_version
from tests.bots.factories import BotFactory
from tests.conftest import _member
from workspaces.models import Role

pytestmark = pytest.mark.django_db

START = datetime(2025, 1, 1, tzinfo=UTC)  # a fixed past range of the demo feed
ALL_EXITS = {"stop_loss_pct": 1.5, "trailing_stop_pct": 1.0, "take_profit_pct": 2.5}

# (example, scenario, offset, candles): the dataset starts `offset` * 200 candles after START
# and holds the example's warm-up plus `candles`, a window where it trades several times (the
# demo feed is deterministic). Every candle after the warm-up is a tick of a few queries, so
# the windows are as short as still proves something.
CASES = [
    ("atr_trailing_stop", "as_written", 18, 200),
    ("bollinger_breakout", "as_written", 5, 200),
    ("macd_trend", "as_written", 39, 200),
    ("rsi_mean_reversion", "as_written", 51, 250),
    ("sma_crossover", "as_written", 5, 200),
    ("atr_trailing_stop", "all_exits", 18, 200),
    ("macd_trend", "all_exits", 39, 200),
    ("bollinger_breakout", "tight_cash", 16, 200),
]
PARAMS = {
    "as_written": {"initial_cash": "10000", "fee_bps": "10", "slippage_bps": 0},
    "all_exits": {"initial_cash": "10000", "fee_bps": "7.5", "slippage_bps": 3},
    "tight_cash": {"initial_cash": "120", "fee_bps": "10", "slippage_bps": 5, "step": "0.2"},
}
IDS = [f"{name}/{scenario}" for name, scenario, _, _ in CASES]


def _body(name: str, scenario: str) -> dict:
    body = examples()[name]
    if scenario == "all_exits":
        body["exit"] = {**body["exit"], **ALL_EXITS}
    return body


def _dataset(workspace, owner, body: dict, params: dict, *, offset: int, candles: int) -> Dataset:
    plan = compile_strategy(body)
    span = timedelta(milliseconds=TIMEFRAME_MS[plan.timeframe])
    start = START + span * 200 * offset
    dataset = lab.create_demo_dataset(
        workspace=workspace,
        actor=owner,
        name=f"{plan.symbol} {plan.timeframe} from {start:%Y-%m-%d %H:%M} ({uuid.uuid4().hex[:6]})",
        symbol=plan.symbol,
        timeframe=plan.timeframe,
        start=start,
        end=start + span * (plan.warmup + candles),
    )
    if "step" in params:  # a coarse lot: a small account cannot always buy one
        Dataset.objects.filter(pk=dataset.pk).update(amount_step=Decimal(params["step"]))
        dataset.refresh_from_db()
    return dataset


def _backtest(workspace, owner, version, dataset, params: dict) -> Backtest:
    backtest = lab.create_backtest(
        workspace=workspace,
        actor=owner,
        strategy_version=version,
        dataset=dataset,
        initial_cash=Decimal(params["initial_cash"]),
        fee_bps=Decimal(params["fee_bps"]),
        slippage_bps=Decimal(params["slippage_bps"]),
    )
    backtest = lab.run_backtest(backtest_id=str(backtest.pk))
    assert backtest.status == Backtest.Status.SUCCEEDED, backtest.error
    return backtest


def _trades(queryset) -> list[tuple]:
    return [tuple(getattr(trade, name) for name in TRADE_FIELDS) for trade in queryset]


@pytest.mark.parametrize(("name", "scenario", "offset", "candles"), CASES, ids=IDS)
def test_a_replay_gives_exactly_the_backtests_trades_and_metrics(
    workspace, name, scenario, offset, candles
):
    owner = _member(workspace, Role.OWNER)
    params = PARAMS[scenario]
    body = _body(name, scenario)
    version = make_version(workspace, body, name=name)
    dataset = _dataset(workspace, owner, body, params, offset=offset, candles=candles)
    backtest = _backtest(workspace, owner, version, dataset, params)

    bot = BotFactory(
        workspace=workspace,
        strategy_version=version,
        slippage_bps=params["slippage_bps"],
        max_position_quote=Decimal("100"),  # a live cap; a replay models the lab, uncapped
        created_by=owner,
    )
    replay = replays.create_replay(
        bot=bot,
        actor=owner,
        dataset=dataset,
        initial_cash=Decimal(params["initial_cash"]),
        fee_bps=Decimal(params["fee_bps"]),
    )
    replay = replays.run_replay(replay_id=replay.pk)
    assert replay.status == BotReplay.Status.SUCCEEDED, replay.error

    expected = _trades(BacktestTrade.objects.filter(backtest=backtest).order_by("seq"))
    actual = _trades(ReplayTrade.objects.filter(replay=replay).order_by("seq"))
    assert len(expected) >= 2, "the case must trade to prove anything"
    assert actual == expected
    assert replay.metrics == backtest.metrics
    assert replay.final_equity == backtest.final_equity
    assert replay.rejected_orders == backtest.rejected_orders
    assert replay.open_position == backtest.open_position
    assert replay.inputs_sha256 == backtest.inputs_sha256

    # It really was the tick: one order per fill, journaled with the run, all filled.
    run = BotRun.objects.get(replay=replay)
    assert run.state == BotRun.State.STOPPED
    orders = Order.objects.filter(bot_run=run)
    fills = 2 * len(expected) + (1 if replay.open_position else 0)
    assert orders.count() == fills
    assert set(orders.values_list("status", flat=True)) == {Order.Status.CLOSED}
    assert OrderIntent.objects.filter(run=run, status=OrderIntent.Status.FILLED).count() == fills


def test_the_cases_cover_every_exit_reason_rejections_and_an_open_position(workspace):
    """The parity cases exercise every fill path of the model (read off their backtests)."""
    owner = _member(workspace, Role.OWNER)
    reasons, rejected, still_open = set(), 0, 0
    for name, scenario, offset, candles in CASES:
        params = PARAMS[scenario]
        body = _body(name, scenario)
        version = make_version(workspace, body, name=f"{name} {scenario}")
        dataset = _dataset(workspace, owner, body, params, offset=offset, candles=candles)
        backtest = _backtest(workspace, owner, version, dataset, params)
        reasons |= set(backtest.trades.values_list("exit_reason", flat=True))
        rejected += backtest.rejected_orders
        still_open += backtest.open_position is not None
    assert reasons == {"signal", "stop_loss", "trailing_stop", "take_profit"}
    assert rejected > 0
    assert still_open > 0
