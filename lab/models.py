"""Datasets of candles, backtests over them, and the trades a backtest produced."""

import uuid

from django.conf import settings
from django.db import models


class Dataset(models.Model):
    """OHLCV candles of one symbol and timeframe, stored as an .npz file (see lab.storage).

    `start_ts` is the open time of the first candle and `end_ts` the close time of the last
    one (its open plus the timeframe), so the dataset covers [start_ts, end_ts). `sha256`
    identifies the candles themselves (lab.storage.candles_sha256), not the file.
    """

    class Source(models.TextChoices):
        DEMO = "demo"  # the demo exchange's deterministic price feed
        CSV = "csv"  # a CSV file uploaded by a user
        EXCHANGE = "exchange"  # imported from an exchange connection with fetch_ohlcv

    class Status(models.TextChoices):
        IMPORTING = "importing"  # an import task is paging candles in; see progress
        READY = "ready"  # the file is stored and hashed; backtests may use it
        FAILED = "failed"  # the import failed; see error

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="datasets"
    )
    name = models.CharField(max_length=120)
    symbol = models.CharField(max_length=40)
    timeframe = models.CharField(max_length=8)  # one of strategies.engine.TIMEFRAME_MS
    source = models.CharField(max_length=16, choices=Source.choices)
    # The connection an import came from; the dataset outlives the connection.
    connection = models.ForeignKey(
        "exchanges.ExchangeConnection",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    # Lot size backtests floor order amounts to (the instrument's amount step).
    amount_step = models.DecimalField(max_digits=30, decimal_places=18)
    start_ts = models.DateTimeField(null=True, blank=True)
    end_ts = models.DateTimeField(null=True, blank=True)
    rows = models.PositiveBigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)
    file_path = models.CharField(max_length=255, blank=True)  # relative to MEDIA_ROOT
    size_bytes = models.PositiveBigIntegerField(default=0)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.READY)
    progress = models.PositiveSmallIntegerField(default=0)  # percent, 0..100
    error = models.CharField(max_length=500, blank=True)  # readable, never a traceback
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="dataset_unique_name"),
            models.CheckConstraint(
                condition=models.Q(progress__lte=100), name="dataset_progress_percent"
            ),
        ]
        indexes = [models.Index(fields=["workspace", "-created_at"], name="dataset_ws_created")]

    def __str__(self) -> str:
        return f"{self.name} ({self.symbol} {self.timeframe}, {self.rows} rows)"


class Backtest(models.Model):
    """One run of a strategy version over a dataset with given cash, fee and slippage.

    `inputs_sha256` identifies everything that determines the result (lab.services
    .inputs_sha256): two backtests with the same hash have identical metrics, trades and
    equity. The equity curve lives in an .npz file beside the datasets (`equity_path`).
    """

    class Status(models.TextChoices):
        QUEUED = "queued"  # accepted; waiting for a worker on the lab queue
        RUNNING = "running"  # a worker is loading, simulating or saving; see progress
        SUCCEEDED = "succeeded"  # metrics, trades and equity are saved
        FAILED = "failed"  # stopped with a readable error; nothing partial is kept

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="backtests"
    )
    strategy_version = models.ForeignKey(
        "strategies.StrategyVersion", on_delete=models.PROTECT, related_name="backtests"
    )
    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="backtests")
    initial_cash = models.DecimalField(max_digits=24, decimal_places=8)
    fee_bps = models.DecimalField(max_digits=10, decimal_places=4)
    slippage_bps = models.DecimalField(max_digits=10, decimal_places=4)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)  # percent, 0..100
    error = models.CharField(max_length=1000, blank=True)  # readable, never a traceback
    metrics = models.JSONField(default=dict, blank=True)
    final_equity = models.DecimalField(max_digits=30, decimal_places=8, null=True, blank=True)
    rejected_orders = models.PositiveIntegerField(default=0)
    # A position still open at the end (marked at the last close), or null.
    open_position = models.JSONField(null=True, blank=True)
    inputs_sha256 = models.CharField(max_length=64, db_index=True)
    engine_version = models.CharField(max_length=32)
    equity_path = models.CharField(max_length=255, blank=True)  # relative to MEDIA_ROOT
    # Wall time of each phase in ms: load, engine, save (what the benchmark reports).
    timings_ms = models.JSONField(default=dict, blank=True)
    rerun_of = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="reruns"
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # When the sweep sent the task again because the backtest stayed queued too long (its message
    # was lost); it does so once, then fails the backtest if it is still queued.
    requeued_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(progress__lte=100), name="backtest_progress_percent"
            ),
        ]
        indexes = [
            models.Index(fields=["workspace", "-created_at"], name="backtest_ws_created"),
            models.Index(fields=["workspace", "status"], name="backtest_ws_status"),
        ]

    def __str__(self) -> str:
        return f"Backtest {self.pk} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.SUCCEEDED, self.Status.FAILED)


# A trade's result columns, in the order the API, the admin and the bulk COPY use them.
TRADE_FIELDS = (
    "seq",
    "entry_time",
    "exit_time",
    "entry_price",
    "exit_price",
    "amount",
    "fees",
    "pnl",
    "pnl_pct",
    "exit_reason",
)


class BacktestTrade(models.Model):
    """A closed round trip of a backtest; `seq` numbers them from 1 in time order.

    Prices include slippage; `fees` are both sides' fees in quote; `pnl` is net of fees and
    `pnl_pct` is pnl over the entry cost, in percent (definitions in lab.simulator).
    """

    class ExitReason(models.TextChoices):
        SIGNAL = "signal"
        TAKE_PROFIT = "take_profit"
        STOP_LOSS = "stop_loss"
        TRAILING_STOP = "trailing_stop"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    backtest = models.ForeignKey(Backtest, on_delete=models.CASCADE, related_name="trades")
    seq = models.PositiveIntegerField()
    entry_time = models.DateTimeField()
    exit_time = models.DateTimeField()
    entry_price = models.DecimalField(max_digits=30, decimal_places=8)
    exit_price = models.DecimalField(max_digits=30, decimal_places=8)
    amount = models.DecimalField(max_digits=38, decimal_places=18)
    fees = models.DecimalField(max_digits=30, decimal_places=8)
    pnl = models.DecimalField(max_digits=30, decimal_places=8)
    pnl_pct = models.DecimalField(max_digits=20, decimal_places=8)
    exit_reason = models.CharField(max_length=16, choices=ExitReason.choices)

    class Meta:
        ordering = ["backtest", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["backtest", "seq"], name="backtest_trade_unique_seq"),
        ]

    def __str__(self) -> str:
        return f"Trade {self.seq} of backtest {self.backtest_id}"
