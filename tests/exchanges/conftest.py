"""Fixtures of the exchanges suite: connections, a demo venue on a settable clock, the stub."""

from __future__ import annotations

import pytest

from exchanges import services
from exchanges.demo.venue import DemoGateway
from exchanges.models import ExchangeConnection
from tests.exchanges.ccxt_helpers import route_ccxt_to
from tests.exchanges.stub_exchange import STUB_API_KEY, STUB_SECRET, running_stub
from workspaces.models import Membership, Role

# 2025-11-23 12:15:00 UTC: a minute boundary, so tests can reason in whole minutes.
T0 = 1_763_900_100_000
MINUTE = 60_000


class Clock:
    """The demo venue's clock, moved by the test."""

    def __init__(self, now_ms: int):
        self.now_ms = now_ms

    def __call__(self) -> int:
        return self.now_ms


def member(workspace, role: str):
    return Membership.objects.select_related("user").get(workspace=workspace, role=role).user


@pytest.fixture
def admin_user(workspace):
    return member(workspace, Role.ADMIN)


@pytest.fixture
def demo_connection(workspace) -> ExchangeConnection:
    return services.create_connection(
        workspace=workspace,
        actor=member(workspace, Role.OWNER),
        name="Demo",
        exchange="demo",
        mode="demo",
    )


@pytest.fixture
def other_connection(other_workspace) -> ExchangeConnection:
    return services.create_connection(
        workspace=other_workspace,
        actor=member(other_workspace, Role.OWNER),
        name="Theirs",
        exchange="demo",
        mode="demo",
    )


@pytest.fixture
def binance_connection(workspace) -> ExchangeConnection:
    """A binance testnet connection holding the stub's credentials."""
    return services.create_connection(
        workspace=workspace,
        actor=member(workspace, Role.OWNER),
        name="Binance testnet",
        exchange="binance",
        mode="testnet",
        api_key=STUB_API_KEY,
        api_secret=STUB_SECRET,
    )


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def venue(demo_connection, clock) -> DemoGateway:
    return DemoGateway(demo_connection, clock=clock)


@pytest.fixture
def stub():
    with running_stub(now_ms=T0) as running:
        yield running


@pytest.fixture
def stub_routed(stub, monkeypatch):
    """The stub, with every ccxt client the gateway makes pointed at it."""
    route_ccxt_to(monkeypatch, stub.base_url)
    return stub
