"""A bot's chart: closed candles of its symbol with the strategy's indicators, computed by the
strategy engine (the same kernels its ticks decide by), and a run's fills as markers.

Read-only: candles come through the connection's gateway, fills from the run's events.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

from bots import selectors
from bots.models import BotRun, RunEvent
from exchanges.factory import gateway_for
from exchanges.models import ExchangeConnection
from exchanges.timeframes import TIMEFRAME_MS
from strategies.dsl import InvalidBody
from strategies.engine import Plan, compile_strategy
from strategies.engine.candles import FIELDS
from strategies.models import StrategyVersion

MAX_CANDLES = 1000
DEFAULT_CANDLES = 300
OHLCV_PAGE = 1000  # the most Binance (and the demo venue) return in one answer
# Indicators the chart draws over the candles (they share the price's scale when computed from
# a price); every other indicator (RSI, MACD, ATR, or one computed from volume) gets a pane.
OVERLAYS = frozenset({"sma", "ema", "bbands"})
PRICE_PANE = "price"


@dataclass
class Chart:
    symbol: str
    timeframe: str
    candles: list[dict[str, Any]]
    indicators: list[dict[str, Any]] = field(default_factory=list)
    markers: list[dict[str, Any]] = field(default_factory=list)


def _closed_rows(connection: ExchangeConnection, symbol: str, timeframe: str, count: int):
    """The latest `count` closed candles as gateway rows, oldest first (paged by `since`)."""
    span = TIMEFRAME_MS[timeframe]
    forming = int(time.time() * 1000) // span * span  # open time of the candle still forming
    cursor = forming - count * span
    rows: list[list[Any]] = []
    with gateway_for(connection) as gateway:
        gateway.market(symbol)  # UnknownSymbol (pointer /symbol) before asking for candles
        while cursor < forming:
            batch = gateway.fetch_ohlcv(symbol, timeframe, since=cursor, limit=OHLCV_PAGE)
            got = [row for row in batch or [] if cursor <= int(row[0]) < forming]
            if not got:
                break  # the venue has no more history in the range
            rows.extend(got)
            cursor = int(got[-1][0]) + span
    return rows[-count:]


def _panes(plan: Plan) -> dict[str, str]:
    """Each indicator output's pane: PRICE_PANE for overlays of prices, else its root's name."""
    pane_of_key: dict[str, str] = {}
    for step in plan.steps:
        if step.kind in OVERLAYS:
            source = step.source or "close"
            if source in pane_of_key:
                pane = pane_of_key[source]
            else:  # a price field
                pane = step.name if source == "volume" else PRICE_PANE
        else:
            pane = step.name
        for key in step.outputs:
            pane_of_key[key] = pane
    return pane_of_key


def _number(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def _indicators(plan: Plan, rows: list[list[Any]], shown: int) -> list[dict[str, Any]]:
    columns = list(zip(*rows, strict=True)) if rows else [[] for _ in FIELDS]
    candles = {name: [float(v) for v in columns[i]] for i, name in enumerate(FIELDS)}
    series = plan.indicator_series(candles)
    panes = _panes(plan)
    kinds = {key: step for step in plan.steps for key in step.outputs}
    result = []
    for key, values in series.items():
        step = kinds[key]
        name, _, output = key.partition(".")
        result.append(
            {
                "key": key,
                "name": name,
                "type": step.kind,
                "output": output or None,
                "pane": panes[key],
                "values": [_number(v) for v in values[len(values) - shown :]],
            }
        )
    return result


def _markers(run: BotRun, since_ms: int) -> list[dict[str, Any]]:
    """The run's fills (its entries and exits) on candles from `since_ms` on, oldest first."""
    markers = []
    fills = selectors.run_events(run=run).filter(kind=RunEvent.Kind.FILL)
    for event in fills:
        data = event.data or {}
        if "ts" not in data or "side" not in data or int(data["ts"]) < since_ms:
            continue
        trade = data.get("trade") or {}
        markers.append(
            {
                "ts": int(data["ts"]),
                "side": data["side"],
                "price": data.get("price"),
                "amount": data.get("amount"),
                "reason": trade.get("exit_reason") or data.get("intent") or "",
                "seq": event.seq,
            }
        )
    return markers


def chart(
    *,
    version: StrategyVersion,
    connection: ExchangeConnection,
    limit: int = DEFAULT_CANDLES,
    run: BotRun | None = None,
) -> Chart:
    """The latest `limit` closed candles of `version`'s symbol on `connection`, its indicators
    (warmed up on `lookback` candles before them, as a run loads), and `run`'s fills.

    Venue problems (unreachable, unknown symbol …) propagate as the gateway raises them.
    """
    body = version.body
    symbol, timeframe = body["symbol"], body["timeframe"]
    try:
        plan = compile_strategy(body)
    except InvalidBody:
        plan = None  # a version that no longer validates: candles without indicators
    warmup = plan.lookback if plan is not None else 0
    rows = _closed_rows(connection, symbol, timeframe, limit + warmup)
    shown = min(limit, len(rows))
    candles = [dict(zip(FIELDS, row[:6], strict=True)) for row in rows[len(rows) - shown :]]
    result = Chart(symbol=symbol, timeframe=timeframe, candles=candles)
    if plan is not None and rows:
        result.indicators = _indicators(plan, rows, shown)
    if run is not None and candles:
        result.markers = _markers(run, int(candles[0]["ts"]))
    return result
