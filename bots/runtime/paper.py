"""Paper mode: a run on a ccxt connection's market data whose orders fill on a paper account.

`register_runtime("paper", paper_runtime)`: a run whose `execution.mode` is "paper" ticks on
the wall clock with candles and tickers read from its connection's exchange (through
`gateway_for(connection)`, shared and cached like every run's), and its orders go, through
`terminal.services.place_order` like every bot order (journaled, origin bot), to a
`PaperGateway`: a venue of the run's own that never calls the exchange's order or account
endpoints. It fills by the demo exchange's rules (exchanges.demo.venue):

- a market order fills at once, completely, at the ticker's last price ± the bot's slippage
  (buys pay more, sells get less; rounded to the market's price step against the trader), and
  its notional must reach the market's minimum at the last price;
- a limit order that crosses the last price when placed (a buy at or above it, a sell at or
  below) fills at once like a market order, never at a worse price than its limit; otherwise
  it rests, its funds held (cost + fee for a buy, the amount for a sell), and fills at its
  limit once the exchange's price reaches it: checked whenever the order is read (the run's
  next tick settles it), against the exchange's 1m candles closed since it was placed and the
  ticker's last price;
- each fill pays the market's taker fee of its cost, in the quote currency, rounded half-up to
  1e-8;
- the account (`PaperBalance` rows of the run) opens with PAPER_STARTING_BALANCE of the
  symbol's quote currency (10,000, the demo exchange's starting balance) on first use; an order
  it cannot pay is refused (InsufficientFunds), and `create_order` is idempotent on the client
  order id. Every change of the account locks its rows, in asset order.

The journal's copies of paper orders are kept out of the terminal's lists, positions, pushes
and refresh (terminal.selectors.SIMULATED): they never reached the exchange.
"""

from __future__ import annotations

import logging
import uuid
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction

from bots.models import BotRun, PaperBalance, PaperOrder
from bots.runtime.candles import GatewayCandles
from bots.runtime.clock import Clock, WallClock
from bots.runtime.runtime import Runtime, register_runtime, venue_key
from bots.runtime.venue import GatewayVenue
from exchanges.epoch import datetime_from_ms
from exchanges.exceptions import InsufficientFunds, InvalidOrder, OrderNotFound, OrderNotOpen
from exchanges.factory import gateway_for
from exchanges.gateway import Gateway
from exchanges.numbers import ceil_to_step, floor_to_step, plain_decimal, tidy, to_decimal
from exchanges.orders import (
    OrderSide,
    OrderStatus,
    OrderType,
    check_venue_order,
    client_order_id_of,
    market_limit,
    market_step,
)
from exchanges.timeframes import MINUTE_MS

logger = logging.getLogger(__name__)

PAPER_MODE = "paper"
FEE_QUANTUM = Decimal("0.00000001")


def _fee(cost: Decimal, rate: Decimal) -> Decimal:
    """The fee of a fill of `cost` quote at `rate`, rounded half-up to 1e-8 (the demo's rule)."""
    return (cost * rate).quantize(FEE_QUANTUM, rounding=ROUND_HALF_UP)


def order_dict(order: PaperOrder) -> dict[str, Any]:
    """A paper order in ccxt's unified order structure (Decimals, int ms timestamps)."""
    average = order.average
    price = order.price if order.price is not None else average
    return {
        "id": str(order.pk),
        "clientOrderId": order.client_order_id,
        "timestamp": order.created_ms,
        "datetime": datetime_from_ms(order.created_ms).isoformat().replace("+00:00", "Z"),
        "lastTradeTimestamp": order.filled_ms,
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


class PaperGateway(Gateway):
    """The exchange's market data (`inner`), with a paper account of `run` for its orders."""

    has_credentials = True  # a paper account needs no API key

    def __init__(self, inner: Gateway, *, run: BotRun, clock: Clock) -> None:
        self.inner = inner
        self.connection = inner.connection
        self.exchange_id = f"paper:{inner.exchange_id}"
        self.run_id = run.pk
        self.quote_asset = (run.symbol or "").partition("/")[2]
        self.slippage = Decimal(run.execution.get("slippage_bps") or 0) / Decimal(10_000)
        self.clock = clock

    # --- market data: the exchange's

    def load_markets(self, reload: bool = False) -> dict[str, dict[str, Any]]:
        return self.inner.load_markets(reload)

    def market(self, symbol: str) -> dict[str, Any]:
        return self.inner.market(symbol)

    def fetch_ticker(self, symbol: str) -> dict[str, Any]:
        return self.inner.fetch_ticker(symbol)

    def fetch_ohlcv(
        self, symbol: str, timeframe: str = "1m", since: int | None = None, limit: int | None = None
    ) -> list[list[Any]]:
        return self.inner.fetch_ohlcv(symbol, timeframe, since, limit)

    def close(self) -> None:
        self.inner.close()

    # --- the paper account

    def _ensure(self, assets: list[str]) -> None:
        """Missing balance rows, the starting balance on first use (ON CONFLICT DO NOTHING)."""
        start = Decimal(settings.PAPER_STARTING_BALANCE)
        rows = [
            PaperBalance(
                run_id=self.run_id, asset=asset, free=start if asset == self.quote_asset else 0
            )
            for asset in sorted({self.quote_asset, *assets} - {""})
        ]
        PaperBalance.objects.bulk_create(rows, ignore_conflicts=True)

    def _locked(self, assets: list[str]) -> dict[str, PaperBalance]:
        """The rows of `assets`, created if missing, then locked in one statement in asset
        order (the demo venue's rule against deadlocks)."""
        assets = sorted(set(assets))
        present = set(
            PaperBalance.objects.filter(run_id=self.run_id, asset__in=assets).values_list(
                "asset", flat=True
            )
        )
        if len(present) < len(assets):
            self._ensure(assets)
        rows = (
            PaperBalance.objects.select_for_update()
            .filter(run_id=self.run_id, asset__in=assets)
            .order_by("asset")
        )
        return {row.asset: row for row in rows}

    def fetch_balance(self) -> dict[str, dict[str, Decimal]]:
        if not PaperBalance.objects.filter(run_id=self.run_id).exists():
            self._ensure([])
        result: dict[str, dict[str, Decimal]] = {"free": {}, "used": {}, "total": {}}
        for row in PaperBalance.objects.filter(run_id=self.run_id).order_by("asset"):
            total = row.free + row.used
            if total == 0:
                continue
            result["free"][row.asset] = tidy(row.free)
            result["used"][row.asset] = tidy(row.used)
            result["total"][row.asset] = tidy(total)
        return result

    # --- orders

    @staticmethod
    def _fee_rate(market: dict[str, Any]) -> Decimal:
        rate = to_decimal(market.get("taker"))
        return rate if rate is not None else Decimal(0)

    def _taker_price(self, market: dict[str, Any], side: str, last: Decimal) -> Decimal:
        """What a market order pays (buy) or gets (sell): `last` ± the slippage, on the tick."""
        step = market_step(market, "price")
        slip = last * self.slippage
        if side == OrderSide.BUY:
            price = last + slip
            return ceil_to_step(price, step) if step else price
        price = last - slip
        return max(floor_to_step(price, step), step) if step else price

    def _last(self, symbol: str) -> Decimal:
        ticker = self.inner.fetch_ticker(symbol)
        last = to_decimal(ticker.get("last"))
        return last if last is not None else to_decimal(ticker["close"])

    def _by_client_order_id(self, client_order_id: str) -> PaperOrder | None:
        return PaperOrder.objects.filter(
            run_id=self.run_id, client_order_id=client_order_id
        ).first()

    def create_order(
        self,
        symbol: str,
        type: str,
        side: str,
        amount: Decimal | str | float,
        price: Decimal | str | float | None = None,
        params: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        market = self.inner.market(symbol)
        amount, price = check_venue_order(
            market, side=side, order_type=type, amount=amount, price=price
        )
        client_order_id = client_order_id_of(params) or uuid.uuid4().hex
        existing = self._by_client_order_id(client_order_id)
        if existing is not None:
            return order_dict(existing)
        last = self._last(symbol)  # the exchange, before any row is locked
        try:
            with transaction.atomic():
                order = self._place(
                    market, symbol, type, side, amount, price, last, client_order_id
                )
        except IntegrityError:
            # A concurrent call with the same client order id won the insert: its order.
            order = self._by_client_order_id(client_order_id)
            if order is None:
                raise
        return order_dict(order)

    def _place(
        self,
        market: dict[str, Any],
        symbol: str,
        type: str,
        side: str,
        amount: Decimal,
        price: Decimal | None,
        last: Decimal,
        client_order_id: str,
    ) -> PaperOrder:
        """Place (and maybe fill) one order; the caller holds the transaction."""
        base, quote = market["base"], market["quote"]
        balances = self._locked([base, quote])
        existing = self._by_client_order_id(client_order_id)  # a twin committed meanwhile
        if existing is not None:
            return existing
        buy = side == OrderSide.BUY
        fill_price = self._taker_price(market, side, last)
        crosses = price is None or (price >= last if buy else price <= last)
        if crosses and price is not None:
            # A marketable limit takes the market's price but never a worse one than its limit.
            fill_price = min(fill_price, price) if buy else max(fill_price, price)
        least = market_limit(market, "cost", "min")
        if price is None and least and amount * last < least:
            raise InvalidOrder(
                f"The order is worth {plain_decimal(amount * last)} {quote}; the minimum is "
                f"{plain_decimal(least)} {quote}.",
                pointer="/amount",
            )
        now = self.clock.now_ms()
        order = PaperOrder(
            run_id=self.run_id,
            client_order_id=client_order_id,
            symbol=symbol,
            side=side,
            type=type,
            amount=amount,
            price=price,
            created_ms=now,
            checked_until_ms=now,
        )
        rate = self._fee_rate(market)
        held = balances[quote] if buy else balances[base]
        if crosses:
            need = amount * fill_price + _fee(amount * fill_price, rate) if buy else amount
            self._need(held, need, side, amount, base)
            self._fill(order, balances, base, quote, price=fill_price, rate=rate, at_ms=now)
        else:
            reserve = amount * price + _fee(amount * price, rate) if buy else amount
            self._need(held, reserve, side, amount, base)
            held.free -= reserve
            held.used += reserve
            held.save(update_fields=["free", "used", "updated_at"])
            order.reserved, order.reserved_asset = reserve, held.asset
            order.save(force_insert=True)
        logger.info(
            "paper.order_placed",
            extra={
                "run_id": str(self.run_id),
                "order_id": str(order.pk),
                "side": side,
                "type": type,
                "status": order.status,
            },
        )
        return order

    @staticmethod
    def _need(balance: PaperBalance, need: Decimal, side: str, amount: Decimal, base: str) -> None:
        if balance.free < need:
            raise InsufficientFunds(
                f"{'Buying' if side == OrderSide.BUY else 'Selling'} {plain_decimal(amount)} "
                f"{base} needs {plain_decimal(need)} {balance.asset} of the paper account; "
                f"{plain_decimal(balance.free)} {balance.asset} is free."
            )

    @staticmethod
    def _fill(
        order: PaperOrder,
        balances: dict[str, PaperBalance],
        base_asset: str,
        quote_asset: str,
        *,
        price: Decimal,
        rate: Decimal,
        at_ms: int,
    ) -> None:
        """Execute all of `order` at `price` (rows locked by the caller) and save it."""
        base, quote = balances[base_asset], balances[quote_asset]
        cost = order.amount * price
        fee = _fee(cost, rate)
        if order.side == OrderSide.BUY:
            if order.reserved:
                quote.used -= order.reserved
                quote.free += order.reserved - (cost + fee)
            else:
                quote.free -= cost + fee
            base.free += order.amount
        else:
            if order.reserved:
                base.used -= order.reserved
            else:
                base.free -= order.amount
            quote.free += cost - fee
        for row in (base, quote):
            row.save(update_fields=["free", "used", "updated_at"])
        order.status = OrderStatus.CLOSED
        order.filled = order.amount
        order.average = price
        order.fee = fee
        order.fee_currency = quote_asset
        order.reserved = Decimal(0)
        order.filled_ms = at_ms
        order.checked_until_ms = max(order.checked_until_ms, at_ms)
        order.save()

    def _match(self, order: PaperOrder) -> PaperOrder:
        """Fill a resting limit order at its price if the exchange's price has reached it."""
        if order.status != OrderStatus.OPEN or order.type != OrderType.LIMIT:
            return order
        now = self.clock.now_ms()
        buy = order.side == OrderSide.BUY
        # Whole 1m candles after the minute it was placed in (the part of that minute before
        # the order is not the order's), then the price now.
        since = (order.checked_until_ms // MINUTE_MS + 1) * MINUTE_MS
        crossed_at, checked = None, order.checked_until_ms
        while crossed_at is None and since + MINUTE_MS <= now:
            rows = self.inner.fetch_ohlcv(order.symbol, "1m", since=since, limit=1000)
            closed = [row for row in rows or [] if int(row[0]) + MINUTE_MS <= now]
            if not closed:
                break
            for row in closed:
                low, high = to_decimal(row[3]), to_decimal(row[2])
                if (buy and low <= order.price) or (not buy and high >= order.price):
                    crossed_at = int(row[0]) + MINUTE_MS
                    break
                checked = int(row[0]) + MINUTE_MS
            since = int(closed[-1][0]) + MINUTE_MS
        if crossed_at is None:
            last = self._last(order.symbol)
            if (buy and last <= order.price) or (not buy and last >= order.price):
                crossed_at = now
        if crossed_at is None:
            PaperOrder.objects.filter(pk=order.pk, status=OrderStatus.OPEN).update(
                checked_until_ms=max(checked, order.checked_until_ms)
            )
            return PaperOrder.objects.get(pk=order.pk)
        market = self.inner.market(order.symbol)
        with transaction.atomic():
            locked = PaperOrder.objects.select_for_update().get(pk=order.pk)
            if locked.status != OrderStatus.OPEN:
                return locked  # canceled or filled since it was read
            balances = self._locked([market["base"], market["quote"]])
            self._fill(
                locked,
                balances,
                market["base"],
                market["quote"],
                price=locked.price,
                rate=self._fee_rate(market),
                at_ms=crossed_at,
            )
        logger.info(
            "paper.order_filled", extra={"run_id": str(self.run_id), "order_id": str(order.pk)}
        )
        return locked

    def _find(self, id: str | None, params: dict[str, Any] | None) -> PaperOrder:
        client_order_id = client_order_id_of(params)
        query = PaperOrder.objects.filter(run_id=self.run_id)
        if client_order_id is not None:
            order = query.filter(client_order_id=client_order_id).first()
        else:
            try:
                order = query.filter(pk=uuid.UUID(str(id))).first()
            except ValueError:
                order = None
        if order is None:
            raise OrderNotFound("The paper account has no such order.")
        return order

    def fetch_order(
        self, id: str, symbol: str | None = None, params: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return order_dict(self._match(self._find(id, params)))

    def fetch_open_orders(self, symbol: str | None = None) -> list[dict[str, Any]]:
        orders = PaperOrder.objects.filter(run_id=self.run_id, status=OrderStatus.OPEN)
        if symbol is not None:
            orders = orders.filter(symbol=symbol)
        matched = [self._match(order) for order in orders.order_by("created_ms", "id")]
        return [order_dict(order) for order in matched if order.status == OrderStatus.OPEN]

    def cancel_order(
        self, id: str, symbol: str | None = None, params: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        found = self._match(self._find(id, params))
        with transaction.atomic():
            order = PaperOrder.objects.select_for_update().get(pk=found.pk)
            if order.status == OrderStatus.CANCELED:
                return order_dict(order)  # canceling twice changes nothing
            if order.status != OrderStatus.OPEN:
                raise OrderNotOpen(
                    f"The order is {order.status}; only open orders can be canceled."
                )
            held = self._locked([order.reserved_asset])[order.reserved_asset]
            held.used -= order.reserved
            held.free += order.reserved
            held.save(update_fields=["free", "used", "updated_at"])
            order.status = OrderStatus.CANCELED
            order.reserved = Decimal(0)
            order.canceled_ms = self.clock.now_ms()
            order.save()
        return order_dict(order)


def paper_runtime(run: BotRun) -> Runtime:
    """The runtime of a paper run: the wall clock, the exchange's candles and prices, the
    run's paper account for its orders (and its starting cash)."""
    gateway = gateway_for(run.exchange_connection)
    clock = WallClock()
    return Runtime(
        clock=clock,
        candles=GatewayCandles(gateway, venue_key=venue_key(run.exchange_connection)),
        venue=GatewayVenue(PaperGateway(gateway, run=run, clock=clock)),
    )


register_runtime(PAPER_MODE, paper_runtime)
