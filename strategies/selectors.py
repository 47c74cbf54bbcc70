"""Read-side queries of strategies and versions, for the API, the pages and other apps."""

from __future__ import annotations

from django.db.models import Count, OuterRef, Prefetch, QuerySet, Subquery

from strategies.models import Strategy, StrategyVersion
from workspaces.models import Workspace


def with_latest_version(queryset: QuerySet[Strategy]) -> QuerySet[Strategy]:
    """`queryset` with `versions_count` annotated and `latest_versions` ([latest] or []) attached.

    Two queries for any number of strategies: the latest version is picked in the database, so
    a list never loads every version's body.
    """
    newest = StrategyVersion.objects.filter(strategy=OuterRef("strategy")).order_by("-number")
    latest = StrategyVersion.objects.filter(number=Subquery(newest.values("number")[:1]))
    return (
        queryset.select_related("created_by")
        .annotate(versions_count=Count("versions", distinct=True))
        .prefetch_related(
            Prefetch(
                "versions",
                queryset=latest.select_related("created_by"),
                to_attr="latest_versions",
            )
        )
    )


def strategies(*, workspace: Workspace) -> QuerySet[Strategy]:
    """The workspace's strategies by name, each with its latest version (see above)."""
    return with_latest_version(Strategy.objects.filter(workspace=workspace)).order_by("name", "id")


def latest_version(*, strategy: Strategy) -> StrategyVersion | None:
    """The strategy's highest-numbered version (the prefetched one when there is one)."""
    prefetched = getattr(strategy, "latest_versions", None)
    if prefetched is not None:
        return prefetched[0] if prefetched else None
    return strategy.versions.select_related("created_by").order_by("-number").first()


def versions(*, strategy: Strategy) -> QuerySet[StrategyVersion]:
    """Every version of the strategy, newest first."""
    return strategy.versions.select_related("created_by").order_by("-number")


def version(*, strategy: Strategy, number: int) -> StrategyVersion | None:
    """Version `number` of the strategy, or None."""
    return strategy.versions.select_related("created_by").filter(number=number).first()


def workspace_versions(*, workspace: Workspace) -> QuerySet[StrategyVersion]:
    """Every version of the workspace's strategies, by strategy name, newest version first."""
    return (
        StrategyVersion.objects.filter(strategy__workspace=workspace)
        .select_related("strategy")
        .order_by("strategy__name", "strategy_id", "-number")
    )
