"""Demo data of strategies: an "SMA crossover" strategy whose version 1 is the DSL's example."""

from __future__ import annotations

from accounts.models import User
from strategies import services
from strategies.dsl import examples
from strategies.models import Strategy
from workspaces.models import Workspace

DEMO_STRATEGY = "SMA crossover"
DEMO_EXAMPLE = "sma_crossover"


def seed_demo(*, workspace: Workspace, user: User) -> list[str]:
    """Give the demo workspace its strategy once; later runs leave it (and its versions) alone."""
    existing = Strategy.objects.filter(workspace=workspace, name=DEMO_STRATEGY).first()
    if existing is not None:
        return [f"strategy {DEMO_STRATEGY!r} already there"]
    body = examples()[DEMO_EXAMPLE]
    strategy = services.create_strategy(
        workspace=workspace,
        actor=user,
        name=DEMO_STRATEGY,
        description=body.get("description", ""),
        body=body,
    )
    version = strategy.versions.get(number=1)
    return [f"created strategy {strategy.name!r} v1 (sha256 {version.body_sha256})"]
