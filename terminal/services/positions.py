"""Positions of a connection: the journal's fills, marked at the venue's last price."""

from __future__ import annotations

from typing import Any

from exchanges.factory import gateway_for
from exchanges.models import ExchangeConnection
from exchanges.numbers import to_decimal
from terminal import selectors
from terminal.positions import Fill, net_positions
from workspaces.models import Workspace


def positions(*, workspace: Workspace, connection: ExchangeConnection) -> list[dict[str, Any]]:
    """Net positions of the workspace's filled orders on `connection`, marked at the last price.

    Reads the journal as it is (the periodic refresh brings fills in) and one ticker per
    symbol held; it writes nothing. The averaging rule is terminal.positions'.
    """
    fills = [
        Fill(
            symbol=order.symbol,
            side=order.side,
            amount=order.filled,
            price=order.average,
            fee=order.fee,
            fee_currency=order.fee_currency,
            base=order.symbol.split("/")[0],
        )
        for order in selectors.filled_orders(workspace=workspace, connection=connection)
    ]
    nets = net_positions(fills)
    if not nets:
        return []
    result = []
    with gateway_for(connection) as gateway:
        for symbol in sorted(nets):
            net = nets[symbol]
            mark = to_decimal(gateway.fetch_ticker(symbol).get("last"))
            result.append(
                {
                    "symbol": symbol,
                    "amount": net.amount,
                    "average_entry": net.rounded_entry(),
                    "mark": mark,
                    "unrealized_pnl": net.unrealized_pnl(mark),
                }
            )
    return result
