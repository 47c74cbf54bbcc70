"""Beat's side of the runtime: dispatching due runs, and the reconcile pass.

`dispatch_due_runs` (every BOT_DISPATCH_SECONDS): RUNNING runs whose timeframe has closed a
candle after their `last_candle_ts`, and whose lease is free, are leased in one UPDATE and sent
BOT_TICK_BATCH_SIZE to a `bots.tick_runs` message, grouped by venue, symbol and timeframe so a
message's runs share their candles. While the lease holds they are not sent again.

`reconcile_unsettled` (on worker start and every BOT_RECONCILE_SECONDS): every run with an
intent a crash left PENDING, whatever its state, is settled under its lease — the order sent
again with its key, which finds it at the venue instead of placing another. A resting order
of an ended run is canceled. RUNNING runs' resting orders wait for their next tick.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from itertools import islice

from django.conf import settings
from django.db.models import Q, Subquery
from django.utils import timezone

from bots import selectors
from bots.models import TERMINAL_RUN_STATES, BotRun, OrderIntent
from bots.runtime import intents, lease
from bots.runtime.runtime import RuntimeUnavailable, runtime_for
from config.problems import Problem
from exchanges import epoch

logger = logging.getLogger(__name__)


def _batches(ids: list[str], size: int):
    it = iter(ids)
    while batch := list(islice(it, size)):
        yield batch


def dispatch_due_runs(*, now_ms: int | None = None) -> int:
    """Lease the due runs and send them to the ticks queue in batches; return how many."""
    from bots import tasks  # tasks import the runtime

    now_ms = epoch.now_ms() if now_ms is None else now_ms
    token = lease.new_token()
    now = timezone.now()
    due = selectors.due_runs(now_ms=now_ms)
    claimed = (
        BotRun.objects.filter(pk__in=Subquery(due.values("pk")))
        .filter(lease.free_q(now))
        .update(
            tick_lease_until=now + timedelta(seconds=settings.BOT_TICK_LEASE_SECONDS),
            tick_lease_token=token,
        )
    )
    if not claimed:
        return 0
    ids = [
        str(pk)
        for pk in BotRun.objects.filter(tick_lease_token=token)
        .order_by("exchange_connection__exchange", "symbol", "timeframe", "pk")
        .values_list("pk", flat=True)
    ]
    messages = 0
    for batch in _batches(ids, settings.BOT_TICK_BATCH_SIZE):
        tasks.tick_runs_task.delay(run_ids=batch, dispatch_token=token)
        messages += 1
    logger.info("runs.dispatched", extra={"runs": len(ids), "messages": messages})
    return len(ids)


def reconcile_unsettled() -> int:
    """Settle what crashes left: PENDING intents of any run, OPEN ones of ended runs.

    Each run under its lease (a run being ticked or stopped is skipped: its holder settles
    it). Returns how many runs were settled completely.
    """
    run_ids = (
        OrderIntent.objects.filter(
            Q(status=OrderIntent.Status.PENDING)
            | Q(status=OrderIntent.Status.OPEN, run__state__in=TERMINAL_RUN_STATES)
        )
        .values_list("run_id", flat=True)
        .distinct()
    )
    settled = 0
    for run_id in list(run_ids):
        token = lease.new_token()
        if not lease.claim(run_id, token=token):
            continue
        try:
            run = selectors.run(run_id=run_id)
            if run is None:
                continue
            with runtime_for(run) as runtime:
                done = intents.settle(run, runtime=runtime, cancel_open=run.is_terminal)
            settled += int(done)
        except (Problem, RuntimeUnavailable) as exc:
            logger.warning(
                "run.reconcile_failed",
                extra={"run_id": str(run_id), "error": getattr(exc, "code", str(exc))},
            )
        finally:
            lease.release(run_id, token=token)
    if settled:
        logger.info("runs.reconciled", extra={"runs": settled})
    return settled
