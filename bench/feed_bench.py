"""Demo price feed speed: a month of minutes, 1000 candles of every timeframe, tickers.

Run: .venv/bin/python bench/feed_bench.py   (results go to docs/performance.md, "Demo price feed")
"""

from __future__ import annotations

import math
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere

from exchanges.demo import feed

NOW = 1_795_000_000_000  # a fixed instant so runs compare
HOUR_MS = 3_600_000


def best_of(repeat: int, call) -> float:
    best = math.inf
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    rows = [
        (
            "43,200 x 1m candles",
            best_of(5, lambda: feed.candles("BTC/USDT", "1m", start_ms=NOW, limit=43_200)),
        )
    ]
    for timeframe in feed.TIMEFRAMES:
        rows.append(
            (
                f"latest 1000 x {timeframe}",
                best_of(5, lambda tf=timeframe: feed.latest_candles("ETH/USDT", tf, 1000, NOW)),
            )
        )
    cold = [best_of(1, lambda i=i: feed.ticker("SOL/USDT", NOW + i * HOUR_MS)) for i in range(50)]
    rows.append(("ticker, new hour (median)", statistics.median(cold)))
    rows.append(("ticker, same hour", best_of(50, lambda: feed.ticker("SOL/USDT", NOW + 5_000))))
    width = max(len(name) for name, _ in rows)
    for name, seconds in rows:
        print(f"{name:<{width}}  {seconds * 1000:8.2f} ms")


if __name__ == "__main__":
    main()
