"""Where a tick trades: a `Venue`, its prices and costs, and the gateway its orders go through.

The live runtime's venue is the run's gateway (`gateway_for(connection)`): the sizing price is
the ticker's last price, the costs are the market's taker fee, the bot's slippage and the
market's amount step. A replay plugs in a venue whose price is the next candle's open and
whose gateway fills at the fill model's prices; paper mode one that fills on a paper balance.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Protocol

from bots.runtime.faults import AFTER_SEND, fault_point
from exchanges.gateway import Gateway
from exchanges.orders import market_step
from strategies.engine.fills import Costs


class Venue(Protocol):
    """What a tick needs of the place it trades on."""

    gateway: Gateway  # what terminal.services.place_order sends the run's orders through

    def market(self, symbol: str) -> dict[str, Any]:
        """The ccxt market of `symbol` (precision as steps, limits, `quote`, `taker`)."""
        ...

    def price(self, symbol: str) -> float:
        """The price an order sent now fills near: the fill model sizes entries at it."""
        ...

    def costs(self, symbol: str, *, slippage_bps: int | Decimal) -> Costs:
        """The fill model's costs of `symbol`: fee, the bot's slippage, the amount step."""
        ...

    def starting_cash(self, asset: str) -> float:
        """The free balance of `asset` a new run's book starts with."""
        ...

    def close(self) -> None: ...


class GatewayVenue:
    """A venue read through a gateway: the ticker's last price, the market's fee and steps."""

    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway
        self.gateway = FaultPointGateway(gateway)
        self._markets: dict[str, dict[str, Any]] = {}

    def market(self, symbol: str) -> dict[str, Any]:
        if symbol not in self._markets:
            self._markets[symbol] = self._gateway.market(symbol)
        return self._markets[symbol]

    def price(self, symbol: str) -> float:
        ticker = self._gateway.fetch_ticker(symbol)
        last = ticker.get("last")
        return float(last if last is not None else ticker["close"])

    def costs(self, symbol: str, *, slippage_bps: int | Decimal) -> Costs:
        market = self.market(symbol)
        taker = market.get("taker")
        # str(): ccxt's float 0.001 means the decimal 0.001, not its binary neighbour.
        fee_bps = Decimal(str(taker)) * 10_000 if taker is not None else Decimal(0)
        return Costs.of(
            fee_bps=fee_bps, slippage_bps=slippage_bps, amount_step=market_step(market, "amount")
        )

    def starting_cash(self, asset: str) -> float:
        return float(self._gateway.fetch_balance().get("free", {}).get(asset, 0))

    def close(self) -> None:
        self._gateway.close()


class FaultPointGateway(Gateway):
    """The run's gateway with the `after_send` fault point behind `create_order`.

    Everything is passed on unchanged; only when the test-only hook is armed does the process
    die between the venue's acceptance of an order and the journal's record of it.
    """

    def __init__(self, inner: Gateway) -> None:
        self.inner = inner
        self.connection = inner.connection
        self.exchange_id = inner.exchange_id
        self.has_credentials = inner.has_credentials

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

    def create_order(
        self,
        symbol: str,
        type: str,
        side: str,
        amount: Decimal | str | float,
        price: Decimal | str | float | None = None,
        params: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        answer = self.inner.create_order(symbol, type, side, amount, price, params)
        fault_point(AFTER_SEND)
        return answer

    def cancel_order(
        self, id: str, symbol: str | None = None, params: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return self.inner.cancel_order(id, symbol, params)

    def fetch_order(
        self, id: str, symbol: str | None = None, params: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return self.inner.fetch_order(id, symbol, params)

    def fetch_open_orders(self, symbol: str | None = None) -> list[dict[str, Any]]:
        return self.inner.fetch_open_orders(symbol)

    def fetch_balance(self) -> dict[str, dict[str, Decimal]]:
        return self.inner.fetch_balance()

    def close(self) -> None:
        self.inner.close()
