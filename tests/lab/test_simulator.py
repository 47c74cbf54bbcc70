"""The fill model and metrics of lab.simulator, checked against hand-worked backtests."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lab.simulator import ENGINE_VERSION, simulate
from strategies import engine
from strategies.dsl import examples
from strategies.engine import ExitRules, Signals, Sizing, compile_strategy
from tests.strategies.test_engine import random_walk

CENT = 0.005


def candles(opens: list[float], closes: list[float]) -> dict[str, np.ndarray]:
    o, c = np.asarray(opens, dtype=float), np.asarray(closes, dtype=float)
    return {
        "ts": 60_000.0 * np.arange(o.size),
        "open": o,
        "high": np.maximum(o, c),
        "low": np.minimum(o, c),
        "close": c,
        "volume": np.ones(o.size),
    }


def signals(rows: int, entry: list[int], exit_: list[int] = ()) -> Signals:
    e, x = np.zeros(rows, dtype=bool), np.zeros(rows, dtype=bool)
    e[list(entry)] = True
    x[list(exit_)] = True
    return Signals(e, x, 0, "1m")


def run(sig: Signals, data: dict, **overrides):
    params = {
        "initial_cash": 1000,
        "fee_bps": 10,
        "slippage_bps": 0,
        "amount_step": "0.001",
    }
    params.update(overrides)
    return simulate(plan_or_signals=sig, candles=data, **params)


# Ten candles, cash 1000, fee 0.1% per side, no slippage, step 0.001, all in.
OPENS = [100, 100, 102, 105, 107, 107, 100, 98, 96, 95]
CLOSES = [100, 101, 104, 106, 107, 105, 98, 97, 95, 96]


def test_hand_worked_backtest_to_the_cent():
    # Entry signals at closes 1, 5, 8; exit signals at closes 3, 7.
    #
    # Trade 1: buy at the open of candle 2 = 102.
    #   units = floor(1000 / (0.001·102·1.001)) = floor(9794.13) = 9794 → amount 9.794
    #   notional 9.794·102 = 998.988, fee 0.998988 → cash 1000 - 999.986988 = 0.013012
    #   sell at the open of candle 4 = 107: notional 1047.958, fee 1.047958
    #   cash 0.013012 + 1047.958 - 1.047958 = 1046.923054
    #   pnl = 1046.910042 - 999.986988 = 46.923054; pnl% = 46.923054 / 999.986988 = 4.69236646%
    # Trade 2: buy at the open of candle 6 = 100.
    #   units = floor(1046.923054 / 0.1001) = 10458 → amount 10.458
    #   notional 1045.8, fee 1.0458 → cash 0.077254
    #   sell at the open of candle 8 = 96: notional 1003.968, fee 1.003968 → cash 1003.041286
    #   pnl = 1002.964032 - 1046.8458 = -43.881768
    # Open position: buy at the open of candle 9 = 95.
    #   units = floor(1003.041286 / 0.095095) = 10547 → amount 10.547
    #   notional 1001.965, fee 1.001965 → cash 0.074321
    #   marked at the last close 96 without exit fee: equity 0.074321 + 1012.512 = 1012.586321
    result = run(signals(10, [1, 5, 8], [3, 7]), candles(OPENS, CLOSES))

    first, second = result.trades
    assert (first.entry_index, first.exit_index, first.amount) == (2, 4, 9.794)
    assert (first.entry_ts, first.exit_ts) == (120_000, 240_000)
    assert (first.entry_price, first.exit_price) == (102.0, 107.0)
    assert first.fees == pytest.approx(0.998988 + 1.047958, abs=CENT)
    assert first.pnl == pytest.approx(46.923054, abs=1e-6)
    assert first.pnl_pct == pytest.approx(4.69236646, abs=1e-6)
    assert first.exit_reason == "signal"
    assert (second.entry_index, second.exit_index, second.amount) == (6, 8, 10.458)
    assert second.pnl == pytest.approx(-43.881768, abs=1e-6)

    position = result.open_position
    assert position is not None
    assert (position.entry_index, position.amount, position.entry_price) == (9, 10.547, 95.0)
    assert position.entry_fee == pytest.approx(1.001965, abs=1e-6)
    assert position.mark_price == 96.0
    assert position.unrealized_pnl == pytest.approx(1012.512 - 1002.966965, abs=1e-6)

    assert result.final_equity == pytest.approx(1012.586321, abs=1e-6)
    assert result.equity.tolist() == pytest.approx(
        [
            1000,
            1000,
            0.013012 + 9.794 * 104,  # held through closes 2 and 3
            0.013012 + 9.794 * 106,
            1046.923054,  # flat after the sale at open 4
            1046.923054,
            0.077254 + 10.458 * 98,
            0.077254 + 10.458 * 97,
            1003.041286,
            1012.586321,
        ],
        abs=1e-6,
    )
    assert result.equity_ts.tolist() == [60_000 * i for i in range(10)]

    m = result.metrics
    assert m.trades == 2  # the open position is not a trade
    assert m.net_pnl == pytest.approx(12.586321, abs=1e-6)
    assert m.net_pnl_pct == pytest.approx(1.2586321, abs=1e-6)
    assert m.win_rate == 50.0
    assert m.profit_factor == pytest.approx(46.923054 / 43.881768, abs=1e-6)
    # Peak 1046.923054 (candle 4), trough 1003.041286 (candle 8).
    assert m.max_drawdown_pct == pytest.approx(43.881768 / 1046.923054 * 100, abs=1e-6)
    assert m.exposure_pct == 50.0  # held at closes 2, 3, 6, 7, 9
    assert result.rejected_orders == 0


def test_sharpe_is_annualised_mean_over_sample_std_of_candle_returns():
    result = run(signals(10, [1, 5, 8], [3, 7]), candles(OPENS, CLOSES))
    equity = np.concatenate(([1000.0], result.equity))
    returns = equity[1:] / equity[:-1] - 1
    expected = returns.mean() / returns.std(ddof=1) * math.sqrt(365 * 24 * 60)
    assert result.metrics.sharpe == pytest.approx(expected, rel=1e-7)


def test_slippage_moves_both_fills_against_the_trader():
    # Buy at 50·1.01 = 50.5: units = floor(1000 / (0.01·50.5)) = 1980 → 19.8, notional 999.9.
    # Sell at 60·0.99 = 59.4: 19.8·59.4 = 1176.12. No fee → pnl 176.22, cash 1176.22.
    data = candles([50, 50, 60, 60], [50, 55, 60, 60])
    result = run(signals(4, [0], [1]), data, fee_bps=0, slippage_bps=100, amount_step="0.01")
    (trade,) = result.trades
    assert (trade.entry_price, trade.exit_price, trade.amount) == (50.5, 59.4, 19.8)
    assert trade.pnl == pytest.approx(176.22, abs=1e-6)
    assert trade.fees == 0
    assert result.final_equity == pytest.approx(1176.22, abs=1e-6)


def test_order_that_cannot_buy_one_step_is_rejected_and_account_stays_flat():
    # Cash 50 cannot pay for one step of 1 unit at 100.
    data = candles([100] * 6, [100] * 6)
    result = run(signals(6, [0, 2], [1]), data, initial_cash=50, amount_step="1")
    assert result.rejected_orders == 2
    assert result.trades == ()
    assert result.open_position is None
    assert result.equity.tolist() == [50.0] * 6
    assert result.metrics.exposure_pct == 0
    assert result.metrics.net_pnl == 0


def test_fixed_quote_sizing_buys_that_much_quote():
    # 200 quote at 100 with 0.1% fee: floor(200 / 0.1001) = 1998 steps of 0.001 = 1.998.
    data = candles([100] * 4, [100] * 4)
    result = run(signals(4, [0], [2]), data, sizing=Sizing("fixed_quote", 200))
    assert result.trades[0].amount == 1.998
    # More than the cash: capped at the cash available.
    result = run(signals(4, [0], [2]), data, sizing=Sizing("fixed_quote", 5000))
    assert result.trades[0].amount == 9.99  # floor(1000 / 0.1001) = 9990 steps


def test_percent_equity_sizing_uses_that_share_of_equity():
    data = candles([100] * 4, [100] * 4)
    result = run(signals(4, [0], [2]), data, sizing=Sizing("percent_equity", 50))
    assert result.trades[0].amount == 4.995  # floor(500 / 0.1001) = 4995 steps


def test_entry_signal_on_the_last_candle_is_not_filled():
    data = candles(OPENS, CLOSES)
    result = run(signals(10, [9]), data)
    assert result.trades == ()
    assert result.open_position is None
    assert result.rejected_orders == 0
    assert result.final_equity == 1000


def test_exit_signal_on_the_last_candle_leaves_the_position_open_and_marked():
    # Buy 9.794 at 102 (candle 2) as in the hand-worked case; the exit signal at close 9 has
    # no next open. Marked at the last close 96, no exit fee: 0.013012 + 9.794·96.
    result = run(signals(10, [1], [9]), candles(OPENS, CLOSES))
    assert result.trades == ()
    assert result.metrics.trades == 0
    assert result.open_position is not None
    assert result.final_equity == pytest.approx(0.013012 + 9.794 * 96, abs=1e-6)
    assert result.metrics.net_pnl == pytest.approx(0.013012 + 9.794 * 96 - 1000, abs=1e-6)
    assert result.metrics.profit_factor is None
    assert result.metrics.win_rate == 0


STOP_OPENS = [100, 100, 101, 103, 106, 104, 103, 101, 99, 98]


@pytest.mark.parametrize(
    ("rules", "closes", "exit_index", "reason"),
    [
        # Take profit 5% of the entry 100: the close 106 (candle 3) ≥ 105 → sell at open 4.
        (
            ExitRules(take_profit_pct=5),
            [100, 100, 103, 106, 104, 103, 101, 99, 98, 97],
            4,
            "take_profit",
        ),
        # Stop loss 2%: the close 97.5 (candle 4) ≤ 98 → sell at open 5.
        (ExitRules(stop_loss_pct=2), [100, 100, 99, 99, 97.5, 96, 95, 95, 95, 95], 5, "stop_loss"),
        # Trailing 3%: the peak close 106 (candle 3) → level 102.82; close 102 (candle 5).
        (
            ExitRules(trailing_stop_pct=3),
            [100, 100, 103, 106, 104, 102, 101, 99, 98, 97],
            6,
            "trailing_stop",
        ),
        # The stop can trigger on the fill candle's own close (candle 1: 97 ≤ 98).
        (ExitRules(stop_loss_pct=2), [100, 97, 99, 99, 99, 99, 99, 99, 99, 99], 2, "stop_loss"),
    ],
)
def test_percentage_exits_trigger_at_the_close_and_fill_at_the_next_open(
    rules, closes, exit_index, reason
):
    data = candles(STOP_OPENS, closes)
    result = run(signals(10, [0]), data, exits=rules)  # buy at the open of candle 1 = 100
    (trade,) = result.trades
    assert (trade.entry_index, trade.entry_price) == (1, 100.0)
    assert (trade.exit_index, trade.exit_reason) == (exit_index, reason)
    assert trade.exit_price == STOP_OPENS[exit_index]


def test_protective_exit_is_reported_first_when_rules_trigger_on_the_same_close():
    # Close 95 at candle 2: stop loss 2% (≤ 98) and trailing 3% (≤ 97) and the exit signal.
    data = candles(STOP_OPENS, [100, 100, 95, 96, 96, 96, 96, 96, 96, 96])
    rules = ExitRules(stop_loss_pct=2, trailing_stop_pct=3)
    result = run(signals(10, [0], [2]), data, exits=rules)
    assert (result.trades[0].exit_index, result.trades[0].exit_reason) == (3, "stop_loss")


def test_exit_signal_before_a_stop_wins():
    data = candles(STOP_OPENS, [100, 100, 99, 99, 90, 90, 90, 90, 90, 90])
    result = run(signals(10, [0], [2]), data, exits=ExitRules(stop_loss_pct=5))
    assert (result.trades[0].exit_index, result.trades[0].exit_reason) == (3, "signal")


def test_stop_levels_are_compared_on_the_grid():
    # 5% below the entry 101 is 95.95, but 101*(1-0.05) is 95.94999999999999 in float: without
    # the grid the close 95.95 would not reach the stop. On the grid both are 95.95.
    opens = [101] * 10
    closes = [101, 101, 95.95, 95.95, 95.95, 95.95, 95.95, 95.95, 95.95, 95.95]
    assert 101 * (1 - 5 / 100) < 95.95
    result = run(signals(10, [0]), candles(opens, closes), exits=ExitRules(stop_loss_pct=5))
    assert (result.trades[0].exit_index, result.trades[0].exit_reason) == (3, "stop_loss")


def test_plan_and_its_signals_give_the_same_backtest():
    plan = compile_strategy(examples()["rsi_mean_reversion"])
    c = random_walk(5000, seed=2)
    params = {"initial_cash": 10_000, "fee_bps": 10, "slippage_bps": 5, "amount_step": "0.0001"}
    by_plan = simulate(plan_or_signals=plan, candles=c, **params)
    by_signals = simulate(
        plan_or_signals=plan.evaluate(c), candles=c, sizing=plan.sizing, exits=plan.exits, **params
    )
    assert by_plan.trades == by_signals.trades
    assert by_plan.trades  # the walk does trade


def test_backtests_are_deterministic():
    c = random_walk(20_000, seed=4)
    for body in examples().values():
        plan = compile_strategy(body)
        params = {"initial_cash": "10000", "fee_bps": 7.5, "slippage_bps": 3, "amount_step": 1e-5}
        first = simulate(plan_or_signals=plan, candles=c, **params)
        second = simulate(plan_or_signals=compile_strategy(body), candles=c, **params)
        assert first.trades == second.trades
        assert first.metrics == second.metrics
        assert first.open_position == second.open_position
        assert np.array_equal(first.equity, second.equity)
        assert first.final_equity == second.final_equity


def test_reported_money_is_rounded_to_8_decimals():
    plan = compile_strategy(examples()["macd_trend"])
    result = simulate(
        plan_or_signals=plan,
        candles=random_walk(8000, seed=8),
        initial_cash=10_000,
        fee_bps=10,
        slippage_bps=2,
        amount_step="0.00001",
    )
    assert result.trades
    for trade in result.trades:
        for value in (trade.entry_price, trade.exit_price, trade.fees, trade.pnl):
            assert value == round(value, 8)
        as_dict = trade.as_dict()
        assert len(as_dict["pnl"].split(".")[1]) == 8
        assert as_dict["amount"] == trade.amount_str
    np.testing.assert_array_equal(result.equity, np.round(result.equity, 8))
    assert result.final_equity == result.equity[-1]


def test_metrics_when_nothing_happens():
    data = candles([100] * 5, [100] * 5)
    m = run(signals(5, []), data).metrics
    assert (m.trades, m.win_rate, m.profit_factor, m.sharpe) == (0, 0.0, None, 0.0)
    assert (m.net_pnl, m.max_drawdown_pct, m.exposure_pct) == (0.0, 0.0, 0.0)
    assert m.as_dict()["net_pnl"] == "0.00000000"


def test_profit_factor_is_none_without_losing_trades():
    result = run(signals(10, [1], [3]), candles(OPENS, CLOSES))
    assert result.metrics.trades == 1
    assert result.trades[0].pnl > 0
    assert result.metrics.profit_factor is None
    assert result.metrics.win_rate == 100.0


def test_engine_version_is_the_engines():
    assert ENGINE_VERSION == engine.ENGINE_VERSION
    result = run(signals(3, []), candles([1, 1, 1], [1, 1, 1]))
    assert result.engine_version == ENGINE_VERSION


def test_bad_parameters_are_refused():
    data = candles([1, 1, 1], [1, 1, 1])
    with pytest.raises(ValueError, match="initial_cash"):
        run(signals(3, []), data, initial_cash=0)
    with pytest.raises(ValueError, match="amount_step"):
        run(signals(3, []), data, amount_step="0")
    with pytest.raises(ValueError, match="fee_bps"):
        run(signals(3, []), data, fee_bps=-1)
    with pytest.raises(ValueError, match="same number of rows"):
        run(signals(4, []), data)
    with pytest.raises(ValueError, match="decimal"):
        run(signals(3, []), data, amount_step="one")
    with pytest.raises(ValueError, match="timeframe"):
        run(signals(3, []), data, timeframe="2m")


def test_zero_percentage_exit_is_checked_not_ignored():
    # A 0 % stop (only reachable through ExitRules, the schema needs > 0) triggers at once.
    data = candles([100] * 5, [100] * 5)
    result = run(signals(5, [0]), data, exits=ExitRules(stop_loss_pct=0))
    assert (result.trades[0].exit_index, result.trades[0].exit_reason) == (2, "stop_loss")
