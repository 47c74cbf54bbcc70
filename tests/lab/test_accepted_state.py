"""A 202 shows the row as it was created, even when the worker has moved it on before the answer.

Tasks are sent on commit, which happens inside the request, before the response is rendered. To
make that race deterministic, Celery runs tasks eagerly here: the task runs to the end at the
commit, in the request itself, so a response that re-read the row would show its final state.
"""

from __future__ import annotations

import pytest

from config.celery import app
from exchanges.models import ExchangeConnection
from lab.models import Backtest, Dataset
from tests.lab.conftest import PARAMS

# Real commits, so on-commit callbacks fire inside the request as in production.
pytestmark = pytest.mark.django_db(transaction=True)

BACKTESTS = "/api/v1/lab/backtests"
DATASETS = "/api/v1/lab/datasets"


@pytest.fixture
def eager_tasks():
    """Every task runs in this process at the moment it is sent (on commit)."""
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


def test_backtest_post_answers_queued_even_if_the_run_finished_at_commit(
    eager_tasks, trader_api, version, dataset
):
    payload = {"strategy_version": str(version.pk), "dataset": str(dataset.pk)}
    payload.update({name: str(value) for name, value in PARAMS.items()})
    response = trader_api.post(BACKTESTS, payload, format="json")

    assert response.status_code == 202, response.content
    body = response.json()
    # The task ran to the end before the answer was rendered ...
    assert Backtest.objects.get(pk=body["id"]).status == Backtest.Status.SUCCEEDED
    # ... and the answer still shows the backtest as created.
    assert (body["status"], body["progress"], body["metrics"]) == ("queued", 0, None)
    assert (body["started_at"], body["finished_at"], body["final_equity"]) == (None, None, None)
    assert body["strategy_name"] == version.strategy.name
    assert (body["dataset_name"], body["symbol"], body["initial_cash"]) == (
        dataset.name,
        "BTC/USDT",
        "10000",
    )
    # The same fields as a GET of the row would give, apart from what the run changed.
    stored = trader_api.get(f"{BACKTESTS}/{body['id']}").json()
    assert set(stored) == set(body)
    for name in ("id", "inputs_sha256", "engine_version", "created_at", "fee_bps", "dataset"):
        assert stored[name] == body[name]


def test_rerun_answers_queued_even_if_the_run_finished_at_commit(
    eager_tasks, trader_api, version, dataset
):
    first = trader_api.post(
        BACKTESTS,
        {"strategy_version": str(version.pk), "dataset": str(dataset.pk)},
        format="json",
    ).json()
    response = trader_api.post(f"{BACKTESTS}/{first['id']}/rerun")

    assert response.status_code == 202, response.content
    body = response.json()
    assert Backtest.objects.get(pk=body["id"]).status == Backtest.Status.SUCCEEDED
    assert (body["status"], body["progress"], body["rerun_of"]) == ("queued", 0, first["id"])


def test_import_post_answers_importing_even_if_the_import_finished_at_commit(
    eager_tasks, trader_api, workspace
):
    connection = ExchangeConnection.objects.create(
        workspace=workspace, name="Demo", exchange="demo"
    )
    payload = {
        "source": "exchange",
        "name": "Imported",
        "symbol": "BTC/USDT",
        "timeframe": "1m",
        "connection": str(connection.pk),
        "start": "2026-11-01T00:00:00Z",
        "end": "2026-11-01T01:00:00Z",
    }
    response = trader_api.post(DATASETS, payload, format="json")

    assert response.status_code == 202, response.content
    body = response.json()
    assert Dataset.objects.get(pk=body["id"]).status == Dataset.Status.READY
    assert (body["status"], body["progress"], body["rows"]) == ("importing", 0, 0)
    assert body["backtests_count"] == 0
