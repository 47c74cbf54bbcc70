"""The hash that names a backtest's inputs, so equal inputs are recognised as equal results.

A backtest's result is a pure function of its inputs: the strategy version's body, the dataset's
candles, the parameters and the engine version. `inputs_sha256` names those inputs:

    SHA-256 of the canonical JSON (keys sorted, no spaces, UTF-8) of
    {"amount_step": "0.00001", "dataset_sha256": "<hex>", "engine_version": "1.0.0",
     "fee_bps": "10", "initial_cash": "10000", "slippage_bps": "0",
     "strategy_body_sha256": "<hex>", "timeframe": "1m"}

with every decimal written in plain notation without trailing zeros ("10000", "0.5"), so the
same values give the same hash however they were typed.
"""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal

from exchanges.numbers import plain_decimal
from lab.models import Backtest
from lab.simulator import ENGINE_VERSION


def inputs_sha256(
    *,
    strategy_body_sha256: str,
    dataset_sha256: str,
    timeframe: str,
    amount_step: Decimal,
    initial_cash: Decimal,
    fee_bps: Decimal,
    slippage_bps: Decimal,
    engine_version: str = ENGINE_VERSION,
) -> str:
    """SHA-256 naming everything that determines a backtest's result (module docstring)."""
    inputs = {
        "amount_step": plain_decimal(amount_step),
        "dataset_sha256": dataset_sha256,
        "engine_version": engine_version,
        "fee_bps": plain_decimal(fee_bps),
        "initial_cash": plain_decimal(initial_cash),
        "slippage_bps": plain_decimal(slippage_bps),
        "strategy_body_sha256": strategy_body_sha256,
        "timeframe": timeframe,
    }
    canonical = json.dumps(inputs, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def backtest_inputs_sha256(backtest: Backtest) -> str:
    """`inputs_sha256` of a backtest row, from its version, dataset, parameters and engine."""
    return inputs_sha256(
        strategy_body_sha256=backtest.strategy_version.body_sha256,
        dataset_sha256=backtest.dataset.sha256,
        timeframe=backtest.dataset.timeframe,
        amount_step=backtest.dataset.amount_step,
        initial_cash=Decimal(backtest.initial_cash),
        fee_bps=Decimal(backtest.fee_bps),
        slippage_bps=Decimal(backtest.slippage_bps),
        engine_version=backtest.engine_version,
    )
