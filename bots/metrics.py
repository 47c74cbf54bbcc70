"""Prometheus metrics of the bots, merged from every process at /metrics (config.metrics).

Ticks, orders and guard trips are counted where they happen, in the `ticks` worker's pool
processes; the runs by state are read from the database when /metrics is scraped.

- `bot_ticks_total{outcome}`: runs ticked by the workers (the live batch task), by outcome:
  `acted` (the candle was decided: HOLD, an order, nothing to do), `not_due`, `busy`,
  `not_running`, `deferred` (venue, unsettled order, candle not published), `error`.
- `bot_tick_seconds{outcome}`: how long one run's tick took in the worker.
- `bot_tick_lag_seconds`: from the close of the candle a tick acted on until the tick was
  done with it (decided, its orders sent): how late bots act.
- `bot_runs{state}`: runs in each state now (replays' runs left out).
- `bot_orders_total{outcome, mode}`: bot orders sent: `placed` (the venue took it),
  `rejected` (the venue or the order checks refused it), `unknown` (no answer; settled later
  by client id); `mode` is the run's execution mode (`demo`, `paper`, and `replay` for a
  replay's orders, which fill on history, not at an exchange).
- `bot_guard_trips_total{code}`: guard trips (`KILL_CAP_DAILY_LOSS`, `RUNAWAY_BREAKER`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from django.db import DatabaseError
from django.db.models import Count
from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric

from bots.models import BotRun, RunState

logger = logging.getLogger(__name__)

ERROR = "error"  # the tick raised (a bug): logged by the task, the run retried after its lease

TICKS = Counter("bot_ticks_total", "Runs ticked by the workers, by outcome.", ["outcome"])
TICK_SECONDS = Histogram(
    "bot_tick_seconds",
    "Time one run's tick took in the worker, by outcome.",
    ["outcome"],
    # A tick that only finds it has nothing to do takes a millisecond; one that orders
    # through a slow venue seconds.
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
TICK_LAG_SECONDS = Histogram(
    "bot_tick_lag_seconds",
    "From the close of the candle a tick acted on until the tick was done with it.",
    # The target is well within a second of the close; minutes mean the workers fall behind.
    buckets=(0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0),
)
ORDERS = Counter(
    "bot_orders_total", "Orders bots sent, by outcome and the run's mode.", ["outcome", "mode"]
)
GUARD_TRIPS = Counter("bot_guard_trips_total", "Guard trips of bot runs, by code.", ["code"])

PLACED, REJECTED, UNKNOWN = "placed", "rejected", "unknown"


def observe_tick(
    outcome: str, *, seconds: float, close_ms: int | None = None, done_ms: int | None = None
) -> None:
    """Count one tick of a run; `close_ms` (the acted-on candle's close) and `done_ms` give
    its lag."""
    TICKS.labels(outcome=outcome).inc()
    TICK_SECONDS.labels(outcome=outcome).observe(seconds)
    if close_ms is not None and done_ms is not None:
        TICK_LAG_SECONDS.observe(max(done_ms - close_ms, 0) / 1000)


def count_order(run: BotRun, outcome: str) -> None:
    """Count one order `run` sent, by its outcome."""
    ORDERS.labels(outcome=outcome, mode=(run.execution or {}).get("mode") or "demo").inc()


class RunStateCollector:
    """`bot_runs{state}`, one indexed count per scrape (every state, zeros included)."""

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily("bot_runs", "Runs in each state.", labels=["state"])
        try:
            counts = dict(
                BotRun.objects.filter(replay__isnull=True)  # a replay's run is no bot's run
                .order_by()
                .values("state")
                .annotate(runs=Count("id"))
                .values_list("state", "runs")
            )
        except DatabaseError as exc:
            # /metrics stays up without the database (its own metrics show the outage).
            logger.warning("metrics.runs_by_state_failed", extra={"error": exc.__class__.__name__})
            return
        for state in RunState:
            family.add_metric([state.value], counts.get(state.value, 0))
        yield family

    def describe(self) -> Iterator[Metric]:
        # Registering must not query the database: describe without collecting.
        yield GaugeMetricFamily("bot_runs", "Runs in each state.", labels=["state"])
