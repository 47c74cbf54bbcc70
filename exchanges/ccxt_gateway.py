"""The gateway to every exchange ccxt supports: ccxt's own client, with our errors and Decimals.

A client is built per gateway with ccxt's rate limiter on (`enableRateLimit`), a timeout
(`EXCHANGE_TIMEOUT_MS`) and, for `testnet` connections, ccxt's sandbox mode. Markets are cached
in Django's cache (Redis) per exchange id and mode, and handed to every new client with
`set_markets`, so a ticker request costs one HTTP call instead of reloading thousands of
markets. ccxt's exceptions become the problems of `exchanges.exceptions` with messages written
here: ccxt's own messages hold request URLs and response bodies, which are not ours to show.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import ccxt
from django.conf import settings
from django.core.cache import cache
from django.views.decorators.debug import sensitive_variables

from config.logging import redact_text
from exchanges.exceptions import (
    ExchangeAuthFailed,
    ExchangeError,
    ExchangeNotSupported,
    ExchangeRateLimited,
    ExchangeUnreachable,
    InsufficientFunds,
    InvalidOrder,
    OrderNotFound,
    UnknownSymbol,
)
from exchanges.gateway import Gateway
from exchanges.models import ExchangeConnection
from exchanges.numbers import to_decimal
from exchanges.orders import OrderStatus, OrderType, check_venue_order

logger = logging.getLogger(__name__)


class _NoWireDumps(logging.Filter):
    """ccxt logs every request and response at DEBUG: headers with the API key, signed query
    strings, account bodies. Those lines are dropped whatever LOG_LEVEL says."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.DEBUG


# The logger every client gets (ccxt's `logger` option) instead of ccxt's module logger.
_WIRE_LOGGER = logging.getLogger("exchanges.ccxt_wire")
_WIRE_LOGGER.addFilter(_NoWireDumps())

# Options every client gets: the product trades spot markets.
DEFAULT_OPTIONS: dict[str, Any] = {"defaultType": "spot"}
# Per exchange: what keeps load_markets to spot markets and away from endpoints that a key
# without wallet permissions (or a testnet) cannot call.
EXCHANGE_OPTIONS: dict[str, dict[str, Any]] = {
    "binance": {
        "fetchMarkets": {"types": ["spot"]},  # else also USDⓈ-M and COIN-M futures markets
        "fetchCurrencies": False,  # else a signed wallet call (sapi capital/config/getall)
        "fetchMargins": False,  # else signed margin pair lists
    },
}
# Our credential fields and ccxt's names for them (`password` is ccxt's word for a passphrase).
CREDENTIAL_FIELDS = {"api_key": "apiKey", "api_secret": "secret", "passphrase": "password"}
_CCXT_TO_FIELD = {ccxt_name: field for field, ccxt_name in CREDENTIAL_FIELDS.items()}


@dataclass(frozen=True)
class ExchangeDescription:
    """What the connection form needs to know about a ccxt exchange."""

    id: str
    name: str
    has_testnet: bool
    required_credentials: tuple[str, ...]  # our field names: api_key, api_secret, passphrase
    unsupported_credentials: tuple[str, ...]  # ccxt credentials we cannot store (uid, wallet …)


def is_ccxt_exchange(exchange_id: str) -> bool:
    return exchange_id in ccxt.exchanges


@functools.lru_cache(maxsize=256)  # static facts of ccxt's classes; building one costs ~0.1 s
def describe(exchange_id: str) -> ExchangeDescription:
    """Sandbox and credential needs of a ccxt exchange; ExchangeNotSupported for an unknown id."""
    if not is_ccxt_exchange(exchange_id):
        raise ExchangeNotSupported(f"{exchange_id!r} is not an exchange ccxt supports.")
    client = getattr(ccxt, exchange_id)()
    required = [name for name, needed in client.requiredCredentials.items() if needed]
    return ExchangeDescription(
        id=exchange_id,
        name=str(client.name or exchange_id),
        has_testnet=bool(client.urls.get("test")),
        required_credentials=tuple(_CCXT_TO_FIELD[n] for n in required if n in _CCXT_TO_FIELD),
        unsupported_credentials=tuple(n for n in required if n not in _CCXT_TO_FIELD),
    )


@sensitive_variables("credentials", "config")  # kept out of error reports
def new_client(exchange_id: str, *, sandbox: bool, credentials: dict[str, str]) -> ccxt.Exchange:
    """A ccxt client for `exchange_id` with our options, timeout, rate limiter and credentials."""
    config: dict[str, Any] = {
        "enableRateLimit": True,
        "timeout": settings.EXCHANGE_TIMEOUT_MS,
        "logger": _WIRE_LOGGER,
        "options": {**DEFAULT_OPTIONS, **EXCHANGE_OPTIONS.get(exchange_id, {})},
    }
    for field, ccxt_name in CREDENTIAL_FIELDS.items():
        if credentials.get(field):
            config[ccxt_name] = credentials[field]
    client = getattr(ccxt, exchange_id)(config)
    client.enableLastResponseHeaders = True  # Retry-After of a 429 is read from them
    if sandbox:
        try:
            client.set_sandbox_mode(True)
        except ccxt.NotSupported:
            raise ExchangeNotSupported(
                f"{exchange_id} has no testnet (sandbox) in ccxt; use a demo connection."
            ) from None
    return client


def markets_cache_key(exchange_id: str, mode: str) -> str:
    return f"exchanges:markets:v1:{exchange_id}:{mode}"


# --------------------------------------------------------------------------- conversions


def _step(value: Any, precision_mode: int) -> Decimal | None:
    """A market precision as a step size, whatever precision mode the exchange uses."""
    number = to_decimal(value)
    if number is None:
        return None
    if precision_mode == ccxt.DECIMAL_PLACES:
        return Decimal(1).scaleb(-int(number))
    if precision_mode == ccxt.SIGNIFICANT_DIGITS:
        return None  # a count of digits, not a step: no step to check against
    return number  # TICK_SIZE already


def decimal_market(market: dict[str, Any], precision_mode: int) -> dict[str, Any]:
    """ccxt's market structure with Decimal precision (as steps), limits and fees."""
    result = {key: value for key, value in market.items() if key not in ("precision", "limits")}
    precision = market.get("precision") or {}
    result["precision"] = {key: _step(value, precision_mode) for key, value in precision.items()}
    result["limits"] = {
        name: {bound: to_decimal(value) for bound, value in (limits or {}).items()}
        for name, limits in (market.get("limits") or {}).items()
    }
    for key in ("taker", "maker", "contractSize"):
        if key in market:
            result[key] = to_decimal(market[key])
    return result


def _ms(value: Any) -> int | None:
    return int(value) if value is not None else None


def unified_order(order: dict[str, Any]) -> dict[str, Any]:
    """ccxt's order structure with Decimal numbers and int timestamps."""
    fee = order.get("fee") or next(iter(order.get("fees") or []), None) or {}
    amount, filled = to_decimal(order.get("amount")), to_decimal(order.get("filled"))
    remaining = to_decimal(order.get("remaining"))
    if remaining is None and amount is not None and filled is not None:
        remaining = amount - filled
    return {
        "id": str(order["id"]) if order.get("id") is not None else None,
        "clientOrderId": order.get("clientOrderId"),
        "timestamp": _ms(order.get("timestamp")),
        "datetime": order.get("datetime"),
        "lastTradeTimestamp": _ms(order.get("lastTradeTimestamp")),
        "symbol": order.get("symbol"),
        "type": order.get("type"),
        "side": order.get("side"),
        "amount": amount,
        "price": to_decimal(order.get("price")),
        "status": order.get("status") or OrderStatus.OPEN,
        "filled": filled,
        "remaining": remaining,
        "average": to_decimal(order.get("average")),
        "cost": to_decimal(order.get("cost")),
        "fee": {"cost": to_decimal(fee.get("cost")), "currency": fee.get("currency")},
    }


def _unified_ticker(ticker: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {
        "symbol": ticker.get("symbol"),
        "timestamp": _ms(ticker.get("timestamp")),
    }
    for key in ("last", "bid", "ask", "high", "low", "open", "close", "baseVolume"):
        result[key] = to_decimal(ticker.get(key))
    return result


# --------------------------------------------------------------------------- the gateway


_JSON_IN_MESSAGE = re.compile(r"\{.*\}", re.DOTALL)


class CcxtGateway(Gateway):
    """A ccxt exchange behind the gateway interface."""

    @sensitive_variables("credentials")
    def __init__(self, connection: ExchangeConnection, credentials: dict[str, str]):
        self.connection = connection
        self.exchange_id = connection.exchange
        self.has_credentials = bool(credentials.get("api_key"))
        self._client = new_client(
            connection.exchange,
            sandbox=connection.mode == ExchangeConnection.Mode.TESTNET,
            credentials=credentials,
        )
        # Kept only to scrub them from the exchange's messages; never logged or returned.
        self._secrets = tuple(value for value in credentials.values() if value)
        self._markets_key = markets_cache_key(connection.exchange, connection.mode)

    # --- errors

    def _exchange_message(self, exc: Exception) -> str:
        """The exchange's own words from a ccxt error (its `msg`), without anything secret."""
        text = str(exc)
        found = _JSON_IN_MESSAGE.search(text)
        if found:
            try:
                body = json.loads(found.group(0))
            except ValueError:
                body = None
            if isinstance(body, dict):
                text = str(body.get("msg") or body.get("message") or body.get("error") or text)
        text = text.removeprefix(self.exchange_id).strip()
        for secret in self._secrets:
            text = text.replace(secret, "[REDACTED]")
        text = re.sub(r"https?://\S+", "[url]", redact_text(text))
        return text[:200]

    def _retry_after(self) -> int | None:
        headers = getattr(self._client, "last_response_headers", None) or {}
        value = headers.get("Retry-After") if hasattr(headers, "get") else None
        try:
            return max(1, int(float(value))) if value is not None else None
        except ValueError:
            return None

    @contextmanager
    def _translated(self, action: str) -> Iterator[None]:
        """Run a ccxt call and turn its exceptions into our problems (`from None`: ccxt's
        exception text holds URLs and bodies; only its class name reaches the log)."""
        name = self.exchange_id
        try:
            yield
        except ccxt.BaseError as exc:
            logger.warning(
                "exchange.call_failed",
                extra={
                    "exchange": name,
                    "connection_id": str(self.connection.pk),
                    "call": action,
                    "error": type(exc).__name__,
                },
            )
            if isinstance(exc, ccxt.AuthenticationError):
                raise ExchangeAuthFailed(
                    f"{name} refused the connection's API credentials: check the key, the "
                    "secret, the passphrase and the key's permissions."
                ) from None
            if isinstance(exc, ccxt.RateLimitExceeded | ccxt.DDoSProtection):
                retry_after = self._retry_after()
                wait = f" Retry in {retry_after} s." if retry_after else ""
                raise ExchangeRateLimited(
                    f"{name} is limiting requests from this server.{wait}", retry_after=retry_after
                ) from None
            if isinstance(exc, ccxt.RequestTimeout):
                raise ExchangeUnreachable(
                    f"{name} did not answer within {self._client.timeout} ms."
                ) from None
            if isinstance(exc, ccxt.ExchangeNotAvailable):
                raise ExchangeUnreachable(
                    f"{name} says it is unavailable (maintenance or an outage)."
                ) from None
            if isinstance(exc, ccxt.NetworkError):
                raise ExchangeUnreachable(f"{name} cannot be reached from this server.") from None
            if isinstance(exc, ccxt.OrderNotFound):
                raise OrderNotFound(f"{name} has no such order on this account.") from None
            if isinstance(exc, ccxt.InsufficientFunds):
                raise InsufficientFunds(
                    f"{name}: not enough free balance ({self._exchange_message(exc)})."
                ) from None
            if isinstance(exc, ccxt.InvalidOrder):
                raise InvalidOrder(
                    f"{name} refused the order: {self._exchange_message(exc)}"
                ) from None
            if isinstance(exc, ccxt.BadSymbol):
                raise UnknownSymbol(f"{name} has no such market.") from None
            if isinstance(exc, ccxt.NotSupported):
                raise ExchangeNotSupported(
                    f"{name} does not support {action} through ccxt."
                ) from None
            raise ExchangeError(
                f"{name} answered {action} with an error: {self._exchange_message(exc)}"
            ) from None

    # --- markets

    def _ensure_markets(self) -> None:
        """Give the client its markets from the cache, loading (and caching) them once."""
        if self._client.markets:
            return
        cached = None
        try:
            cached = cache.get(self._markets_key)
        except Exception:  # a cache outage costs a reload, never the request
            logger.warning("exchange.markets_cache_unavailable", exc_info=True)
        if cached:
            self._client.set_markets(cached["markets"], cached["currencies"] or None)
            return
        self._load_and_cache(reload=False)

    def _load_and_cache(self, *, reload: bool) -> None:
        with self._translated("load_markets"):
            self._client.load_markets(reload)
        try:
            cache.set(
                self._markets_key,
                {"markets": self._client.markets, "currencies": self._client.currencies},
                timeout=settings.EXCHANGE_MARKETS_CACHE_SECONDS,
            )
        except Exception:
            logger.warning("exchange.markets_cache_unavailable", exc_info=True)

    def load_markets(self, reload: bool = False) -> dict[str, dict[str, Any]]:
        if reload:
            self._load_and_cache(reload=True)
        else:
            self._ensure_markets()
        mode = self._client.precisionMode
        return {symbol: decimal_market(m, mode) for symbol, m in self._client.markets.items()}

    def _check_symbol(self, symbol: str) -> None:
        self._ensure_markets()
        if symbol not in self._client.markets:
            raise UnknownSymbol(f"{self.exchange_id} has no market {symbol!r}.")

    def market(self, symbol: str) -> dict[str, Any]:
        # One market converted, not the exchange's thousands (load_markets converts them all).
        self._check_symbol(symbol)
        return decimal_market(self._client.markets[symbol], self._client.precisionMode)

    # --- market data

    def fetch_ticker(self, symbol: str) -> dict[str, Any]:
        self._check_symbol(symbol)
        with self._translated("fetch_ticker"):
            return _unified_ticker(self._client.fetch_ticker(symbol))

    def fetch_ohlcv(
        self, symbol: str, timeframe: str = "1m", since: int | None = None, limit: int | None = None
    ) -> list[list[Any]]:
        self._check_symbol(symbol)
        if timeframe not in (self._client.timeframes or {}):
            raise ExchangeNotSupported(f"{self.exchange_id} has no {timeframe!r} candles.")
        with self._translated("fetch_ohlcv"):
            rows = self._client.fetch_ohlcv(symbol, timeframe, since, limit)
        return [[int(row[0]), *(to_decimal(value) for value in row[1:6])] for row in rows]

    # --- account

    def _need_credentials(self) -> None:
        if not self.has_credentials:
            raise ExchangeAuthFailed(
                f"The connection has no API key for {self.exchange_id}; add one to trade."
            )

    def fetch_balance(self) -> dict[str, dict[str, Decimal]]:
        self._need_credentials()
        self._ensure_markets()
        with self._translated("fetch_balance"):
            balance = self._client.fetch_balance()
        result: dict[str, dict[str, Decimal]] = {"free": {}, "used": {}, "total": {}}
        for asset, total in (balance.get("total") or {}).items():
            total = to_decimal(total)
            if not total:
                continue  # exchanges list every asset they have, mostly at zero
            result["total"][asset] = total
            result["free"][asset] = to_decimal((balance.get("free") or {}).get(asset)) or Decimal(0)
            result["used"][asset] = to_decimal((balance.get("used") or {}).get(asset)) or Decimal(0)
        return result

    def create_order(
        self,
        symbol: str,
        type: str,
        side: str,
        amount: Decimal | str | float,
        price: Decimal | str | float | None = None,
        params: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        self._need_credentials()
        amount, price = check_venue_order(
            self.market(symbol), side=side, order_type=type, amount=amount, price=price
        )
        with self._translated("create_order"):
            order = self._client.create_order(
                symbol,
                type,
                side,
                float(amount),
                float(price) if price is not None and type == OrderType.LIMIT else None,
                dict(params or {}),
            )
        return unified_order(order)

    def cancel_order(
        self,
        id: str,
        symbol: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        self._need_credentials()
        self._ensure_markets()
        with self._translated("cancel_order"):
            return unified_order(self._client.cancel_order(id, symbol, dict(params or {})))

    def fetch_order(
        self,
        id: str,
        symbol: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        self._need_credentials()
        self._ensure_markets()
        with self._translated("fetch_order"):
            return unified_order(self._client.fetch_order(id, symbol, dict(params or {})))

    def fetch_open_orders(self, symbol: str | None = None) -> list[dict[str, Any]]:
        self._need_credentials()
        self._ensure_markets()
        with self._translated("fetch_open_orders"):
            orders = self._client.fetch_open_orders(symbol)
        return [unified_order(order) for order in orders]

    def close(self) -> None:
        session = getattr(self._client, "session", None)
        if session is not None:
            session.close()
