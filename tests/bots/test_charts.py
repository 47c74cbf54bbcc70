"""GET /bots/{id}/chart and /runs/{id}/chart: candles, the engine's indicators, a run's fills."""

from __future__ import annotations

import itertools
import time
from decimal import Decimal

import numpy as np
import pytest

from bots.models import BotRun, RunEquityPoint, RunEvent
from exchanges.factory import gateway_for
from exchanges.timeframes import TIMEFRAME_MS
from strategies.dsl import examples
from strategies.engine import compile_strategy
from strategies.engine import indicators as kernels
from tests.bots.conftest import BOTS, RUNS, make_version
from tests.bots.factories import BotFactory, RunEventFactory
from tests.conftest import assert_problem

pytestmark = pytest.mark.django_db


def closes(connection, symbol: str, timeframe: str, count: int) -> np.ndarray:
    """The closes of the latest `count` closed candles, straight from the venue."""
    span = TIMEFRAME_MS[timeframe]
    forming = int(time.time() * 1000) // span * span
    with gateway_for(connection) as gateway:
        rows = gateway.fetch_ohlcv(symbol, timeframe, since=forming - count * span, limit=1000)
    return np.array([float(row[4]) for row in rows if int(row[0]) < forming][-count:])


def test_a_bots_chart_has_closed_candles_and_the_strategys_smas(trader_api, bot, demo_connection):
    response = trader_api.get(f"{BOTS}/{bot.pk}/chart?limit=50")

    assert response.status_code == 200, response.content
    chart = response.json()
    assert (chart["symbol"], chart["timeframe"]) == ("BTC/USDT", "1m")
    candles = chart["candles"]
    assert len(candles) == 50
    forming = int(time.time() * 1000) // 60_000 * 60_000
    assert candles[-1]["ts"] < forming  # closed candles only
    assert all(b["ts"] - a["ts"] == 60_000 for a, b in itertools.pairwise(candles))
    assert set(candles[0]) == {"ts", "open", "high", "low", "close", "volume"}
    assert isinstance(candles[0]["close"], str)
    assert chart["markers"] == []

    by_key = {item["key"]: item for item in chart["indicators"]}
    assert set(by_key) == {"fast", "slow"}
    body = bot.strategy_version.body
    lookback = compile_strategy(body).lookback
    history = closes(demo_connection, "BTC/USDT", "1m", 50 + lookback)
    for item in body["indicators"]:
        drawn = by_key[item["name"]]
        assert (drawn["type"], drawn["pane"], drawn["output"]) == ("sma", "price", None)
        expected = kernels.sma(history, item["period"])[-50:]
        assert drawn["values"] == expected.tolist()  # the engine's own kernel, bit for bit
    assert [float(c["close"]) for c in candles] == history[-50:].tolist()


def test_indicators_of_other_scales_get_panes_of_their_own(trader_api, workspace):
    cases = {
        "bollinger_breakout": {
            "bb.upper": "price",
            "bb.middle": "price",
            "bb.lower": "price",
            "avg_volume": "avg_volume",  # an average of volume is not a price
        },
        "atr_trailing_stop": {"ema20": "price", "atr": "atr", "atr_avg": "atr"},
        "rsi_mean_reversion": {"rsi": "rsi", "trend": "price"},
    }
    for number, (name, panes) in enumerate(cases.items(), start=1):
        version = make_version(workspace, examples()[name], name=name)
        bot = BotFactory(workspace=workspace, strategy_version=version, name=f"bot {number}")
        response = trader_api.get(f"{BOTS}/{bot.pk}/chart?limit=20")
        assert response.status_code == 200, response.content
        indicators = response.json()["indicators"]
        assert {item["key"]: item["pane"] for item in indicators} == panes, name
        assert all(len(item["values"]) == 20 for item in indicators)
        # Warmed up on the lookback: no gaps in what is shown.
        assert all(v is not None for item in indicators for v in item["values"]), name


def test_a_runs_chart_marks_its_fills_on_the_candles_shown(trader_api, bot, make_run):
    run = make_run(bot, state=BotRun.State.RUNNING)
    span = 60_000
    forming = int(time.time() * 1000) // span * span
    entry_ts, exit_ts = forming - 10 * span, forming - 4 * span
    RunEventFactory(run=run, seq=1, kind=RunEvent.Kind.TRANSITION, to_state="QUEUED")
    fill = {"client_order_id": "bm1", "amount": "0.001", "notional": 95.0, "fee": 0.1}
    RunEventFactory(
        run=run,
        seq=2,
        kind=RunEvent.Kind.FILL,
        data={**fill, "intent": "entry", "side": "buy", "ts": entry_ts, "price": 95000.5},
    )
    RunEventFactory(
        run=run,
        seq=3,
        kind=RunEvent.Kind.FILL,
        data={
            **fill,
            "intent": "exit",
            "side": "sell",
            "ts": exit_ts,
            "price": 95100.25,
            "trade": {"exit_reason": "take_profit", "pnl": "0.1"},
        },
    )
    # A fill before the candles shown is not marked.
    RunEventFactory(
        run=run,
        seq=4,
        kind=RunEvent.Kind.FILL,
        data={**fill, "intent": "entry", "side": "buy", "ts": forming - 500 * span, "price": 1.0},
    )

    response = trader_api.get(f"{RUNS}/{run.pk}/chart?limit=30")

    assert response.status_code == 200, response.content
    assert response.json()["markers"] == [
        {"ts": entry_ts, "side": "buy", "price": 95000.5, "amount": "0.001", "reason": "entry",
         "seq": 2},
        {"ts": exit_ts, "side": "sell", "price": 95100.25, "amount": "0.001",
         "reason": "take_profit", "seq": 3},
    ]  # fmt: skip


def test_the_chart_uses_the_runs_version_not_the_bots_current_one(
    trader_api, workspace, bot, make_run
):
    run = make_run(bot, state=BotRun.State.STOPPED)
    bot.strategy_version = make_version(workspace, examples()["rsi_mean_reversion"], name="RSI")
    bot.save(update_fields=["strategy_version"])

    run_chart = trader_api.get(f"{RUNS}/{run.pk}/chart?limit=5").json()
    bot_chart = trader_api.get(f"{BOTS}/{bot.pk}/chart?limit=5").json()

    assert (run_chart["symbol"], [i["key"] for i in run_chart["indicators"]]) == (
        "BTC/USDT",
        ["fast", "slow"],
    )
    assert (bot_chart["symbol"], bot_chart["timeframe"]) == ("ETH/USDT", "15m")


@pytest.mark.parametrize("limit", ["0", "1001", "many"])
def test_a_bad_limit_is_400_at_its_pointer(trader_api, bot, limit):
    body = assert_problem(trader_api.get(f"{BOTS}/{bot.pk}/chart?limit={limit}"), 400)
    assert body["errors"][0]["pointer"] == "/limit"


def test_charts_are_scoped_to_the_workspace(
    trader_api, viewer_api, outsider_api, bot, other_bot, make_run
):
    other_run = make_run(other_bot, state=BotRun.State.RUNNING)
    assert_problem(trader_api.get(f"{BOTS}/{other_bot.pk}/chart"), 404)
    assert_problem(trader_api.get(f"{RUNS}/{other_run.pk}/chart"), 404)
    assert_problem(outsider_api.get(f"{BOTS}/{bot.pk}/chart"), 403)
    assert viewer_api.get(f"{BOTS}/{bot.pk}/chart?limit=3").status_code == 200


def test_the_engine_gives_every_indicator_output_and_the_same_compared_series():
    body = examples()["bollinger_breakout"]
    plan = compile_strategy(body)
    rows = 300
    rng = np.random.default_rng(7)
    close = 100 + np.cumsum(rng.normal(0, 1, rows))
    candles = {
        "ts": np.arange(rows) * 60_000.0,
        "open": close,
        "high": close + 1,
        "low": close - 1,
        "close": close,
        "volume": rng.uniform(1, 5, rows),
    }

    series = plan.indicator_series(candles)

    assert set(series) == {"bb.upper", "bb.middle", "bb.lower", "avg_volume"}
    compared = plan.evaluate(candles).series
    for key, values in compared.items():
        if key in series:
            np.testing.assert_array_equal(np.round(series[key], 8), values)


def test_a_runs_equity_is_its_points_oldest_first(trader_api, bot, make_run, other_bot):
    run = make_run(bot, state=BotRun.State.RUNNING)
    for ts, equity in ((120_000, "10012.5"), (60_000, "10000"), (180_000, "9990.125")):
        RunEquityPoint.objects.create(
            run=run, ts=ts, equity=Decimal(equity), position=Decimal("0.1"), close=Decimal("95000")
        )

    response = trader_api.get(f"{RUNS}/{run.pk}/equity")

    assert response.status_code == 200
    assert response.json() == [
        {"ts": 60_000, "equity": "10000", "position": "0.1", "close": "95000"},
        {"ts": 120_000, "equity": "10012.5", "position": "0.1", "close": "95000"},
        {"ts": 180_000, "equity": "9990.125", "position": "0.1", "close": "95000"},
    ]
    other_run = make_run(other_bot, state=BotRun.State.RUNNING)
    assert_problem(trader_api.get(f"{RUNS}/{other_run.pk}/equity"), 404)
