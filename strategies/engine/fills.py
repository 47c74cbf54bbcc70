"""The fill model shared by the lab's backtests and the bots' ticks: pure functions, no Django.

A signal at a candle's close is acted on at the next candle's open:

- **Price** (``fill_price``): a buy fills at open*(1 + slippage), a sell at open*(1 - slippage).
- **Size** (``size_entry``): the budget is cash*p/100 for ``percent_equity`` (cash is the
  equity while flat) or min(q, cash) for ``fixed_quote`` (``entry_budget``); the order buys the
  most whole amount steps whose notional plus fee fits in it (``floor_to_step``); an order that
  cannot buy one step is rejected (None).
- **Fee** (``apply_fee``): each side pays fee_rate of its notional, in quote.
- **Cash** (``Fill.cash_after``): a buy pays notional, then fee; a sell receives notional, then
  pays fee.
- **Exits** (``exit_decision`` one close at a time, ``ExitScanner`` over arrays): from the fill
  candle's own close on, each close of an open position is checked against the stop-loss,
  trailing-stop and take-profit levels (relative to the entry fill price, compared on the
  engine's 1e-8 grid) and the strategy's exit signal. When several hold on one close, the
  reason is the first of ``EXIT_PRECEDENCE``: stop_loss, trailing_stop, take_profit, signal
  (the protective rules first). The position is sold at the next open like any signal.

Numbers are float64, each computed by one fixed sequence of correctly rounded operations (the
order of the operations below is part of the model), so a backtest and a bot tick given the
same inputs get the same bits. ``lab.simulator`` walks a whole dataset with these functions; a
bot calls ``size_entry`` when flat and ``exit_decision`` on every closed candle while in a
position. Changing anything here changes results: bump ``ENGINE_VERSION`` with it.
"""

from __future__ import annotations

import math
from decimal import Decimal
from functools import cached_property
from typing import NamedTuple

import numpy as np

from strategies.engine.compiler import GRID_DECIMALS, ExitRules, Sizing, on_grid

__all__ = [
    "BUY",
    "EXIT_PRECEDENCE",
    "SELL",
    "Costs",
    "ExitLevels",
    "ExitScanner",
    "Fill",
    "Position",
    "apply_fee",
    "checked_number",
    "entry_budget",
    "exit_decision",
    "exit_levels",
    "fill_exit",
    "fill_price",
    "floor_to_step",
    "on_grid_scalar",
    "open_position",
    "round_trip_pnl",
    "size_entry",
    "unrealized_pnl",
]

BUY, SELL = "buy", "sell"
# When several exit rules hold on the same close, the reason reported is the first of these.
EXIT_PRECEDENCE = ("stop_loss", "trailing_stop", "take_profit", "signal")

_GRID_SCALE = 10.0**GRID_DECIMALS
_FIRST_SCAN = 256  # closes checked for a stop at first; doubled while nothing triggers


def on_grid_scalar(value: float) -> float:
    """A scalar on the engine's comparison grid, bit for bit as ``on_grid`` (np.round) does.

    np.round computes rint(value*1e8)/1e8; Python's round() of a float is the same
    half-to-even rint, and the int converts back exactly. A NumPy call per scalar would cost
    more than the rest of a trade's bookkeeping.
    """
    return round(value * _GRID_SCALE) / _GRID_SCALE


def checked_number(value: float | int | str | Decimal, name: str, *, positive: bool) -> float:
    """``value`` as a float; ValueError unless finite and >= 0 (> 0 when ``positive``)."""
    number = float(value)
    if not math.isfinite(number) or number < 0 or (positive and number == 0):
        raise ValueError(f"{name} must be a finite number {'> 0' if positive else '>= 0'}")
    return number


class Costs(NamedTuple):
    """What a fill costs beyond the price: fee and slippage as fractions, and the lot size.

    ``step_decimal`` is the exact decimal step (amounts are reported as units * it);
    ``step`` is its float, used in the arithmetic.
    """

    fee_rate: float
    slippage: float
    step: float
    step_decimal: Decimal

    @classmethod
    def of(
        cls,
        *,
        fee_bps: float | int | str | Decimal,
        slippage_bps: float | int | str | Decimal,
        amount_step: float | int | str | Decimal,
    ) -> Costs:
        """Costs from basis points and a step; ValueError naming the bad parameter."""
        fee_rate = checked_number(fee_bps, "fee_bps", positive=False) / 10_000
        slippage = checked_number(slippage_bps, "slippage_bps", positive=False) / 10_000
        if slippage >= 1:
            raise ValueError("slippage_bps must be below 10000")
        try:
            # A float step goes through str so 1e-05 means the decimal 0.00001, not its binary
            # value.
            step_decimal = Decimal(
                str(amount_step) if isinstance(amount_step, float) else amount_step
            )
        except ArithmeticError:
            raise ValueError("amount_step must be a decimal number") from None
        step = checked_number(step_decimal, "amount_step", positive=True)
        return cls(fee_rate, slippage, step, step_decimal)


class Fill(NamedTuple):
    """One side of a trade at the next open: whole steps, prices with slippage, fee in quote."""

    side: str  # BUY or SELL
    price: float  # open*(1 ± slippage)
    units: int  # whole amount steps
    amount: float  # units*step
    notional: float  # amount*price
    fee: float  # notional*fee_rate

    def cash_after(self, cash: float) -> float:
        """Cash after this fill: a buy pays notional then fee, a sell gets notional less fee."""
        if self.side == BUY:
            return cash - self.notional - self.fee
        return cash + self.notional - self.fee

    def amount_decimal(self, step_decimal: Decimal) -> Decimal:
        """The exact amount, units * the decimal step."""
        return self.units * step_decimal


def fill_price(open_price: float, side: str, slippage: float) -> float:
    """The price a market order gets at ``open_price``: ``slippage`` (a fraction) against it."""
    if side == BUY:
        return open_price * (1.0 + slippage)
    return open_price * (1.0 - slippage)


def apply_fee(notional: float, fee_rate: float) -> float:
    """The fee of one side, in quote: ``fee_rate`` of its notional."""
    return notional * fee_rate


def entry_budget(sizing: Sizing, cash: float) -> float:
    """Quote an entry may spend: cash*p/100 (``percent_equity``) or min(q, cash)."""
    if sizing.kind == "percent_equity":
        return cash * (sizing.value / 100.0)
    return min(sizing.value, cash)


def floor_to_step(budget: float, price: float, costs: Costs) -> int:
    """The most whole steps whose notional plus fee at ``price`` fits in ``budget`` (maybe 0)."""
    step, fee_rate = costs.step, costs.fee_rate
    units = int(budget // (step * price * (1.0 + fee_rate)))
    # The floor's divisor is rounded, so it can let one step too many through; undo it.
    while units > 0:
        notional = (units * step) * price
        if notional + apply_fee(notional, fee_rate) <= budget:
            break
        units -= 1
    return units


def size_entry(*, cash: float, open_price: float, sizing: Sizing, costs: Costs) -> Fill | None:
    """The buy an entry signal makes at the next ``open_price``, or None when it is rejected.

    Rejected means the budget cannot pay for one step with its fee: the account stays flat.
    """
    price = fill_price(open_price, BUY, costs.slippage)
    units = floor_to_step(entry_budget(sizing, cash), price, costs)
    if units < 1:
        return None
    amount = units * costs.step
    notional = amount * price
    return Fill(BUY, price, units, amount, notional, apply_fee(notional, costs.fee_rate))


def fill_exit(*, units: int, open_price: float, costs: Costs) -> Fill:
    """The sale of a whole position of ``units`` steps at the next ``open_price``."""
    price = fill_price(open_price, SELL, costs.slippage)
    amount = units * costs.step
    notional = amount * price
    return Fill(SELL, price, units, amount, notional, apply_fee(notional, costs.fee_rate))


def round_trip_pnl(
    entry_notional: float, entry_fee: float, exit_notional: float, exit_fee: float
) -> float:
    """(exit notional - exit fee) - (entry notional + entry fee); floats or NumPy arrays."""
    return (exit_notional - exit_fee) - (entry_notional + entry_fee)


def unrealized_pnl(amount: float, mark: float, entry_notional: float, entry_fee: float) -> float:
    """An open position marked at ``mark`` without an exit fee, against its entry cost."""
    return amount * mark - (entry_notional + entry_fee)


# --------------------------------------------------------------------------- exits


class ExitLevels(NamedTuple):
    """A position's percentage exits, fixed at its entry; None when the rule is not set.

    ``stop_loss`` and ``take_profit`` are prices on the grid; ``trailing_factor`` is
    1 - pct/100, applied to the highest close seen (the level is on the grid too).
    """

    stop_loss: float | None
    take_profit: float | None
    trailing_factor: float | None

    @property
    def active(self) -> bool:
        """Whether any percentage exit is set."""
        return not (
            self.stop_loss is None and self.take_profit is None and self.trailing_factor is None
        )


def exit_levels(entry_price: float, rules: ExitRules) -> ExitLevels:
    """The levels of ``rules`` for a position entered at ``entry_price`` (with slippage)."""
    stop = target = trail = None
    if rules.stop_loss_pct is not None:
        stop = on_grid_scalar(entry_price * (1.0 - rules.stop_loss_pct / 100.0))
    if rules.take_profit_pct is not None:
        target = on_grid_scalar(entry_price * (1.0 + rules.take_profit_pct / 100.0))
    if rules.trailing_stop_pct is not None:
        trail = 1.0 - rules.trailing_stop_pct / 100.0
    return ExitLevels(stop, target, trail)


class Position(NamedTuple):
    """An open long position as a bot carries it from tick to tick.

    ``peak`` is the highest close since the fill, starting at the entry price: the trailing
    stop's reference. ``exit_decision`` returns the position with it moved on.
    """

    entry: Fill
    levels: ExitLevels
    peak: float


def open_position(entry: Fill, rules: ExitRules) -> Position:
    """The position an entry fill opens, with its exit levels fixed from the fill price."""
    return Position(entry, exit_levels(entry.price, rules), entry.price)


def exit_decision(
    position: Position, close: float, *, exit_signal: bool = False
) -> tuple[str | None, Position]:
    """Check one close of an open position: the exit reason (or None) and the position after it.

    The reason is the first rule of EXIT_PRECEDENCE that holds at ``close``; the sale is
    ``fill_exit`` at the next open. Call it on every close from the fill candle's own on, in
    order, carrying the returned position (its trailing peak) to the next call.
    """
    levels = position.levels
    if close > position.peak:
        position = position._replace(peak=close)
    price = on_grid_scalar(close)
    if levels.stop_loss is not None and price <= levels.stop_loss:
        return "stop_loss", position
    if levels.trailing_factor is not None and price <= on_grid_scalar(
        position.peak * levels.trailing_factor
    ):
        return "trailing_stop", position
    if levels.take_profit is not None and price >= levels.take_profit:
        return "take_profit", position
    return ("signal" if exit_signal else None), position


class ExitScanner:
    """``exit_decision`` over a whole array of closes, in growing vectorised chunks.

    A backtest asks it for the first close of a position's life on which a rule holds, with the
    same levels, grid and precedence as the per-candle function; only the candles up to that
    close are examined.
    """

    def __init__(self, close: np.ndarray, rules: ExitRules) -> None:
        self.close = close
        self.rules = rules
        self.active = any(
            pct is not None
            for pct in (rules.stop_loss_pct, rules.trailing_stop_pct, rules.take_profit_pct)
        )

    @cached_property
    def close_on_grid(self) -> np.ndarray:
        """The closes on the grid, computed on first use: without exit rules it is never needed."""
        return on_grid(self.close)

    def first(
        self, entry_price: float, begin: int, signal_at: int | None
    ) -> tuple[int, str] | None:
        """The first close from ``begin`` on that exits a position entered at ``entry_price``.

        Returns (index, reason), or None when the position survives the last close.
        ``signal_at`` is the first exit signal at or after ``begin`` (None if there is none):
        the rules are scanned up to it, and on its own close they take precedence over it.
        """
        hit = None
        if self.active:
            last = self.close.size - 1 if signal_at is None else signal_at
            levels = exit_levels(entry_price, self.rules)
            hit = self._first_rule(levels, entry_price, begin, last)
        if signal_at is not None and (hit is None or signal_at < hit[0]):
            return signal_at, "signal"
        return hit

    def _first_rule(
        self, levels: ExitLevels, peak: float, begin: int, last: int
    ) -> tuple[int, str] | None:
        stop, target, trail = levels
        lo, size = begin, _FIRST_SCAN
        while lo <= last:
            hi = min(last + 1, lo + size)
            closes = self.close_on_grid[lo:hi]
            hits = []  # in EXIT_PRECEDENCE order
            if stop is not None:
                hits.append(("stop_loss", closes <= stop))
            if trail is not None:
                running = np.maximum(np.maximum.accumulate(self.close[lo:hi]), peak)
                hits.append(("trailing_stop", closes <= on_grid(running * trail)))
                peak = float(running[-1])
            if target is not None:
                hits.append(("take_profit", closes >= target))
            any_hit = np.logical_or.reduce([hit for _, hit in hits])
            if any_hit.any():
                at = int(np.argmax(any_hit))
                return lo + at, next(name for name, hit in hits if hit[at])
            lo, size = hi, size * 2
        return None
