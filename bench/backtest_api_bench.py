"""Lab API path benchmark: POST a backtest of 1M one-minute candles and wait for its result.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/botmarket_bench \\
    REDIS_URL=redis://127.0.0.1:6379/8 \\
    .venv/bin/python bench/backtest_api_bench.py [--rows 1000000] [--repeat 3] [--keep]

What it does, through the real API (DRF views, token auth, X-Workspace-Id) and a real Celery
worker that it starts on the `lab` queue against the same database, Redis and MEDIA_ROOT:

1. migrates the database named by DATABASE_URL (created first if it does not exist; use a
   database of its own, the bench adds a `bench` user and workspace to it);
2. uploads `--rows` deterministic GBM 1-minute candles as a CSV dataset (the candles of
   bench/engine_bench.py, symbol BENCH/USDT, amount step 1e-8);
3. stores the SMA(10)/SMA(30) crossover example as a strategy version (all-in, long-only);
4. `--repeat` times: POST /api/v1/lab/backtests (cash 10,000, fee 10 bps, no slippage), then
   GET the backtest every 20 ms until it has succeeded. "total" is the client's wall time from
   the POST to the GET that sees `succeeded`; load / engine / save are the worker's own
   timings of the run (`timings_ms`): reading and hash-checking the dataset file, compiling
   and simulating, and writing the equity file plus inserting the trades; "queue + API" is
   what remains (POST, task hand-off, claim, status updates, polling);
5. fetches the equity curve (downsampled, and in full) and the first page of trades, timed.

It prints a Markdown table (the figures in docs/performance.md, "Lab API path") and removes
what it created unless `--keep` is given.
"""

from __future__ import annotations

import argparse
import os
import platform
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
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


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


def start_worker(media_root: str) -> subprocess.Popen:
    """A Celery worker on the lab queue (prefork, one child, as in production)."""
    from config.celery import app

    name = f"bench-{os.getpid()}@{platform.node()}"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "-Q",
            "lab",
            "--concurrency=1",
            "--pool=prefork",
            "--without-mingle",
            "--without-gossip",
            "--loglevel=WARNING",
            "-n",
            name,
        ],
        cwd=ROOT,
        env={**os.environ, "MEDIA_ROOT": media_root},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("the Celery worker exited while starting")
        if app.control.ping(destination=[name], timeout=0.5):
            return process
    process.kill()
    raise SystemExit("the Celery worker did not answer a ping within 60 s")


def bench_client():
    """A token client of the bench user, acting in the bench workspace (owner)."""
    from knox.models import AuthToken
    from rest_framework.test import APIClient

    from accounts.models import User
    from workspaces.models import Membership
    from workspaces.services import create_workspace

    user, _ = User.objects.get_or_create(
        username="bench", defaults={"email": "bench@botmarket.local"}
    )
    membership = Membership.objects.filter(user=user, workspace__name="Bench").first()
    workspace = membership.workspace if membership else create_workspace(name="Bench", owner=user)
    _, token = AuthToken.objects.create(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}", HTTP_X_WORKSPACE_ID=str(workspace.pk))
    return client, workspace, user


def strategy_version(workspace, user):
    """The SMA(10)/SMA(30) crossover example, as version 1 of a bench strategy."""
    import hashlib
    import json

    from strategies.dsl import examples
    from strategies.models import Strategy, StrategyVersion

    body = examples()["sma_crossover"]
    body["symbol"] = "BENCH/USDT"
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    strategy, _ = Strategy.objects.get_or_create(
        workspace=workspace, name="Bench SMA 10/30", defaults={"created_by": user}
    )
    version, _ = StrategyVersion.objects.get_or_create(
        strategy=strategy,
        number=1,
        defaults={
            "body": body,
            "body_sha256": hashlib.sha256(canonical.encode("utf-8")).hexdigest(),
            "created_by": user,
        },
    )
    return version


def timed(function):
    began = time.perf_counter()
    result = function()
    return result, (time.perf_counter() - began) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="backtests to run (at most 5)")
    parser.add_argument("--keep", action="store_true", help="keep the dataset and backtests")
    args = parser.parse_args()
    if not 1 <= args.repeat <= 5:
        raise SystemExit("--repeat must be 1..5 (the API allows 5 backtests a minute)")
    if not os.environ.get("DATABASE_URL"):
        raise SystemExit("Set DATABASE_URL to a database of the bench's own (see the docstring).")

    ensure_postgres_database(os.environ["DATABASE_URL"])
    media_root = tempfile.mkdtemp(prefix="botmarket-bench-media-")
    os.environ["MEDIA_ROOT"] = media_root

    import django

    django.setup()
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.core.management import call_command
    from django.db import connection
    from engine_bench import make_candles

    from lab.csvformat import render_candles
    from lab.models import Backtest
    from strategies.engine import Candles

    call_command("migrate", verbosity=0)
    worker = start_worker(media_root)
    created: list[str] = []
    dataset_id = None
    api = None
    try:
        api, workspace, user = bench_client()
        version = strategy_version(workspace, user)
        csv_bytes = render_candles(Candles.of(make_candles(args.rows)))
        name = f"bench-{args.rows}-{int(time.time())}"
        response, dataset_ms = timed(
            lambda: api.post(
                "/api/v1/lab/datasets",
                {
                    "source": "csv",
                    "name": name,
                    "symbol": "BENCH/USDT",
                    "timeframe": "1m",
                    "amount_step": "0.00000001",
                    "file": SimpleUploadedFile("bench.csv", csv_bytes, content_type="text/csv"),
                },
                format="multipart",
            )
        )
        assert response.status_code == 201, response.content
        dataset = response.json()
        dataset_id = dataset["id"]

        runs = []
        for _ in range(args.repeat):
            began = time.perf_counter()
            posted = api.post(
                "/api/v1/lab/backtests",
                {
                    "strategy_version": str(version.pk),
                    "dataset": dataset_id,
                    "initial_cash": "10000",
                    "fee_bps": "10",
                    "slippage_bps": "0",
                },
                format="json",
            )
            assert posted.status_code == 202, posted.content
            backtest_id = posted.json()["id"]
            created.append(backtest_id)
            while True:
                body = api.get(f"/api/v1/lab/backtests/{backtest_id}").json()
                if body["status"] in ("succeeded", "failed"):
                    break
                time.sleep(0.02)
            total_ms = (time.perf_counter() - began) * 1000
            assert body["status"] == "succeeded", body["error"]
            runs.append((total_ms, body))

        last = runs[-1][1]
        url = f"/api/v1/lab/backtests/{last['id']}"
        equity, equity_ms = timed(lambda: api.get(f"{url}/equity"))
        full, full_ms = timed(lambda: api.get(f"{url}/equity?full=true"))
        trades, trades_ms = timed(lambda: api.get(f"{url}/trades"))
        assert equity.status_code == full.status_code == trades.status_code == 200
        hashes = {body["inputs_sha256"] for _, body in runs}
        metrics = {str(body["metrics"]) for _, body in runs}
        assert len(hashes) == 1
        assert len(metrics) == 1, "the same inputs gave different metrics"

        print(f"# Lab API path, {args.rows:,} candles of 1m")
        database = (
            f"PostgreSQL {connection.pg_version // 10000}"
            if connection.vendor == "postgresql"
            else f"{connection.vendor} {connection.Database.sqlite_version}"
        )
        print(
            f"machine: {os.cpu_count()} cores, {platform.machine()}, Python "
            f"{platform.python_version()}, {database}; date {datetime.now(UTC).date().isoformat()}"
        )
        print(
            f"dataset: CSV upload of {dataset['rows']:,} candles "
            f"({len(csv_bytes) / 1e6:.1f} MB) → 201 in {dataset_ms:,.0f} ms; "
            f"file {dataset['size_bytes'] / 1e6:.1f} MB"
        )
        print(f"trades: {last['metrics']['trades']:,}; inputs_sha256 {last['inputs_sha256']}")
        print()
        print(
            "| run | load dataset (ms) | engine (ms) | save trades + equity (ms) "
            "| queue + API (ms) | total POST → succeeded (ms) |"
        )
        print("|---:|---:|---:|---:|---:|---:|")
        for index, (total_ms, body) in enumerate(runs, start=1):
            t = body["timings_ms"]
            rest = total_ms - t["load"] - t["engine"] - t["save"]
            print(
                f"| {index} | {t['load']:,.0f} | {t['engine']:,.0f} | {t['save']:,.0f} "
                f"| {rest:,.0f} | {total_ms:,.0f} |"
            )
        median = statistics.median(total for total, _ in runs)
        print(f"| median | | | | | **{median:,.0f}** |")
        print()
        print(
            f"GET equity (≤1000 points): {equity_ms:,.0f} ms; "
            f"GET equity?full=true ({full.json()['points']:,} points, "
            f"{len(full.content) / 1e6:.1f} MB): {full_ms:,.0f} ms; "
            f"GET trades (page 1): {trades_ms:,.0f} ms"
        )
    finally:
        if api is not None and not args.keep:
            for backtest_id in created:
                api.delete(f"/api/v1/lab/backtests/{backtest_id}")
            if dataset_id:
                api.delete(f"/api/v1/lab/datasets/{dataset_id}")
            Backtest.objects.filter(pk__in=created).delete()
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
        if not args.keep:
            shutil.rmtree(media_root, ignore_errors=True)


if __name__ == "__main__":
    main()
