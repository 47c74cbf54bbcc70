"""A run's runtime: the clock it ticks by, its candle source and its venue, chosen by mode.

`runtime_for(run)` builds the runtime of a run's `execution.mode` from the registered
factories. Demo runs (`demo`) get the live runtime: the wall clock, candles and prices through
`gateway_for(connection)`, orders to that gateway. Another mode plugs in its own with
`register_runtime(mode, factory)` — paper mode a paper venue over the exchange's market data,
replay a dataset-fed candle source, a clock driven candle by candle and a venue filling at the
next candle's open — and the tick (bots.runtime.tick) runs unchanged on it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bots.models import BotRun
from bots.runtime.candles import CandleSource, GatewayCandles
from bots.runtime.clock import Clock, WallClock
from bots.runtime.venue import GatewayVenue, Venue
from exchanges.factory import gateway_for
from exchanges.gateway import DEMO_EXCHANGE
from exchanges.models import ExchangeConnection


class RuntimeUnavailable(Exception):
    """No runtime is registered for the run's mode (its orders must not go anywhere)."""


@dataclass
class Runtime:
    """What a tick reads and trades through. Close it (or use `with`) to release the venue."""

    clock: Clock
    candles: CandleSource
    venue: Venue

    def close(self) -> None:
        self.venue.close()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


RuntimeFactory = Callable[[BotRun], Runtime]
_FACTORIES: dict[str, RuntimeFactory] = {}


def register_runtime(mode: str, factory: RuntimeFactory) -> None:
    """Make `factory(run)` build the runtime of runs whose `execution.mode` is `mode`."""
    _FACTORIES[mode] = factory


def runtime_for(run: BotRun) -> Runtime:
    """The runtime of `run`'s mode; RuntimeUnavailable if none is registered for it.

    The gateway's problems (ConnectionSecretsUnavailable …) propagate.
    """
    mode = (run.execution or {}).get("mode") or "demo"
    factory = _FACTORIES.get(mode)
    if factory is None:
        raise RuntimeUnavailable(f"No runtime trades {mode} runs.")
    return factory(run)


def venue_key(connection: ExchangeConnection) -> str:
    """Which market data a connection's gateway serves: runs on equal keys share candles."""
    if connection.exchange == DEMO_EXCHANGE:
        return DEMO_EXCHANGE  # one deterministic feed for every demo connection
    return f"{connection.exchange}:{connection.mode}"


def gateway_runtime(run: BotRun) -> Runtime:
    """The live runtime: the wall clock, the connection's gateway for candles, prices, orders."""
    gateway = gateway_for(run.exchange_connection)
    return Runtime(
        clock=WallClock(),
        candles=GatewayCandles(gateway, venue_key=venue_key(run.exchange_connection)),
        venue=GatewayVenue(gateway),
    )


register_runtime("demo", gateway_runtime)
