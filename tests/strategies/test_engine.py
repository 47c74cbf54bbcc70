"""The compiled engine: cross/tie/grid semantics, warm-up, and lab/bot equivalence."""

from __future__ import annotations

import numpy as np
import pytest

from strategies.dsl import InvalidBody, examples
from strategies.engine import Candles, compile_strategy
from strategies.engine import indicators as ind

EXAMPLE_WARMUPS = {
    # slow SMA defined at 29, crossed (needs t-1 too) → 30
    "sma_crossover": 30,
    # SMA(200) defined at 199 (RSI crossed needs 15)
    "rsi_mean_reversion": 199,
    # EMA(50) defined at 49 (MACD signal crossed needs 26-1 + 9-1 + 1 = 34)
    "macd_trend": 49,
    # bands defined at 19, crossed → 20
    "bollinger_breakout": 20,
    # SMA(50) of ATR(14): 14 + 49 = 63
    "atr_trailing_stop": 63,
}


def random_walk(rows: int, seed: int = 11) -> Candles:
    """Deterministic OHLCV random walk, 1-minute candles."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.cumprod(1.0 + rng.normal(0.0, 0.01, rows))
    open_ = np.concatenate(([100.0], close[:-1]))
    return Candles.of(
        {
            "ts": 1_700_000_000_000.0 + 60_000.0 * np.arange(rows),
            "open": open_,
            "high": np.maximum(open_, close) * (1.0 + rng.uniform(0, 0.004, rows)),
            "low": np.minimum(open_, close) * (1.0 - rng.uniform(0, 0.004, rows)),
            "close": close,
            "volume": rng.uniform(1.0, 100.0, rows),
        }
    )


def price_candles(close: list[float]) -> dict[str, np.ndarray]:
    c = np.asarray(close, dtype=float)
    return {
        "ts": 60_000.0 * np.arange(c.size),
        "open": c,
        "high": c,
        "low": c,
        "close": c,
        "volume": np.ones(c.size),
    }


def body_with(entry: dict, exit_signal: dict | None = None, indicators=None) -> dict:
    return {
        "dsl_version": 1,
        "symbol": "BTC/USDT",
        "timeframe": "1m",
        "indicators": indicators or [],
        "entry": entry,
        "exit": {"signal": exit_signal} if exit_signal else {"stop_loss_pct": 5},
        "sizing": {"type": "percent_equity", "value": 100},
    }


def entries(body: dict, close: list[float]) -> list[int]:
    return np.flatnonzero(compile_strategy(body).evaluate(price_candles(close)).entry).tolist()


CLOSE = {"price": "close"}


@pytest.mark.parametrize(
    ("close", "expected"),
    [
        ([9, 11], [1]),  # below → above
        ([9, 10, 11], []),  # below → tie → above: not a cross
        ([10, 11], []),  # tie → above: not a cross
        ([9, 10, 9, 11], [3]),  # the tie is neither side; the later below → above is
        ([11, 9, 11], [2]),
    ],
)
def test_crosses_above_semantics(close, expected):
    assert entries(body_with({"crosses_above": [CLOSE, 10]}), close) == expected


@pytest.mark.parametrize(
    ("close", "expected"),
    [([11, 9], [1]), ([11, 10, 9], []), ([9, 11, 9], [2])],
)
def test_crosses_below_semantics(close, expected):
    assert entries(body_with({"crosses_below": [CLOSE, 10]}), close) == expected


def test_values_are_compared_on_the_1e8_grid():
    # 10 + 1e-12 rounds to 10: a tie, so 9 → 10.000000000001 → 11 is not a cross.
    assert entries(body_with({"crosses_above": [CLOSE, 10]}), [9, 10 + 1e-12, 11]) == []
    # 10 + 4e-9 is 10 on the grid; 10 + 6e-9 is 10.00000001.
    close = [10 + 4e-9, 10 + 6e-9]
    assert entries(body_with({"gt": [CLOSE, 10]}), close) == [1]
    assert entries(body_with({"gte": [CLOSE, 10]}), close) == [0, 1]
    assert entries(body_with({"lte": [CLOSE, 10]}), close) == [0]
    assert entries(body_with({"lt": [CLOSE, 10.00000001]}), close) == [0]


def test_mathematically_equal_indicators_tie_despite_float_noise():
    # On a flat 0.1 series, SMA(3) and SMA(5) differ in the last bit (0.1+0.1+0.1 ≠ 0.3);
    # on the grid they are equal, so neither is above the other.
    indicators = [
        {"name": "a", "type": "sma", "period": 3},
        {"name": "b", "type": "sma", "period": 5},
    ]
    close = [0.1] * 20
    assert ind.sma(np.asarray(close), 3)[-1] != ind.sma(np.asarray(close), 5)[-1]
    a, b = {"ind": "a"}, {"ind": "b"}
    for op in ("gt", "lt"):
        assert entries(body_with({op: [a, b]}, indicators=indicators), close) == []
        assert entries(body_with({op: [b, a]}, indicators=indicators), close) == []
    assert entries(body_with({"gte": [a, b]}, indicators=indicators), close) == list(range(4, 20))


def test_all_any_not():
    close = [1, 2, 3, 4, 5]
    above2, below4 = {"gt": [CLOSE, 2]}, {"lt": [CLOSE, 4]}
    assert entries(body_with({"all": [above2, below4]}), close) == [2]
    assert entries(body_with({"any": [{"lt": [CLOSE, 2]}, {"gt": [CLOSE, 4]}]}), close) == [0, 4]
    assert entries(body_with({"not": above2}), close) == [0, 1]


def test_not_is_false_during_warm_up():
    # RSI(3) is undefined until index 3; "not rsi > 50" must not fire before then.
    indicators = [{"name": "r", "type": "rsi", "period": 3}]
    plan = compile_strategy(body_with({"not": {"gt": [{"ind": "r"}, 50]}}, indicators=indicators))
    signals = plan.evaluate(price_candles([5, 4, 3, 2, 1, 0.5]))
    assert plan.warmup == 3
    assert signals.entry.tolist() == [False, False, False, True, True, True]


@pytest.mark.parametrize(("name", "warmup"), sorted(EXAMPLE_WARMUPS.items()))
def test_example_warmups(name, warmup):
    plan = compile_strategy(examples()[name])
    assert plan.warmup == warmup
    assert plan.lookback > plan.warmup
    signals = plan.evaluate(random_walk(3000))
    assert not signals.entry[:warmup].any()
    assert not signals.exit[:warmup].any()


def test_warmup_is_the_first_index_a_signal_can_fire():
    # SMA 10/30 crossover on a V: the first candle with both SMAs and a previous value is 30.
    plan = compile_strategy(examples()["sma_crossover"])
    signals = plan.evaluate(random_walk(5000))
    assert plan.warmup == 30
    assert np.flatnonzero(signals.entry | signals.exit)[0] >= 30


def test_chained_indicator_is_computed_on_its_source_after_its_warm_up():
    plan = compile_strategy(examples()["atr_trailing_stop"])
    c = random_walk(400)
    atr = ind.atr(c.high, c.low, c.close, 14)
    expected = np.full(400, np.nan)
    expected[14:] = ind.sma(atr[14:], 50)
    signals = plan.evaluate(c)
    np.testing.assert_array_equal(signals.series["atr_avg"], np.round(expected, 8))
    assert [step.name for step in plan.steps] == ["ema20", "atr", "atr_avg"]


def test_typical_prices():
    c = random_walk(50)
    body = body_with({"gt": [{"price": "hlc3"}, {"price": "hl2"}]}, {"gt": [{"price": "ohlc4"}, 0]})
    series = compile_strategy(body).evaluate(c).series
    np.testing.assert_array_equal(series["hl2"], np.round((c.high + c.low) / 2, 8))
    np.testing.assert_array_equal(series["hlc3"], np.round((c.high + c.low + c.close) / 3, 8))
    expected = np.round((c.open + c.high + c.low + c.close) / 4, 8)
    np.testing.assert_array_equal(series["ohlc4"], expected)


@pytest.mark.parametrize("name", sorted(EXAMPLE_WARMUPS))
def test_evaluate_latest_equals_evaluate_on_every_window_end(name):
    plan = compile_strategy(examples()[name])
    c = random_walk(6000, seed=5)
    full = plan.evaluate(c)
    ends = [*range(1, 80), *range(190, 260), *range(997, 6001, 101), 6000]
    fired = 0
    for end in ends:
        # A bot's anchored history (prefix): equals the full backtest at that candle.
        latest = plan.evaluate_latest(c[:end])
        expected = (bool(full.entry[end - 1]), bool(full.exit[end - 1]))
        assert (latest.entry, latest.exit) == expected, end
        assert latest.ts == int(c.ts[end - 1])
        fired += latest.entry + latest.exit
        # Any window: equals the vectorised evaluation of the same candles at its last index.
        window = c[max(0, end - 777) : end]
        same = plan.evaluate(window)
        latest = plan.evaluate_latest(window)
        assert (latest.entry, latest.exit) == (bool(same.entry[-1]), bool(same.exit[-1])), end
    assert fired or name == "atr_trailing_stop"  # that one exits by stops only


@pytest.mark.parametrize("name", sorted(EXAMPLE_WARMUPS))
def test_windows_of_lookback_candles_reproduce_the_full_history_signals(name):
    # A bot that keeps only `lookback` candles agrees with a backtest that started long before:
    # recursive indicators have forgotten their seed far below the comparison grid.
    plan = compile_strategy(examples()[name])
    c = random_walk(4000, seed=9)
    full = plan.evaluate(c)
    for end in range(plan.lookback, 4001, 37):
        latest = plan.evaluate_latest(c[end - plan.lookback : end])
        assert (latest.entry, latest.exit) == (bool(full.entry[end - 1]), bool(full.exit[end - 1]))


def test_evaluate_latest_before_warm_up_is_false():
    plan = compile_strategy(examples()["sma_crossover"])
    c = random_walk(40)
    for end in range(1, 31):
        latest = plan.evaluate_latest(c[:end])
        assert (latest.entry, latest.exit) == (False, False)
    with pytest.raises(ValueError, match="at least one candle"):
        plan.evaluate_latest(c[:0])


def test_evaluation_is_deterministic():
    c = random_walk(3000)
    for body in examples().values():
        first = compile_strategy(body).evaluate(c)
        second = compile_strategy(body).evaluate(c)
        np.testing.assert_array_equal(first.entry, second.entry)
        np.testing.assert_array_equal(first.exit, second.exit)


def test_compile_rejects_invalid_bodies_with_all_errors():
    body = examples()["sma_crossover"]
    body["indicators"][0]["period"] = 0
    body["entry"] = {"gt": [{"ind": "nope"}, 1]}
    with pytest.raises(InvalidBody) as caught:
        compile_strategy(body)
    assert [e.pointer for e in caught.value.errors] == ["/entry/gt/0/ind", "/indicators/0/period"]


def test_plan_does_not_follow_later_changes_to_the_body():
    body = examples()["sma_crossover"]
    plan = compile_strategy(body)
    body["indicators"][0]["period"] = 3
    assert plan.body["indicators"][0]["period"] == 10
    assert plan.steps[0].params == (10,)


def test_plan_carries_sizing_and_exit_rules():
    plan = compile_strategy(examples()["rsi_mean_reversion"])
    assert (plan.symbol, plan.timeframe) == ("ETH/USDT", "15m")
    assert (plan.sizing.kind, plan.sizing.value) == ("percent_equity", 50.0)
    assert (plan.exits.stop_loss_pct, plan.exits.take_profit_pct) == (3.0, 6.0)
    assert plan.exits.trailing_stop_pct is None


def test_candles_are_checked():
    good = price_candles([1, 2, 3])
    with pytest.raises(ValueError, match="NaN"):
        Candles.of({**good, "close": np.array([1.0, np.nan, 3.0])})
    with pytest.raises(ValueError, match="increasing"):
        Candles.of({**good, "ts": np.array([0.0, 2.0, 1.0])})
    with pytest.raises(ValueError, match="rows"):
        Candles.of({**good, "volume": np.ones(2)})
    with pytest.raises(ValueError, match="lack"):
        Candles.of({k: v for k, v in good.items() if k != "open"})
