"""Demo data of the exchanges app: a demo-exchange connection for the demo workspace."""

from __future__ import annotations

from accounts.models import User
from exchanges import services
from exchanges.gateway import DEMO_EXCHANGE
from exchanges.models import ExchangeConnection
from workspaces.models import Workspace

DEMO_CONNECTION = "Demo exchange"


def seed_demo(*, workspace: Workspace, user: User) -> list[str]:
    """Give the demo workspace its demo-exchange connection once; later runs leave it alone."""
    existing = ExchangeConnection.objects.filter(workspace=workspace, name=DEMO_CONNECTION).first()
    if existing is not None:
        return [f"connection {DEMO_CONNECTION!r} already there"]
    connection = services.create_connection(
        workspace=workspace,
        actor=user,
        name=DEMO_CONNECTION,
        exchange=DEMO_EXCHANGE,
        mode=ExchangeConnection.Mode.DEMO,
    )
    return [f"created connection {connection.name!r} ({connection.pk}), 10,000 USDT to start"]
