"""Read-side queries of accounts."""

from django.db.models import Prefetch

from accounts.models import User
from workspaces.models import Membership


def user_with_memberships(*, user: User) -> User:
    """`user` re-read with memberships and their workspaces prefetched (one query each)."""
    memberships = Membership.objects.select_related("workspace").order_by("workspace__name")
    return User.objects.prefetch_related(Prefetch("memberships", queryset=memberships)).get(
        pk=user.pk
    )
