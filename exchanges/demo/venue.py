"""The built-in demo exchange behind the gateway interface: simulated money, real bookkeeping.

Rules (docs/exchanges.md explains them to users):

- Prices come from the deterministic feed (exchanges.demo.feed); the ticker and the last candle
  are the feed's at the venue's clock.
- Every connection's account starts with 10,000 USDT, granted on first use.
- Orders are checked against the instrument's market with `exchanges.orders.check_order`, like
  on every venue: amount a multiple of the lot (`amount_step`), at least `min_amount` and at
  most `max_amount`, price a multiple of the tick (`price_step`), a limit order's notional
  (amount * price) at least `min_notional`. What only the venue knows is checked here: a market
  order's notional at the feed's price, and the free balance. A failure is InvalidOrder; too
  little free balance is InsufficientFunds.
- Market orders fill at once, completely, at the feed's price ± SLIPPAGE_BPS (buys pay more,
  sells get less; rounded to the tick against the trader). Fee: 0.1 % of the cost, in the quote
  currency, rounded half-up to 1e-8.
- A limit order that already crosses the price when placed (a buy at or above it, a sell at or
  below) fills at once like a market order, never at a worse price than its limit. Otherwise it
  rests: its funds move from `free` to `used` (cost + fee at the limit for a buy, the amount for
  a sell) until it fills or is canceled. `match_open_orders` (Celery beat, every 2 s) fills a
  resting order at its limit price when the feed crosses it: a buy when the price since the
  last check went down to the limit (low ≤ price), a sell when it went up to it (high ≥ price).
- `create_order` is idempotent on `params["clientOrderId"]`: the same id returns the order it
  made the first time, never a second order.

Every change of balances happens in one transaction that first locks the account's balance rows
(select_for_update, in asset order), so two concurrent orders can never spend the same funds.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db import IntegrityError, transaction

from exchanges import epoch
from exchanges.demo import feed
from exchanges.demo.instruments import DEMO_FEE_RATE, INSTRUMENTS, Instrument, ccxt_market
from exchanges.epoch import datetime_from_ms, ms_from_datetime
from exchanges.exceptions import (
    ExchangeNotSupported,
    InsufficientFunds,
    InvalidOrder,
    OrderNotFound,
    OrderNotOpen,
    UnknownSymbol,
)
from exchanges.gateway import DEMO_EXCHANGE, Gateway
from exchanges.models import DemoBalance, DemoFill, DemoOrder, ExchangeConnection
from exchanges.numbers import ceil_to_step, floor_to_step, plain_decimal, tidy
from exchanges.orders import (
    OrderSide,
    OrderStatus,
    OrderType,
    check_venue_order,
    client_order_id_of,
)
from exchanges.timeframes import MINUTE_MS, TIMEFRAME_MS, TIMEFRAMES

logger = logging.getLogger(__name__)

QUOTE_ASSET = "USDT"
STARTING_BALANCES = {QUOTE_ASSET: Decimal("10000")}
SLIPPAGE_BPS = Decimal(5)
FEE_QUANTUM = Decimal("0.00000001")
DEFAULT_OHLCV_LIMIT = 500  # Binance's default
MAX_OHLCV_LIMIT = 1000  # and its maximum per request
CLIENT_ORDER_ID_MAX = 64
# Whole minutes the matcher reads per feed call when it catches up after a pause.
_MATCH_CHUNK_MINUTES = 10_000


def _ms(value: datetime | None) -> int | None:
    return None if value is None else ms_from_datetime(value)


def _instrument(symbol: str) -> Instrument:
    instrument = INSTRUMENTS.get(symbol)
    if instrument is None:
        raise UnknownSymbol(
            f"The demo exchange has no market {symbol!r}; it lists {', '.join(INSTRUMENTS)}."
        )
    return instrument


def fee_for(cost: Decimal) -> Decimal:
    """The demo's fee on a trade of `cost` quote: 0.1 %, rounded half-up to 1e-8."""
    return (cost * DEMO_FEE_RATE).quantize(FEE_QUANTUM, rounding=ROUND_HALF_UP)


def mid_price(symbol: str, now_ms: int) -> Decimal:
    """The feed's price of `symbol` at `now_ms`, as an exact Decimal on the tick grid."""
    return feed.price_to_decimal(symbol, feed.price_at(symbol, now_ms))


def taker_price(instrument: Instrument, side: str, mid: Decimal) -> Decimal:
    """What a market order pays (buy) or gets (sell): `mid` ± the slippage, on the tick grid."""
    slip = mid * SLIPPAGE_BPS / Decimal(10_000)
    if side == OrderSide.BUY:
        return ceil_to_step(mid + slip, instrument.price_step)
    return max(floor_to_step(mid - slip, instrument.price_step), instrument.price_step)


def demo_market(instrument: Instrument) -> dict[str, Any]:
    """ccxt's market structure of a demo instrument, with exact Decimal precision and limits."""
    market = ccxt_market(instrument)
    market["taker"] = market["maker"] = DEMO_FEE_RATE
    market["precision"] = {
        "amount": instrument.amount_step,
        "price": instrument.price_step,
        "base": instrument.amount_step,
        "quote": instrument.price_step,
    }
    market["limits"] = {
        "leverage": {"min": None, "max": None},
        "amount": {"min": instrument.min_amount, "max": instrument.max_amount},
        "price": {"min": instrument.price_step, "max": None},
        "cost": {"min": instrument.min_notional, "max": None},
        "market": {"min": None, "max": None},
    }
    return market


def order_dict(order: DemoOrder) -> dict[str, Any]:
    """A demo order in ccxt's unified order structure (Decimals, int ms timestamps)."""
    average = order.average
    price = order.price if order.price is not None else average
    return {
        "id": str(order.pk),
        "clientOrderId": order.client_order_id,
        "timestamp": _ms(order.created_at),
        "datetime": order.created_at.isoformat().replace("+00:00", "Z"),
        "lastTradeTimestamp": _ms(order.filled_at),
        "symbol": order.symbol,
        "type": order.type,
        "side": order.side,
        "amount": tidy(order.amount),
        "price": tidy(price),
        "status": order.status,
        "filled": tidy(order.filled),
        "remaining": tidy(order.amount - order.filled),
        "average": tidy(average),
        "cost": tidy(order.filled * average) if average is not None else Decimal(0),
        "fee": {"cost": tidy(order.fee), "currency": order.fee_currency or None},
    }


# --------------------------------------------------------------------------- balances


def _ensure_accounts(connection: ExchangeConnection, assets: Iterable[str]) -> None:
    """Create missing balance rows: the starting USDT on first use, zero for other assets.

    ON CONFLICT DO NOTHING makes concurrent first uses safe: one row per asset, one grant. Rows
    go in in asset order, so two inserts that wait for each other's rows wait in lock order.
    """
    rows = [
        DemoBalance(connection=connection, asset=asset, free=STARTING_BALANCES.get(asset, 0))
        for asset in sorted({QUOTE_ASSET, *assets})
    ]
    DemoBalance.objects.bulk_create(rows, ignore_conflicts=True)


class _BalancesMissing(Exception):
    """Some balance rows a transaction needs do not exist yet (see `_balance_transaction`)."""

    def __init__(self, connection: ExchangeConnection, assets: list[str]):
        super().__init__(assets)
        self.connection = connection
        self.assets = assets


def _locked_balances(
    connection: ExchangeConnection, assets: Iterable[str]
) -> dict[str, DemoBalance]:
    """The balance rows of `assets`, locked until the transaction ends, in one statement in
    asset order; _BalancesMissing when some do not exist yet.

    Missing rows are never created here, while this transaction may hold other rows' locks:
    creating a row while holding another one's lock (and locking the rest afterwards) is what
    deadlocked concurrent first buys of a coin, against a transaction that locked both in
    order. `_balance_transaction` creates them outside the transaction and runs it again.
    """
    assets = sorted(set(assets))
    rows = {
        row.asset: row
        for row in DemoBalance.objects.select_for_update()
        .filter(connection=connection, asset__in=assets)
        .order_by("asset")
    }
    if len(rows) < len(assets):  # first use of an asset (or of the account)
        raise _BalancesMissing(connection, [asset for asset in assets if asset not in rows])
    return rows


def _balance_transaction(work: Callable[[], Any]) -> Any:
    """`work()` in a transaction; if it met missing balance rows, create them and run it again.

    The rolled-back attempt releases every lock it took, so the rows are created holding none,
    and the second attempt finds all of them (rows are never deleted but with the connection).
    """
    try:
        with transaction.atomic():
            return work()
    except _BalancesMissing as missing:
        _ensure_accounts(missing.connection, missing.assets)
    with transaction.atomic():
        return work()


def _save(*balances: DemoBalance) -> None:
    for balance in balances:
        balance.save(update_fields=["free", "used", "updated_at"])


# --------------------------------------------------------------------------- fills


def _fill(
    order: DemoOrder,
    instrument: Instrument,
    balances: dict[str, DemoBalance],
    *,
    price: Decimal,
    at_ms: int,
    taker: bool,
) -> None:
    """Execute all of `order` at `price`: settle the balances (rows locked by the caller), save
    the order and record the fill.

    A resting order pays out of its reserve; an order that fills as it is placed, out of `free`.
    """
    base, quote = balances[instrument.base], balances[instrument.quote]
    cost = order.amount * price
    fee = fee_for(cost)
    if order.side == OrderSide.BUY:
        spend = cost + fee
        if order.reserved:
            # The reserve was cost + fee at the limit; a fill at the limit uses all of it.
            quote.used -= order.reserved
            quote.free += order.reserved - spend
        else:
            quote.free -= spend
        base.free += order.amount
    else:
        if order.reserved:
            base.used -= order.reserved
        else:
            base.free -= order.amount
        quote.free += cost - fee
    _save(base, quote)
    order.status = OrderStatus.CLOSED
    order.filled = order.amount
    order.average = price
    order.fee = fee
    order.fee_currency = instrument.quote
    order.reserved = Decimal(0)
    order.filled_at = datetime_from_ms(at_ms)
    order.checked_until_ms = max(order.checked_until_ms, at_ms)
    # A taker fill happens as the order is placed: the order row is new and written once.
    order.save(force_insert=taker)
    DemoFill.objects.create(
        order=order,
        price=price,
        amount=order.amount,
        fee=fee,
        fee_currency=instrument.quote,
        taker=taker,
        executed_at=order.filled_at,
    )


def _need(balance: DemoBalance, amount: Decimal, what: str) -> None:
    if balance.free < amount:
        raise InsufficientFunds(
            f"{what} needs {plain_decimal(amount)} {balance.asset}; "
            f"{plain_decimal(balance.free)} {balance.asset} is free."
        )


# --------------------------------------------------------------------------- the gateway


class DemoGateway(Gateway):
    """The demo exchange for one connection. `clock` (epoch ms) is the venue's time."""

    exchange_id = DEMO_EXCHANGE

    def __init__(self, connection: ExchangeConnection, clock: Callable[[], int] | None = None):
        if connection.exchange != DEMO_EXCHANGE:
            raise ExchangeNotSupported(f"{connection.exchange} is not the demo exchange.")
        self.connection = connection
        self._clock = clock or epoch.now_ms

    # --- market data

    def load_markets(self, reload: bool = False) -> dict[str, dict[str, Any]]:
        return {symbol: demo_market(instrument) for symbol, instrument in INSTRUMENTS.items()}

    def market(self, symbol: str) -> dict[str, Any]:
        instrument = INSTRUMENTS.get(symbol)  # one market built, not all of them
        if instrument is None:
            raise UnknownSymbol(f"{self.exchange_id} has no market {symbol!r}.")
        return demo_market(instrument)

    def fetch_ticker(self, symbol: str) -> dict[str, Any]:
        _instrument(symbol)
        now = self._clock()
        ticker = feed.ticker(symbol, now)
        price = lambda key: feed.price_to_decimal(symbol, ticker[key])  # noqa: E731
        return {
            "symbol": symbol,
            "timestamp": now,
            "last": price("last"),
            "bid": price("bid"),
            "ask": price("ask"),
            "high": price("high"),
            "low": price("low"),
            "open": price("open"),
            "close": price("last"),
            "baseVolume": feed.amount_to_decimal(symbol, ticker["volume"]),
        }

    def fetch_ohlcv(
        self, symbol: str, timeframe: str = "1m", since: int | None = None, limit: int | None = None
    ) -> list[list[Any]]:
        _instrument(symbol)
        if timeframe not in TIMEFRAME_MS:
            raise ExchangeNotSupported(
                f"The demo exchange has no {timeframe!r} candles; it has {', '.join(TIMEFRAMES)}."
            )
        limit = max(1, min(int(limit or DEFAULT_OHLCV_LIMIT), MAX_OHLCV_LIMIT))
        now = self._clock()
        if since is None:
            rows = feed.latest_candles(symbol, timeframe, limit, now).rows()
        elif since > now:
            rows = []
        else:
            span = TIMEFRAME_MS[timeframe]
            # Like a real exchange: nothing that has not opened yet, the last one still forming.
            rows = [
                row
                for row in feed.candles(
                    symbol, timeframe, start_ms=max(0, since), limit=limit
                ).rows()
                if row.ts <= now
            ]
            if rows and rows[-1].ts + span > now:
                rows[-1] = feed.latest_candles(symbol, timeframe, 1, now)[-1]
        price = lambda value: feed.price_to_decimal(symbol, value)  # noqa: E731
        return [
            [
                row.ts,
                price(row.open),
                price(row.high),
                price(row.low),
                price(row.close),
                feed.amount_to_decimal(symbol, row.volume),
            ]
            for row in rows
        ]

    # --- account

    def fetch_balance(self) -> dict[str, dict[str, Decimal]]:
        rows = list(DemoBalance.objects.filter(connection=self.connection).order_by("asset"))
        if not rows:  # first use: the account opens with its starting balance
            _ensure_accounts(self.connection, [])
            rows = list(DemoBalance.objects.filter(connection=self.connection).order_by("asset"))
        result: dict[str, dict[str, Decimal]] = {"free": {}, "used": {}, "total": {}}
        for row in rows:
            total = row.free + row.used
            if total == 0:
                continue
            result["free"][row.asset] = tidy(row.free)
            result["used"][row.asset] = tidy(row.used)
            result["total"][row.asset] = tidy(total)
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
        instrument = _instrument(symbol)
        amount, price = check_venue_order(
            demo_market(instrument), side=side, order_type=type, amount=amount, price=price
        )
        client_order_id = client_order_id_of(params) or uuid.uuid4().hex
        if len(client_order_id) > CLIENT_ORDER_ID_MAX:
            raise InvalidOrder(
                f"A client order id has at most {CLIENT_ORDER_ID_MAX} characters.",
                pointer="/clientOrderId",
            )
        now = self._clock()
        try:
            order = _balance_transaction(
                lambda: self._place(instrument, type, side, amount, price, client_order_id, now)
            )
        except IntegrityError:
            # A concurrent call with the same client order id won the insert: return its order.
            order = self._by_client_order_id(client_order_id)
            if order is None:
                raise
        return order_dict(order)

    def _place(
        self,
        instrument: Instrument,
        type: str,
        side: str,
        amount: Decimal,
        price: Decimal | None,
        client_order_id: str,
        now: int,
    ) -> DemoOrder:
        """Place (and maybe fill) one order; the caller holds the transaction.

        The same client order id never makes two orders: the unique constraint refuses the
        insert of a second one (create_order then answers the first), and a refusal here is
        answered with the first order instead when there is one, as a retry expects even
        after the first spent the funds. Nothing is written before the checks pass, and the
        lookup runs only for a refusal, after the balance locks: a twin that held them has
        committed its order by then.
        """
        balances = _locked_balances(self.connection, [instrument.base, instrument.quote])
        try:
            return self._open(instrument, type, side, amount, price, client_order_id, now, balances)
        except (InvalidOrder, InsufficientFunds):
            existing = self._by_client_order_id(client_order_id)
            if existing is not None:
                return existing
            raise

    def _open(
        self,
        instrument: Instrument,
        type: str,
        side: str,
        amount: Decimal,
        price: Decimal | None,
        client_order_id: str,
        now: int,
        balances: dict[str, DemoBalance],
    ) -> DemoOrder:
        """Check, then record the order and fill it or reserve its funds (`balances` locked)."""
        mid = mid_price(instrument.symbol, now)
        fill_price = taker_price(instrument, side, mid)
        buy = side == OrderSide.BUY
        crosses = price is None or (price >= mid if buy else price <= mid)
        if crosses and price is not None:
            # A marketable limit takes the market's price but never a worse one than its limit.
            fill_price = min(fill_price, price) if buy else max(fill_price, price)
        if price is None and amount * mid < instrument.min_notional:
            # A limit order's notional was checked with its price (check_order); a market
            # order's is known only now, at the feed's price.
            raise InvalidOrder(
                f"The order is worth {plain_decimal(amount * mid)} {instrument.quote}; the "
                f"minimum is {plain_decimal(instrument.min_notional)} {instrument.quote}.",
                pointer="/amount",
            )
        base, quote = balances[instrument.base], balances[instrument.quote]
        order = DemoOrder(
            connection=self.connection,
            client_order_id=client_order_id,
            symbol=instrument.symbol,
            side=side,
            type=type,
            amount=amount,
            price=price,
            checked_until_ms=now,
            created_at=datetime_from_ms(now),
        )
        if crosses:
            if buy:
                cost = amount * fill_price
                _need(quote, cost + fee_for(cost), f"Buying {tidy(amount)} {instrument.base}")
            else:
                _need(base, amount, f"Selling {tidy(amount)} {instrument.base}")
            _fill(order, instrument, balances, price=fill_price, at_ms=now, taker=True)
        else:
            if buy:
                cost = amount * price
                reserve = cost + fee_for(cost)
                _need(quote, reserve, f"Buying {tidy(amount)} {instrument.base}")
                quote.free -= reserve
                quote.used += reserve
                order.reserved, order.reserved_asset = reserve, instrument.quote
            else:
                _need(base, amount, f"Selling {tidy(amount)} {instrument.base}")
                base.free -= amount
                base.used += amount
                order.reserved, order.reserved_asset = amount, instrument.base
            order.save(force_insert=True)
            _save(base, quote)
        logger.info(
            "demo.order_placed",
            extra={
                "connection_id": str(self.connection.pk),
                "order_id": str(order.pk),
                "symbol": order.symbol,
                "side": side,
                "type": type,
                "status": order.status,
            },
        )
        return order

    def _by_client_order_id(self, client_order_id: str) -> DemoOrder | None:
        # At most one row (unique): no ORDER BY for `first()` to compile and send.
        found = DemoOrder.objects.filter(
            connection=self.connection, client_order_id=client_order_id
        ).order_by()[:1]
        return next(iter(found), None)

    def _find(self, id: str | None, params: dict[str, Any] | None) -> DemoOrder:
        client_order_id = client_order_id_of(params)
        query = DemoOrder.objects.filter(connection=self.connection)
        if client_order_id is not None:
            order = query.filter(client_order_id=client_order_id).first()
        else:
            try:
                order = query.filter(pk=uuid.UUID(str(id))).first()
            except ValueError:
                order = None
        if order is None:
            raise OrderNotFound("The demo exchange has no such order on this connection.")
        return order

    def fetch_order(
        self,
        id: str,
        symbol: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        return order_dict(self._find(id, params))

    def fetch_open_orders(self, symbol: str | None = None) -> list[dict[str, Any]]:
        orders = DemoOrder.objects.filter(connection=self.connection, status=OrderStatus.OPEN)
        if symbol is not None:
            orders = orders.filter(symbol=symbol)
        return [order_dict(order) for order in orders.order_by("created_at", "id")]

    def cancel_order(
        self,
        id: str,
        symbol: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        found = self._find(id, params)
        instrument = _instrument(found.symbol)

        def cancel() -> DemoOrder:
            # Order row first, then balances: the matcher locks in the same order.
            order = DemoOrder.objects.select_for_update().get(pk=found.pk)
            if order.status == OrderStatus.CANCELED:
                return order  # canceling twice changes nothing
            if order.status != OrderStatus.OPEN:
                raise OrderNotOpen(
                    f"The order is {order.status}; only open orders can be canceled."
                )
            balances = _locked_balances(self.connection, [instrument.base, instrument.quote])
            held = balances[order.reserved_asset]
            held.used -= order.reserved
            held.free += order.reserved
            _save(held)
            order.status = OrderStatus.CANCELED
            order.reserved = Decimal(0)
            order.canceled_at = datetime_from_ms(self._clock())
            order.save()
            return order

        return order_dict(_balance_transaction(cancel))


# --------------------------------------------------------------------------- the matcher


@dataclass(frozen=True)
class _Span:
    """The price range the feed went through up to `end_ms` since the previous span."""

    end_ms: int
    high: Decimal
    low: Decimal


def _forming(symbol: str, at_ms: int) -> feed.Candle:
    """The 1m candle of the minute containing `at_ms`, covering its start up to `at_ms`."""
    return feed.latest_candles(symbol, "1m", 1, at_ms)[-1]


def _after(start: feed.Candle, end: feed.Candle) -> tuple[float, float]:
    """High and low of the price strictly after `start` up to `end`, two forming views of one
    minute (or the minute's full candle as `end`).

    Within a minute the price runs in straight lines through the minute's extremes, so the high
    after `start` is the minute's new high if it grew since `start`, else the higher end point
    (the same for the low).
    """
    high = end.high if end.high > start.high else max(start.close, end.close)
    low = end.low if end.low < start.low else min(start.close, end.close)
    return high, low


def price_spans(symbol: str, after_ms: int, until_ms: int) -> Iterable[_Span]:
    """The feed's price ranges in (after_ms, until_ms], minute by minute, oldest first."""
    to_decimal = lambda value: feed.price_to_decimal(symbol, value)  # noqa: E731
    first_minute, last_minute = after_ms // MINUTE_MS, until_ms // MINUTE_MS
    start = _forming(symbol, after_ms)
    if first_minute == last_minute:
        high, low = _after(start, _forming(symbol, until_ms))
        yield _Span(until_ms, to_decimal(high), to_decimal(low))
        return
    high, low = _after(start, feed.candle_at(symbol, "1m", after_ms))
    yield _Span((first_minute + 1) * MINUTE_MS, to_decimal(high), to_decimal(low))
    minute = first_minute + 1
    while minute < last_minute:
        count = min(_MATCH_CHUNK_MINUTES, last_minute - minute)
        chunk = feed.candles(symbol, "1m", start_ms=minute * MINUTE_MS, limit=count)
        for candle in chunk.rows():
            yield _Span(candle.ts + MINUTE_MS, to_decimal(candle.high), to_decimal(candle.low))
        minute += count
    forming = _forming(symbol, until_ms)
    yield _Span(until_ms, to_decimal(forming.high), to_decimal(forming.low))


def _crossing(spans: list[_Span], side: str, price: Decimal) -> _Span | None:
    for span in spans:
        if (side == OrderSide.BUY and span.low <= price) or (
            side == OrderSide.SELL and span.high >= price
        ):
            return span
    return None


def _fill_resting(order_id: uuid.UUID, at_ms: int) -> bool:
    """Fill one resting order at its limit price; False if it is no longer open."""

    def fill() -> DemoOrder | None:
        order = (
            DemoOrder.objects.select_for_update()
            .select_related("connection")
            .filter(pk=order_id, status=OrderStatus.OPEN)
            .first()
        )
        if order is None:
            return None  # canceled or filled since the matcher read it
        instrument = INSTRUMENTS[order.symbol]
        balances = _locked_balances(order.connection, [instrument.base, instrument.quote])
        _fill(order, instrument, balances, price=order.price, at_ms=at_ms, taker=False)
        return order

    order = _balance_transaction(fill)
    if order is None:
        return False
    logger.info(
        "demo.order_filled",
        extra={"connection_id": str(order.connection_id), "order_id": str(order.pk)},
    )
    return True


def match_open_orders(*, now_ms: int | None = None) -> int:
    """Fill every resting demo limit order the feed crossed since its last check; return how many.

    Each order is checked over (checked_until_ms, now_ms]; the ones that did not fill move their
    cursor to `now_ms`. Safe to run concurrently: a fill locks the order and re-checks that it
    is still open, and a cursor only moves forward.
    """
    now = epoch.now_ms() if now_ms is None else int(now_ms)
    resting = DemoOrder.objects.filter(
        status=OrderStatus.OPEN,
        type=OrderType.LIMIT,
        checked_until_ms__lt=now,
    ).values_list("pk", "symbol", "side", "price", "checked_until_ms")
    spans: dict[tuple[str, int], list[_Span]] = {}  # orders checked together share a cursor
    filled, unfilled = 0, []
    for pk, symbol, side, price, cursor in resting:
        key = (symbol, cursor)
        if key not in spans:
            spans[key] = list(price_spans(symbol, cursor, now))
        span = _crossing(spans[key], side, price)
        if span is None:
            unfilled.append(pk)
        elif _fill_resting(pk, span.end_ms):
            filled += 1
    DemoOrder.objects.filter(
        pk__in=unfilled, status=OrderStatus.OPEN, checked_until_ms__lt=now
    ).update(checked_until_ms=now)
    return filled
