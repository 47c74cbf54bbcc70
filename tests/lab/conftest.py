"""Lab fixtures: strategy versions, datasets and where their files live."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings

from lab import services
from lab.models import Dataset
from strategies.dsl import examples
from strategies.models import Strategy, StrategyVersion
from tests.conftest import _member
from workspaces.models import Role

# Dataset and equity files of the tests go to a directory of their own. It is put in the
# environment now, at collection, so the Celery worker started later by `celery_worker_process`
# inherits it and reads the same files the test process writes.
# A fixed past day, so datasets of the demo feed are the same in every run.
DAY = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture
def lab_media() -> Path:
    """The tests' MEDIA_ROOT (a temporary folder the test worker shares; see tests/conftest.py)."""
    return Path(settings.MEDIA_ROOT)


def body_sha256(body: dict) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def make_version(workspace, body: dict, *, name: str = "SMA cross", number: int = 1):
    owner = _member(workspace, Role.OWNER)
    strategy, _ = Strategy.objects.get_or_create(
        workspace=workspace, name=name, defaults={"created_by": owner}
    )
    return StrategyVersion.objects.create(
        strategy=strategy,
        number=number,
        body=body,
        body_sha256=body_sha256(body),
        created_by=owner,
    )


def sma_body(fast: int = 10, slow: int = 30, **changes) -> dict:
    body = examples()["sma_crossover"]
    body["indicators"][0]["period"] = fast
    body["indicators"][1]["period"] = slow
    body.update(changes)
    return body


@pytest.fixture
def trader(workspace):
    return _member(workspace, Role.TRADER)


@pytest.fixture
def version(workspace) -> StrategyVersion:
    return make_version(workspace, sma_body())


@pytest.fixture
def dataset(workspace, trader) -> Dataset:
    """One day of the demo feed's BTC/USDT 1m candles (1440 rows)."""
    return services.create_demo_dataset(
        workspace=workspace,
        actor=trader,
        name="BTC one day",
        symbol="BTC/USDT",
        timeframe="1m",
        start=DAY,
        end=DAY + timedelta(days=1),
    )


@pytest.fixture
def other_dataset(other_workspace) -> Dataset:
    return services.create_demo_dataset(
        workspace=other_workspace,
        actor=_member(other_workspace, Role.OWNER),
        name="Their day",
        symbol="BTC/USDT",
        timeframe="1m",
        start=DAY,
        end=DAY + timedelta(hours=6),
    )


PARAMS = {"initial_cash": Decimal("10000"), "fee_bps": Decimal("10"), "slippage_bps": Decimal("2")}
