"""Read-side queries of the lab, used by the API, the pages, the tasks and the admin."""

from __future__ import annotations

from django.db.models import Count, QuerySet

from exchanges.models import ExchangeConnection
from lab.models import Backtest, BacktestTrade, Dataset
from strategies.models import StrategyVersion
from workspaces.models import Workspace


def datasets(*, workspace: Workspace) -> QuerySet[Dataset]:
    """The workspace's datasets, newest first, each with the number of backtests using it."""
    return (
        Dataset.objects.filter(workspace=workspace)
        .select_related("created_by")
        .annotate(backtests_count=Count("backtests"))
        .order_by("-created_at", "-id")
    )


def backtests(
    *,
    workspace: Workspace,
    status: str | None = None,
    dataset_id=None,
    strategy_id=None,
    strategy_version_id=None,
) -> QuerySet[Backtest]:
    """The workspace's backtests, newest first, optionally filtered."""
    queryset = Backtest.objects.filter(workspace=workspace).select_related(
        "dataset", "strategy_version__strategy", "created_by"
    )
    if status:
        queryset = queryset.filter(status=status)
    if dataset_id:
        queryset = queryset.filter(dataset_id=dataset_id)
    if strategy_id:
        queryset = queryset.filter(strategy_version__strategy_id=strategy_id)
    if strategy_version_id:
        queryset = queryset.filter(strategy_version_id=strategy_version_id)
    return queryset.order_by("-created_at", "-id")


def backtest_trades(*, backtest: Backtest) -> QuerySet[BacktestTrade]:
    """A backtest's trades in time order."""
    return BacktestTrade.objects.filter(backtest=backtest).order_by("seq")


def strategy_versions(*, workspace: Workspace) -> QuerySet[StrategyVersion]:
    """Every strategy version of the workspace, by strategy name and newest version first."""
    return (
        StrategyVersion.objects.filter(strategy__workspace=workspace)
        .select_related("strategy")
        .order_by("strategy__name", "strategy_id", "-number")
    )


def connections(*, workspace: Workspace) -> QuerySet[ExchangeConnection]:
    """The workspace's exchange connections, by name (sources of dataset imports)."""
    return ExchangeConnection.objects.filter(workspace=workspace).order_by("name", "id")
