"""The lab sweep: backtests whose task message was lost are sent again once, then failed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from lab import services, tasks
from lab.models import Backtest, BacktestTrade
from tests.helpers import wait_until
from tests.lab.conftest import PARAMS

STALE = timedelta(minutes=11)  # LAB_STALE_QUEUED_SECONDS is 10 min


@pytest.fixture
def sent(monkeypatch):
    """Backtest ids whose task was sent (at commit), in order; nothing reaches a broker."""
    ids: list[str] = []

    def record(backtest_id):
        transaction.on_commit(lambda: ids.append(backtest_id))

    monkeypatch.setattr(tasks.run_backtest_task, "delay_on_commit", record)
    return ids


def queued(workspace, trader, version, dataset, *, age: timedelta) -> Backtest:
    backtest = services.create_backtest(
        workspace=workspace, actor=trader, strategy_version=version, dataset=dataset, **PARAMS
    )
    Backtest.objects.filter(pk=backtest.pk).update(created_at=timezone.now() - age)
    return backtest


@pytest.mark.django_db
def test_a_lost_queued_backtest_is_sent_again_once_then_failed(
    workspace, trader, version, dataset, sent, django_capture_on_commit_callbacks
):
    lost = queued(workspace, trader, version, dataset, age=STALE)
    fresh = queued(workspace, trader, version, dataset, age=timedelta(minutes=2))
    running = queued(workspace, trader, version, dataset, age=STALE)
    Backtest.objects.filter(pk=running.pk).update(
        status=Backtest.Status.RUNNING, started_at=timezone.now()
    )
    sent.clear()

    with django_capture_on_commit_callbacks(execute=True):
        assert services.requeue_lost_backtests() == (1, 0)
    assert sent == [str(lost.pk)]
    lost.refresh_from_db()
    assert lost.status == Backtest.Status.QUEUED
    assert lost.requeued_at is not None

    # The next sweeps do not send it again while its second message may still come.
    with django_capture_on_commit_callbacks(execute=True):
        assert services.requeue_lost_backtests() == (0, 0)
    assert sent == [str(lost.pk)]

    # Still queued a whole bound after the second send: no lab worker is taking messages.
    Backtest.objects.filter(pk=lost.pk).update(requeued_at=timezone.now() - STALE)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.requeue_lost_backtests() == (0, 1)
    lost.refresh_from_db()
    assert lost.status == Backtest.Status.FAILED
    assert lost.error.endswith("rerun it.")
    assert lost.finished_at is not None
    assert sent == [str(lost.pk)]
    assert Backtest.objects.get(pk=fresh.pk).status == Backtest.Status.QUEUED
    assert Backtest.objects.get(pk=fresh.pk).requeued_at is None
    assert Backtest.objects.get(pk=running.pk).status == Backtest.Status.RUNNING
    services.delete_backtest(backtest=lost, actor=trader)  # a failed backtest can go


@pytest.mark.django_db
def test_the_second_message_of_a_backtest_already_run_does_nothing(
    workspace, trader, version, dataset, sent, django_capture_on_commit_callbacks
):
    late = queued(workspace, trader, version, dataset, age=STALE)
    with django_capture_on_commit_callbacks(execute=True):
        services.requeue_lost_backtests()
    # The first message turns up after all and runs it; then the one the sweep sent arrives.
    assert services.run_backtest(backtest_id=str(late.pk)).status == Backtest.Status.SUCCEEDED
    trades = BacktestTrade.objects.filter(backtest=late).count()
    finished = Backtest.objects.get(pk=late.pk).finished_at
    assert services.run_backtest(backtest_id=sent[-1]) is None
    assert BacktestTrade.objects.filter(backtest=late).count() == trades
    assert Backtest.objects.get(pk=late.pk).finished_at == finished
    # And the sweep leaves a finished backtest alone.
    with django_capture_on_commit_callbacks(execute=True):
        assert services.requeue_lost_backtests(older_than=timedelta(0)) == (0, 0)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_beats_sweep_gets_a_backtest_whose_message_was_lost_run_by_a_worker(
    celery_worker_process, workspace, trader, version, dataset, monkeypatch
):
    # Created while its message goes nowhere: as if a killed worker had taken it with it.
    monkeypatch.setattr(tasks.run_backtest_task, "delay_on_commit", lambda **kwargs: None)
    lost = queued(workspace, trader, version, dataset, age=STALE)
    monkeypatch.undo()

    tasks.fail_stale_backtests_task.apply()  # beat's sweep, run here; the worker gets the task

    def finished():
        backtest = Backtest.objects.get(pk=lost.pk)
        return backtest if backtest.is_finished else None

    backtest = wait_until(finished, timeout=60, message="the re-sent backtest did not run")
    assert backtest.status == Backtest.Status.SUCCEEDED, backtest.error
    assert backtest.requeued_at is not None
    assert BacktestTrade.objects.filter(backtest=backtest).count() == backtest.metrics["trades"]
