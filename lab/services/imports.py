"""Dataset imports from an exchange connection: queued by the API, paged in by a lab worker."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import numpy as np
from django.conf import settings
from django.db import transaction

from accounts.models import User
from config import context
from config.problems import Problem
from exchanges.factory import gateway_for
from exchanges.models import ExchangeConnection
from lab import storage
from lab.exceptions import ImportFailure
from lab.models import Dataset
from lab.services.datasets import (
    FALLBACK_AMOUNT_STEP,
    check_name_free,
    check_range,
    check_timeframe,
    default_amount_step,
    fill_from_candles,
)
from strategies.engine import TIMEFRAME_MS, Candles
from workspaces.models import Workspace
from workspaces.services import record_audit

logger = logging.getLogger(__name__)


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
    check_timeframe(timeframe)
    start_ms, end_ms = check_range(start, end, timeframe)
    check_name_free(workspace, name)
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
    from lab import tasks  # tasks import lab.services

    dataset_id = str(dataset.pk)
    tasks.import_dataset_task.delay_on_commit(
        dataset_id=dataset_id, start_ms=start_ms, end_ms=end_ms
    )
    return dataset


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
    fill_from_candles(dataset, candles)
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
