"""Bots, their runs and the runs' event trail.

A `Bot` pins one immutable strategy version on one exchange connection, with its risk and
execution settings. A `BotRun` is one execution of it; it copies what it runs with when it is
created, so editing the bot never changes a run already going. Every change of a run's state
(and later every decision of a tick) is a `RunEvent`.
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from exchanges.numbers import plain_decimal

# Quote amounts (USDT …) and base positions: 18 decimals hold the finest ccxt steps, like the
# terminal's journal; the API renders them without trailing zeros.
_AMOUNT = {"max_digits": 36, "decimal_places": 18}


class Bot(models.Model):
    """A strategy version launched on an exchange connection, with risk and execution settings.

    `risk` and `execution` of the API are flat columns here so the database can check them.
    """

    class OrderType(models.TextChoices):
        MARKET = "market"  # fills at once at the venue's price (± slippage on the demo venue)
        LIMIT = "limit"  # rests at the signal's close ± `slippage_bps`, fills if crossed

    class Mode(models.TextChoices):
        DEMO = "demo"  # trades on a demo connection (the built-in demo exchange)
        PAPER = "paper"  # a ccxt connection's market data; fills simulated on a paper balance

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="bots"
    )
    name = models.CharField(max_length=120)
    # RESTRICT, not PROTECT: a version or connection in use by a bot cannot be deleted, yet
    # deleting the whole workspace (which cascades to all three) still works.
    strategy_version = models.ForeignKey(
        "strategies.StrategyVersion", on_delete=models.RESTRICT, related_name="bots"
    )
    exchange_connection = models.ForeignKey(
        "exchanges.ExchangeConnection", on_delete=models.RESTRICT, related_name="bots"
    )
    # risk
    max_position_quote = models.DecimalField(**_AMOUNT)  # most quote a position may hold
    max_daily_loss_pct = models.DecimalField(max_digits=5, decimal_places=2)  # of day-start equity
    max_orders_per_minute = models.PositiveIntegerField()
    # execution
    order_type = models.CharField(max_length=8, choices=OrderType.choices)
    slippage_bps = models.PositiveIntegerField()
    mode = models.CharField(max_length=8, choices=Mode.choices)
    close_on_stop = models.BooleanField(default=False)  # flatten the position when stopped
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="bot_unique_name"),
            # The database refuses what the API's validation must already refuse.
            models.CheckConstraint(
                condition=Q(max_position_quote__gt=0)
                & Q(max_daily_loss_pct__gt=0)
                & Q(max_daily_loss_pct__lte=100)
                & Q(max_orders_per_minute__gte=1)
                & Q(slippage_bps__lte=1000),
                name="bot_risk_in_range",
            ),
        ]
        indexes = [models.Index(fields=["workspace", "-created_at"], name="bot_ws_created")]

    def __str__(self) -> str:
        return self.name

    def risk(self) -> dict[str, str | int]:
        """The risk settings as the API's `risk` object (decimals as strings)."""
        return {
            "max_position_quote": plain_decimal(self.max_position_quote),
            "max_daily_loss_pct": plain_decimal(self.max_daily_loss_pct),
            "max_orders_per_minute": self.max_orders_per_minute,
        }

    def execution(self) -> dict[str, str | int]:
        """The execution settings as the API's `execution` object."""
        return {"order_type": self.order_type, "slippage_bps": self.slippage_bps, "mode": self.mode}


class RunState(models.TextChoices):
    """The states of a run (SPEC §8); STOPPED, FAILED and TIMED_OUT are terminal."""

    QUEUED = "QUEUED"  # accepted, waiting for a worker to start it
    STARTING = "STARTING"  # a worker is loading the strategy's lookback candles
    RUNNING = "RUNNING"  # ticked on every closed candle of the strategy's timeframe
    STOPPING = "STOPPING"  # stop asked; the current tick finishes, then it stops
    STOPPED = "STOPPED"  # ended by a stop (terminal)
    FAILED = "FAILED"  # ended by an error or a guard; `error_code` says which (terminal)
    TIMED_OUT = "TIMED_OUT"  # ran longer than MAX_RUN_DURATION_MS (terminal)


TERMINAL_RUN_STATES = (RunState.STOPPED, RunState.FAILED, RunState.TIMED_OUT)
ACTIVE_RUN_STATES = tuple(state for state in RunState if state not in TERMINAL_RUN_STATES)


class BotRun(models.Model):
    """One execution of a bot, from QUEUED to a terminal state.

    `strategy_version`, `exchange_connection`, `risk`, `execution` and `close_on_stop` are the
    bot's at the moment the run was created: the run trades by them whatever the bot becomes.
    """

    State = RunState

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="bot_runs"
    )
    # CASCADE: deleting a bot (refused while a run is active) takes its finished runs along.
    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="runs")
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED)
    error_code = models.CharField(max_length=64, blank=True)  # UPPER_SNAKE: EXCHANGE_UNREACHABLE
    # The snapshot of the bot at start.
    strategy_version = models.ForeignKey(
        "strategies.StrategyVersion", on_delete=models.RESTRICT, related_name="bot_runs"
    )
    exchange_connection = models.ForeignKey(
        "exchanges.ExchangeConnection", on_delete=models.RESTRICT, related_name="bot_runs"
    )
    risk = models.JSONField()  # {max_position_quote, max_daily_loss_pct, max_orders_per_minute}
    execution = models.JSONField()  # {order_type, slippage_bps, mode}
    close_on_stop = models.BooleanField(default=False)
    # The run's book, kept by the tick runtime: base amount held, PnL in the quote currency.
    position = models.DecimalField(default=0, **_AMOUNT)
    realized_pnl = models.DecimalField(default=0, **_AMOUNT)
    unrealized_pnl = models.DecimalField(default=0, **_AMOUNT)
    # Open time (epoch ms) of the last closed candle the run has acted on; at start, the newest
    # closed candle of the lookback, so a run never acts on a candle that closed before it ran.
    last_candle_ts = models.BigIntegerField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)  # when it became RUNNING
    ended_at = models.DateTimeField(null=True, blank=True)  # when it reached a terminal state
    request_id = models.CharField(max_length=128, blank=True)  # of the request that started it
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # At most one unfinished run per bot; start_run checks it under the bot's lock and
            # the database backs the check.
            models.UniqueConstraint(
                fields=["bot"],
                condition=~Q(state__in=TERMINAL_RUN_STATES),
                name="bot_run_one_active",
            ),
            models.CheckConstraint(
                condition=Q(position__gte=0), name="bot_run_position_not_negative"
            ),
        ]
        indexes = [
            models.Index(fields=["bot", "-created_at"], name="bot_run_bot_created"),
            models.Index(fields=["workspace", "state"], name="bot_run_ws_state"),
            # The max-duration sweep and the tick dispatcher read RUNNING runs.
            models.Index(fields=["state", "started_at"], name="bot_run_state_started"),
        ]

    def __str__(self) -> str:
        return f"{self.bot} run {str(self.pk)[:8]} ({self.state})"

    @property
    def is_terminal(self) -> bool:
        """Whether the run has ended (STOPPED, FAILED or TIMED_OUT)."""
        return self.state in TERMINAL_RUN_STATES


class RunEvent(models.Model):
    """One entry of a run's trail: a state change, and later each decision of a tick.

    Append-only: written by bots.services (under the run's row lock, which orders `seq`).
    """

    class Kind(models.TextChoices):
        TRANSITION = "transition"  # the state changed: from_state → to_state
        SIGNAL = "signal"  # the strategy gave an entry or exit signal on a closed candle
        ORDER = "order"  # an order was placed (or refused) through the terminal's order path
        FILL = "fill"  # an order of the run filled
        EXIT = "exit"  # a position was closed: signal, stop-loss, take-profit, trailing stop
        SKIP = "skip"  # a tick decided not to act: HOLD, a guard's cap, nothing to do
        GUARD = "guard"  # a guard tripped (daily loss, runaway breaker) with its figures

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    run = models.ForeignKey(BotRun, on_delete=models.CASCADE, related_name="events")
    seq = models.PositiveIntegerField()  # 1, 2, … per run: the trail's order
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.TRANSITION)
    from_state = models.CharField(max_length=16, blank=True)  # empty for the run's creation
    to_state = models.CharField(max_length=16, blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    message = models.CharField(max_length=500, blank=True)
    data = models.JSONField(default=dict, blank=True)  # the figures behind the event
    request_id = models.CharField(max_length=128, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["run", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["run", "seq"], name="run_event_unique_seq"),
        ]

    def __str__(self) -> str:
        if self.kind == self.Kind.TRANSITION:
            return f"#{self.seq} {self.from_state or '∅'} → {self.to_state}"
        return f"#{self.seq} {self.kind}: {self.message}"
