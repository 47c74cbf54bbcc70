"""Net positions from a sequence of fills: the averaging rule of the terminal (docs/terminal.md).

Per symbol, fills are applied oldest first to a signed net amount (buys add, sells subtract)
and an average entry price:

- a fill that opens or adds to the position moves the average entry to the amount-weighted
  mean of the old entry and the fill's price;
- a fill against the position reduces it at the unchanged average entry (the difference is
  realized PnL); a position that reaches zero forgets its entry;
- a fill larger than the position closes it and opens the remainder the other way, at the
  fill's price;
- a fee paid in the base asset reduces the amount held (the entry stays); fees paid in the
  quote asset do not enter the average entry.

Unrealized PnL is (mark - average entry) * net amount, so a short position (negative amount)
gains when the mark falls. The average entry is rounded to 16 significant digits and the PnL to
8 decimals, half to even, only when reported.
"""

from __future__ import annotations

import decimal
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

PNL_QUANTUM = Decimal("0.00000001")
ENTRY_DIGITS = 16


@dataclass(frozen=True)
class Fill:
    """What an order filled: `amount` of `symbol` at the average `price`."""

    symbol: str
    side: str  # buy | sell
    amount: Decimal
    price: Decimal
    fee: Decimal | None = None
    fee_currency: str = ""
    base: str = ""  # the symbol's base asset, to recognise fees paid in it


@dataclass
class NetPosition:
    """A symbol's signed net amount and its average entry price (None when flat)."""

    symbol: str
    amount: Decimal = Decimal(0)
    average_entry: Decimal | None = None

    def apply(self, fill: Fill) -> None:
        """Apply one fill by the averaging rule of the module docstring."""
        signed = fill.amount if fill.side == "buy" else -fill.amount
        held = self.amount
        if held == 0 or (held > 0) == (signed > 0):
            total = abs(held) + abs(signed)
            entry = self.average_entry if self.average_entry is not None else fill.price
            self.average_entry = (abs(held) * entry + abs(signed) * fill.price) / total
            self.amount = held + signed
        elif abs(signed) <= abs(held):
            self.amount = held + signed
        else:
            self.amount = held + signed
            self.average_entry = fill.price
        if fill.fee and fill.base and fill.fee_currency == fill.base:
            # The venue kept part of what was bought (or took extra of what was sold).
            self.amount -= fill.fee
        if self.amount == 0:
            self.average_entry = None

    def unrealized_pnl(self, mark: Decimal | None) -> Decimal | None:
        """(mark - average entry) * amount, rounded to 8 decimals; None without a mark."""
        if mark is None or self.average_entry is None:
            return None if mark is None else Decimal(0)
        pnl = (mark - self.average_entry) * self.amount
        return pnl.quantize(PNL_QUANTUM, rounding=decimal.ROUND_HALF_EVEN)

    def rounded_entry(self) -> Decimal | None:
        """The average entry rounded to 16 significant digits."""
        if self.average_entry is None:
            return None
        with decimal.localcontext() as context:
            context.prec = ENTRY_DIGITS
            context.rounding = decimal.ROUND_HALF_EVEN
            return +self.average_entry


def net_positions(fills: Iterable[Fill]) -> dict[str, NetPosition]:
    """Every symbol's net position after `fills` (oldest first), flat ones left out."""
    positions: dict[str, NetPosition] = {}
    for fill in fills:
        if fill.amount <= 0:
            continue
        positions.setdefault(fill.symbol, NetPosition(fill.symbol)).apply(fill)
    return {symbol: p for symbol, p in positions.items() if p.amount != 0}
