"""Read-side queries of the status app."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from status.models import Heartbeat


def heartbeats() -> QuerySet[Heartbeat]:
    return Heartbeat.objects.all()


def stale_heartbeats() -> QuerySet[Heartbeat]:
    """Heartbeats older than HEARTBEAT_STALE_SECONDS."""
    limit = timezone.now() - timedelta(seconds=settings.HEARTBEAT_STALE_SECONDS)
    return Heartbeat.objects.filter(last_seen_at__lt=limit)
