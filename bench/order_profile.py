"""Order path in process: statements, CPU time and a profile per order, against the floor.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/botmarket_order_bench \\
    REDIS_URL=redis://127.0.0.1:6380/9 \\
    .venv/bin/python bench/order_profile.py [--orders 300] [--sql] [--profile 40]

No server and no sockets to it: Django's AsyncClient drives the ASGI handler in this process,
as daphne does (one event loop; the sync views and middleware in the one thread that
`sync_to_async` gives them, so pushes go through the same loop and Redis connection), with the
bench settings (bench/settings.py: DEBUG off, rate limits off, the floor endpoint). For an
order (POST /api/v1/terminal/orders, a demo market order of 0.0001 BTC/USDT) and for the floor
(POST /api/v1/bench/floor, bench/floor_urls.py) it reports:

- the statements one request sends to the database, BEGIN and COMMIT included, counted with
  Django's CaptureQueriesContext around one request through the sync test client (same
  middleware and view; `--sql` lists them, shortened);
- time per request over `--orders` requests in a row after a warm-up: wall time (Python, the
  database's answers and Redis) and this process's CPU time (Python alone, every thread);
- with `--profile N`: cProfile of `--orders` requests of `--profile-kind`, the top N by
  `--sort` (cumulative by default), taken in the thread that runs the views with that
  thread's CPU clock (waits for the database and Redis do not count). The profiler's overhead
  inflates the times (about twofold): compare shares, not milliseconds.

It uses the user, workspace and demo connection of bench/order_bench.py and removes what it
placed unless `--keep`.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import re
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"

from bench.order_bench import (  # noqa: E402
    AMOUNT,
    FLOOR_PATH,
    ORDERS_PATH,
    SYMBOL,
    cleanup,
    ensure_postgres_database,
    prepare,
)


def _shorten(sql: str) -> str:
    sql = re.sub(r'"[a-z_]+"\."([a-z_]+)"', r"\1", sql)  # "table"."column" → column
    sql = re.sub(r"SELECT .+? FROM", "SELECT … FROM", sql)
    return sql[:150]


def count_statements(args, token: str, workspace_id: str, connection_id: str) -> dict[str, int]:
    """Statements of one order and one floor request, through the sync test client.

    The handler does not change what a view sends to the database; the sync client runs the
    view in this thread, where CaptureQueriesContext sees its connection.
    """
    from django.db import connection as db
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_AUTHORIZATION=f"Token {token}", HTTP_X_WORKSPACE_ID=workspace_id)
    requests = {
        "order": lambda: client.post(
            ORDERS_PATH,
            {
                "connection": connection_id,
                "symbol": SYMBOL,
                "side": "buy",
                "type": "market",
                "amount": AMOUNT,
            },
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
        ),
        "floor": lambda: client.post(
            FLOOR_PATH, {"note": "floor"}, content_type="application/json"
        ),
    }
    counts = {}
    for name, send in requests.items():
        send()  # warm: the first request of a kind may load what later ones reuse
        with CaptureQueriesContext(db) as captured:
            response = send()
        assert response.status_code == 201, (response.status_code, response.content[:300])
        counts[name] = len(captured.captured_queries)
        if args.sql:
            print(f"\n{name}: {counts[name]} statements")
            for query in captured.captured_queries:
                print(f"  {_shorten(query['sql'])}")
    return counts


async def run(args, token: str, workspace_id: str, connection_id: str, counts: dict) -> None:
    from asgiref.sync import sync_to_async
    from django.test import AsyncClient

    client = AsyncClient()
    headers = {
        "Authorization": f"Token {token}",
        "X-Workspace-Id": workspace_id,
    }
    sequence = iter(range(10**9))

    async def order() -> None:
        body = {
            "connection": connection_id,
            "symbol": SYMBOL,
            "side": "buy" if next(sequence) % 2 == 0 else "sell",
            "type": "market",
            "amount": AMOUNT,
        }
        response = await client.post(
            ORDERS_PATH,
            body,
            content_type="application/json",
            headers={**headers, "Idempotency-Key": str(uuid.uuid4())},
        )
        assert response.status_code == 201, (response.status_code, response.content[:300])

    async def floor() -> None:
        response = await client.post(
            FLOOR_PATH, {"note": "floor"}, content_type="application/json", headers=headers
        )
        assert response.status_code == 201, (response.status_code, response.content[:300])

    # The views run in sync_to_async's one thread; the profiler is switched on there.
    in_view_thread = sync_to_async(lambda fn: fn(), thread_sensitive=True)

    for _ in range(20):  # warm-up: imports, the pool, Redis, the feed's caches
        await order()
        await floor()
    rows = []
    for name, call in (("order", order), ("floor", floor)):
        walls, cpus = [], []
        for _ in range(args.orders):
            began, began_cpu = time.perf_counter(), time.process_time()
            await call()
            walls.append(time.perf_counter() - began)
            cpus.append(time.process_time() - began_cpu)
        rows.append((name, counts[name], walls, cpus))
    print("\n| request | statements | wall ms (median) | CPU ms (median) | CPU ms (mean) |")
    print("|---|---:|---:|---:|---:|")
    for name, statements, walls, cpus in rows:
        print(
            f"| {name} | {statements} | {statistics.median(walls) * 1000:.2f} | "
            f"{statistics.median(cpus) * 1000:.2f} | {statistics.fmean(cpus) * 1000:.2f} |"
        )
    wall = statistics.median(rows[0][2]) / statistics.median(rows[1][2])
    cpu = statistics.median(rows[0][3]) / statistics.median(rows[1][3])
    print(f"\norder / floor (medians): wall {wall:.2f}x, CPU {cpu:.2f}x")
    if args.profile:
        # The view thread's CPU clock: time spent waiting for PostgreSQL or Redis is left out,
        # so the profile shows where Python itself spends an order.
        profiler = cProfile.Profile(time.thread_time)
        call = order if args.profile_kind == "order" else floor
        await in_view_thread(profiler.enable)
        for _ in range(args.orders):
            await call()
        await in_view_thread(profiler.disable)
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        # Python function calls per request: a count, unlike times, that other work on the
        # machine does not change.
        print(f"function calls per request: {stats.total_calls / args.orders:,.0f}")
        stats.sort_stats(args.sort).print_stats(args.profile)
        print(out.getvalue())
        if args.dump:
            profiler.dump_stats(args.dump)  # for pstats' callers/callees, snakeviz …


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, default=300, help="requests of each kind timed")
    parser.add_argument("--sql", action="store_true", help="list one request's statements")
    parser.add_argument("--profile", type=int, default=0, help="print the top N of cProfile")
    parser.add_argument("--profile-kind", choices=["order", "floor"], default="order")
    parser.add_argument("--sort", default="cumulative", help="pstats sort key (e.g. tottime)")
    parser.add_argument("--dump", help="also write the profile to this file")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL"):
        raise SystemExit("Set DATABASE_URL to a database of the bench's own (see the docstring).")
    ensure_postgres_database(os.environ["DATABASE_URL"])
    os.environ.setdefault("RATELIMIT_ENABLE", "false")  # as on the bench's server
    os.environ.setdefault("DJANGO_DEBUG", "false")

    import logging

    import django

    import config  # noqa: F401  before the settings (bench/settings.py says why)

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    # The production log level writes a JSON line per request (and more per order); they are
    # formatted and written as on the server, into memory instead of a file.
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(io.StringIO())
    token, workspace_id, connection_ids = prepare(1)
    try:
        counts = count_statements(args, token, workspace_id, connection_ids[0])
        asyncio.run(run(args, token, workspace_id, connection_ids[0], counts))
    finally:
        if not args.keep:
            cleanup(workspace_id)


if __name__ == "__main__":
    main()
