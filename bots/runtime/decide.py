"""What a run does on a closed candle: the fill model's decision, pure (no Django, no I/O).

The same rules as the lab's simulator (docs/strategy-dsl.md §4, §6 "How bots call it"):

- in a position, every close from the fill candle's own on is checked by `exit_decision`
  (stop-loss, trailing stop, take-profit, then the exit signal); a reason sells the whole
  position (`fill_exit`) at the venue's price, and entry signals are ignored;
- flat, an entry signal buys `size_entry(cash, price, sizing, costs)` at the venue's price (the
  next candle's open in a replay); an order that cannot buy one step is rejected and the run
  stays flat;
- `max_position_quote` caps an entry: a buy whose notional plus fee would exceed it is sized as
  a `fixed_quote` of the cap instead (the cap is not part of the lab's model: a replay that
  must match a backtest leaves it at least the account's cash).
"""

from __future__ import annotations

from dataclasses import dataclass

from bots.runtime.book import Book
from strategies.engine import LatestSignal
from strategies.engine.compiler import ExitRules, Sizing
from strategies.engine.fills import Fill, Position, exit_decision, fill_exit, size_entry

ENTER = "enter"  # buy `fill` (the fill model's order at the sizing price)
EXIT = "exit"  # sell the whole position for `reason`
REJECTED = "rejected"  # an entry signal that cannot buy one amount step: stay flat
NONE = "none"  # nothing to do on this candle


@dataclass(frozen=True)
class Decision:
    """One candle's decision. `position` is the open position after `exit_decision` (its
    trailing peak moved on), `capped_from` the entry before `max_position_quote` cut it."""

    action: str
    signal: LatestSignal
    reason: str | None = None
    fill: Fill | None = None
    position: Position | None = None
    capped_from: Fill | None = None


def decide(
    *,
    book: Book,
    signal: LatestSignal,
    close: float,
    price: float,
    sizing: Sizing,
    exits: ExitRules,
    cap_quote: float | None,
    position: Position | None = None,
) -> Decision:
    """The decision on the candle that closed at `close`, given `signal` evaluated on it.

    `price` is what an order sent now fills near (the sizing price). `position` is the open
    position to check when the caller carried it over earlier candles already (its peak);
    by default the book's.
    """
    costs = book.costs
    if not book.flat:
        held = position if position is not None else book.position(exits)
        reason, held = exit_decision(held, close, exit_signal=signal.exit)
        if reason is None:
            return Decision(NONE, signal, position=held)
        sale = fill_exit(units=book.units, open_price=price, costs=costs)
        return Decision(EXIT, signal, reason=reason, fill=sale, position=held)
    if not signal.entry:
        return Decision(NONE, signal)
    buy = size_entry(cash=book.cash, open_price=price, sizing=sizing, costs=costs)
    capped = None
    if buy is not None and cap_quote is not None and buy.notional + buy.fee > cap_quote:
        capped = buy
        buy = size_entry(
            cash=book.cash, open_price=price, sizing=Sizing("fixed_quote", cap_quote), costs=costs
        )
    if buy is None:
        return Decision(REJECTED, signal, capped_from=capped)
    return Decision(ENTER, signal, fill=buy, capped_from=capped)
