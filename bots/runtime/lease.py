"""The tick lease: at most one tick (or one stop winding a run down) works on a run at a time.

A lease is `BotRun.tick_lease_until` and `tick_lease_token`, taken by one conditional UPDATE,
so two workers can never both hold it, on PostgreSQL or SQLite alike. The dispatcher takes it
for the runs it sends (they are not sent again while it holds); the tick that receives them
takes it over with the dispatcher's token, and a duplicate message (same token, after the
handover) or a stale one (the lease ran out and was given to a newer dispatch) finds it taken.
A worker killed mid-tick leaves its lease to run out after BOT_TICK_LEASE_SECONDS.

The lease is not what makes a candle acted on once: the decision transaction re-checks
`last_candle_ts` under the run's row lock. It keeps workers from doing the same work twice,
and it is what a stop waits for.
"""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from bots.models import BotRun

_WAIT_STEP = 0.1  # seconds between tries of a stop waiting for a tick


def new_token() -> str:
    return uuid.uuid4().hex


def free_q(now=None) -> Q:
    """Runs whose lease nobody holds (never taken, released or run out)."""
    now = now or timezone.now()
    return Q(tick_lease_until__isnull=True) | Q(tick_lease_until__lt=now)


def claim(run_id, *, token: str, expected: str | None = None, seconds: float | None = None) -> bool:
    """Take the lease of run `run_id` as `token`; False if someone else holds it.

    `expected` is the token of the dispatch that sent the run: its holder hands the lease over.
    """
    now = timezone.now()
    until = now + timedelta(seconds=seconds or settings.BOT_TICK_LEASE_SECONDS)
    free = free_q(now)
    if expected:
        free |= Q(tick_lease_token=expected)
    taken = (
        BotRun.objects.filter(pk=run_id)
        .filter(free)
        .update(tick_lease_until=until, tick_lease_token=token)
    )
    return taken == 1


def claim_batch(
    run_ids, *, token: str, expected: str | None = None, seconds: float | None = None
) -> int:
    """`claim` for many runs in one UPDATE: those it could take hold `token` now (read them
    with `tick_lease_token=token`); returns how many."""
    now = timezone.now()
    until = now + timedelta(seconds=seconds or settings.BOT_TICK_LEASE_SECONDS)
    free = free_q(now)
    if expected:
        free |= Q(tick_lease_token=expected)
    return (
        BotRun.objects.filter(pk__in=list(run_ids))
        .filter(free)
        .update(tick_lease_until=until, tick_lease_token=token)
    )


def claim_waiting(run_id, *, token: str, timeout: float | None = None) -> bool:
    """`claim`, trying again until the holder releases it or it runs out (False after `timeout`).

    A lease runs out after BOT_TICK_LEASE_SECONDS, so waiting a little longer always gets it.
    """
    timeout = settings.BOT_TICK_LEASE_SECONDS + 5 if timeout is None else timeout
    deadline = time.monotonic() + timeout
    while True:
        if claim(run_id, token=token):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(_WAIT_STEP)


def release(run_id, *, token: str, hold_seconds: float | None = None) -> None:
    """Give the lease back; with `hold_seconds`, keep anyone from taking it that long (a tick
    that met a venue outage backs off instead of asking it again every second)."""
    until = timezone.now() + timedelta(seconds=hold_seconds) if hold_seconds else None
    BotRun.objects.filter(pk=run_id, tick_lease_token=token).update(
        tick_lease_until=until, tick_lease_token=""
    )


def release_batch(run_ids, *, token: str, hold_seconds: float | None = None) -> None:
    """`release` for many runs in one UPDATE (those of `run_ids` still holding `token`)."""
    until = timezone.now() + timedelta(seconds=hold_seconds) if hold_seconds else None
    BotRun.objects.filter(pk__in=list(run_ids), tick_lease_token=token).update(
        tick_lease_until=until, tick_lease_token=""
    )
