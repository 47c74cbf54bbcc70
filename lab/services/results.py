"""A finished simulation as rows: the trades (streamed in with COPY) and the open position."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from django.db import connection

from exchanges.epoch import datetime_from_ms
from exchanges.numbers import plain_decimal
from lab.models import TRADE_FIELDS, Backtest, BacktestTrade
from lab.simulator import BacktestResult


def money(value: float) -> Decimal:
    """A simulator amount (rounded to 8 decimals) as the exact Decimal it prints as."""
    return Decimal(f"{value:.8f}")


_TRADE_COLUMNS = ("id", "backtest_id", *TRADE_FIELDS)


def _trade_values(backtest: Backtest, result: BacktestResult) -> list[tuple]:
    """One tuple per trade in _TRADE_COLUMNS order; money as exact 8-decimal strings."""
    return [
        (
            uuid.uuid4(),
            backtest.pk,
            seq,
            datetime_from_ms(trade.entry_ts),
            datetime_from_ms(trade.exit_ts),
            f"{trade.entry_price:.8f}",
            f"{trade.exit_price:.8f}",
            trade.amount_str,
            f"{trade.fees:.8f}",
            f"{trade.pnl:.8f}",
            f"{trade.pnl_pct:.8f}",
            trade.exit_reason,
        )
        for seq, trade in enumerate(result.trades, start=1)
    ]


def insert_trades(backtest: Backtest, result: BacktestResult) -> None:
    """Insert a backtest's trades; tens of thousands of rows must not dominate the run.

    On PostgreSQL the rows stream in with COPY (about ten times faster than multi-row
    INSERTs); other databases get Django's bulk_create with the same values.
    """
    rows = _trade_values(backtest, result)
    if not rows:
        return
    if connection.vendor == "postgresql":
        table = connection.ops.quote_name(BacktestTrade._meta.db_table)
        columns = ", ".join(connection.ops.quote_name(name) for name in _TRADE_COLUMNS)
        with connection.cursor() as cursor:
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        return
    BacktestTrade.objects.bulk_create(
        [BacktestTrade(**dict(zip(_TRADE_COLUMNS, row, strict=True))) for row in rows],
        batch_size=2000,
    )


def open_position_json(result: BacktestResult) -> dict[str, Any] | None:
    position = result.open_position
    if position is None:
        return None
    return {
        "entry_time": datetime_from_ms(position.entry_ts).isoformat().replace("+00:00", "Z"),
        "entry_price": f"{position.entry_price:.8f}",
        "amount": plain_decimal(position.amount_str),
        "mark_price": f"{position.mark_price:.8f}",
        "unrealized_pnl": f"{position.unrealized_pnl:.8f}",
    }
