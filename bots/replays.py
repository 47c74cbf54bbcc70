"""Replays: a bot's strategy version run over a lab dataset by the live tick (docs/bots.md).

`create_replay` queues one (`bots.run_replay` on the lab queue); `run_replay` is the task's
body: queued → running → succeeded (metrics, trades), or failed with a readable error.

A replay drives a `BotRun` of its own (`BotRun.replay` set; `execution.mode` "replay", market
orders, the bot's slippage, no position cap, a kill cap of 100 %) through
`bots.runtime.tick.tick_run` on a `ReplayRuntime`: for each candle from the strategy's warm-up
on, the clock is set to its close and the tick decides, journals its orders and sends them
through `terminal.services.place_order` to the replay's gateway, which fills them at the next
candle's open. Trades are the run's fill events (`selectors.run_trades`), the equity series is
the run's book at each close, and the metrics are the lab's (`lab.simulator.metrics_of`): so a
replay gives exactly the trades and metrics of the lab backtest of the same version, dataset,
initial cash, fee and slippage, which the parity test checks for every example strategy.

Replay runs are not live runs: the one-active-run constraint, the dispatcher, stop-all, the
max-duration sweep, the bot's run list and the live pushes leave them out (`replay` set), and
the terminal keeps their orders out of its lists, positions and pushes.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from decimal import Decimal
from typing import Any

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import User
from bots import services
from bots.models import Bot, BotReplay, BotRun, OrderIntent, ReplayTrade, RunEvent
from bots.runtime.book import Book
from bots.runtime.replay import ReplayRuntime
from bots.runtime.tick import ACTED, tick_run
from bots.selectors import run_trades
from config import context
from config.problems import ValidationProblem
from exchanges.epoch import datetime_from_ms, ms_from_datetime
from exchanges.numbers import plain_decimal
from exchanges.timeframes import TIMEFRAME_MS
from lab import storage
from lab.models import Dataset
from lab.services import inputs_sha256, load_candles
from lab.services.results import money
from lab.simulator import ENGINE_VERSION, metrics_of
from strategies.dsl import InvalidBody
from strategies.engine import Candles, Plan, compile_strategy
from strategies.engine.fills import Costs, on_grid_scalar
from workspaces.exceptions import WorkspaceOnHold
from workspaces.services import record_audit

logger = logging.getLogger(__name__)

Status = BotReplay.Status
State = BotRun.State

REPLAY_MODE = "replay"  # the execution.mode of a replay's run
REPLAY_FAILED = "REPLAY_FAILED"  # the run's error code when its replay failed
# The replay's run has no position cap (the lab's model has none): a cap no equity reaches.
UNCAPPED_QUOTE = "1000000000000000000"
# Progress is written (and the heartbeat moved) at most this often.
_PROGRESS_SECONDS = 2.0


class ReplayFailure(Exception):
    """A replay that cannot finish, with the readable reason."""


# --------------------------------------------------------------------------- reads


def replay_queryset() -> QuerySet[BotReplay]:
    """Every replay with what the API renders, newest first (the API scopes it)."""
    return BotReplay.objects.select_related(
        "bot", "dataset", "strategy_version__strategy", "created_by", "run"
    ).order_by("-created_at", "-id")


def bot_replays(*, bot: Bot) -> QuerySet[BotReplay]:
    """The bot's replays, newest first."""
    return replay_queryset().filter(bot=bot)


def replay_trades(*, replay: BotReplay) -> QuerySet[ReplayTrade]:
    """The replay's closed trades in time order."""
    return ReplayTrade.objects.filter(replay=replay).order_by("seq")


# --------------------------------------------------------------------------- creating


def _check_dataset(bot: Bot, dataset: Dataset) -> None:
    """400 at /dataset unless the replay's tick can walk `dataset` as a live run's candles."""
    if dataset.status != Dataset.Status.READY:
        raise ValidationProblem.at(
            "/dataset", f"The dataset is {dataset.status}; only a ready dataset can be replayed."
        )
    body = bot.strategy_version.body if isinstance(bot.strategy_version.body, dict) else {}
    wanted = (body.get("symbol"), body.get("timeframe"))
    if wanted != (dataset.symbol, dataset.timeframe):
        raise ValidationProblem.at(
            "/dataset",
            f"The dataset holds {dataset.symbol} {dataset.timeframe} candles; the bot's "
            f"strategy trades {wanted[0]} {wanted[1]}.",
        )
    if not dataset.rows or dataset.start_ts is None or dataset.end_ts is None:
        raise ValidationProblem.at("/dataset", "The dataset holds no candles.")
    span = TIMEFRAME_MS[dataset.timeframe]
    start, end = ms_from_datetime(dataset.start_ts), ms_from_datetime(dataset.end_ts)
    # The tick finds a run's newest candle on the UTC grid of its timeframe, as exchanges
    # publish them; a replayed dataset must lie on it, without holes.
    if start % span:
        raise ValidationProblem.at(
            "/dataset",
            f"The dataset's candles do not open on the {dataset.timeframe} grid of UTC time; "
            "a replay ticks on it like a live run.",
        )
    if (end - start) // span != dataset.rows:
        raise ValidationProblem.at(
            "/dataset",
            f"The dataset has gaps ({dataset.rows} candles over "
            f"{(end - start) // span} {dataset.timeframe} periods); a replay needs every candle.",
        )
    if dataset.rows > settings.BOT_REPLAY_MAX_CANDLES:
        raise ValidationProblem.at(
            "/dataset",
            f"The dataset has {dataset.rows} candles; a replay ticks each one through the live "
            f"runtime and takes at most {settings.BOT_REPLAY_MAX_CANDLES}. Backtest longer "
            "histories in the lab.",
        )


@transaction.atomic
def create_replay(
    *,
    bot: Bot,
    actor: User | None,
    dataset: Dataset,
    initial_cash: Decimal,
    fee_bps: Decimal,
) -> BotReplay:
    """Queue a replay of `bot`'s version over `dataset`; a lab worker runs it (run_replay).

    The caller ensures the dataset belongs to the bot's workspace. The slippage is the bot's
    execution slippage. 400 at /dataset for a dataset that does not fit (symbol, timeframe,
    status, grid, gaps, size); 423 while the workspace is on HOLD (the tick would place
    nothing, so the replay could not show the bot's trades).
    """
    if dataset.workspace_id != bot.workspace_id:
        raise ValueError("the dataset must belong to the bot's workspace")
    # Lock the dataset so a concurrent delete waits for this replay and then sees it.
    dataset = Dataset.objects.select_for_update().get(pk=dataset.pk)
    _check_dataset(bot, dataset)
    if bot.workspace.on_hold:
        raise WorkspaceOnHold(
            "Trading in this workspace is on HOLD; a replay trades through the same order path "
            "and would place nothing. Resume trading first."
        )
    version = bot.strategy_version
    slippage_bps = Decimal(bot.slippage_bps)
    replay = BotReplay(
        workspace=bot.workspace,
        bot=bot,
        strategy_version=version,
        dataset=dataset,
        initial_cash=initial_cash,
        fee_bps=fee_bps,
        slippage_bps=slippage_bps,
        engine_version=ENGINE_VERSION,
        request_id=context.current_request_id() or "",
        created_by=actor,
    )
    # The lab's hash of the same inputs: a backtest of them has this hash too.
    replay.inputs_sha256 = digest = inputs_sha256(
        strategy_body_sha256=version.body_sha256,
        dataset_sha256=dataset.sha256,
        timeframe=dataset.timeframe,
        amount_step=dataset.amount_step,
        initial_cash=initial_cash,
        fee_bps=fee_bps,
        slippage_bps=slippage_bps,
    )
    replay.save(force_insert=True)
    record_audit(
        actor=actor,
        workspace=bot.workspace,
        action="bot.replay",
        target=replay,
        details={
            "bot_id": str(bot.pk),
            "strategy_version_id": str(version.pk),
            "dataset_id": str(dataset.pk),
            "initial_cash": plain_decimal(initial_cash),
            "fee_bps": plain_decimal(fee_bps),
            "slippage_bps": plain_decimal(slippage_bps),
            "inputs_sha256": digest,
        },
    )
    from bots import tasks  # tasks import this module

    tasks.run_replay_task.delay_on_commit(replay_id=str(replay.pk))
    return replay


# --------------------------------------------------------------------------- running


def _claim(replay_id: Any) -> BotReplay | None:
    """Move a queued replay to running; None if it is gone or another worker took it."""
    with transaction.atomic():
        replay = (
            BotReplay.objects.select_for_update()
            .select_related("bot__exchange_connection", "dataset", "strategy_version")
            .filter(pk=replay_id)
            .first()
        )
        if replay is None or replay.status != Status.QUEUED:
            return None
        replay.status = Status.RUNNING
        replay.started_at = timezone.now()
        replay.save(update_fields=["status", "started_at", "updated_at"])
    return replay


def _open_run(replay: BotReplay, plan: Plan, candles: Candles, first: int) -> BotRun:
    """The replay's run, RUNNING, its history starting at the dataset's first candle and the
    candle before `first` as the last one acted on."""
    span = TIMEFRAME_MS[plan.timeframe]
    run = BotRun.objects.create(
        workspace_id=replay.workspace_id,
        bot=replay.bot,
        replay=replay,
        strategy_version=replay.strategy_version,
        exchange_connection=replay.bot.exchange_connection,
        risk={
            "max_position_quote": UNCAPPED_QUOTE,
            "max_daily_loss_pct": "100",
            "max_orders_per_minute": 300,
        },
        execution={
            "order_type": "market",
            "slippage_bps": int(replay.slippage_bps),
            "mode": REPLAY_MODE,
        },
        close_on_stop=False,
        symbol=plan.symbol,
        timeframe=plan.timeframe,
        request_id=replay.request_id,
        created_by=replay.created_by,
    )
    services.transition(run, State.STARTING, message="Replay: loading the dataset.")
    run = services.transition(
        run,
        State.RUNNING,
        message=f"Replaying {len(candles)} {plan.timeframe} candles of {plan.symbol}.",
        data={"replay": str(replay.pk), "dataset": str(replay.dataset_id), "candles": len(candles)},
    )
    run.first_candle_ts = int(candles.ts[0])
    run.last_candle_ts = int(candles.ts[first]) - span
    run.save(update_fields=["first_candle_ts", "last_candle_ts"])
    return run


def _progress(replay: BotReplay, done: int, total: int) -> None:
    """Report progress (and so the heartbeat); ReplayFailure if the replay left running."""
    percent = min(99, 5 + done * 94 // max(total, 1))
    moved = BotReplay.objects.filter(pk=replay.pk, status=Status.RUNNING).update(
        progress=percent, updated_at=timezone.now()
    )
    if not moved:
        raise ReplayFailure("The replay was ended while it ran.")


def _check_trail(run: BotRun) -> None:
    """ReplayFailure if an order was held back or refused: the trades would not be the bot's."""
    if RunEvent.objects.filter(run=run, kind=RunEvent.Kind.SKIP, data__reason="hold").exists():
        raise ReplayFailure(
            "The workspace was put on HOLD during the replay, so its orders were not placed; "
            "run it again once trading is resumed."
        )
    refused = OrderIntent.objects.filter(run=run).exclude(status=OrderIntent.Status.FILLED)
    intent = refused.order_by("candle_ts").first()
    if intent is not None:
        raise ReplayFailure(
            f"The {intent.purpose} order decided on candle "
            f"{datetime_from_ms(intent.candle_ts).isoformat()} was {intent.status}: "
            f"{intent.message or intent.error_code or 'no answer'}."
        )


def _walk(
    replay: BotReplay, run: BotRun, runtime: ReplayRuntime, first: int
) -> tuple[np.ndarray, np.ndarray, Book | None]:
    """Tick every candle from `first` to the one before the last; the equity and units held
    at every close, and the run's final book."""
    candles = runtime.dataset
    rows = len(candles)
    cash0 = float(replay.initial_cash)
    equity = np.full(rows, cash0, dtype=np.float64)
    units = np.zeros(rows, dtype=np.int64)
    book = None
    last_report = time.monotonic()
    # A signal on the last candle has no next open: the lab places nothing, so it is not ticked.
    for i in range(first, rows - 1):
        runtime.at(i)
        result = tick_run(run.pk, runtime=runtime)
        if result.outcome != ACTED:
            raise ReplayFailure(
                f"The tick of the candle at {datetime_from_ms(int(candles.ts[i])).isoformat()} "
                f"did not act ({result.outcome}{': ' + result.detail if result.detail else ''})."
            )
        # The book after this candle's orders filled at the next open is the one the next
        # close is marked with: the simulator's cash and units from the fill candle on.
        book = Book.from_json(BotRun.objects.values_list("book", flat=True).get(pk=run.pk))
        equity[i + 1] = book.equity(float(candles.close[i + 1]))
        units[i + 1] = book.units
        if time.monotonic() - last_report >= _PROGRESS_SECONDS:
            _progress(replay, i + 1 - first, rows - 1 - first)
            last_report = time.monotonic()
    return equity, units, book


def _open_position(book: Book | None, candles: Candles) -> dict[str, Any] | None:
    """The position still open at the last close, as a backtest reports it (or None)."""
    if book is None or book.flat:
        return None
    mark = float(candles.close[-1])
    entry = book.entry
    return {
        "entry_time": datetime_from_ms(book.entry_ts).isoformat().replace("+00:00", "Z"),
        "entry_price": f"{on_grid_scalar(entry.price):.8f}",
        "amount": plain_decimal(book.amount),
        "mark_price": f"{on_grid_scalar(mark):.8f}",
        "unrealized_pnl": f"{on_grid_scalar(book.unrealized(mark)):.8f}",
    }


def _trade_rows(replay: BotReplay, trades: list[dict]) -> list[ReplayTrade]:
    return [
        ReplayTrade(
            replay=replay,
            seq=seq,
            entry_time=datetime_from_ms(trade["entry_ts"]),
            exit_time=datetime_from_ms(trade["exit_ts"]),
            entry_price=Decimal(trade["entry_price"]),
            exit_price=Decimal(trade["exit_price"]),
            amount=Decimal(trade["amount"]),
            fees=Decimal(trade["fees"]),
            pnl=Decimal(trade["pnl"]),
            pnl_pct=Decimal(trade["pnl_pct"]),
            exit_reason=trade["exit_reason"],
        )
        for seq, trade in enumerate(trades, start=1)
    ]


def _finish(
    replay: BotReplay,
    run: BotRun,
    candles: Candles,
    equity: np.ndarray,
    units: np.ndarray,
    book: Book | None,
) -> None:
    """Save the metrics and trades and end the run, in one transaction (or nothing)."""
    _check_trail(run)
    trades = run_trades(run=run)
    metrics = metrics_of(
        pnls=[float(trade["pnl"]) for trade in trades],
        equity=equity,
        units=units,
        initial_cash=replay.initial_cash,
        timeframe=replay.dataset.timeframe,
    )
    rejected = RunEvent.objects.filter(
        run=run, kind=RunEvent.Kind.SKIP, data__reason="cannot_buy_step"
    ).count()
    final = float(equity[-1]) if len(candles) else float(replay.initial_cash)
    with transaction.atomic():
        locked = BotReplay.objects.select_for_update().get(pk=replay.pk)
        if locked.status != Status.RUNNING:
            raise ReplayFailure("The replay was ended while it ran.")
        ReplayTrade.objects.bulk_create(_trade_rows(locked, trades), batch_size=2000)
        locked.metrics = metrics.as_dict()
        locked.final_equity = money(on_grid_scalar(final))
        locked.rejected_orders = rejected
        locked.open_position = _open_position(book, candles)
        locked.status = Status.SUCCEEDED
        locked.progress = 100
        locked.error = ""
        locked.finished_at = timezone.now()
        locked.save()
        services.transition(run, State.STOPPING, message="Replay: the last candle was decided.")
        services.transition(
            run, State.STOPPED, message=f"Replay finished with {len(trades)} trade(s)."
        )


def _fail(replay_id: Any, run: BotRun | None, message: str) -> None:
    """Mark the replay failed (nothing partial kept) and end its run FAILED."""
    with transaction.atomic():
        BotReplay.objects.filter(pk=replay_id, status=Status.RUNNING).update(
            status=Status.FAILED,
            error=message[:1000],
            finished_at=timezone.now(),
            updated_at=timezone.now(),
        )
        if run is not None:
            current = BotRun.objects.select_for_update().filter(pk=run.pk).first()
            if current is not None and not current.is_terminal:
                services.transition(
                    current, State.FAILED, error_code=REPLAY_FAILED, message=message[:500]
                )
    logger.info("replay.failed", extra={"replay_id": str(replay_id)})


def run_replay(*, replay_id: Any) -> BotReplay | None:
    """Task body: claim the replay, tick its run over the dataset, save metrics and trades.

    A replay that is not queued is left alone, so a duplicate message does nothing. Any
    failure ends it failed with a readable error (never a traceback) and its run FAILED.
    """
    replay = _claim(replay_id)
    if replay is None:
        return None
    logger.info("replay.started", extra={"replay_id": str(replay.pk)})
    run = None
    try:
        try:
            candles = load_candles(replay.dataset)
        except storage.CandleFileError as exc:
            raise ReplayFailure(str(exc)) from None
        try:
            plan = compile_strategy(replay.strategy_version.body)
        except InvalidBody as exc:
            first_error = exc.errors[0]
            raise ReplayFailure(
                f"Strategy version {replay.strategy_version.number} is not valid: "
                f"{first_error.pointer or '/'}: {first_error.detail}"
            ) from None
        # Before the warm-up no candle can signal (evaluate_latest says so), and the account
        # stays flat: the first candle that can decide is the first one ticked.
        first = min(plan.warmup, max(len(candles) - 1, 0))
        run = _open_run(replay, plan, candles, first)
        costs = Costs.of(
            fee_bps=replay.fee_bps,
            slippage_bps=replay.slippage_bps,
            amount_step=replay.dataset.amount_step,
        )
        with ReplayRuntime(
            replay.bot.exchange_connection,
            candles=candles,
            symbol=plan.symbol,
            timeframe=plan.timeframe,
            costs=costs,
            initial_cash=float(replay.initial_cash),
        ) as runtime:
            equity, units, book = _walk(replay, run, runtime, first)
        _finish(replay, run, candles, equity, units, book)
    except ReplayFailure as exc:
        _fail(replay.pk, run, str(exc))
    except Exception:
        logger.exception("replay.crashed", extra={"replay_id": str(replay.pk)})
        _fail(
            replay.pk,
            run,
            "The replay failed unexpectedly; the operators can find it in the logs by request "
            f"id {context.current_request_id() or '-'}.",
        )
    else:
        logger.info("replay.succeeded", extra={"replay_id": str(replay.pk)})
    return BotReplay.objects.filter(pk=replay.pk).first()


def fail_stale_replays(*, older_than: timedelta | None = None) -> int:
    """Fail replays whose worker is gone; return how many.

    A running replay reports progress every few seconds, so one silent for
    LAB_STALE_RUNNING_SECONDS lost its worker; one still queued after LAB_STALE_QUEUED_SECONDS
    lost its message (the lab queue's backtests are swept by the same rule). Their runs end
    FAILED too. Beat runs it through the task `bots.fail_stale_replays`.
    """
    now = timezone.now()
    running = older_than or timedelta(seconds=settings.LAB_STALE_RUNNING_SECONDS)
    queued = older_than or timedelta(seconds=settings.LAB_STALE_QUEUED_SECONDS)
    stale = list(
        BotReplay.objects.filter(status=Status.RUNNING, updated_at__lt=now - running).values_list(
            "pk", flat=True
        )
    )
    for replay_id in stale:
        run = BotRun.objects.filter(replay_id=replay_id).first()
        _fail(
            replay_id,
            run,
            "The replay stopped without finishing (its worker was probably restarted); "
            "run it again.",
        )
    lost = BotReplay.objects.filter(status=Status.QUEUED, created_at__lt=now - queued).update(
        status=Status.FAILED,
        error="The replay never started: no lab worker took it; run it again.",
        finished_at=now,
        updated_at=now,
    )
    if stale or lost:
        logger.warning("replay.stale_failed", extra={"running": len(stale), "queued": lost})
    return len(stale) + lost
