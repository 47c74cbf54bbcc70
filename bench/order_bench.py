"""Order-path benchmark: demo market orders against a floor, through the real server.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/botmarket_order_bench \\
    REDIS_URL=redis://127.0.0.1:6380/9 \\
    .venv/bin/python bench/order_bench.py [--web 1,2] [--clients 16] [--seconds 20] \\
        [--rate 50 --open-seconds 30] [--ticker-seconds 10] [--accounts 1] [--keep]

What it does:

1. migrates the database named by DATABASE_URL (created first if it does not exist; use a
   database of its own: the bench adds a `bench-terminal` user, workspace and demo
   connections), and creates an API token for that user;
2. for each count in `--web` (e.g. `1,2`), starts that many web processes: daphne serving
   `config.asgi:application` with `DJANGO_SETTINGS_MODULE=bench.settings` (the product's
   settings and URLs plus the floor endpoint of bench/floor_urls.py), each on a port of its
   own, against the same PostgreSQL and Redis, with rate limits off (`RATELIMIT_ENABLE=false`,
   one client IP would hit them), DEBUG off and the production log level (INFO, a JSON line
   per request, and daphne's access log, into a file). The client spreads the load over the
   ports round-robin, as nginx spreads it over the production layout's web processes (one per
   core): connection i of the closed loop, request i of the open loop, goes to port i mod N;
3. on each layout, two kinds of request, with the same token, `X-Workspace-Id` and middleware:
   - order: POST /api/v1/terminal/orders with a fresh Idempotency-Key, a market order of
     0.0001 BTC/USDT, buys and sells alternating (the account is stocked with some BTC first);
   - floor: POST /api/v1/bench/floor, which parses its body and inserts one audit row in one
     transaction (bench/floor_urls.py): what any authenticated, workspace-scoped write costs;
   and these phases for each kind:
   - saturation (closed loop): `--clients` connections, each sending its next request as soon
     as the previous answer is read, for `--seconds` in all, in `--rounds` rounds in which
     orders and the floor take turns (other work on the machine falls on both alike);
     throughput, latency, and the CPU time
     (from /proc) that the web processes, the bench database's PostgreSQL backends, this
     client and the rest of the machine used. A request's cost is its web + database CPU time;
     the order's is compared with the floor's (target ≤ 2.5x);
   - open loop, with `--rate` > 0: requests at a fixed arrival rate (`--rate` a second, evenly
     spaced) for `--open-seconds`, each sent at its scheduled time whatever happened to the
     earlier ones, on as many connections as are needed at once (an idle keep-alive connection
     if there is one, else a new one). Submit → ack is measured from the scheduled send time to
     the whole 201 read, so queueing anywhere (client, server, database) counts;
4. tickers, with `--ticker-seconds` > 0 (first layout only): `--clients` connections GET the
   ticker back to back.

Any answer but 201 (200 for the ticker), and any transport error, counts as an error. It
checks that the journal holds exactly one closed order per 201 and one audit row per floor
201, prints Markdown tables (the figures in docs/performance.md, "Terminal"), the targets met
or not, and removes the bench's orders and audit rows unless `--keep`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")

SYMBOL = "BTC/USDT"
AMOUNT = "0.0001"  # about 10 USDT: above the 5 USDT minimum notional, small enough to last
STOCK = Decimal("0.005")  # BTC bought up front, so that a sell never waits for its buy
ORDERS_PATH = "/api/v1/terminal/orders"
FLOOR_PATH = "/api/v1/bench/floor"
TICKER_PATH = "/api/v1/terminal/ticker"
MAX_OPEN_CONNECTIONS = 400  # the open loop's cap; more in flight than that means it is lost

# Targets of docs/performance.md ("Terminal").
TARGET_RATIO = 2.5
TARGET_P95_MS = 50.0
TARGET_SCALING = 1.7


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
    AuthToken.objects.filter(user=user).delete()  # earlier runs' tokens are of no use
    _, token = AuthToken.objects.create(user=user)
    return token, str(workspace.pk), [str(connection.pk) for connection in connections]


def cleanup(workspace_id: str) -> None:
    """Remove the bench's journal rows and audit rows (its demo balances stay)."""
    from bench.floor_urls import FLOOR_ACTION
    from terminal.models import Order
    from workspaces.models import AuditEvent

    Order.objects.filter(workspace_id=workspace_id).delete()
    AuditEvent.objects.filter(
        workspace_id=workspace_id, action__in=[FLOOR_ACTION, "order.place"]
    ).delete()


def start_server(port: int, log_path: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "RATELIMIT_ENABLE": "false",
        "DJANGO_DEBUG": "false",
    }
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


def stop_servers(servers: list[subprocess.Popen]) -> None:
    for server in servers:
        server.terminate()
    for server in servers:
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


# --------------------------------------------------------------------------- CPU accounting

_TICK = os.sysconf("SC_CLK_TCK")


def _process_cpu(pid: int) -> float:
    """User + system CPU seconds of process `pid` so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime


def _machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, summed over its cores."""
    with open("/proc/stat") as stat:
        values = [int(value) for value in stat.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])  # without guest time, which user time already holds
    return (total - idle) / _TICK, total / _TICK


def _database_backends() -> list[int]:
    """Process ids of the PostgreSQL backends connected to the bench's database."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        )
        return [pid for (pid,) in cursor.fetchall()]


def _cpu_of(pids: list[int]) -> dict[int, float]:
    found = {}
    for pid in pids:
        try:
            found[pid] = _process_cpu(pid)
        except (FileNotFoundError, ProcessLookupError):
            pass  # gone meanwhile (a pool connection closed)
    return found


@dataclass
class CpuSnapshot:
    client: float
    servers: float
    database: dict[int, float]
    busy: float
    total: float

    @classmethod
    def take(cls, pids: list[int]) -> CpuSnapshot:
        database = _cpu_of(_database_backends()) if pids else {}
        usage = resource.getrusage(resource.RUSAGE_SELF)
        busy, total = _machine_cpu()
        return cls(
            client=usage.ru_utime + usage.ru_stime,
            servers=sum(_process_cpu(pid) for pid in pids),
            database=database,
            busy=busy,
            total=total,
        )


@dataclass
class CpuUse:
    """CPU seconds used during a phase (or several), summed over the cores."""

    client: float
    servers: float
    database: float  # the backends of the bench's database (the web processes' connections)
    busy: float  # the whole machine: the above, Redis, other databases and any other work
    total: float  # what the cores could have given meanwhile

    @classmethod
    def between(cls, before: CpuSnapshot, after: CpuSnapshot) -> CpuUse:
        return cls(
            client=after.client - before.client,
            servers=after.servers - before.servers,
            # A backend opened during the phase counts from zero; one closed meanwhile is lost.
            database=sum(
                cpu - before.database.get(pid, 0.0) for pid, cpu in after.database.items()
            ),
            busy=after.busy - before.busy,
            total=max(after.total - before.total, 1e-9),
        )

    def __add__(self, other: CpuUse) -> CpuUse:
        return CpuUse(
            client=self.client + other.client,
            servers=self.servers + other.servers,
            database=self.database + other.database,
            busy=self.busy + other.busy,
            total=self.total + other.total,
        )

    def shares(self) -> str:
        """web / client / db / rest / idle, as shares of the machine (100 % = all cores)."""
        rest = max(0.0, self.busy - self.client - self.servers - self.database)
        idle = max(0.0, self.total - self.busy)
        return " / ".join(
            f"{value / self.total:.0%}"
            for value in (self.servers, self.client, self.database, rest, idle)
        )


# --------------------------------------------------------------------------- a small HTTP client


class Connection:
    """One keep-alive HTTP/1.1 connection."""

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
            try:
                await self.writer.wait_closed()
            except OSError:
                pass
            self.writer = None

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
        return status, data


_TRANSPORT_ERRORS = (OSError, ConnectionError, asyncio.IncompleteReadError)


# --------------------------------------------------------------------------- requests


@dataclass
class Results:
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    send_lags: list[float] = field(default_factory=list)  # open loop: sent after its slot
    wall: float = 0.0
    cpu: CpuUse | None = None
    peak_connections: int = 0

    def merge(self, other: Results) -> Results:
        """Both phases' results as one (a kind's rounds of the saturation)."""
        return Results(
            latencies=self.latencies + other.latencies,
            errors=self.errors + other.errors,
            ids=self.ids + other.ids,
            send_lags=self.send_lags + other.send_lags,
            wall=self.wall + other.wall,
            cpu=self.cpu + other.cpu,
            peak_connections=max(self.peak_connections, other.peak_connections),
        )


class Traffic:
    """What the load sends: orders (alternating sides per account) or floor writes."""

    def __init__(self, kind: str, accounts: list[str]):
        self.kind = kind
        self.accounts = accounts
        self.sequence = 0

    def next(self) -> tuple[str, dict, dict]:
        """(path, body, headers) of the next request."""
        number = self.sequence
        self.sequence += 1
        if self.kind == "floor":
            return FLOOR_PATH, {"note": f"floor {number}"}, {}
        account = self.accounts[number % len(self.accounts)]
        # Per account, buys and sells alternate; the stock bought up front covers sells whose
        # buy is still in flight.
        side = "buy" if (number // len(self.accounts)) % 2 == 0 else "sell"
        body = {
            "connection": account,
            "symbol": SYMBOL,
            "side": side,
            "type": "market",
            "amount": AMOUNT,
        }
        return ORDERS_PATH, body, {"Idempotency-Key": str(uuid.uuid4())}


def _record(results: Results, status: int, data: bytes, elapsed: float) -> None:
    if status == 201:
        results.latencies.append(elapsed)
        results.ids.append(json.loads(data)["id"])
    else:
        code = ""
        if data:
            try:
                code = json.loads(data).get("code", "")
            except ValueError:
                code = data[:40].decode("latin-1")
        results.errors.append(f"{status} {code}".strip())


async def closed_loop(
    traffic: Traffic, clients: int, seconds: float, ports: list[int], headers: dict
) -> Results:
    """`clients` connections (connection i on port i mod N), each back to back, for `seconds`."""
    results = Results()

    async def client(index: int) -> None:
        http = Connection(ports[index % len(ports)], headers)
        try:
            while time.perf_counter() < until:
                path, body, extra = traffic.next()
                began = time.perf_counter()
                try:
                    status, data = await http.request("POST", path, body, extra)
                except _TRANSPORT_ERRORS as exc:
                    results.errors.append(f"transport: {type(exc).__name__}")
                    await http.close()
                    continue
                _record(results, status, data, time.perf_counter() - began)
        finally:
            await http.close()

    began = time.perf_counter()
    until = began + seconds
    await asyncio.gather(*(client(index) for index in range(clients)))
    results.wall = time.perf_counter() - began
    return results


async def open_loop(
    traffic: Traffic, rate: float, seconds: float, ports: list[int], headers: dict
) -> Results:
    """`rate` requests a second, evenly spaced, for `seconds`, each on schedule (see the docstring).

    Request i is due at start + i / rate and goes to port i mod N, on an idle connection to that
    port or a new one. Its latency runs from the due time, not from when it could be sent.
    """
    results = Results()
    idle: dict[int, list[Connection]] = {port: [] for port in ports}
    in_use = 0
    count = int(rate * seconds)

    async def send(index: int, due: float) -> None:
        nonlocal in_use
        port = ports[index % len(ports)]
        http = idle[port].pop() if idle[port] else Connection(port, headers)
        in_use += 1
        results.peak_connections = max(results.peak_connections, in_use)
        path, body, extra = traffic.next()
        results.send_lags.append(time.perf_counter() - due)
        try:
            status, data = await http.request("POST", path, body, extra)
        except _TRANSPORT_ERRORS as exc:
            results.errors.append(f"transport: {type(exc).__name__}")
            await http.close()
            return
        finally:
            in_use -= 1
        _record(results, status, data, time.perf_counter() - due)
        idle[port].append(http)

    began = time.perf_counter()
    tasks = []
    for index in range(count):
        due = began + index / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        if in_use >= MAX_OPEN_CONNECTIONS:
            results.errors.append("client: too many requests in flight")
            continue
        tasks.append(asyncio.create_task(send(index, due)))
    await asyncio.gather(*tasks)
    results.wall = time.perf_counter() - began
    for connections in idle.values():
        for http in connections:
            await http.close()
    return results


async def ticker_loop(
    clients: int, seconds: float, ports: list[int], headers: dict, account: str
) -> Results:
    results = Results()
    path = f"{TICKER_PATH}?connection={account}&symbol=BTC%2FUSDT"

    async def client(index: int) -> None:
        http = Connection(ports[index % len(ports)], headers)
        try:
            while time.perf_counter() < until:
                began = time.perf_counter()
                try:
                    status, _data = await http.request("GET", path)
                except _TRANSPORT_ERRORS as exc:
                    results.errors.append(f"transport: {type(exc).__name__}")
                    await http.close()
                    continue
                if status == 200:
                    results.latencies.append(time.perf_counter() - began)
                else:
                    results.errors.append(str(status))
        finally:
            await http.close()

    began = time.perf_counter()
    until = began + seconds
    await asyncio.gather(*(client(index) for index in range(clients)))
    results.wall = time.perf_counter() - began
    return results


async def stock_up(port: int, headers: dict, accounts: list[str]) -> None:
    """Buy STOCK BTC on each demo account that holds less (sells then never lack coins)."""
    from exchanges.models import DemoBalance

    http = Connection(port, headers)
    try:
        for account in accounts:
            row = await asyncio.to_thread(
                lambda account=account: DemoBalance.objects.filter(
                    connection_id=account, asset="BTC"
                ).first()
            )
            if row is not None and row.free >= STOCK:
                continue
            body = {
                "connection": account,
                "symbol": SYMBOL,
                "side": "buy",
                "type": "market",
                "amount": str(STOCK),
            }
            status, data = await http.request(
                "POST", ORDERS_PATH, body, {"Idempotency-Key": str(uuid.uuid4())}
            )
            if status != 201:
                raise SystemExit(f"stocking the demo account failed: {status} {data[:300]!r}")
    finally:
        await http.close()


# --------------------------------------------------------------------------- server metrics


def order_cycle(ports: list[int]) -> tuple[int, dict[float, int]]:
    """`order_cycle_seconds` of the demo's market orders, summed over the web processes."""
    count, buckets = 0, {}
    for port in ports:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as probe:
            probe.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            chunks = []
            while chunk := probe.recv(65536):
                chunks.append(chunk)
        text = b"".join(chunks).decode()
        for bound, value in re.findall(
            r'order_cycle_seconds_bucket\{exchange="demo",le="([^"]+)",type="market"\} (\S+)',
            text,
        ):
            buckets[float(bound)] = buckets.get(float(bound), 0) + int(float(value))
        found = re.search(r'order_cycle_seconds_count\{exchange="demo",type="market"\} (\S+)', text)
        count += int(float(found.group(1))) if found else 0
    return count, buckets


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


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) by linear interpolation between closest ranks, in ms."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return (ordered[low] + (ordered[high] - ordered[low]) * (position - low)) * 1000


# --------------------------------------------------------------------------- the run


@dataclass
class Phase:
    web: int
    name: str  # "saturation" or "open loop"
    kind: str  # "order" or "floor"
    results: Results
    cycle: str = ""

    @property
    def rate(self) -> float:
        return len(self.results.latencies) / self.results.wall

    @property
    def cpu_ms(self) -> float:
        """The web processes' CPU time per answered request, in ms."""
        return self.results.cpu.servers * 1000 / max(1, len(self.results.latencies))

    @property
    def database_ms(self) -> float:
        """PostgreSQL's CPU time (the bench database's backends) per answered request, in ms."""
        return self.results.cpu.database * 1000 / max(1, len(self.results.latencies))


def run_layout(web: int, args, headers: dict, accounts: list[str], log_dir: Path) -> list[Phase]:
    ports = [free_port() for _ in range(web)]
    servers = []
    try:
        for port in ports:
            servers.append(start_server(port, log_dir / f"botmarket-order-bench-{port}.log"))
        pids = [server.pid for server in servers]

        def measured(load) -> Results:
            """Run the coroutine `load`, with the CPU used meanwhile (read outside the loop)."""
            before = CpuSnapshot.take(pids)
            results = asyncio.run(load)
            results.cpu = CpuUse.between(before, CpuSnapshot.take(pids))
            return results

        asyncio.run(stock_up(ports[0], headers, accounts))
        for kind in ("order", "floor"):  # warm-up: lazy imports, the pools, the feed's caches
            asyncio.run(closed_loop(Traffic(kind, accounts), 2 * web, 2.0, ports, headers))
        # Saturation in rounds, order and floor taking turns: whatever else the machine does
        # meanwhile falls on both kinds alike, so their ratio keeps its meaning.
        merged: dict[str, Results] = {}
        cycle_before = order_cycle(ports)
        traffic = {kind: Traffic(kind, accounts) for kind in ("order", "floor")}
        for _round in range(args.rounds):
            for kind in ("order", "floor"):
                part = measured(
                    closed_loop(
                        traffic[kind], args.clients, args.seconds / args.rounds, ports, headers
                    )
                )
                merged[kind] = merged[kind].merge(part) if kind in merged else part
        phases = [
            Phase(web, "saturation", "order", merged["order"], cycle_text(cycle_before, ports)),
            Phase(web, "saturation", "floor", merged["floor"]),
        ]
        if args.rate:
            for kind in ("order", "floor"):
                cycle_before = order_cycle(ports)
                results = measured(
                    open_loop(Traffic(kind, accounts), args.rate, args.open_seconds, ports, headers)
                )
                cycle = cycle_text(cycle_before, ports) if kind == "order" else ""
                phases.append(Phase(web, "open loop", kind, results, cycle))
        if args.ticker_seconds and web == int(args.web.split(",")[0]):
            tickers = asyncio.run(
                ticker_loop(args.clients, args.ticker_seconds, ports, headers, accounts[0])
            )
            phases.append(Phase(web, "tickers", "ticker", tickers))
        return phases
    finally:
        stop_servers(servers)


def cycle_text(before: tuple[int, dict[float, int]], ports: list[int]) -> str:
    """The venue call's p50 / p95 / p99 (server side) since `before`."""
    count_after, buckets_after = order_cycle(ports)
    count = count_after - before[0]
    buckets = {b: buckets_after.get(b, 0) - before[1].get(b, 0) for b in buckets_after}
    return " / ".join(bucket_quantile(count, buckets, q) for q in (0.5, 0.95, 0.99))


def check_journal(phases: list[Phase]) -> None:
    """Exactly one closed order per order 201 and one audit row per floor 201."""
    from bench.floor_urls import FLOOR_ACTION
    from terminal.models import Order
    from workspaces.models import AuditEvent

    order_ids = [i for p in phases if p.kind == "order" for i in p.results.ids]
    floor_ids = [i for p in phases if p.kind == "floor" for i in p.results.ids]
    placed = Order.objects.filter(pk__in=order_ids)
    closed = placed.filter(status=Order.Status.CLOSED).count()
    if closed != len(order_ids) or placed.count() != len(set(order_ids)):
        raise SystemExit(
            f"journal mismatch: {len(order_ids)} answers, {placed.count()} rows, {closed} closed"
        )
    rows = AuditEvent.objects.filter(pk__in=floor_ids, action=FLOOR_ACTION).count()
    if rows != len(floor_ids) or len(set(floor_ids)) != len(floor_ids):
        raise SystemExit(f"floor mismatch: {len(floor_ids)} answers, {rows} audit rows")


def report(phases: list[Phase], args) -> None:
    from django.conf import settings

    database = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"# Order-path benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(
        f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}, "
        f"database {database}, web processes: {args.web}, {args.accounts} demo "
        f"account(s); load average at the end {load}\n"
    )
    print(
        "| web | phase | request | answered | req/s | p50 ms | p95 ms | p99 ms | errors "
        "| CPU ms/req: web + db | machine: web / client / db / rest / idle "
        "| venue call p50 / p95 / p99 |"
    )
    print("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|")
    for phase in phases:
        r = phase.results
        if phase.kind == "ticker":
            print(
                f"| {phase.web} | saturation | ticker | {len(r.latencies):,} | {phase.rate:.0f} | "
                f"{percentile(r.latencies, 0.5):.1f} | {percentile(r.latencies, 0.95):.1f} | "
                f"{percentile(r.latencies, 0.99):.1f} | {len(r.errors)} | | | |"
            )
            continue
        name = phase.name if phase.name != "open loop" else f"open loop {args.rate:g}/s"
        cpu = r.cpu
        print(
            f"| {phase.web} | {name} | {phase.kind} | {len(r.latencies):,} | {phase.rate:.1f} | "
            f"{percentile(r.latencies, 0.5):.1f} | {percentile(r.latencies, 0.95):.1f} | "
            f"{percentile(r.latencies, 0.99):.1f} | {len(r.errors)} | "
            f"{phase.cpu_ms:.1f} + {phase.database_ms:.1f} | {cpu.shares()} | "
            f"{phase.cycle} |"
        )
    for phase in phases:
        if phase.name == "open loop":
            lags = phase.results.send_lags
            print(
                f"\nopen loop, web {phase.web}, {phase.kind}: sent late by p99 "
                f"{percentile(lags, 0.99):.1f} ms (max {max(lags) * 1000:.1f} ms), at most "
                f"{phase.results.peak_connections} requests in flight"
            )
    errors = [e for phase in phases for e in phase.results.errors]
    if errors:
        print("\nerrors:", statistics.multimode(errors), f"({len(errors)} in all)")

    def find(web: int, name: str, kind: str) -> Phase | None:
        return next(
            (p for p in phases if (p.web, p.name, p.kind) == (web, name, kind)),
            None,
        )

    print("\n| target | result |")
    print("|---|---|")
    first = int(args.web.split(",")[0])
    order, floor = find(first, "saturation", "order"), find(first, "saturation", "floor")
    if order and floor:
        # The cost of a request: the CPU time it takes the web process and PostgreSQL. The
        # time a saturated web process spends per request is shown beside it; it also counts
        # the waits (the database, the locks) and what other work on the machine takes away.
        order_cost = order.cpu_ms + order.database_ms
        floor_cost = floor.cpu_ms + floor.database_ms
        ratio = order_cost / floor_cost
        verdict = "met" if ratio <= TARGET_RATIO else "not met"
        print(
            f"| order ≤ {TARGET_RATIO}x the floor per request | {verdict}: **{ratio:.2f}x** "
            f"(CPU per request, web + database: {order_cost:.1f} vs {floor_cost:.1f} ms; time "
            f"of the saturated web process per request {1000 / order.rate:.1f} vs "
            f"{1000 / floor.rate:.1f} ms, {floor.rate / order.rate:.2f}x) |"
        )
    opened = find(1, "open loop", "order")
    if opened:
        p95 = percentile(opened.results.latencies, 0.95)
        verdict = "met" if p95 <= TARGET_P95_MS and not opened.results.errors else "not met"
        print(
            f"| p95 submit → ack ≤ {TARGET_P95_MS:g} ms at {args.rate:g} orders/s open loop, "
            f"one web process | {verdict}: **{p95:.1f} ms** (p50 "
            f"{percentile(opened.results.latencies, 0.5):.1f}, p99 "
            f"{percentile(opened.results.latencies, 0.99):.1f}) |"
        )
    one, two = find(1, "saturation", "order"), find(2, "saturation", "order")
    if one and two:
        scaling = two.rate / one.rate
        floor_one, floor_two = find(1, "saturation", "floor"), find(2, "saturation", "floor")
        verdict = "met" if scaling >= TARGET_SCALING else "not met"
        print(
            f"| saturation throughput 1 → 2 web processes ≥ {TARGET_SCALING}x | {verdict}: "
            f"**{scaling:.2f}x** ({one.rate:.1f} → {two.rate:.1f} orders/s; floor "
            f"{floor_two.rate / floor_one.rate:.2f}x) |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--web", default="1", help="web process counts to run, comma-separated (e.g. 1,2)"
    )
    parser.add_argument("--clients", type=int, default=16, help="saturation connections")
    parser.add_argument(
        "--seconds", type=float, default=24.0, help="saturation time of each kind of request"
    )
    parser.add_argument(
        "--rounds", type=int, default=4, help="saturation rounds, order and floor taking turns"
    )
    parser.add_argument(
        "--rate", type=float, default=0.0, help="open loop: requests a second (0: no open loop)"
    )
    parser.add_argument("--open-seconds", type=float, default=30.0, help="each open-loop phase")
    parser.add_argument("--ticker-seconds", type=float, default=0.0)
    parser.add_argument(
        "--accounts",
        type=int,
        default=1,
        help="demo accounts (connections) the orders are spread over; 1: one account",
    )
    parser.add_argument("--keep", action="store_true", help="keep the bench's orders")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL"):
        raise SystemExit("Set DATABASE_URL to a database of the bench's own (see the docstring).")

    ensure_postgres_database(os.environ["DATABASE_URL"])
    import django

    import config  # noqa: F401  before the settings (bench/settings.py says why)

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    token, workspace_id, accounts = prepare(args.accounts)
    headers = {"Authorization": f"Token {token}", "X-Workspace-Id": workspace_id}
    log_dir = Path(tempfile.gettempdir())
    phases: list[Phase] = []
    try:
        for web in (int(value) for value in args.web.split(",")):
            phases += run_layout(web, args, headers, accounts, log_dir)
        check_journal(phases)
        report(phases, args)
    finally:
        if not args.keep:
            cleanup(workspace_id)


if __name__ == "__main__":
    main()
