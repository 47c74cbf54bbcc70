"""Datasets from the demo feed and from CSV uploads, their deletion, and reading their candles.

Exchange imports (`lab.services.imports`) share the checks and the file writing below. The demo
feed is read through the demo exchange's gateway only (`demo_gateway`), like any venue.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import BinaryIO

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.utils import timezone

from accounts.models import User
from config.problems import ValidationProblem
from exchanges.epoch import datetime_from_ms, ms_from_datetime
from exchanges.exceptions import UnknownSymbol
from exchanges.factory import gateway_for
from exchanges.gateway import DEMO_EXCHANGE, Gateway
from exchanges.models import ExchangeConnection
from lab import storage
from lab.csvformat import CsvErrors, parse_candles
from lab.exceptions import DatasetInUse
from lab.models import Dataset
from lab.services.paging import fetch_candles
from strategies.engine import TIMEFRAME_MS, Candles
from workspaces.models import Workspace
from workspaces.services import record_audit

# The lot size assumed for a symbol the demo exchange does not list and the upload names none.
FALLBACK_AMOUNT_STEP = Decimal("0.00000001")


def demo_gateway() -> Gateway:
    """The demo exchange's gateway, read for market data like any venue.

    Markets and candles need no account, so it is opened on an unsaved demo connection.
    """
    return gateway_for(ExchangeConnection(exchange=DEMO_EXCHANGE))


def market_amount_step(gateway: Gateway, symbol: str) -> Decimal | None:
    """The venue's lot size of `symbol` (its market's amount precision), if it gives one.

    Raises the gateway's UnknownSymbol when the venue has no such market.
    """
    step = (gateway.market(symbol).get("precision") or {}).get("amount")
    if step in (None, ""):
        return None
    step = Decimal(str(step))
    return step if step > 0 else None


def default_amount_step(symbol: str) -> Decimal | None:
    """The demo exchange's lot size of `symbol`, or None when the demo does not list it."""
    with demo_gateway() as gateway:
        try:
            return market_amount_step(gateway, symbol)
        except UnknownSymbol:
            return None


def check_timeframe(timeframe: str) -> int:
    """The length of `timeframe` in ms; a 400 at /timeframe when the engine has no such one."""
    try:
        return TIMEFRAME_MS[timeframe]
    except KeyError:
        raise ValidationProblem.at(
            "/timeframe", f"Unknown timeframe {timeframe!r}; use one of {', '.join(TIMEFRAME_MS)}."
        ) from None


def check_name_free(workspace: Workspace, name: str) -> None:
    """A 400 at /name when the workspace has a dataset of that name (the constraint backs it)."""
    if Dataset.objects.filter(workspace=workspace, name=name).exists():
        raise ValidationProblem.at("/name", f"A dataset named {name!r} already exists.")


def check_range(start: datetime, end: datetime, timeframe: str) -> tuple[int, int]:
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


def demo_candles(symbol: str, timeframe: str, start_ms: int, end_ms: int) -> Candles:
    """Complete candles of the demo feed opening in [start_ms, end_ms), paged from its venue."""
    with demo_gateway() as gateway:
        return fetch_candles(gateway, symbol, timeframe, start_ms, end_ms)


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
    """Store the demo feed's `symbol`/`timeframe` candles opening in [start, end) as a dataset.

    The candles come through the demo exchange's gateway, as an import from a demo connection
    would get them (the same candles, the same hash).
    """
    with demo_gateway() as gateway:
        try:
            amount_step = market_amount_step(gateway, symbol)
        except UnknownSymbol:
            raise ValidationProblem.at(
                "/symbol",
                f"The demo feed has no {symbol!r}; use one of {', '.join(gateway.load_markets())}.",
            ) from None
    check_timeframe(timeframe)
    start_ms, end_ms = check_range(start, end, timeframe)
    check_name_free(workspace, name)
    candles = demo_candles(symbol, timeframe, start_ms, end_ms)
    if len(candles) == 0:
        raise ValidationProblem.at("/end", "The range holds no complete candle.")
    dataset = Dataset(
        workspace=workspace,
        name=name,
        symbol=symbol,
        timeframe=timeframe,
        source=Dataset.Source.DEMO,
        amount_step=amount_step or FALLBACK_AMOUNT_STEP,
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
    span = check_timeframe(timeframe)
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
    check_name_free(workspace, name)
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


def _save_new_dataset(dataset: Dataset, candles: Candles, *, actor: User, action: str) -> Dataset:
    """Store `candles` as the file of the unsaved `dataset`, then insert the row and audit it.

    The file is written first and removed again if the row cannot be inserted, so a dataset
    row never points at a missing file.
    """
    fill_from_candles(dataset, candles)
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


def fill_from_candles(dataset: Dataset, candles: Candles) -> None:
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
