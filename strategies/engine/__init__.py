"""The strategy engine: compile a DSL body once, evaluate it over candles (lab and bots alike).

``fills`` is the fill model (sizing, fees, amount steps, exits) a backtest and a bot's tick
share. Pure Python and NumPy, no Django: ``strategies`` and ``lab`` services call it.
"""

from strategies.engine import fills
from strategies.engine.candles import Candles
from strategies.engine.compiler import (
    GRID_DECIMALS,
    TIMEFRAME_MS,
    ExitRules,
    LatestSignal,
    Plan,
    Signals,
    Sizing,
    compile_strategy,
    on_grid,
)

# Version of the evaluation and fill semantics (this package, fills and lab.simulator). Bump it with
# any change that can alter a signal, a fill or a metric: the lab hashes it into inputs_sha256,
# so results of different semantics are never taken for one another.
ENGINE_VERSION = "1.0.0"

__all__ = [
    "ENGINE_VERSION",
    "GRID_DECIMALS",
    "TIMEFRAME_MS",
    "Candles",
    "ExitRules",
    "LatestSignal",
    "Plan",
    "Signals",
    "Sizing",
    "compile_strategy",
    "fills",
    "on_grid",
]
