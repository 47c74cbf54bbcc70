"""Market data and balances of a connection, read through its gateway in the API's shapes.

Numbers stay Decimals here (the serializers write them as strings); timestamps are epoch ms.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from exchanges.factory import gateway_for
from exchanges.models import ExchangeConnection
from exchanges.numbers import to_decimal
from exchanges.orders import market_limit, market_step

MAX_CANDLES = 1000
DEFAULT_CANDLES = 500


def instruments(*, connection: ExchangeConnection) -> list[dict[str, Any]]:
    """The connection's active spot markets by symbol, with their precision and limits."""
    with gateway_for(connection) as gateway:
        markets = gateway.load_markets()
    result = []
    for symbol in sorted(markets):
        market = markets[symbol]
        if market.get("spot") is False or market.get("active") is False:
            continue  # the terminal trades spot; inactive markets take no orders
        result.append(
            {
                "symbol": symbol,
                "base": market.get("base") or "",
                "quote": market.get("quote") or "",
                "price_step": market_step(market, "price"),
                "amount_step": market_step(market, "amount"),
                "min_amount": market_limit(market, "amount", "min"),
                "min_notional": market_limit(market, "cost", "min"),
            }
        )
    return result


def ticker(*, connection: ExchangeConnection, symbol: str) -> dict[str, Any]:
    """The current ticker of `symbol` (UnknownSymbol, pointer /symbol, if the venue has none)."""
    with gateway_for(connection) as gateway:
        raw = gateway.fetch_ticker(symbol)
    return {
        "symbol": raw.get("symbol") or symbol,
        "ts": raw.get("timestamp"),
        "last": to_decimal(raw.get("last")),
        "bid": to_decimal(raw.get("bid")),
        "ask": to_decimal(raw.get("ask")),
        "high": to_decimal(raw.get("high")),
        "low": to_decimal(raw.get("low")),
        "volume": to_decimal(raw.get("baseVolume")),
    }


def candles(
    *, connection: ExchangeConnection, symbol: str, timeframe: str, limit: int
) -> list[dict[str, Any]]:
    """The latest `limit` candles of `symbol`, oldest first, the last one possibly forming."""
    with gateway_for(connection) as gateway:
        gateway.market(symbol)  # UnknownSymbol before asking for candles
        rows = gateway.fetch_ohlcv(symbol, timeframe, limit=limit)
    return [
        {
            "ts": int(row[0]),
            "open": to_decimal(row[1]),
            "high": to_decimal(row[2]),
            "low": to_decimal(row[3]),
            "close": to_decimal(row[4]),
            "volume": to_decimal(row[5]),
        }
        for row in rows[-limit:]
    ]


def balances(*, connection: ExchangeConnection) -> list[dict[str, Any]]:
    """The connection's account by asset: free, used (held by open orders) and total."""
    with gateway_for(connection) as gateway:
        raw = gateway.fetch_balance()
    total = raw.get("total") or {}
    free, used = raw.get("free") or {}, raw.get("used") or {}
    return [
        {
            "asset": asset,
            "free": to_decimal(free.get(asset)) or Decimal(0),
            "used": to_decimal(used.get(asset)) or Decimal(0),
            "total": to_decimal(total.get(asset)) or Decimal(0),
        }
        for asset in sorted(total)
    ]
