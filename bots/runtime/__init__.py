"""The tick runtime: how a RUNNING run acts on each closed candle (docs/bots.md).

Seams (what a runtime is made of, and where other modes plug in):

- `clock.Clock` — `now_ms()`; `WallClock` live, `ManualClock` for tests and replays;
- `candles.CandleSource` — `closed(symbol, timeframe, since_ms=, through_ms=) -> Candles`;
  `GatewayCandles` reads a gateway, shared and cached per venue, symbol, timeframe and close;
- `venue.Venue` — `market`, `price` (the sizing price), `costs`, `starting_cash`, and the
  `gateway` that `terminal.services.place_order` sends the run's orders through;
- `runtime.Runtime(clock, candles, venue)`, built per run by `runtime_for(run)` from the
  factory registered for its `execution.mode` (`register_runtime(mode, factory)`).

Flow: `dispatch.dispatch_due_runs` (beat) → `bots.tick_runs` → `tick.tick_run(run_id)`;
`dispatch.reconcile_unsettled` (worker start, beat); `stopping.wind_down` (a stop).
"""

# The paper runtime registers itself on import (demo's is runtime.gateway_runtime).
from bots.runtime import paper  # noqa: F401
from bots.runtime.clock import Clock, ManualClock, WallClock, latest_closed_ts
from bots.runtime.runtime import (
    Runtime,
    RuntimeUnavailable,
    gateway_runtime,
    register_runtime,
    runtime_for,
)
from bots.runtime.tick import TickResult, tick_run

__all__ = [
    "Clock",
    "ManualClock",
    "Runtime",
    "RuntimeUnavailable",
    "TickResult",
    "WallClock",
    "gateway_runtime",
    "latest_closed_ts",
    "register_runtime",
    "runtime_for",
    "tick_run",
]
