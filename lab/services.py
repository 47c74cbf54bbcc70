"""Lab flows: create and import datasets, queue, run, rerun and delete backtests.

A backtest's result is a pure function of its inputs: the strategy version's body, the dataset's
candles, the parameters and the engine version. `inputs_sha256` names those inputs:

    SHA-256 of the canonical JSON (keys sorted, no spaces, UTF-8) of
    {"amount_step": "0.00001", "dataset_sha256": "<hex>", "engine_version": "1.0.0",
     "fee_bps": "10", "initial_cash": "10000", "slippage_bps": "0",
     "strategy_body_sha256": "<hex>", "timeframe": "1m"}

with every decimal written in plain notation without trailing zeros ("10000", "0.5"), so the
same values give the same hash however they were typed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, BinaryIO

import numpy as np
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import ProtectedError
from django.utils import timezone

from accounts.models import User
from config import context
from config.problems import Problem, ValidationProblem
from exchanges.demo import feed
from exchanges.demo.instruments import INSTRUMENTS
from exchanges.epoch import datetime_from_ms, ms_from_datetime
from exchanges.factory import gateway_for
from exchanges.models import ExchangeConnection
from exchanges.numbers import plain_decimal
from lab import storage
from lab.csvformat import CsvErrors, parse_candles
from lab.exceptions import BacktestActive, BacktestFailure, DatasetInUse, ImportFailure
from lab.models import TRADE_FIELDS, Backtest, BacktestTrade, Dataset
from lab.simulator import ENGINE_VERSION, BacktestResult, simulate
from strategies.dsl import InvalidBody
from strategies.engine import TIMEFRAME_MS, Candles, compile_strategy
from strategies.models import StrategyVersion
from workspaces.models import Workspace
from workspaces.services import record_audit

logger = logging.getLogger(__name__)

# The lot size assumed for a symbol the demo exchange does not list and the upload names none.
FALLBACK_AMOUNT_STEP = Decimal("0.00000001")


# --------------------------------------------------------------------------- helpers


def inputs_sha256(
    *,
    strategy_body_sha256: str,
    dataset_sha256: str,
    timeframe: str,
    amount_step: Decimal,
    initial_cash: Decimal,
    fee_bps: Decimal,
    slippage_bps: Decimal,
    engine_version: str = ENGINE_VERSION,
) -> str:
    """SHA-256 naming everything that determines a backtest's result (module docstring)."""
    inputs = {
        "amount_step": plain_decimal(amount_step),
        "dataset_sha256": dataset_sha256,
        "engine_version": engine_version,
        "fee_bps": plain_decimal(fee_bps),
        "initial_cash": plain_decimal(initial_cash),
        "slippage_bps": plain_decimal(slippage_bps),
        "strategy_body_sha256": strategy_body_sha256,
        "timeframe": timeframe,
    }
    canonical = json.dumps(inputs, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _backtest_inputs_sha256(backtest: Backtest) -> str:
    return inputs_sha256(
        strategy_body_sha256=backtest.strategy_version.body_sha256,
        dataset_sha256=backtest.dataset.sha256,
        timeframe=backtest.dataset.timeframe,
        amount_step=backtest.dataset.amount_step,
        initial_cash=Decimal(backtest.initial_cash),
        fee_bps=Decimal(backtest.fee_bps),
        slippage_bps=Decimal(backtest.slippage_bps),
        engine_version=backtest.engine_version,
    )


def default_amount_step(symbol: str) -> Decimal | None:
    """The demo exchange's lot size of `symbol`, or None when the demo does not list it."""
    instrument = INSTRUMENTS.get(symbol)
    return instrument.amount_step if instrument is not None else None


def _timeframe_ms(timeframe: str) -> int:
    try:
        return TIMEFRAME_MS[timeframe]
    except KeyError:
        raise ValidationProblem.at(
            "/timeframe", f"Unknown timeframe {timeframe!r}; use one of {', '.join(TIMEFRAME_MS)}."
        ) from None


def _check_name_free(workspace: Workspace, name: str) -> None:
    if Dataset.objects.filter(workspace=workspace, name=name).exists():
        raise ValidationProblem.at("/name", f"A dataset named {name!r} already exists.")


def _check_range(start: datetime, end: datetime, timeframe: str) -> tuple[int, int]:
    """Validate a requested range; return it in ms. It may not reach into the future."""
    start_ms, end_ms = ms_from_datetime(start), ms_from_datetime(end)
    if start_ms < 0:
        raise ValidationProblem.at("/start", "The start must not be before 1970.")
    if end_ms <= start_ms:
        raise ValidationProblem.at("/end", "The end must be after the start.")
    if end > timezone.now():
        raise ValidationProblem.at("/end", "The end must not be in the future.")
    rows = (end_ms - start_ms) // TIMEFRAME_MS[timeframe]
    if rows > settings.LAB_MAX_DATASET_ROWS:
        raise ValidationProblem.at(
            "/end",
            f"The range holds about {rows} {timeframe} candles; "
            f"a dataset has at most {settings.LAB_MAX_DATASET_ROWS}.",
        )
    return start_ms, end_ms


def _save_new_dataset(dataset: Dataset, candles: Candles, *, actor: User, action: str) -> Dataset:
    """Store `candles` as the file of the unsaved `dataset`, then insert the row and audit it.

    The file is written first and removed again if the row cannot be inserted, so a dataset
    row never points at a missing file.
    """
    _fill_from_candles(dataset, candles)
    try:
        with transaction.atomic():
            dataset.save(force_insert=True)
            record_audit(
                actor=actor,
                workspace=dataset.workspace,
                action=action,
                target=dataset,
                details={"name": dataset.name, "rows": dataset.rows, "sha256": dataset.sha256},
            )
    except IntegrityError:
        storage.delete_file(dataset.file_path)
        # Two requests raced for the same name; the unique constraint let one of them win.
        raise ValidationProblem.at(
            "/name", f"A dataset named {dataset.name!r} already exists."
        ) from None
    except BaseException:
        storage.delete_file(dataset.file_path)
        raise
    return dataset


def _fill_from_candles(dataset: Dataset, candles: Candles) -> None:
    """Write the candles' file and set the row's file, size, range, rows and hash."""
    relpath = storage.dataset_relpath(dataset.workspace_id, dataset.pk)
    dataset.size_bytes = storage.write_candles(relpath, candles)
    dataset.file_path = relpath
    dataset.rows = len(candles)
    dataset.sha256 = storage.candles_sha256(candles)
    dataset.start_ts = datetime_from_ms(candles.ts[0])
    dataset.end_ts = datetime_from_ms(candles.ts[-1] + TIMEFRAME_MS[dataset.timeframe])
    dataset.status = Dataset.Status.READY
    dataset.progress = 100
    dataset.error = ""


# --------------------------------------------------------------------------- datasets


def demo_candles(symbol: str, timeframe: str, start_ms: int, end_ms: int) -> Candles:
    """Complete candles of the demo feed opening in [start_ms, end_ms), fetched in pages."""
    span = TIMEFRAME_MS[timeframe]
    first = -(-start_ms // span) * span
    parts = []
    cursor = first
    while cursor < end_ms:
        count = min(feed.MAX_CANDLES, -(-(end_ms - cursor) // span))
        part = feed.candles(symbol, timeframe, start_ms=cursor, limit=count)
        parts.append(part)
        cursor += count * span
    if not parts:
        empty = np.zeros(0)
        return Candles(empty, empty, empty, empty, empty, empty)
    return Candles(
        ts=np.concatenate([p.ts for p in parts]).astype(np.float64),
        open=np.concatenate([p.open for p in parts]),
        high=np.concatenate([p.high for p in parts]),
        low=np.concatenate([p.low for p in parts]),
        close=np.concatenate([p.close for p in parts]),
        volume=np.concatenate([p.volume for p in parts]),
    )


def create_demo_dataset(
    *,
    workspace: Workspace,
    actor: User,
    name: str,
    symbol: str,
    timeframe: str,
    start: datetime,
    end: datetime,
) -> Dataset:
    """Store the demo feed's `symbol`/`timeframe` candles opening in [start, end) as a dataset."""
    if symbol not in INSTRUMENTS:
        raise ValidationProblem.at(
            "/symbol",
            f"The demo feed has no {symbol!r}; use one of {', '.join(INSTRUMENTS)}.",
        )
    _timeframe_ms(timeframe)
    if timeframe not in feed.TIMEFRAMES:
        raise ValidationProblem.at("/timeframe", f"The demo feed has no {timeframe} candles.")
    start_ms, end_ms = _check_range(start, end, timeframe)
    _check_name_free(workspace, name)
    candles = demo_candles(symbol, timeframe, start_ms, end_ms)
    if len(candles) == 0:
        raise ValidationProblem.at("/end", "The range holds no complete candle.")
    dataset = Dataset(
        workspace=workspace,
        name=name,
        symbol=symbol,
        timeframe=timeframe,
        source=Dataset.Source.DEMO,
        amount_step=INSTRUMENTS[symbol].amount_step,
        created_by=actor,
    )
    return _save_new_dataset(dataset, candles, actor=actor, action="dataset.create")


def create_csv_dataset(
    *,
    workspace: Workspace,
    actor: User,
    name: str,
    symbol: str,
    timeframe: str,
    file: BinaryIO,
    size: int,
    amount_step: Decimal | None = None,
) -> Dataset:
    """Store an uploaded CSV of candles (format in lab.csvformat) as a dataset.

    Every bad line is reported (up to a cap) as a 400 with pointer `/file`.
    """
    span = _timeframe_ms(timeframe)
    if amount_step is None:
        amount_step = default_amount_step(symbol)
        if amount_step is None:
            raise ValidationProblem.at(
                "/amount_step",
                f"Give the lot size of {symbol}: the demo exchange does not list it.",
            )
    if size > settings.LAB_MAX_UPLOAD_BYTES:
        raise ValidationProblem.at(
            "/file", f"The file is larger than {settings.LAB_MAX_UPLOAD_BYTES} bytes."
        )
    _check_name_free(workspace, name)
    try:
        candles = parse_candles(file, timeframe_ms=span, max_rows=settings.LAB_MAX_DATASET_ROWS)
    except CsvErrors as exc:
        errors = [{"pointer": "/file", "detail": message} for message in exc.errors]
        raise ValidationProblem(errors, detail="The CSV file has errors.") from None
    dataset = Dataset(
        workspace=workspace,
        name=name,
        symbol=symbol,
        timeframe=timeframe,
        source=Dataset.Source.CSV,
        amount_step=amount_step,
        created_by=actor,
    )
    return _save_new_dataset(dataset, candles, actor=actor, action="dataset.create")


@transaction.atomic
def start_dataset_import(
    *,
    workspace: Workspace,
    actor: User,
    name: str,
    connection: ExchangeConnection,
    symbol: str,
    timeframe: str,
    start: datetime,
    end: datetime,
) -> Dataset:
    """Create an importing dataset and queue the task that pages it in from `connection`.

    The caller ensures `connection` belongs to `workspace`.
    """
    if connection.workspace_id != workspace.pk:
        raise ValueError("the connection belongs to another workspace")
    _timeframe_ms(timeframe)
    start_ms, end_ms = _check_range(start, end, timeframe)
    _check_name_free(workspace, name)
    dataset = Dataset.objects.create(
        workspace=workspace,
        name=name,
        symbol=symbol,
        timeframe=timeframe,
        source=Dataset.Source.EXCHANGE,
        connection=connection,
        amount_step=default_amount_step(symbol) or FALLBACK_AMOUNT_STEP,
        status=Dataset.Status.IMPORTING,
        progress=0,
        created_by=actor,
    )
    record_audit(
        actor=actor,
        workspace=workspace,
        action="dataset.import",
        target=dataset,
        details={
            "connection_id": str(connection.pk),
            "symbol": symbol,
            "timeframe": timeframe,
            "start": start.isoformat(),
            "end": end.isoformat(),
        },
    )
    from lab import tasks  # tasks import this module

    dataset_id = str(dataset.pk)
    tasks.import_dataset_task.delay_on_commit(
        dataset_id=dataset_id, start_ms=start_ms, end_ms=end_ms
    )
    return dataset


def _set_dataset_progress(dataset_id, progress: int) -> bool:
    """Store an import's progress; False when the dataset is gone or no longer importing."""
    return bool(
        Dataset.objects.filter(pk=dataset_id, status=Dataset.Status.IMPORTING).update(
            progress=max(0, min(99, progress))
        )
    )


def _fail_dataset(dataset_id, message: str) -> None:
    Dataset.objects.filter(pk=dataset_id, status=Dataset.Status.IMPORTING).update(
        status=Dataset.Status.FAILED, error=message[:500]
    )
    logger.info("dataset.import_failed", extra={"dataset_id": str(dataset_id)})


def _market_amount_step(gateway, symbol: str) -> Decimal | None:
    """The exchange's lot size of `symbol` (its market's amount precision), if it gives one.

    Raises the gateway's UnknownSymbol when the exchange has no such market.
    """
    step = (gateway.market(symbol).get("precision") or {}).get("amount")
    if step in (None, ""):
        return None
    step = Decimal(str(step))
    return step if step > 0 else None


@dataclass
class _Page:
    ts: list[int]
    rows: list[list[float]]


def _fetch_pages(gateway, dataset: Dataset, start_ms: int, end_ms: int) -> Iterable[_Page]:
    """Page through fetch_ohlcv from start_ms until end_ms (or until the exchange runs dry)."""
    span = TIMEFRAME_MS[dataset.timeframe]
    cursor = -(-start_ms // span) * span
    page_size = settings.LAB_IMPORT_PAGE_LIMIT
    while cursor < end_ms:
        batch = gateway.fetch_ohlcv(
            dataset.symbol, dataset.timeframe, since=cursor, limit=page_size
        )
        page = _Page([], [])
        for row in batch or []:
            ts = int(row[0])
            if cursor <= ts < end_ms and ts + span <= end_ms:
                page.ts.append(ts)
                page.rows.append([float(value) for value in row[1:6]])
        if not page.ts:
            return  # nothing newer in the range: the exchange has no more history there
        yield page
        cursor = page.ts[-1] + span


def import_dataset(*, dataset_id: str, start_ms: int, end_ms: int) -> Dataset | None:
    """Task body: page candles in from the dataset's connection, store them, mark it ready.

    Progress is the share of the requested range covered so far. Exchange errors, a missing
    market and bad candles end the import as `failed` with a readable error; a dataset deleted
    meanwhile stops it and leaves no file behind.
    """
    dataset = (
        Dataset.objects.select_related("connection", "workspace")
        .filter(pk=dataset_id, status=Dataset.Status.IMPORTING)
        .first()
    )
    if dataset is None:
        return None  # deleted, or a duplicate message for an import that already ended
    try:
        if dataset.connection is None:
            raise ImportFailure("The exchange connection was deleted.")
        with gateway_for(dataset.connection) as gateway:
            amount_step = _market_amount_step(gateway, dataset.symbol)
            candles = _import_candles(gateway, dataset, start_ms, end_ms)
        if candles is None:
            return None  # deleted while importing: stop, nothing was written
        return _finish_import(dataset, candles, amount_step)
    except ImportFailure as exc:
        _fail_dataset(dataset.pk, str(exc))
    except Problem as exc:  # the gateway's errors: unreachable, auth failed, unknown symbol …
        _fail_dataset(dataset.pk, f"The exchange import failed: {exc.detail_text}")
    except Exception:
        logger.exception("dataset.import_crashed", extra={"dataset_id": str(dataset.pk)})
        _fail_dataset(
            dataset.pk,
            "The import failed unexpectedly; the operators can find it in the logs "
            f"by request id {context.current_request_id() or '-'}.",
        )
    return Dataset.objects.filter(pk=dataset.pk).first()


def _import_candles(gateway, dataset: Dataset, start_ms: int, end_ms: int) -> Candles | None:
    """Every page of the range as checked Candles; None if the dataset was deleted meanwhile."""
    timestamps: list[int] = []
    rows: list[list[float]] = []
    for page in _fetch_pages(gateway, dataset, start_ms, end_ms):
        if timestamps and page.ts[0] <= timestamps[-1]:
            raise ImportFailure("The exchange returned candles out of time order.")
        timestamps.extend(page.ts)
        rows.extend(page.rows)
        if len(timestamps) > settings.LAB_MAX_DATASET_ROWS:
            raise ImportFailure(
                f"The range holds more than {settings.LAB_MAX_DATASET_ROWS} candles."
            )
        done = (page.ts[-1] + TIMEFRAME_MS[dataset.timeframe] - start_ms) / (end_ms - start_ms)
        if not _set_dataset_progress(dataset.pk, int(done * 100)):
            return None
    if not timestamps:
        raise ImportFailure("The exchange returned no candles in this range.")
    table = np.asarray(rows, dtype=np.float64)
    try:
        return Candles.of(
            {
                "ts": np.asarray(timestamps, dtype=np.float64),
                "open": table[:, 0],
                "high": table[:, 1],
                "low": table[:, 2],
                "close": table[:, 3],
                "volume": table[:, 4],
            }
        )
    except ValueError as exc:
        raise ImportFailure(f"The exchange returned unusable candles: {exc}.") from None


def _finish_import(
    dataset: Dataset, candles: Candles, amount_step: Decimal | None
) -> Dataset | None:
    _fill_from_candles(dataset, candles)
    if amount_step is not None:
        dataset.amount_step = amount_step
    try:
        with transaction.atomic():
            current = (
                Dataset.objects.select_for_update()
                .filter(pk=dataset.pk, status=Dataset.Status.IMPORTING)
                .first()
            )
            if current is None:
                raise ImportFailure("deleted")  # deleted meanwhile: drop the file below
            dataset.save(
                update_fields=[
                    "file_path",
                    "size_bytes",
                    "rows",
                    "sha256",
                    "start_ts",
                    "end_ts",
                    "status",
                    "progress",
                    "error",
                    "amount_step",
                ]
            )
    except ImportFailure:
        storage.delete_file(dataset.file_path)
        return None
    except BaseException:
        storage.delete_file(dataset.file_path)
        raise
    logger.info("dataset.imported", extra={"dataset_id": str(dataset.pk), "rows": dataset.rows})
    return dataset


@transaction.atomic
def delete_dataset(*, dataset: Dataset, actor: User) -> None:
    """Delete a dataset and its file; refused (409) while any backtest refers to it."""
    dataset = Dataset.objects.select_for_update().get(pk=dataset.pk)
    used = dataset.backtests.count()
    if used:
        raise DatasetInUse(
            detail=f"{used} backtest(s) use this dataset; delete them first.",
        )
    record_audit(
        actor=actor,
        workspace=dataset.workspace,
        action="dataset.delete",
        target=dataset,
        details={"name": dataset.name, "sha256": dataset.sha256},
    )
    relpath = dataset.file_path
    try:
        with transaction.atomic():
            dataset.delete()
    except ProtectedError:
        # Unreachable while create_backtest locks the dataset row too; the foreign key's
        # PROTECT stays the last word, and it must read as the same 409, not a 500.
        raise DatasetInUse(detail="A backtest uses this dataset; delete it first.") from None
    transaction.on_commit(lambda: storage.delete_file(relpath))


def load_candles(dataset: Dataset) -> Candles:
    """A ready dataset's candles, checked against its row count and sha256."""
    return storage.read_candles(dataset.file_path, rows=dataset.rows, sha256=dataset.sha256)


# --------------------------------------------------------------------------- backtests


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
    backtest.inputs_sha256 = digest = _backtest_inputs_sha256(backtest)
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
    from lab import tasks  # tasks import this module

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


def _set_backtest_progress(backtest_id, progress: int) -> None:
    Backtest.objects.filter(pk=backtest_id, status=Backtest.Status.RUNNING).update(
        progress=progress
    )


def _fail_backtest(backtest_id, message: str) -> None:
    Backtest.objects.filter(pk=backtest_id, status=Backtest.Status.RUNNING).update(
        status=Backtest.Status.FAILED, error=message[:1000], finished_at=timezone.now()
    )
    logger.info("backtest.failed", extra={"backtest_id": str(backtest_id)})


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


def _money(value: float) -> Decimal:
    return Decimal(f"{value:.8f}")


_TRADE_COLUMNS = ("id", "backtest_id", *TRADE_FIELDS)


def _trade_values(backtest: Backtest, result: BacktestResult) -> list[tuple]:
    """One tuple per trade in _TRADE_COLUMNS order; money as exact 8-decimal strings."""
    return [
        (
            uuid.uuid4(),
            backtest.pk,
            seq,
            datetime_from_ms(trade.entry_ts),
            datetime_from_ms(trade.exit_ts),
            f"{trade.entry_price:.8f}",
            f"{trade.exit_price:.8f}",
            trade.amount_str,
            f"{trade.fees:.8f}",
            f"{trade.pnl:.8f}",
            f"{trade.pnl_pct:.8f}",
            trade.exit_reason,
        )
        for seq, trade in enumerate(result.trades, start=1)
    ]


def _insert_trades(backtest: Backtest, result: BacktestResult) -> None:
    """Insert a backtest's trades; tens of thousands of rows must not dominate the run.

    On PostgreSQL the rows stream in with COPY (about ten times faster than multi-row
    INSERTs); other databases get Django's bulk_create with the same values.
    """
    rows = _trade_values(backtest, result)
    if not rows:
        return
    if connection.vendor == "postgresql":
        table = connection.ops.quote_name(BacktestTrade._meta.db_table)
        columns = ", ".join(connection.ops.quote_name(name) for name in _TRADE_COLUMNS)
        with connection.cursor() as cursor:
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        return
    BacktestTrade.objects.bulk_create(
        [BacktestTrade(**dict(zip(_TRADE_COLUMNS, row, strict=True))) for row in rows],
        batch_size=2000,
    )


def _open_position(result: BacktestResult) -> dict[str, Any] | None:
    position = result.open_position
    if position is None:
        return None
    return {
        "entry_time": datetime_from_ms(position.entry_ts).isoformat().replace("+00:00", "Z"),
        "entry_price": f"{position.entry_price:.8f}",
        "amount": plain_decimal(position.amount_str),
        "mark_price": f"{position.mark_price:.8f}",
        "unrealized_pnl": f"{position.unrealized_pnl:.8f}",
    }


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
            _insert_trades(locked, result)
            timings["save"] = (time.perf_counter() - began) * 1000
            locked.metrics = result.metrics.as_dict()
            locked.final_equity = _money(result.final_equity)
            locked.rejected_orders = result.rejected_orders
            locked.open_position = _open_position(result)
            locked.equity_path = relpath
            if result.engine_version != locked.engine_version:
                # A worker on another engine version ran it: the hash names what really ran.
                locked.engine_version = result.engine_version
                locked.inputs_sha256 = _backtest_inputs_sha256(locked)
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
