"""The served OpenAPI schema tells the truth about every GET endpoint (schemathesis, bounded).

For each GET operation of `/api/schema/`: one call with the seeded workspace's real ids (it must
answer 200 with something in it), then `EXAMPLES` cases that schemathesis generates around those
ids. Every answer must have a documented status code and content type and match its documented
schema. A new GET endpoint is covered without editing this file; one whose path names an object
this file cannot seed fails until the `seeds` fixture learns it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, Phase, given, settings
from knox.models import AuthToken
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from bots import replays
from bots.models import BotRun, RunEquityPoint
from lab import services as lab_services
from strategies.dsl import examples
from strategies.models import Strategy
from tests.bots.factories import BotFactory, BotRunFactory, RunEventFactory
from tests.conftest import _member
from workspaces.models import AuditEvent, Role

pytestmark = pytest.mark.django_db

EXAMPLES = 8  # generated cases per operation: ~35 operations in well under two minutes
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
DAY = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture
def wsgi_app(settings, seeds):
    """Django as a WSGI app, in this test's transaction (as Django's test client runs it).

    After `seeds`: each test-client call made there reconnects the signals undone here.
    """
    settings.RATELIMIT_ENABLE = False  # hundreds of calls from one IP, all of them wanted
    # A request's start and end would close this thread's connection, and with it the
    # transaction that holds the seeded rows; the test client disconnects them the same way.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield in_a_savepoint(get_wsgi_application())
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def in_a_savepoint(app):
    """`app` with each request in a savepoint rolled back after it.

    A request that fails in the database (a 500 this test reports) would otherwise abort the
    test's transaction, and every later request with it.
    """

    def call(environ, start_response):
        savepoint = transaction.savepoint()
        try:
            response = app(environ, start_response)
            try:
                return list(response)
            finally:
                response.close()
        finally:
            transaction.savepoint_rollback(savepoint)

    return call


@pytest.fixture
def seeds(workspace, owner_api) -> dict[str, Any]:
    """A workspace with one of everything, made through the API; the ids GET paths name."""

    def post(url: str, body: dict, **headers) -> dict:
        response = owner_api.post(url, body, format="json", **headers)
        assert response.status_code in (200, 201, 202), (url, response.content)
        return response.json()

    owner = _member(workspace, Role.OWNER)
    connection = post(
        "/api/v1/exchange-connections", {"name": "Demo", "exchange": "demo", "mode": "demo"}
    )
    strategy = post("/api/v1/strategies", {"name": "SMA", "body": examples()["sma_crossover"]})
    version = Strategy.objects.get(pk=strategy["id"]).versions.get()
    dataset = post(
        "/api/v1/lab/datasets",
        {
            "source": "demo",
            "name": "BTC day",
            "symbol": "BTC/USDT",
            "timeframe": "1m",
            "start": DAY.isoformat(),
            "end": (DAY + timedelta(days=1)).isoformat(),
        },
    )
    backtest = post(
        "/api/v1/lab/backtests",
        {
            "strategy_version": str(version.pk),
            "dataset": dataset["id"],
            "initial_cash": "10000",
            "fee_bps": "10",
            "slippage_bps": "2",
        },
    )
    lab_services.run_backtest(backtest_id=backtest["id"])  # here, not on a worker: trades too
    order = post(
        "/api/v1/terminal/orders",
        {
            "connection": connection["id"],
            "symbol": "BTC/USDT",
            "side": "buy",
            "type": "market",
            "amount": "0.001",
        },
        HTTP_IDEMPOTENCY_KEY="conformance-1",
    )
    bot = BotFactory(
        workspace=workspace,
        strategy_version=version,
        exchange_connection_id=connection["id"],
        created_by=_member(workspace, Role.TRADER),
    )
    run = BotRunFactory(workspace=workspace, bot=bot, state=BotRun.State.RUNNING)
    RunEventFactory(run=run)
    RunEquityPoint.objects.create(
        run=run,
        ts=int(DAY.timestamp() * 1000),
        equity=Decimal("10000"),
        position=Decimal("0"),
        close=Decimal("60000"),
    )
    hours = post(  # a replay ticks every candle: two hours are plenty for trades
        "/api/v1/lab/datasets",
        {
            "source": "demo",
            "name": "BTC two hours",
            "symbol": "BTC/USDT",
            "timeframe": "1m",
            "start": DAY.isoformat(),
            "end": (DAY + timedelta(hours=2)).isoformat(),
        },
    )
    replay = post(f"/api/v1/bots/{bot.pk}/replays", {"dataset": hours["id"]})
    replays.run_replay(replay_id=replay["id"])  # here, not on a worker: trades too
    return {
        "ids": {
            "audit": AuditEvent.objects.filter(workspace=workspace).latest("created_at").pk,
            "bots": bot.pk,
            "exchange-connections": connection["id"],
            "lab/backtests": backtest["id"],
            "lab/datasets": dataset["id"],
            "replays": replay["id"],
            "runs": run.pk,
            "strategies": strategy["id"],
            "terminal/orders": order["id"],
            "workspaces": workspace.pk,
        },
        "path": {"number": 1},
        "query": {"connection": connection["id"], "symbol": "BTC/USDT", "timeframe": "1m"},
        "headers": {"X-Workspace-Id": str(workspace.pk)},
        "authorization": f"Token {AuthToken.objects.create(user=owner)[1]}",
    }


def get_operations(schema):
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.method.upper() == "GET":
            yield operation


def declared(operation, location: str) -> set[str]:
    return {p.name for p in operation.iter_parameters() if p.location == location}


def fixed_values(operation, seeds: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The seeded path ids, query values and headers `operation` declares."""
    path = {}
    for name in declared(operation, "path"):
        if name == "id":
            resource = operation.path.removeprefix("/api/v1/").split("/{id}")[0]
            assert resource in seeds["ids"], f"seed a {resource} for {operation.label}"
            path[name] = str(seeds["ids"][resource])
        else:
            assert name in seeds["path"], f"seed the path parameter {name} of {operation.label}"
            path[name] = seeds["path"][name]
    query = {k: v for k, v in seeds["query"].items() if k in declared(operation, "query")}
    headers = {k: v for k, v in seeds["headers"].items() if k in declared(operation, "header")}
    return {"path_parameters": path, "query": query, "headers": headers}


def not_empty(body: Any) -> bool:
    if isinstance(body, dict) and "results" in body:
        return bool(body["results"])
    return bool(body)


def test_every_get_endpoint_answers_as_documented(wsgi_app, seeds):
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", wsgi_app)
    auth = {"Authorization": seeds["authorization"]}
    failures: list[str] = []
    operations = list(get_operations(schema))
    assert len(operations) >= 30, [op.label for op in operations]

    for operation in operations:
        fixed = fixed_values(operation, seeds)
        # The seeded call: real ids, valid values; the documented 200 with real content.
        case = operation.Case(**fixed)
        try:
            response = case.call_and_validate(headers=auth, checks=CHECKS)
            assert response.status_code == 200, response.text[:500]
            assert not_empty(response.json()), f"empty answer: {response.text[:200]}"
        except (AssertionError, BaseExceptionGroup) as error:  # a check's failures, grouped
            failures.append(f"{operation.label} (seeded): {error}")
            continue

        # Generated calls around the seeds: other query values, pages, filters.
        generated = dict(
            fixed, query={k: v for k, v in fixed["query"].items() if k == "connection"}
        )

        @settings(
            max_examples=EXAMPLES,
            derandomize=True,  # a fixed seed: the same cases in every run
            database=None,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(**generated))
        def conforms(case):
            case.call_and_validate(headers=auth, checks=CHECKS)

        try:
            conforms()
        except (AssertionError, BaseExceptionGroup) as error:
            failures.append(f"{operation.label} (generated): {error}")

    assert not failures, "\n\n".join(failures)
