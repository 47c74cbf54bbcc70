"""A run's book as the fill model keeps it: cash, the open position's entry fill, its peak.

Pure Python (no Django), in the fill model's floats, updated by the same operations as the
lab's simulator (`Fill.cash_after`, `round_trip_pnl`, equity = cash + amount * close), so a
replay whose venue fills at the fill model's prices books exactly the backtest's numbers. The
run stores it as JSON (`BotRun.book`; floats round-trip exactly) and renders it in decimal
columns for the API.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from strategies.engine.compiler import ExitRules
from strategies.engine.fills import (
    Costs,
    Fill,
    Position,
    apply_fee,
    exit_levels,
    on_grid_scalar,
    round_trip_pnl,
    unrealized_pnl,
)


def _money(value: float) -> str:
    """Money as the lab's trades show it: rounded to 8 decimals, 8 digits after the point."""
    return f"{on_grid_scalar(value):.8f}"


def venue_fill(
    side: str, *, filled: Decimal, average: Decimal, fee: Decimal | None, costs: Costs
) -> Fill:
    """The fill an order got at the venue, in the fill model's terms.

    `units` are whole amount steps (a venue fills whole steps); `amount` and `notional` are
    computed as the fill model does, from the units and the venue's average price. `fee` is
    the venue's fee in the quote currency, or the model's fee when it charged another asset.
    """
    units = int((filled / costs.step_decimal).to_integral_value(rounding=ROUND_FLOOR))
    price = float(average)
    amount = units * costs.step
    notional = amount * price
    fee_quote = float(fee) if fee is not None else apply_fee(notional, costs.fee_rate)
    return Fill(side, price, units, amount, notional, fee_quote)


@dataclass
class Book:
    """What a run holds. `entry` is the open position's buy (None while flat), `peak` the
    highest close since it (the trailing stop's reference), `day_start_equity` the equity at
    the first tick of the UTC day `day` (the daily loss cap's base)."""

    cash: float
    start_cash: float
    costs: Costs
    day: str
    day_start_equity: float
    realized: float = 0.0
    trades: int = 0
    entry: Fill | None = None
    entry_ts: int | None = None
    peak: float | None = None

    @classmethod
    def open(cls, *, cash: float, costs: Costs, day: str) -> Book:
        """A flat book with `cash` on `day`."""
        return cls(cash=cash, start_cash=cash, costs=costs, day=day, day_start_equity=cash)

    # --- reading

    @property
    def flat(self) -> bool:
        return self.entry is None

    @property
    def units(self) -> int:
        return 0 if self.entry is None else self.entry.units

    @property
    def amount(self) -> Decimal:
        """The position in base currency, exactly: units * the decimal step."""
        return self.units * self.costs.step_decimal

    def position(self, rules: ExitRules) -> Position | None:
        """The open position as `exit_decision` takes it: levels from the entry fill's price."""
        if self.entry is None:
            return None
        return Position(self.entry, exit_levels(self.entry.price, rules), self.peak)

    def equity(self, mark: float) -> float:
        """Cash plus the position at `mark` (the simulator's equity: cash + amount * close)."""
        if self.entry is None:
            return self.cash
        return self.cash + self.entry.amount * mark

    def unrealized(self, mark: float) -> float:
        """The position marked at `mark` without an exit fee, against its entry cost."""
        if self.entry is None:
            return 0.0
        entry = self.entry
        return unrealized_pnl(entry.amount, mark, entry.notional, entry.fee)

    # --- changes

    def start_day(self, day: str, mark: float) -> None:
        """On the first tick of a new UTC day, its equity at `mark` is the day's base."""
        if day != self.day:
            self.day = day
            self.day_start_equity = self.equity(mark)

    def carry(self, position: Position | None) -> None:
        """Keep the trailing peak `exit_decision` moved on."""
        if position is not None and self.entry is not None:
            self.peak = position.peak

    def bought(self, fill: Fill, *, ts: int) -> None:
        """A buy filled on the candle opening at `ts`: pay for it, hold the position."""
        self.cash = fill.cash_after(self.cash)
        self.entry, self.entry_ts, self.peak = fill, ts, fill.price

    def sold(self, fill: Fill, *, ts: int, reason: str) -> dict[str, Any]:
        """A sale filled on the candle opening at `ts`; returns the trade in the lab's shape.

        A sale of part of the position (a limit order canceled partly filled) closes that part:
        the entry's notional and fee are split in proportion to the units.
        """
        entry = self.entry
        if entry is None:
            raise ValueError("a sale needs an open position")
        if fill.units < entry.units:
            share = fill.units / entry.units
            closed = entry._replace(
                units=fill.units,
                amount=fill.units * self.costs.step,
                notional=entry.notional * share,
                fee=entry.fee * share,
            )
            rest = entry.units - fill.units
            self.entry = entry._replace(
                units=rest,
                amount=rest * self.costs.step,
                notional=entry.notional - closed.notional,
                fee=entry.fee - closed.fee,
            )
        else:
            closed = entry
            self.entry, self.peak = None, None
        self.cash = fill.cash_after(self.cash)
        pnl = round_trip_pnl(closed.notional, closed.fee, fill.notional, fill.fee)
        self.realized += pnl
        self.trades += 1
        trade = {
            "entry_ts": self.entry_ts,
            "exit_ts": ts,
            "entry_price": _money(closed.price),
            "exit_price": _money(fill.price),
            "amount": str(fill.units * self.costs.step_decimal),
            "fees": _money(closed.fee + fill.fee),
            "pnl": _money(pnl),
            "pnl_pct": _money(pnl / (closed.notional + closed.fee) * 100.0),
            "exit_reason": reason,
        }
        if self.entry is None:
            self.entry_ts = None
        return trade

    # --- storage

    def to_json(self) -> dict[str, Any]:
        costs = self.costs
        return {
            "cash": self.cash,
            "start_cash": self.start_cash,
            "costs": {
                "fee_rate": costs.fee_rate,
                "slippage": costs.slippage,
                "step": costs.step,
                "step_decimal": str(costs.step_decimal),
            },
            "day": self.day,
            "day_start_equity": self.day_start_equity,
            "realized": self.realized,
            "trades": self.trades,
            "entry": list(self.entry) if self.entry is not None else None,
            "entry_ts": self.entry_ts,
            "peak": self.peak,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Book | None:
        """The book stored by `to_json`, or None for a run that has not opened one."""
        if not data:
            return None
        c = data["costs"]
        entry = data.get("entry")
        return cls(
            cash=data["cash"],
            start_cash=data["start_cash"],
            costs=Costs(c["fee_rate"], c["slippage"], c["step"], Decimal(c["step_decimal"])),
            day=data["day"],
            day_start_equity=data["day_start_equity"],
            realized=data.get("realized", 0.0),
            trades=data.get("trades", 0),
            entry=Fill(*entry) if entry is not None else None,
            entry_ts=data.get("entry_ts"),
            peak=data.get("peak"),
        )
