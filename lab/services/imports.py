"""Dataset imports from an exchange connection: queued by the API, paged in by a lab worker."""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal

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
    market_amount_step,
)
from lab.services.paging import FetchStopped, fetch_candles
from strategies.engine import Candles
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
            amount_step = market_amount_step(gateway, dataset.symbol)
            candles = fetch_candles(
                gateway,
                dataset.symbol,
                dataset.timeframe,
                start_ms,
                end_ms,
                # False once the dataset is gone or no longer importing: stop there.
                on_progress=lambda done: _set_dataset_progress(dataset.pk, int(done * 100)),
            )
        if len(candles) == 0:
            raise ImportFailure("The exchange returned no candles in this range.")
        return _finish_import(dataset, candles, amount_step)
    except FetchStopped:
        return None  # deleted while importing: stop, nothing was written
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
