"""The replay runtime: a lab dataset as the market, a clock driven candle by candle.

A replay (bots.replays) ticks a run over a dataset with the live tick (`tick_run(run_id,
runtime=…)`), on a runtime made of:

- `ReplayCandles`, a `CandleSource` serving the dataset's candles up to the clock's close;
- a `ManualClock` the driver sets to each candle's close (`ReplayRuntime.at(i)`);
- `ReplayVenue`, whose sizing price is the next candle's open and whose costs are the
  replay's fee, the bot's slippage and the dataset's amount step;
- `ReplayGateway`, what `terminal.services.place_order` sends the run's orders to: a book of
  its own, in memory, that fills a market order at once at `fill_price(next open)` with the
  fill model's fee, and reports price and fee as the decimals of the model's floats, so the
  run's book (`bots.runtime.book.venue_fill`) rebuilds the model's fill bit for bit.

No demo or exchange account is read or written: the replay's cash exists only here and in the
run's book. There is no `register_runtime("replay", …)`: a replay's runtime belongs to the
driver that moves its clock, and a replay run ticked by anything else (it never is: the
dispatcher leaves replay runs out) would fail MODE_NOT_AVAILABLE instead of trading.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import numpy as np

from bots.runtime.clock import ManualClock
from bots.runtime.runtime import Runtime
from exchanges.exceptions import (
    ExchangeNotSupported,
    InsufficientFunds,
    InvalidOrder,
    OrderNotFound,
    OrderNotOpen,
    UnknownSymbol,
)
from exchanges.gateway import Gateway
from exchanges.models import ExchangeConnection
from exchanges.numbers import plain_decimal
from exchanges.orders import OrderSide, OrderStatus, OrderType, check_venue_order
from exchanges.timeframes import TIMEFRAME_MS
from strategies.engine import Candles
from strategies.engine.fills import BUY, SELL, Costs, apply_fee, fill_price

REPLAY_EXCHANGE = "replay"  # the gateway's exchange id (metrics labels, logs)


def _decimal(value: float) -> Decimal:
    """A float as the decimal of its repr: the shortest digits that give back the same bits."""
    return Decimal(repr(value))


class ReplayCandles:
    """A dataset's candles as a `CandleSource`: those opening in the asked range, all closed."""

    def __init__(self, candles: Candles, *, symbol: str, timeframe: str) -> None:
        self.candles = candles
        self.symbol = symbol
        self.timeframe = timeframe

    def closed(self, symbol: str, timeframe: str, *, since_ms: int, through_ms: int) -> Candles:
        if (symbol, timeframe) != (self.symbol, self.timeframe):
            raise UnknownSymbol(f"The replay's dataset holds {self.symbol} {self.timeframe}.")
        ts = self.candles.ts
        start = int(np.searchsorted(ts, since_ms, side="left"))
        end = int(np.searchsorted(ts, through_ms, side="right"))
        return self.candles[start:end]


class ReplayGateway(Gateway):
    """The replay's venue behind the gateway interface: market orders only, filled at once.

    `next_open` and `next_ts` are the candle an order sent now fills on (set by the runtime).
    Cash and the base held follow the fill model's arithmetic (`Fill.cash_after`), so the
    venue's balance is the run's book's cash exactly.
    """

    exchange_id = REPLAY_EXCHANGE

    def __init__(
        self,
        connection: ExchangeConnection,
        *,
        symbol: str,
        costs: Costs,
        cash: float,
        candles: Candles,
    ) -> None:
        self.connection = connection
        self.symbol = symbol
        self.base, _, self.quote = symbol.partition("/")
        self.costs = costs
        self.cash = cash
        self.units = 0
        self.candles = candles
        self.next_open: float | None = None
        self.next_ts: int | None = None
        self.now_ms = 0
        self._orders: dict[str, dict[str, Any]] = {}  # by client order id
        self._ids: dict[str, str] = {}  # venue id → client order id

    # --- market data

    def _market(self) -> dict[str, Any]:
        return {
            "id": self.symbol.replace("/", ""),
            "symbol": self.symbol,
            "base": self.base,
            "quote": self.quote,
            "type": "spot",
            "spot": True,
            "active": True,
            "taker": Decimal(repr(self.costs.fee_rate)),
            "maker": Decimal(repr(self.costs.fee_rate)),
            "precision": {"amount": self.costs.step_decimal, "price": None},
            # The lab's model has no minimum order: neither has its replay.
            "limits": {
                "amount": {"min": None, "max": None},
                "price": {"min": None, "max": None},
                "cost": {"min": None, "max": None},
            },
        }

    def load_markets(self, reload: bool = False) -> dict[str, dict[str, Any]]:
        return {self.symbol: self._market()}

    def market(self, symbol: str) -> dict[str, Any]:
        if symbol != self.symbol:
            raise UnknownSymbol(f"The replay trades {self.symbol} only, not {symbol!r}.")
        return self._market()

    def fetch_ticker(self, symbol: str) -> dict[str, Any]:
        self.market(symbol)
        if self.next_open is None:
            raise ExchangeNotSupported("The replay has no next candle to price an order at.")
        price = _decimal(self.next_open)
        return {"symbol": symbol, "timestamp": self.now_ms, "last": price, "close": price}

    def fetch_ohlcv(
        self, symbol: str, timeframe: str = "1m", since: int | None = None, limit: int | None = None
    ) -> list[list[Any]]:
        self.market(symbol)
        c = self.candles
        closed = int(np.searchsorted(c.ts, self.now_ms - TIMEFRAME_MS[timeframe], side="right"))
        start = int(np.searchsorted(c.ts, since, side="left")) if since is not None else 0
        stop = closed if limit is None else min(closed, start + int(limit))
        columns = (c.open, c.high, c.low, c.close, c.volume)
        return [
            [int(c.ts[i]), *(_decimal(float(column[i])) for column in columns)]
            for i in range(start, stop)
        ]

    # --- account

    def fetch_balance(self) -> dict[str, dict[str, Decimal]]:
        held = self.units * self.costs.step_decimal
        free = {self.quote: _decimal(self.cash), self.base: held}
        return {"free": free, "used": {self.quote: Decimal(0)}, "total": dict(free)}

    def create_order(
        self,
        symbol: str,
        type: str,
        side: str,
        amount: Decimal | str | float,
        price: Decimal | str | float | None = None,
        params: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        market = self.market(symbol)
        if type != OrderType.MARKET:
            raise InvalidOrder(
                "A replay fills market orders at the next candle's open, as a backtest does.",
                pointer="/type",
            )
        amount, _ = check_venue_order(
            market, side=side, order_type=type, amount=amount, price=price
        )
        client_order_id = (params or {}).get("clientOrderId") or uuid.uuid4().hex
        if client_order_id in self._orders:
            return dict(self._orders[client_order_id])  # idempotent on the client order id
        if self.next_open is None:
            raise InvalidOrder("The replay has no next candle to fill the order on.")
        costs = self.costs
        units = int(amount / costs.step_decimal)
        model_side = BUY if side == OrderSide.BUY else SELL
        fill = fill_price(self.next_open, model_side, costs.slippage)
        notional = (units * costs.step) * fill
        fee = apply_fee(notional, costs.fee_rate)
        if side == OrderSide.BUY:
            if notional + fee > self.cash:
                raise InsufficientFunds(
                    f"Buying {plain_decimal(amount)} {self.base} needs {notional + fee} "
                    f"{self.quote}; {self.cash} {self.quote} is free.",
                    pointer="/amount",
                )
            self.cash = self.cash - notional - fee  # Fill.cash_after of a buy
            self.units += units
        else:
            if units > self.units:
                raise InsufficientFunds(
                    f"Selling {plain_decimal(amount)} {self.base}; "
                    f"{plain_decimal(self.units * costs.step_decimal)} {self.base} is held.",
                    pointer="/amount",
                )
            self.cash = self.cash + notional - fee  # Fill.cash_after of a sale
            self.units -= units
        order_id = uuid.uuid4().hex
        order = {
            "id": order_id,
            "clientOrderId": client_order_id,
            "timestamp": self.next_ts,
            "lastTradeTimestamp": self.next_ts,
            "symbol": symbol,
            "type": type,
            "side": side,
            "amount": amount,
            "price": _decimal(fill),
            "status": OrderStatus.CLOSED,
            "filled": amount,
            "remaining": Decimal(0),
            "average": _decimal(fill),
            "cost": _decimal(notional),
            "fee": {"cost": _decimal(fee), "currency": self.quote},
        }
        self._orders[client_order_id] = order
        self._ids[order_id] = client_order_id
        return dict(order)

    def _find(self, id: str | None, params: dict[str, Any] | None) -> dict[str, Any]:
        client_order_id = (params or {}).get("clientOrderId") or self._ids.get(str(id or ""))
        order = self._orders.get(client_order_id or "")
        if order is None:
            raise OrderNotFound("The replay has no such order.")
        return order

    def fetch_order(
        self, id: str, symbol: str | None = None, params: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return dict(self._find(id, params))

    def cancel_order(
        self, id: str, symbol: str | None = None, params: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        order = self._find(id, params)
        raise OrderNotOpen(f"The order is {order['status']}; a replay's orders never rest.")

    def fetch_open_orders(self, symbol: str | None = None) -> list[dict[str, Any]]:
        return []  # market orders fill as they are placed


class ReplayVenue:
    """The replay's `Venue`: the next candle's open as the sizing price, the replay's costs."""

    def __init__(self, gateway: ReplayGateway, *, starting_cash: float) -> None:
        self.gateway = gateway
        self._starting_cash = starting_cash

    def market(self, symbol: str) -> dict[str, Any]:
        return self.gateway.market(symbol)

    def price(self, symbol: str) -> float:
        self.gateway.market(symbol)
        if self.gateway.next_open is None:
            raise ExchangeNotSupported("The replay has no next candle to price an order at.")
        return self.gateway.next_open  # the dataset's own float: the backtest's open_price

    def costs(self, symbol: str, *, slippage_bps: int | Decimal) -> Costs:
        # The replay's costs were fixed when it was made (with the bot's slippage).
        return self.gateway.costs

    def starting_cash(self, asset: str) -> float:
        return self._starting_cash

    def close(self) -> None:
        """Nothing to release: the replay's book lives in memory."""


class ReplayRuntime(Runtime):
    """A runtime over `candles`: `at(i)` makes candle i the newest closed one."""

    def __init__(
        self,
        connection: ExchangeConnection,
        *,
        candles: Candles,
        symbol: str,
        timeframe: str,
        costs: Costs,
        initial_cash: float,
    ) -> None:
        self.span = TIMEFRAME_MS[timeframe]
        self.dataset = candles
        gateway = ReplayGateway(
            connection, symbol=symbol, costs=costs, cash=initial_cash, candles=candles
        )
        super().__init__(
            clock=ManualClock(int(candles.ts[0]) if len(candles) else 0),
            candles=ReplayCandles(candles, symbol=symbol, timeframe=timeframe),
            venue=ReplayVenue(gateway, starting_cash=initial_cash),
        )

    @property
    def gateway(self) -> ReplayGateway:
        return self.venue.gateway

    def at(self, index: int) -> None:
        """Candle `index` has just closed; an order sent now fills at candle `index + 1`'s open.

        The clock is set to the candle's close, which is when a live run decides on it.
        """
        c = self.dataset
        now = int(c.ts[index]) + self.span
        self.clock.set(now)
        gateway = self.gateway
        gateway.now_ms = now
        if index + 1 < len(c):
            gateway.next_open, gateway.next_ts = float(c.open[index + 1]), int(c.ts[index + 1])
        else:
            gateway.next_open = gateway.next_ts = None
