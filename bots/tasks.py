"""Celery tasks of bots: ids in, load, call one service.

config/celery.py routes every `bots.*` task to the `ticks` queue (Celery's task_routes: its
per-task `queue` attribute is deprecated), so a long backtest never delays a run's start,
stop or tick.
"""

from __future__ import annotations

from celery import shared_task

from bots import selectors, services


# acks_late is safe because starting is idempotent: a redelivered message finds the run
# STARTING and loads again (the second STARTING → RUNNING is refused), or finds it moved on
# and does nothing. A worker killed mid-start thus never leaves the run STARTING for good.
# Venue outages are not retried: the run ends FAILED with the code, and the user starts again.
# The soft limit (well below the broker's visibility timeout) ends a start stuck on a slow
# venue as FAILED START_TIMEOUT; the hard limit is the backstop if even that hangs.
@shared_task(
    name="bots.start_run",
    acks_late=True,
    soft_time_limit=90,
    time_limit=120,
    ignore_result=True,
)
def start_run_task(run_id: str) -> None:
    run = selectors.run(run_id=run_id)
    if run is None:
        return  # the bot was deleted since
    services.launch_run(run=run)


# acks_late for the same reason: finishing a stop twice is a no-op.
@shared_task(name="bots.stop_run", acks_late=True, time_limit=60, ignore_result=True)
def stop_run_task(run_id: str) -> None:
    run = selectors.run(run_id=run_id)
    if run is None:
        return
    services.finish_stop(run=run)


# Beat's periodic sweep (config/celery.py); each run moves in its own transaction.
@shared_task(name="bots.sweep_max_duration", ignore_result=True)
def sweep_max_duration_task() -> None:
    services.time_out_overdue_runs()
