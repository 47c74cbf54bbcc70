"""The Celery app (`celery -A config worker|beat`) and beat's static schedule.

Request ids travel with every task as a message header, so a task's log lines and the events it
writes carry the id of the request that caused them.
"""

from __future__ import annotations

import os
import time

from celery import Celery, signals
from celery.schedules import schedule
from django.conf import settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("botmarket")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Queues of docs/architecture.md, each consumed by a worker process of its own (Procfile,
# deploy/): bot ticks must never wait behind a long backtest or an import.
WORKER_QUEUES = ("default", "ticks", "lab")
app.conf.task_routes = {
    # A replay ticks a whole dataset through the runtime (minutes): research work, like a
    # backtest, that must not hold the ticks queue. An exact name wins over the patterns.
    "bots.run_replay": {"queue": "lab"},
    "bots.*": {"queue": "ticks"},
    "lab.*": {"queue": "lab"},
}

app.conf.beat_schedule = {
    # Worker and beat liveness (status.Heartbeat, read by the operator console and the status
    # board); every 15 s, so a process missing a minute of beats is clearly down, not just late.
    # One per queue: each queue has its own workers, and one can be down while the others run.
    **{
        f"status-heartbeat-{queue}": {
            "task": "status.heartbeat",
            "schedule": schedule(15.0),
            "options": {"queue": queue, "expires": 14},
        }
        for queue in WORKER_QUEUES
    },
    # Demo limit orders fill within ~2 s of the feed crossing their price (what a user watching
    # the terminal expects); a run reads only minutes since each order's last check, so it is cheap.
    "exchanges-match-demo-orders": {
        "task": "exchanges.match_demo_orders",
        "schedule": schedule(2.0),
        "options": {"expires": 2},
    },
    # A backtest whose worker died stays "running" (and pins its dataset) until this marks it
    # failed, and one whose message was lost stays "queued" until this sends it again or fails
    # it; a minute is fine-grained next to LAB_STALE_RUNNING_SECONDS and LAB_STALE_QUEUED_SECONDS.
    "lab-fail-stale-backtests": {
        "task": "lab.fail_stale_backtests",
        "schedule": schedule(60.0),
        "options": {"expires": 55},
    },
    # The same for bot replays (bots.replays.fail_stale_replays): a replay moves its heartbeat
    # every few seconds, so a minute's sweep against LAB_STALE_RUNNING_SECONDS is plenty.
    "bots-fail-stale-replays": {
        "task": "bots.fail_stale_replays",
        "schedule": schedule(60.0),
        "options": {"expires": 55},
    },
    # Expired API tokens are refused at authentication already; the purge only keeps the token
    # table small, and hourly bounds it to an hour of expired logins. (knox deleted them on
    # every authenticated request instead: ~2 ms of each order.)
    "accounts-purge-expired-tokens": {
        "task": "accounts.purge_expired_tokens",
        "schedule": schedule(3600.0),
        "options": {"expires": 3000},
    },
    # Open orders brought up to date from their venues (fills, cancels elsewhere, orders never
    # acknowledged): reads never call a venue. TERMINAL_REFRESH_SECONDS (settings) says why 5 s.
    "terminal-refresh-open-orders": {
        "task": "terminal.refresh_open_orders",
        "schedule": schedule(float(settings.TERMINAL_REFRESH_SECONDS)),
        "options": {"expires": settings.TERMINAL_REFRESH_SECONDS},
    },
    # Runs RUNNING longer than MAX_RUN_DURATION_MS (4 h by default) → TIMED_OUT. Every 30 s a
    # run overstays by at most half a minute (0.2 % of 4 h), and the sweep is one indexed read
    # of RUNNING runs, cheap enough to repeat twice a minute.
    "bots-sweep-max-duration": {
        "task": "bots.sweep_max_duration",
        "schedule": schedule(30.0),
        "options": {"expires": 25},
    },
    # Due runs (a candle of their timeframe closed after the last one they acted on) are sent
    # to the ticks queue in batches. BOT_DISPATCH_SECONDS (1 s) puts a 1m decision within about
    # a second of its candle's close; a dispatch is one indexed read plus one UPDATE. It expires
    # with the next one: a dispatch that waited longer is stale, the next finds the same runs.
    # Relative: on the wall clock's whole seconds, not counted from beat's start, so a dispatch
    # runs just after each candle's close (candles close on whole minutes) instead of up to a
    # second later (bench/tick_bench.py: half a second of every decision's lag).
    "bots-dispatch-ticks": {
        "task": "bots.dispatch_ticks",
        "schedule": schedule(
            float(settings.BOT_DISPATCH_SECONDS),
            relative=float(settings.BOT_DISPATCH_SECONDS).is_integer(),
        ),
        "options": {"expires": float(settings.BOT_DISPATCH_SECONDS)},
    },
    # Orders a crashed tick journaled but never sent or recorded are settled at the venue by
    # client order id. A run's next tick settles its own first; this catches the runs that
    # ended or have no next candle soon (a 4h strategy), and the worker start does it at once.
    "bots-reconcile-intents": {
        "task": "bots.reconcile_intents",
        "schedule": schedule(float(settings.BOT_RECONCILE_SECONDS)),
        "options": {"expires": settings.BOT_RECONCILE_SECONDS},
    },
}


_REQUEST_ID_HEADER = "botmarket_request_id"


@signals.before_task_publish.connect
def _attach_request_id(headers=None, **_kwargs):
    """Copy the publishing context's request id into the task message."""
    from config import context

    if headers is not None:
        request_id = context.current_request_id()
        if request_id:
            headers[_REQUEST_ID_HEADER] = request_id
        # Lets the heartbeat task tell when beat sent it (beat's own liveness).
        headers["botmarket_published_at"] = str(time.time())


@signals.task_prerun.connect
def _bind_request_id(task=None, **_kwargs):
    """A task runs under its caller's request id, or a fresh one for beat's own tasks."""
    from config import context

    request_id = getattr(task.request, _REQUEST_ID_HEADER, None) if task else None
    context.clear()
    context.bind(request_id=context.accept_request_id(request_id))


@signals.task_postrun.connect
def _clear_context(**_kwargs):
    from config import context

    context.clear()


@signals.worker_process_shutdown.connect
def _drop_live_gauges_of_ended_pool_process(pid=None, **_kwargs):
    """A pool process that exits drops its live gauges from the merged metrics; what it
    counted stays in the host's totals (config/multiprocess.py)."""
    from config import metrics

    metrics.mark_process_dead(pid or os.getpid())


@signals.worker_ready.connect
def _serve_worker_metrics(**_kwargs):
    """On a worker host without the web, the worker serves the host's merged metrics."""
    if settings.WORKER_METRICS_PORT:
        from config import metrics

        metrics.serve_worker_metrics(settings.WORKER_METRICS_PORT)
