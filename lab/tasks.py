"""Celery tasks of the lab: thin wrappers that call lab.services.

config/celery.py routes every `lab.*` task to the `lab` queue, so a long backtest never
delays bot ticks.
"""

from __future__ import annotations

from celery import shared_task

from lab import services


# Not acks_late and never retried: a backtest is claimed (queued → running) under a row lock,
# so a redelivered message would find it running and do nothing, and a crashed run is marked
# failed rather than repeated behind the user's back; "rerun" is the user's retry.
@shared_task(name="lab.run_backtest", ignore_result=True)
def run_backtest_task(backtest_id: str) -> None:
    services.run_backtest(backtest_id=backtest_id)


# An import pages through an exchange for minutes at most; a failure is recorded on the
# dataset (failed + error) and the user starts a new import, so nothing is retried here.
@shared_task(name="lab.import_dataset", ignore_result=True)
def import_dataset_task(dataset_id: str, start_ms: int, end_ms: int) -> None:
    services.import_dataset(dataset_id=dataset_id, start_ms=start_ms, end_ms=end_ms)


# Beat's periodic sweep: a run whose worker died stays "running" until this marks it failed, and
# a backtest whose message was lost stays "queued" until this sends it again (once) or fails it.
@shared_task(name="lab.fail_stale_backtests", ignore_result=True)
def fail_stale_backtests_task() -> None:
    services.fail_stale_backtests()
    services.requeue_lost_backtests()
