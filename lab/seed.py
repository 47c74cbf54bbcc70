"""Demo data of the lab: a 30-day 1m BTC/USDT dataset from the demo feed (idempotent)."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from accounts.models import User
from lab import services
from lab.models import Dataset
from workspaces.models import Workspace

DEMO_DATASET = "BTC/USDT 1m, 30 days (demo feed)"


def seed_demo(*, workspace: Workspace, user: User) -> list[str]:
    """Give the demo workspace its dataset once; later runs leave it as it is.

    The range ends at the start of the current UTC day, so a seed run today and one in an hour
    store the same candles (and the same sha256).
    """
    if Dataset.objects.filter(workspace=workspace, name=DEMO_DATASET).exists():
        return [f"dataset {DEMO_DATASET!r} already there"]
    end = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    dataset = services.create_demo_dataset(
        workspace=workspace,
        actor=user,
        name=DEMO_DATASET,
        symbol="BTC/USDT",
        timeframe="1m",
        start=end - timedelta(days=30),
        end=end,
    )
    return [f"created dataset {dataset.name!r} ({dataset.rows} candles, sha256 {dataset.sha256})"]
