"""Strategy fixtures: example bodies, a strategy per workspace, and a backtest that uses one."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal

import pytest

from strategies import services
from strategies.dsl import examples
from strategies.models import Strategy
from tests.conftest import _member
from workspaces.models import Role


def sma_body(**changes) -> dict:
    """The sma_crossover example (a fresh copy), with top-level fields changed."""
    body = examples()["sma_crossover"]
    body.update(changes)
    return body


def canonical_sha256(body: dict) -> str:
    """SHA-256 of the canonical JSON, computed here independently of the product's helper."""
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@pytest.fixture
def trader(workspace):
    return _member(workspace, Role.TRADER)


@pytest.fixture
def strategy(workspace, trader) -> Strategy:
    return services.create_strategy(
        workspace=workspace, actor=trader, name="Trend", description="SMA 10/30", body=sma_body()
    )


@pytest.fixture
def other_strategy(other_workspace) -> Strategy:
    return services.create_strategy(
        workspace=other_workspace,
        actor=_member(other_workspace, Role.OWNER),
        name="Their trend",
        body=sma_body(),
    )


def make_backtest(version):
    """A backtest row pinning `version` (the lab protects the versions its backtests use)."""
    from lab.models import Backtest, Dataset

    workspace = version.strategy.workspace
    dataset = Dataset.objects.create(
        workspace=workspace,
        name=f"candles for v{version.number}",
        symbol="BTC/USDT",
        timeframe="1m",
        source=Dataset.Source.CSV,
        amount_step=Decimal("0.00001"),
    )
    return Backtest.objects.create(
        workspace=workspace,
        strategy_version=version,
        dataset=dataset,
        initial_cash=Decimal("10000"),
        fee_bps=Decimal("10"),
        slippage_bps=Decimal("0"),
        inputs_sha256="0" * 64,
        engine_version="test",
    )
