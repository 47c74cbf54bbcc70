"""Status flows: recording heartbeats of the background processes."""

from __future__ import annotations

from datetime import datetime

from status.models import Heartbeat


def record_heartbeat(*, name: str, seen_at: datetime, details: dict | None = None) -> Heartbeat:
    """Upsert the heartbeat `name`; a later `seen_at` never goes backwards."""
    heartbeat, created = Heartbeat.objects.get_or_create(
        name=name, defaults={"last_seen_at": seen_at, "details": details or {}}
    )
    if not created and seen_at > heartbeat.last_seen_at:
        heartbeat.last_seen_at = seen_at
        heartbeat.details = details or {}
        heartbeat.save(update_fields=["last_seen_at", "details"])
    return heartbeat
