"""Golden backtests: the five example strategies on fixed demo-feed candles, compared bit for bit.

`golden/examples.json` was generated from the simulator before its fill rules moved into
`strategies.engine.fills`; any change of a fill, a fee, a rounding or a metric shows up here as
a difference of exact float reprs. Each example runs three ways: as written, with all three
percentage exits at once (stop-loss, trailing stop and take-profit competing, so their order of
precedence is exercised), and with little cash and a coarse step (so orders are rejected).

Regenerate only together with an ENGINE_VERSION bump (the semantics changed on purpose):

    .venv/bin/python -m tests.lab.test_golden --write
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from exchanges.demo import feed
from lab.simulator import BacktestResult, simulate
from strategies.dsl import examples
from strategies.engine import ExitRules, compile_strategy

GOLDEN = Path(__file__).with_name("golden") / "examples.json"
START_MS = 1_735_689_600_000  # 2025-01-01T00:00:00Z: a fixed past range of the demo feed
ROWS = {"1m": 20_000, "15m": 10_000, "1h": 8_000, "4h": 3_000}
STEPS = {"BTC/USDT": "0.00001", "ETH/USDT": "0.0001", "SOL/USDT": "0.001"}

SCENARIOS: dict[str, dict[str, Any]] = {
    "as_written": {"initial_cash": "10000", "fee_bps": "10", "slippage_bps": "0"},
    "all_exits": {
        "initial_cash": "10000",
        "fee_bps": "7.5",
        "slippage_bps": "3",
        "exits": {"stop_loss_pct": 1.5, "trailing_stop_pct": 1.0, "take_profit_pct": 2.5},
    },
    "tight_cash": {
        "initial_cash": "120",
        "fee_bps": "10",
        "slippage_bps": "5",
        "amount_step": "0.001",
    },
}


def candles_of(body: dict) -> dict[str, np.ndarray]:
    """The demo feed's candles of the body's symbol and timeframe over the fixed range."""
    part = feed.candles(
        body["symbol"], body["timeframe"], start_ms=START_MS, limit=ROWS[body["timeframe"]]
    )
    return {
        "ts": part.ts.astype(np.float64),
        "open": part.open,
        "high": part.high,
        "low": part.low,
        "close": part.close,
        "volume": part.volume,
    }


def _sha256(*arrays: np.ndarray) -> str:
    digest = hashlib.sha256()
    for array in arrays:
        digest.update(np.ascontiguousarray(array, dtype="<f8").tobytes())
    return digest.hexdigest()


def _exact(value: Any) -> Any:
    """Floats as their repr (which round-trips every bit); other values as they are."""
    return repr(value) if isinstance(value, float) else value


def record(result: BacktestResult) -> dict[str, Any]:
    """Everything a backtest produced, with every float as its exact repr."""
    position = result.open_position
    equity = result.equity
    return {
        "engine_version": result.engine_version,
        "initial_cash": _exact(result.initial_cash),
        "final_equity": _exact(result.final_equity),
        "rejected_orders": result.rejected_orders,
        "metrics": {name: _exact(value) for name, value in vars(result.metrics).items()},
        "metrics_json": result.metrics.as_dict(),
        "trades": [
            [
                t.entry_index,
                t.exit_index,
                t.entry_ts,
                t.exit_ts,
                _exact(t.entry_price),
                _exact(t.exit_price),
                _exact(t.amount),
                t.amount_str,
                _exact(t.fees),
                _exact(t.pnl),
                _exact(t.pnl_pct),
                t.exit_reason,
            ]
            for t in result.trades
        ],
        "open_position": (
            None
            if position is None
            else {name: _exact(value) for name, value in vars(position).items()}
        ),
        "equity": {
            "rows": int(equity.size),
            "sha256": _sha256(equity),
            "ts_sha256": _sha256(result.equity_ts.astype(np.float64)),
            "first": _exact(float(equity[0])),
            "last": _exact(float(equity[-1])),
            "min": _exact(float(equity.min())),
            "max": _exact(float(equity.max())),
        },
    }


def run_case(name: str, scenario: str) -> dict[str, Any]:
    """Backtest one example under one scenario; the inputs and the result, as recorded."""
    body = examples()[name]
    data = candles_of(body)
    params = dict(SCENARIOS[scenario])
    exits = params.pop("exits", None)
    params.setdefault("amount_step", STEPS[body["symbol"]])
    result = simulate(
        plan_or_signals=compile_strategy(body),
        candles=data,
        exits=ExitRules(**exits) if exits is not None else None,
        **params,
    )
    return {
        "inputs": {
            "symbol": body["symbol"],
            "timeframe": body["timeframe"],
            "start_ms": START_MS,
            "rows": len(data["ts"]),
            "candles_sha256": _sha256(*(data[k] for k in feed.Candle._fields)),
            **params,
            "exits": exits,
        },
        "result": record(result),
    }


def cases() -> list[tuple[str, str]]:
    return [(name, scenario) for name in sorted(examples()) for scenario in SCENARIOS]


def build() -> dict[str, Any]:
    return {f"{name}/{scenario}": run_case(name, scenario) for name, scenario in cases()}


@pytest.fixture(scope="module")
def golden() -> dict[str, Any]:
    return json.loads(GOLDEN.read_text("utf-8"))


def test_the_golden_file_covers_every_example_and_every_fill_path(golden):
    assert sorted(golden) == sorted(f"{n}/{s}" for n, s in cases())
    reasons = {trade[-1] for case in golden.values() for trade in case["result"]["trades"]}
    assert reasons == {"signal", "stop_loss", "trailing_stop", "take_profit"}
    assert any(case["result"]["rejected_orders"] for case in golden.values())
    assert any(case["result"]["open_position"] for case in golden.values())
    assert sum(len(case["result"]["trades"]) for case in golden.values()) > 1000


@pytest.mark.parametrize(("name", "scenario"), cases())
def test_backtest_matches_the_golden_record_bit_for_bit(golden, name, scenario):
    expected = golden[f"{name}/{scenario}"]
    actual = run_case(name, scenario)
    # The candles first: a change there is the feed's, not the fill model's.
    assert actual["inputs"] == expected["inputs"]
    assert actual["result"]["trades"] == expected["result"]["trades"]
    assert actual["result"] == expected["result"]


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python -m tests.lab.test_golden --write")
    GOLDEN.parent.mkdir(exist_ok=True)
    GOLDEN.write_text(json.dumps(build(), indent=1, sort_keys=True) + "\n", "utf-8")
