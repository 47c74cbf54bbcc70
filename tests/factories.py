"""factory-boy factories of the common objects, and `factory_for(model)` to find one by model.

Every factory makes a consistent object graph: a workspace comes with its owner's membership,
and a workspace-owned object's related objects live in the same workspace, e.g.
`BacktestFactory(workspace=ws)` puts its strategy version and dataset in `ws` too.

The URL-conf scoping test (tests/workspaces/test_scoping_urlconf.py) creates "another
workspace's object" of every scoped route's model through `factory_for`; a new workspace-owned
model needs a factory here (or in a `tests/<app>/factories.py`) before its endpoint passes.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from decimal import Decimal
from pathlib import Path

import factory
from django.db.models import Model
from factory.django import DjangoModelFactory

from accounts.models import User
from exchanges.models import ExchangeConnection
from lab.models import Backtest, Dataset
from strategies.dsl import examples
from strategies.models import Strategy, StrategyVersion
from terminal.models import Order
from workspaces.models import AuditEvent, Membership, Role, Workspace

PASSWORD = "correct-horse-battery-9"  # the same as tests.conftest.PASSWORD


class UserFactory(DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    password = factory.django.Password(PASSWORD)


class WorkspaceFactory(DjangoModelFactory):
    """A workspace and its owner (`created_by`), who holds the owner membership."""

    class Meta:
        model = Workspace
        skip_postgeneration_save = True  # the owner's membership changes no workspace field

    name = factory.Sequence(lambda n: f"Desk {n}")
    created_by = factory.SubFactory(UserFactory)
    owner_membership = factory.RelatedFactory(
        "tests.factories.MembershipFactory",
        factory_related_name="workspace",
        user=factory.SelfAttribute("..created_by"),
        role=Role.OWNER,
    )


class MembershipFactory(DjangoModelFactory):
    class Meta:
        model = Membership

    workspace = factory.SubFactory(WorkspaceFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.VIEWER


class ExchangeConnectionFactory(DjangoModelFactory):
    """A demo connection (no credentials)."""

    class Meta:
        model = ExchangeConnection

    workspace = factory.SubFactory(WorkspaceFactory)
    name = factory.Sequence(lambda n: f"Demo {n}")
    exchange = "demo"
    mode = ExchangeConnection.Mode.DEMO
    created_by = factory.SelfAttribute("workspace.created_by")


class StrategyFactory(DjangoModelFactory):
    class Meta:
        model = Strategy

    workspace = factory.SubFactory(WorkspaceFactory)
    name = factory.Sequence(lambda n: f"Strategy {n}")
    created_by = factory.SelfAttribute("workspace.created_by")


class StrategyVersionFactory(DjangoModelFactory):
    """Version 1 of a strategy, holding the SMA crossover example."""

    class Meta:
        model = StrategyVersion

    strategy = factory.SubFactory(StrategyFactory)
    number = 1
    body = factory.LazyFunction(lambda: examples()["sma_crossover"])
    created_by = factory.SelfAttribute("strategy.created_by")


class DatasetFactory(DjangoModelFactory):
    """A ready dataset row without a candle file: for scoping and listing, not for running.

    A dataset with candles comes from `lab.services.create_demo_dataset`.
    """

    class Meta:
        model = Dataset

    workspace = factory.SubFactory(WorkspaceFactory)
    name = factory.Sequence(lambda n: f"Dataset {n}")
    symbol = "BTC/USDT"
    timeframe = "1m"
    source = Dataset.Source.DEMO
    amount_step = Decimal("0.00001")
    status = Dataset.Status.READY
    created_by = factory.SelfAttribute("workspace.created_by")


class BacktestFactory(DjangoModelFactory):
    """A queued backtest of a version and a dataset of its own workspace."""

    class Meta:
        model = Backtest

    workspace = factory.SubFactory(WorkspaceFactory)
    strategy_version = factory.SubFactory(
        StrategyVersionFactory, strategy__workspace=factory.SelfAttribute("...workspace")
    )
    dataset = factory.SubFactory(DatasetFactory, workspace=factory.SelfAttribute("..workspace"))
    initial_cash = Decimal("10000")
    fee_bps = Decimal("10")
    slippage_bps = Decimal("0")
    inputs_sha256 = factory.Sequence(lambda n: hashlib.sha256(str(n).encode()).hexdigest())
    engine_version = "test"
    created_by = factory.SelfAttribute("workspace.created_by")


class OrderFactory(DjangoModelFactory):
    """A filled market buy in the journal (nothing is sent to a venue)."""

    class Meta:
        model = Order

    workspace = factory.SubFactory(WorkspaceFactory)
    connection = factory.SubFactory(
        ExchangeConnectionFactory, workspace=factory.SelfAttribute("..workspace")
    )
    idempotency_key = factory.Sequence(lambda n: f"key-{n}")
    client_order_id = factory.LazyAttribute(lambda order: f"bm-{order.idempotency_key}")
    request_fingerprint = factory.LazyAttribute(
        lambda order: hashlib.sha256(json.dumps(order.idempotency_key).encode()).hexdigest()
    )
    symbol = "BTC/USDT"
    side = Order.Side.BUY
    type = Order.Type.MARKET
    amount = Decimal("0.001")
    status = Order.Status.CLOSED
    filled = Decimal("0.001")
    average = Decimal("95000")
    created_by = factory.SelfAttribute("workspace.created_by")


class AuditEventFactory(DjangoModelFactory):
    class Meta:
        model = AuditEvent

    workspace = factory.SubFactory(WorkspaceFactory)
    actor = factory.SelfAttribute("workspace.created_by")
    action = "test.event"


def _factory_modules() -> None:
    """Import every `tests/<app>/factories.py`, so that their factories are found too."""
    for path in sorted(Path(__file__).parent.glob("*/factories.py")):
        importlib.import_module(f"tests.{path.parent.name}.factories")


def _subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_subclasses(sub))
    return found


def factory_for(model: type[Model]) -> type[DjangoModelFactory] | None:
    """The factory of `model` (the first defined if several), or None when there is none."""
    _factory_modules()
    for candidate in _subclasses(DjangoModelFactory):
        meta_model = candidate._meta.model
        if meta_model is model:
            return candidate
    return None
