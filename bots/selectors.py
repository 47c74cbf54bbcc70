"""Read-side queries of bots and runs, used by the API, the tasks, the admin and the pages."""

from __future__ import annotations

from datetime import datetime

from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from bots.models import ACTIVE_RUN_STATES, Bot, BotRun, RunEquityPoint, RunEvent
from exchanges.timeframes import TIMEFRAME_MS
from workspaces.models import Workspace

_BOT_RELATED = ("strategy_version__strategy", "exchange_connection", "created_by")
_RUN_RELATED = ("bot", "strategy_version__strategy", "exchange_connection", "created_by")


# The latest run's fields the bots list shows (its state and book, live or as it ended).
LAST_RUN_FIELDS = (
    "id",
    "state",
    "error_code",
    "position",
    "realized_pnl",
    "unrealized_pnl",
    "started_at",
    "ended_at",
    "updated_at",
)


def with_active_run(queryset: QuerySet[Bot]) -> QuerySet[Bot]:
    """`queryset` with each bot's unfinished run annotated as `active_run_id`/`active_run_state`,
    and its latest run's LAST_RUN_FIELDS as `last_run_<field>` (None without runs)."""
    live = BotRun.objects.filter(bot=OuterRef("pk"), replay__isnull=True)  # no replay's run
    active = live.filter(state__in=ACTIVE_RUN_STATES)
    latest = live.order_by("-created_at", "-id")
    return queryset.annotate(
        active_run_id=Subquery(active.values("pk")[:1]),
        active_run_state=Subquery(active.values("state")[:1]),
        **{f"last_run_{name}": Subquery(latest.values(name)[:1]) for name in LAST_RUN_FIELDS},
    )


def bots(*, workspace: Workspace) -> QuerySet[Bot]:
    """The workspace's bots, newest first, with their active run."""
    return with_active_run(
        Bot.objects.filter(workspace=workspace).select_related(*_BOT_RELATED)
    ).order_by("-created_at", "-id")


def bot_queryset() -> QuerySet[Bot]:
    """Every bot with what the API renders (the scoping base class filters it by workspace)."""
    return with_active_run(Bot.objects.select_related(*_BOT_RELATED)).order_by("-created_at", "-id")


def active_run(*, bot: Bot) -> BotRun | None:
    """The bot's unfinished run (at most one exists), or None. A replay's run is not one."""
    return BotRun.objects.filter(bot=bot, state__in=ACTIVE_RUN_STATES, replay__isnull=True).first()


def run_queryset() -> QuerySet[BotRun]:
    """Every run with what the API renders, newest first."""
    # A replay's run is the replay's (bots.replays): the runs API, its tasks and the reconcile
    # pass never see it.
    return (
        BotRun.objects.filter(replay__isnull=True)
        .select_related(*_RUN_RELATED)
        .order_by("-created_at", "-id")
    )


def runs(*, bot: Bot) -> QuerySet[BotRun]:
    """The bot's runs, newest first."""
    return run_queryset().filter(bot=bot)


def run(*, run_id) -> BotRun | None:
    """One run by id (any workspace: for tasks, which get ids from trusted code), or None."""
    return run_queryset().filter(pk=run_id).first()


def active_runs(*, workspace: Workspace) -> QuerySet[BotRun]:
    """The workspace's unfinished runs, oldest first."""
    return (
        BotRun.objects.filter(workspace=workspace, state__in=ACTIVE_RUN_STATES, replay__isnull=True)
        .select_related("bot")
        .order_by("created_at", "id")
    )


def overdue_runs(*, started_before: datetime) -> QuerySet[BotRun]:
    """RUNNING runs that became RUNNING before `started_before`, oldest first."""
    return BotRun.objects.filter(
        state=BotRun.State.RUNNING, started_at__lt=started_before, replay__isnull=True
    ).order_by("started_at", "id")


def run_events(*, run: BotRun, after: int | None = None) -> QuerySet[RunEvent]:
    """The run's events in trail order; only those with `seq` > `after` when given."""
    queryset = RunEvent.objects.filter(run=run)
    if after is not None:
        queryset = queryset.filter(seq__gt=after)
    return queryset.order_by("seq")


def due_runs(*, now_ms: int) -> QuerySet[BotRun]:
    """RUNNING runs whose timeframe closed a candle after their `last_candle_ts`, not leased.

    A candle opening at t has closed at t + span, so a run is due when its last candle opened
    before the newest closed one: `last_candle_ts < now // span * span - span`.
    """
    due = Q()
    for timeframe, span in TIMEFRAME_MS.items():
        due |= Q(timeframe=timeframe, last_candle_ts__lt=now_ms // span * span - span)
    return (
        # A replay's run is ticked by its replay, never dispatched.
        BotRun.objects.filter(state=BotRun.State.RUNNING, replay__isnull=True)
        .filter(due)
        .filter(Q(tick_lease_until__isnull=True) | Q(tick_lease_until__lt=timezone.now()))
        .order_by("last_candle_ts", "id")
    )


def equity_points(*, run: BotRun) -> QuerySet[RunEquityPoint]:
    """The run's equity series, one point per candle it acted on, oldest first."""
    return RunEquityPoint.objects.filter(run=run).order_by("ts")


def run_trades(*, run: BotRun) -> list[dict]:
    """The run's closed trades in the lab's trade shape, oldest first (from its fill events)."""
    fills = RunEvent.objects.filter(run=run, kind=RunEvent.Kind.FILL).order_by("seq")
    return [event.data["trade"] for event in fills if "trade" in event.data]
