"""Terminal fixtures: demo connections in both workspaces and helpers to place orders."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest

from exchanges.demo import feed
from exchanges.epoch import now_ms
from exchanges.models import DemoBalance, ExchangeConnection
from tests.conftest import _member
from workspaces.models import Role

_keys = itertools.count(1)


@pytest.fixture
def connection(workspace) -> ExchangeConnection:
    return ExchangeConnection.objects.create(
        workspace=workspace,
        name="Demo",
        exchange="demo",
        mode=ExchangeConnection.Mode.DEMO,
        created_by=_member(workspace, Role.ADMIN),
    )


@pytest.fixture
def other_connection(other_workspace) -> ExchangeConnection:
    return ExchangeConnection.objects.create(
        workspace=other_workspace, name="Their demo", exchange="demo", mode="demo"
    )


def new_key() -> str:
    return f"test-key-{next(_keys)}"


def order_body(connection, **changes) -> dict:
    body = {
        "connection": str(connection.pk),
        "symbol": "BTC/USDT",
        "side": "buy",
        "type": "market",
        "amount": "0.001",
    }
    body.update(changes)
    return {key: value for key, value in body.items() if value is not None}


def place(client, connection, key: str | None = None, **changes):
    """POST an order with an Idempotency-Key header (a fresh one unless given)."""
    return client.post(
        "/api/v1/terminal/orders",
        order_body(connection, **changes),
        format="json",
        HTTP_IDEMPOTENCY_KEY=key or new_key(),
    )


def balance(connection, asset: str) -> tuple[Decimal, Decimal]:
    """(free, used) of `asset` in the demo account (zero before first use)."""
    row = DemoBalance.objects.filter(connection=connection, asset=asset).first()
    return (row.free, row.used) if row else (Decimal(0), Decimal(0))


def mid_now(symbol: str) -> Decimal:
    return feed.price_to_decimal(symbol, feed.price_at(symbol, now_ms()))
