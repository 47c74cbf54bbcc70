"""Backtests on a real Celery worker (queue `lab`), end to end through the API."""

from __future__ import annotations

import numpy as np
import pytest

from lab import services, storage, tasks
from lab.models import Backtest, BacktestTrade
from tests.helpers import wait_until
from tests.lab.conftest import PARAMS

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

BACKTESTS = "/api/v1/lab/backtests"


def wait_until_finished(api, backtest_id: str, timeout: float = 60.0) -> dict:
    seen = set()

    def finished():
        body = api.get(f"{BACKTESTS}/{backtest_id}").json()
        seen.add(body["status"])
        return body if body["status"] in ("succeeded", "failed") else None

    body = wait_until(
        finished, timeout=timeout, message=lambda: f"backtest {backtest_id} unfinished: {seen}"
    )
    body["seen"] = seen
    return body


def post(api, version, dataset) -> str:
    response = api.post(
        BACKTESTS,
        {
            "strategy_version": str(version.pk),
            "dataset": str(dataset.pk),
            **{name: str(value) for name, value in PARAMS.items()},
        },
        format="json",
    )
    assert response.status_code == 202, response.content
    assert response.json()["status"] == "queued"
    return response.json()["id"]


def test_worker_runs_a_backtest_and_matches_an_in_process_run(
    celery_worker_process, trader_api, workspace, trader, version, dataset, monkeypatch
):
    body = wait_until_finished(trader_api, post(trader_api, version, dataset))
    assert body["status"] == "succeeded", body["error"]
    assert body["progress"] == 100
    assert body["started_at"] <= body["finished_at"]

    # The same inputs in this process give the same bits as on the worker.
    monkeypatch.setattr(tasks.run_backtest_task, "delay_on_commit", lambda **kwargs: None)
    local = services.create_backtest(
        workspace=workspace, actor=trader, strategy_version=version, dataset=dataset, **PARAMS
    )
    assert services.run_backtest(backtest_id=str(local.pk)).status == Backtest.Status.SUCCEEDED
    local = trader_api.get(f"{BACKTESTS}/{local.pk}").json()
    assert local["inputs_sha256"] == body["inputs_sha256"]
    assert local["metrics"] == body["metrics"]
    assert local["final_equity"] == body["final_equity"]

    def trades(backtest_id):
        return list(
            BacktestTrade.objects.filter(backtest_id=backtest_id)
            .order_by("seq")
            .values_list("entry_time", "exit_time", "entry_price", "exit_price", "amount", "pnl")
        )

    assert trades(body["id"]) == trades(local["id"])
    assert len(trades(body["id"])) == body["metrics"]["trades"] > 0
    remote_curve = storage.read_equity(Backtest.objects.get(pk=body["id"]).equity_path)
    local_curve = storage.read_equity(Backtest.objects.get(pk=local["id"]).equity_path)
    assert np.array_equal(remote_curve.equity, local_curve.equity)
    assert np.array_equal(remote_curve.ts, local_curve.ts)


def test_worker_failure_keeps_a_readable_error(
    celery_worker_process, trader_api, version, dataset, lab_media
):
    (lab_media / dataset.file_path).unlink()
    body = wait_until_finished(trader_api, post(trader_api, version, dataset))
    assert body["status"] == "failed"
    assert body["error"] == "The dataset's file is missing from storage."
    assert body["metrics"] is None
    assert not BacktestTrade.objects.filter(backtest_id=body["id"]).exists()


def test_rerun_on_the_worker_reproduces_the_result(
    celery_worker_process, trader_api, version, dataset
):
    first = wait_until_finished(trader_api, post(trader_api, version, dataset))
    rerun = trader_api.post(f"{BACKTESTS}/{first['id']}/rerun")
    assert rerun.status_code == 202
    second = wait_until_finished(trader_api, rerun.json()["id"])
    assert second["status"] == "succeeded"
    assert second["metrics"] == first["metrics"]
    assert second["inputs_sha256"] == first["inputs_sha256"]
    full = "equity?full=true"
    assert (
        trader_api.get(f"{BACKTESTS}/{first['id']}/{full}").json()
        == trader_api.get(f"{BACKTESTS}/{second['id']}/{full}").json()
    )
