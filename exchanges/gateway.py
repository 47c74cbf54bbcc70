"""The exchange gateway's interface: named like ccxt's unified API, one for every venue.

The terminal, the bots and the lab talk to exchanges only through a `Gateway`, which
`exchanges.factory.gateway_for(connection)` builds for a connection:

    with gateway_for(connection) as gateway:
        gateway.load_markets()        -> {symbol: market}
        gateway.market(symbol)        -> one market, or UnknownSymbol
        gateway.fetch_ticker(symbol)  -> {symbol, timestamp, last, bid, ask, high, low, open,
                                          close, baseVolume}
        gateway.fetch_ohlcv(symbol, timeframe="1m", since=None, limit=None)
                                      -> [[ts_ms, open, high, low, close, volume], …] oldest first
        gateway.create_order(symbol, type, side, amount, price=None, params={"clientOrderId": …})
        gateway.cancel_order(id, symbol=None, params=None)
        gateway.fetch_order(id, symbol=None, params=None)    (params={"clientOrderId": …} finds an
                                                              order by the id its placer gave it)
        gateway.fetch_open_orders(symbol=None)               -> [order, …]
        gateway.fetch_balance()       -> {"free": {asset: …}, "used": {…}, "total": {…}}

Markets follow ccxt's unified market structure, with `precision.amount` and `precision.price`
always given as step sizes (ccxt's TICK_SIZE mode: 0.00001, not 5 decimal places) and
`limits.amount.min`, `limits.cost.min` (minimum notional) as ccxt fills them. Orders use ccxt's
unified keys: id, clientOrderId, timestamp, datetime, lastTradeTimestamp, symbol, type, side,
amount, price, status, filled, remaining, average, cost, fee {cost, currency}; sides, types and
statuses are those of `exchanges.orders`. Every number the gateway returns (prices, amounts,
balances, fees, market precision and limits) is a `Decimal`; timestamps are int epoch
milliseconds (UTC).

`create_order` checks the order against its market with `exchanges.orders.check_order` (every
venue the same rules) before anything venue-specific.

Errors are the problems of `exchanges.exceptions`: ExchangeAuthFailed, ExchangeUnreachable,
ExchangeRateLimited, ExchangeNotSupported, ExchangeError, InvalidOrder, InsufficientFunds,
UnknownSymbol, OrderNotFound (and ConnectionSecretsUnavailable, LiveTradingNotApproved from the
factory). Order errors point at the argument at fault (`/amount`, `/price`, `/symbol` …).

This module is the interface only: the venues (exchanges.demo.venue, exchanges.ccxt_gateway)
import it, and the factory imports the venues.
"""

from __future__ import annotations

import abc
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from exchanges.exceptions import UnknownSymbol

if TYPE_CHECKING:
    from exchanges.models import ExchangeConnection

DEMO_EXCHANGE = "demo"


class Gateway(abc.ABC):
    """One connection's venue, behind ccxt's unified method names (see the module docstring)."""

    connection: ExchangeConnection
    exchange_id: str
    # Whether the venue can act on the account (balances, orders); a ccxt connection without
    # an API key still reads public market data.
    has_credentials: bool = True

    @abc.abstractmethod
    def load_markets(self, reload: bool = False) -> dict[str, dict[str, Any]]:
        """Every market of the venue by unified symbol ("BTC/USDT")."""

    @abc.abstractmethod
    def fetch_ticker(self, symbol: str) -> dict[str, Any]:
        """The current ticker of `symbol`: last, bid, ask and the trailing 24 h figures."""

    @abc.abstractmethod
    def fetch_ohlcv(
        self, symbol: str, timeframe: str = "1m", since: int | None = None, limit: int | None = None
    ) -> list[list[Any]]:
        """Candles `[ts_ms, open, high, low, close, volume]` oldest first.

        Without `since`, the latest `limit` candles, the last one still forming; with `since`,
        candles opening at or after it.
        """

    @abc.abstractmethod
    def create_order(
        self,
        symbol: str,
        type: str,
        side: str,
        amount: Decimal | str | float,
        price: Decimal | str | float | None = None,
        params: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Place an order; `params={"clientOrderId": …}` names it for idempotent retries."""

    @abc.abstractmethod
    def cancel_order(
        self,
        id: str,
        symbol: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Cancel an open order and return it as it is afterwards."""

    @abc.abstractmethod
    def fetch_order(
        self,
        id: str,
        symbol: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """One order by id, or by `params={"clientOrderId": …}`."""

    @abc.abstractmethod
    def fetch_open_orders(self, symbol: str | None = None) -> list[dict[str, Any]]:
        """The account's open orders (of `symbol`), oldest first."""

    @abc.abstractmethod
    def fetch_balance(self) -> dict[str, dict[str, Decimal]]:
        """`{"free": {asset: amount}, "used": {…}, "total": {…}}`; zero totals are left out."""

    def market(self, symbol: str) -> dict[str, Any]:
        """The market of `symbol`, or UnknownSymbol."""
        market = self.load_markets().get(symbol)
        if market is None:
            raise UnknownSymbol(f"{self.exchange_id} has no market {symbol!r}.")
        return market

    def close(self) -> None:  # noqa: B027  (optional: only venues with sessions override it)
        """Release the venue's resources (HTTP sessions); the gateway is not used afterwards."""

    def __enter__(self) -> Gateway:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:  # never the credentials: only what identifies the venue
        return f"<{type(self).__name__} {self.exchange_id} connection={self.connection.pk}>"
