"""Backtest simulator: walks a dataset through the fill model of SPEC §9 and reports metrics.

The fill rules (prices with slippage, fees, sizing in whole amount steps, rejections, the
stop-loss, trailing-stop and take-profit levels and their precedence) are
``strategies.engine.fills``, the functions a bot's tick calls too; this module only decides
which candles they apply to. A signal on the last candle has no next open: no order. A position
still open at the end is marked at the last close, without an exit fee, and is not a trade.

Numbers: cash and PnL are float64, each computed by one fixed sequence of correctly rounded
operations, so every run on every machine gives identical bits; reported money and
percentages are rounded to 8 decimals (floats; ``as_dict`` renders them as decimal strings).
The loop visits signals and fills only, never every candle, so a million candles cost what
their trades cost. No Django here: the lab's task calls ``simulate`` and stores the result.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np

from strategies.engine import (
    ENGINE_VERSION,
    TIMEFRAME_MS,
    Candles,
    ExitRules,
    Plan,
    Signals,
    Sizing,
    fills,
)

__all__ = [
    "ENGINE_VERSION",
    "BacktestResult",
    "Metrics",
    "OpenPosition",
    "Trade",
    "metrics_of",
    "simulate",
]

_YEAR_MS = 365 * 24 * 3_600_000  # crypto trades every day: no trading-day calendar


def _round(value: float) -> float:
    """Round money/percentages to 8 decimals, bit for bit as np.round(value, 8) does.

    np.round computes rint(value * 1e8) / 1e8; Python's round() of a float is the same
    half-to-even rint, and the int converts back exactly. Done in Python because a NumPy call
    per scalar cost more than the rest of a trade's bookkeeping.
    """
    return round(value * 1e8) / 1e8


def _money_str(value: float) -> str:
    return f"{value:.8f}"


# Not frozen: a frozen dataclass's __init__ costs ~2 µs, which at tens of thousands of trades
# per backtest was a tenth of the engine's time. Treat Trade records as read-only.
@dataclass(slots=True)
class Trade:
    """A closed round trip. Prices include slippage; ``fees`` are both sides' fees in quote.

    ``pnl`` = (exit notional - exit fee) - (entry notional + entry fee); ``pnl_pct`` is pnl
    over the entry cost (notional + fee), in percent. Indices are the fill candles'.
    """

    entry_ts: int
    exit_ts: int
    entry_price: float
    exit_price: float
    amount: float
    fees: float
    pnl: float
    pnl_pct: float
    exit_reason: str  # signal | take_profit | stop_loss | trailing_stop
    entry_index: int
    exit_index: int
    amount_str: str  # exact decimal amount (whole steps)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: money and amounts as decimal strings, times as ms since epoch."""
        return {
            "entry_ts": self.entry_ts,
            "exit_ts": self.exit_ts,
            "entry_price": _money_str(self.entry_price),
            "exit_price": _money_str(self.exit_price),
            "amount": self.amount_str,
            "fees": _money_str(self.fees),
            "pnl": _money_str(self.pnl),
            "pnl_pct": _money_str(self.pnl_pct),
            "exit_reason": self.exit_reason,
        }


@dataclass(frozen=True)
class OpenPosition:
    """A position still open at the last candle, marked at its close without an exit fee."""

    entry_ts: int
    entry_index: int
    entry_price: float
    amount: float
    entry_fee: float
    mark_price: float
    unrealized_pnl: float  # amount*mark - (entry notional + entry fee)
    amount_str: str


@dataclass(frozen=True)
class Metrics:
    """Report metrics; definitions in docs/strategy-dsl.md ("Metrics")."""

    net_pnl: float
    net_pnl_pct: float
    win_rate: float
    max_drawdown_pct: float
    trades: int
    profit_factor: float | None
    sharpe: float
    exposure_pct: float

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: money as a decimal string, ratios as numbers, profit_factor maybe null."""
        return {
            "net_pnl": _money_str(self.net_pnl),
            "net_pnl_pct": self.net_pnl_pct,
            "win_rate": self.win_rate,
            "max_drawdown_pct": self.max_drawdown_pct,
            "trades": self.trades,
            "profit_factor": self.profit_factor,
            "sharpe": self.sharpe,
            "exposure_pct": self.exposure_pct,
        }


@dataclass(frozen=True, eq=False)
class BacktestResult:
    """Everything a backtest produces. ``equity`` is per candle, at its close, on ``equity_ts``."""

    engine_version: str
    initial_cash: float
    final_equity: float
    metrics: Metrics
    trades: tuple[Trade, ...]
    equity_ts: np.ndarray  # int64 ms
    equity: np.ndarray  # float64, rounded to 8 decimals
    rejected_orders: int
    open_position: OpenPosition | None

    def equity_points(self) -> list[tuple[int, float]]:
        """The equity curve as (ts, equity) pairs."""
        return list(zip(self.equity_ts.tolist(), self.equity.tolist(), strict=True))


@dataclass
class _Book:
    """Mutable state of one simulation.

    Equity changes are logged as (candle, cash, units) from that candle's close on; closed
    trades as raw numbers, turned into Trade records column-wise once the loop is done.
    """

    cash: float
    change_at: list[int]
    cash_after: list[float]
    units_after: list[int]
    # (entry candle, exit candle, buy, sale) per closed trade, and its exit reason.
    closed: list[tuple[int, int, fills.Fill, fills.Fill]]
    reasons: list[str]
    rejected: int = 0
    # The position being held: (fill candle, buy).
    holding: tuple[int, fills.Fill] | None = None


def simulate(
    *,
    plan_or_signals: Plan | Signals,
    candles: Candles | Mapping[str, Any],
    initial_cash: float | int | str | Decimal,
    fee_bps: float | int | str | Decimal,
    slippage_bps: float | int | str | Decimal,
    amount_step: float | int | str | Decimal,
    sizing: Sizing | None = None,
    exits: ExitRules | None = None,
    timeframe: str | None = None,
) -> BacktestResult:
    """Backtest signals (or a compiled plan, evaluated here) on ``candles``; see module doc.

    ``sizing`` and ``exits`` default to the plan's; with bare Signals they default to 100% of
    equity and no percentage exits. ``timeframe`` (for annualising the Sharpe ratio) defaults
    to the plan's or the signals', else to the median candle spacing. Money out is float64
    rounded to 8 decimals; ``Trade.as_dict``/``Metrics.as_dict`` give decimal strings.
    """
    c = Candles.of(candles)
    if isinstance(plan_or_signals, Plan):
        signals = plan_or_signals.evaluate(c)
        sizing = sizing or plan_or_signals.sizing
        exits = exits or plan_or_signals.exits
    else:
        signals = plan_or_signals
    sizing = sizing or Sizing("percent_equity", 100.0)
    exits = exits or ExitRules()
    rows = len(c)
    if signals.entry.shape != (rows,) or signals.exit.shape != (rows,):
        raise ValueError("signals and candles must have the same number of rows")
    cash0 = fills.checked_number(initial_cash, "initial_cash", positive=True)
    costs = fills.Costs.of(fee_bps=fee_bps, slippage_bps=slippage_bps, amount_step=amount_step)

    book = _Book(cash0, [0], [cash0], [0], [], [])
    _run_fills(book, signals, c, sizing, exits, costs)
    return _report(book, c, cash0, costs, _timeframe_ms(timeframe, signals, c))


def _timeframe_ms(timeframe: str | None, signals: Signals, c: Candles) -> float:
    name = timeframe or signals.timeframe
    if name is not None:
        if name not in TIMEFRAME_MS:
            raise ValueError(f"unknown timeframe {name!r}")
        return float(TIMEFRAME_MS[name])
    if len(c) < 2:
        return float(TIMEFRAME_MS["1m"])  # one candle: Sharpe is 0 whatever the scale
    return float(np.median(np.diff(c.ts)))


def _run_fills(
    book: _Book,
    signals: Signals,
    c: Candles,
    sizing: Sizing,
    exits: ExitRules,
    costs: fills.Costs,
) -> None:
    """Walk from signal to fill to exit; only candles with an event cost Python time."""
    rows = len(c)
    entries = np.flatnonzero(signals.entry).tolist()
    exit_signals = np.flatnonzero(signals.exit).tolist()
    scanner = fills.ExitScanner(c.close, exits)
    opens = c.open
    # Local names for the hot loop: it runs once per trade, up to tens of thousands of times.
    size_entry, fill_exit = fills.size_entry, fills.fill_exit
    cash = book.cash
    log_at, log_cash, log_units = (
        book.change_at.append,
        book.cash_after.append,
        book.units_after.append,
    )
    start = 0  # first candle whose close may open a position
    while True:
        k = bisect_left(entries, start)
        if k == len(entries):
            break
        fill = entries[k] + 1
        if fill >= rows:
            break  # a signal on the last candle: there is no next open to fill at
        entry = size_entry(cash=cash, open_price=float(opens[fill]), sizing=sizing, costs=costs)
        if entry is None:
            book.rejected += 1
            start = fill
            continue
        cash = entry.cash_after(cash)
        log_at(fill)
        log_cash(cash)
        log_units(entry.units)
        book.holding = (fill, entry)

        first_exit = bisect_left(exit_signals, fill)
        signal_at = exit_signals[first_exit] if first_exit < len(exit_signals) else None
        found = scanner.first(entry.price, fill, signal_at)
        if found is None or found[0] >= rows - 1:
            break  # no exit before the end: the position stays open and is marked
        trigger, reason = found
        out = trigger + 1
        sale = fill_exit(units=entry.units, open_price=float(opens[out]), costs=costs)
        cash = sale.cash_after(cash)
        log_at(out)
        log_cash(cash)
        log_units(0)
        book.holding = None
        book.closed.append((fill, out, entry, sale))
        book.reasons.append(reason)
        start = out
    book.cash = cash


def _report(
    book: _Book,
    c: Candles,
    cash0: float,
    costs: fills.Costs,
    timeframe_ms: float,
) -> BacktestResult:
    rows = len(c)
    # Cash and units hold from their change candle on; equity = cash + units*step*close.
    lengths = np.diff(np.asarray([*book.change_at, rows]))
    units = np.repeat(np.asarray(book.units_after, dtype=np.int64), lengths)
    equity = np.repeat(np.asarray(book.cash_after), lengths) + (units * costs.step) * c.close
    final = float(equity[-1]) if rows else cash0
    trades = _trades(book, c, costs.step_decimal)

    open_position = None
    if book.holding is not None:
        fill, entry = book.holding
        mark = float(c.close[-1])
        amount = entry.amount_decimal(costs.step_decimal)
        open_position = OpenPosition(
            entry_ts=int(c.ts[fill]),
            entry_index=fill,
            entry_price=_round(entry.price),
            amount=float(amount),
            entry_fee=_round(entry.fee),
            mark_price=_round(mark),
            unrealized_pnl=_round(
                fills.unrealized_pnl(entry.amount, mark, entry.notional, entry.fee)
            ),
            amount_str=str(amount),
        )

    return BacktestResult(
        engine_version=ENGINE_VERSION,
        initial_cash=_round(cash0),
        final_equity=_round(final),
        metrics=_metrics([t.pnl for t in trades], equity, units, cash0, final, timeframe_ms),
        trades=tuple(trades),
        equity_ts=c.ts.astype(np.int64),
        equity=np.round(equity, 8),
        rejected_orders=book.rejected,
        open_position=open_position,
    )


def _trades(book: _Book, c: Candles, step_dec: Decimal) -> list[Trade]:
    """Trade records of the closed round trips, derived column-wise (same IEEE operations)."""
    if not book.closed:
        return []
    fill, out, buys, sales = zip(*book.closed, strict=True)
    fill, out = np.asarray(fill), np.asarray(out)
    _, price, units, _, notional, fee = zip(*buys, strict=True)
    _, exit_price, _, _, exit_notional, exit_fee = zip(*sales, strict=True)
    price, notional, fee, exit_price, exit_notional, exit_fee = (
        np.asarray(column) for column in (price, notional, fee, exit_price, exit_notional, exit_fee)
    )
    cost = notional + fee
    pnl = fills.round_trip_pnl(notional, fee, exit_notional, exit_fee)
    columns = (
        c.ts[fill].astype(np.int64).tolist(),
        c.ts[out].astype(np.int64).tolist(),
        *(np.round(v, 8).tolist() for v in (price, exit_price, fee + exit_fee, pnl)),
        np.round(pnl / cost * 100.0, 8).tolist(),
        book.reasons,
        fill.tolist(),
        out.tolist(),
        [units_ * step_dec for units_ in units],
    )
    return [
        Trade(e_ts, x_ts, e_px, x_px, float(amount), fees, p, p_pct, why, e_i, x_i, str(amount))
        for e_ts, x_ts, e_px, x_px, fees, p, p_pct, why, e_i, x_i, amount in zip(
            *columns, strict=True
        )
    ]


def metrics_of(
    *,
    pnls: list[float],
    equity: np.ndarray,
    units: np.ndarray,
    initial_cash: float | int | str | Decimal,
    timeframe: str,
) -> Metrics:
    """The report metrics of a walk over a dataset that was not made by ``simulate``.

    ``pnls`` are the closed trades' pnl as ``Trade.pnl`` holds it (rounded to 8 decimals);
    ``equity`` is unrounded, one per candle at its close, and ``units`` the amount steps held
    at each close. A bot's replay, which walks a dataset candle by candle through the tick,
    reports its metrics through here: the same definitions by the same operations.
    """
    cash0 = fills.checked_number(initial_cash, "initial_cash", positive=True)
    final = float(equity[-1]) if equity.size else cash0
    return _metrics(list(pnls), equity, units, cash0, final, float(TIMEFRAME_MS[timeframe]))


def _metrics(
    pnls: list[float],
    equity: np.ndarray,
    units: np.ndarray,
    cash0: float,
    final: float,
    timeframe_ms: float,
) -> Metrics:
    rows = equity.size
    wins = sum(1 for p in pnls if p > 0)
    gross_profit = math.fsum(p for p in pnls if p > 0)
    gross_loss = -math.fsum(p for p in pnls if p < 0)
    sharpe = 0.0
    max_dd = 0.0
    if rows:
        # Sequential sums (cumsum) rather than np.sum/np.mean: their order is fixed.
        previous = np.concatenate(([cash0], equity[:-1]))
        returns = equity / previous - 1.0
        if rows >= 2:
            mean = float(np.cumsum(returns)[-1]) / rows
            deviation = returns - mean
            variance = float(np.cumsum(deviation * deviation)[-1]) / (rows - 1)
            if variance > 0.0:
                sharpe = mean / math.sqrt(variance) * math.sqrt(_YEAR_MS / timeframe_ms)
        peak = np.maximum.accumulate(np.concatenate(([cash0], equity)))
        max_dd = float(((peak[1:] - equity) / peak[1:]).max()) * 100.0
    return Metrics(
        net_pnl=_round(final - cash0),
        net_pnl_pct=_round((final - cash0) / cash0 * 100.0),
        win_rate=_round(wins / len(pnls) * 100.0) if pnls else 0.0,
        max_drawdown_pct=_round(max_dd),
        trades=len(pnls),
        profit_factor=_round(gross_profit / gross_loss) if gross_loss > 0 else None,
        sharpe=_round(sharpe),
        exposure_pct=_round(float(np.count_nonzero(units)) / rows * 100.0) if rows else 0.0,
    )
