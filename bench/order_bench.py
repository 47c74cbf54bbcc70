"""Terminal benchmark: demo market orders and tickers through the real server under concurrency.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/botmarket_bench \\
    REDIS_URL=redis://127.0.0.1:6379/8 \\
    .venv/bin/python bench/order_bench.py [--clients 20] [--seconds 30] [--ticker-seconds 10]

What it does:

1. migrates the database named by DATABASE_URL (created first if it does not exist; use a
   database of its own: the bench adds a `bench-terminal` user, workspace and demo connection);
2. creates an API token for that user and starts the real server, daphne serving
   `config.asgi:application` on a free port, against the same database and Redis, with rate
   limits off (`RATELIMIT_ENABLE=false`) and the production log level (INFO, one JSON line per
   request, written to a file);
3. orders: `--clients` concurrent clients, each on its own keep-alive connection, for
   `--seconds`, POST /api/v1/terminal/orders with a fresh Idempotency-Key each, market orders of
   0.0001 BTC/USDT alternating buy and sell (each client sells only what it bought, so the demo
   account's 10,000 USDT lasts). "submit → ack" is the client's time from sending the POST to
   reading the whole 201 response (the order journaled, sent to the venue, filled and recorded);
   any other status or a transport error counts as an error. The server's own
   `order_cycle_seconds` histogram (venue call only) is read from /metrics afterwards;
4. tickers: the same number of clients for `--ticker-seconds` GET /api/v1/terminal/ticker;
   requests per second and latency.

It checks that the journal holds exactly one closed order per 201, prints a Markdown table (the
figures in docs/performance.md, "Terminal") and removes the bench orders unless `--keep`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

SYMBOL = "BTC/USDT"
AMOUNT = "0.0001"  # about 10 USDT: above the 5 USDT minimum notional, small enough to last


def ensure_postgres_database(url: str) -> None:
    """Create the database of a postgres:// DATABASE_URL if it does not exist yet."""
    parts = urlsplit(url)
    if not parts.scheme.startswith("postgres"):
        return
    import psycopg

    name = parts.path.lstrip("/")
    maintenance = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    with psycopg.connect(maintenance, autocommit=True) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
        ).fetchone()
        if not exists:
            connection.execute(f'CREATE DATABASE "{name}"')


HEALTH_REQUEST = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def prepare(accounts: int) -> tuple[str, str, list[str]]:
    """The bench user's token, workspace id and `accounts` demo connection ids (made if missing)."""
    from knox.models import AuthToken

    from accounts.models import User
    from exchanges.models import ExchangeConnection
    from workspaces.models import Membership
    from workspaces.services import create_workspace

    user, _ = User.objects.get_or_create(
        username="bench-terminal", defaults={"email": "bench-terminal@botmarket.local"}
    )
    membership = Membership.objects.filter(user=user, workspace__name="Terminal bench").first()
    workspace = (
        membership.workspace if membership else create_workspace(name="Terminal bench", owner=user)
    )
    connections = [
        ExchangeConnection.objects.get_or_create(
            workspace=workspace,
            name="Bench demo" if index == 0 else f"Bench demo {index + 1}",
            defaults={
                "exchange": "demo",
                "mode": ExchangeConnection.Mode.DEMO,
                "created_by": user,
            },
        )[0]
        for index in range(accounts)
    ]
    # One token per run: knox reads every token of the user on each request to purge expired
    # ones, so earlier runs' tokens would make later runs slower.
    AuthToken.objects.filter(user=user).delete()
    _, token = AuthToken.objects.create(user=user)
    return token, str(workspace.pk), [str(connection.pk) for connection in connections]


def start_server(port: int, log_path: Path) -> subprocess.Popen:
    env = {**os.environ, "RATELIMIT_ENABLE": "false"}
    log = open(log_path, "w")  # the server writes into it until it exits
    process = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("daphne")),
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "config.asgi:application",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"daphne exited while starting; see {log_path}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as probe:
                probe.sendall(
                    b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
                )
                if probe.recv(64).startswith(b"HTTP/1.1 200"):
                    return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit(f"daphne did not answer /health within 60 s; see {log_path}")


# --------------------------------------------------------------------------- a small HTTP client


class Connection:
    """One keep-alive HTTP/1.1 connection: what each simulated client holds."""

    def __init__(self, port: int, headers: dict[str, str]):
        self.port = port
        self.headers = headers
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            await self.writer.wait_closed()

    async def request(
        self, method: str, path: str, body: dict | None = None, headers: dict | None = None
    ) -> tuple[int, bytes]:
        if self.writer is None or self.writer.is_closing():
            await self.open()
        payload = json.dumps(body).encode() if body is not None else b""
        lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{self.port}"]
        for name, value in {**self.headers, **(headers or {})}.items():
            lines.append(f"{name}: {value}")
        if body is not None:
            lines.append("Content-Type: application/json")
        lines.append(f"Content-Length: {len(payload)}")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + payload)
        await self.writer.drain()
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("the server closed the connection")
        status = int(status_line.split()[1])
        length, close = 0, False
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value.strip())
            elif name == "connection" and value.strip().lower() == "close":
                close = True
        data = await self.reader.readexactly(length) if length else b""
        if close:
            await self.close()
            self.writer = None
        return status, data


# --------------------------------------------------------------------------- the load


async def order_client(
    port: int, headers: dict, connection_id: str, rate: float, until: float, results: dict
) -> None:
    """Place orders until `until`: back to back, or `rate` a second on a fixed schedule.

    A paced client sends its next order at its next slot (or at once when it is late), so it
    never has more than one order in flight, like a trader or a bot acting on candles.
    """
    http = Connection(port, headers)
    side = "buy"
    interval = 1.0 / rate if rate else 0.0
    next_at = time.perf_counter() + random.uniform(0, interval)  # clients out of step
    try:
        while time.perf_counter() < until:
            if interval:
                await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
                next_at += interval
                if time.perf_counter() >= until:
                    break
            body = {
                "connection": connection_id,
                "symbol": SYMBOL,
                "side": side,
                "type": "market",
                "amount": AMOUNT,
            }
            began = time.perf_counter()
            try:
                status, data = await http.request(
                    "POST",
                    "/api/v1/terminal/orders",
                    body,
                    headers={"Idempotency-Key": str(uuid.uuid4())},
                )
            except (OSError, ConnectionError, asyncio.IncompleteReadError) as exc:
                results["errors"].append(f"transport: {type(exc).__name__}")
                http.writer = None
                continue
            elapsed = time.perf_counter() - began
            if status == 201:
                results["latencies"].append(elapsed)
                results["ids"].append(json.loads(data)["id"])
                side = "sell" if side == "buy" else "buy"  # sell only what was just bought
            else:
                code = json.loads(data).get("code", "") if data else ""
                results["errors"].append(f"{status} {code}")
    finally:
        await http.close()


async def ticker_client(
    port: int, headers: dict, connection_id: str, rate: float, until: float, results: dict
) -> None:
    http = Connection(port, headers)
    path = f"/api/v1/terminal/ticker?connection={connection_id}&symbol=BTC%2FUSDT"
    try:
        while time.perf_counter() < until:
            began = time.perf_counter()
            try:
                status, _data = await http.request("GET", path)
            except (OSError, ConnectionError, asyncio.IncompleteReadError) as exc:
                results["errors"].append(f"transport: {type(exc).__name__}")
                http.writer = None
                continue
            if status == 200:
                results["latencies"].append(time.perf_counter() - began)
            else:
                results["errors"].append(str(status))
    finally:
        await http.close()


async def run_phase(
    client, clients: int, seconds: float, port: int, headers: dict, accounts: list[str], rate: float
) -> dict:
    """Run `clients` copies of `client`, spread over the demo accounts, for `seconds`."""
    results: dict = {"latencies": [], "errors": [], "ids": []}
    began = time.perf_counter()
    until = began + seconds
    await asyncio.gather(
        *(
            client(port, headers, accounts[index % len(accounts)], rate, until, results)
            for index in range(clients)
        )
    )
    results["wall"] = time.perf_counter() - began
    return results


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) by linear interpolation between closest ranks, in ms."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return (ordered[low] + (ordered[high] - ordered[low]) * (position - low)) * 1000


def server_histogram(port: int) -> tuple[int, dict[float, int]]:
    """`order_cycle_seconds` of the demo's market orders from /metrics: count and buckets."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as probe:
        probe.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        chunks = []
        while chunk := probe.recv(65536):
            chunks.append(chunk)
    text = b"".join(chunks).decode()
    buckets = {}
    for bound, value in re.findall(
        r'order_cycle_seconds_bucket\{exchange="demo",le="([^"]+)",type="market"\} (\S+)', text
    ):
        buckets[float(bound)] = int(float(value))
    count = re.search(r'order_cycle_seconds_count\{exchange="demo",type="market"\} (\S+)', text)
    return (int(float(count.group(1))) if count else 0), buckets


def bucket_quantile(count: int, buckets: dict[float, int], q: float) -> str:
    """The q-quantile estimated like Prometheus' histogram_quantile (linear in the bucket)."""
    if not count:
        return "n/a"
    rank = q * count
    lower_bound, lower_count = 0.0, 0
    for bound in sorted(buckets):
        if buckets[bound] >= rank:
            if bound == float("inf"):
                return f"> {lower_bound * 1000:g} ms"
            share = (rank - lower_count) / max(1, buckets[bound] - lower_count)
            return f"≈ {(lower_bound + (bound - lower_bound) * share) * 1000:.0f} ms"
        lower_bound, lower_count = bound, buckets[bound]
    return "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="orders per second per client (0: back to back, the saturation test)",
    )
    parser.add_argument("--ticker-seconds", type=float, default=10.0)
    parser.add_argument(
        "--accounts",
        type=int,
        default=1,
        help="demo accounts (connections) the clients share; 1: everyone trades one account",
    )
    parser.add_argument("--keep", action="store_true", help="keep the bench orders")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL"):
        raise SystemExit("Set DATABASE_URL to a database of the bench's own (see the docstring).")

    ensure_postgres_database(os.environ["DATABASE_URL"])
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from terminal.models import Order

    call_command("migrate", verbosity=0)
    token, workspace_id, connection_ids = prepare(args.accounts)
    port = free_port()
    log_path = Path(tempfile.gettempdir()) / f"botmarket-order-bench-{port}.log"
    server = start_server(port, log_path)
    headers = {"Authorization": f"Token {token}", "X-Workspace-Id": workspace_id}
    try:
        # Warm-up: the first requests import and connect what the server uses lazily.
        asyncio.run(run_phase(order_client, 2, 2.0, port, headers, connection_ids, 0.0))
        cycle_before, buckets_before = server_histogram(port)
        orders = asyncio.run(
            run_phase(
                order_client, args.clients, args.seconds, port, headers, connection_ids, args.rate
            )
        )
        cycle_after, buckets_after = server_histogram(port)
        tickers = asyncio.run(
            run_phase(
                ticker_client, args.clients, args.ticker_seconds, port, headers, connection_ids, 0.0
            )
        )
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()

    placed = Order.objects.filter(pk__in=orders["ids"])
    closed = placed.filter(status=Order.Status.CLOSED).count()
    if closed != len(orders["ids"]) or placed.count() != len(set(orders["ids"])):
        raise SystemExit(
            f"journal mismatch: {len(orders['ids'])} answers, {placed.count()} rows, "
            f"{closed} closed"
        )
    cycle_count = cycle_after - cycle_before
    cycle_buckets = {b: buckets_after.get(b, 0) - buckets_before.get(b, 0) for b in buckets_after}

    latencies = orders["latencies"]
    database = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    print(f"# Terminal benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(
        f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}, "
        f"database {database}, daphne (one process), {args.clients} clients, "
        + (f"{args.rate:g} orders/s each" if args.rate else "orders back to back")
        + f", {args.accounts} demo account(s)\n"
    )
    print("| measure | value |")
    print("|---|---:|")
    print(f"| orders placed (201) in {orders['wall']:.1f} s | {len(latencies):,} |")
    print(f"| orders per second | {len(latencies) / orders['wall']:.1f} |")
    print(f"| order submit → ack p50 | {percentile(latencies, 0.50):.1f} ms |")
    print(f"| order submit → ack p95 | {percentile(latencies, 0.95):.1f} ms |")
    print(f"| order submit → ack p99 | {percentile(latencies, 0.99):.1f} ms |")
    print(f"| order errors | {len(orders['errors'])} |")
    print(
        f"| server `order_cycle_seconds` (venue call) p50 / p95 / p99 | "
        f"{bucket_quantile(cycle_count, cycle_buckets, 0.50)} / "
        f"{bucket_quantile(cycle_count, cycle_buckets, 0.95)} / "
        f"{bucket_quantile(cycle_count, cycle_buckets, 0.99)} |"
    )
    ticker_rate = len(tickers["latencies"]) / tickers["wall"]
    print(f"| ticker requests per second | {ticker_rate:.0f} |")
    print(
        f"| ticker latency p50 / p95 | {percentile(tickers['latencies'], 0.5):.1f} / "
        f"{percentile(tickers['latencies'], 0.95):.1f} ms |"
    )
    print(f"| ticker errors | {len(tickers['errors'])} |")
    errors = orders["errors"] + tickers["errors"]
    if errors:
        print("\nerrors:", statistics.multimode(errors), f"({len(errors)} in all)")
    if not args.keep:
        # The journal rows only; the demo account keeps its (tiny) balance changes.
        Order.objects.filter(workspace_id=workspace_id).delete()


if __name__ == "__main__":
    main()
