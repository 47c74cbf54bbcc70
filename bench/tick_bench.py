"""Bot tick benchmark: N RUNNING demo bots on 1m candles, all due on the same candle close.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/botmarket_tickbench \\
    REDIS_URL=redis://127.0.0.1:6380/13 \\
    .venv/bin/python bench/tick_bench.py [--bots 100,1000,5000] [--processes 1,2] [--closes 3]
                                         [--noops 5000] [--keep]
    … bench/tick_bench.py --profile 400 [--sort tottime]

The database must be the bench's own (its name must contain "bench"): the bench drops and
creates it, migrates it, and starts its own processes against it and Redis, as deployed:

- a Celery worker on the `ticks` queue (prefork, `--concurrency` 1 or 2 = the worker
  processes), started with bench/tick_celery.py (the product's app plus a bench-only no-op);
- the product's `celery beat`, which sends `bots.dispatch_ticks` every BOT_DISPATCH_SECONDS (1 s)
  to that worker: the dispatch leases the due runs and sends them BOT_TICK_BATCH_SIZE (200) to
  a `bots.tick_runs` message.

The bots: one workspace; bot i on demo connection i (its own demo account) with version i mod
100 of an SMA crossover (fast 5-13 / slow 20-35 over close, all in, long only), 20 variants on
each of the 5 demo symbols, so 1,000 bots are 200 on each symbol's 1m candles. Each run is
RUNNING with its book open (10,000 USDT), a history of lookback + 30 candles, and its last
candle the newest closed one when it is created: every run becomes due at the next close.

For each worker size (1, then 2 processes):

1. the floor: `--noops` `bench.noop` tasks (between two `bench.mark` tasks) are queued before
   the worker starts; the worker's rate through them is the Celery no-op rate, the most
   messages per second any task can reach on this machine;
2. for each N: N runs are created; the first close warms the processes (plans, candle
   windows), then `--closes` closes are measured. A run's decision time is its `updated_at`,
   written by the decision's transaction (a HOLD or an order alike; an order's answer writes it
   again, after the venue answered). Lag = decision time - the candle's close. "Dispatched"
   is when the dispatch had sent the close's messages (its `runs.dispatched` log line) after
   the close; evaluations per second = N / (last decision - dispatched), the rate of the worker
   processes on the batches. "worker ms/tick" is the workers' own mean of `bot_tick_seconds`
   (merged from their metric files). The table gives the median over the measured closes of
   each figure (the max is the largest of all) and the orders the bots placed in them.

`--profile N` runs no worker: it creates N runs due now and ticks them in this process through
`bots.tick_runs`'s body (batches of BOT_TICK_BATCH_SIZE, as the worker would), under cProfile,
and prints the statements of one tick and the top functions.
"""

from __future__ import annotations

import argparse
import copy
import cProfile
import io
import os
import platform
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

MINUTE = 60_000
SYMBOLS = ("BTC/USDT", "ETH/USDT", "SOL/USDT", "BNB/USDT", "XRP/USDT")
VARIANTS = [(fast, slow) for fast in (5, 7, 9, 11, 13) for slow in (20, 25, 30, 35)]
HISTORY = 30  # candles beyond the lookback a run has kept already


# --- processes ----------------------------------------------------------------------------


def fresh_database(url: str) -> None:
    """Drop and create the bench's own PostgreSQL database."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not parts.scheme.startswith("postgres") or "bench" not in name:
        raise SystemExit(
            "DATABASE_URL must name a PostgreSQL database of the bench's own (…bench…)"
        )
    import psycopg

    maintenance = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    with psycopg.connect(maintenance, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')


def environment(workdir: Path) -> dict[str, str]:
    """The bench's processes: production-like (DEBUG off), metrics in a folder of their own."""
    return {
        **os.environ,
        "PYTHONPATH": f"{BENCH}{os.pathsep}{ROOT}",
        "DJANGO_DEBUG": "false",
        "PROMETHEUS_MULTIPROC_DIR": str(workdir / "metrics"),
    }


def start_worker(concurrency: int, workdir: Path) -> tuple[subprocess.Popen, str]:
    from config.celery import app

    name = f"tickbench-{os.getpid()}-{concurrency}@{platform.node()}"
    log = open(workdir / f"worker-{concurrency}.log", "w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "tick_celery",
            "worker",
            "-Q",
            "ticks",
            f"--concurrency={concurrency}",
            "--pool=prefork",
            "--without-mingle",
            "--without-gossip",
            "--loglevel=INFO",  # as deployed: a JSON line per decision
            "-n",
            name,
        ],
        cwd=ROOT,
        env=environment(workdir),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the worker exited while starting; see {log.name}")
        if app.control.ping(destination=[name], timeout=0.5):
            return process, name
    process.kill()
    raise SystemExit("the worker did not answer a ping within 90 s")


def start_beat(workdir: Path) -> subprocess.Popen:
    log = open(workdir / "beat.log", "w")
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "beat",
            "--loglevel=WARNING",
            f"--schedule={workdir / 'celerybeat-schedule'}",
        ],
        cwd=ROOT,
        env=environment(workdir),
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def stop(process: subprocess.Popen | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def purge_queues() -> None:
    from config.celery import WORKER_QUEUES, app

    with app.connection_for_write() as connection:
        channel = connection.default_channel
        for queue in WORKER_QUEUES:
            channel.queue_purge(queue)


# --- data ---------------------------------------------------------------------------------


def make_fixture(max_bots: int):
    """The bench user and workspace, 100 strategy versions and `max_bots` demo connections."""
    import hashlib
    import json

    from accounts.models import User
    from exchanges.models import ExchangeConnection
    from strategies.dsl import examples
    from strategies.models import Strategy, StrategyVersion
    from workspaces.services import create_workspace

    user = User.objects.create(username="tickbench", email="tickbench@botmarket.local")
    workspace = create_workspace(name="Tick bench", owner=user)
    versions = []
    base = examples()["sma_crossover"]
    for symbol in SYMBOLS:
        for fast, slow in VARIANTS:
            body = copy.deepcopy(base)
            body["symbol"] = symbol
            body["indicators"][0]["period"] = fast
            body["indicators"][1]["period"] = slow
            canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
            strategy = Strategy.objects.create(
                workspace=workspace, name=f"SMA {fast}/{slow} {symbol}", created_by=user
            )
            versions.append(
                StrategyVersion.objects.create(
                    strategy=strategy,
                    number=1,
                    body=body,
                    body_sha256=hashlib.sha256(canonical.encode()).hexdigest(),
                    created_by=user,
                )
            )
    # Version i % 100 for bot i: every symbol gets N / 5 bots, every variant N / 100.
    versions = [versions[s * len(VARIANTS) + v] for v in range(len(VARIANTS)) for s in range(5)]
    connections = ExchangeConnection.objects.bulk_create(
        ExchangeConnection(workspace=workspace, name=f"Demo {i}", exchange="demo", mode="demo")
        for i in range(max_bots)
    )
    return user, workspace, versions, connections


def create_runs(fixture, count: int, label: str) -> list[str]:
    """`count` bots and their RUNNING runs, books open, each due at the next close."""
    from decimal import Decimal

    from django.utils import timezone

    from bots.models import Bot, BotRun
    from bots.runtime.book import Book
    from bots.runtime.clock import latest_closed_ts
    from bots.runtime.venue import GatewayVenue
    from exchanges import epoch
    from exchanges.demo.venue import DemoGateway
    from strategies.engine import compile_strategy

    user, workspace, versions, connections = fixture
    now_ms = epoch.now_ms()
    last = latest_closed_ts(now_ms, "1m")
    day = datetime.fromtimestamp(now_ms / 1000, tz=UTC).date().isoformat()
    venue = GatewayVenue(DemoGateway(connections[0]))
    books = {
        symbol: Book.open(
            cash=10_000.0, costs=venue.costs(symbol, slippage_bps=10), day=day
        ).to_json()
        for symbol in SYMBOLS
    }
    plans = {version.pk: compile_strategy(version.body) for version in versions}
    bots = Bot.objects.bulk_create(
        Bot(
            workspace=workspace,
            name=f"{label} bot {i}",
            strategy_version=versions[i % len(versions)],
            exchange_connection=connections[i],
            max_position_quote=Decimal("1000"),
            max_daily_loss_pct=Decimal("5"),
            max_orders_per_minute=10,
            order_type=Bot.OrderType.MARKET,
            slippage_bps=10,
            mode=Bot.Mode.DEMO,
            created_by=user,
        )
        for i in range(count)
    )
    started = timezone.now()
    runs = []
    for bot in bots:
        plan = plans[bot.strategy_version_id]
        runs.append(
            BotRun(
                workspace=workspace,
                bot=bot,
                state=BotRun.State.RUNNING,
                strategy_version=bot.strategy_version,
                exchange_connection=bot.exchange_connection,
                risk=bot.risk(),
                execution=bot.execution(),
                symbol=plan.symbol,
                timeframe="1m",
                first_candle_ts=last - (plan.lookback + HISTORY - 1) * MINUTE,
                last_candle_ts=last,
                book=books[plan.symbol],
                started_at=started,
                created_by=user,
            )
        )
    BotRun.objects.bulk_create(runs, batch_size=1000)
    return [str(run.pk) for run in runs]


def stop_runs(ids: list[str]) -> None:
    from django.utils import timezone

    from bots.models import BotRun

    BotRun.objects.filter(pk__in=ids).update(state=BotRun.State.STOPPED, ended_at=timezone.now())


# --- measuring ----------------------------------------------------------------------------


def worker_samples() -> dict[tuple[str, tuple], float]:
    """The workers' merged metrics (the folder they share with this process)."""
    from config.metrics import host_registry

    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in host_registry().collect()
        for sample in family.samples
    }


def next_close_ms() -> int:
    from exchanges import epoch

    return (epoch.now_ms() // MINUTE + 1) * MINUTE


def wait_for_close(close_ms: int) -> None:
    from exchanges import epoch

    while (left := close_ms - epoch.now_ms()) > 0:
        time.sleep(min(left / 1000, 1.0))


def dispatched_at(log: Path, close_ms: int) -> float | None:
    """When the worker's first dispatch after `close_ms` sent runs (its `runs.dispatched` log
    line, written once the messages are out), in epoch ms."""
    import json

    with open(log) as lines:
        for line in lines:
            if '"runs.dispatched"' not in line:
                continue
            entry = json.loads(line)
            at = datetime.fromisoformat(entry["ts"]).timestamp() * 1000
            if at >= close_ms and entry.get("runs"):
                return at
    return None


def measure_close(ids: list[str], close_ms: int, log: Path, timeout: float = 180) -> dict:
    """Wait until every run acted on the candle closing at `close_ms`; its figures."""
    from bots.models import BotRun, OrderIntent

    candle = close_ms - MINUTE
    before = worker_samples()
    wait_for_close(close_ms)
    deadline = time.monotonic() + timeout
    runs = BotRun.objects.filter(pk__in=ids)
    while runs.filter(last_candle_ts__lt=candle, state=BotRun.State.RUNNING).exists():
        if time.monotonic() > deadline:
            left = runs.filter(last_candle_ts__lt=candle).count()
            raise SystemExit(f"{left} runs had not acted on the candle {timeout} s after its close")
        time.sleep(0.25)
    decided = [
        updated.timestamp() * 1000
        for updated in runs.filter(last_candle_ts=candle).values_list("updated_at", flat=True)
    ]
    ended = runs.exclude(state=BotRun.State.RUNNING).count()
    # A batch counts its ticks once its orders are sent, after its decisions are visible.
    deadline = time.monotonic() + 30
    while True:
        after = worker_samples()
        counted = sum(
            after.get(("bot_ticks_total", (("outcome", outcome),)), 0.0)
            - before.get(("bot_ticks_total", (("outcome", outcome),)), 0.0)
            for outcome in ("acted", "error")
        )
        if counted >= len(ids) - ended or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    lags = sorted((at - close_ms) / 1000 for at in decided)
    n = len(lags)

    def delta(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    ticks = delta("bot_ticks_total", outcome="acted")
    sent = dispatched_at(log, close_ms)
    dispatch = (sent - close_ms) / 1000 if sent is not None else float("nan")
    return {
        "runs": n,
        "ended": ended,
        "p50": lags[n // 2],
        "p95": lags[min(n - 1, int(0.95 * n))],
        "max": lags[-1],
        "dispatch": dispatch,
        # From the dispatch to the last decision: the worker processes' rate on the batches.
        "evals_per_s": n / (lags[-1] - dispatch) if lags[-1] > dispatch else float("nan"),
        "worker_ms_per_tick": 1000 * delta("bot_tick_seconds_sum", outcome="acted") / ticks
        if ticks
        else float("nan"),
        "ticks_acted": ticks,
        "ticks_other": sum(
            delta("bot_ticks_total", outcome=outcome)
            for outcome in ("not_due", "busy", "not_running", "deferred", "error")
        ),
        "orders": OrderIntent.objects.filter(run_id__in=ids, candle_ts=candle).count(),
    }


def measure_floor(concurrency: int, noops: int, workdir: Path) -> tuple[float, subprocess.Popen]:
    """Queue the no-op backlog, start the worker, time it through; returns the rate and it."""
    from django.core.cache import cache

    from config.celery import app

    keys = ["start", *(f"end-{i}" for i in range(concurrency))]
    cache.delete_many([f"tickbench:mark:{key}" for key in keys])
    app.send_task("bench.mark", args=["start"], queue="ticks")
    for _ in range(noops):
        app.send_task("bench.noop", queue="ticks")
    for key in keys[1:]:
        app.send_task("bench.mark", args=[key], queue="ticks")
    worker, _ = start_worker(concurrency, workdir)
    deadline = time.monotonic() + 300
    while True:
        marks = cache.get_many([f"tickbench:mark:{key}" for key in keys])
        if len(marks) == len(keys):
            break
        if time.monotonic() > deadline:
            raise SystemExit("the no-op backlog did not drain within 300 s")
        time.sleep(0.2)
    start = marks.pop("tickbench:mark:start")
    return noops / (max(marks.values()) - start), worker


def run_bench(args, workdir: Path) -> None:
    from django.db import connection

    sizes = [int(n) for n in args.bots.split(",")]
    fixture = make_fixture(max(sizes))
    results: list[tuple[int, int, list[dict]]] = []
    floors: dict[int, float] = {}
    load = [os.getloadavg()[0]]
    started_at = datetime.now(UTC)
    worker = beat = None
    try:
        for concurrency in [int(c) for c in args.processes.split(",")]:
            purge_queues()
            floors[concurrency], worker = measure_floor(concurrency, args.noops, workdir)
            print(f"floor, {concurrency} process(es): {floors[concurrency]:,.0f} no-op tasks/s")
            beat = start_beat(workdir)
            for count in sizes:
                ids = create_runs(fixture, count, f"p{concurrency}-n{count}")
                log = workdir / f"worker-{concurrency}.log"
                warm = measure_close(ids, next_close_ms(), log)
                print(f"  N={count:,}: warm-up close p95 {warm['p95']:.2f} s", flush=True)
                closes = []
                for _ in range(args.closes):
                    figures = measure_close(ids, next_close_ms(), log)
                    load.append(os.getloadavg()[0])
                    closes.append(figures)
                    print(
                        f"  N={count:,}: lag p50 {figures['p50']:.3f} p95 {figures['p95']:.3f} "
                        f"max {figures['max']:.3f} s, dispatched at {figures['dispatch']:.3f} s, "
                        f"{figures['evals_per_s']:,.0f} evals/s, "
                        f"worker {figures['worker_ms_per_tick']:.2f} ms/tick, "
                        f"{figures['orders']} orders",
                        flush=True,
                    )
                results.append((concurrency, count, closes))
                stop_runs(ids)
            stop(beat)
            beat = None
            stop(worker)
            worker = None
    finally:
        stop(beat)
        stop(worker)
        purge_queues()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)

    print()
    print("# Bot ticks: N demo bots on 1m candles, due on the same close")
    print(
        f"machine: {os.cpu_count()} cores, {platform.machine()}, Python "
        f"{platform.python_version()}, PostgreSQL {connection.pg_version // 10000}; "
        f"date {started_at.date().isoformat()}, {started_at:%H:%M}-{datetime.now(UTC):%H:%M} UTC; "
        f"load average {min(load):.1f}-{max(load):.1f}"
    )
    print(f"measured closes per row: {args.closes} (medians; max = the largest of all)")
    print()
    print(
        "| worker processes | bots | dispatched (s) | lag p50 (s) | lag p95 (s) | lag max (s) "
        "| evaluations/s | worker ms/tick | orders | no-op floor (tasks/s) |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for concurrency, count, closes in results:

        def median(key: str, closes=closes) -> float:
            return statistics.median(close[key] for close in closes)

        print(
            f"| {concurrency} | {count:,} | {median('dispatch'):.2f} "
            f"| {median('p50'):.2f} | {median('p95'):.2f} "
            f"| {max(c['max'] for c in closes):.2f} | {median('evals_per_s'):,.0f} "
            f"| {median('worker_ms_per_tick'):.2f} | {sum(c['orders'] for c in closes)} "
            f"| {floors[concurrency]:,.0f} |"
        )
    by = {(c, n): statistics.median(x["evals_per_s"] for x in closes) for c, n, closes in results}
    p95 = {(c, n): statistics.median(x["p95"] for x in closes) for c, n, closes in results}
    print()
    if (1, 1000) in p95:
        print(f"1,000 bots, 1 process: lag p95 {p95[(1, 1000)]:.2f} s (target < 1 s)")
    if (1, 100) in by and (1, 5000) in by:
        print(
            f"cost per evaluation at 5,000 / at 100 (1 process): "
            f"{by[(1, 100)] / by[(1, 5000)]:.2f}x (target <= 1.5x)"
        )
    for n in sizes:
        if (1, n) in by and (2, n) in by:
            print(f"2 processes / 1 at {n:,} bots: {by[(2, n)] / by[(1, n)]:.2f}x (target >= 1.7x)")


def run_profile(args) -> None:
    from django.conf import settings
    from django.db import connection
    from django.db.models import F
    from django.test.utils import CaptureQueriesContext

    from bots.models import BotRun
    from bots.tasks import tick_runs_task

    fixture = make_fixture(args.profile)
    ids = create_runs(fixture, args.profile, "profile")
    # Due now: their last candle one before the newest closed one.
    BotRun.objects.filter(pk__in=ids).update(last_candle_ts=F("last_candle_ts") - MINUTE)
    size = settings.BOT_TICK_BATCH_SIZE
    batches = [ids[i : i + size] for i in range(0, len(ids), size)]
    # The first batch warms the process (plans, candle windows); one tick's statements.
    tick_runs_task.run(run_ids=batches[0][:-1])
    with CaptureQueriesContext(connection) as queries:
        tick_runs_task.run(run_ids=batches[0][-1:])
    print(f"statements of one tick (a HOLD decision): {len(queries.captured_queries)}")
    for query in queries.captured_queries:
        print("   ", query["sql"][:150])
    rest = [run_id for batch in batches[1:] for run_id in batch]
    if not rest:
        raise SystemExit("--profile needs more runs than one batch")
    profiler = cProfile.Profile()
    began = time.perf_counter()
    profiler.enable()
    for batch in batches[1:]:
        tick_runs_task.run(run_ids=batch)
    profiler.disable()
    wall = time.perf_counter() - began
    print(
        f"{len(rest)} ticks in {wall:.2f} s under cProfile: {1000 * wall / len(rest):.2f} ms each"
    )
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats(args.sort).print_stats(args.top)
    print(out.getvalue())
    stop_runs(ids)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bots", default="100,1000,5000")
    parser.add_argument("--processes", default="1,2")
    parser.add_argument("--closes", type=int, default=3, help="measured closes per row")
    parser.add_argument("--noops", type=int, default=5000)
    parser.add_argument("--keep", action="store_true", help="keep the logs and metric files")
    parser.add_argument("--profile", type=int, default=0, help="profile N ticks in process")
    parser.add_argument("--sort", default="cumulative")
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL"):
        raise SystemExit("Set DATABASE_URL to a database of the bench's own (see the docstring).")
    fresh_database(os.environ["DATABASE_URL"])
    os.environ["DJANGO_DEBUG"] = "false"
    # Before Django: this process merges the workers' metric files, so it uses their folder
    # (the settings hand it to prometheus_client); logs and beat's schedule go beside it.
    workdir = Path(tempfile.mkdtemp(prefix="botmarket-tickbench-"))
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(workdir / "metrics")

    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    if args.profile:
        run_profile(args)
    else:
        run_bench(args, workdir)


if __name__ == "__main__":
    main()
