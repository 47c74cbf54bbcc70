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
    # Set on the run a replay drives over a lab dataset (bots.replays): it is no live run of
    # the bot, so the one-active-run rule, the dispatcher, stop-all and the sweep leave it out.
    replay = models.OneToOneField(
        "bots.BotReplay", on_delete=models.CASCADE, null=True, blank=True, related_name="run"
    )
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
            # the database backs the check. A replay's run trades history, not the venue.
            models.UniqueConstraint(
                fields=["bot"],
                condition=~Q(state__in=TERMINAL_RUN_STATES) & Q(replay__isnull=True),
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


class BotReplay(models.Model):
    """A bot's strategy version replayed over a lab dataset through the live tick (bots.replays).

    The run it drives (`run`, a BotRun with `replay` set) trades on a venue of its own that
    fills at the next candle's open, so its trades are the lab backtest's for the same version,
    dataset, `initial_cash`, `fee_bps` and `slippage_bps` (the bot's execution slippage), and
    `inputs_sha256` is the lab's hash of those inputs. `metrics` are the backtest's metrics.
    """

    class Status(models.TextChoices):
        QUEUED = "queued"  # accepted; waiting for a worker on the lab queue
        RUNNING = "running"  # a worker is ticking the dataset candle by candle; see progress
        SUCCEEDED = "succeeded"  # metrics and trades are saved
        FAILED = "failed"  # stopped with a readable error; no trades are kept

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="bot_replays"
    )
    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="replays")
    # The bot's version when the replay was asked for (the bot may pin another one later).
    strategy_version = models.ForeignKey(
        "strategies.StrategyVersion", on_delete=models.RESTRICT, related_name="bot_replays"
    )
    dataset = models.ForeignKey("lab.Dataset", on_delete=models.PROTECT, related_name="replays")
    initial_cash = models.DecimalField(max_digits=24, decimal_places=8)
    fee_bps = models.DecimalField(max_digits=10, decimal_places=4)
    slippage_bps = models.DecimalField(max_digits=10, decimal_places=4)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)  # percent of the candles ticked
    error = models.CharField(max_length=1000, blank=True)  # readable, never a traceback
    metrics = models.JSONField(default=dict, blank=True)  # lab.simulator.Metrics.as_dict()
    final_equity = models.DecimalField(max_digits=30, decimal_places=8, null=True, blank=True)
    rejected_orders = models.PositiveIntegerField(default=0)  # entries that could not buy a step
    open_position = models.JSONField(null=True, blank=True)  # as a backtest's, or null
    inputs_sha256 = models.CharField(max_length=64, db_index=True)
    engine_version = models.CharField(max_length=32)
    request_id = models.CharField(max_length=128, blank=True)  # of the request that asked for it
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # Moved on by every progress report: a running replay whose worker died stops moving.
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(progress__lte=100), name="bot_replay_progress_percent"
            ),
        ]
        indexes = [
            models.Index(fields=["bot", "-created_at"], name="bot_replay_bot_created"),
            models.Index(fields=["status", "updated_at"], name="bot_replay_status_updated"),
        ]

    def __str__(self) -> str:
        return f"Replay {str(self.pk)[:8]} of {self.bot} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.SUCCEEDED, self.Status.FAILED)


class ReplayTrade(models.Model):
    """A closed round trip of a replay, in the shape of the lab's `BacktestTrade`.

    Written from the run's fill events (bots.selectors.run_trades) when the replay succeeds;
    `seq` numbers them from 1 in time order.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    replay = models.ForeignKey(BotReplay, on_delete=models.CASCADE, related_name="trades")
    seq = models.PositiveIntegerField()
    entry_time = models.DateTimeField()
    exit_time = models.DateTimeField()
    entry_price = models.DecimalField(max_digits=30, decimal_places=8)
    exit_price = models.DecimalField(max_digits=30, decimal_places=8)
    amount = models.DecimalField(max_digits=38, decimal_places=18)
    fees = models.DecimalField(max_digits=30, decimal_places=8)
    pnl = models.DecimalField(max_digits=30, decimal_places=8)
    pnl_pct = models.DecimalField(max_digits=20, decimal_places=8)
    exit_reason = models.CharField(max_length=16)  # lab.models.BacktestTrade.ExitReason

    class Meta:
        ordering = ["replay", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["replay", "seq"], name="replay_trade_unique_seq"),
        ]

    def __str__(self) -> str:
        return f"Trade {self.seq} of replay {self.replay_id}"


class PaperBalance(models.Model):
    """One asset of a paper run's account (bots.runtime.paper): what its orders may spend.

    Opened on the run's first use with PAPER_STARTING_BALANCE of the symbol's quote currency;
    `used` is what resting limit orders hold.
    """

    id = models.BigAutoField(primary_key=True)
    run = models.ForeignKey(BotRun, on_delete=models.CASCADE, related_name="paper_balances")
    asset = models.CharField(max_length=16)
    free = models.DecimalField(default=0, **_AMOUNT)
    used = models.DecimalField(default=0, **_AMOUNT)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["run", "asset"]
        constraints = [
            models.UniqueConstraint(fields=["run", "asset"], name="paper_balance_one_per_asset"),
            models.CheckConstraint(
                condition=Q(free__gte=0) & Q(used__gte=0), name="paper_balance_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.asset}: {self.free} free, {self.used} used"


class PaperOrder(models.Model):
    """An order of a paper run, as its paper venue keeps it (the exchange never sees it).

    Filled by the demo exchange's rules at the exchange's prices; `client_order_id` is the
    journal's, so a retry finds the order instead of placing another.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    run = models.ForeignKey(BotRun, on_delete=models.CASCADE, related_name="paper_orders")
    client_order_id = models.CharField(max_length=64)
    symbol = models.CharField(max_length=40)
    side = models.CharField(max_length=4)  # exchanges.orders.OrderSide
    type = models.CharField(max_length=8)  # exchanges.orders.OrderType
    amount = models.DecimalField(**_AMOUNT)
    price = models.DecimalField(null=True, blank=True, **_AMOUNT)  # a limit's price
    status = models.CharField(max_length=16, default="open")  # exchanges.orders.OrderStatus
    filled = models.DecimalField(default=0, **_AMOUNT)
    average = models.DecimalField(null=True, blank=True, **_AMOUNT)
    fee = models.DecimalField(null=True, blank=True, **_AMOUNT)
    fee_currency = models.CharField(max_length=16, blank=True)
    # What a resting order holds back until it fills or is canceled (cost + fee, or the amount).
    reserved = models.DecimalField(default=0, **_AMOUNT)
    reserved_asset = models.CharField(max_length=16, blank=True)
    created_ms = models.BigIntegerField()  # epoch ms, the runtime's clock
    # A resting order has been checked against the exchange's prices up to here (epoch ms).
    checked_until_ms = models.BigIntegerField()
    filled_ms = models.BigIntegerField(null=True, blank=True)
    canceled_ms = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["run", "created_ms", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "client_order_id"], name="paper_order_unique_client_id"
            ),
        ]

    def __str__(self) -> str:
        return f"paper {self.side} {self.amount} {self.symbol} ({self.status})"
