"""Bots, their runs and the runs' event trail.

A `Bot` pins one immutable strategy version on one exchange connection, with its risk and
execution settings. A `BotRun` is one execution of it; it copies what it runs with when it is
created, so editing the bot never changes a run already going. Every change of a run's state
and every decision of a tick is a `RunEvent`. The tick runtime (bots.runtime) journals each order
a run decides on as an `OrderIntent` before it is sent, and records the run's equity per candle
as a `RunEquityPoint`.
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
    # What the run trades, copied from its version when it starts: the dispatcher finds due
    # runs by timeframe without reading the versions' bodies.
    symbol = models.CharField(max_length=40, blank=True)
    timeframe = models.CharField(max_length=8, blank=True)
    # The run's book, kept by the tick runtime: base amount held, its average entry price, PnL in
    # the quote currency (unrealized: the position marked at the venue's price, no exit fee).
    position = models.DecimalField(default=0, **_AMOUNT)
    average_entry = models.DecimalField(null=True, blank=True, **_AMOUNT)
    realized_pnl = models.DecimalField(default=0, **_AMOUNT)
    unrealized_pnl = models.DecimalField(default=0, **_AMOUNT)
    # The same book as the fill model's floats (bots.runtime.book.Book): cash, the entry fill,
    # the trailing stop's peak, the day's starting equity. The decimals above are its rendering.
    book = models.JSONField(default=dict, blank=True)
    # The figures that tripped a guard (code, limit, what was measured, when): the run keeps them.
    guard = models.JSONField(default=dict, blank=True)
    # Open time (epoch ms) of the first candle of the history the run keeps (its lookback's
    # oldest): every tick evaluates the candles from here on (docs/strategy-dsl.md §6).
    first_candle_ts = models.BigIntegerField(null=True, blank=True)
    # Open time (epoch ms) of the last closed candle the run has acted on; at start, the newest
    # closed candle of the lookback, so a run never acts on a candle that closed before it ran.
    last_candle_ts = models.BigIntegerField(null=True, blank=True)
    # The tick lease (bots.runtime.lease): while it holds, one tick (or a stop winding the run
    # down) owns the run, and the dispatcher does not send it again. A killed worker's lease
    # simply runs out.
    tick_lease_until = models.DateTimeField(null=True, blank=True)
    tick_lease_token = models.CharField(max_length=32, blank=True)
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
            # The max-duration sweep reads RUNNING runs by age.
            models.Index(fields=["state", "started_at"], name="bot_run_state_started"),
            # The tick dispatcher, every second: RUNNING runs of a timeframe behind its candles.
            models.Index(
                fields=["timeframe", "last_candle_ts"],
                condition=Q(state="RUNNING"),
                name="bot_run_due",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.bot} run {str(self.pk)[:8]} ({self.state})"

    @property
    def is_terminal(self) -> bool:
        """Whether the run has ended (STOPPED, FAILED or TIMED_OUT)."""
        return self.state in TERMINAL_RUN_STATES


class RunEvent(models.Model):
    """One entry of a run's trail: a state change, or a decision of a tick.

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


class OrderIntent(models.Model):
    """An order a run decided on, journaled with the decision, before anything is sent.

    Written in the transaction that records the tick's decision; sent after it commits through
    `terminal.services.place_order` with `idempotency_key`, from which the terminal derives the
    client order id the venue knows. A crash anywhere leaves a PENDING intent that the next
    tick or the reconcile pass sends again with the same key, which finds the order (in the
    journal or at the venue) instead of placing another (docs/bots.md, exactly-once orders).
    """

    class Purpose(models.TextChoices):
        ENTRY = "entry"  # a buy on an entry signal while flat
        EXIT = "exit"  # the sale of the position: exit signal, stop-loss, take-profit, trailing
        FLATTEN = "flatten"  # the sale of the position by a guard's trip or a close-on-stop

    class Status(models.TextChoices):
        PENDING = "pending"  # journaled; not sent yet, or sent and the answer not recorded yet
        OPEN = "open"  # accepted and resting at the venue (a limit order); settled next tick
        FILLED = "filled"  # filled completely; the fill is in the run's book
        CANCELED = "canceled"  # ended unfilled or partly filled (a part filled is in the book)
        REJECTED = "rejected"  # refused (by the venue, HOLD or the checks): nothing traded

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    run = models.ForeignKey(BotRun, on_delete=models.CASCADE, related_name="intents")
    candle_ts = models.BigIntegerField()  # open time of the candle the decision was taken on
    purpose = models.CharField(max_length=8, choices=Purpose.choices)
    side = models.CharField(max_length=4)  # exchanges.orders.OrderSide
    type = models.CharField(max_length=8)  # exchanges.orders.OrderType
    amount = models.DecimalField(**_AMOUNT)
    price = models.DecimalField(null=True, blank=True, **_AMOUNT)  # a limit's price
    # run:<run>:<candle ts>:<purpose>, hence one client order id per (run, candle, intent).
    idempotency_key = models.CharField(max_length=255, unique=True)
    client_order_id = models.CharField(max_length=64)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    # The journal's order, once place_order has answered (SET_NULL: the journal keeps its own).
    order = models.ForeignKey(
        "terminal.Order",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="bot_intents",
    )
    # The runtime's clock (epoch ms) when it was decided, and when a resting one was canceled:
    # the runaway breakers count both over the last minute of that clock, which a replay drives.
    decided_at_ms = models.BigIntegerField()
    canceled_at_ms = models.BigIntegerField(null=True, blank=True)
    # The fill model's figures behind the amount (sizing price, budget, cap), and the outcome.
    model = models.JSONField(default=dict, blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    message = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["run", "decided_at_ms", "id"]
        constraints = [
            # One order per (run, candle, purpose): a decision taken twice is one intent.
            models.UniqueConstraint(
                fields=["run", "candle_ts", "purpose"], name="order_intent_one_per_candle"
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="order_intent_positive"),
        ]
        indexes = [
            # The reconcile pass and each tick look for what is still unsettled: a small set.
            models.Index(
                fields=["run", "status"],
                condition=Q(status__in=["pending", "open"]),
                name="order_intent_unsettled",
            ),
            models.Index(fields=["run", "decided_at_ms"], name="order_intent_run_decided"),
        ]

    def __str__(self) -> str:
        return f"{self.purpose} {self.side} {self.amount} ({self.status})"

    @property
    def is_settled(self) -> bool:
        """Whether the outcome is in the run's book (filled, canceled or rejected)."""
        return self.status not in (self.Status.PENDING, self.Status.OPEN)


class RunEquityPoint(models.Model):
    """The run's equity at one candle's close: cash plus the position at that close."""

    id = models.BigAutoField(primary_key=True)
    run = models.ForeignKey(BotRun, on_delete=models.CASCADE, related_name="equity_points")
    ts = models.BigIntegerField()  # the candle's open time, epoch ms
    equity = models.DecimalField(**_AMOUNT)
    position = models.DecimalField(**_AMOUNT)
    close = models.DecimalField(**_AMOUNT)

    class Meta:
        ordering = ["run", "ts"]
        constraints = [
            models.UniqueConstraint(fields=["run", "ts"], name="run_equity_one_per_candle"),
        ]

    def __str__(self) -> str:
        return f"{self.ts}: {self.equity}"
