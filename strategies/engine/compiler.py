"""Compile a strategy body once into a Plan; evaluate the Plan over candles, whole or latest.

The compiler validates the body, resolves every reference to a series key, orders the
indicators so each one's source is computed first, and works out the warm-up statically. A
Plan holds no candle data and no state between calls: the lab evaluates whole arrays with
``evaluate`` and bots call ``evaluate_latest`` on each closed candle, through the same code.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from exchanges.timeframes import TIMEFRAME_MS as TIMEFRAME_MS  # the package re-exports it
from strategies.dsl import INDICATOR_OUTPUTS, InvalidBody, validate_body
from strategies.engine import indicators as kernels
from strategies.engine.candles import Candles

# Values are compared on a grid of 1e-8 (np.round: x·1e8 → round half to even → ÷1e8). The
# grid is coarser than float noise (≤ ~1e-10 at crypto prices), so two series that are equal
# in exact arithmetic compare as a tie instead of a coin flip on the last bit, and it is fine
# enough for any price, amount or indicator a strategy compares.
GRID_DECIMALS = 8
# A recursive indicator counts as settled once its seed weighs less than this: a bot that
# loads `lookback` candles then agrees with a longer history far below the grid.
_SEED_WEIGHT = 1e-13


PRICE_FIELDS = ("open", "high", "low", "close", "volume", "hl2", "hlc3", "ohlc4")


def on_grid(values: Any) -> Any:
    """Round values (array or float) onto the comparison grid."""
    return np.round(values, GRID_DECIMALS)


@dataclass(frozen=True)
class Sizing:
    """Position size on entry: ``percent_equity`` (value in (0, 100]) or ``fixed_quote``."""

    kind: str
    value: float


@dataclass(frozen=True)
class ExitRules:
    """Percentage exits, checked at each close; None when the body does not set them."""

    take_profit_pct: float | None = None
    stop_loss_pct: float | None = None
    trailing_stop_pct: float | None = None


@dataclass(frozen=True, eq=False)
class Signals:
    """Boolean entry/exit per candle (True at the close of that candle; False in warm-up)."""

    entry: np.ndarray
    exit: np.ndarray
    warmup: int = 0
    timeframe: str | None = None
    series: Mapping[str, np.ndarray] = field(default_factory=dict)  # compared series, for charts


@dataclass(frozen=True)
class LatestSignal:
    """Signals at the last candle of a window, for a bot's tick."""

    entry: bool
    exit: bool
    ts: int


def _recursive_settle(alpha: float) -> int:
    """Candles after which a smoothing with ``alpha`` has forgotten its seed (weight < 1e-13)."""
    weight, steps = 1.0, 0
    while weight >= _SEED_WEIGHT and alpha < 1.0:
        weight *= 1.0 - alpha
        steps += 1
    return steps


@dataclass(frozen=True)
class _Step:
    """One indicator to compute: kernel inputs and outputs as series keys."""

    name: str
    kind: str
    params: tuple[float, ...]
    source: str | None  # series key; None for ATR (high/low/close)
    source_first: int  # first defined index of the source (its warm-up is a NaN prefix)
    outputs: tuple[str, ...]  # series keys, in the kernel's output order


# Kernel outputs' first valid index and seed-settling length, relative to the source's.
def _offsets(kind: str, p: tuple[float, ...]) -> list[tuple[int, int]]:
    n = int(p[0])
    if kind == "sma":
        return [(n - 1, 0)]
    if kind == "ema":
        return [(n - 1, _recursive_settle(2.0 / (n + 1)))]
    if kind == "rsi":
        return [(n, _recursive_settle(1.0 / n))]
    if kind == "atr":
        return [(n, _recursive_settle(1.0 / n))]
    if kind == "bbands":
        return [(n - 1, 0)] * 3
    fast, slow, signal = (int(v) for v in p)
    line = (slow - 1, max(_recursive_settle(2 / (fast + 1)), _recursive_settle(2 / (slow + 1))))
    sig = (slow + signal - 2, line[1] + _recursive_settle(2.0 / (signal + 1)))
    return [line, sig, sig]


def _run_kernel(step: _Step, source: np.ndarray | None, candles: Candles) -> tuple[np.ndarray, ...]:
    p = step.params
    if step.kind == "atr":
        return (kernels.atr(candles.high, candles.low, candles.close, int(p[0])),)
    if source is None:
        raise ValueError(f"indicator {step.name!r} has no source")
    if step.kind == "sma":
        return (kernels.sma(source, int(p[0])),)
    if step.kind == "ema":
        return (kernels.ema(source, int(p[0])),)
    if step.kind == "rsi":
        return (kernels.rsi(source, int(p[0])),)
    if step.kind == "bbands":
        return kernels.bbands(source, int(p[0]), p[1])
    return kernels.macd(source, int(p[0]), int(p[1]), int(p[2]))


def _price(name: str, c: Candles) -> np.ndarray:
    # Typical prices with a fixed order of operations (documented in docs/strategy-dsl.md).
    if name == "hl2":
        return (c.high + c.low) / 2.0
    if name == "hlc3":
        return (c.high + c.low + c.close) / 3.0
    if name == "ohlc4":
        return (c.open + c.high + c.low + c.close) / 4.0
    return getattr(c, name)


# -- condition nodes ---------------------------------------------------------------------------
# A node maps (compared series on the grid, number of rows) to a boolean array. Operands are
# a series key (str) or a constant already on the grid (float).

Operand = str | float
Node = Callable[[Mapping[str, np.ndarray], int], np.ndarray]

_COMPARE = {"gt": np.greater, "gte": np.greater_equal, "lt": np.less, "lte": np.less_equal}


def _value(operand: Operand, values: Mapping[str, np.ndarray]) -> np.ndarray | float:
    return values[operand] if isinstance(operand, str) else operand


def _compare_node(op: str, a: Operand, b: Operand) -> Node:
    ufunc = _COMPARE[op]

    def node(values: Mapping[str, np.ndarray], rows: int) -> np.ndarray:
        # NaN (warm-up) compares false; the plan masks the warm-up anyway.
        out = ufunc(_value(a, values), _value(b, values))
        return np.broadcast_to(out, (rows,))

    return node


def _cross_node(op: str, a: Operand, b: Operand) -> Node:
    # crosses_above: a[t-1] < b[t-1] and a[t] > b[t]; crosses_below mirrors it. A tie on either
    # candle is neither above nor below, so below → tie → above is not a cross.
    before, after = (np.less, np.greater) if op == "crosses_above" else (np.greater, np.less)

    def node(values: Mapping[str, np.ndarray], rows: int) -> np.ndarray:
        out = np.zeros(rows, dtype=bool)
        if rows < 2:
            return out
        va, vb = _value(a, values), _value(b, values)
        prev_a, now_a = (va[:-1], va[1:]) if isinstance(va, np.ndarray) else (va, va)
        prev_b, now_b = (vb[:-1], vb[1:]) if isinstance(vb, np.ndarray) else (vb, vb)
        np.logical_and(before(prev_a, prev_b), after(now_a, now_b), out=out[1:])
        return out

    return node


def _all_node(children: list[Node]) -> Node:
    def node(values: Mapping[str, np.ndarray], rows: int) -> np.ndarray:
        out = np.array(children[0](values, rows), dtype=bool)  # a writable copy
        for child in children[1:]:
            out &= child(values, rows)
        return out

    return node


def _any_node(children: list[Node]) -> Node:
    def node(values: Mapping[str, np.ndarray], rows: int) -> np.ndarray:
        out = np.array(children[0](values, rows), dtype=bool)
        for child in children[1:]:
            out |= child(values, rows)
        return out

    return node


def _not_node(child: Node) -> Node:
    def node(values: Mapping[str, np.ndarray], rows: int) -> np.ndarray:
        return ~child(values, rows)

    return node


@dataclass(frozen=True, eq=False)
class Plan:
    """A compiled strategy: what to compute, in which order, and how to combine it.

    ``warmup`` is the index of the first candle that can carry a signal (= number of candles
    needed before it). ``lookback`` is how many candles a bot loads when it starts so that its
    recursive indicators (EMA, RSI, ATR, MACD) have forgotten their seed; see
    ``evaluate_latest``.
    """

    body: Mapping[str, Any]
    symbol: str
    timeframe: str
    sizing: Sizing
    exits: ExitRules
    warmup: int
    lookback: int
    steps: tuple[_Step, ...]
    compared: tuple[str, ...]  # series keys the conditions read
    entry_node: Node
    exit_node: Node | None

    def evaluate(self, candles: Candles | Mapping[str, Any]) -> Signals:
        """Entry/exit signals for every candle, vectorised over the whole arrays."""
        c = Candles.of(candles)
        rows = len(c)
        compared = {key: on_grid(series) for key, series in self._series(c).items()}
        entry = self._combine(self.entry_node, compared, rows)
        exit_ = self._combine(self.exit_node, compared, rows)
        return Signals(entry, exit_, self.warmup, self.timeframe, compared)

    def evaluate_latest(self, candles: Candles | Mapping[str, Any]) -> LatestSignal:
        """Signals at the last candle of ``candles``, for a bot.

        Equal, bit for bit, to ``evaluate(candles)`` at the last index: the indicators are
        computed by the same kernels over the same candles, and the conditions read the same
        rounded values (only the last two rows, all a cross needs).

        Bots: load ``lookback`` closed candles when the run starts, append each newly closed
        candle, and pass the whole kept history (do not drop its oldest candles during the
        run). Every kernel is prefix-invariant, so each decision then equals the signal a
        backtest of a dataset starting at the same first candle gives at that candle.
        """
        c = Candles.of(candles)
        rows = len(c)
        if rows == 0:
            raise ValueError("evaluate_latest needs at least one candle")
        ts = int(c.ts[-1])
        if rows - 1 < self.warmup:
            return LatestSignal(False, False, ts)
        tail = {key: on_grid(series[-2:]) for key, series in self._series(c).items()}
        last = min(rows, 2)
        entry = bool(self.entry_node(tail, last)[-1])
        exit_ = bool(self.exit_node(tail, last)[-1]) if self.exit_node is not None else False
        return LatestSignal(entry, exit_, ts)

    def indicator_series(self, candles: Candles | Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Raw (unrounded) values of every indicator output the plan computes, by series key
        (`fast`, `bb.upper` …), NaN in each one's warm-up: what a chart of the strategy draws.

        Computed by the same kernels, in the same order, as the signals.
        """
        c = Candles.of(candles)
        values = self._compute(c)
        return {key: values[key] for step in self.steps for key in step.outputs}

    def _series(self, c: Candles) -> dict[str, np.ndarray]:
        """Raw (unrounded) values of every series the conditions compare."""
        values = self._compute(c)
        return {key: values[key] if key in values else _price(key, c) for key in self.compared}

    def _compute(self, c: Candles) -> dict[str, np.ndarray]:
        """Every indicator output, and the price fields they are computed from."""
        values: dict[str, np.ndarray] = {}

        def get(key: str) -> np.ndarray:
            if key not in values:
                values[key] = _price(key, c)  # indicator keys are filled by their step
            return values[key]

        for step in self.steps:
            source = get(step.source) if step.source is not None else None
            if source is not None and step.source_first:
                # A chained source starts with its own warm-up: compute on the defined part.
                defined = _run_kernel(step, source[step.source_first :], c)
                outputs = tuple(_pad_front(out, len(c)) for out in defined)
            else:
                outputs = _run_kernel(step, source, c)
            values.update(zip(step.outputs, outputs, strict=True))
        return values

    def _combine(
        self, node: Node | None, compared: Mapping[str, np.ndarray], rows: int
    ) -> np.ndarray:
        if node is None:
            return np.zeros(rows, dtype=bool)
        out = np.array(node(compared, rows), dtype=bool)
        out[: self.warmup] = False
        return out


def _pad_front(values: np.ndarray, rows: int) -> np.ndarray:
    """Right-align ``values`` in ``rows`` rows, NaN in front."""
    out = np.full(rows, np.nan)
    out[rows - values.size :] = values
    return out


class _Compiler:
    def __init__(self, body: Mapping[str, Any]) -> None:
        self.body = body
        self.declared = {item["name"]: item for item in body["indicators"]}
        self.steps: list[_Step] = []
        self.first_valid: dict[str, int] = dict.fromkeys(PRICE_FIELDS, 0)
        self.settle: dict[str, int] = dict.fromkeys(PRICE_FIELDS, 0)
        self.compared: dict[str, int] = {}  # series key → extra candles (1 when crossed)

    def key(self, ref: Mapping[str, Any]) -> str:
        """Series key of a reference, compiling the indicator (and its sources) on first use."""
        name = ref["ind"]
        output = ref.get("output")
        key = f"{name}.{output}" if output else name
        if key not in self.first_valid:
            self.indicator(self.declared[name])
        return key

    def indicator(self, item: Mapping[str, Any]) -> None:
        name, kind = item["name"], item["type"]
        source_spec = item.get("source", "close")
        source: str | None = None
        if kind != "atr":
            source = source_spec if isinstance(source_spec, str) else self.key(source_spec)
        if kind == "macd":
            params: tuple[float, ...] = (item["fast"], item["slow"], item["signal"])
        elif kind == "bbands":
            params = (item["period"], float(item["stddev"]))
        else:
            params = (item["period"],)
        names = INDICATOR_OUTPUTS[kind]
        outputs = tuple(f"{name}.{o}" for o in names) if names else (name,)
        base_first = self.first_valid[source] if source else 0
        base_settle = self.settle[source] if source else 0
        for key, (first, settle) in zip(outputs, _offsets(kind, params), strict=True):
            self.first_valid[key] = base_first + first
            self.settle[key] = base_settle + settle
        self.steps.append(_Step(name, kind, params, source, base_first, outputs))

    def operand(self, spec: Any, crossed: bool) -> Operand:
        if isinstance(spec, int | float):
            return float(on_grid(float(spec)))
        key = spec["price"] if "price" in spec else self.key(spec)
        self.compared[key] = max(self.compared.get(key, 0), 1 if crossed else 0)
        return key

    def condition(self, node: Mapping[str, Any]) -> Node:
        ((op, arg),) = node.items()
        if op in ("all", "any"):
            children = [self.condition(child) for child in arg]
            return _all_node(children) if op == "all" else _any_node(children)
        if op == "not":
            return _not_node(self.condition(arg))
        crossed = op.startswith("crosses_")
        a, b = (self.operand(spec, crossed) for spec in arg)
        return _cross_node(op, a, b) if crossed else _compare_node(op, a, b)


def compile_strategy(body: Mapping[str, Any]) -> Plan:
    """Validate ``body`` and compile it into a Plan; raise InvalidBody listing every error."""
    errors = validate_body(body)
    if errors:
        raise InvalidBody(errors)
    body = copy.deepcopy(dict(body))  # the plan must not change if the caller's dict does
    compiler = _Compiler(body)
    entry_node = compiler.condition(body["entry"])
    exit_rules = body["exit"]
    exit_node = compiler.condition(exit_rules["signal"]) if "signal" in exit_rules else None
    # Warm-up: the first index at which every compared series is defined (and, for a cross,
    # was defined on the previous candle too).
    warmup = max(
        (compiler.first_valid[k] + extra for k, extra in compiler.compared.items()), default=0
    )
    settled = max(
        (
            compiler.first_valid[k] + compiler.settle[k] + extra
            for k, extra in compiler.compared.items()
        ),
        default=0,
    )

    def pct(name: str) -> float | None:
        value = exit_rules.get(name)
        return float(value) if value is not None else None

    return Plan(
        body=body,
        symbol=body["symbol"],
        timeframe=body["timeframe"],
        sizing=Sizing(body["sizing"]["type"], float(body["sizing"]["value"])),
        exits=ExitRules(pct("take_profit_pct"), pct("stop_loss_pct"), pct("trailing_stop_pct")),
        warmup=warmup,
        lookback=max(warmup, settled) + 1,
        steps=tuple(compiler.steps),
        compared=tuple(compiler.compared),
        entry_node=entry_node,
        exit_node=exit_node,
    )
