"""Demo data of bots: a demo-mode bot of the demo strategy on the demo connection."""

from __future__ import annotations

from decimal import Decimal

from accounts.models import User
from bots import services
from bots.models import Bot
from exchanges.models import ExchangeConnection
from exchanges.seed import DEMO_CONNECTION
from strategies.models import StrategyVersion
from strategies.seed import DEMO_STRATEGY
from workspaces.models import Workspace

DEMO_BOT = "SMA crossover on demo"


def seed_demo(*, workspace: Workspace, user: User) -> list[str]:
    """Give the demo workspace its bot once (after the exchanges' and strategies' seeds)."""
    if Bot.objects.filter(workspace=workspace, name=DEMO_BOT).exists():
        return [f"bot {DEMO_BOT!r} already there"]
    version = (
        StrategyVersion.objects.filter(strategy__workspace=workspace, strategy__name=DEMO_STRATEGY)
        .order_by("number")
        .first()
    )
    connection = ExchangeConnection.objects.filter(
        workspace=workspace, name=DEMO_CONNECTION
    ).first()
    if version is None or connection is None:
        return ["no bot: the demo strategy or connection is missing"]
    bot = services.create_bot(
        workspace=workspace,
        actor=user,
        name=DEMO_BOT,
        strategy_version=version,
        exchange_connection=connection,
        risk={
            "max_position_quote": Decimal("1000"),
            "max_daily_loss_pct": Decimal("5"),
            "max_orders_per_minute": 10,
        },
        execution={"order_type": Bot.OrderType.MARKET, "slippage_bps": 10, "mode": Bot.Mode.DEMO},
    )
    return [f"created bot {bot.name!r} ({bot.pk}), not started"]
