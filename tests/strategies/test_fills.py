"""The fill model of strategies.engine.fills: hand-worked fills, exit precedence, and a bot-style
candle-by-candle walk that reproduces the backtest simulator's trades bit for bit."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from lab.simulator import simulate
from strategies.dsl import examples
from strategies.engine import Candles, ExitRules, Signals, Sizing, compile_strategy, fills
from tests.strategies.test_engine import random_walk

ALL_IN = Sizing("percent_equity", 100.0)


def costs(fee_bps="10", slippage_bps="0", amount_step="0.001") -> fills.Costs:
    return fills.Costs.of(fee_bps=fee_bps, slippage_bps=slippage_bps, amount_step=amount_step)


def test_entry_buys_whole_steps_that_the_budget_pays_for_fee_included():
    # floor(1000 / (0.001 * 102 * 1.001)) = floor(9794.13) = 9794 steps of 0.001.
    buy = fills.size_entry(cash=1000.0, open_price=102.0, sizing=ALL_IN, costs=costs())
    assert buy is not None
    assert (buy.side, buy.price, buy.units) == (fills.BUY, 102.0, 9794)
    assert buy.amount_decimal(Decimal("0.001")) == Decimal("9.794")
    assert buy.notional == pytest.approx(998.988, abs=1e-9)
    assert buy.fee == pytest.approx(0.998988, abs=1e-12)
    assert buy.cash_after(1000.0) == pytest.approx(0.013012, abs=1e-9)
    assert buy.cash_after(1000.0) == 1000.0 - buy.notional - buy.fee


def test_the_floor_drops_the_step_that_rounding_of_its_divisor_lets_through():
    # At this budget the float floor says 227912 steps, whose cost with fee is over the budget.
    budget, price, c = 5.635740246136, 2.4703, costs(amount_step="0.00001")
    assert int(budget // (c.step * price * (1.0 + c.fee_rate))) == 227_912
    units = fills.floor_to_step(budget, price, c)
    assert units == 227_911
    notional = units * c.step * price
    assert notional + fills.apply_fee(notional, c.fee_rate) <= budget


def test_sizing_budgets():
    assert fills.entry_budget(Sizing("percent_equity", 25.0), 1000.0) == 250.0
    assert fills.entry_budget(Sizing("fixed_quote", 200.0), 1000.0) == 200.0
    assert fills.entry_budget(Sizing("fixed_quote", 5000.0), 1000.0) == 1000.0  # capped at cash


def test_an_entry_that_cannot_buy_one_step_is_rejected():
    assert (
        fills.size_entry(cash=50.0, open_price=100.0, sizing=ALL_IN, costs=costs(amount_step="1"))
        is None
    )
    assert fills.size_entry(cash=0.0, open_price=100.0, sizing=ALL_IN, costs=costs()) is None


def test_slippage_moves_both_sides_against_the_trader_and_fees_are_per_side():
    c = costs(fee_bps="10", slippage_bps="100", amount_step="0.01")
    assert fills.fill_price(50.0, fills.BUY, c.slippage) == 50.0 * 1.01
    assert fills.fill_price(60.0, fills.SELL, c.slippage) == 60.0 * 0.99
    sale = fills.fill_exit(units=1980, open_price=60.0, costs=c)
    assert (sale.side, sale.units, sale.price) == (fills.SELL, 1980, 60.0 * 0.99)
    assert sale.notional == pytest.approx(19.8 * 59.4, abs=1e-9)
    assert sale.fee == fills.apply_fee(sale.notional, c.fee_rate)
    assert sale.cash_after(10.0) == 10.0 + sale.notional - sale.fee


def test_round_trip_and_unrealized_pnl_take_both_fees_and_the_entry_fee():
    assert fills.round_trip_pnl(1000.0, 1.0, 1100.0, 1.1) == pytest.approx(97.9)
    assert fills.unrealized_pnl(2.0, 520.0, 1000.0, 1.0) == pytest.approx(39.0)
    columns = fills.round_trip_pnl(np.array([1000.0]), np.array([1.0]), np.array([900.0]), 0.9)
    assert columns.tolist() == pytest.approx([-101.9])


def test_costs_refuse_bad_parameters():
    with pytest.raises(ValueError, match="fee_bps"):
        costs(fee_bps="-1")
    with pytest.raises(ValueError, match="slippage_bps must be below 10000"):
        costs(slippage_bps="10000")
    with pytest.raises(ValueError, match="amount_step"):
        costs(amount_step="0")
    with pytest.raises(ValueError, match="decimal"):
        costs(amount_step="one")
    assert costs(amount_step=1e-05).step_decimal == Decimal("0.00001")  # not its binary value


# --------------------------------------------------------------------------- exits


def position(entry_price: float, rules: ExitRules) -> fills.Position:
    entry = fills.Fill(fills.BUY, entry_price, 1, 1.0, entry_price, 0.0)
    return fills.open_position(entry, rules)


def walk(pos: fills.Position, closes: list[float], signals=()) -> tuple[int, str] | None:
    for index, close in enumerate(closes):
        reason, pos = fills.exit_decision(pos, close, exit_signal=index in signals)
        if reason is not None:
            return index, reason
    return None


@pytest.mark.parametrize(
    ("rules", "closes", "expected"),
    [
        (ExitRules(take_profit_pct=5), [101, 104.99, 105, 110], (2, "take_profit")),
        (ExitRules(stop_loss_pct=2), [99, 98.01, 98, 90], (2, "stop_loss")),
        # The peak 110 puts the 3 % trail at 106.7; 106.7 itself reaches it.
        (ExitRules(trailing_stop_pct=3), [105, 110, 107, 106.7], (3, "trailing_stop")),
        # The trail starts from the entry price: 97 is 3 % below 100 before any higher close.
        (ExitRules(trailing_stop_pct=3), [99, 97], (1, "trailing_stop")),
        (ExitRules(stop_loss_pct=50), [90, 80, 70], None),
    ],
)
def test_each_rule_triggers_at_its_level(rules, closes, expected):
    assert walk(position(100.0, rules), closes) == expected


def test_precedence_on_one_close_is_stop_loss_trailing_stop_take_profit_signal():
    assert fills.EXIT_PRECEDENCE == ("stop_loss", "trailing_stop", "take_profit", "signal")
    # 94 is below the 5 % stop (95) and the 3 % trail (97) and comes with an exit signal.
    both = ExitRules(stop_loss_pct=5, trailing_stop_pct=3)
    assert walk(position(100.0, both), [94], signals={0}) == (0, "stop_loss")
    # Peak 120 → trail 108; 106 is above the 5 % target (105) and below the trail.
    rules = ExitRules(take_profit_pct=5, trailing_stop_pct=10)
    pos = position(100.0, rules)._replace(peak=120.0)
    assert fills.exit_decision(pos, 106.0, exit_signal=True)[0] == "trailing_stop"
    assert walk(position(100.0, ExitRules(take_profit_pct=5)), [106], signals={0}) == (
        0,
        "take_profit",
    )
    assert walk(position(100.0, ExitRules(take_profit_pct=5)), [101, 102], signals={1}) == (
        1,
        "signal",
    )


def test_levels_are_compared_on_the_grid():
    # 101 * 0.95 is 95.94999999999999 in float; on the 1e-8 grid it is 95.95, which the close
    # 95.95 reaches.
    assert 101 * (1 - 5 / 100) < 95.95
    assert walk(position(101.0, ExitRules(stop_loss_pct=5)), [95.95]) == (0, "stop_loss")


def test_exit_decision_carries_the_trailing_peak():
    pos = position(100.0, ExitRules(trailing_stop_pct=10))
    _, pos = fills.exit_decision(pos, 130.0)
    _, pos = fills.exit_decision(pos, 120.0)
    assert pos.peak == 130.0
    assert fills.exit_decision(pos, 117.0)[0] == "trailing_stop"


@pytest.mark.parametrize(
    "rules",
    [
        ExitRules(stop_loss_pct=2),
        ExitRules(take_profit_pct=1.5),
        ExitRules(trailing_stop_pct=1),
        ExitRules(stop_loss_pct=1, trailing_stop_pct=0.5, take_profit_pct=2),
        ExitRules(stop_loss_pct=3, trailing_stop_pct=3),
    ],
)
def test_the_vectorised_scan_finds_what_the_per_candle_decision_finds(rules):
    close = random_walk(6000, seed=21).close
    scanner = fills.ExitScanner(close, rules)
    rng = np.random.default_rng(5)
    for begin in rng.integers(0, close.size - 1, 60).tolist():
        entry = float(close[begin])
        signal_at = int(begin + rng.integers(0, 3000)) if rng.random() < 0.5 else None
        if signal_at is not None and signal_at >= close.size:
            signal_at = None
        expected = None
        pos = position(entry, rules)
        for index in range(begin, close.size):
            reason, pos = fills.exit_decision(
                pos, float(close[index]), exit_signal=index == signal_at
            )
            if reason is not None:
                expected = (index, reason)
                break
        assert scanner.first(entry, begin, signal_at) == expected


# --------------------------------------------------------------------------- a bot's walk


def tick_by_tick(signals: Signals, c: Candles, sizing: Sizing, rules: ExitRules, cost: fills.Costs):
    """Trades as a bot makes them: one closed candle at a time, acting at the next open."""
    cash, pos, pending, trades = 10_000.0, None, None, []
    for t in range(len(c)):
        if pending == "buy":
            buy = fills.size_entry(
                cash=cash, open_price=float(c.open[t]), sizing=sizing, costs=cost
            )
            if buy is not None:
                cash, pos, entered = buy.cash_after(cash), fills.open_position(buy, rules), t
        elif pending is not None:
            sale = fills.fill_exit(units=pos.entry.units, open_price=float(c.open[t]), costs=cost)
            cash = sale.cash_after(cash)
            trades.append((entered, t, pos.entry.price, sale.price, pos.entry.units, pending))
            pos = None
        pending = None
        if pos is None:
            pending = "buy" if signals.entry[t] else None
        else:
            pending, pos = fills.exit_decision(pos, float(c.close[t]), exit_signal=signals.exit[t])
    return trades, cash


@pytest.mark.parametrize("name", sorted(examples()))
def test_a_candle_by_candle_walk_makes_the_backtests_trades(name):
    body = examples()[name]
    plan = compile_strategy(body)
    c = random_walk(12_000, seed=17)
    rules = plan.exits
    if name == "sma_crossover":  # the only example without percentage exits: add them
        rules = ExitRules(stop_loss_pct=1.5, trailing_stop_pct=1.0, take_profit_pct=2.0)
    cost = costs(fee_bps="7.5", slippage_bps="3", amount_step="0.0001")
    result = simulate(
        plan_or_signals=plan,
        candles=c,
        initial_cash=10_000,
        fee_bps="7.5",
        slippage_bps="3",
        amount_step="0.0001",
        exits=rules,
    )
    trades, cash = tick_by_tick(plan.evaluate(c), c, plan.sizing, rules, cost)
    assert [(t[0], t[1], t[5]) for t in trades] == [
        (r.entry_index, r.exit_index, r.exit_reason) for r in result.trades
    ]
    assert [round(t[2], 8) for t in trades] == [r.entry_price for r in result.trades]
    assert [round(t[3], 8) for t in trades] == [r.exit_price for r in result.trades]
    assert [t[4] * Decimal("0.0001") for t in trades] == [
        Decimal(r.amount_str) for r in result.trades
    ]
    assert len(trades) > 5
    if result.open_position is None:  # (one still open is marked by the simulator, held here)
        assert round(cash, 8) == result.final_equity
