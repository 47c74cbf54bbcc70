"""Backtests: queue, rerun and delete them, run one on a lab worker, and sweep abandoned runs.

queued → running (claimed under a row lock) → succeeded, or failed with a readable error.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from config import context
from config.problems import ValidationProblem
from lab import storage
from lab.exceptions import BacktestActive, BacktestFailure
from lab.models import Backtest, Dataset
from lab.services.datasets import load_candles
from lab.services.hashing import backtest_inputs_sha256
from lab.services.results import insert_trades, money, open_position_json
from lab.simulator import ENGINE_VERSION, BacktestResult, simulate
from strategies.dsl import InvalidBody
from strategies.engine import Candles, compile_strategy
from strategies.models import StrategyVersion
from workspaces.models import Workspace
from workspaces.services import record_audit

logger = logging.getLogger(__name__)


@transaction.atomic
def create_backtest(
    *,
    workspace: Workspace,
    actor: User,
    strategy_version: StrategyVersion,
    dataset: Dataset,
    initial_cash: Decimal,
    fee_bps: Decimal,
    slippage_bps: Decimal,
    rerun_of: Backtest | None = None,
) -> Backtest:
    """Queue a backtest; a worker on the lab queue runs it (run_backtest).

    The caller ensures the version and the dataset belong to `workspace`.
    """
    if strategy_version.strategy.workspace_id != workspace.pk or dataset.workspace_id != (
        workspace.pk
    ):
        raise ValueError("the strategy version and the dataset must belong to the workspace")
    # Lock the dataset so a concurrent delete waits for this backtest and then sees it.
    dataset = Dataset.objects.select_for_update().get(pk=dataset.pk)
    _check_backtest_inputs(strategy_version, dataset)
    backtest = Backtest(
        workspace=workspace,
        strategy_version=strategy_version,
        dataset=dataset,
        initial_cash=initial_cash,
        fee_bps=fee_bps,
        slippage_bps=slippage_bps,
        engine_version=ENGINE_VERSION,
        rerun_of=rerun_of,
        created_by=actor,
    )
    backtest.inputs_sha256 = digest = backtest_inputs_sha256(backtest)
    backtest.save(force_insert=True)
    record_audit(
        actor=actor,
        workspace=workspace,
        action="backtest.rerun" if rerun_of is not None else "backtest.create",
        target=backtest,
        details={
            "strategy_version_id": str(strategy_version.pk),
            "dataset_id": str(dataset.pk),
            "inputs_sha256": digest,
            **({"rerun_of": str(rerun_of.pk)} if rerun_of is not None else {}),
        },
    )
    from lab import tasks  # tasks import lab.services

    backtest_id = str(backtest.pk)
    tasks.run_backtest_task.delay_on_commit(backtest_id=backtest_id)
    return backtest


def rerun_backtest(*, backtest: Backtest, actor: User) -> Backtest:
    """Queue a new backtest with the same strategy version, dataset and parameters."""
    return create_backtest(
        workspace=backtest.workspace,
        actor=actor,
        strategy_version=backtest.strategy_version,
        dataset=backtest.dataset,
        initial_cash=backtest.initial_cash,
        fee_bps=backtest.fee_bps,
        slippage_bps=backtest.slippage_bps,
        rerun_of=backtest,
    )


@transaction.atomic
def delete_backtest(*, backtest: Backtest, actor: User) -> None:
    """Delete a finished backtest with its trades and equity file; 409 while it may still run."""
    backtest = Backtest.objects.select_for_update().get(pk=backtest.pk)
    if not backtest.is_finished:
        raise BacktestActive(detail=f"The backtest is {backtest.status}; wait until it ends.")
    record_audit(
        actor=actor,
        workspace=backtest.workspace,
        action="backtest.delete",
        target=backtest,
        details={"inputs_sha256": backtest.inputs_sha256, "status": backtest.status},
    )
    relpath = backtest.equity_path
    backtest.delete()
    transaction.on_commit(lambda: storage.delete_file(relpath))


def fail_stale_backtests(*, older_than: timedelta | None = None) -> int:
    """Mark backtests running for longer than `older_than` as failed; return how many.

    A run takes seconds even at the dataset size limit, so one still running after
    LAB_STALE_RUNNING_SECONDS (default 15 min) lost its worker (a restart, an OOM kill): the
    message is not redelivered, and without this the backtest, and its dataset, could never be
    deleted. Beat runs it through the task `lab.fail_stale_backtests`.
    """
    older_than = older_than or timedelta(seconds=settings.LAB_STALE_RUNNING_SECONDS)
    stale = Backtest.objects.filter(
        status=Backtest.Status.RUNNING, started_at__lt=timezone.now() - older_than
    )
    count = stale.update(
        status=Backtest.Status.FAILED,
        error="The run stopped without finishing (its worker was probably restarted); rerun it.",
        finished_at=timezone.now(),
    )
    if count:
        logger.warning("backtest.stale_failed", extra={"count": count})
    return count


def requeue_lost_backtests(*, older_than: timedelta | None = None) -> tuple[int, int]:
    """Send again, once, the task of backtests queued for longer than `older_than`; fail those
    still queued `older_than` after that. Return (sent again, failed).

    A run takes seconds, so a backtest queued for LAB_STALE_QUEUED_SECONDS (default 10 min,
    twice the broker's visibility timeout) lost its message: a worker killed while holding it
    before Redis gave it back, Redis restarted without it, or the send at commit failed. Sending
    it again is safe: a worker claims a backtest under a row lock and only while it is queued,
    so whichever message arrives second finds it claimed and does nothing. If the second
    message is not taken either, no lab worker is consuming: the backtest is failed ("rerun
    it") instead of waiting forever. Beat runs it through the task `lab.fail_stale_backtests`.
    """
    older_than = older_than or timedelta(seconds=settings.LAB_STALE_QUEUED_SECONDS)
    now = timezone.now()
    failed = Backtest.objects.filter(
        status=Backtest.Status.QUEUED, requeued_at__lt=now - older_than
    ).update(
        status=Backtest.Status.FAILED,
        error="The backtest never started: no lab worker took it, even when it was sent again; "
        "rerun it.",
        finished_at=now,
    )
    with transaction.atomic():
        # Locked and marked in one transaction, so overlapping sweeps send each one once; a row
        # a worker is claiming right now is skipped (it is about to run).
        lost = list(
            Backtest.objects.select_for_update(skip_locked=True)
            .filter(
                status=Backtest.Status.QUEUED,
                requeued_at__isnull=True,
                created_at__lt=now - older_than,
            )
            .values_list("pk", flat=True)
        )
        Backtest.objects.filter(pk__in=lost).update(requeued_at=now)
        from lab import tasks  # tasks import lab.services

        for backtest_id in lost:
            tasks.run_backtest_task.delay_on_commit(backtest_id=str(backtest_id))
    if lost or failed:
        logger.warning("backtest.stale_queued", extra={"requeued": len(lost), "failed": failed})
    return len(lost), failed


def run_backtest(*, backtest_id: str) -> Backtest | None:
    """Task body: load the dataset, compile the strategy once, simulate, save the results.

    queued → running → succeeded, or → failed with a readable error (never a traceback) and
    nothing partial saved. A backtest that is not queued is left alone, so a duplicate
    message does nothing.
    """
    backtest = _claim(backtest_id)
    if backtest is None:
        return None
    logger.info("backtest.started", extra={"backtest_id": backtest_id})
    try:
        timings: dict[str, float] = {}
        began = time.perf_counter()
        try:
            candles = load_candles(backtest.dataset)
        except storage.CandleFileError as exc:
            raise BacktestFailure(str(exc)) from None
        loaded = time.perf_counter()
        timings["load"] = (loaded - began) * 1000
        _set_backtest_progress(backtest.pk, 30)

        result = _simulate(backtest, candles)
        simulated = time.perf_counter()
        timings["engine"] = (simulated - loaded) * 1000
        _set_backtest_progress(backtest.pk, 70)

        _save_result(backtest, result, timings, began=simulated)
    except BacktestFailure as exc:
        _fail_backtest(backtest.pk, str(exc))
    except Exception:
        logger.exception("backtest.crashed", extra={"backtest_id": backtest_id})
        _fail_backtest(
            backtest.pk,
            "The backtest failed unexpectedly; the operators can find it in the logs by "
            f"request id {context.current_request_id() or '-'}.",
        )
    return Backtest.objects.filter(pk=backtest.pk).first()


def _check_backtest_inputs(version: StrategyVersion, dataset: Dataset) -> None:
    if dataset.status != Dataset.Status.READY:
        raise ValidationProblem.at(
            "/dataset", f"The dataset is {dataset.status}; only a ready dataset can be used."
        )
    body = version.body if isinstance(version.body, dict) else {}
    wanted = (body.get("symbol"), body.get("timeframe"))
    if wanted != (dataset.symbol, dataset.timeframe):
        raise ValidationProblem.at(
            "/dataset",
            f"The dataset holds {dataset.symbol} {dataset.timeframe} candles; the strategy "
            f"trades {wanted[0]} {wanted[1]}.",
        )


def _claim(backtest_id: str) -> Backtest | None:
    """Move a queued backtest to running; None if it is gone or another worker took it."""
    with transaction.atomic():
        backtest = (
            Backtest.objects.select_for_update()
            .select_related("dataset", "strategy_version")
            .filter(pk=backtest_id)
            .first()
        )
        if backtest is None or backtest.status != Backtest.Status.QUEUED:
            return None
        backtest.status = Backtest.Status.RUNNING
        backtest.started_at = timezone.now()
        backtest.progress = 5
        backtest.save(update_fields=["status", "started_at", "progress"])
    return backtest


def _set_backtest_progress(backtest_id, progress: int) -> None:
    Backtest.objects.filter(pk=backtest_id, status=Backtest.Status.RUNNING).update(
        progress=progress
    )


def _fail_backtest(backtest_id, message: str) -> None:
    Backtest.objects.filter(pk=backtest_id, status=Backtest.Status.RUNNING).update(
        status=Backtest.Status.FAILED, error=message[:1000], finished_at=timezone.now()
    )
    logger.info("backtest.failed", extra={"backtest_id": str(backtest_id)})


def _simulate(backtest: Backtest, candles: Candles) -> BacktestResult:
    version = backtest.strategy_version
    try:
        plan = compile_strategy(version.body)
    except InvalidBody as exc:
        first = exc.errors[0]
        raise BacktestFailure(
            f"Strategy version {version.number} is not valid under engine {ENGINE_VERSION}: "
            f"{first.pointer or '/'}: {first.detail}"
            + (f" (and {len(exc.errors) - 1} more)" if len(exc.errors) > 1 else "")
        ) from None
    try:
        return simulate(
            plan_or_signals=plan,
            candles=candles,
            initial_cash=backtest.initial_cash,
            fee_bps=backtest.fee_bps,
            slippage_bps=backtest.slippage_bps,
            amount_step=backtest.dataset.amount_step,
            timeframe=backtest.dataset.timeframe,
        )
    except ValueError as exc:
        raise BacktestFailure(f"The simulator refused the inputs: {exc}.") from None


def _save_result(
    backtest: Backtest, result: BacktestResult, timings: dict[str, float], *, began: float
) -> None:
    """Write the equity file, then trades and metrics in one transaction (or nothing)."""
    relpath = storage.equity_relpath(backtest.workspace_id, backtest.pk)
    storage.write_equity(relpath, result.equity_ts, result.equity)
    try:
        with transaction.atomic():
            locked = Backtest.objects.select_for_update().get(pk=backtest.pk)
            if locked.status != Backtest.Status.RUNNING:
                raise BacktestFailure("The backtest left the running state while it ran.")
            insert_trades(locked, result)
            timings["save"] = (time.perf_counter() - began) * 1000
            locked.metrics = result.metrics.as_dict()
            locked.final_equity = money(result.final_equity)
            locked.rejected_orders = result.rejected_orders
            locked.open_position = open_position_json(result)
            locked.equity_path = relpath
            if result.engine_version != locked.engine_version:
                # A worker on another engine version ran it: the hash names what really ran.
                locked.engine_version = result.engine_version
                locked.inputs_sha256 = backtest_inputs_sha256(locked)
            locked.timings_ms = {name: round(value, 1) for name, value in timings.items()}
            locked.status = Backtest.Status.SUCCEEDED
            locked.progress = 100
            locked.error = ""
            locked.finished_at = timezone.now()
            locked.save()
    except BaseException:
        storage.delete_file(relpath)
        raise
    logger.info(
        "backtest.succeeded",
        extra={"backtest_id": str(backtest.pk), "trades": len(result.trades)},
    )
