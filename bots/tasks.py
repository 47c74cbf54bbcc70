"""Celery tasks of bots: ids in, load, call one service.

config/celery.py routes every `bots.*` task to the `ticks` queue (Celery's task_routes: its
per-task `queue` attribute is deprecated), so a long backtest never delays a run's start,
stop or tick.
"""

from __future__ import annotations

import logging

from celery import shared_task, signals

from bots import replays, selectors, services
from bots.runtime import dispatch
from bots.runtime.tick import tick_batch

logger = logging.getLogger(__name__)

TICKS_QUEUE = "ticks"


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


# Beat sends this every BOT_DISPATCH_SECONDS (config/celery.py). A dispatch that is skipped or
# overlaps the next is harmless: the runs it leased are not sent twice, and the next one sends
# whatever is due then.
@shared_task(name="bots.dispatch_ticks", ignore_result=True)
def dispatch_ticks_task() -> None:
    dispatch.dispatch_due_runs()


# One message ticks a batch of runs (BOT_TICK_BATCH_SIZE): a message per run per candle would
# cost more than most ticks, and the batch shares its reads, leases and writes (tick_batch: a
# few statements for the whole batch, where a tick alone sends nine). Each run's tick is
# counted in bots.metrics. Acknowledged on start like every task (not acks_late): a worker
# killed mid-batch loses the message, its runs' leases run out and the dispatcher sends them
# again, and what a killed tick journaled is settled by the next tick or the reconcile pass.
# One run's unexpected error is logged and never keeps the rest of the batch from ticking.
@shared_task(name="bots.tick_runs", ignore_result=True, time_limit=240)
def tick_runs_task(run_ids: list[str], dispatch_token: str | None = None) -> None:
    tick_batch(run_ids, dispatch_token=dispatch_token)


# A replay runs on the lab queue (config/celery.py routes it there): it ticks a whole dataset,
# minutes of research work that must never delay a live run's tick. Not acks_late and never
# retried, like a backtest: the replay is claimed (queued → running) under a row lock, so a
# redelivered message finds it running and does nothing, and a crash fails it ("run again").
@shared_task(name="bots.run_replay", ignore_result=True)
def run_replay_task(replay_id: str) -> None:
    replays.run_replay(replay_id=replay_id)


# Beat, every minute: replays whose worker died or whose message was lost end failed.
@shared_task(name="bots.fail_stale_replays", ignore_result=True)
def fail_stale_replays_task() -> None:
    replays.fail_stale_replays()


# On worker start (below) and from beat every BOT_RECONCILE_SECONDS: orders a crash left
# journaled and unsent (or unanswered) are settled at the venue by client order id.
@shared_task(name="bots.reconcile_intents", ignore_result=True, time_limit=240)
def reconcile_intents_task() -> None:
    dispatch.reconcile_unsettled()


@signals.worker_ready.connect
def _reconcile_on_worker_start(sender=None, **_kwargs) -> None:
    """A ticks worker that (re)starts settles at once what a killed worker left unsent."""
    consumed = getattr(getattr(sender, "app", None), "amqp", None)
    queues = consumed.queues.consume_from if consumed is not None else {}
    if TICKS_QUEUE in queues:
        reconcile_intents_task.apply_async(queue=TICKS_QUEUE)
