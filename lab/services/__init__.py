"""Lab flows: create and import datasets, queue, run, rerun and delete backtests.

One module per room, each name re-exported here so callers write ``lab.services.create_backtest``:

- ``datasets``: datasets from the demo feed and CSV uploads, deletion, reading candles;
- ``imports``: dataset imports from an exchange connection (queued, then paged in by a worker);
- ``backtests``: queue, rerun, delete, run on a worker, and the sweeps of abandoned runs and
  lost tasks;
- ``results``: a simulation's trades and open position as rows;
- ``hashing``: ``inputs_sha256``, the name of everything that determines a result.
"""

from exchanges.numbers import plain_decimal
from lab.services.backtests import (
    create_backtest,
    delete_backtest,
    fail_stale_backtests,
    requeue_lost_backtests,
    rerun_backtest,
    run_backtest,
)
from lab.services.datasets import (
    FALLBACK_AMOUNT_STEP,
    create_csv_dataset,
    create_demo_dataset,
    default_amount_step,
    delete_dataset,
    demo_candles,
    load_candles,
)
from lab.services.hashing import inputs_sha256
from lab.services.imports import import_dataset, start_dataset_import
from lab.simulator import ENGINE_VERSION

__all__ = [
    "ENGINE_VERSION",
    "FALLBACK_AMOUNT_STEP",
    "create_backtest",
    "create_csv_dataset",
    "create_demo_dataset",
    "default_amount_step",
    "delete_backtest",
    "delete_dataset",
    "demo_candles",
    "fail_stale_backtests",
    "import_dataset",
    "inputs_sha256",
    "load_candles",
    "plain_decimal",
    "requeue_lost_backtests",
    "rerun_backtest",
    "run_backtest",
    "start_dataset_import",
]
