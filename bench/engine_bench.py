"""Strategy engine benchmark: the engine against a plain NumPy reference of the same rules.

    .venv/bin/python bench/engine_bench.py [--rows 10000,100000,1000000]

Rules: SMA(10)/SMA(30) crossover on close (the seed example ``sma_crossover``), long-only,
100% of equity, 0.1% fee per side, no slippage, fills at the next open, cash 10,000, amount
step 1e-8, on deterministic GBM 1-minute candles. For each size, each side runs in a fresh
subprocess that loads the same candles from disk and reports its wall time (median of
repeats), its peak RSS (getrusage, the same method for both) and its fills; the fills must be
identical (asserted). Cold start is the wall time of a fresh process that imports, loads 10k
candles and runs once. Targets: engine time <= 3x the reference at 1M rows, engine time per
candle at 1M <= 1.5x that at 100k, peak memory <= 1.6x, cold start <= 2x.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CASH, FEE_BPS, STEP = 10_000.0, 10, "0.00000001"
COLD_ROWS, COLD_RUNS = 10_000, 7


def make_candles(rows: int, seed: int = 20261123) -> dict[str, np.ndarray]:
    """Deterministic GBM 1-minute candles around 30,000 (sigma 0.05% per minute)."""
    rng = np.random.default_rng(seed)
    close = 30_000.0 * np.exp(np.cumsum(rng.normal(0.0, 0.0005, rows)))
    open_ = np.concatenate(([30_000.0], close[:-1]))
    wick = np.abs(rng.normal(0.0, 0.0002, (2, rows)))
    return {
        "ts": 1_700_000_000_000.0 + 60_000.0 * np.arange(rows),
        "open": open_,
        "high": np.maximum(open_, close) * (1.0 + wick[0]),
        "low": np.minimum(open_, close) * (1.0 - wick[1]),
        "close": close,
        "volume": rng.lognormal(1.0, 0.5, rows),
    }


# -- the two sides ---------------------------------------------------------------------------


def engine_run(candles: dict[str, np.ndarray]) -> tuple[list[tuple[int, int, int]], int]:
    """Compile + evaluate + simulate with the product's engine; fills as (in, out, units)."""
    from decimal import Decimal

    from lab.simulator import simulate
    from strategies.dsl import examples
    from strategies.engine import compile_strategy

    plan = compile_strategy(examples()["sma_crossover"])
    result = simulate(
        plan_or_signals=plan,
        candles=candles,
        initial_cash=CASH,
        fee_bps=FEE_BPS,
        slippage_bps=0,
        amount_step=STEP,
    )
    step = Decimal(STEP)
    fills = [
        (t.entry_index, t.exit_index, int(Decimal(t.amount_str) / step)) for t in result.trades
    ]
    if result.open_position is not None:
        held = int(Decimal(result.open_position.amount_str) / step)
        fills.append((result.open_position.entry_index, -1, held))
    return fills, result.rejected_orders


def reference_run(candles: dict[str, np.ndarray]) -> tuple[list[tuple[int, int, int]], int]:
    """The same rules in plain NumPy: vector signals, a Python loop over fills only."""
    close, opens = candles["close"], candles["open"]
    n = close.size
    csum = np.concatenate(([0.0], np.cumsum(close)))
    fast = np.full(n, np.nan)
    slow = np.full(n, np.nan)
    fast[9:] = (csum[10:] - csum[:-10]) / 10
    slow[29:] = (csum[30:] - csum[:-30]) / 30
    fast, slow = np.round(fast, 8), np.round(slow, 8)
    up = np.zeros(n, dtype=bool)
    down = np.zeros(n, dtype=bool)
    up[1:] = (fast[:-1] < slow[:-1]) & (fast[1:] > slow[1:])
    down[1:] = (fast[:-1] > slow[:-1]) & (fast[1:] < slow[1:])
    up[:30] = down[:30] = False
    entries, exits = np.flatnonzero(up).tolist(), np.flatnonzero(down).tolist()

    fee, step = FEE_BPS / 10_000, float(STEP)
    cash, fills, rejected = CASH, [], 0
    change_at, cash_after, units_after = [0], [cash], [0]
    i = j = 0
    start = 0
    while True:
        while i < len(entries) and entries[i] < start:
            i += 1
        if i == len(entries) or entries[i] + 1 >= n:
            break
        buy = entries[i] + 1
        price = float(opens[buy])
        units = int(cash // (step * price * (1.0 + fee)))
        amount = units * step
        cost, fee_in = amount * price, amount * price * fee
        while units > 0 and cost + fee_in > cash:
            units -= 1
            amount = units * step
            cost, fee_in = amount * price, amount * price * fee
        if units < 1:
            rejected += 1
            start = buy
            continue
        cash = cash - cost - fee_in
        change_at.append(buy)
        cash_after.append(cash)
        units_after.append(units)
        while j < len(exits) and exits[j] < buy:
            j += 1
        if j == len(exits) or exits[j] + 1 >= n:
            fills.append((buy, -1, units))
            break
        sell = exits[j] + 1
        proceeds = amount * float(opens[sell])
        cash = cash + proceeds - proceeds * fee
        change_at.append(sell)
        cash_after.append(cash)
        units_after.append(0)
        fills.append((buy, sell, units))
        start = sell
    # Equity per candle, as the engine reports it.
    segment = np.searchsorted(change_at, np.arange(n), side="right") - 1
    equity = np.asarray(cash_after)[segment] + np.asarray(units_after)[segment] * step * close
    np.round(equity, 8)
    return fills, rejected


# -- worker (runs in a fresh subprocess) -----------------------------------------------------


def _rss_kb() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() // 1024


def worker(side: str, path: str, repeats: int) -> None:
    """Load candles, run ``side`` ``repeats`` times, print times, peak RSS and fills as JSON."""
    run = engine_run if side == "engine" else reference_run
    with np.load(path) as data:
        candles = {name: data[name] for name in data.files}
    baseline = _rss_kb()
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        fills, rejected = run(candles)
        times.append(time.perf_counter() - began)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "times": times,
                "peak_kb": peak,
                "baseline_kb": baseline,
                "fills": fills,
                "rejected": rejected,
            }
        )
    )


def cold_worker(side: str, path: str) -> None:
    """Import, load and run once; the parent times the whole process."""
    with np.load(path) as data:
        candles = {name: data[name] for name in data.files}
    (engine_run if side == "engine" else reference_run)(candles)


# -- driver ----------------------------------------------------------------------------------


def _spawn(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, __file__, *args], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return done.stdout


def measure(rows: int, workdir: Path) -> dict[str, dict]:
    path = workdir / f"candles_{rows}.npz"
    np.savez(path, **make_candles(rows))
    repeats = 3 if rows >= 1_000_000 else 5
    sides = {
        side: json.loads(_spawn("--worker", side, str(path), str(repeats)))
        for side in ("engine", "reference")
    }
    engine, reference = sides["engine"], sides["reference"]
    assert engine["fills"] == reference["fills"], f"fills differ at {rows} rows"
    assert engine["rejected"] == reference["rejected"], f"rejections differ at {rows} rows"
    return sides


def cold_start(workdir: Path) -> dict[str, float]:
    path = workdir / f"candles_{COLD_ROWS}.npz"
    np.savez(path, **make_candles(COLD_ROWS))
    out = {}
    for side in ("engine", "reference"):
        samples = []
        for _ in range(COLD_RUNS):
            began = time.perf_counter()
            _spawn("--cold", side, str(path))
            samples.append(time.perf_counter() - began)
        out[side] = statistics.median(samples)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="10000,100000,1000000")
    parser.add_argument("--worker", nargs=3, metavar=("SIDE", "PATH", "REPEATS"))
    parser.add_argument("--cold", nargs=2, metavar=("SIDE", "PATH"))
    args = parser.parse_args()
    if args.worker:
        worker(args.worker[0], args.worker[1], int(args.worker[2]))
        return
    if args.cold:
        cold_worker(*args.cold)
        return

    sizes = [int(r) for r in args.rows.split(",")]
    print(
        f"machine: {platform.machine()}, Python {platform.python_version()}, NumPy {np.__version__}"
    )
    header = (
        f"{'rows':>9} {'side':>9} {'time ms':>9} {'ns/candle':>10} {'peak MB':>8} "
        f"{'run MB':>7} {'trades':>7}"
    )
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        print(header)
        for rows in sizes:
            results[rows] = sides = measure(rows, workdir)
            for side, r in sides.items():
                t = statistics.median(r["times"])
                print(
                    f"{rows:>9} {side:>9} {t * 1e3:>9.1f} {t / rows * 1e9:>10.1f} "
                    f"{r['peak_kb'] / 1024:>8.1f} "
                    f"{(r['peak_kb'] - r['baseline_kb']) / 1024:>7.1f} {len(r['fills']):>7}"
                )
        cold = cold_start(workdir)

    print("\nratios (engine / reference):")
    for rows, sides in results.items():
        t_e = statistics.median(sides["engine"]["times"])
        t_r = statistics.median(sides["reference"]["times"])
        mem = sides["engine"]["peak_kb"] / sides["reference"]["peak_kb"]
        print(
            f"  {rows:>9} rows: time {t_e / t_r:.2f}x, peak memory {mem:.2f}x "
            f"(fills identical over {len(sides['engine']['fills'])} trades)"
        )
    print(
        f"  cold start ({COLD_ROWS} rows): engine {cold['engine'] * 1e3:.0f} ms, reference "
        f"{cold['reference'] * 1e3:.0f} ms, {cold['engine'] / cold['reference']:.2f}x"
    )
    if 100_000 in results and 1_000_000 in results:
        per = {
            r: statistics.median(results[r]["engine"]["times"]) / r for r in (100_000, 1_000_000)
        }
        print(f"  engine time per candle, 1M vs 100k: {per[1_000_000] / per[100_000]:.2f}x")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
