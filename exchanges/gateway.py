"""The exchange gateway: one interface, named like ccxt's unified API, for every venue.

The terminal, the bots and the lab talk to exchanges only through `gateway_for(connection)`:

    gateway = gateway_for(connection)
    gateway.load_markets()            -> {symbol: market}
    gateway.fetch_ticker(symbol)      -> {symbol, timestamp, last, bid, ask, high, low, open,
                                          close, baseVolume}
    gateway.fetch_ohlcv(symbol, timeframe="1m", since=None, limit=None)
                                      -> [[ts_ms, open, high, low, close, volume], …] oldest first
    gateway.create_order(symbol, type, side, amount, price=None, params={"clientOrderId": …})
    gateway.cancel_order(id, symbol=None, params=None)
    gateway.fetch_order(id, symbol=None, params=None)    (params={"clientOrderId": …} finds an
                                                          order by the id its placer gave it)
    gateway.fetch_open_orders(symbol=None)               -> [order, …]
    gateway.fetch_balance()           -> {"free": {asset: …}, "used": {…}, "total": {…}}

Markets follow ccxt's unified market structure, with `precision.amount` and `precision.price`
always given as step sizes (ccxt's TICK_SIZE mode: 0.00001, not 5 decimal places) and
`limits.amount.min`, `limits.cost.min` (minimum notional) as ccxt fills them. Orders use ccxt's
unified keys: id, clientOrderId, timestamp, datetime, lastTradeTimestamp, symbol, type, side,
amount, price, status (open|closed|canceled|expired|rejected), filled, remaining, average, cost,
fee {cost, currency}. Every number the gateway returns (prices, amounts, balances, fees, market
precision and limits) is a `Decimal`; timestamps are int epoch milliseconds (UTC).

Errors are the problems of `exchanges.exceptions`: ExchangeAuthFailed, ExchangeUnreachable,
ExchangeRateLimited, ExchangeNotSupported, ExchangeError, InvalidOrder, InsufficientFunds,
UnknownSymbol, OrderNotFound (and ConnectionSecretsUnavailable, LiveTradingNotApproved from the
factory). Order errors point at the argument at fault (`/amount`, `/price`, `/symbol` …).

`demo` connections get the built-in demo exchange (exchanges.demo.venue); every other exchange
id is a ccxt exchange (exchanges.ccxt_gateway), in sandbox mode for `testnet` connections.
"""

from __future__ import annotations

import abc
from decimal import Decimal
from typing import Any

from django.views.decorators.debug import sensitive_variables

from exchanges.exceptions import InvalidOrder, LiveTradingNotApproved, UnknownSymbol
from exchanges.models import ExchangeConnection
from exchanges.numbers import to_decimal

DEMO_EXCHANGE = "demo"
ORDER_SIDES = ("buy", "sell")
ORDER_TYPES = ("market", "limit")
ORDER_STATUSES = ("open", "closed", "canceled", "expired", "rejected")


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


@sensitive_variables("credentials")  # kept out of error reports
def gateway_for(connection: ExchangeConnection) -> Gateway:
    """The gateway of `connection`; its credentials are decrypted here and nowhere else.

    Raises LiveTradingNotApproved for `live` connections (until the two-person approval of live
    mode exists), ConnectionSecretsUnavailable when no configured key opens the credentials, and
    ExchangeNotSupported for an exchange or mode the gateway cannot serve.
    """
    if connection.exchange == DEMO_EXCHANGE:
        from exchanges.demo.venue import DemoGateway

        return DemoGateway(connection)
    if connection.mode == ExchangeConnection.Mode.LIVE:
        raise LiveTradingNotApproved(
            "Live connections stay disabled until live trading is approved by two admins."
        )
    from exchanges import crypto
    from exchanges.ccxt_gateway import CcxtGateway

    credentials: dict[str, str] = {}
    if connection.encrypted_secret:
        credentials = crypto.unseal(
            connection.encrypted_secret,
            sealed_key_id=connection.secret_key_id,
            connection_id=connection.pk,
        )
    return CcxtGateway(connection, credentials)


# --------------------------------------------------------------------------- shared helpers


def check_order_arguments(
    *,
    type: str,
    side: str,
    amount: Any,
    price: Any,
) -> tuple[Decimal, Decimal | None]:
    """Validate what every venue needs of an order; return amount and price as Decimals."""
    if type not in ORDER_TYPES:
        raise InvalidOrder(
            f"The order type must be one of {', '.join(ORDER_TYPES)}.", pointer="/type"
        )
    if side not in ORDER_SIDES:
        raise InvalidOrder(f"The side must be one of {', '.join(ORDER_SIDES)}.", pointer="/side")
    decimal_amount = to_decimal(amount)
    if decimal_amount is None or decimal_amount <= 0:
        raise InvalidOrder("The amount must be a positive number.", pointer="/amount")
    decimal_price = to_decimal(price) if price is not None else None
    if type == "limit":
        if decimal_price is None or decimal_price <= 0:
            raise InvalidOrder("A limit order needs a positive price.", pointer="/price")
    elif price is not None and (decimal_price is None or decimal_price <= 0):
        raise InvalidOrder("The price must be a positive number.", pointer="/price")
    return decimal_amount, decimal_price


def client_order_id_of(params: dict[str, Any] | None) -> str | None:
    """The client order id a caller put in `params` (ccxt's unified `clientOrderId`)."""
    value = (params or {}).get("clientOrderId")
    if value is None or value == "":
        return None
    return str(value)
