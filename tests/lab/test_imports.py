"""Datasets imported from an exchange connection with fetch_ohlcv: paging, progress, failures."""

from __future__ import annotations

from datetime import timedelta

import pytest

from exchanges.exceptions import ExchangeUnreachable
from exchanges.models import ExchangeConnection
from lab import services
from lab.models import Dataset
from tests.conftest import assert_problem
from tests.helpers import wait_until
from tests.lab.conftest import DAY

pytestmark = pytest.mark.django_db

DATASETS = "/api/v1/lab/datasets"
START_MS = int(DAY.timestamp() * 1000)
END_MS = START_MS + 6 * 3_600_000


@pytest.fixture
def connection(workspace) -> ExchangeConnection:
    return ExchangeConnection.objects.create(workspace=workspace, name="Demo", exchange="demo")


def start_import(api, connection, **changes):
    payload = {
        "source": "exchange",
        "name": "Imported",
        "symbol": "BTC/USDT",
        "timeframe": "1m",
        "connection": str(connection.pk),
        "start": "2026-11-01T00:00:00Z",
        "end": "2026-11-01T06:00:00Z",
        **changes,
    }
    return api.post(DATASETS, payload, format="json")


def test_import_is_202_then_pages_in_with_progress(
    trader_api, workspace, trader, connection, settings, monkeypatch
):
    settings.LAB_IMPORT_PAGE_LIMIT = 100
    response = start_import(trader_api, connection)
    assert response.status_code == 202, response.content
    body = response.json()
    assert (body["status"], body["progress"], body["source"]) == ("importing", 0, "exchange")
    assert body["connection"] == str(connection.pk)

    progress = []
    record = services.imports._set_dataset_progress
    monkeypatch.setattr(
        services.imports,
        "_set_dataset_progress",
        lambda dataset_id, value: progress.append(value) or record(dataset_id, value),
    )
    dataset = services.import_dataset(dataset_id=body["id"], start_ms=START_MS, end_ms=END_MS)
    # 360 candles in pages of 100; the row shows at most 99 % until the file is stored.
    assert progress == [27, 55, 83, 100]
    assert dataset.status == Dataset.Status.READY
    assert (dataset.progress, dataset.error, dataset.rows) == (100, "", 360)
    assert dataset.amount_step == services.default_amount_step("BTC/USDT")

    # The demo exchange serves the demo feed: the same candles, so the same hash.
    from_feed = services.create_demo_dataset(
        workspace=workspace,
        actor=trader,
        name="From the feed",
        symbol="BTC/USDT",
        timeframe="1m",
        start=DAY,
        end=DAY + timedelta(hours=6),
    )
    assert dataset.sha256 == from_feed.sha256
    assert trader_api.get(f"{DATASETS}/{dataset.pk}").json()["status"] == "ready"


def test_unknown_market_fails_readably(trader_api, connection):
    body = start_import(trader_api, connection, symbol="NOPE/USDT").json()
    dataset = services.import_dataset(dataset_id=body["id"], start_ms=START_MS, end_ms=END_MS)
    assert dataset.status == Dataset.Status.FAILED
    assert dataset.error == "The exchange import failed: demo has no market 'NOPE/USDT'."
    assert dataset.file_path == ""


def test_exchange_outage_fails_readably(trader_api, connection, monkeypatch):
    from exchanges.demo.venue import DemoGateway

    def down(self, *args, **kwargs):
        raise ExchangeUnreachable("demo did not answer fetch_ohlcv in time.")

    monkeypatch.setattr(DemoGateway, "fetch_ohlcv", down)
    body = start_import(trader_api, connection).json()
    dataset = services.import_dataset(dataset_id=body["id"], start_ms=START_MS, end_ms=END_MS)
    assert dataset.status == Dataset.Status.FAILED
    assert dataset.error == "The exchange import failed: demo did not answer fetch_ohlcv in time."
    assert trader_api.get(f"{DATASETS}/{dataset.pk}").json()["error"] == dataset.error


def test_deleted_connection_fails_the_import(trader_api, connection):
    body = start_import(trader_api, connection).json()
    # What deleting the connection does to the dataset (on_delete=SET_NULL).
    Dataset.objects.filter(pk=body["id"]).update(connection=None)
    dataset = services.import_dataset(dataset_id=body["id"], start_ms=START_MS, end_ms=END_MS)
    assert dataset.status == Dataset.Status.FAILED
    assert dataset.error == "The exchange connection was deleted."


def test_a_dataset_deleted_while_importing_leaves_nothing(trader_api, connection, lab_media):
    body = start_import(trader_api, connection).json()
    assert trader_api.delete(f"{DATASETS}/{body['id']}").status_code == 204
    assert services.import_dataset(dataset_id=body["id"], start_ms=START_MS, end_ms=END_MS) is None
    assert not list(lab_media.glob(f"datasets/*/{body['id']}*"))


def test_preview_of_an_importing_dataset_is_409(trader_api, connection):
    body = start_import(trader_api, connection).json()
    assert_problem(trader_api.get(f"{DATASETS}/{body['id']}/candles"), 409, "dataset-not-ready")


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_worker_imports_a_dataset(celery_worker_process, trader_api, connection):
    body = start_import(trader_api, connection).json()

    def imported():
        current = trader_api.get(f"{DATASETS}/{body['id']}").json()
        return current if current["status"] != "importing" else None

    current = wait_until(imported, timeout=60, message="the dataset is still importing")
    assert current["status"] == "ready", current["error"]
    assert current["rows"] == 360
    assert current["progress"] == 100
